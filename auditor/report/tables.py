"""Pure summaries of result rows: counts by status, project and region, and their tables."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from auditor.model import Row, Status

STATUS_ORDER: tuple[Status, ...] = tuple(Status)


@dataclass(frozen=True)
class Summary:
    """Counts over all rows. Statuses appear in `STATUS_ORDER`; zero counts are left out."""

    total: int
    by_status: dict[str, int]
    by_project: dict[str, dict[str, int]]
    by_region: dict[str, dict[str, int]]

    def as_dict(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "by_status": self.by_status,
            "by_project": self.by_project,
            "by_region": self.by_region,
        }


@dataclass(frozen=True)
class ReportDocument:
    """Everything a renderer needs: the rows in input order, their summary and the run facts."""

    rows: Sequence[Row]
    summary: Summary
    run: dict[str, Any] = field(default_factory=dict)


def summarize(rows: Iterable[Row]) -> Summary:
    """Count rows by status, by project × status and by region × status."""
    by_status: Counter[Status] = Counter()
    by_project: Counter[tuple[str, Status]] = Counter()
    by_region: Counter[tuple[str, Status]] = Counter()
    for row in rows:
        by_status[row.status] += 1
        by_project[row.project_id or "(invalid)", row.status] += 1
        by_region[row.region or "(invalid)", row.status] += 1
    return Summary(
        total=sum(by_status.values()),
        by_status={s.value: by_status[s] for s in STATUS_ORDER if by_status[s]},
        by_project=_nest(by_project),
        by_region=_nest(by_region),
    )


def _nest(counts: Counter[tuple[str, Status]]) -> dict[str, dict[str, int]]:
    nested: dict[str, dict[str, int]] = {}
    for key in sorted({k for k, _ in counts}):
        nested[key] = {s.value: counts[key, s] for s in STATUS_ORDER if counts[key, s]}
    return nested


def status_frame(summary: Summary) -> pd.DataFrame:
    """One row per status with its count and share of the total."""
    frame = pd.DataFrame(
        {"status": list(summary.by_status), "count": list(summary.by_status.values())}
    )
    frame["share"] = frame["count"] / summary.total if summary.total else 0.0
    return frame


def crosstab_frame(nested: Mapping[str, Mapping[str, int]], label: str) -> pd.DataFrame:
    """A `label` × status table of counts with a total column, statuses in report order."""
    present = [s.value for s in STATUS_ORDER if any(s.value in c for c in nested.values())]
    records = [
        {label: key, **{s: counts.get(s, 0) for s in present}, "total": sum(counts.values())}
        for key, counts in nested.items()
    ]
    return pd.DataFrame.from_records(records, columns=[label, *present, "total"])
