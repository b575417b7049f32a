"""Virtual time for tests of pacing and rate control: no test here sleeps on the real clock."""

from __future__ import annotations

import asyncio
import heapq
import types
from collections.abc import Awaitable, Callable

from asyncio_throttle import throttler as asyncio_throttle


async def no_wait(seconds: float) -> None:
    """A `sleep=` that waits for nothing: retry waits pass at once (one loop turn, so other
    tasks still run)."""
    await asyncio.sleep(0)


class VirtualTime:
    """A loop clock that moves only when every task waits: sleeps end in order of their wake
    time, which the test may make late (`late[n]` seconds for the n-th sleep). asyncio-throttle
    reads `time.monotonic()`, the real loop's clock; here it reads this one too."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self.late: dict[int, float] = {}
        self._sleeps = 0
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, delay: float) -> None:
        self._sleeps += 1
        wake = self.now + max(0.0, delay) + self.late.get(self._sleeps, 0.0)
        future = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (wake, self._sleeps, future))
        await future

    def run(self, main: Callable[[], Awaitable[None]]) -> None:
        async def drive() -> None:
            loop = asyncio.get_running_loop()
            loop.time = self  # type: ignore[method-assign]
            real_time = asyncio_throttle.time
            asyncio_throttle.time = types.SimpleNamespace(monotonic=self)  # type: ignore[assignment]
            try:
                task = asyncio.ensure_future(main())
                while not task.done():
                    for _ in range(20):  # let every task that can run, run
                        await asyncio.sleep(0)
                    # A lock handed from task to task takes a loop turn per hand-over.
                    for _ in range(2000):
                        if task.done() or self._sleepers:
                            break
                        await asyncio.sleep(0)
                    if task.done():
                        break
                    assert self._sleepers, "every task waits, but not on the clock"
                    wake, _, future = heapq.heappop(self._sleepers)
                    self.now = max(self.now, wake)
                    future.set_result(None)
                task.result()
            finally:
                del loop.time
                asyncio_throttle.time = real_time

        asyncio.run(drive())
