"""Criteria a run's rows as they arrive: the summary counts, the change against a baseline
(`--baseline`), the exemptions (`--exemptions`), the finding age (the history store's
standings) and the findings that fail the run (`--fail-on`, `--fail-on-age`), all without
holding the rows.

`Marker.add` marks and counts a row once, whatever order rows come in; the marked row is
what the journal keeps and every report shows. `Marker.mark` marks a row again without
counting it (for rows already in memory).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from operator import attrgetter

from auditor.model import COLUMNS, Change, Row, Status
from auditor.verdict.age import Age, Standings, age_of, is_aged, is_finding
from auditor.verdict.baseline import Baseline, ChangeCounter, Comparison
from auditor.verdict.exemptions import ExemptionCounter, ExemptionReport, Exemptions
from auditor.verdict.summary import Summary, SummaryCounter


@dataclass(frozen=True)
class Criteria:
    """What to compare a run with and forgive: `--baseline`, `--exemptions` and the day
    exemptions are judged on (today when not given); with the history store, the standings
    of the run's targets before the run (finding age) and `--fail-on-age`."""

    baseline: Baseline | None = None
    exemptions: Exemptions | None = None
    today: date | None = None
    standings: Standings | None = None
    fail_on_age: int | None = None  # days: only findings open this long fail the run


@dataclass(frozen=True)
class RunVerdict:
    """What marker every row came to."""

    summary: Summary  # with change counts and the exempt count when they apply
    comparison: Comparison | None
    exemptions: ExemptionReport | None
    failing: int  # findings that `--fail-on` names and no exemption covers


class Marker:
    """Counts, compares and exempts rows one at a time."""

    def __init__(
        self,
        criteria: Criteria | None = None,
        fail_on: Iterable[Status] = (),
        fail_on_changes: Iterable[Change] = (),
        started_at: str = "",
    ) -> None:
        criteria = criteria or Criteria()
        self._standings = criteria.standings
        self._fail_on_age = criteria.fail_on_age
        self._started_at = started_at  # the time of a row never sent (`invalid_urn`)
        self._aged = 0
        self._summary = SummaryCounter()
        self._changes = ChangeCounter(criteria.baseline) if criteria.baseline is not None else None
        self._exempting = None
        if criteria.exemptions is not None:
            today = criteria.today or datetime.now().date()
            self._exempting = ExemptionCounter(criteria.exemptions, today)
        self._fail_on = frozenset(fail_on)
        self._fail_on_changes = frozenset(fail_on_changes)
        self._failing_changes = frozenset(change.value for change in self._fail_on_changes)
        self._failing = 0

    @property
    def marks(self) -> bool:
        """True when rows get a `change` or `exempt` mark: without one, a row as journaled is
        the row as reported."""
        return (
            self._changes is not None or self._exempting is not None or self._standings is not None
        )

    def mark(self, index: int, row: Row) -> Row:
        """The `index`-th row of the run with its marks; nothing is counted."""
        if self._standings is not None:
            row = self._aged_row(index, row)
        if self._changes is not None:
            row = self._changes.mark(row)
        if self._exempting is not None:
            row = self._exempting.mark(row)
        return row

    def add(self, index: int, row: Row) -> Row:
        """Count the `index`-th row of the run; return it marked."""
        if self._standings is not None:
            row = self._aged_row(index, row)
        if self._changes is not None:
            row = self._changes.add(index, row)
        if self._exempting is not None:
            row = self._exempting.add(row)
        self._summary.add(row)
        if is_aged(row):
            self._aged += 1
        days = row.days_failing
        finding = is_finding(row.status)
        named = row.status in self._fail_on or row.change in self._failing_changes
        # With --fail-on-age only findings that old fail; a check that got no verdict
        # (auth_failed, throttled, error) is not a finding with an age, and still fails.
        old_enough = self._fail_on_age is None or not finding or (days or 0) >= self._fail_on_age
        if named and not row.exempt and old_enough:
            self._failing += 1
        return row

    def _aged_row(self, index: int, row: Row) -> Row:
        assert self._standings is not None
        when = row.checked_at or self._started_at
        return with_age(row, age_of(self._standings.get(index), row, when))

    def finish(self) -> RunVerdict:
        """The summary and what marking them found."""
        comparison = self._changes.finish() if self._changes is not None else None
        exempted = self._exempting.finish() if self._exempting is not None else None
        failing = self._failing
        if comparison is not None and Change.GONE in self._fail_on_changes:
            failing += sum(1 for e in comparison.entries if e.current is None)
        summary = replace(
            self._summary.summary(),
            changes=dict(comparison.counts) if comparison is not None else None,
            exempt=exempted.exempt_rows if exempted is not None else None,
            aged=self._aged if self._standings is not None else None,
        )
        return RunVerdict(summary, comparison, exempted, failing)


def mark_rows(
    rows: Sequence[Row],
    criteria: Criteria,
    fail_on: Iterable[Status] = (),
    fail_on_changes: Iterable[Change] = (),
) -> tuple[list[Row], RunVerdict]:
    """Every row marked, and what marking them found: for rows already in memory."""
    marker = Marker(criteria, fail_on, fail_on_changes)
    marked = [marker.add(index, row) for index, row in enumerate(rows)]
    return marked, marker.finish()


_ROW_VALUES = attrgetter(*COLUMNS)
_AGE_AT = COLUMNS.index("first_seen")
_MARKS_AT = COLUMNS.index("change")
assert COLUMNS[_AGE_AT : _AGE_AT + 3] == ("first_seen", "failing_since", "days_failing")
assert COLUMNS[_MARKS_AT:] == (
    "change",
    "exempt",
    "exempt_reason",
    "first_seen",
    "failing_since",
    "days_failing",
)


def with_age(row: Row, age: Age) -> Row:
    """The row with its age columns set (`dataclasses.replace` at a third of its cost)."""
    values = list(_ROW_VALUES(row))
    values[_AGE_AT : _AGE_AT + 3] = (age.first_seen, age.failing_since, age.days_failing)
    return Row(*values)


def unmarked(row: Row) -> Row:
    """The row as the audit produced it, without the marks marking gave it."""
    values = list(_ROW_VALUES(row))
    values[_MARKS_AT:] = ("", False, "", "", "", None)
    return Row(*values)
