"""Rate limits: a hard ceiling per endpoint, and under it a learned rate per credential scope.

Two layers, each a schedule-based pacer on the loop clock:

- **The ceiling** (`--rate R`, per API endpoint) is today's guarantee, measured at the server:
  never more than R requests in any 1-second window. Slot `k` falls at `t0 + k / (R * margin)`;
  a worker takes the next free slot and sleeps until it (one timer each, no polling), and a slot
  woken late does not move the ones after it. After an idle spell the schedule restarts from
  now and lets half the margin (0.75 % of R) go at once, so any 1-second window holds at most
  99.25 % of R. asyncio-throttle stays behind the pacer as the hard cap: no more starts in any
  sliding second than the schedule allows, whatever the pacer did (say, many slots woken
  together after the loop stalled).
- **The learned rate** (`auditor.send.rate_control.RateController`, one per credential scope and
  endpoint: the gateway limits per user, per API) paces below the ceiling once the gateway has
  throttled, and keeps our live requests of the last second under that rate, so after a cut
  nothing more is sent until the gateway's window has room again.

A 429 delays only the request that got it (the runner puts it back for later); the rate cut is
what protects the gateway. Even a gateway-wide `APIG.0308` with a `Retry-After` does not hold
the other workers: the cut and the window already keep them under the limit the gateway just
showed, and holding everyone would waste the rate it still grants.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from asyncio_throttle.throttler import Throttler

from auditor.send.rate_control import RateController, RateReport, Ticket

SAFETY_MARGIN = 0.985  # requests are paced at 98.5 % of the rate; the rest is slack
CAP_POLL_S = 0.001  # how often the task at the head polls the hard cap while it is reached

Sleep = Callable[[float], Awaitable[None]]


class Pacer:
    """Requests at most `rate` per second, paced evenly on a fixed schedule."""

    def __init__(self, rate: float, margin: float = SAFETY_MARGIN, *, sleep: Sleep) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = rate
        self._sleep = sleep  # until a slot; tests pass one that moves a fake loop clock
        paced = rate * margin
        self._interval = 1.0 / paced  # seconds between slots
        # Half the margin may go at once after an idle spell (the other half is slack for
        # network jitter): a 1-second window then holds at most ceil(paced) + spare requests.
        spare = math.floor(round((rate - paced) / 2, 6))
        self._headroom = spare * self._interval  # how far the schedule may lag the clock
        self.window_bound = max(1, min(math.floor(rate), math.floor(paced) + 1 + spare))
        self._next_slot = -math.inf  # loop time of the next free slot

    async def wait_for_slot(self, loop: asyncio.AbstractEventLoop) -> None:
        """Sleep until the next free slot of the schedule."""
        now = loop.time()
        slot = max(self._next_slot, now - self._headroom)
        self._next_slot = slot + self._interval
        if slot > now:
            await self._sleep(slot - now)


class Ceiling:
    """The hard ceiling of one endpoint: the pacer, and asyncio-throttle behind it."""

    def __init__(self, rate: float, *, sleep: Sleep = asyncio.sleep) -> None:
        self.pacer = Pacer(rate, sleep=sleep)
        self._throttler = Throttler(
            rate_limit=self.pacer.window_bound, period=1.0, retry_interval=CAP_POLL_S
        )
        self._one_poller = asyncio.Lock()

    async def acquire(self, loop: asyncio.AbstractEventLoop) -> None:
        await self.pacer.wait_for_slot(loop)
        # Below the cap this neither waits nor polls; at the cap one task polls, the rest queue.
        async with self._one_poller:
            await self._throttler.acquire()  # type: ignore[no-untyped-call]  # untyped upstream


class Throttle:
    """What one credential scope's requests to one endpoint pass before they are sent."""

    def __init__(
        self, scope: str, endpoint: str, ceiling: Ceiling | None, *, sleep: Sleep = asyncio.sleep
    ) -> None:
        self.scope = scope
        self.endpoint = endpoint
        self._ceiling = ceiling
        self._sleep = sleep
        self.controller = RateController(ceiling.pacer.rate if ceiling else None)
        self._one_at_a_time = asyncio.Lock()  # the queue for the learned rate, once throttled
        self._next_slot = -math.inf  # loop time of the learned rate's next slot
        self.waited_s = 0.0  # time requests spent waiting here for the learned rate
        self.waited_after_429_s = 0.0  # the waits of requests answered 429 (the runner's)

    async def acquire(self, give_up_after: float = math.inf) -> Ticket | None:
        """Return when one more request may start; hand the ticket back with the answer.
        None, at once or while waiting, when the gateway has answered this scope only with
        429s for `give_up_after` seconds: then nothing is to be sent."""
        loop = asyncio.get_running_loop()
        controller = self.controller
        while True:
            if controller.rate_cuts:
                started = loop.time()
                went = await self._learned_rate(loop, give_up_after)
                self.waited_s += loop.time() - started
                if not went:
                    return None
            cuts = controller.rate_cuts
            if self._ceiling is not None:
                await self._ceiling.acquire(loop)
            if controller.rate_cuts == cuts:
                return controller.sent_now(loop.time())
            # A 429 cut the rate while this request waited for the ceiling: what let it
            # through no longer holds, so it queues again under the new rate (its ceiling slot
            # goes unused, which only ever sends less).

    def given_up(self, give_up_after: float) -> bool:
        """Has the gateway answered this scope only with 429s for `give_up_after` seconds?"""
        controller = self.controller
        return controller.refusing and self.stalled_for() >= give_up_after

    async def _learned_rate(self, loop: asyncio.AbstractEventLoop, give_up_after: float) -> bool:
        """Wait for the learned rate: one request at a time (the rest queue in order), each
        at its slot of an even schedule, and never while our requests of the last second
        already fill the rate (right after a cut the window still holds what went at the old
        rate). The head of the queue looks again after every wait: a cut while it waited
        applies to it too."""
        controller = self.controller
        async with self._one_at_a_time:
            while True:
                rate = controller.rate
                if rate is None:
                    return True  # the cut was undone: no ceiling and no learned limit
                now = loop.time()
                interval = 1.0 / (rate * SAFETY_MARGIN)
                # A wake-up late by up to one interval does not move the next slot later;
                # after an idle spell (or a wait for room) the schedule restarts from now.
                slot = self._next_slot if self._next_slot >= now - interval else now
                at = max(slot, controller.room_at(now))
                if at <= now:
                    self._next_slot = slot + interval
                    return True
                if self.given_up(give_up_after):
                    return False
                await self._sleep(at - now)

    def answered(self, ticket: Ticket, http_status: int | None) -> bool:
        """What came back for `ticket`'s request (None: no answer at all); True if it was a
        429 that cut the rate."""
        controller = self.controller
        if http_status is None:
            controller.lost(ticket)
            return False
        now = asyncio.get_running_loop().time()
        if http_status == 429:
            return controller.throttled(ticket, now)
        controller.accepted(ticket, now)
        return False

    def stalled_for(self) -> float:
        """Seconds since the gateway last accepted one of this scope's requests."""
        return self.controller.stalled_for(asyncio.get_running_loop().time())


@dataclass(frozen=True, slots=True)
class ScopeReport:
    """What one scope and endpoint learned, for `run.throttling`."""

    scope: str
    endpoint: str
    learned: RateReport
    paced_wait_s: float  # requests held to the learned rate, in all
    throttle_wait_s: float  # the waits of requests answered 429, in all

    def as_dict(self) -> dict[str, object]:
        learned = self.learned
        return {
            "scope": self.scope,
            "endpoint": self.endpoint,
            "requests": learned.sent,
            "responses_429": learned.responses_429,
            "rate_cuts": learned.rate_cuts,
            "unexplained_429": learned.unexplained_429,
            "limit_found": learned.limit_found,
            "rate_at_end": learned.rate,
            "peak_rate": learned.peak_rate,
            "paced_wait_s": self.paced_wait_s,
            "throttle_wait_s": self.throttle_wait_s,
        }


class Throttles:
    """The ceiling of each endpoint and the throttle of each scope and endpoint, made on first
    use. `rate` is the ceiling (`--rate`); None or 0: no ceiling."""

    def __init__(self, rate: float | None, *, sleep: Sleep = asyncio.sleep) -> None:
        self.rate = rate or None
        self._sleep = sleep
        self._ceilings: dict[str, Ceiling] = {}
        self._throttles: dict[tuple[str, str], Throttle] = {}

    def get(self, scope: str, endpoint: str) -> Throttle:
        """The throttle of `scope`'s requests to `endpoint`."""
        throttle = self._throttles.get((scope, endpoint))
        if throttle is None:
            ceiling = None
            if self.rate is not None:
                ceiling = self._ceilings.get(endpoint)
                if ceiling is None:
                    ceiling = self._ceilings[endpoint] = Ceiling(self.rate, sleep=self._sleep)
            throttle = Throttle(scope, endpoint, ceiling, sleep=self._sleep)
            self._throttles[(scope, endpoint)] = throttle
        return throttle

    def reports(self) -> list[ScopeReport]:
        """What each scope and endpoint learned, in the order first used."""
        return [
            ScopeReport(
                t.scope,
                t.endpoint,
                t.controller.report(),
                round(t.waited_s, 3),
                round(t.waited_after_429_s, 3),
            )
            for t in self._throttles.values()
        ]

    def as_run_dict(self, deadline_s: float) -> dict[str, object]:
        """`run.throttling`: the ceiling, what each scope and endpoint learned, and the
        `--rate` to use next time (the lowest limit found; None when nothing throttled)."""
        reports = self.reports()
        found = [r.learned.limit_found for r in reports if r.learned.limit_found is not None]
        return {
            "ceiling": self.rate,
            "throttle_deadline_s": deadline_s,
            "scopes": [r.as_dict() for r in reports],
            "suggested_rate": math.floor(min(found)) if found else None,
        }
