"""Rate limits per API endpoint: a schedule-based pacer in front of asyncio-throttle.

`Throttler(rate_limit=R, period=1)` alone releases R requests in a burst, so with a little
network jitter a server can see two bursts in one of its 1-second windows; and when it paces
small bursts instead, each slot counts from when it was really taken, so every late wake-up of
a busy event loop is lost for good (~12 % at 200 req/s and more, measured in issue 7).

So requests are paced by a schedule on the loop clock: slot `k` falls at `t0 + k / (R * margin)`,
a worker takes the next free slot and sleeps until it (one timer each, no polling), and a slot
that is woken late does not move the ones after it. The schedule never lags more than a small
headroom behind the clock: after an idle spell it restarts from now and lets half the margin
(0.75 % of R) go at once, so any 1-second window holds at most 99.25 % of R and the other
0.75 % is slack for network jitter.

asyncio-throttle stays behind the pacer as the hard cap: no more starts in any sliding second
than the schedule allows (and never more than R), whatever the pacer did, say many slots woken
together after the loop stalled. It polls only while that cap is reached, and then only the
task at the head of a lock polls.

After a 429 every worker of the endpoint pauses, and a paced endpoint halves its rate (at most
once a second, however many answers in flight come back 429), then recovers by a quarter of the
configured rate for each further second without a 429. After a pause or a rate change the
schedule restarts from now; slots taken before it are given back and taken anew.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable
from typing import Protocol

from asyncio_throttle.throttler import Throttler

SAFETY_MARGIN = 0.985  # requests are paced at 98.5 % of the rate; the rest is slack
RECOVERY_STEP = 0.25  # share of the configured rate regained per second without a 429
MIN_SHARE = 1 / 32  # the rate never drops below this share of the configured rate
CAP_POLL_S = 0.001  # how often the task at the head polls the hard cap while it is reached


class Throttle(Protocol):
    """Something a worker awaits before each request to one endpoint."""

    async def acquire(self) -> None:
        """Return when one more request may start."""

    def throttled(self, pause_s: float) -> None:
        """The endpoint answered 429: hold every request to it for `pause_s`, and slow down."""

    def succeeded(self) -> None:
        """The endpoint answered without throttling."""


class _Pause:
    """A shared "not before" time on the loop clock; every worker of an endpoint honours it."""

    def __init__(self, sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        self.until = 0.0
        self._sleep = sleep

    def extend(self, seconds: float) -> None:
        self.until = max(self.until, asyncio.get_running_loop().time() + seconds)

    async def wait(self) -> None:
        loop = asyncio.get_running_loop()
        while (remaining := self.until - loop.time()) > 0:
            await self._sleep(remaining)


class Unlimited:
    """No rate limit; pauses after a 429 still hold."""

    def __init__(self) -> None:
        self._pause = _Pause()

    async def acquire(self) -> None:
        # The hot path of an unlimited audit: one comparison unless a pause was ever set.
        if self._pause.until:
            await self._pause.wait()

    def throttled(self, pause_s: float) -> None:
        self._pause.extend(pause_s)

    def succeeded(self) -> None:
        pass


class PacedThrottle:
    """At most `rate` requests per second, paced evenly on a fixed schedule."""

    def __init__(
        self,
        rate: float,
        margin: float = SAFETY_MARGIN,
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = rate
        self.current = rate
        self._margin = margin
        self._sleep = sleep  # until a slot; tests pass one that moves a fake loop clock
        self._throttler = Throttler(rate_limit=1, period=1.0, retry_interval=CAP_POLL_S)
        self._pause = _Pause(sleep)
        self._one_poller = asyncio.Lock()
        self._interval = 0.0  # seconds between slots
        self._headroom = 0.0  # how far the schedule may lag behind the clock, in seconds
        self._next_slot = -math.inf  # loop time of the next free slot
        self._last_start = -math.inf  # loop time the last request was let go
        self._generation = 0  # bumped when the schedule restarts: earlier slots are void
        self._last_slowdown = -math.inf  # loop time of the last halving
        self._last_429 = -math.inf
        self._last_step = -math.inf  # loop time of the last recovery step
        self._set_rate(rate)

    def _set_rate(self, rate: float) -> None:
        self.current = rate
        paced = rate * self._margin
        self._interval = 1.0 / paced
        # Half the margin may go at once after a restart (the other half is slack for network
        # jitter): a 1-second window then holds at most ceil(paced) + spare requests.
        spare = math.floor(round((rate - paced) / 2, 6))
        self._headroom = spare * self._interval
        # The cap is the schedule's own bound (closed windows hold one slot more), never above
        # R: it binds only when slots bunch up, and keeps the jitter slack when they do.
        self._throttler.rate_limit = max(1, min(math.floor(rate), math.floor(paced) + 1 + spare))
        self._restart()

    def _restart(self) -> None:
        # From now, but never closer to the last request than the (new) interval.
        self._next_slot = self._last_start + self._interval
        self._generation += 1

    async def acquire(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            if self._pause.until:
                await self._pause.wait()
            generation = self._generation
            now = loop.time()
            slot = max(self._next_slot, now - self._headroom)
            self._next_slot = slot + self._interval
            if slot > now:
                await self._sleep(slot - now)
            if generation == self._generation:
                break
            # A 429 or a rate change restarted the schedule while this worker slept: its slot
            # belonged to the old one, so it takes a new one (after the pause, if any).
        # Below the cap this neither waits nor polls; at the cap one task polls, the rest queue.
        async with self._one_poller:
            await self._throttler.acquire()  # type: ignore[no-untyped-call]  # untyped upstream
        self._last_start = loop.time()

    def throttled(self, pause_s: float) -> None:
        self._pause.extend(pause_s)
        now = asyncio.get_running_loop().time()
        self._last_429 = now
        if now - self._last_slowdown >= 1.0:
            self._set_rate(max(self.rate * MIN_SHARE, self.current / 2))
            self._last_slowdown = now
        else:
            self._restart()

    def succeeded(self) -> None:
        if self.current >= self.rate:
            return
        now = asyncio.get_running_loop().time()
        if now - self._last_429 >= 1.0 and now - self._last_step >= 1.0:
            self._set_rate(min(self.rate, self.current + self.rate * RECOVERY_STEP))
            self._last_step = now


class Throttles:
    """One throttle per endpoint, made on first use."""

    def __init__(self, rate: float | None) -> None:
        self.rate = rate
        self._by_endpoint: dict[str, Throttle] = {}

    def for_endpoint(self, endpoint: str) -> Throttle:
        throttle = self._by_endpoint.get(endpoint)
        if throttle is None:
            throttle = PacedThrottle(self.rate) if self.rate else Unlimited()
            self._by_endpoint[endpoint] = throttle
        return throttle

    def current_rates(self) -> dict[str, float]:
        """The effective rate of each paced endpoint now (lower than configured after 429s)."""
        return {
            endpoint: round(throttle.current, 2)
            for endpoint, throttle in self._by_endpoint.items()
            if isinstance(throttle, PacedThrottle)
        }
