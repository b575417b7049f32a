"""Rate limits per API endpoint: the seam between the runner and asyncio-throttle.

`Throttler(rate_limit=R, period=1)` releases R requests in a burst, so with a little network
jitter a server can see two bursts in one of its 1-second windows. We pace instead: a burst of a
few requests over a proportionally short period, with a small safety margin, so any 1-second
window at the server holds at most R.
"""

from __future__ import annotations

import asyncio
import math
from typing import Protocol

from asyncio_throttle.throttler import Throttler

SAFETY_MARGIN = 0.98


class Throttle(Protocol):
    """Something a worker awaits before each request to one endpoint."""

    async def acquire(self) -> None:
        """Return when one more request may start."""

    def pause(self, seconds: float) -> None:
        """Hold every request to this endpoint for `seconds` (after a 429)."""


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

    def pause(self, seconds: float) -> None:
        self._pause.extend(seconds)


class PacedThrottle:
    """At most `rate` requests per second, paced evenly rather than released in bursts."""

    def __init__(self, rate: float, margin: float = SAFETY_MARGIN) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = rate
        # A burst of one per 1/rate seconds up to 100 req/s, then bursts of rate/100 every
        # ~10 ms, so waiting workers poll about a hundred times a second, not thousands.
        burst = max(1, math.floor(rate / 100))
        period = burst / (rate * margin)
        self._throttler = Throttler(
            rate_limit=burst, period=period, retry_interval=min(0.01, period / 4)
        )
        self._pause = _Pause()

    async def acquire(self) -> None:
        await self._pause.wait()
        await self._throttler.acquire()  # type: ignore[no-untyped-call]  # untyped upstream

    def pause(self, seconds: float) -> None:
        self._pause.extend(seconds)


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
