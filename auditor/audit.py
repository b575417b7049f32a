"""Tie the stages together: targets in, a journaled run, reports out.

This is the library's entry point; `auditor/cli/` is a thin shell over it that builds the real
session, client and throttles, and turns errors into messages and exit codes.
"""

from __future__ import annotations

import asyncio
from array import array
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from auditor import __version__
from auditor.config import Settings
from auditor.model import Row
from auditor.report.tables import ReportDocument, Summary
from auditor.report.writers import write_reports
from auditor.send.request import RunTally
from auditor.send.runner import Runner
from auditor.source.inputs import InputSet
from auditor.source.targets import Targets
from auditor.source.urn import FunctionUrn
from auditor.store.journal import Journal, JournalReader, JournalRows, fingerprint
from auditor.verdict.baseline import Comparison
from auditor.verdict.exemptions import ExemptionReport
from auditor.verdict.review import Review, RunReview, unmarked
from auditor.verdict.rows import format_time


@dataclass(frozen=True)
class AuditResult:
    """What a finished (or interrupted) audit produced."""

    summary: Summary
    paths: list[Path]
    complete: bool
    not_audited: int
    tally: RunTally
    preflight: dict[str, str]
    open_breakers: list[str]
    failing: int = 0  # findings that `--fail-on` names and no exemption covers
    comparison: Comparison | None = None
    exemptions: ExemptionReport | None = None
    run: dict[str, Any] = field(default_factory=dict)


def default_name(started: datetime) -> str:
    """The report base name when `--name` is not given."""
    return started.strftime("tracing-audit-%Y%m%dT%H%M%SZ")


async def run_audit(
    inputs: InputSet,
    settings: Settings,
    runner: Runner,
    *,
    name: str,
    credential_method: str,
    on_row: Callable[[Row], None] | None = None,
    stop: asyncio.Event | None = None,
    resume: JournalReader | None = None,
    preflight: bool = False,
    review: Review | None = None,
    run_facts: Mapping[str, Any] | None = None,
) -> AuditResult:
    """Audit every target, journaling each row as it comes, then write the reports.

    The run keeps counts, never rows: each row is journaled and counted (summary, changes,
    exemptions, failing findings) as it arrives, and the reports read the rows back from the
    journal in target order. With `resume` (the journal of an earlier run over the same
    inputs), targets the journal already has are not asked again; the journal is continued.
    `review` compares the rows with a baseline and applies exemptions; `run_facts` (e.g.
    `discovery`) are added to the report's `run`.
    """
    targets = inputs.targets
    started = runner.now()
    offsets = array("q", [-1]) * len(targets)  # each target's journal line; -1: none yet
    reviewing = RunReview(
        review, settings.fail_on, settings.fail_on_changes, started_at=format_time(started)
    )
    header = {
        "name": name,
        "tool_version": __version__,
        "started_at": format_time(started),
        "fingerprint": fingerprint(targets.urns),
        "targets": len(targets),
    }
    settings.out.mkdir(parents=True, exist_ok=True)
    journal_path = settings.out / f"{name}.journal.jsonl"
    resumed: dict[str, Any] = {}
    earlier: array[int] | None = None
    if resume is not None:
        journal_path = resume.path
        earlier = _earlier_lines(resume, targets)
        resumed = {
            "journal": str(journal_path),
            "first_started_at": resume.header.get("started_at", ""),
            "rows_reused": sum(1 for offset in earlier if offset >= 0),
            "lines_skipped": resume.skipped_lines,
        }
    verdicts: dict[str, str] = {}
    preflight_requests = 0
    if preflight:
        todo = offsets if earlier is None else earlier
        verdicts, checked = await runner.preflight(_first_per_project(targets, todo))
        preflight_requests = checked.requests
    # The lines of one event-loop turn go to the OS together, at the start of the next turn.
    defer = asyncio.get_running_loop().call_soon
    with Journal(journal_path, header, resume=resume is not None, defer=defer) as journal:

        def sink(index: int, row: Row) -> None:
            # The journal keeps the marked row, so every report copies it as it is.
            row = reviewing.add(index, row)
            offsets[index] = journal.record(index, row)
            if on_row is not None:
                on_row(row)

        if earlier is not None:
            # Rows an earlier run journaled are marked afresh (today's baseline, exemptions
            # and standings) and journaled again: the later line of a target wins.
            for index, row in JournalRows(journal_path, earlier).indexed():
                sink(index, unmarked(row))
        tally = await runner.run(targets, sink, skip=lambda i: offsets[i] >= 0, stop=stop)
        written_from = journal.opened_at
    finished = runner.now()
    missing = [targets.urn(i) for i, offset in enumerate(offsets) if offset < 0]
    reviewed = reviewing.finish()
    run: dict[str, Any] = {
        "started_at": format_time(started),
        "finished_at": format_time(finished),
        "duration_s": round((finished - started).total_seconds(), 3),
        "complete": not missing,
        "settings": {**settings.public(), "credentials": credential_method},
        "inputs": [
            {"name": i.name, "format": i.format, "entries": i.entries} for i in inputs.inputs
        ],
        "duplicates_merged": inputs.duplicates,
        "requests": tally.requests + preflight_requests,
        "preflight": verdicts or None,
        "credential_breakers": runner.guard.open_scopes(),
        "skipped_for_credentials": tally.skipped,
        "throttling": runner.throttles.as_run_dict(runner.policy.throttle_deadline),
        "resumed": resumed or None,
        "journal": str(journal_path),
        "not_audited": missing,
        **(run_facts or {}),
    }
    comparison, exempted = reviewed.comparison, reviewed.exemptions
    if comparison is not None:
        run["changes"] = comparison.as_run_dict()
    if exempted is not None:
        run["exemptions"] = exempted.as_run_dict()
    rows = JournalRows(journal_path, offsets, raw_from=written_from)
    document = ReportDocument(rows, reviewed.summary, run, comparison, exempted)
    paths = write_reports(document, settings.out, name, settings.formats)
    return AuditResult(
        summary=reviewed.summary,
        paths=[*paths, journal_path],
        complete=not missing,
        not_audited=len(missing),
        tally=tally,
        preflight=verdicts,
        open_breakers=runner.guard.open_scopes(),
        failing=reviewed.failing,
        comparison=comparison,
        exemptions=exempted,
        run=run,
    )


def _earlier_lines(journal: JournalReader, targets: Targets) -> array[int]:
    """Where an earlier run's journal holds each target's row (-1: it has none)."""
    earlier = array("q", [-1]) * len(targets)
    for index, offset, row in journal.records():
        if 0 <= index < len(targets) and row.urn == targets.urn(index):
            earlier[index] = offset  # a target journaled twice: the later line wins
    return earlier


def _first_per_project(targets: Targets, offsets: array[int]) -> list[FunctionUrn]:
    """The first URN still to audit in each project: what the pre-flight check asks about."""
    first: dict[str, int] = {}
    invalid = set(targets.invalid_indices())
    for index, urn in enumerate(targets.urns):
        if offsets[index] < 0 and index not in invalid:
            first.setdefault(urn.split(":", 4)[3], index)
    return [parsed for i in first.values() if (parsed := targets[i].parsed) is not None]


def report_paths(result: AuditResult) -> Sequence[str]:
    """The files a run wrote, as strings for printing."""
    return [str(p) for p in result.paths]
