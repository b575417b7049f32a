"""Reviewing a run's rows (auditor/audit.py): `review_rows` fills `change` and `exempt`,
`count_failing` decides the exit code, `reviewed_summary` adds their counts."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from auditor.audit import Review, count_failing, review_rows, reviewed_summary
from auditor.baseline import Baseline, compare
from auditor.config import DEFAULT_FAIL_ON
from auditor.exemptions import Exemption, Exemptions, apply_exemptions
from auditor.model import Change, Row, Status
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


# --- review_rows ------------------------------------------------------------------------------


def test_an_empty_review_leaves_the_rows_alone() -> None:
    rows, comparison, exempted = review_rows(NOW, Review())
    assert rows == NOW
    assert rows is not NOW  # a new list: the caller's is not changed
    assert (comparison, exempted) == (None, None)
    assert {row.change for row in rows} == {""}


def test_a_baseline_fills_every_rows_change() -> None:
    rows, comparison, exempted = review_rows(NOW, Review(BASELINE))
    assert [row.change for row in rows] == [
        "regressed",
        "fixed",
        "unchanged",
        "unchanged",
        "new",
        "gone",
    ]
    assert exempted is None
    assert comparison is not None
    assert comparison.counts == {"new": 1, "fixed": 1, "regressed": 1, "unchanged": 2, "gone": 2}
    assert [row.status for row in rows] == [row.status for row in NOW]  # statuses are kept


def test_exemptions_mark_findings_and_keep_their_status() -> None:
    review = Review(exemptions=exemptions((urn(0), None), (urn(3), None)), today=TODAY)
    rows, comparison, exempted = review_rows(NOW, review)
    assert comparison is None
    assert exempted is not None
    marked = by_urn(rows)
    assert marked[urn(0)].exempt and marked[urn(0)].exempt_reason == "reason 1"
    assert marked[urn(0)].status is M
    assert not marked[urn(3)].exempt  # configured: not a finding, nothing to exempt
    assert exempted.exempt_rows == 1
    assert [entry.number for entry in exempted.unused] == [2]


def test_baseline_and_exemptions_together() -> None:
    review = Review(BASELINE, exemptions((urn(0), None)), TODAY)
    rows, comparison, exempted = review_rows(NOW, review)
    row = by_urn(rows)[urn(0)]
    assert (row.change, row.exempt, row.status) == ("regressed", True, M)
    assert comparison is not None and comparison.counts["regressed"] == 1  # still counted
    assert exempted is not None and exempted.exempt_rows == 1


@pytest.mark.parametrize(
    ("today", "applies"),
    [(TODAY - timedelta(days=1), True), (TODAY, True), (TODAY + timedelta(days=1), False)],
)
def test_an_exemption_holds_through_its_last_day(today: date, applies: bool) -> None:
    review = Review(exemptions=exemptions((urn(0), TODAY)), today=today)
    rows, _, exempted = review_rows(NOW, review)
    assert by_urn(rows)[urn(0)].exempt is applies
    assert exempted is not None
    assert [(e.number, n) for e, n in exempted.expired] == ([] if applies else [(1, 1)])


def test_without_a_day_exemptions_are_judged_today() -> None:
    long_ago = date(2000, 1, 1)
    far_ahead = date(2999, 1, 1)
    review = Review(exemptions=exemptions((urn(0), long_ago), (urn(2), far_ahead)))
    rows, _, exempted = review_rows(NOW, review)
    marked = by_urn(rows)
    assert not marked[urn(0)].exempt
    assert marked[urn(2)].exempt
    assert exempted is not None and [e.number for e, _ in exempted.expired] == [1]


# --- count_failing ----------------------------------------------------------------------------


def test_statuses_alone_count_every_finding() -> None:
    rows, comparison, _ = review_rows(NOW, Review(BASELINE))
    assert count_failing(rows, comparison, DEFAULT_FAIL_ON, NO_CHANGES) == 4  # M, M, E, NF
    assert count_failing(rows, comparison, frozenset({E}), NO_CHANGES) == 1
    assert count_failing(rows, comparison, NOTHING, NO_CHANGES) == 0


def test_fail_on_regressed_counts_only_regressions() -> None:
    rows, comparison, _ = review_rows(NOW, Review(BASELINE))
    assert count_failing(rows, comparison, NOTHING, frozenset({Change.REGRESSED})) == 1
    assert count_failing(rows, comparison, NOTHING, frozenset({Change.NEW})) == 1


def test_statuses_and_changes_combine_and_a_row_counts_once() -> None:
    rows, comparison, _ = review_rows(NOW, Review(BASELINE))
    # Row 0 is missing_keys and regressed: one failing row, not two.
    assert count_failing(rows, comparison, frozenset({M}), frozenset({Change.REGRESSED})) == 2
    # missing_keys (rows 0, 2) or new (row 4).
    assert count_failing(rows, comparison, frozenset({M}), frozenset({Change.NEW})) == 3


def test_fail_on_gone_counts_the_deleted_rows_and_the_baseline_urns_not_audited() -> None:
    rows, comparison, _ = review_rows(NOW, Review(BASELINE))
    # Row 5 (configured then, function_not_found now) and the URN this run never audited.
    assert count_failing(rows, comparison, NOTHING, frozenset({Change.GONE})) == 2
    # Without --fail-on gone, a URN that was not audited fails nothing.
    assert count_failing(rows, comparison, NOTHING, frozenset({Change.REGRESSED})) == 1


def test_fail_on_gone_with_a_deleted_row_also_named_by_status_counts_it_once() -> None:
    rows, comparison, _ = review_rows(NOW, Review(BASELINE))
    assert count_failing(rows, comparison, frozenset({NF}), frozenset({Change.GONE})) == 2


def test_exempt_rows_never_fail() -> None:
    exempt_all = exemptions(("urn:fss:*", None))
    rows, comparison, _ = review_rows(NOW, Review(BASELINE, exempt_all, TODAY))
    findings = [row for row in rows if row.status is not C]
    assert findings and all(row.exempt for row in findings)
    every_change = frozenset({Change.REGRESSED, Change.NEW, Change.GONE})
    # Only the URN that was not audited is left: it has no row an exemption could mark.
    assert count_failing(rows, comparison, DEFAULT_FAIL_ON, every_change) == 1
    assert count_failing(rows, comparison, DEFAULT_FAIL_ON, frozenset({Change.REGRESSED})) == 0


def test_an_exempt_row_never_fails_even_if_marked_by_hand() -> None:
    rows = [make_row(0, M, exempt=True, exempt_reason="x", change="regressed")]
    assert count_failing(rows, None, DEFAULT_FAIL_ON, frozenset({Change.REGRESSED})) == 0


def test_changes_without_a_comparison_fail_nothing() -> None:
    assert count_failing(NOW, None, NOTHING, frozenset(Change)) == 0
    assert count_failing(NOW, None, frozenset({M}), frozenset(Change)) == 2  # rows 0 and 2


# --- reviewed_summary -------------------------------------------------------------------------


def test_a_summary_without_review_has_no_changes_or_exempt() -> None:
    summary = reviewed_summary(NOW, None, None)
    assert (summary.changes, summary.exempt) == (None, None)
    assert summary.total == len(NOW)
    assert "changes" not in summary.as_dict()
    assert "exempt" not in summary.as_dict()


def test_a_reviewed_summary_carries_change_counts_and_the_exempt_count() -> None:
    rows, comparison, exempted = review_rows(
        NOW, Review(BASELINE, exemptions((urn(0), None), (urn(4), None)), TODAY)
    )
    summary = reviewed_summary(rows, comparison, exempted)
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
    _, exempted = apply_exemptions(NOW, exemptions(("urn:none", None)), TODAY)
    summary = reviewed_summary(NOW, None, exempted)
    assert summary.exempt == 0
    assert summary.as_dict()["exempt"] == 0


def test_review_agrees_with_compare() -> None:
    rows, comparison, _ = review_rows(NOW, Review(BASELINE))
    direct_rows, direct = compare(BASELINE, NOW)
    assert rows == direct_rows
    assert comparison == direct
