"""Per-endpoint throttles: pacing, pauses after a 429 and the rate's back-off and recovery."""

from __future__ import annotations

import asyncio
import bisect
import time
from collections.abc import Callable

import pytest

from auditor.throttle import (
    MIN_SHARE,
    RECOVERY_STEP,
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
    # Only a guard against a stalled pacer: asyncio-throttle measures each slot from when it was
    # really taken, so a busy loop's late wake-ups cost ~10 % (0.87-0.90 measured; issue 7).
    assert first_second >= 0.75 * rate
