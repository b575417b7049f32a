"""The pacing as it was before the schedule-based pacer: asyncio-throttle polled by every
waiting worker.

Kept only to measure what the pacer in front of it saved (CPU share and achieved rate at
concurrency 256). It stands in for the endpoint's ceiling (`auditor.send.throttle.Ceiling`); the
learned rate per scope (`Throttle`, `RateController`) is the audit's own, as in a real run.
"""

from __future__ import annotations

import asyncio
import math

from asyncio_throttle.throttler import Throttler

from auditor.send.throttle import SAFETY_MARGIN, Ceiling, Throttle, Throttles


class LegacyCeiling(Ceiling):
    """Bursts of `rate / 100` per ~10 ms through `Throttler`, waiters polling every 10 ms."""

    def __init__(self, rate: float) -> None:
        super().__init__(rate)  # its pacer only tells the learned rate what the ceiling is
        burst = max(1, math.floor(rate / 100))
        period = burst / (rate * SAFETY_MARGIN)
        self._legacy = Throttler(rate_limit=burst, period=period, retry_interval=0.01)
        self._legacy.retry_interval = min(0.01, period / 4)

    async def acquire(self, loop: asyncio.AbstractEventLoop) -> None:
        await self._legacy.acquire()  # type: ignore[no-untyped-call]


class LegacyThrottles(Throttles):
    """`Throttles` whose endpoints have a `LegacyCeiling`."""

    def get(self, scope: str, endpoint: str) -> Throttle:
        throttle = self._throttles.get((scope, endpoint))
        if throttle is None:
            ceiling = self._ceilings.get(endpoint)
            if ceiling is None:
                assert self.rate
                ceiling = self._ceilings[endpoint] = LegacyCeiling(self.rate)
            throttle = self._throttles[(scope, endpoint)] = Throttle(scope, endpoint, ceiling)
        return throttle
