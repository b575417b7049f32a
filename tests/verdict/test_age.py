"""Finding age (auditor/verdict/age.py), exhaustively: `first_seen` is set once, a finding
opens on the first failing verdict, runs on across different failing verdicts, closes on
`configured` and re-opens with a new date; `auth_failed`, `throttled` and `error` never move
the clock; `days_between` counts whole days of 24 hours; `Standings` keeps each target's
standing compactly, to the second."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

import pytest

from auditor.model import Status
from auditor.verdict.age import (
    NOT_VERDICTS,
    VERDICTS,
    Age,
    Standing,
    Standings,
    age_of,
    days_between,
    is_finding,
    standing_after,
)
from tests.factories import make_row

C, UK, M, NF = (
    Status.CONFIGURED,
    Status.UNEXPECTED_KEYS,
    Status.MISSING_KEYS,
    Status.FUNCTION_NOT_FOUND,
)
AUTH, THR, ERR, INV = Status.AUTH_FAILED, Status.THROTTLED, Status.ERROR, Status.INVALID_URN
FINDINGS = (UK, M, NF, INV)
START = datetime(2024, 1, 30, 9, 0, 0, tzinfo=UTC)


def at(days: float) -> str:
    """The report time `days` after START."""
    return (START + timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")


def check(before: Standing | None, status: Status, when: str) -> tuple[Age, Standing]:
    """One audit's row for the function: its age, and the standing the store keeps after."""
    row = make_row(0, status, checked_at=when)
    age = age_of(before, row, when)
    return age, standing_after(before, row, age)


def history(checks: Iterable[tuple[float, Status]]) -> list[tuple[Age, Standing]]:
    """Run one function through a sequence of audits (day, status); each check's result."""
    standing: Standing | None = None
    results = []
    for day, status in checks:
        age, standing = check(standing, status, at(day))
        results.append((age, standing))
    return results


# --- the vocabulary ------------------------------------------------------------------------------


def test_verdicts_and_not_verdicts_split_every_status() -> None:
    assert frozenset({AUTH, THR, ERR}) == NOT_VERDICTS
    assert frozenset(Status) == VERDICTS | NOT_VERDICTS
    assert not VERDICTS & NOT_VERDICTS
    assert {C, UK, M, NF, INV} == VERDICTS


@pytest.mark.parametrize("status", list(Status))
def test_a_finding_is_a_verdict_other_than_configured(status: Status) -> None:
    assert is_finding(status) is (status in FINDINGS)


# --- first_seen ----------------------------------------------------------------------------------


@pytest.mark.parametrize("status", list(Status))
def test_first_seen_is_the_first_check_whatever_its_status(status: Status) -> None:
    age, standing = check(None, status, at(0))
    assert age.first_seen == at(0)
    assert standing.first_seen == at(0)
    assert standing.status is status


def test_first_seen_is_kept_through_every_later_status() -> None:
    checks = [(0, C), (1, M), (2, ERR), (3, C), (4, NF), (5, AUTH), (6, THR), (7, UK), (8, INV)]
    for age, standing in history(checks):
        assert age.first_seen == at(0)
        assert standing.first_seen == at(0)


# --- failing_since -------------------------------------------------------------------------------


@pytest.mark.parametrize("status", FINDINGS)
def test_a_finding_opens_on_its_first_failing_verdict(status: Status) -> None:
    age, standing = check(None, status, at(0))
    assert age == Age(at(0), at(0), 0)
    assert standing == Standing(at(0), status, at(0), status)


@pytest.mark.parametrize("status", FINDINGS)
def test_a_finding_opens_when_a_configured_function_starts_failing(status: Status) -> None:
    (first, _), (second, standing) = history([(0, C), (3, status)])
    assert first == Age(at(0), "", None)
    assert second == Age(at(0), at(3), 0)
    assert standing == Standing(at(0), status, at(3), status)


def test_a_finding_runs_on_across_different_failing_verdicts() -> None:
    checks = [(0, C), (1, M), (3, NF), (10, UK), (12, M)]
    results = history(checks)
    ages = [age for age, _ in results]
    assert [a.failing_since for a in ages] == ["", at(1), at(1), at(1), at(1)]
    assert [a.days_failing for a in ages] == [None, 0, 2, 9, 11]
    standings = [standing for _, standing in results]
    assert [s.verdict for s in standings] == [C, M, NF, UK, M]  # the verdict moves on
    assert {s.failing_since for s in standings[1:]} == {at(1)}  # the date does not


def test_configured_closes_a_finding_and_a_later_finding_reopens_with_its_own_date() -> None:
    results = history([(0, M), (5, M), (6, C), (7, C), (20, NF), (22, M)])
    ages = [age for age, _ in results]
    assert [a.failing_since for a in ages] == [at(0), at(0), "", "", at(20), at(20)]
    assert [a.days_failing for a in ages] == [0, 5, None, None, 0, 2]
    closed = results[2][1]
    assert closed == Standing(at(0), C, "", C)


# --- auth_failed, throttled, error: no verdict, no move ------------------------------------------


@pytest.mark.parametrize("status", sorted(NOT_VERDICTS))
def test_no_verdict_neither_closes_nor_redates_an_open_finding(status: Status) -> None:
    (_, opened), (age, standing) = history([(0, M), (4, status)])
    assert age == Age(at(0), at(0), 4)  # still failing since day 0, and four days old now
    assert standing == Standing(at(0), M, at(0), status)  # the verdict stays missing_keys
    # ...and the next verdict carries on from the same date.
    later, _ = check(standing, NF, at(9))
    assert later == Age(at(0), at(0), 9)
    fixed, after = check(standing, C, at(9))
    assert fixed == Age(at(0), "", None)
    assert after.failing_since == ""
    assert opened.failing_since == at(0)


@pytest.mark.parametrize("status", sorted(NOT_VERDICTS))
def test_no_verdict_does_not_open_a_finding_on_a_configured_function(status: Status) -> None:
    (_, configured), (age, standing) = history([(0, C), (2, status)])
    assert age == Age(at(0), "", None)
    assert standing == Standing(at(0), C, "", status)
    # Should it fail later with a verdict, the finding opens then, not at the error.
    later, _ = check(standing, M, at(5))
    assert later == Age(at(0), at(5), 0)
    assert configured.verdict is C


@pytest.mark.parametrize("status", sorted(NOT_VERDICTS))
def test_no_verdict_for_a_function_never_seen_opens_nothing(status: Status) -> None:
    age, standing = check(None, status, at(0))
    assert age == Age(at(0), "", None)
    assert standing == Standing(at(0), None, "", status)  # seen, but never judged
    # Errors again: still no verdict, no finding, first seen unchanged.
    again, still = check(standing, ERR, at(3))
    assert again == Age(at(0), "", None)
    assert still == Standing(at(0), None, "", ERR)
    # The first verdict opens the finding at its own date.
    judged, last = check(still, M, at(4))
    assert judged == Age(at(0), at(4), 0)
    assert last == Standing(at(0), M, at(4), M)


def test_a_long_finding_with_errors_in_the_middle_keeps_its_start() -> None:
    checks = [(0, M), (7, ERR), (8, THR), (9, AUTH), (14, ERR), (30, M)]
    ages = [age for age, _ in history(checks)]
    assert {a.failing_since for a in ages} == {at(0)}
    assert [a.days_failing for a in ages] == [0, 7, 8, 9, 14, 30]


def test_a_row_never_sent_is_aged_at_the_time_given() -> None:
    # `invalid_urn` rows have no checked_at: the caller passes the run's start as `when`.
    row = make_row(0, INV, checked_at="")
    age = age_of(None, row, at(2))
    assert age == Age(at(2), at(2), 0)
    later = age_of(standing_after(None, row, age), row, at(5))
    assert later == Age(at(2), at(2), 3)


# --- days_between --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("since", "until", "days"),
    [
        ("2024-05-06T07:08:09Z", "2024-05-06T07:08:09Z", 0),
        ("2024-05-06T07:08:09Z", "2024-05-07T07:08:08Z", 0),  # 23 h 59 min 59 s
        ("2024-05-06T07:08:09Z", "2024-05-07T07:07:09Z", 0),  # 23 h 59 min
        ("2024-05-06T07:08:09Z", "2024-05-07T07:08:09Z", 1),  # 24 h
        ("2024-05-06T23:59:59Z", "2024-05-07T00:00:01Z", 0),  # a new date is not a new day
        ("2024-05-06T07:08:09Z", "2024-05-08T07:08:08Z", 1),  # 47 h 59 min 59 s
        ("2024-01-31T12:00:00Z", "2024-03-01T12:00:00Z", 30),  # across February of a leap year
        ("2023-01-31T12:00:00Z", "2023-03-01T12:00:00Z", 29),
        ("2024-12-31T00:00:00Z", "2025-01-01T00:00:00Z", 1),  # across a year
        ("2024-01-01T00:00:00Z", "2025-01-01T00:00:00Z", 366),
        ("2024-05-07T07:08:09Z", "2024-05-06T07:08:09Z", 0),  # a clock that went back: never < 0
        ("2024-05-06T07:08:09+02:00", "2024-05-07T05:08:09Z", 1),  # offsets are honoured
    ],
)
def test_days_between_counts_whole_days_of_24_hours(since: str, until: str, days: int) -> None:
    assert days_between(since, until) == days


def test_days_between_is_none_without_a_start() -> None:
    assert days_between("", "2024-05-06T07:08:09Z") is None
    assert days_between("2024-05-06T07:08:09Z", "") is None


# --- Standings -----------------------------------------------------------------------------------


def test_standings_round_trip_every_status_and_verdict() -> None:
    cases = [
        Standing(at(0), C, "", C),
        Standing(at(1), M, at(1), M),
        Standing(at(2), M, at(1), ERR),
        Standing(at(3), None, "", AUTH),
        Standing(at(4), UK, at(3), THR),
        Standing(at(5), NF, at(5), NF),
        Standing(at(6), INV, at(6), INV),
        Standing(at(7), UK, at(7), UK),
    ]
    standings = Standings(len(cases) + 3)
    for index, standing in enumerate(cases):
        standings.set(index, standing)
    assert len(standings) == len(cases) + 3
    assert standings.known() == len(cases)
    assert [standings.get(i) for i in range(len(cases))] == cases
    assert [standings.get(i) for i in range(len(cases), len(cases) + 3)] == [None] * 3


def test_standings_of_nobody_and_of_an_unknown_target() -> None:
    empty = Standings(0)
    assert len(empty) == 0 and empty.known() == 0
    standings = Standings(4)
    assert standings.known() == 0
    assert standings.get(2) is None
    standings.set(2, Standing(at(0), None, "", ERR))
    assert standings.known() == 1
    assert standings.get(1) is None and standings.get(3) is None


def test_a_standing_set_twice_keeps_the_later() -> None:
    standings = Standings(1)
    standings.set(0, Standing(at(0), M, at(0), M))
    standings.set(0, Standing(at(0), C, "", C))
    assert standings.get(0) == Standing(at(0), C, "", C)
    assert standings.known() == 1


def test_standings_keep_times_to_the_second_in_utc() -> None:
    standings = Standings(2)
    standings.set(0, Standing("2024-05-06T07:08:09.987654Z", M, "2024-05-06T09:08:09+02:00", M))
    standings.set(1, Standing("2024-05-06T07:08:09", C, "", C))  # no zone: UTC
    assert standings.get(0) == Standing("2024-05-06T07:08:09Z", M, "2024-05-06T07:08:09Z", M)
    assert standings.get(1) == Standing("2024-05-06T07:08:09Z", C, "", C)


def test_standings_give_back_what_age_of_needs_to_carry_a_finding_on() -> None:
    _, standing = check(None, M, at(0))
    standings = Standings(1)
    standings.set(0, standing)
    age, _ = check(standings.get(0), ERR, at(15))
    assert age == Age(at(0), at(0), 15)
