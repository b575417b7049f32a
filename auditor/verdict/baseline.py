"""Compare an audit with a baseline: the JSON report of an earlier run (`--baseline`).

Each URN of this run gets a `change` (`auditor.model.Change`) from its status then and now;
URNs of the baseline that this run did not audit are `gone`. URNs match by their exact text, as
the input gave them (a URN with a version and the same URN without one are two entries).

A baseline may hold a million rows, so it is read a row at a time where the report's layout
allows (`auditor.store.report_file` reads the file) and kept as one status and one place per
URN, never as rows; the history store gives one too (`--baseline last`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from operator import attrgetter
from typing import Any

from auditor.errors import InputError
from auditor.model import COLUMNS, STATUS_OF, Change, Row, Status


@dataclass(frozen=True)
class Baseline:
    """The statuses of an earlier run, by URN, and where each URN lives (for `gone` entries)."""

    source: str
    started_at: str
    statuses: Mapping[str, Status]
    places: Mapping[str, tuple[str, str]]  # urn -> (region, project_id)


@dataclass(frozen=True, slots=True)
class ChangeEntry:
    """One URN whose status changed, appeared or went away since the baseline."""

    urn: str
    change: Change
    previous: Status | None
    current: Status | None
    region: str
    project_id: str


@dataclass(frozen=True)
class Comparison:
    """This run beside the baseline: counts of every change, and each URN that is not
    `unchanged` (this run's rows in order, then the gone ones in baseline order)."""

    baseline: str
    baseline_started_at: str
    counts: dict[str, int]
    entries: list[ChangeEntry]

    def as_run_dict(self) -> dict[str, Any]:
        """The JSON report's `run.changes`: counts and the gone URNs (the others carry their
        `change` in their own row)."""
        return {
            "baseline": self.baseline,
            "baseline_started_at": self.baseline_started_at,
            "counts": dict(self.counts),
            "gone": [
                {
                    "urn": entry.urn,
                    "region": entry.region,
                    "project_id": entry.project_id,
                    "previous_status": entry.previous.value if entry.previous else None,
                }
                for entry in self.entries
                if entry.change is Change.GONE
            ],
        }


def change_of(previous: Status | None, current: Status | None) -> Change:
    """How one URN changed between the baseline (`previous`) and this run (`current`).

    `None` means the URN is not in that run. The rules, first match wins:

    1. not in the baseline → `new`;
    2. not in this run → `gone`;
    3. `function_not_found` now, and not then → `gone` (the function was deleted);
    4. not `configured` then, `configured` now → `fixed`;
    5. `configured` then, anything else now → `regressed`: a compliance audit fails closed, so
       an error, a throttled request or refused credentials, which cannot confirm the keys are
       still there, count as a regression;
    6. anything else → `unchanged` (e.g. `missing_keys` then and `error` now).
    """
    if previous is None:
        return Change.NEW
    if current is None:
        return Change.GONE
    if current is Status.FUNCTION_NOT_FOUND and previous is not Status.FUNCTION_NOT_FOUND:
        return Change.GONE
    if previous is not Status.CONFIGURED and current is Status.CONFIGURED:
        return Change.FIXED
    if previous is Status.CONFIGURED and current is not Status.CONFIGURED:
        return Change.REGRESSED
    return Change.UNCHANGED


class ChangeCounter:
    """Marks rows with their change one at a time and counts what changed, so a run can be
    compared as its rows arrive (in any order) without holding them.

    A URN that appears in more than one row (which an audit never writes) gets its change in
    each, and is counted and listed once.
    """

    def __init__(self, baseline: Baseline) -> None:
        self._baseline = baseline
        self._counts = dict.fromkeys(Change, 0)
        self._entries: list[tuple[int, ChangeEntry]] = []
        self._seen: set[str] = set()

    def mark(self, row: Row) -> Row:
        """The row with its `change` set; nothing is counted."""
        return _with_change(row, change_of(self._baseline.statuses.get(row.urn), row.status).value)

    def add(self, index: int, row: Row) -> Row:
        """`mark`, and count the row as the `index`-th of the run."""
        previous = self._baseline.statuses.get(row.urn)
        change = change_of(previous, row.status)
        if row.urn not in self._seen:
            self._seen.add(row.urn)
            self._counts[change] += 1
            if change is not Change.UNCHANGED:
                entry = ChangeEntry(
                    row.urn, change, previous, row.status, row.region, row.project_id
                )
                self._entries.append((index, entry))
        return _with_change(row, change.value)

    def finish(self) -> Comparison:
        """The comparison: this run's changed rows in run order, then the gone URNs."""
        counts = dict(self._counts)
        entries = [entry for _, entry in sorted(self._entries, key=_first)]
        for urn, previous in self._baseline.statuses.items():
            if urn not in self._seen:
                counts[Change.GONE] += 1
                region, project_id = self._baseline.places.get(urn, ("", ""))
                entries.append(ChangeEntry(urn, Change.GONE, previous, None, region, project_id))
        return Comparison(
            baseline=self._baseline.source,
            baseline_started_at=self._baseline.started_at,
            counts={change.value: counts[change] for change in Change},
            entries=entries,
        )


def _first(pair: tuple[int, ChangeEntry]) -> int:
    return pair[0]


def compare(baseline: Baseline, rows: Sequence[Row]) -> tuple[list[Row], Comparison]:
    """Set each row's `change` against the baseline, and list what changed."""
    counter = ChangeCounter(baseline)
    marked = [counter.add(index, row) for index, row in enumerate(rows)]
    return marked, counter.finish()


_ROW_VALUES = attrgetter(*COLUMNS)
_CHANGE_COLUMN = COLUMNS.index("change")


def _with_change(row: Row, change: str) -> Row:
    """`dataclasses.replace(row, change=change)`, at a third of its cost: it runs once per row
    of a run that may have a million."""
    values = list(_ROW_VALUES(row))
    values[_CHANGE_COLUMN] = change
    return Row(*values)


# -- a baseline from a report's rows (`auditor.store.report_file` reads the file) --------------


def baseline_from(
    source: str, head: Mapping[str, Any], records: Iterator[Any], where: str
) -> Baseline:
    """The baseline a report holds: its start and each URN's status and place, from its
    checked head and its result records (one at a time). A URN listed twice keeps its first
    row; a row without a URN or with an unknown status is an `InputError` naming `where`."""
    started = head["run"].get("started_at")
    statuses: dict[str, Status] = {}
    places: dict[str, tuple[str, str]] = {}
    shared: dict[tuple[str, str], tuple[str, str]] = {}  # one tuple per (region, project)
    for index, record in enumerate(records):
        urn, status, place = _entry(where, index, record)
        if urn not in statuses:
            statuses[urn] = status
            places[urn] = shared.setdefault(place, place)
    return Baseline(
        source=source,
        started_at=started if isinstance(started, str) else "",
        statuses=statuses,
        places=places,
    )


def _entry(where: str, index: int, record: Any) -> tuple[str, Status, tuple[str, str]]:
    if not isinstance(record, dict):
        raise InputError(f"{where}: results[{index}] is not a report row (not an object)")
    urn = record.get("urn")
    if not isinstance(urn, str) or not urn:
        raise InputError(f"{where}: results[{index}] has no urn")
    text = record.get("status")
    status = STATUS_OF.get(text) if isinstance(text, str) else None
    if status is None:
        if "status" not in record:
            raise InputError(f"{where}: results[{index}] has no status")
        raise InputError(
            f"{where}: results[{index}] has an unknown status "
            f"(expected one of: {', '.join(STATUS_OF)})"
        )
    region, project_id = record.get("region"), record.get("project_id")
    return (
        urn,
        status,
        (
            region if isinstance(region, str) else "",
            project_id if isinstance(project_id, str) else "",
        ),
    )
