"""`auditor demo`: a full audit of the built-in emulator's fleet, offline."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
import tempfile
from pathlib import Path

from auditor.audit import AuditResult, RunOptions, default_name, report_paths
from auditor.cli.audit_command import audit_async, audit_command
from auditor.cli.console import EXIT_OK, EXIT_SIGNAL, Console
from auditor.cli.history_command import history_lines, history_plan, open_store
from auditor.cli.parser import build_parser
from auditor.cli.progress import summary_table
from auditor.config import Settings, resolve_settings
from auditor.errors import UsageError
from auditor.model import utc_now
from auditor.service.auth import StaticToken
from auditor.service.credential_sources import CredentialSource
from auditor.source.inputs import from_lines
from auditor.store.runs import input_scope
from auditor.verdict.marking import Criteria


def demo_command(args: argparse.Namespace) -> int:
    # The emulator is imported only here and in `emulator`: the pipeline never needs it.
    from auditor.emulator import DEFAULT_TOKEN, REGIONS, EmulatorConfig, Fleet

    if not 1 <= args.functions <= 2_000_000:
        raise UsageError("--functions: choose between 1 and 2000000")
    if args.accounts:
        return _estate_demo(args)
    fleet = Fleet.generate(args.functions, seed=args.seed)
    entries = [*fleet.urns(), "urn:fss:cn-north-4:not-a-project:function:default:typo"]
    inputs = from_lines(entries, "demo-fleet")
    settings = resolve_settings({}, {"out": args.out})
    config = EmulatorConfig(latency_ms=(5.0, 40.0))
    if not args.quiet:
        print(
            f"demo: {len(fleet)} functions in {len(fleet.project_ids)} projects x "
            f"{len(REGIONS)} regions, served by the built-in emulator on 127.0.0.1"
        )
    name = default_name(utc_now()).replace("tracing-audit", "demo")
    console = Console(len(inputs.targets), sys.stderr, quiet=args.quiet)
    # Recorded like any audit: a second demo shows what changed since the first one.
    store = open_store(settings)
    history = criteria = None
    if store is not None:
        scope = input_scope(inputs.targets.fingerprint(), ["demo-fleet"], len(inputs.targets))
        history, standings, _ = history_plan(store, scope, inputs.targets.urns)
        criteria = Criteria(standings=standings)

    async def demo() -> tuple[AuditResult, signal.Signals | None]:
        from auditor.emulator import running_emulator

        async with (
            running_emulator(fleet, config) as first,
            running_emulator(fleet, config) as second,
        ):
            endpoints = {REGIONS[0]: first.url, REGIONS[1]: second.url}
            demo_settings = Settings(**{**vars(settings), "endpoints": endpoints, "name": name})
            demo_source = CredentialSource(
                StaticToken.method, lambda session, regions: StaticToken(DEFAULT_TOKEN)
            )
            options = RunOptions(preflight=True, criteria=criteria, history=history)
            return await audit_async(inputs, demo_settings, demo_source, name, console, options)

    try:
        result, caught = asyncio.run(demo())
    finally:
        if store is not None:
            store.close()
    console.finish()
    if not args.quiet:
        print(summary_table(result.summary, report_paths(result)))
        for line in history_lines(result):
            print(line)
        print(
            "\nnext: open the .xlsx, or audit your own fleet: auditor audit URNS.txt, "
            "or auditor audit --discover --project ID --region R (see --help)"
        )
        fixable = result.summary.by_status.get("missing_keys", 0)
        report = next((p for p in result.paths if p.suffix == ".json"), None)
        if fixable and report is not None:
            print(
                f"{fixable} functions could be fixed: auditor fix {report} (prints the plan; "
                "nothing is sent without --apply)"
            )
    return EXIT_SIGNAL[caught] if caught else EXIT_OK


def _estate_demo(args: argparse.Namespace) -> int:
    """`demo --accounts N`: the emulator plays an estate of N accounts (in a child process,
    as a real cloud would be elsewhere) and `audit --all-projects` audits all of it."""
    from auditor.emulator import DEFAULT_TOKEN
    from auditor.emulator.child import start_child

    if not 2 <= args.accounts <= 50:
        raise UsageError("--accounts: choose between 2 and 50")
    with tempfile.TemporaryDirectory(prefix="auditor-demo-") as work:
        child = start_child(
            Path(work),
            functions=args.functions,
            seed=args.seed,
            args=["--accounts", str(args.accounts), "--latency-ms", "5", "40"],
        )
        try:
            config = Path(work) / "estate.toml"
            config.write_text(_estate_config(child.url, args.accounts), encoding="utf-8")
            if not args.quiet:
                print(
                    f"demo: an estate of {args.accounts} accounts ({args.functions} functions) "
                    f"served by the built-in emulator at {child.url}; the config:\n"
                    + config.read_text(encoding="utf-8")
                )
            name = default_name(utc_now()).replace("tracing-audit", "demo-estate")
            audit = ["audit", "--all-projects", "-c", str(config), "-o", args.out]
            audit += ["--name", name, "--log-format", args.log_format]
            parsed = build_parser().parse_args([*audit, *(["-q"] if args.quiet else [])])
            return audit_command(parsed, {"AUDITOR_TOKEN": DEFAULT_TOKEN})
        finally:
            child.stop()


def _estate_config(url: str, accounts: int) -> str:
    lines = [f'endpoint = "{url}"', f'iam_endpoint = "{url}"']
    for number in range(2, accounts + 1):
        lines += [
            "",
            "[[accounts]]",
            f'domain_name = "emulator-domain-{number}"',
            'agency_name = "emulator-agency"',
            f'name = "team-{number}"',
        ]
    return "\n".join(lines) + "\n"
