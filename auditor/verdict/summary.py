"""Counts of result rows by status, project and region: the summary every report and the
console show. A run keeps these counts, never its rows."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from auditor.model import Row, Status

STATUS_ORDER: tuple[Status, ...] = tuple(Status)


@dataclass(frozen=True)
class Summary:
    """Counts over all rows. Statuses appear in `STATUS_ORDER`; zero counts are left out."""

    total: int
    by_status: dict[str, int]
    by_project: dict[str, dict[str, int]]
    by_region: dict[str, dict[str, int]]
    changes: dict[str, int] | None = None  # counts per change, with --baseline
    exempt: int | None = None  # findings exempted, with --exemptions
    aged: int | None = None  # with the history store: findings open longer than 14 days
    # With accounts (`--all-projects`): account x status, and account x project (row counts).
    by_account: dict[str, dict[str, int]] | None = None
    by_account_project: dict[str, dict[str, int]] | None = None

    def as_dict(self) -> dict[str, Any]:
        document: dict[str, Any] = {
            "total": self.total,
            "by_status": self.by_status,
            "by_project": self.by_project,
            "by_region": self.by_region,
        }
        if self.changes is not None:
            document["changes"] = self.changes
        if self.exempt is not None:
            document["exempt"] = self.exempt
        if self.aged is not None:
            document["open_over_14_days"] = self.aged
        if self.by_account is not None:
            document["by_account"] = self.by_account
            document["by_account_project"] = self.by_account_project
        return document


class SummaryCounter:
    """Counts rows by status, project and region as they come, in any order: a run keeps
    counts, never its rows."""

    def __init__(self) -> None:
        self._by_status: Counter[Status] = Counter()
        self._by_project: Counter[tuple[str, Status]] = Counter()
        self._by_region: Counter[tuple[str, Status]] = Counter()
        self._by_account: Counter[tuple[str, Status]] = Counter()
        self._by_account_project: Counter[tuple[str, str]] = Counter()

    def add(self, row: Row) -> None:
        status = row.status
        self._by_status[status] += 1
        self._by_project[row.project_id or "(invalid)", status] += 1
        self._by_region[row.region or "(invalid)", status] += 1
        account = row.account or "(none)"
        self._by_account[account, status] += 1
        self._by_account_project[account, row.project_id or "(invalid)"] += 1

    def summary(self) -> Summary:
        by_status = self._by_status
        with_accounts = any(account != "(none)" for account, _ in self._by_account)
        return Summary(
            total=sum(by_status.values()),
            by_status={s.value: by_status[s] for s in STATUS_ORDER if by_status[s]},
            by_project=_nest(self._by_project),
            by_region=_nest(self._by_region),
            by_account=_nest(self._by_account) if with_accounts else None,
            by_account_project=_pairs(self._by_account_project) if with_accounts else None,
        )


def compliance(by_status: dict[str, int]) -> float | None:
    """Configured functions as a percentage of the functions that exist: every row but
    `invalid_urn` and `function_not_found`. A check that got no answer (an error, refused
    credentials, throttling) counts against it, as a compliance audit fails closed. None when
    no function exists."""
    gone = by_status.get(Status.INVALID_URN.value, 0) + by_status.get(
        Status.FUNCTION_NOT_FOUND.value, 0
    )
    existing = sum(by_status.values()) - gone
    if existing <= 0:
        return None
    return round(100.0 * by_status.get(Status.CONFIGURED.value, 0) / existing, 2)


def summarize(rows: Iterable[Row]) -> Summary:
    """Count rows by status, by project × status and by region × status."""
    counter = SummaryCounter()
    for row in rows:
        counter.add(row)
    return counter.summary()


def _pairs(counts: Counter[tuple[str, str]]) -> dict[str, dict[str, int]]:
    nested: dict[str, dict[str, int]] = {}
    for (outer, inner), count in sorted(counts.items()):
        nested.setdefault(outer, {})[inner] = count
    return nested


def _nest(counts: Counter[tuple[str, Status]]) -> dict[str, dict[str, int]]:
    nested: dict[str, dict[str, int]] = {}
    for key in sorted({k for k, _ in counts}):
        nested[key] = {s.value: counts[key, s] for s in STATUS_ORDER if counts[key, s]}
    return nested
