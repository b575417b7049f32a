"""Runs as the history store knows them: what a run covered, its identity, and its record.

`RunScope` (made by `input_scope` or `projects_scope`) says which runs compare; `run_key` is a
run's identity, kept by a resume; `RunFacts` is a finished run handed to `History.record`, and
`RecordedRun` one row of `runs` read back. Plain values: nothing here touches the store.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from auditor.verdict.summary import Summary


@dataclass(frozen=True)
class RunScope:
    """What a run covered, so that runs of the same scope can be compared: the same input
    set (its fingerprint), or the same discovered projects."""

    key: str
    label: str


def input_scope(fingerprint: str, names: Sequence[str], entries: int) -> RunScope:
    """The scope of a run over input files (their distinct entries, in order)."""
    shown_names = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
    return RunScope(f"inputs:{fingerprint[:16]}", f"{shown_names} ({entries} entries)")


def projects_scope(projects: Iterable[tuple[str, str]]) -> RunScope:
    """The scope of a discovering run: the projects listed (whatever functions they held)."""
    pairs = sorted(set(projects))
    digest = hashlib.sha256("\n".join(f"{p} {r}" for p, r in pairs).encode()).hexdigest()
    regions = sorted({region for _, region in pairs})
    label = f"discovered: {len(pairs)} projects in {', '.join(regions)}"
    return RunScope(f"projects:{digest[:16]}", label)


def run_key(first_started_at: str, name: str) -> str:
    """A run's identity in the store: its first start and its name (a resume keeps both, so
    a resumed run replaces its partial record)."""
    return f"{first_started_at} {name}"


@dataclass(frozen=True)
class RunFacts:
    """A finished (or interrupted) run, as the store records it."""

    key: str  # the run's identity: its first start and name (a resume keeps both)
    name: str
    scope: RunScope
    started_at: str
    finished_at: str
    complete: bool
    summary: Summary
    settings: Mapping[str, Any]  # public settings only: no secret ever reaches the store
    tool_version: str
    recorded_at: str
    recorded_from: str = "audit"


@dataclass(frozen=True)
class RecordedRun:
    """One row of `runs`."""

    run_id: int
    name: str
    scope: str
    scope_label: str
    started_at: str
    finished_at: str
    complete: bool
    total: int
    compliance: float | None
    by_status: dict[str, int] = field(default_factory=dict)
    recorded_from: str = "audit"

    def as_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "name": self.name,
            "scope": self.scope,
            "scope_label": self.scope_label,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "complete": self.complete,
            "total": self.total,
            "compliance": self.compliance,
            "by_status": self.by_status,
            "recorded_from": self.recorded_from,
        }
