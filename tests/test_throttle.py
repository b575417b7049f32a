"""Per-endpoint throttles: pacing, pauses after a 429 and the rate's back-off and recovery."""

from __future__ import annotations

import asyncio
import bisect
import heapq
import itertools
import time
import types
from collections.abc import Awaitable, Callable

import pytest
from asyncio_throttle import throttler as asyncio_throttle

from auditor.throttle import (
    MIN_SHARE,
    RECOVERY_STEP,
    SAFETY_MARGIN,
    PacedThrottle,
    Throttle,
    Throttles,
    Unlimited,
)


class Clock:
    """A hand-moved loop clock for the rate arithmetic (no sleeping while it is installed)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def with_clock(body: Callable[[Clock], None]) -> None:
    """Run `body` inside a running loop whose `time()` is a `Clock`."""

    async def main() -> None:
        loop = asyncio.get_running_loop()
        clock = Clock()
        loop.time = clock  # type: ignore[method-assign]
        try:
            body(clock)
        finally:
            del loop.time  # back to the class's method

    asyncio.run(main())


# --- one throttle per endpoint -------------------------------------------------------------


def test_one_throttle_per_endpoint() -> None:
    throttles = Throttles(10)
    a = throttles.for_endpoint("https://a.test")
    assert throttles.for_endpoint("https://a.test") is a
    b = throttles.for_endpoint("https://b.test")
    assert b is not a
    assert isinstance(a, PacedThrottle)
    assert isinstance(b, PacedThrottle)
    assert a.rate == b.rate == 10


@pytest.mark.parametrize("rate", [None, 0, 0.0])
def test_no_rate_means_unlimited(rate: float | None) -> None:
    throttles = Throttles(rate)
    throttle = throttles.for_endpoint("https://a.test")
    assert isinstance(throttle, Unlimited)
    assert throttles.for_endpoint("https://a.test") is throttle
    assert throttles.current_rates() == {}


def test_current_rates_lists_paced_endpoints() -> None:
    throttles = Throttles(50)
    throttles.for_endpoint("https://a.test")
    throttles.for_endpoint("https://b.test")
    assert throttles.current_rates() == {"https://a.test": 50, "https://b.test": 50}


@pytest.mark.parametrize("rate", [0, -1, -0.5])
def test_paced_throttle_rejects_a_rate_that_is_not_positive(rate: float) -> None:
    with pytest.raises(ValueError, match="positive"):
        PacedThrottle(rate)


def test_both_kinds_are_throttles() -> None:
    def accepts(throttle: Throttle) -> Throttle:
        return throttle

    assert accepts(Unlimited()) is not None
    assert accepts(PacedThrottle(5)) is not None


# --- pauses --------------------------------------------------------------------------------


def elapsed_acquire(throttle: Throttle, pause: float, then: float | None = None) -> float:
    async def main() -> float:
        await throttle.acquire()  # a paced throttle's first start is free
        throttle.throttled(pause)
        if then is not None:
            throttle.throttled(then)
        started = time.perf_counter()
        await throttle.acquire()
        return time.perf_counter() - started

    return asyncio.run(main())


@pytest.mark.parametrize("make", [Unlimited, lambda: PacedThrottle(1000)])
def test_a_pause_makes_acquire_wait(make: Callable[[], Throttle]) -> None:
    assert elapsed_acquire(make(), 0.05) >= 0.04


def test_a_shorter_pause_does_not_cut_a_longer_one() -> None:
    assert elapsed_acquire(Unlimited(), 0.05, then=0.001) >= 0.04


def test_unlimited_does_not_wait_without_a_pause() -> None:
    throttle = Unlimited()

    async def main() -> float:
        started = time.perf_counter()
        for _ in range(1000):
            throttle.succeeded()
            await throttle.acquire()
        return time.perf_counter() - started

    assert asyncio.run(main()) < 0.5


def test_a_pause_holds_every_waiting_worker() -> None:
    throttle = Unlimited()

    async def main() -> list[float]:
        loop = asyncio.get_running_loop()
        throttle.throttled(0.05)
        started = loop.time()

        async def worker() -> float:
            await throttle.acquire()
            return loop.time() - started

        return list(await asyncio.gather(*(worker() for _ in range(5))))

    assert min(asyncio.run(main())) >= 0.04


# --- back-off and recovery (on a hand-moved loop clock) ------------------------------------


def test_a_429_halves_the_rate_once_a_second() -> None:
    throttle = PacedThrottle(100)

    def body(clock: Clock) -> None:
        throttle.throttled(0.0)
        assert throttle.current == 50
        for _ in range(10):  # the rest of a burst of 429s from requests already in flight
            throttle.throttled(0.0)
        assert throttle.current == 50
        clock.now += 1.0
        throttle.throttled(0.0)
        assert throttle.current == 25

    with_clock(body)


def test_the_rate_never_drops_below_its_floor() -> None:
    throttle = PacedThrottle(64)

    def body(clock: Clock) -> None:
        for _ in range(20):
            throttle.throttled(0.0)
            clock.now += 1.0
        assert throttle.current == pytest.approx(64 * MIN_SHARE)

    with_clock(body)


def test_the_rate_recovers_a_step_a_second_up_to_the_configured_rate() -> None:
    throttle = PacedThrottle(100)

    def body(clock: Clock) -> None:
        throttle.throttled(0.0)
        assert throttle.current == 50
        throttle.succeeded()  # too soon after the 429
        assert throttle.current == 50
        rates = []
        for _ in range(8):
            clock.now += 1.0
            throttle.succeeded()
            throttle.succeeded()  # at most one step per second
            rates.append(throttle.current)
        step = 100 * RECOVERY_STEP
        assert rates == pytest.approx([min(100, 50 + step * n) for n in range(1, 9)])
        assert rates[-1] == 100

    with_clock(body)


def test_success_at_full_rate_changes_nothing() -> None:
    throttle = PacedThrottle(100)

    def body(clock: Clock) -> None:
        throttle.succeeded()
        clock.now += 5
        throttle.succeeded()
        assert throttle.current == 100
        throttle.throttled(0.0)  # the first 429 halves at once
        assert throttle.current == 50

    with_clock(body)


def test_a_429_right_after_a_recovery_step_still_halves() -> None:
    throttle = PacedThrottle(100)

    def body(clock: Clock) -> None:
        throttle.throttled(0.0)
        clock.now += 1.0
        throttle.succeeded()
        recovered = 50 + 100 * RECOVERY_STEP
        assert throttle.current == pytest.approx(recovered)
        clock.now += 0.1
        throttle.throttled(0.0)
        assert throttle.current == pytest.approx(recovered / 2)

    with_clock(body)


def test_no_recovery_within_a_second_of_a_429() -> None:
    throttle = PacedThrottle(100)

    def body(clock: Clock) -> None:
        throttle.throttled(0.0)  # halves to 50
        clock.now += 0.5
        throttle.throttled(0.0)  # another 429: no second halving yet, but a 429 all the same
        clock.now += 0.5
        throttle.succeeded()
        assert throttle.current == 50

    with_clock(body)


# --- the schedule (on a virtual loop clock) -------------------------------------------------


class VirtualTime:
    """A loop clock that moves only when every task waits: sleeps end in order of their wake
    time, which the test may make late (`late[n]` seconds for the n-th sleep). asyncio-throttle
    reads `time.monotonic()`, the real loop's clock; here it reads this one too."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.late: dict[int, float] = {}
        self._sleeps = 0
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, delay: float) -> None:
        self._sleeps += 1
        wake = self.now + delay + self.late.get(self._sleeps, 0.0)
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


def paced_starts(
    rate: float,
    requests: int,
    workers: int,
    clock: VirtualTime,
    on_start: Callable[[PacedThrottle, int], None] = lambda throttle, n: None,
) -> list[float]:
    """Start times of `requests` through one throttle shared by `workers` workers."""
    throttle = PacedThrottle(rate, sleep=clock.sleep)
    starts: list[float] = []

    async def main() -> None:
        async def worker() -> None:
            while len(starts) < requests:
                await throttle.acquire()
                if len(starts) < requests:
                    starts.append(clock.now)
                    on_start(throttle, len(starts))

        await asyncio.gather(*(worker() for _ in range(workers)))

    clock.run(main)
    return starts


def test_slots_follow_a_fixed_schedule_with_the_margin() -> None:
    clock = VirtualTime()
    starts = paced_starts(200, 60, 8, clock)
    interval = 1 / (200 * SAFETY_MARGIN)
    t0 = starts[0]
    # Half the 1.5 % margin (one request at 200/s) goes at once, then one slot per interval.
    assert starts[:2] == [t0, t0]
    assert starts[2:] == pytest.approx([t0 + k * interval for k in range(1, 59)])


def test_a_late_wake_up_does_not_move_later_slots() -> None:
    on_time = VirtualTime()
    expected = paced_starts(100, 60, 8, on_time)
    clock = VirtualTime()
    clock.late = {5: 0.05}  # one worker wakes 50 ms late (a busy loop, a GC pause)
    starts = paced_starts(100, 60, 8, clock)
    assert sorted(starts)[-1] == pytest.approx(expected[-1])  # nothing lost at the end
    moved = [(a, b) for a, b in zip(sorted(starts), expected, strict=True) if a != pytest.approx(b)]
    assert 0 < len(moved) <= 6  # only the late one and those it overtook in the sorted order


@pytest.mark.parametrize("rate", [25, 200, 1000])
def test_any_one_second_window_holds_the_rate_less_half_the_margin(rate: int) -> None:
    clock = VirtualTime()
    starts = paced_starts(rate, 3 * rate, 64, clock)
    busiest = max(bisect.bisect_left(starts, first + 1.0) - i for i, first in enumerate(starts))
    assert busiest <= max(rate * (1 + SAFETY_MARGIN) / 2 + 1, rate * SAFETY_MARGIN + 1)
    achieved = (len(starts) - 1) / (starts[-1] - starts[0])
    assert achieved == pytest.approx(rate * SAFETY_MARGIN, rel=0.01)


def test_a_429_restarts_the_schedule_at_the_new_rate() -> None:
    clock = VirtualTime()
    rates: list[float] = []

    def on_start(throttle: PacedThrottle, n: int) -> None:
        if n == 20:
            throttle.throttled(1.5)  # halves to 50/s; every slot already taken is void
        rates.append(throttle.current)

    starts = paced_starts(100, 60, 8, clock, on_start)
    assert rates[18:21] == [100, 50, 50]
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    assert gaps[1:19] == pytest.approx([1 / (100 * SAFETY_MARGIN)] * 18)
    assert gaps[19] == pytest.approx(1.5)  # everyone waited out the pause
    # Then one slot per new interval: the slots taken before the 429 were given back.
    assert gaps[20:] == pytest.approx([1 / (50 * SAFETY_MARGIN)] * 39)


# --- real time ------------------------------------------------------------------------------


@pytest.mark.slow
def test_paced_throttle_keeps_any_one_second_window_at_the_rate() -> None:
    rate, duration = 200, 1.3
    throttle = PacedThrottle(rate)

    async def main() -> list[float]:
        starts: list[float] = []
        deadline = time.monotonic() + duration

        async def worker() -> None:
            while time.monotonic() < deadline:
                await throttle.acquire()
                starts.append(time.monotonic())

        await asyncio.gather(*(worker() for _ in range(50)))
        return starts

    starts = sorted(asyncio.run(main()))
    busiest = max(bisect.bisect_left(starts, first + 1.0) - i for i, first in enumerate(starts))
    assert busiest <= rate
    first_second = bisect.bisect_left(starts, starts[0] + 1.0)
    # Slots are on a fixed schedule, so late wake-ups cost nothing but themselves; the low
    # floor only leaves room for a loaded machine.
    assert first_second >= 0.9 * rate
