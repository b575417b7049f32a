"""`auditor demo`: a full audit of the built-in emulator's fleet, offline."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys

from auditor.audit import AuditResult, default_name, report_paths
from auditor.cli.audit_command import audit_async
from auditor.cli.console import EXIT_OK, EXIT_SIGNAL, Console
from auditor.cli.history_command import history_lines, history_plan, open_store
from auditor.cli.progress import summary_table
from auditor.config import Settings, resolve_settings
from auditor.errors import UsageError
from auditor.model import utc_now
from auditor.service.auth import StaticToken
from auditor.service.credential_sources import CredentialSource
from auditor.source.inputs import from_lines
from auditor.store.history import input_scope
from auditor.store.journal import fingerprint
from auditor.verdict.review import Review


def demo_command(args: argparse.Namespace) -> int:
    # The emulator is imported only here and in `emulator`: the pipeline never needs it.
    from auditor.emulator import DEFAULT_TOKEN, REGIONS, EmulatorConfig, Fleet

    if not 1 <= args.functions <= 2_000_000:
        raise UsageError("--functions: choose between 1 and 2000000")
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
    history = review = None
    if store is not None:
        scope = input_scope(fingerprint(inputs.targets.urns), ["demo-fleet"], len(inputs.targets))
        history, standings = history_plan(store, scope, inputs.targets.urns)
        review = Review(standings=standings)

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
            return await audit_async(
                inputs, demo_settings, demo_source, name, console, review=review, history=history
            )

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
