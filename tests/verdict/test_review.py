"""Reviewing a run's rows (auditor/review.py): `RunReview.add` marks each row with its
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
from auditor.verdict.review import Review, Reviewed, RunReview, review_rows
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
    review: Review,
    fail_on: Iterable[Status],
    fail_on_changes: Iterable[Change],
    rows: list[Row] = NOW,
) -> int:
    return review_rows(rows, review, fail_on, fail_on_changes)[1].failing


# --- marking rows -----------------------------------------------------------------------------


def test_an_empty_review_leaves_the_rows_alone() -> None:
    rows, reviewed = review_rows(NOW, Review())
    assert rows == NOW
    assert rows is not NOW  # a new list: the caller's is not changed
    assert (reviewed.comparison, reviewed.exemptions) == (None, None)
    assert {row.change for row in rows} == {""}
    assert not any(row.exempt for row in rows)


def test_a_baseline_fills_every_rows_change() -> None:
    rows, reviewed = review_rows(NOW, Review(BASELINE))
    assert [row.change for row in rows] == [
        "regressed",
        "fixed",
        "unchanged",
        "unchanged",
        "new",
        "gone",
    ]
    assert reviewed.exemptions is None
    comparison = reviewed.comparison
    assert comparison is not None
    assert comparison.counts == {"new": 1, "fixed": 1, "regressed": 1, "unchanged": 2, "gone": 2}
    assert [row.status for row in rows] == [row.status for row in NOW]  # statuses are kept
    assert all(row.change == "" for row in NOW)  # the input rows are left alone


def test_exemptions_mark_findings_and_keep_their_status() -> None:
    review = Review(exemptions=exemptions((urn(0), None), (urn(3), None)), today=TODAY)
    rows, reviewed = review_rows(NOW, review)
    assert reviewed.comparison is None
    exempted = reviewed.exemptions
    assert exempted is not None
    marked = by_urn(rows)
    assert marked[urn(0)].exempt and marked[urn(0)].exempt_reason == "reason 1"
    assert marked[urn(0)].status is M
    assert not marked[urn(3)].exempt  # configured: not a finding, nothing to exempt
    assert exempted.exempt_rows == 1
    assert [entry.number for entry in exempted.unused] == [2]


def test_baseline_and_exemptions_together() -> None:
    review = Review(BASELINE, exemptions((urn(0), None)), TODAY)
    rows, reviewed = review_rows(NOW, review)
    row = by_urn(rows)[urn(0)]
    assert (row.change, row.exempt, row.status) == ("regressed", True, M)
    assert reviewed.comparison is not None
    assert reviewed.comparison.counts["regressed"] == 1  # still counted
    assert reviewed.exemptions is not None and reviewed.exemptions.exempt_rows == 1


@pytest.mark.parametrize(
    ("today", "applies"),
    [(TODAY - timedelta(days=1), True), (TODAY, True), (TODAY + timedelta(days=1), False)],
)
def test_an_exemption_holds_through_its_last_day(today: date, applies: bool) -> None:
    review = Review(exemptions=exemptions((urn(0), TODAY)), today=today)
    rows, reviewed = review_rows(NOW, review)
    assert by_urn(rows)[urn(0)].exempt is applies
    assert reviewed.exemptions is not None
    expired = [(e.number, n) for e, n in reviewed.exemptions.expired]
    assert expired == ([] if applies else [(1, 1)])


def test_without_a_day_exemptions_are_judged_today() -> None:
    long_ago = date(2000, 1, 1)
    far_ahead = date(2999, 1, 1)
    review = Review(exemptions=exemptions((urn(0), long_ago), (urn(2), far_ahead)))
    rows, reviewed = review_rows(NOW, review)
    marked = by_urn(rows)
    assert not marked[urn(0)].exempt
    assert marked[urn(2)].exempt
    assert reviewed.exemptions is not None
    assert [e.number for e, _ in reviewed.exemptions.expired] == [1]


def test_review_agrees_with_compare() -> None:
    rows, reviewed = review_rows(NOW, Review(BASELINE))
    direct_rows, direct = compare(BASELINE, NOW)
    assert rows == direct_rows
    assert reviewed.comparison == direct


# --- failing findings -------------------------------------------------------------------------


def test_statuses_alone_count_every_finding() -> None:
    review = Review(BASELINE)
    assert failing(review, DEFAULT_FAIL_ON, NO_CHANGES) == 4  # M, M, E, NF
    assert failing(review, {E}, NO_CHANGES) == 1
    assert failing(review, NOTHING, NO_CHANGES) == 0


def test_fail_on_regressed_counts_only_regressions() -> None:
    review = Review(BASELINE)
    assert failing(review, NOTHING, {Change.REGRESSED}) == 1
    assert failing(review, NOTHING, {Change.NEW}) == 1


def test_statuses_and_changes_combine_and_a_row_counts_once() -> None:
    review = Review(BASELINE)
    # Row 0 is missing_keys and regressed: one failing row, not two.
    assert failing(review, {M}, {Change.REGRESSED}) == 2
    # missing_keys (rows 0, 2) or new (row 4).
    assert failing(review, {M}, {Change.NEW}) == 3


def test_fail_on_gone_counts_the_deleted_rows_and_the_baseline_urns_not_audited() -> None:
    review = Review(BASELINE)
    # Row 5 (configured then, function_not_found now) and the URN this run never audited.
    assert failing(review, NOTHING, {Change.GONE}) == 2
    # Without --fail-on gone, a URN that was not audited fails nothing.
    assert failing(review, NOTHING, {Change.REGRESSED}) == 1


def test_fail_on_gone_with_a_deleted_row_also_named_by_status_counts_it_once() -> None:
    assert failing(Review(BASELINE), {NF}, {Change.GONE}) == 2


def test_exempt_rows_never_fail() -> None:
    review = Review(BASELINE, exemptions(("urn:fss:*", None)), TODAY)
    rows, _ = review_rows(NOW, review)
    findings = [row for row in rows if row.status is not C]
    assert findings and all(row.exempt for row in findings)
    every_change = {Change.REGRESSED, Change.NEW, Change.GONE}
    # Only the URN that was not audited is left: it has no row an exemption could mark.
    assert failing(review, DEFAULT_FAIL_ON, every_change) == 1
    assert failing(review, DEFAULT_FAIL_ON, {Change.REGRESSED}) == 0


def test_an_exempt_row_never_fails_even_if_marked_by_hand() -> None:
    rows = [make_row(0, M, exempt=True, exempt_reason="x", change="regressed")]
    assert failing(Review(), DEFAULT_FAIL_ON, {Change.REGRESSED}, rows) == 0
    # The same row, not exempt, fails by its status and by its change, once.
    rows = [make_row(0, M, change="regressed")]
    assert failing(Review(), DEFAULT_FAIL_ON, {Change.REGRESSED}, rows) == 1


def test_changes_without_a_comparison_fail_nothing() -> None:
    assert failing(Review(), NOTHING, set(Change)) == 0
    assert failing(Review(), {M}, set(Change)) == 2  # rows 0 and 2


def test_nothing_fails_by_default() -> None:
    _, reviewed = review_rows(NOW, Review(BASELINE))
    assert reviewed.failing == 0


# --- the summary ------------------------------------------------------------------------------


def test_a_summary_without_review_has_no_changes_or_exempt() -> None:
    summary = review_rows(NOW, Review())[1].summary
    assert (summary.changes, summary.exempt) == (None, None)
    assert summary.total == len(NOW)
    assert summary == summarize(NOW)
    assert "changes" not in summary.as_dict()
    assert "exempt" not in summary.as_dict()


def test_a_reviewed_summary_carries_change_counts_and_the_exempt_count() -> None:
    review = Review(BASELINE, exemptions((urn(0), None), (urn(4), None)), TODAY)
    _, reviewed = review_rows(NOW, review)
    summary, comparison = reviewed.summary, reviewed.comparison
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
    review = Review(exemptions=exemptions(("urn:none", None)), today=TODAY)
    summary = review_rows(NOW, review)[1].summary
    assert summary.exempt == 0
    assert summary.as_dict()["exempt"] == 0


def test_nothing_added_is_an_empty_review() -> None:
    reviewed = RunReview(Review(BASELINE), DEFAULT_FAIL_ON, {Change.GONE}).finish()
    assert reviewed.summary.total == 0
    assert reviewed.comparison is not None
    # Every baseline URN is gone, and each fails the run under --fail-on gone.
    assert reviewed.comparison.counts["gone"] == len(BASELINE.statuses)
    assert reviewed.failing == len(BASELINE.statuses)


# --- rows in any order ------------------------------------------------------------------------

FULL_REVIEW = Review(BASELINE, exemptions((urn(0), None), (urn(4), None), ("nothing", None)), TODAY)
FAIL_ON = frozenset({M, E})
FAIL_ON_CHANGES = frozenset({Change.REGRESSED, Change.GONE})
# More rows than NOW, so that a shuffle moves the changed ones a lot.
MANY = [
    make_row(n, [C, M, E, NF][n % 4], error_msg="función 函数" if n % 7 == 0 else "")
    for n in range(40)
]
MANY_BASELINE = baseline({n: [C, M][n % 3 % 2] for n in range(0, 50, 2)})


def shuffled_review(rows: list[Row], review: Review, seed: int) -> tuple[dict[int, Row], Reviewed]:
    order = list(enumerate(rows))
    random.Random(seed).shuffle(order)
    reviewing = RunReview(review, FAIL_ON, FAIL_ON_CHANGES)
    marked = {index: reviewing.add(index, row) for index, row in order}
    return marked, reviewing.finish()


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize(
    ("rows", "review"),
    [
        (NOW, FULL_REVIEW),
        (MANY, Review(MANY_BASELINE, exemptions(("*fn-1*", None)), TODAY)),
    ],
    ids=["now", "many"],
)
def test_rows_in_any_order_review_as_in_order(seed: int, rows: list[Row], review: Review) -> None:
    in_order, expected = review_rows(rows, review, FAIL_ON, FAIL_ON_CHANGES)
    marked, reviewed = shuffled_review(rows, review, seed)
    assert [marked[index] for index in range(len(rows))] == in_order
    assert reviewed == expected
    assert reviewed.summary == expected.summary
    assert reviewed.comparison == expected.comparison
    assert reviewed.exemptions == expected.exemptions
    assert reviewed.failing == expected.failing


def test_comparison_entries_come_in_index_order_whatever_the_arrival_order() -> None:
    reviewing = RunReview(Review(BASELINE))
    for index in (5, 4, 0, 3, 1, 2):
        reviewing.add(index, NOW[index])
    comparison = reviewing.finish().comparison
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
    reviewing = RunReview(FULL_REVIEW, FAIL_ON, FAIL_ON_CHANGES)
    added = [reviewing.add(index, row) for index, row in enumerate(NOW)]
    before = reviewing.finish()
    for _ in range(3):  # as each report would, once per report
        assert [reviewing.mark(i, row) for i, row in enumerate(NOW)] == added
        # marking twice changes nothing
        assert [reviewing.mark(i, row) for i, row in enumerate(added)] == added
    assert reviewing.finish() == before
    _, untouched = review_rows(NOW, FULL_REVIEW, FAIL_ON, FAIL_ON_CHANGES)
    assert before == untouched


def test_mark_alone_counts_nothing() -> None:
    reviewing = RunReview(FULL_REVIEW, FAIL_ON, FAIL_ON_CHANGES)
    marked = [reviewing.mark(i, row) for i, row in enumerate(NOW)]
    assert by_urn(marked)[urn(0)].exempt
    assert by_urn(marked)[urn(0)].change == "regressed"
    reviewed = reviewing.finish()
    assert reviewed.summary.total == 0
    assert reviewed.exemptions is not None and reviewed.exemptions.exempt_rows == 0
    assert reviewed.comparison is not None
    assert reviewed.comparison.counts["gone"] == len(BASELINE.statuses)  # none was seen


def test_mark_without_a_review_is_the_row() -> None:
    reviewing = RunReview()
    assert [reviewing.mark(i, row) for i, row in enumerate(NOW)] == NOW


@pytest.mark.parametrize(
    ("review", "marks"),
    [
        (None, False),
        (Review(), False),
        (Review(today=TODAY), False),
        (Review(BASELINE), True),
        (Review(exemptions=exemptions(("nothing", None))), True),
        (FULL_REVIEW, True),
    ],
)
def test_marks_says_whether_rows_get_marks(review: Review | None, marks: bool) -> None:
    assert RunReview(review).marks is marks
    assert RunReview(review, DEFAULT_FAIL_ON, set(Change)).marks is marks  # fail-on is no mark
