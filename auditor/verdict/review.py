"""Review a run's rows as they arrive: the summary counts, the change against a baseline
(`--baseline`), the exemptions (`--exemptions`) and the findings that fail the run
(`--fail-on`), all without holding the rows.

`RunReview.add` marks and counts a row once, whatever order rows come in; `RunReview.mark`
marks a row again (when a report is written) without counting it twice.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime

from auditor.model import Change, Row, Status
from auditor.verdict.baseline import Baseline, ChangeCounter, Comparison
from auditor.verdict.exemptions import ExemptionCounter, ExemptionReport, Exemptions
from auditor.verdict.summary import Summary, SummaryCounter


@dataclass(frozen=True)
class Review:
    """What to compare a run with and forgive: `--baseline`, `--exemptions` and the day
    exemptions are judged on (today when not given)."""

    baseline: Baseline | None = None
    exemptions: Exemptions | None = None
    today: date | None = None


@dataclass(frozen=True)
class Reviewed:
    """What reviewing every row came to."""

    summary: Summary  # with change counts and the exempt count when they apply
    comparison: Comparison | None
    exemptions: ExemptionReport | None
    failing: int  # findings that `--fail-on` names and no exemption covers


class RunReview:
    """Counts, compares and exempts rows one at a time."""

    def __init__(
        self,
        review: Review | None = None,
        fail_on: Iterable[Status] = (),
        fail_on_changes: Iterable[Change] = (),
    ) -> None:
        review = review or Review()
        self._summary = SummaryCounter()
        self._changes = ChangeCounter(review.baseline) if review.baseline is not None else None
        self._exempting = None
        if review.exemptions is not None:
            today = review.today or datetime.now().date()
            self._exempting = ExemptionCounter(review.exemptions, today)
        self._fail_on = frozenset(fail_on)
        self._fail_on_changes = frozenset(fail_on_changes)
        self._failing_changes = frozenset(change.value for change in self._fail_on_changes)
        self._failing = 0

    @property
    def marks(self) -> bool:
        """True when rows get a `change` or `exempt` mark: without one, a row as journaled is
        the row as reported."""
        return self._changes is not None or self._exempting is not None

    def mark(self, row: Row) -> Row:
        """The row with its `change` and `exempt` marks; nothing is counted."""
        if self._changes is not None:
            row = self._changes.mark(row)
        if self._exempting is not None:
            row = self._exempting.mark(row)
        return row

    def add(self, index: int, row: Row) -> Row:
        """Count the `index`-th row of the run; return it marked."""
        if self._changes is not None:
            row = self._changes.review(index, row)
        if self._exempting is not None:
            row = self._exempting.review(row)
        self._summary.add(row)
        if not row.exempt and (row.status in self._fail_on or row.change in self._failing_changes):
            self._failing += 1
        return row

    def finish(self) -> Reviewed:
        """The summary and the review's findings over every row added."""
        comparison = self._changes.finish() if self._changes is not None else None
        exempted = self._exempting.finish() if self._exempting is not None else None
        failing = self._failing
        if comparison is not None and Change.GONE in self._fail_on_changes:
            failing += sum(1 for e in comparison.entries if e.current is None)
        summary = replace(
            self._summary.summary(),
            changes=dict(comparison.counts) if comparison is not None else None,
            exempt=exempted.exempt_rows if exempted is not None else None,
        )
        return Reviewed(summary, comparison, exempted, failing)


def review_rows(
    rows: Sequence[Row],
    review: Review,
    fail_on: Iterable[Status] = (),
    fail_on_changes: Iterable[Change] = (),
) -> tuple[list[Row], Reviewed]:
    """Every row marked, and what the review found: for rows already in memory."""
    reviewing = RunReview(review, fail_on, fail_on_changes)
    marked = [reviewing.add(index, row) for index, row in enumerate(rows)]
    return marked, reviewing.finish()
