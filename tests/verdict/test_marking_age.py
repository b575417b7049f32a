"""Finding age in marking (auditor/verdict/marking.py): with the history store's standings
each row is marked with `first_seen`, `failing_since` and `days_failing`; `--fail-on-age DAYS`
lets only findings open that long fail the run (a check that got no verdict still fails when
`--fail-on` names it); `Summary.aged` counts the findings open longer than 14 days that no
exemption covers."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta

import pytest

from auditor.config import DEFAULT_FAIL_ON
from auditor.model import Row, Status
from auditor.verdict.age import Age, Standing, Standings
from auditor.verdict.exemptions import Exemption, Exemptions
from auditor.verdict.marking import Criteria, Marker, unmarked, with_age
from tests.factories import NOW, make_row

C, M, NF, E = Status.CONFIGURED, Status.MISSING_KEYS, Status.FUNCTION_NOT_FOUND, Status.ERROR
CHECKED = "2024-05-06T07:08:09Z"  # every make_row's checked_at (NOW)
STARTED = "2024-05-06T07:00:00Z"


def days_ago(days: float) -> str:
    return (NOW - timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")


def failing_for(days: float, status: Status = M) -> Standing:
    """The standing of a function whose finding opened `days` ago (seen 100 days ago)."""
    return Standing(days_ago(100), status, days_ago(days), status)


def standings_of(known: dict[int, Standing], size: int) -> Standings:
    standings = Standings(size)
    for index, standing in known.items():
        standings.set(index, standing)
    return standings


def mark_all(
    rows: list[Row],
    known: dict[int, Standing],
    *,
    fail_on: Iterable[Status] = DEFAULT_FAIL_ON,
    fail_on_age: int | None = None,
    exemptions: Exemptions | None = None,
) -> tuple[list[Row], Marker]:
    marker = Marker(
        Criteria(
            standings=standings_of(known, len(rows)),
            fail_on_age=fail_on_age,
            exemptions=exemptions,
            today=date(2024, 5, 6),
        ),
        fail_on,
        started_at=STARTED,
    )
    return [marker.add(index, row) for index, row in enumerate(rows)], marker


# --- marking -------------------------------------------------------------------------------------


def test_rows_are_marked_with_their_age_from_the_standings() -> None:
    rows = [
        make_row(0, M),  # never seen: a new finding
        make_row(1, C),  # never seen, configured
        make_row(2, M),  # failing for 20 days
        make_row(3, C),  # was failing: fixed now
        make_row(4, E),  # failing for 5 days, errors now
        make_row(5, Status.INVALID_URN, checked_at=""),  # never sent: aged at the run's start
    ]
    known = {2: failing_for(20), 3: failing_for(3), 4: failing_for(5)}
    marked, marker = mark_all(rows, known)
    ages = [(r.first_seen, r.failing_since, r.days_failing) for r in marked]
    assert ages == [
        (CHECKED, CHECKED, 0),
        (CHECKED, "", None),
        (days_ago(100), days_ago(20), 20),
        (days_ago(100), "", None),
        (days_ago(100), days_ago(5), 5),
        (STARTED, STARTED, 0),
    ]
    # Only the age columns are touched.
    assert [unmarked(r) for r in marked] == [unmarked(r) for r in rows]
    assert marker.marks is True
    assert marker.finish().summary.total == len(rows)


def test_mark_ages_a_row_without_counting_it() -> None:
    marker = Marker(Criteria(standings=standings_of({0: failing_for(30)}, 1)))
    marked = marker.mark(0, make_row(0, M))
    assert (marked.failing_since, marked.days_failing) == (days_ago(30), 30)
    summary = marker.finish().summary
    assert summary.total == 0 and summary.aged == 0


def test_without_standings_rows_get_no_age_and_there_is_no_aged_count() -> None:
    marker = Marker(Criteria())
    row = marker.add(0, make_row(0, M))
    assert (row.first_seen, row.failing_since, row.days_failing) == ("", "", None)
    assert marker.marks is False
    summary = marker.finish().summary
    assert summary.aged is None
    assert "open_over_14_days" not in summary.as_dict()


def test_with_age_and_unmarked_are_inverse_on_the_age_columns() -> None:
    row = make_row(0, M, change="new", exempt=True, exempt_reason="r")
    aged = with_age(row, Age("a", "b", 3))
    assert (aged.first_seen, aged.failing_since, aged.days_failing) == ("a", "b", 3)
    assert (aged.change, aged.exempt, aged.exempt_reason) == ("new", True, "r")
    assert unmarked(aged) == make_row(0, M)


# --- --fail-on-age -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("opened_days_ago", "fails"),
    [(0, False), (6, False), (6.99, False), (7, True), (8, True), (400, True)],
)
def test_fail_on_age_fails_only_findings_open_at_least_that_long(
    opened_days_ago: float, fails: bool
) -> None:
    _, marker = mark_all([make_row(0, M)], {0: failing_for(opened_days_ago)}, fail_on_age=7)
    assert marker.finish().failing == int(fails)


def test_fail_on_age_and_a_finding_seen_for_the_first_time() -> None:
    # Zero days old: fails with --fail-on-age 0, not with --fail-on-age 1.
    _, at_zero = mark_all([make_row(0, M)], {}, fail_on_age=0)
    _, at_one = mark_all([make_row(0, M)], {}, fail_on_age=1)
    assert at_zero.finish().failing == 1
    assert at_one.finish().failing == 0


def test_without_fail_on_age_every_named_finding_fails_however_young() -> None:
    rows = [make_row(0, M), make_row(1, NF), make_row(2, C)]
    _, marker = mark_all(rows, {})
    assert marker.finish().failing == 2


def test_an_error_that_fail_on_names_still_fails_under_fail_on_age() -> None:
    rows = [
        make_row(0, E),  # never judged: no age at all
        make_row(1, E),  # errors in the middle of a 2-day finding
        make_row(2, Status.AUTH_FAILED),
        make_row(3, M),  # a young finding: does not fail
        make_row(4, M),  # an old one: fails
    ]
    known = {1: failing_for(2), 4: failing_for(30)}
    _, marker = mark_all(rows, known, fail_on_age=14)
    assert marker.finish().failing == 4


def test_fail_on_age_only_gates_what_fail_on_names() -> None:
    rows = [make_row(0, E), make_row(1, M), make_row(2, NF)]
    known = {1: failing_for(30), 2: failing_for(30, NF)}
    _, marker = mark_all(rows, known, fail_on={E, NF}, fail_on_age=7)
    assert marker.finish().failing == 2  # the error and the old not-found; not missing_keys


def test_an_exempt_old_finding_does_not_fail_under_fail_on_age() -> None:
    rows = [make_row(0, M), make_row(1, M)]
    known = {0: failing_for(30), 1: failing_for(30)}
    exempt = Exemptions("exempt.toml", (Exemption(rows[0].urn, "accepted", "", None, 1),))
    marked, marker = mark_all(rows, known, fail_on_age=7, exemptions=exempt)
    assert [r.exempt for r in marked] == [True, False]
    assert marker.finish().failing == 1


# --- Summary.aged: open longer than 14 days ----------------------------------------------------


def test_aged_counts_findings_open_longer_than_14_days_only() -> None:
    rows = [
        make_row(0, M),  # 14 days: not longer than 14
        make_row(1, M),  # 14 days 23 h: still 14 whole days
        make_row(2, M),  # 15 days: aged
        make_row(3, NF),  # 40 days: aged
        make_row(4, C),  # was failing 40 days, fixed now: not a finding
        make_row(5, E),  # open 40 days, errors now: no verdict, not counted
        make_row(6, M),  # never seen: 0 days
    ]
    known = {
        0: failing_for(14),
        1: failing_for(14 + 23 / 24),
        2: failing_for(15),
        3: failing_for(40, NF),
        4: failing_for(40),
        5: failing_for(40),
    }
    marked, marker = mark_all(rows, known)
    assert [r.days_failing for r in marked] == [14, 14, 15, 40, None, 40, 0]
    summary = marker.finish().summary
    assert summary.aged == 2
    assert summary.as_dict()["open_over_14_days"] == 2


def test_exempt_findings_do_not_count_as_aged() -> None:
    rows = [make_row(0, M), make_row(1, M), make_row(2, M)]
    known = {0: failing_for(20), 1: failing_for(20), 2: failing_for(20)}
    exempt = Exemptions(
        "exempt.toml",
        (
            Exemption(rows[0].urn, "accepted", "", None, 1),
            Exemption(rows[1].urn, "lapsed", "", date(2024, 1, 1), 2),  # expired: no cover
        ),
    )
    marked, marker = mark_all(rows, known, exemptions=exempt)
    assert [r.exempt for r in marked] == [True, False, False]
    assert marker.finish().summary.aged == 2


def test_aged_is_zero_not_none_when_the_store_is_used_and_nothing_is_old() -> None:
    _, marker = mark_all([make_row(0, C), make_row(1, M)], {1: failing_for(3)})
    assert marker.finish().summary.aged == 0


def test_age_is_counted_to_each_rows_own_check() -> None:
    # Two rows of the same run checked a minute apart around the 15-day mark.
    opened = datetime(2024, 4, 21, 7, 8, 9, tzinfo=UTC)  # NOW - 15 days
    before = make_row(0, M, checked_at="2024-05-06T07:08:08Z")  # 14 d 23:59:59 after
    after = make_row(1, M, checked_at="2024-05-06T07:08:09Z")  # 15 d after
    since = opened.strftime("%Y-%m-%dT%H:%M:%SZ")
    known = {i: Standing(since, M, since, M) for i in (0, 1)}
    marked, marker = mark_all([before, after], known)
    assert [r.days_failing for r in marked] == [14, 15]
    assert marker.finish().summary.aged == 1
