"""The rate controller, driven through the real runner against a simulated gateway on virtual
time: it finds a limit nobody told it, never sends above the ceiling, follows a limit that
falls and rises, and tells a function's own 429 from the gateway's limit."""

from __future__ import annotations

import bisect

import pytest

from auditor.model import Status
from auditor.send.rate_control import RateController, Ticket
from tests.clocks import VirtualTime
from tests.simulated_gateway import SimulatedGateway, run_fleet


def busiest_second(times: list[float]) -> int:
    return max(bisect.bisect_left(times, t + 1.0) - i for i, t in enumerate(times))


@pytest.mark.parametrize(("limit", "ceiling"), [(60, 300), (20, 100), (150, 1000)])
def test_converges_on_a_hidden_limit(limit: int, ceiling: int) -> None:
    gateway = SimulatedGateway(VirtualTime(), schedule=((0, limit),), latency_s=0.04)
    statuses = run_fleet(gateway, limit * 30, ceiling=ceiling)
    assert set(statuses) == {Status.CONFIGURED}  # nothing left throttled, nothing lost
    steady = gateway.accepted_between(5, 25) / 20
    assert steady >= 0.93 * limit
    refused = len(gateway.refused)
    assert refused <= 0.03 * (refused + len(gateway.accepted))


def test_a_steady_limit_costs_a_few_429s_after_the_first_second() -> None:
    gateway = SimulatedGateway(VirtualTime(), schedule=((0, 60),), latency_s=0.04)
    run_fleet(gateway, 2400, ceiling=300)
    assert gateway.started is not None
    later = [t for t in gateway.refused if t >= gateway.started + 2]
    assert len(later) <= 0.01 * len(gateway.accepted)  # the first second's burst aside


@pytest.mark.parametrize("ceiling", [50, 200])
def test_never_above_the_ceiling(ceiling: int) -> None:
    """Without a server limit the ceiling alone paces: no second ever holds more."""
    gateway = SimulatedGateway(VirtualTime(), latency_s=0.01)
    run_fleet(gateway, ceiling * 5, ceiling=ceiling, concurrency=64)
    assert busiest_second(gateway.accepted) <= ceiling
    assert not gateway.refused


def test_never_above_the_ceiling_under_a_limit_that_keeps_rising() -> None:
    clock = VirtualTime()
    gateway = SimulatedGateway(clock, schedule=((0, 20), (5, 40), (10, 500)), latency_s=0.02)
    run_fleet(gateway, 2000, ceiling=80)
    arrivals = sorted(gateway.accepted + gateway.refused)
    assert busiest_second(arrivals) <= 80


def test_recovers_when_the_limit_rises_and_holds_when_it_falls() -> None:
    gateway = SimulatedGateway(
        VirtualTime(), schedule=((0, 100), (20, 30), (40, 100)), latency_s=0.04
    )
    statuses = run_fleet(gateway, 5000, ceiling=300)
    assert set(statuses) == {Status.CONFIGURED}
    for start, end, limit in ((5, 20, 100), (25, 40, 30), (45, 60, 100)):
        assert gateway.accepted_between(start, end) / (end - start) >= 0.85 * limit


def test_random_429s_do_not_slow_the_run() -> None:
    """1 % of answers are a function's own 429 (not the gateway's limit): each waits, none
    cuts the rate for long."""
    clean = SimulatedGateway(VirtualTime(), latency_s=0.04)
    run_fleet(clean, 3000, ceiling=100)
    noisy = SimulatedGateway(VirtualTime(), latency_s=0.04, random_429=0.01, seed=3)
    statuses = run_fleet(noisy, 3000, ceiling=100)
    assert set(statuses) == {Status.CONFIGURED}
    # Steady pace untouched; the run is longer only by the last 429s' 2-5 s waits.
    assert noisy.accepted_between(2, 25) >= 0.97 * clean.accepted_between(2, 25)
    assert noisy.duration <= clean.duration + 6


def test_functions_that_answer_429_twice_keep_their_place_without_holding_a_worker() -> None:
    clean = SimulatedGateway(VirtualTime(), latency_s=0.04)
    run_fleet(clean, 3000, ceiling=100)
    faulty = SimulatedGateway(VirtualTime(), latency_s=0.04, faulty_share=0.05)
    statuses = run_fleet(faulty, 3000, ceiling=100)
    assert set(statuses) == {Status.CONFIGURED}
    assert faulty.accepted_between(2, 25) >= 0.97 * clean.accepted_between(2, 25)
    assert faulty.duration <= clean.duration + 11  # two 2-5 s waits for the last ones


def test_a_gateway_that_stops_serving_ends_rows_throttled_after_the_deadline() -> None:
    gateway = SimulatedGateway(VirtualTime(), schedule=((0, 5), (1, 0)), latency_s=0.02)
    statuses = run_fleet(gateway, 40, ceiling=100, deadline=30)
    assert Status.THROTTLED in statuses
    assert statuses.count(Status.CONFIGURED) == len(gateway.accepted)
    assert gateway.duration <= 30 + 6  # the deadline, and the last waits


def test_a_gateway_that_refuses_everything_from_the_start_is_not_hammered() -> None:
    """Nothing ever admitted: the rate drops to the floor at once instead of sending at the
    ceiling until the deadline, and every row still ends throttled."""
    gateway = SimulatedGateway(VirtualTime(), schedule=((0, 0),), latency_s=0.02)
    statuses = run_fleet(gateway, 2000, ceiling=None, deadline=20)
    assert set(statuses) == {Status.THROTTLED}
    assert len(gateway.accepted) == 0
    # Uncut, 32 workers would send the whole fleet in a second and again after each wait;
    # the cut keeps it to the first burst and a trickle until the deadline.
    assert len(gateway.refused) < 400


# --- the controller alone ---------------------------------------------------------------------


def test_a_lone_429_before_any_limit_is_a_suspect_and_a_later_admission_clears_it() -> None:
    controller = RateController(100)
    tickets = [controller.sent_now(t / 100) for t in range(30)]
    for ticket in tickets[:20]:
        controller.accepted(ticket, ticket.sent_at + 0.001)
    assert controller.throttled(tickets[20], 0.21) is False  # a suspect, not yet a cut
    for ticket in tickets[21:]:
        controller.accepted(ticket, ticket.sent_at + 0.001)
    assert controller.rate == 100
    assert controller.rate_cuts == 0
    assert controller.unexplained_429 == 1


def test_two_429s_at_the_top_cut_to_nine_tenths_of_what_the_gateway_admitted() -> None:
    controller = RateController(300)
    tickets = [controller.sent_now(t / 300) for t in range(62)]
    for ticket in tickets[:60]:
        controller.accepted(ticket, ticket.sent_at + 0.001)
    assert controller.throttled(tickets[60], 0.21) is False
    assert controller.throttled(tickets[61], 0.21) is True
    assert controller.limit_found == 60
    assert controller.rate == pytest.approx(54)
    # Answers to requests sent before the cut belong to it: no second cut for them.
    late = controller.sent_now(0.2)
    assert controller.throttled(Ticket(late.sent_at - 0.05, late.number), 0.25) is False
    assert controller.rate_cuts == 1


def test_the_rate_follows_its_curve_back_to_the_limit_then_holds_then_probes() -> None:
    controller = RateController(300)
    tickets = [controller.sent_now(t / 300) for t in range(62)]
    for ticket in tickets[:60]:
        controller.accepted(ticket, ticket.sent_at + 0.001)
    controller.throttled(tickets[60], 0.21)
    controller.throttled(tickets[61], 0.21)
    rates = []
    t = 0.21
    while t < 8:
        t += 1 / 62  # about what the rate allows: it grows only past what is really sent
        controller.accepted(controller.sent_now(t), t + 0.001)
        rates.append((t, controller.rate))
    assert all(rate is not None and 54 <= rate <= 300 for _, rate in rates)
    back = next(t for t, rate in rates if rate is not None and rate >= 59.9)
    assert back < 0.21 + 3  # on the limit again within a few seconds
    # ... where it stays a while before probing past it, and then it does probe.
    assert any(rate == pytest.approx(60) for _, rate in rates)
    assert rates[-1][1] is not None and rates[-1][1] > 60


def test_without_a_ceiling_nothing_is_paced_until_the_gateway_throttles() -> None:
    controller = RateController(None)
    assert controller.rate is None
    assert controller.room_at(5.0) == 5.0
    assert controller.stalled_for(5.0) == 0.0
    ticket = controller.sent_now(5.0)
    assert controller.stalled_for(65.0) == 60.0
    controller.accepted(ticket, 5.01)
    assert controller.stalled_for(6.01) == pytest.approx(1.0)


def test_a_few_functions_answering_429_at_the_end_teach_no_limit() -> None:
    """No server limit, no ceiling: the last functions of a run keep answering 429 (their
    own answer, not the gateway's), with little else sent. That is not a limit that fell."""
    gateway = SimulatedGateway(VirtualTime(), latency_s=0.02, faulty_share=0.3, fault_times=3)
    statuses = run_fleet(gateway, 60, ceiling=None, concurrency=8)
    assert set(statuses) == {Status.CONFIGURED}
    # Each faulty function waits its three 2-5 s waits, no more: nothing paced them further.
    assert gateway.duration <= 3 * 5 + 2
