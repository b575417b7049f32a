"""Throttles: the --rate ceiling per endpoint (a schedule-based pacer, asyncio-throttle as
the hard cap) and, under it, the learned rate per credential scope and endpoint."""

from __future__ import annotations

import asyncio
import bisect
import itertools
import time

import pytest

from auditor.send.throttle import SAFETY_MARGIN, Ceiling, Pacer, Throttle, Throttles
from tests.clocks import VirtualTime

# --- one ceiling per endpoint, one throttle per scope and endpoint --------------------------


def test_one_throttle_per_scope_and_endpoint() -> None:
    throttles = Throttles(10)
    a = throttles.get("token", "https://a.test")
    assert throttles.get("token", "https://a.test") is a
    assert throttles.get("token", "https://b.test") is not a
    assert throttles.get("access key", "https://a.test") is not a
    assert a.controller.ceiling == 10
    assert a.controller.rate == 10  # the ceiling until the gateway throttles


def test_scopes_share_their_endpoint_s_ceiling() -> None:
    throttles = Throttles(10)
    a = throttles.get("token of project A", "https://a.test")
    b = throttles.get("token of project B", "https://a.test")
    assert a._ceiling is b._ceiling is not None  # --rate is per endpoint, whoever sends
    assert throttles.get("token", "https://b.test")._ceiling is not a._ceiling


@pytest.mark.parametrize("rate", [None, 0, 0.0])
def test_no_rate_means_no_ceiling(rate: float | None) -> None:
    throttles = Throttles(rate)
    throttle = throttles.get("token", "https://a.test")
    assert throttle._ceiling is None
    assert throttle.controller.rate is None
    assert throttles.as_run_dict(300)["ceiling"] is None


@pytest.mark.parametrize("rate", [0, -1, -0.5])
def test_a_pacer_rejects_a_rate_that_is_not_positive(rate: float) -> None:
    with pytest.raises(ValueError, match="positive"):
        Pacer(rate, sleep=asyncio.sleep)


def test_unthrottled_and_unlimited_acquire_does_not_wait() -> None:
    slept: list[float] = []

    async def sleep(seconds: float) -> None:  # any wait at all would come through here
        slept.append(seconds)

    throttle = Throttles(None, sleep=sleep).get("token", "https://a.test")

    async def main() -> int:
        for _ in range(1000):
            ticket = await throttle.acquire()
            throttle.answered(ticket, 200)
        return 1000

    assert asyncio.run(main()) == 1000
    assert slept == []


def test_run_dict_reports_each_scope_and_suggests_the_lowest_limit() -> None:
    clock = VirtualTime()
    throttles = Throttles(300, sleep=clock.sleep)

    async def main() -> None:
        a = throttles.get("token", "https://a.test")
        b = throttles.get("token", "https://b.test")
        for _ in range(40):
            a.answered(await a.acquire(), 200)
        # The 41st and 42nd in one second refused: the limit (one alone could be a blip).
        a.answered(await a.acquire(), 429)
        a.answered(await a.acquire(), 429)
        b.answered(await b.acquire(), 200)

    clock.run(main)
    run = throttles.as_run_dict(120)
    assert run["ceiling"] == 300
    assert run["throttle_deadline_s"] == 120
    first, second = run["scopes"]  # type: ignore[misc]
    assert (first["scope"], first["endpoint"]) == ("token", "https://a.test")
    assert first["requests"] == 42
    assert first["responses_429"] == 2
    assert first["rate_cuts"] == 1
    assert first["limit_found"] == 40
    assert first["rate_at_end"] == pytest.approx(36)  # 0.9 of the limit found
    assert second["limit_found"] is None
    assert second["rate_at_end"] == 300
    assert run["suggested_rate"] == 40


# --- the learned rate under the ceiling ---------------------------------------------------


def test_after_a_cut_nothing_goes_until_the_window_has_room() -> None:
    """Right after a cut the gateway's window still holds what went at the old rate: the
    next request waits until enough of it has left, then requests go one at a time at the
    learned rate."""
    clock = VirtualTime()
    throttle = Throttle("token", "https://a.test", None, sleep=clock.sleep)
    starts: list[float] = []

    async def main() -> None:
        for _ in range(20):  # 20 in the first 0.1 s, then two 429s: the limit is 20
            throttle.answered(await throttle.acquire(), 200)
            await clock.sleep(0.005)
        throttle.answered(await throttle.acquire(), 429)
        throttle.answered(await throttle.acquire(), 429)
        assert throttle.controller.rate == pytest.approx(18)

        async def worker() -> None:
            for _ in range(5):
                ticket = await throttle.acquire()
                starts.append(clock.now)
                throttle.answered(ticket, 200)

        await asyncio.gather(*(worker() for _ in range(4)))

    first = clock.now
    clock.run(main)
    # 18 may be in the window: the 3rd oldest of the 20 must leave first (it went at +0.01 s).
    assert starts[0] >= first + 1.0
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    assert min(gaps) >= 1 / (20 * SAFETY_MARGIN) - 1e-9  # one at a time, evenly, under 20/s


def test_a_cut_while_waiting_for_the_ceiling_sends_the_request_under_the_new_rate() -> None:
    clock = VirtualTime()
    ceiling = Ceiling(20, sleep=clock.sleep)
    throttle = Throttle("token", "https://a.test", ceiling, sleep=clock.sleep)

    async def main() -> None:
        for _ in range(10):  # at the ceiling's pace: half a second
            throttle.answered(await throttle.acquire(), 200)
        refused = [await throttle.acquire(), await throttle.acquire()]
        waiting = asyncio.ensure_future(throttle.acquire())  # queued at the 20/s ceiling
        await clock.sleep(0.005)
        assert not waiting.done()
        # Meanwhile the gateway refuses the two before it: the limit is 10, the rate 9.
        assert [throttle.answered(ticket, 429) for ticket in refused] == [False, True]
        ticket = await waiting
        # It went under the learned rate: with room for it in the gateway's window.
        assert throttle.controller.admitted_before(ticket.sent_at) < 9
        assert throttle.waited_s > 0

    clock.run(main)


# --- the schedule (on a virtual loop clock) -------------------------------------------------


def paced_starts(
    rate: float,
    requests: int,
    workers: int,
    clock: VirtualTime,
) -> list[float]:
    """Start times of `requests` through one endpoint ceiling shared by `workers` workers."""
    throttle = Throttle("token", "https://a.test", Ceiling(rate, sleep=clock.sleep))
    starts: list[float] = []

    async def main() -> None:
        async def worker() -> None:
            while len(starts) < requests:
                ticket = await throttle.acquire()
                if len(starts) < requests:
                    starts.append(clock.now)
                    throttle.answered(ticket, 200)

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


# --- real time ------------------------------------------------------------------------------


@pytest.mark.slow
def test_the_ceiling_keeps_any_one_second_window_at_the_rate() -> None:
    rate, duration = 200, 1.3

    async def main() -> list[float]:
        throttle = Throttles(rate).get("token", "https://a.test")
        starts: list[float] = []
        deadline = time.monotonic() + duration

        async def worker() -> None:
            while time.monotonic() < deadline:
                throttle.answered(await throttle.acquire(), 200)
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


def test_a_request_waiting_for_the_learned_rate_goes_when_the_cut_is_undone() -> None:
    """No ceiling: a cut, then answers prove it wrong and take it back (the rate is None
    again) while a request waits for the learned rate; that request then simply goes."""
    clock = VirtualTime()
    throttle = Throttles(None, sleep=clock.sleep).get("token", "https://a.test")
    sent: list[float] = []

    async def main() -> None:
        tickets = []
        for _ in range(8):
            tickets.append(await throttle.acquire())
            await clock.sleep(0.001)
        for ticket in tickets[:5]:
            throttle.answered(ticket, 200)
        throttle.answered(tickets[5], 429)  # a suspect ...
        throttle.answered(tickets[6], 429)  # ... confirmed: a cut to 90 % of 6
        assert throttle.controller.rate_cuts == 1
        waiting = asyncio.ensure_future(throttle.acquire())
        await clock.sleep(0.0001)
        # A request sent after the 429s and before the cut was admitted with 7 of ours in
        # the second before it: more than the cut said the gateway allows.
        throttle.answered(tickets[7], 200)
        assert throttle.controller.rate is None
        ticket = await waiting
        assert ticket is not None
        sent.append(ticket.sent_at)

    clock.run(main)
    assert len(sent) == 1
