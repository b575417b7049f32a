"""Rate limits per API endpoint: the seam between the runner and asyncio-throttle.

`Throttler(rate_limit=R, period=1)` releases R requests in a burst, so with a little network
jitter a server can see two bursts in one of its 1-second windows. We pace instead: a burst of a
few requests over a proportionally short period, with a small safety margin, so any 1-second
window at the server holds at most R.

asyncio-throttle has every waiting task poll it every few milliseconds; here the waiters queue on
a lock and only the one at its head polls, so the cost stays flat however many workers wait.

After a 429 every worker of the endpoint pauses, and a paced endpoint halves its rate (at most
once a second, however many answers in flight come back 429), then recovers by a quarter of the
configured rate for each further second without a 429.
"""

from __future__ import annotations

import asyncio
import math
from typing import Protocol

from asyncio_throttle.throttler import Throttler

SAFETY_MARGIN = 0.98
RECOVERY_STEP = 0.25  # share of the configured rate regained per second without a 429
MIN_SHARE = 1 / 32  # the rate never drops below this share of the configured rate


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

    def __init__(self) -> None:
        self.until = 0.0

    def extend(self, seconds: float) -> None:
        self.until = max(self.until, asyncio.get_running_loop().time() + seconds)

    async def wait(self) -> None:
        loop = asyncio.get_running_loop()
        while (remaining := self.until - loop.time()) > 0:
            await asyncio.sleep(remaining)


class Unlimited:
    """No rate limit; pauses after a 429 still hold."""

    def __init__(self) -> None:
        self._pause = _Pause()

    async def acquire(self) -> None:
        await self._pause.wait()

    def throttled(self, pause_s: float) -> None:
        self._pause.extend(pause_s)

    def succeeded(self) -> None:
        pass


class PacedThrottle:
    """At most `rate` requests per second, paced evenly rather than released in bursts."""

    def __init__(self, rate: float, margin: float = SAFETY_MARGIN) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = rate
        self.current = rate
        self._margin = margin
        # A burst of one per 1/rate seconds up to 100 req/s, then bursts of rate/100 every
        # ~10 ms, so waiting workers poll about a hundred times a second, not thousands.
        self._burst = max(1, math.floor(rate / 100))
        self._throttler = Throttler(rate_limit=self._burst, period=1.0, retry_interval=0.01)
        self._set_rate(rate)
        self._pause = _Pause()
        self._one_poller = asyncio.Lock()
        self._last_slowdown = -math.inf  # loop time of the last halving
        self._last_429 = -math.inf
        self._last_step = -math.inf  # loop time of the last recovery step

    def _set_rate(self, rate: float) -> None:
        self.current = rate
        period = self._burst / (rate * self._margin)
        self._throttler.period = period
        # One task polls (see acquire), so polling finely is cheap and keeps slots from idling.
        self._throttler.retry_interval = min(0.002, period / 10)

    async def acquire(self) -> None:
        await self._pause.wait()
        async with self._one_poller:
            await self._throttler.acquire()  # type: ignore[no-untyped-call]  # untyped upstream

    def throttled(self, pause_s: float) -> None:
        self._pause.extend(pause_s)
        now = asyncio.get_running_loop().time()
        self._last_429 = now
        if now - self._last_slowdown >= 1.0:
            self._set_rate(max(self.rate * MIN_SHARE, self.current / 2))
            self._last_slowdown = now

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
