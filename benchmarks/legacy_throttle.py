"""The pacing as it was before this benchmark: asyncio-throttle polled by every waiting worker.

Kept only to measure what the schedule-based pacer in front of it saved (CPU share and achieved
rate at concurrency 256).
"""

from __future__ import annotations

import math

from asyncio_throttle.throttler import Throttler

from auditor.send.throttle import SAFETY_MARGIN, Throttle, Throttles, Unlimited


class LegacyPacedThrottle(Unlimited):
    """Bursts of `rate / 100` per ~10 ms through `Throttler`, waiters polling every 10 ms."""

    def __init__(self, rate: float) -> None:
        super().__init__()
        burst = max(1, math.floor(rate / 100))
        period = burst / (rate * SAFETY_MARGIN)
        self._throttler = Throttler(rate_limit=burst, period=period, retry_interval=0.01)
        self._throttler.retry_interval = min(0.01, period / 4)

    async def acquire(self) -> None:
        await super().acquire()
        await self._throttler.acquire()  # type: ignore[no-untyped-call]


class LegacyThrottles(Throttles):
    """`Throttles` handing out `LegacyPacedThrottle`s."""

    def for_endpoint(self, endpoint: str) -> Throttle:
        throttle = self._by_endpoint.get(endpoint)
        if throttle is None:
            assert self.rate
            throttle = self._by_endpoint[endpoint] = LegacyPacedThrottle(self.rate)
        return throttle
