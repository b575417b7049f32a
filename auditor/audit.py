"""Tie the stages together: targets in, a journaled run, reports out.

This is the library's entry point; `cli.py` is a thin shell over it that builds the real
session, client and throttles, and turns errors into messages and exit codes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from pathlib import Path
from typing import Any

from auditor import __version__
from auditor.baseline import Baseline, Comparison, compare
from auditor.config import Settings
from auditor.exemptions import ExemptionReport, Exemptions, apply_exemptions
from auditor.inputs import InputSet
from auditor.journal import Journal, JournalContents, fingerprint
from auditor.model import Change, Row, Status
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
    failing: int = 0  # findings that `--fail-on` names and no exemption covers
    comparison: Comparison | None = None
    exemptions: ExemptionReport | None = None
    run: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Review:
    """What to compare a run with and forgive: `--baseline`, `--exemptions` and the day
    exemptions are judged on."""

    baseline: Baseline | None = None
    exemptions: Exemptions | None = None
    today: date | None = None


def review_rows(
    rows: Sequence[Row], review: Review
) -> tuple[list[Row], Comparison | None, ExemptionReport | None]:
    """Rows with `change` (against the baseline) and `exempt` (by the exemptions) filled in."""
    reviewed = list(rows)
    comparison = exempted = None
    if review.baseline is not None:
        reviewed, comparison = compare(review.baseline, reviewed)
    if review.exemptions is not None:
        today = review.today or datetime.now().date()
        reviewed, exempted = apply_exemptions(reviewed, review.exemptions, today)
    return reviewed, comparison, exempted


def count_failing(
    rows: Sequence[Row],
    comparison: Comparison | None,
    fail_on: frozenset[Status],
    fail_on_changes: frozenset[Change],
) -> int:
    """Findings that fail the run: a row whose status or change `--fail-on` names, unless an
    exemption covers it; and, with `--fail-on gone`, baseline URNs this run did not audit."""
    failing = sum(
        1
        for row in rows
        if not row.exempt and (row.status in fail_on or row.change in fail_on_changes)
    )
    if comparison is not None and Change.GONE in fail_on_changes:
        failing += sum(1 for e in comparison.entries if e.current is None)
    return failing


def reviewed_summary(
    rows: Sequence[Row], comparison: Comparison | None, exempted: ExemptionReport | None
) -> Summary:
    """The summary of `rows`, with change counts and the exempt count when they apply."""
    summary = summarize(rows)
    return replace(
        summary,
        changes=dict(comparison.counts) if comparison is not None else None,
        exempt=exempted.exempt_rows if exempted is not None else None,
    )


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
    review: Review | None = None,
    run_facts: Mapping[str, Any] | None = None,
) -> AuditResult:
    """Audit every target, journaling each row as it comes, then write the reports.

    With `resume` (a journal of an earlier run over the same inputs, and its contents), targets
    the journal already has are not asked again; the journal is continued. `review` compares
    the rows with a baseline and applies exemptions; `run_facts` (e.g. `discovery`) are added to
    the report's `run`.
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
    rows.clear()  # the done list holds them now; do not keep two
    done, comparison, exempted = review_rows(done, review or Review())
    summary = reviewed_summary(done, comparison, exempted)
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
        **(run_facts or {}),
    }
    if comparison is not None:
        run["changes"] = comparison.as_run_dict()
    if exempted is not None:
        run["exemptions"] = exempted.as_run_dict()
    document = ReportDocument(done, summary, run, comparison, exempted)
    paths = write_reports(document, settings.out, name, settings.formats)
    return AuditResult(
        summary,
        [*paths, journal_path],
        not missing,
        len(missing),
        tally,
        verdicts,
        runner.guard.open_scopes(),
        count_failing(done, comparison, settings.fail_on, settings.fail_on_changes),
        comparison,
        exempted,
        run,
    )


def report_paths(result: AuditResult) -> Sequence[str]:
    """The files a run wrote, as strings for printing."""
    return [str(p) for p in result.paths]
