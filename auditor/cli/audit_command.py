"""`auditor audit`: read the inputs, build the session, credentials and throttles, run, report."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import signal
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

from auditor.audit import (
    AuditResult,
    RunOptions,
    default_name,
    report_paths,
    run_audit,
)
from auditor.cli.console import EXIT_FINDINGS, EXIT_OK, EXIT_SIGNAL, LOG, Console, SignalStop
from auditor.cli.discover_command import NO_SCOPES
from auditor.cli.estate import Estate, discover_estate, estate_lines
from auditor.cli.history_command import LAST, history_lines, history_plan, open_store
from auditor.cli.progress import summary_table, throttling_lines
from auditor.cli.wiring import (
    api_client,
    credential_source,
    discover,
    log_listings,
    runner_for,
    settings_from,
)
from auditor.config import Settings
from auditor.errors import UsageError
from auditor.model import tracing_supported, utc_now
from auditor.report.inventory import render_inventory
from auditor.report.writers import write_atomically
from auditor.service.auth import StaticToken
from auditor.service.client import TracingClient
from auditor.service.credential_sources import CredentialSource
from auditor.source.inputs import Entry, InputSet, read_inputs
from auditor.source.listing import Listing, entries
from auditor.store.history import History
from auditor.store.journal import JournalReader
from auditor.store.report_file import load_baseline
from auditor.store.runs import input_scope, projects_scope
from auditor.verdict.exemptions import load_exemptions
from auditor.verdict.marking import Criteria


def audit_command(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    settings = settings_from(
        args,
        out=args.out,
        format=args.format,
        name=args.name,
        fail_on=args.fail_on,
        baseline=args.baseline,
        exemptions=args.exemptions,
        history=args.history,
        fail_on_age=args.fail_on_age,
    )
    if args.no_history:
        settings = replace(settings, history=None)
    listing = args.discover or args.all_projects
    if not args.inputs and not listing:
        raise UsageError(
            "no input: give URN list files (.txt .csv .xlsx .json) or - for stdin, "
            "or --discover with --project/--region, or --all-projects"
        )
    if args.discover and not args.all_projects and not settings.projects:
        raise UsageError(NO_SCOPES)
    if (args.exclude_project or args.shard) and not args.all_projects:
        raise UsageError("--exclude-project and --shard go with --all-projects")
    if listing and args.resume:
        flag = "--all-projects" if args.all_projects else "--discover"
        raise UsageError(
            f"--resume with {flag}: the fleet may have changed; resume with the "
            "inventory the run wrote: --resume JOURNAL <name>.inventory.csv"
        )
    if settings.baseline == LAST and settings.history is None:
        raise UsageError("--baseline last reads the history store: drop --no-history")
    criteria = _criteria(settings)
    if settings.fail_on_changes and not settings.baseline:
        changes = ",".join(sorted(c.value for c in settings.fail_on_changes))
        raise UsageError(
            f"--fail-on {changes} needs --baseline PREVIOUS.json (or last) to compare with"
        )
    with contextlib.ExitStack() as closing:

        def store_now() -> History | None:
            """The history store, opened before the first API request (discovery's or the
            audit's): a store that cannot be used stops the run before anything is sent."""
            store = open_store(settings, Path(args.resume).parent if args.resume else None)
            if store is not None:
                closing.callback(store.close)
            return store

        return _audit(args, env, settings, criteria, store_now)


def _audit(
    args: argparse.Namespace,
    env: Mapping[str, str],
    settings: Settings,
    criteria: Criteria,
    store_now: Callable[[], History | None],
) -> int:
    listing = args.discover or args.all_projects
    store = store_now() if listing else None
    if not settings.name and not args.resume:
        settings = replace(settings, name=default_name(utc_now()))
    source: CredentialSource | None = None
    discovered: dict[str, Any] = {}
    extra: list[tuple[str, str, Iterable[Entry]]] = []
    estate: Estate | None = None
    if listing:
        if args.all_projects:
            source, estate, listings = discover_estate(settings, env, args)
        else:
            source = credential_source(env, settings)
            listings = asyncio.run(discover(settings, source, settings.projects))
            log_listings(listings)
        inventory = _write_inventory(settings, listings)
        discovered = {
            "projects": [listing.summary() for listing in listings],
            "complete": all(listing.complete for listing in listings),
            "inventory": str(inventory),
        }
        if estate is not None:
            discovered["all_projects"] = True
        extra.append(("ListFunctions", "discovered", entries(listings)))
    inputs = read_inputs(args.inputs, stdin=sys.stdin.buffer, extra=extra)
    if settings.only_supported:
        inputs, skipped = _only_supported(inputs)
        discovered |= {"only_supported": True, "unsupported_skipped": skipped}
    if not inputs.targets:
        if discovered and not discovered["complete"]:
            raise UsageError(
                "nothing to audit: the listing of every project failed (see the lines above); "
                "check the credentials, --endpoint and the project ids"
            )
        what = ", ".join(args.inputs) or "the discovered projects"
        raise UsageError(f"no URNs found in {what}")
    if source is None:
        source = NO_CREDENTIALS
        if inputs.targets.invalid_count < len(inputs.targets):
            source = credential_source(env, settings)
    resume = None
    if args.resume:
        resume = _load_resume(Path(args.resume), inputs)
        journal_dir = resume.path.parent
        settings = replace(
            settings, name=str(resume.header.get("name")), out=Path(args.out or journal_dir)
        )
    if not args.discover:
        store = store_now()
    history = None
    if store is not None:
        scoped = estate.scopes if estate is not None else settings.projects
        scope = (
            projects_scope((p.project_id, p.region) for p in scoped)
            if listing and not args.inputs
            else input_scope(
                inputs.targets.fingerprint(),
                [i.name for i in inputs.inputs],
                len(inputs.targets),
            )
        )
        last = settings.baseline == LAST
        history, standings, baseline = history_plan(
            store, scope, inputs.targets.urns, baseline_last=last
        )
        criteria = replace(criteria, standings=standings, fail_on_age=settings.fail_on_age)
        if baseline is not None:
            criteria = replace(criteria, baseline=baseline)
    elif settings.fail_on_age is not None:
        raise UsageError(
            "--fail-on-age reads finding age from the history store: drop --no-history"
        )
    options = RunOptions(
        preflight=not args.no_preflight,
        resume=resume,
        criteria=criteria,
        run_facts=_run_facts(discovered, estate),
        history=history,
    )
    code = run_job(inputs, settings, source, options, quiet=args.quiet)
    if estate is not None and estate.unreached and code == EXIT_OK:
        return EXIT_FINDINGS  # an account whose projects could not be listed was not audited
    if discovered and not discovered["complete"] and code == EXIT_OK:
        return EXIT_FINDINGS  # functions of an unfinished listing were not audited
    return code


def _run_facts(discovered: dict[str, Any], estate: Estate | None) -> dict[str, Any]:
    """What discovery and the estate add to the report's `run`."""
    facts: dict[str, Any] = {"discovery": discovered} if discovered else {}
    if estate is not None:
        facts["accounts"] = estate.run_facts()
        facts["shard"] = str(estate.shard) if estate.shard else None
    return facts


def run_notes(result: AuditResult) -> list[str]:
    """Console lines for discovery, the baseline comparison and the exemptions, if any."""
    lines = []
    discovery = result.run.get("discovery") or {}
    for project in discovery.get("projects", []):
        where = f"{project['project_id']} {project['region']}"
        if project.get("account"):
            where += f" (account {project['account']})"
        found = f"{project['functions']} functions in {project['pages']} pages"
        if project["complete"]:
            lines.append(f"discovered: {where}: {found}")
        else:
            lines.append(f"discovery INCOMPLETE: {where}: {found}, then {project['error']}")
    if discovery.get("inventory"):
        lines.append(f"inventory: {discovery['inventory']}")
    lines += estate_lines(result.run.get("accounts") or [])
    if discovery.get("only_supported"):
        lines.append(f"--only-supported: {discovery['unsupported_skipped']} functions left out")
    if result.comparison is not None:
        counts = ", ".join(f"{n} {change}" for change, n in result.comparison.counts.items())
        lines.append(f"changes since {result.comparison.baseline}: {counts}")
    if result.exemptions is not None:
        report = result.exemptions
        lines.append(f"exempt: {report.exempt_rows} findings ({report.source})")
        for entry, would in report.expired:
            lines.append(
                f"EXPIRED exemption {entry.number} ({entry.pattern}, {entry.describe()}): "
                f"{would} findings it would cover now fail"
            )
    return lines


def _criteria(settings: Settings) -> Criteria:
    """Load the baseline and the exemptions before anything is sent: a bad file stops the run
    with one line, not after an hour of requests."""
    from_file = settings.baseline and settings.baseline != LAST
    baseline = load_baseline(Path(settings.baseline)) if from_file else None
    exemptions = load_exemptions(Path(settings.exemptions)) if settings.exemptions else None
    return Criteria(baseline, exemptions, datetime.now().date())


def _write_inventory(settings: Settings, listings: Sequence[Listing]) -> Path:
    """`<out>/<name>.inventory.csv`: what discovery found, to read or to `--resume` with."""
    functions = [f for listing in listings for f in listing.functions]
    path = settings.out / f"{settings.name}.inventory.csv"
    try:
        settings.out.mkdir(parents=True, exist_ok=True)
        return write_atomically(
            path, functools.partial(render_inventory, listings, functions, "csv")
        )
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from None


def _only_supported(inputs: InputSet) -> tuple[InputSet, int]:
    """Drop targets known not to support tracing; targets of unknown runtime stay."""
    targets = inputs.targets
    kept = [
        index
        for index in range(len(targets))
        if tracing_supported(targets.runtime(index), targets.memory_size(index)) is not False
    ]
    unknown = sum(1 for i in kept if not targets.is_invalid(i) and not targets.runtime(i))
    if unknown:
        LOG.warning(
            "--only-supported: %d URNs have no runtime or memory size (a plain URN list), "
            "so they are audited; discover them, or give `auditor discover`'s CSV, to filter",
            unknown,
        )
    return InputSet(targets.subset(kept), inputs.inputs), len(targets) - len(kept)


def _load_resume(path: Path, inputs: InputSet) -> JournalReader:
    journal = JournalReader(path)
    header = journal.header
    if header.get("fingerprint") != inputs.targets.fingerprint():
        raise UsageError(
            f"--resume {path}: the journal is for a different input set "
            f"({header.get('targets', '?')} entries, these inputs have {len(inputs.targets)}); "
            "give the same inputs as the interrupted run, or run without --resume"
        )
    return journal


# Only invalid entries: nothing is sent, so no credential is needed.
NO_CREDENTIALS = CredentialSource("none needed", lambda session, regions: StaticToken(""))


def run_job(
    inputs: InputSet,
    settings: Settings,
    source: CredentialSource,
    options: RunOptions,
    *,
    quiet: bool,
) -> int:
    name = settings.name or default_name(utc_now())
    console = Console(len(inputs.targets), sys.stderr, quiet=quiet)
    LOG.info(
        "auditing %d entries (%d invalid) at rate %s/s per endpoint, concurrency %d",
        len(inputs.targets),
        inputs.targets.invalid_count,
        settings.rate or "unlimited",
        settings.concurrency,
    )
    result, caught = asyncio.run(audit_async(inputs, settings, source, name, console, options))
    console.finish()
    if not quiet:
        print(summary_table(result.summary, report_paths(result)))
        print(f"credentials: {source.method}")
        for project, verdict in result.preflight.items():
            if verdict != "ok":
                print(f"pre-flight: project {project}: {verdict}")
        for scope in result.open_breakers:
            print(f"skipped: {scope}: credentials refused repeatedly, nothing more was sent")
        for line in throttling_lines(result.run.get("throttling", {})):
            print(line)
        for line in run_notes(result):
            print(line)
        for line in history_lines(result):
            print(line)
        if not result.complete:
            print(f"\nINTERRUPTED: {result.not_audited} URNs not audited (see the JSON report)")
    if result.history_error:
        LOG.error("%s", result.history_error)
    if caught is not None:
        return EXIT_SIGNAL[caught]
    return EXIT_FINDINGS if result.failing else EXIT_OK


async def audit_async(
    inputs: InputSet,
    settings: Settings,
    source: CredentialSource,
    name: str,
    console: Console,
    options: RunOptions,
) -> tuple[AuditResult, signal.Signals | None]:
    regions = inputs.targets.regions()
    with SignalStop("requests") as signals:
        async with api_client(settings, source, regions) as client:
            if options.preflight:
                await _check_endpoints(client, inputs)
            runner = runner_for(client, settings, expected_aks=settings.expected_tracing_aks)
            result = await run_audit(
                inputs,
                settings,
                runner,
                options,
                name=name,
                credential_method=source.method,
                on_row=console.on_row,
                stop=signals.stop,
            )
    return result, signals.first


async def _check_endpoints(client: TracingClient, inputs: InputSet) -> None:
    endpoints = sorted({client.endpoint(region) for region in inputs.targets.region_names()})
    problems = await asyncio.gather(*(client.unreachable(e) for e in endpoints))
    for endpoint, problem in zip(endpoints, problems, strict=True):
        if problem is not None:
            raise UsageError(
                f"endpoint {endpoint} is unreachable ({problem}); check --endpoint, the "
                "config's endpoints, or the network (--no-preflight skips this check)"
            )
