"""Which functions a fix would change: every `missing_keys` row of a report (and, when asked,
every `unexpected_keys` row), exempt rows and every other status left alone, narrowed to some
projects or regions. Pure: rows in, a plan out."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Set
from dataclasses import dataclass, field

from auditor.errors import InvalidUrn
from auditor.model import Row, Status
from auditor.source.urn import FunctionUrn, parse_urn

FIXABLE = frozenset({Status.MISSING_KEYS, Status.UNEXPECTED_KEYS})


@dataclass(frozen=True, slots=True)
class PlannedFix:
    """One function to give the APM keys to, and the status its audit found."""

    urn: str  # as the report has it (with its version or alias, if any)
    parsed: FunctionUrn
    status: Status
    account: str = ""  # the report's `account` (an estate's): whose credentials fix it


@dataclass
class FixPlan:
    """The functions to fix, in report order, and why the other rows are not in it."""

    items: list[PlannedFix] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)  # reason -> rows

    def by_project_status(self) -> dict[str, dict[str, int]]:
        counts: dict[str, Counter[str]] = {}
        for item in self.items:
            counts.setdefault(item.parsed.project_id, Counter())[item.status.value] += 1
        return {project: dict(sorted(c.items())) for project, c in sorted(counts.items())}


def plan_fixes(
    rows: Iterable[Row],
    *,
    include: Set[Status] = frozenset({Status.MISSING_KEYS}),
    projects: Set[str] = frozenset(),
    regions: Set[str] = frozenset(),
) -> FixPlan:
    """The plan for `rows`: statuses in `include` only (a subset of `FIXABLE`), no exempt row,
    only `projects`/`regions` when given; each function once (versions of one function are one
    tracing configuration)."""
    plan = FixPlan()
    seen: set[str] = set()
    for row in rows:
        if row.status not in include:
            plan.skipped[f"status {row.status.value}"] += 1
            continue
        if row.exempt:
            plan.skipped["exempt"] += 1
            continue
        try:
            parsed = parse_urn(row.urn)
        except InvalidUrn:
            plan.skipped["not a URN"] += 1
            continue
        if projects and parsed.project_id not in projects:
            plan.skipped["other project"] += 1
            continue
        if regions and parsed.region not in regions:
            plan.skipped["other region"] += 1
            continue
        if parsed.unqualified in seen:
            plan.skipped["same function"] += 1
            continue
        seen.add(parsed.unqualified)
        plan.items.append(PlannedFix(row.urn, parsed, row.status, row.account))
    return plan
