"""Tie the stages together: targets in, a journaled run, reports out.

This is the library's entry point; `cli.py` is a thin shell over it that builds the real
session, client and throttles, and turns errors into messages and exit codes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from auditor import __version__
from auditor.config import Settings
from auditor.inputs import InputSet
from auditor.journal import Journal, JournalContents, fingerprint
from auditor.model import Row, Status
from auditor.report.tables import ReportDocument, Summary, summarize
from auditor.report.writers import write_reports
from auditor.rows import format_time
from auditor.runner import Runner, RunTally


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

    def findings(self, fail_on: frozenset[Status]) -> int:
        """How many rows have a status that `--fail-on` names."""
        return sum(n for status, n in self.summary.by_status.items() if status in fail_on)


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
    resume: tuple[Path, JournalContents] | None = None,
    preflight: bool = False,
) -> AuditResult:
    """Audit every target, journaling each row as it comes, then write the reports.

    With `resume` (a journal of an earlier run over the same inputs, and its contents), targets
    the journal already has are not asked again; the journal is continued.
    """
    targets = inputs.targets
    started = runner.now()
    rows: list[Row | None] = [None] * len(targets)
    header = {
        "name": name,
        "tool_version": __version__,
        "started_at": format_time(started),
        "fingerprint": fingerprint(targets),
        "targets": len(targets),
    }
    settings.out.mkdir(parents=True, exist_ok=True)
    journal_path = settings.out / f"{name}.journal.jsonl"
    resumed: dict[str, Any] = {}
    if resume is not None:
        journal_path, contents = resume
        for index, row in contents.rows.items():
            if 0 <= index < len(targets) and row.urn == targets[index].urn:
                rows[index] = row
        resumed = {
            "journal": str(journal_path),
            "first_started_at": contents.header.get("started_at", ""),
            "rows_reused": sum(row is not None for row in rows),
            "lines_skipped": contents.skipped_lines,
        }
    if on_row is not None:
        for done_row in rows:
            if done_row is not None:
                on_row(done_row)
    verdicts: dict[str, str] = {}
    preflight_requests = 0
    if preflight:
        pending = [t.parsed for i, t in enumerate(targets) if t.parsed and rows[i] is None]
        verdicts, checked = await runner.preflight(pending)
        preflight_requests = checked.requests
    with Journal(journal_path, header, resume=resume is not None) as journal:

        def sink(index: int, row: Row) -> None:
            rows[index] = row
            journal.record(index, row)
            if on_row is not None:
                on_row(row)

        tally = await runner.run(targets, sink, skip=lambda i: rows[i] is not None, stop=stop)
    finished = runner.now()
    done = [row for row in rows if row is not None]
    missing = [targets[i].urn for i, row in enumerate(rows) if row is None]
    summary = summarize(done)
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
        "throttling": {
            "responses_429": dict(tally.throttled),
            "pauses": dict(tally.pauses),
            "effective_rate": runner.throttles.current_rates(),
        },
        "resumed": resumed or None,
        "journal": str(journal_path),
        "not_audited": missing,
    }
    document = ReportDocument(done, summary, run)
    paths = write_reports(document, settings.out, name, settings.formats)
    return AuditResult(
        summary,
        [*paths, journal_path],
        not missing,
        len(missing),
        tally,
        verdicts,
        runner.guard.open_scopes(),
    )


def report_paths(result: AuditResult) -> Sequence[str]:
    """The files a run wrote, as strings for printing."""
    return [str(p) for p in result.paths]
