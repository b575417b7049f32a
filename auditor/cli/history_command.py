"""`auditor history`: the runs the history store recorded, one function's timeline, pruning,
backfilling from old reports, and migrating a PostgreSQL store; plus the store's part in
`auditor audit` (opening it, the console lines after a run)."""

from __future__ import annotations

import argparse
import csv
import io
import json
import re
import sys
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

from auditor import __version__
from auditor.audit import AuditResult, HistoryPlan
from auditor.cli.console import EXIT_OK, LOG
from auditor.cli.wiring import settings_from
from auditor.config import Settings
from auditor.errors import UsageError
from auditor.model import Row, utc_now
from auditor.report.rebuild import RebuildSource, load_source
from auditor.source.targets import fingerprint
from auditor.store.database import is_postgres, locate
from auditor.store.history import History
from auditor.store.runs import (
    RecordedRun,
    RunFacts,
    RunScope,
    input_scope,
    projects_scope,
    run_key,
)
from auditor.verdict.age import SLA_DAYS, Standings
from auditor.verdict.baseline import Baseline
from auditor.verdict.marking import Criteria, Marker
from auditor.verdict.rows import format_time, to_record
from auditor.verdict.summary import STATUS_ORDER, summarize

LAST = "last"  # `--baseline last`
TREND_RUNS = 30  # runs on the Trend sheet, this one included
_KEEP = re.compile(r"(\d+)([dw])\Z")


def open_store(settings: Settings, resume_dir: Path | None = None) -> History | None:
    """The run's history store, opened and checked (None with `--no-history`)."""
    if settings.history is None:
        return None
    out = settings.out if resume_dir is None or settings.out != Path("reports") else resume_dir
    return History.open(locate(settings.history, out))


def history_plan(
    store: History, scope: RunScope, urns: Sequence[str], *, baseline_last: bool = False
) -> tuple[HistoryPlan, Standings, Baseline | None]:
    """What a run over `urns` takes from the store before it starts: the scope's recent runs
    (Trend sheet, change since the last run), each URN's standing (finding age) and, with
    `--baseline last`, the scope's previous complete run as the baseline (None when the
    store has none; a warning says so)."""
    plan = HistoryPlan(store, scope, store.trend(scope.key, limit=TREND_RUNS - 1))
    last = store.last_run(scope.key) if baseline_last else None
    if baseline_last and last is None:
        LOG.warning(
            "--baseline last: no earlier complete run of this scope in %s; "
            "this run has nothing to compare with",
            store.where,
        )
    standings, baseline = store.before_run(urns, last)
    return plan, standings, baseline


def history_lines(result: AuditResult) -> list[str]:
    """Console lines after a run: where it was recorded, the change since the scope's last
    run, and the findings open past the SLA."""
    if result.recorded is None:
        return []
    lines = []
    previous = result.previous
    now = result.summary.by_status
    if previous is not None:
        statuses = [
            s.value for s in STATUS_ORDER if s.value in now or s.value in previous.by_status
        ]
        moved = []
        for status in statuses:
            delta = now.get(status, 0) - previous.by_status.get(status, 0)
            if delta:
                moved.append(f"{status} {now.get(status, 0)} ({delta:+d})")
        share = _share_change(previous.compliance, result.recorded.compliance)
        what = ", ".join(moved) if moved else "no status changed in number"
        lines.append(f"since the last run ({previous.started_at}, {previous.name}): {what}{share}")
    if result.summary.aged:
        lines.append(f"{result.summary.aged} findings open longer than {SLA_DAYS} days")
    lines.append(
        f"history: recorded as run {result.recorded.run_id} in {result.run['history']['store']}"
    )
    return lines


def _share_change(before: float | None, after: float | None) -> str:
    if before is None or after is None:
        return ""
    return f"; compliance {before:.1f} % -> {after:.1f} % ({after - before:+.1f})"


# --- auditor history --------------------------------------------------------------------------


def history_command(args: argparse.Namespace) -> int:
    settings = settings_from(args, out=args.out, history=args.history)
    if args.no_history or settings.history is None:
        raise UsageError("auditor history needs a store: drop --no-history / history = false")
    location = locate(settings.history or "", settings.out)
    if args.action != "import" and args.files:
        raise UsageError(f"unexpected arguments: {' '.join(args.files)} (import FILE... ?)")
    if args.action == "migrate":
        with History.open(location, migrate=True) as store:
            print(f"history store {store.where}: at schema {store.version()}")
        return EXIT_OK
    if args.action is None and not is_postgres(location) and not Path(location).exists():
        raise UsageError(
            f"no history store at {location}: run an audit first, or give --history/--out"
        )
    with History.open(location) as store:
        if args.action == "import":
            return _import(store, args.files)
        if args.prune:
            return _prune(store, args.keep)
        if args.keep:
            raise UsageError("--keep goes with --prune")
        if args.urn:
            return _timeline(store, args.urn, args.format)
        return _runs(store, args.format, args.limit)


def _runs(store: History, fmt: str, limit: int | None) -> int:
    runs = store.runs(limit=limit)
    records = [run.as_dict() for run in runs]
    if fmt == "json":
        print(json.dumps({"store": store.where, "runs": records}, indent=2))
        return EXIT_OK
    columns = ["run_id", "started_at", "name", "scope_label", "complete", "total", "compliance"]
    statuses = [s.value for s in STATUS_ORDER if any(s.value in r.by_status for r in runs)]
    table = [
        [*(r[c] for c in columns), *(r["by_status"].get(s, 0) for s in statuses)] for r in records
    ]
    header = [*columns, *statuses]
    if fmt == "csv":
        _csv(header, table)
    else:
        print(f"history store {store.where}: {len(runs)} runs")
        _table(header, table)
    return EXIT_OK


def _timeline(store: History, urn: str, fmt: str) -> int:
    standing, entries = store.timeline(urn)
    if standing is None and not entries:
        raise UsageError(f"{urn}: not in the history store {store.where}")
    rows = [[e.checked_at, e.run, e.previous_status, e.status, e.failing_since] for e in entries]
    header = ["checked_at", "run", "previous_status", "status", "failing_since"]
    if fmt == "json":
        changes = [dict(zip(header, row, strict=True)) for row in rows]
        print(json.dumps({"urn": urn, "now": standing, "changes": changes}, indent=2))
    elif fmt == "csv":
        _csv(header, rows)
    else:
        assert standing is not None
        since = standing["failing_since"]
        state = f"failing since {since}" if since else "not failing"
        print(f"{urn}\nfirst seen {standing['first_seen']}; now {standing['status']}, {state}")
        _table(header, rows)
    return EXIT_OK


def _prune(store: History, keep: str | None) -> int:
    if not keep:
        raise UsageError("--prune needs --keep AGE (e.g. --keep 180d or 26w)")
    matched = _KEEP.match(keep.strip())
    if matched is None:
        raise UsageError(f"--keep {keep}: expected days or weeks, e.g. 180d or 26w")
    days = int(matched.group(1)) * (7 if matched.group(2) == "w" else 1)
    before = format_time(utc_now() - timedelta(days=days))
    pruned = store.prune(before)
    print(
        f"pruned {pruned.runs} runs started before {before} ({pruned.results} result rows); "
        "every function's standing, age and timeline are kept"
    )
    return EXIT_OK


def _import(store: History, files: Sequence[str]) -> int:
    if not files:
        raise UsageError("history import needs FILE...: JSON reports or journals")
    sources = [load_source(Path(file)) for file in files]
    # Oldest first: finding age follows the runs in the order they happened.
    sources.sort(key=lambda source: _started(source))
    for source in sources:
        recorded = _record(store, source)
        print(
            f"imported {source.path}: run {recorded.run_id}, {recorded.name}, "
            f"{recorded.started_at}, {recorded.total} rows"
        )
    return EXIT_OK


def _started(source: RebuildSource) -> str:
    run = source.document.run
    resumed = run.get("resumed") or {}
    return str(resumed.get("first_started_at") or run.get("started_at") or "")


def _record(store: History, source: RebuildSource) -> RecordedRun:
    """Record one JSON report or journal as a run, ageing its rows from the store."""
    run = source.document.run
    rows = list(source.document.rows)
    urns = [row.urn for row in rows]
    standings = store.standings(urns)
    started = _started(source)
    # Only the age is marked afresh (from the store); the report's change and exemption
    # marks stay as they were.
    marker = Marker(Criteria(standings=standings), started_at=started)
    marked: list[Row] = [marker.mark(index, row) for index, row in enumerate(rows)]
    facts = RunFacts(
        key=run_key(started, source.name),
        name=source.name,
        scope=_scope(run, urns, source),
        started_at=started,
        finished_at=str(run.get("finished_at") or started),
        complete=bool(run.get("complete", True)),
        summary=summarize(marked),
        settings=run.get("settings") or {},
        tool_version=str(run.get("tool_version") or __version__),
        recorded_at=format_time(utc_now()),
        recorded_from=f"import {source.path.name}",
    )
    records = ((index, to_record(row)) for index, row in enumerate(marked))
    # A run older than one the store holds adds its rows and totals, not its standings.
    return store.record(
        facts,
        records,
        standings,
        lambda found: [(i, marked[i]) for i in found],
        update_standings=not store.has_run_after(started),
    )


def _scope(run: dict[str, Any], urns: list[str], source: RebuildSource) -> RunScope:
    history = run.get("history") or {}
    if history.get("scope"):
        return RunScope(history["scope"], history.get("scope_label", ""))
    discovery = run.get("discovery") or {}
    projects = discovery.get("projects") or []
    if projects and not run.get("inputs"):
        return projects_scope((p["project_id"], p["region"]) for p in projects)
    names = [str(i.get("name", "")) for i in run.get("inputs") or []] or [source.path.name]
    return input_scope(fingerprint(urns), names, len(urns))


def _table(header: list[str], rows: list[list[Any]]) -> None:
    texts = [[_cell(value) for value in row] for row in rows]
    widths = [max([len(h), *(len(r[i]) for r in texts)]) for i, h in enumerate(header)]
    print("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    for row in texts:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)))


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.1f}"
    return str(value)


def _csv(header: list[str], rows: list[list[Any]]) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    sys.stdout.write(buffer.getvalue())
