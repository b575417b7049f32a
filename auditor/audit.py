"""Tie the stages together: targets in, a journaled run, reports out.

This is the library's entry point; `auditor/cli/` is a thin shell over it that builds the real
session, client and throttles, and turns errors into messages and exit codes.
"""

from __future__ import annotations

import asyncio
from array import array
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from auditor import __version__
from auditor.config import Settings
from auditor.errors import HistoryError
from auditor.model import Row
from auditor.report.tables import ReportDocument, Summary
from auditor.report.writers import write_reports
from auditor.send.request import RunTally
from auditor.send.runner import Runner
from auditor.source.inputs import InputSet
from auditor.source.targets import Targets
from auditor.source.urn import FunctionUrn
from auditor.store.history import History
from auditor.store.journal import Journal, JournalReader, JournalRows
from auditor.store.runs import RecordedRun, RunFacts, RunScope, run_key
from auditor.verdict.age import Standings
from auditor.verdict.baseline import Comparison
from auditor.verdict.exemptions import ExemptionReport
from auditor.verdict.marking import Criteria, Marker, unmarked
from auditor.verdict.rows import format_time
from auditor.verdict.summary import compliance


@dataclass(frozen=True)
class HistoryPlan:
    """What the history store gives a run and takes from it: the store, the run's scope and
    the scope's recent runs before this one (oldest first, for the Trend sheet and the
    console's change since the last run)."""

    store: History
    scope: RunScope
    trend: list[RecordedRun] = field(default_factory=list)


@dataclass(frozen=True)
class RunOptions:
    """What a run is asked to do besides auditing its targets: check each project's
    credentials first (`preflight`), continue an earlier run's journal over the same inputs
    (`resume`), mark rows against a baseline, exemptions and standings (`criteria`), add facts
    such as `discovery` to the report's `run` (`run_facts`), and be recorded (`history`)."""

    preflight: bool = False
    resume: JournalReader | None = None
    criteria: Criteria | None = None
    run_facts: Mapping[str, Any] = field(default_factory=dict)
    history: HistoryPlan | None = None


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
    recorded: RecordedRun | None = None  # the run as the history store recorded it
    previous: RecordedRun | None = None  # the scope's run before this one, if any
    history_error: str = ""  # why recording failed (the reports are written all the same)


def default_name(started: datetime) -> str:
    """The report base name when `--name` is not given."""
    return started.strftime("tracing-audit-%Y%m%dT%H%M%SZ")


async def run_audit(
    inputs: InputSet,
    settings: Settings,
    runner: Runner,
    options: RunOptions = RunOptions(),  # frozen: one shared default is safe
    *,
    name: str,
    credential_method: str,
    on_row: Callable[[Row], None] | None = None,
    stop: asyncio.Event | None = None,
) -> AuditResult:
    """Audit every target, journaling each row as it comes, then write the reports.

    The run keeps counts, never rows: each row is journaled and counted (summary, changes,
    exemptions, failing findings) as it arrives, and the reports read the rows back from the
    journal in target order. With `options.resume`, targets the earlier journal already has
    are not asked again; the journal is continued. With `options.history`, the run is
    recorded in the store once its reports are written; a store that fails then leaves the
    reports standing and says how to import them later.
    """
    resume, criteria, history = options.resume, options.criteria, options.history
    targets = inputs.targets
    started = runner.now()
    offsets = array("q", [-1]) * len(targets)  # each target's journal line; -1: none yet
    marker = Marker(
        criteria, settings.fail_on, settings.fail_on_changes, started_at=format_time(started)
    )
    header = {
        "name": name,
        "tool_version": __version__,
        "started_at": format_time(started),
        "fingerprint": targets.fingerprint(),
        "targets": len(targets),
    }
    settings.out.mkdir(parents=True, exist_ok=True)
    journal_path = settings.out / f"{name}.journal.jsonl"
    resumed: dict[str, Any] = {}
    if resume is not None:
        journal_path = resume.path
    verdicts: dict[str, str] = {}
    preflight_requests = 0
    # The lines of one event-loop turn go to the OS together, at the start of the next turn.
    defer = asyncio.get_running_loop().call_soon
    with Journal(journal_path, header, resume=resume is not None, defer=defer) as journal:

        def sink(index: int, row: Row) -> None:
            # The journal keeps the marked row, so every report copies it as it is.
            row = marker.add(index, row)
            offsets[index] = journal.record(index, row)
            if on_row is not None:
                on_row(row)

        if resume is not None:
            # Rows an earlier run journaled are marked afresh (today's baseline, exemptions
            # and standings) and journaled again: the later line of a target wins.
            reused = 0
            for index, row in resume.latest_rows(targets.urns, journal.opened_at):
                sink(index, unmarked(row))
                reused += 1
            resumed = {
                "journal": str(journal_path),
                "first_started_at": resume.header.get("started_at", ""),
                "rows_reused": reused,
                "lines_skipped": resume.skipped_lines + journal.torn_lines,
            }
        if options.preflight:
            verdicts, checked = await runner.preflight(_first_per_project(targets, offsets))
            preflight_requests = checked.requests
        tally = await runner.run(targets, sink, skip=lambda i: offsets[i] >= 0, stop=stop)
        written_from = journal.opened_at
    finished = runner.now()
    missing = [targets.urn(i) for i, offset in enumerate(offsets) if offset < 0]
    verdict = marker.finish()
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
        **options.run_facts,
    }
    comparison, exempted = verdict.comparison, verdict.exemptions
    if comparison is not None:
        run["changes"] = comparison.as_run_dict()
    if exempted is not None:
        run["exemptions"] = exempted.as_run_dict()
    rows = JournalRows(journal_path, offsets, raw_from=written_from)
    facts = None
    trend = None
    previous = None
    if history is not None:
        first_started = resumed.get("first_started_at") or run["started_at"]
        # A resumed run's own partial record is not a run before it.
        before = [r for r in history.trend if (r.started_at, r.name) != (first_started, name)]
        previous = before[-1] if before else None
        facts = RunFacts(
            key=run_key(first_started, name),
            name=name,
            scope=history.scope,
            started_at=first_started,
            finished_at=run["finished_at"],
            complete=run["complete"],
            summary=verdict.summary,
            settings=run["settings"],
            tool_version=__version__,
            recorded_at=format_time(finished),
        )
        run["history"] = {
            "store": history.store.where,
            "scope": history.scope.key,
            "scope_label": history.scope.label,
            "previous_run": previous.as_dict() if previous is not None else None,
        }
        trend = [*(r.as_dict() for r in before), _this_run(facts)]
    document = ReportDocument(rows, verdict.summary, run, comparison, exempted, trend=trend)
    paths = write_reports(document, settings.out, name, settings.formats)
    recorded, history_error = None, ""
    if history is not None and facts is not None:
        recorded, history_error = _record(history, facts, rows, criteria, journal_path, offsets)
        if history_error and "json" in settings.formats:
            history_error += f" {settings.out / (name + '.json')}"
        elif history_error:
            history_error += f" {journal_path}"
    return AuditResult(
        summary=verdict.summary,
        paths=[*paths, journal_path],
        complete=not missing,
        not_audited=len(missing),
        tally=tally,
        preflight=verdicts,
        open_breakers=runner.guard.open_scopes(),
        failing=verdict.failing,
        comparison=comparison,
        exemptions=exempted,
        run=run,
        recorded=recorded,
        previous=previous,
        history_error=history_error,
    )


def _this_run(facts: RunFacts) -> dict[str, Any]:
    """This run as the Trend sheet lists it, beside the recorded ones."""
    by_status = facts.summary.by_status
    return {
        "name": facts.name,
        "started_at": facts.started_at,
        "complete": facts.complete,
        "total": facts.summary.total,
        "compliance": compliance(by_status),
        "by_status": dict(by_status),
    }


def _record(
    history: HistoryPlan,
    facts: RunFacts,
    rows: JournalRows,
    criteria: Criteria | None,
    journal_path: Path,
    offsets: array[int],
) -> tuple[RecordedRun | None, str]:
    """Record the run; on failure, why, and how to record it later."""
    standings = criteria.standings if criteria is not None else None
    if standings is None:
        standings = Standings(len(offsets))

    def reread(indices: array[int]) -> Iterator[tuple[int, Row]]:
        subset = array("q", [-1]) * len(offsets)
        for index in indices:
            subset[index] = offsets[index]
        return JournalRows(journal_path, subset).indexed()

    try:
        return history.store.record(facts, rows.records(), standings, reread), ""
    except (HistoryError, OSError) as exc:
        return None, (
            f"the run was not recorded in the history store ({exc}); the reports are "
            "written: record them later with `auditor history import`"
        )


def _first_per_project(targets: Targets, offsets: array[int]) -> list[FunctionUrn]:
    """The first URN still to audit in each project: what the pre-flight check asks about."""
    first: dict[str, int] = {}
    for index, offset in enumerate(offsets):
        _, project = targets.place(index)
        if offset < 0 and project:  # not a URN: no project
            first.setdefault(project, index)
    return [parsed for i in first.values() if (parsed := targets[i].parsed) is not None]


def report_paths(result: AuditResult) -> Sequence[str]:
    """The files a run wrote, as strings for printing."""
    return [str(p) for p in result.paths]
