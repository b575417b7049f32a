"""Marking a run's rows (auditor/verdict/marking.py): `Marker.add` marks each row with its
`change` and `exempt` and counts it once, in whatever order rows arrive; `finish` gives the
summary, the comparison, the exemption report and the findings that fail the run."""

from __future__ import annotations

import random
from collections.abc import Iterable
from datetime import date, timedelta

import pytest

from auditor.config import DEFAULT_FAIL_ON
from auditor.model import Change, Row, Status
from auditor.report.tables import summarize
from auditor.verdict.baseline import Baseline, compare
from auditor.verdict.exemptions import Exemption, Exemptions
from auditor.verdict.marking import Criteria, Marker, RunVerdict, mark_rows
from tests.factories import PROJECT, make_row

C, M, NF, E = Status.CONFIGURED, Status.MISSING_KEYS, Status.FUNCTION_NOT_FOUND, Status.ERROR
TODAY = date(2025, 6, 15)
NOTHING: frozenset[Status] = frozenset()
NO_CHANGES: frozenset[Change] = frozenset()


def urn(n: int) -> str:
    return make_row(n).urn


def baseline(statuses: dict[int, Status], gone: dict[str, Status] | None = None) -> Baseline:
    by_urn = {urn(n): status for n, status in statuses.items()} | (gone or {})
    return Baseline(
        source="old.json",
        started_at="2025-06-08T00:00:00Z",
        statuses=by_urn,
        places={u: ("cn-north-4", PROJECT) for u in by_urn},
    )


def exemptions(*entries: tuple[str, date | None]) -> Exemptions:
    return Exemptions(
        "exempt.toml",
        tuple(
            Exemption(pattern, f"reason {n}", "", expires, n)
            for n, (pattern, expires) in enumerate(entries, start=1)
        ),
    )


# Then -> now: 0 regressed, 1 fixed, 2 unchanged finding, 3 unchanged configured, 4 new finding,
# 5 gone (deleted now); and one URN of the baseline this run did not audit.
THEN = {0: C, 1: M, 2: M, 3: C, 5: C}
NOW = [
    make_row(0, M),
    make_row(1, C),
    make_row(2, M),
    make_row(3, C),
    make_row(4, E),
    make_row(5, NF),
]
UNAUDITED = "urn:fss:cn-north-4:" + PROJECT + ":function:default:retired"
BASELINE = baseline(THEN, {UNAUDITED: M})


def by_urn(rows: list[Row]) -> dict[str, Row]:
    return {row.urn: row for row in rows}


def failing(
    criteria: Criteria,
    fail_on: Iterable[Status],
    fail_on_changes: Iterable[Change],
    rows: list[Row] = NOW,
) -> int:
    return mark_rows(rows, criteria, fail_on, fail_on_changes)[1].failing


# --- marking rows -----------------------------------------------------------------------------


def test_no_criteria_leave_the_rows_alone() -> None:
    rows, verdict = mark_rows(NOW, Criteria())
    assert rows == NOW
    assert rows is not NOW  # a new list: the caller's is not changed
    assert (verdict.comparison, verdict.exemptions) == (None, None)
    assert {row.change for row in rows} == {""}
    assert not any(row.exempt for row in rows)


def test_a_baseline_fills_every_rows_change() -> None:
    rows, verdict = mark_rows(NOW, Criteria(BASELINE))
    assert [row.change for row in rows] == [
        "regressed",
        "fixed",
        "unchanged",
        "unchanged",
        "new",
        "gone",
    ]
    assert verdict.exemptions is None
    comparison = verdict.comparison
    assert comparison is not None
    assert comparison.counts == {"new": 1, "fixed": 1, "regressed": 1, "unchanged": 2, "gone": 2}
    assert [row.status for row in rows] == [row.status for row in NOW]  # statuses are kept
    assert all(row.change == "" for row in NOW)  # the input rows are left alone


def test_exemptions_mark_findings_and_keep_their_status() -> None:
    criteria = Criteria(exemptions=exemptions((urn(0), None), (urn(3), None)), today=TODAY)
    rows, verdict = mark_rows(NOW, criteria)
    assert verdict.comparison is None
    exempted = verdict.exemptions
    assert exempted is not None
    marked = by_urn(rows)
    assert marked[urn(0)].exempt and marked[urn(0)].exempt_reason == "reason 1"
    assert marked[urn(0)].status is M
    assert not marked[urn(3)].exempt  # configured: not a finding, nothing to exempt
    assert exempted.exempt_rows == 1
    assert [entry.number for entry in exempted.unused] == [2]


def test_baseline_and_exemptions_together() -> None:
    criteria = Criteria(BASELINE, exemptions((urn(0), None)), TODAY)
    rows, verdict = mark_rows(NOW, criteria)
    row = by_urn(rows)[urn(0)]
    assert (row.change, row.exempt, row.status) == ("regressed", True, M)
    assert verdict.comparison is not None
    assert verdict.comparison.counts["regressed"] == 1  # still counted
    assert verdict.exemptions is not None and verdict.exemptions.exempt_rows == 1


@pytest.mark.parametrize(
    ("today", "applies"),
    [(TODAY - timedelta(days=1), True), (TODAY, True), (TODAY + timedelta(days=1), False)],
)
def test_an_exemption_holds_through_its_last_day(today: date, applies: bool) -> None:
    criteria = Criteria(exemptions=exemptions((urn(0), TODAY)), today=today)
    rows, verdict = mark_rows(NOW, criteria)
    assert by_urn(rows)[urn(0)].exempt is applies
    assert verdict.exemptions is not None
    expired = [(e.number, n) for e, n in verdict.exemptions.expired]
    assert expired == ([] if applies else [(1, 1)])


def test_without_a_day_exemptions_are_judged_today() -> None:
    long_ago = date(2000, 1, 1)
    far_ahead = date(2999, 1, 1)
    criteria = Criteria(exemptions=exemptions((urn(0), long_ago), (urn(2), far_ahead)))
    rows, verdict = mark_rows(NOW, criteria)
    marked = by_urn(rows)
    assert not marked[urn(0)].exempt
    assert marked[urn(2)].exempt
    assert verdict.exemptions is not None
    assert [e.number for e, _ in verdict.exemptions.expired] == [1]


def test_marking_agrees_with_compare() -> None:
    rows, verdict = mark_rows(NOW, Criteria(BASELINE))
    direct_rows, direct = compare(BASELINE, NOW)
    assert rows == direct_rows
    assert verdict.comparison == direct


# --- failing findings -------------------------------------------------------------------------


def test_statuses_alone_count_every_finding() -> None:
    criteria = Criteria(BASELINE)
    assert failing(criteria, DEFAULT_FAIL_ON, NO_CHANGES) == 4  # M, M, E, NF
    assert failing(criteria, {E}, NO_CHANGES) == 1
    assert failing(criteria, NOTHING, NO_CHANGES) == 0


def test_fail_on_regressed_counts_only_regressions() -> None:
    criteria = Criteria(BASELINE)
    assert failing(criteria, NOTHING, {Change.REGRESSED}) == 1
    assert failing(criteria, NOTHING, {Change.NEW}) == 1


def test_statuses_and_changes_combine_and_a_row_counts_once() -> None:
    criteria = Criteria(BASELINE)
    # Row 0 is missing_keys and regressed: one failing row, not two.
    assert failing(criteria, {M}, {Change.REGRESSED}) == 2
    # missing_keys (rows 0, 2) or new (row 4).
    assert failing(criteria, {M}, {Change.NEW}) == 3


def test_fail_on_gone_counts_the_deleted_rows_and_the_baseline_urns_not_audited() -> None:
    criteria = Criteria(BASELINE)
    # Row 5 (configured then, function_not_found now) and the URN this run never audited.
    assert failing(criteria, NOTHING, {Change.GONE}) == 2
    # Without --fail-on gone, a URN that was not audited fails nothing.
    assert failing(criteria, NOTHING, {Change.REGRESSED}) == 1


def test_fail_on_gone_with_a_deleted_row_also_named_by_status_counts_it_once() -> None:
    assert failing(Criteria(BASELINE), {NF}, {Change.GONE}) == 2


def test_exempt_rows_never_fail() -> None:
    criteria = Criteria(BASELINE, exemptions(("urn:fss:*", None)), TODAY)
    rows, _ = mark_rows(NOW, criteria)
    findings = [row for row in rows if row.status is not C]
    assert findings and all(row.exempt for row in findings)
    every_change = {Change.REGRESSED, Change.NEW, Change.GONE}
    # Only the URN that was not audited is left: it has no row an exemption could mark.
    assert failing(criteria, DEFAULT_FAIL_ON, every_change) == 1
    assert failing(criteria, DEFAULT_FAIL_ON, {Change.REGRESSED}) == 0


def test_an_exempt_row_never_fails_even_if_marked_by_hand() -> None:
    rows = [make_row(0, M, exempt=True, exempt_reason="x", change="regressed")]
    assert failing(Criteria(), DEFAULT_FAIL_ON, {Change.REGRESSED}, rows) == 0
    # The same row, not exempt, fails by its status and by its change, once.
    rows = [make_row(0, M, change="regressed")]
    assert failing(Criteria(), DEFAULT_FAIL_ON, {Change.REGRESSED}, rows) == 1


def test_changes_without_a_comparison_fail_nothing() -> None:
    assert failing(Criteria(), NOTHING, set(Change)) == 0
    assert failing(Criteria(), {M}, set(Change)) == 2  # rows 0 and 2


def test_nothing_fails_by_default() -> None:
    _, verdict = mark_rows(NOW, Criteria(BASELINE))
    assert verdict.failing == 0


# --- the summary ------------------------------------------------------------------------------


def test_a_summary_without_criteria_has_no_changes_or_exempt() -> None:
    summary = mark_rows(NOW, Criteria())[1].summary
    assert (summary.changes, summary.exempt) == (None, None)
    assert summary.total == len(NOW)
    assert summary == summarize(NOW)
    assert "changes" not in summary.as_dict()
    assert "exempt" not in summary.as_dict()


def test_a_marked_summary_carries_change_counts_and_the_exempt_count() -> None:
    criteria = Criteria(BASELINE, exemptions((urn(0), None), (urn(4), None)), TODAY)
    _, verdict = mark_rows(NOW, criteria)
    summary, comparison = verdict.summary, verdict.comparison
    assert comparison is not None
    assert summary.changes == comparison.counts
    assert summary.changes is not comparison.counts  # a copy: the summary is its own
    assert summary.exempt == 2
    assert summary.by_status == {
        "configured": 2,
        "missing_keys": 2,
        "function_not_found": 1,
        "error": 1,
    }
    assert summary.as_dict()["changes"]["gone"] == 2


def test_exempt_is_zero_not_none_when_exemptions_matched_nothing() -> None:
    criteria = Criteria(exemptions=exemptions(("urn:none", None)), today=TODAY)
    summary = mark_rows(NOW, criteria)[1].summary
    assert summary.exempt == 0
    assert summary.as_dict()["exempt"] == 0


def test_nothing_added_is_an_empty_verdict() -> None:
    verdict = Marker(Criteria(BASELINE), DEFAULT_FAIL_ON, {Change.GONE}).finish()
    assert verdict.summary.total == 0
    assert verdict.comparison is not None
    # Every baseline URN is gone, and each fails the run under --fail-on gone.
    assert verdict.comparison.counts["gone"] == len(BASELINE.statuses)
    assert verdict.failing == len(BASELINE.statuses)


# --- rows in any order ------------------------------------------------------------------------

ALL_CRITERIA = Criteria(
    BASELINE, exemptions((urn(0), None), (urn(4), None), ("nothing", None)), TODAY
)
FAIL_ON = frozenset({M, E})
FAIL_ON_CHANGES = frozenset({Change.REGRESSED, Change.GONE})
# More rows than NOW, so that a shuffle moves the changed ones a lot.
MANY = [
    make_row(n, [C, M, E, NF][n % 4], error_msg="función 函数" if n % 7 == 0 else "")
    for n in range(40)
]
MANY_BASELINE = baseline({n: [C, M][n % 3 % 2] for n in range(0, 50, 2)})


def shuffled_marks(
    rows: list[Row], criteria: Criteria, seed: int
) -> tuple[dict[int, Row], RunVerdict]:
    order = list(enumerate(rows))
    random.Random(seed).shuffle(order)
    marker = Marker(criteria, FAIL_ON, FAIL_ON_CHANGES)
    marked = {index: marker.add(index, row) for index, row in order}
    return marked, marker.finish()


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize(
    ("rows", "criteria"),
    [
        (NOW, ALL_CRITERIA),
        (MANY, Criteria(MANY_BASELINE, exemptions(("*fn-1*", None)), TODAY)),
    ],
    ids=["now", "many"],
)
def test_rows_in_any_order_mark_as_in_order(seed: int, rows: list[Row], criteria: Criteria) -> None:
    in_order, expected = mark_rows(rows, criteria, FAIL_ON, FAIL_ON_CHANGES)
    marked, verdict = shuffled_marks(rows, criteria, seed)
    assert [marked[index] for index in range(len(rows))] == in_order
    assert verdict == expected
    assert verdict.summary == expected.summary
    assert verdict.comparison == expected.comparison
    assert verdict.exemptions == expected.exemptions
    assert verdict.failing == expected.failing


def test_comparison_entries_come_in_index_order_whatever_the_arrival_order() -> None:
    marker = Marker(Criteria(BASELINE))
    for index in (5, 4, 0, 3, 1, 2):
        marker.add(index, NOW[index])
    comparison = marker.finish().comparison
    assert comparison is not None
    # This run's changed rows by index (0 regressed, 1 fixed, 4 new, 5 gone), then the URN
    # of the baseline this run did not audit.
    assert [e.urn for e in comparison.entries] == [urn(0), urn(1), urn(4), urn(5), UNAUDITED]
    assert [e.change for e in comparison.entries] == [
        Change.REGRESSED,
        Change.FIXED,
        Change.NEW,
        Change.GONE,
        Change.GONE,
    ]


# --- mark and marks ---------------------------------------------------------------------------


def test_mark_after_add_gives_the_same_row_and_counts_nothing() -> None:
    marker = Marker(ALL_CRITERIA, FAIL_ON, FAIL_ON_CHANGES)
    added = [marker.add(index, row) for index, row in enumerate(NOW)]
    before = marker.finish()
    for _ in range(3):  # as each report would, once per report
        assert [marker.mark(i, row) for i, row in enumerate(NOW)] == added
        # marking twice changes nothing
        assert [marker.mark(i, row) for i, row in enumerate(added)] == added
    assert marker.finish() == before
    _, untouched = mark_rows(NOW, ALL_CRITERIA, FAIL_ON, FAIL_ON_CHANGES)
    assert before == untouched


def test_mark_alone_counts_nothing() -> None:
    marker = Marker(ALL_CRITERIA, FAIL_ON, FAIL_ON_CHANGES)
    marked = [marker.mark(i, row) for i, row in enumerate(NOW)]
    assert by_urn(marked)[urn(0)].exempt
    assert by_urn(marked)[urn(0)].change == "regressed"
    verdict = marker.finish()
    assert verdict.summary.total == 0
    assert verdict.exemptions is not None and verdict.exemptions.exempt_rows == 0
    assert verdict.comparison is not None
    assert verdict.comparison.counts["gone"] == len(BASELINE.statuses)  # none was seen


def test_mark_without_criteria_is_the_row() -> None:
    marker = Marker()
    assert [marker.mark(i, row) for i, row in enumerate(NOW)] == NOW


@pytest.mark.parametrize(
    ("criteria", "marks"),
    [
        (None, False),
        (Criteria(), False),
        (Criteria(today=TODAY), False),
        (Criteria(BASELINE), True),
        (Criteria(exemptions=exemptions(("nothing", None))), True),
        (ALL_CRITERIA, True),
    ],
)
def test_marks_says_whether_rows_get_marks(criteria: Criteria | None, marks: bool) -> None:
    assert Marker(criteria).marks is marks
    assert Marker(criteria, DEFAULT_FAIL_ON, set(Change)).marks is marks  # fail-on is no mark
