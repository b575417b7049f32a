"""`auditor audit`: read the inputs, build the session, credentials and throttles, run, report."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

import aiohttp

from auditor.audit import AuditResult, default_name, report_paths, run_audit
from auditor.auth import StaticToken
from auditor.breaker import CredentialGuard
from auditor.cli.console import EXIT_FINDINGS, EXIT_OK, EXIT_SIGNAL, LOG, Console
from auditor.client import TracingClient
from auditor.config import Settings, load_config, resolve_settings
from auditor.credential_sources import (
    CredentialSource,
    choose_credentials,
    load_credentials_file,
)
from auditor.errors import UsageError
from auditor.inputs import InputSet, read_inputs
from auditor.journal import JournalContents, fingerprint, read_journal
from auditor.progress import summary_table
from auditor.retry import RetryPolicy
from auditor.rows import utc_now
from auditor.runner import Runner
from auditor.throttle import Throttles


def audit_command(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    config = load_config(Path(args.config)) if args.config else {}
    flags = {
        key: getattr(args, key)
        for key in (
            "endpoint",
            "iam_endpoint",
            "rate",
            "concurrency",
            "timeout",
            "retries",
            "credentials",
            "auth_failures",
        )
    }
    flags |= {"out": args.out, "format": args.format, "name": args.name, "fail_on": args.fail_on}
    settings = resolve_settings(config, flags, config_name=str(args.config or "config"))
    if not args.inputs:
        raise UsageError("no input: give URN list files (.txt .csv .xlsx .json) or - for stdin")
    inputs = read_inputs(args.inputs, stdin=sys.stdin.buffer)
    if not inputs.targets:
        raise UsageError(f"no URNs found in {', '.join(args.inputs)}")
    source = NO_CREDENTIALS
    if any(t.parsed is not None for t in inputs.targets):
        file = None
        if settings.credentials:
            file = load_credentials_file(Path(settings.credentials))
            if file.warning:
                LOG.warning("%s", file.warning)
        source = choose_credentials(env, settings, file)
    resume = None
    if args.resume:
        resume = _load_resume(Path(args.resume), inputs)
        journal_dir = resume[0].parent
        settings = replace(
            settings, name=str(resume[1].header.get("name")), out=Path(args.out or journal_dir)
        )
    return run_job(
        inputs,
        settings,
        source,
        quiet=args.quiet,
        preflight=not args.no_preflight,
        resume=resume,
    )


def _load_resume(path: Path, inputs: InputSet) -> tuple[Path, JournalContents]:
    contents = read_journal(path)
    header = contents.header
    if header.get("fingerprint") != fingerprint(inputs.targets):
        raise UsageError(
            f"--resume {path}: the journal is for a different input set "
            f"({header.get('targets', '?')} entries, these inputs have {len(inputs.targets)}); "
            "give the same inputs as the interrupted run, or run without --resume"
        )
    return path, contents


# Only invalid entries: nothing is sent, so no credential is needed.
NO_CREDENTIALS = CredentialSource("none needed", lambda session, regions: StaticToken(""))


def run_job(
    inputs: InputSet,
    settings: Settings,
    source: CredentialSource,
    *,
    quiet: bool,
    preflight: bool = True,
    resume: tuple[Path, JournalContents] | None = None,
) -> int:
    name = settings.name or default_name(utc_now())
    console = Console(len(inputs.targets), sys.stderr, quiet=quiet)
    LOG.info(
        "auditing %d entries (%d invalid) at rate %s/s per endpoint, concurrency %d",
        len(inputs.targets),
        sum(t.parsed is None for t in inputs.targets),
        settings.rate or "unlimited",
        settings.concurrency,
    )
    result, caught = asyncio.run(
        audit_async(inputs, settings, source, name, console, preflight=preflight, resume=resume)
    )
    console.finish()
    if not quiet:
        print(summary_table(result.summary, report_paths(result)))
        print(f"credentials: {source.method}")
        for project, verdict in result.preflight.items():
            if verdict != "ok":
                print(f"pre-flight: project {project}: {verdict}")
        for scope in result.open_breakers:
            print(f"skipped: {scope}: credentials refused repeatedly, nothing more was sent")
        for endpoint, count in result.tally.throttled.items():
            print(f"throttling: {endpoint} answered 429 {count} times")
        if not result.complete:
            print(f"\nINTERRUPTED: {result.not_audited} URNs not audited (see the JSON report)")
    if caught is not None:
        return EXIT_SIGNAL[caught]
    return EXIT_FINDINGS if result.findings(settings.fail_on) else EXIT_OK


async def audit_async(
    inputs: InputSet,
    settings: Settings,
    source: CredentialSource,
    name: str,
    console: Console,
    *,
    preflight: bool = True,
    resume: tuple[Path, JournalContents] | None = None,
) -> tuple[AuditResult, signal.Signals | None]:
    stop = asyncio.Event()
    caught: list[signal.Signals] = []
    loop = asyncio.get_running_loop()
    for signum in EXIT_SIGNAL:
        loop.add_signal_handler(signum, _on_signal, signum, stop, caught)
    connector = aiohttp.TCPConnector(limit=settings.concurrency, ttl_dns_cache=300)
    try:
        async with aiohttp.ClientSession(connector=connector) as session:
            regions: dict[str, str] = {}
            for target in inputs.targets:
                if target.parsed is not None:
                    regions.setdefault(target.parsed.project_id, target.parsed.region)
            credentials = source.build(session, regions)
            client = TracingClient(
                session,
                credentials,
                endpoint=settings.endpoint,
                endpoints=settings.endpoints,
                timeout=settings.timeout,
            )
            if preflight:
                await _check_endpoints(client, inputs)
            runner = Runner(
                client,
                Throttles(settings.rate or None),
                concurrency=settings.concurrency,
                policy=RetryPolicy(retries=settings.retries),
                guard=CredentialGuard(settings.auth_failures),
            )
            result = await run_audit(
                inputs,
                settings,
                runner,
                name=name,
                credential_method=source.method,
                on_row=console.on_row,
                stop=stop,
                resume=resume,
                preflight=preflight,
            )
    finally:
        for signum in EXIT_SIGNAL:
            loop.remove_signal_handler(signum)
    return result, caught[0] if caught else None


async def _check_endpoints(client: TracingClient, inputs: InputSet) -> None:
    endpoints = sorted({client.endpoint(t.parsed) for t in inputs.targets if t.parsed})
    problems = await asyncio.gather(*(client.unreachable(e) for e in endpoints))
    for endpoint, problem in zip(endpoints, problems, strict=True):
        if problem is not None:
            raise UsageError(
                f"endpoint {endpoint} is unreachable ({problem}); check --endpoint, the "
                "config's endpoints, or the network (--no-preflight skips this check)"
            )


def _on_signal(signum: signal.Signals, stop: asyncio.Event, caught: list[signal.Signals]) -> None:
    if not caught:
        LOG.warning("%s: finishing requests in flight, then writing a partial report", signum.name)
    caught.append(signum)
    stop.set()
