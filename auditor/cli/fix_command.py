"""`auditor fix REPORT`: plan the tracing fix of a report's findings; with `--apply`, make it.

Without `--apply` nothing is sent: the plan is printed and written as `<name>.fix-plan.csv`.
With it, the APM keys come from `AUDITOR_APM_AK`/`AUDITOR_APM_SK` (read once, never echoed),
plans over `--max-changes` are refused, a terminal asks first unless `--yes`, and every
function ends in `<name>.fix.journal.jsonl` and the fix report (`<name>.fix.json`, `.csv`,
`.xlsx`). Exit 0 when every planned function was fixed (or only a plan was asked for), 1 when
some were not, 2 for usage errors, 130/143 when interrupted (a partial fix report is written).
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import signal
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, BinaryIO, TextIO

from auditor import __version__
from auditor.accounts import Account
from auditor.cli.console import EXIT_FINDINGS, EXIT_OK, EXIT_SIGNAL, SignalStop
from auditor.cli.estate import estate_source
from auditor.cli.wiring import api_client, credential_source, runner_for, settings_from
from auditor.config import Settings
from auditor.errors import UsageError
from auditor.fix.apply import ApmKeys, FixOutcome, FixResult, apply_fixes
from auditor.fix.journal import (
    SUFFIX,
    FixJournal,
    check_resumable,
    plan_fingerprint,
    read_fix_journal,
)
from auditor.fix.plan import FixPlan, PlannedFix, plan_fixes
from auditor.fix.render import FIX_RENDERERS, render_plan_csv, summarize_results
from auditor.model import Status, mask_ak, utc_now
from auditor.report.rebuild import load_source
from auditor.report.writers import write_atomically
from auditor.service.credential_sources import CredentialSource
from auditor.verdict.rows import format_time

APM_AK, APM_SK = "AUDITOR_APM_AK", "AUDITOR_APM_SK"
SHOWN = 10  # planned functions listed on the console


def fix_command(args: argparse.Namespace, env: Mapping[str, str], stdin: TextIO) -> int:
    source = load_source(Path(args.report))
    settings = _settings(args)
    name = args.name or source.name
    out = Path(args.out) if args.out else Path(args.report).parent
    include = {Status.MISSING_KEYS} | {Status(s) for s in args.include}
    plan = plan_fixes(
        source.document.rows,
        include=include,
        projects=frozenset(args.project),
        regions=frozenset(args.region),
    )
    if not args.quiet:
        for line in plan_lines(plan):
            print(line)
    if not args.apply:
        path = _write(out / f"{name}.fix-plan.csv", functools.partial(render_plan_csv, plan))
        if not args.quiet:
            print(f"plan written to {path}; nothing was sent (add --apply to make the changes)")
        return EXIT_OK
    keys = _apm_keys(env)
    if len(plan.items) > args.max_changes:
        raise UsageError(
            f"the plan has {len(plan.items)} changes, more than --max-changes "
            f"{args.max_changes}; narrow it with --project/--region or raise --max-changes"
        )
    if not plan.items:
        if not args.quiet:
            print("nothing to fix")
        return EXIT_OK
    if not args.yes and stdin.isatty() and not _confirmed(len(plan.items), stdin):
        print("aborted: nothing was sent")
        return EXIT_OK
    return _apply(args, settings, env, plan, keys, name, out, str(source.path))


def plan_lines(plan: FixPlan) -> list[str]:
    """The plan for the console: counts per project and status, then the first functions."""
    lines = [f"plan: {len(plan.items)} functions to fix"]
    for project, counts in plan.by_project_status().items():
        detail = ", ".join(f"{status} {count}" for status, count in counts.items())
        lines.append(f"  project {project}: {detail}")
    for item in plan.items[:SHOWN]:
        lines.append(f"  {item.status.value:<16} {item.urn}")
    if len(plan.items) > SHOWN:
        lines.append(f"  ... and {len(plan.items) - SHOWN} more (see the plan CSV)")
    if plan.skipped:
        skipped = ", ".join(f"{reason} {n}" for reason, n in sorted(plan.skipped.items()))
        lines.append(f"not planned: {skipped}")
    return lines


def _settings(args: argparse.Namespace) -> Settings:
    # --project/--region narrow the plan here; they are not discovery pairs.
    narrowed = argparse.Namespace(**{**vars(args), "project": [], "region": []})
    return settings_from(narrowed, format=args.format)


def _apm_keys(env: Mapping[str, str]) -> ApmKeys:
    ak, sk = env.get(APM_AK, "").strip(), env.get(APM_SK, "")
    if not ak or not sk:
        raise UsageError(f"--apply needs the APM keys in {APM_AK} and {APM_SK} (both set)")
    return ApmKeys(ak, sk)


def _confirmed(count: int, stdin: TextIO) -> bool:
    print(f"Give the APM keys to {count} functions? [y/N] ", end="", flush=True)
    return stdin.readline().strip().lower() in ("y", "yes")


def _apply(
    args: argparse.Namespace,
    settings: Settings,
    env: Mapping[str, str],
    plan: FixPlan,
    keys: ApmKeys,
    name: str,
    out: Path,
    source: str,
) -> int:
    fingerprint = plan_fingerprint(plan.items)
    done: list[FixResult] = []
    if args.resume:
        journal_path = Path(args.resume)
        contents = read_fix_journal(journal_path)
        check_resumable(contents, journal_path, fingerprint)
        done = contents.results
        started = contents.header.get("started_at", "")
    else:
        journal_path = out / f"{name}{SUFFIX}"
        started = format_time(utc_now())
        if journal_path.exists():
            raise UsageError(
                f"{journal_path} exists: resume it with --resume {journal_path}, or give --name"
            )
    finished_urns = {result.urn for result in done}
    todo = [item for item in plan.items if item.urn not in finished_urns]
    header = {
        "name": name,
        "tool_version": __version__,
        "started_at": started,
        "source": source,
        "planned": len(plan.items),
        "fingerprint": fingerprint,
    }
    credentials = estate_source(credential_source(env, settings), settings, _routes(todo, settings))
    out.mkdir(parents=True, exist_ok=True)
    results = list(done)
    with FixJournal(journal_path, header, resume=bool(args.resume)) as journal:

        def record(result: FixResult) -> None:
            journal.record(result)
            results.append(result)

        caught = asyncio.run(_run(settings, credentials, todo, keys, record))
    by_urn = {result.urn: result for result in results}
    ordered = [by_urn[item.urn] for item in plan.items if item.urn in by_urn]
    complete = len(ordered) == len(plan.items)
    run: dict[str, Any] = {
        "name": name,
        "source": source,
        "started_at": started,
        "finished_at": format_time(utc_now()),
        "complete": complete,
        "planned": len(plan.items),
        "not_done": [item.urn for item in plan.items if item.urn not in by_urn],
        "apm_ak": mask_ak(keys.ak),
        "include": sorted({item.status.value for item in plan.items}),
        "settings": {**settings.public(), "credentials": credentials.method},
        "journal": str(journal_path),
        "resumed": bool(args.resume),
    }
    paths = [
        _write(out / f"{name}.fix.{fmt}", functools.partial(FIX_RENDERERS[fmt], ordered, run))
        for fmt in settings.formats
    ]
    summary = summarize_results(ordered)
    if not args.quiet:
        counts = ", ".join(f"{o} {n}" for o, n in summary["by_outcome"].items()) or "none"
        print(f"fix: {counts} (of {len(plan.items)} planned)")
        for path in [*paths, journal_path]:
            print(f"  {path}")
        if not complete:
            print(f"INTERRUPTED: resume with --resume {journal_path}")
    if caught is not None:
        return EXIT_SIGNAL[caught]
    failed = any(result.outcome is not FixOutcome.FIXED for result in ordered)
    return EXIT_FINDINGS if failed or not complete else EXIT_OK


async def _run(
    settings: Settings,
    credentials: CredentialSource,
    todo: list[PlannedFix],
    keys: ApmKeys,
    record: Callable[[FixResult], None],
) -> signal.Signals | None:
    regions = {item.parsed.project_id: item.parsed.region for item in todo}
    with SignalStop("changes") as signals:
        async with api_client(settings, credentials, regions) as client:
            await apply_fixes(
                todo,
                client,
                runner_for(client, settings),
                keys,
                concurrency=settings.concurrency,
                on_result=record,
                now=utc_now,
                format_time=format_time,
                stop=signals.stop,
            )
    return signals.first


def _routes(todo: Sequence[PlannedFix], settings: Settings) -> dict[str, Account]:
    """The projects of an estate report's other accounts (by the report's `account`, the
    config's `[[accounts]]` `name`), each to be fixed through its account's agency."""
    accounts = {account.name: account for account in settings.accounts}
    return {
        item.parsed.project_id: accounts[item.account] for item in todo if item.account in accounts
    }


def _write(path: Path, render: Callable[[BinaryIO], None]) -> Path:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return write_atomically(path, render)
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from None
