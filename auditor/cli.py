"""The command line: the only module that reads argv and the environment, prints, or exits.

Each command is a short wrapper: it builds the real session, client, throttles and credentials,
hands them to the library, and turns `AuditorError`s into one-line messages and exit codes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, NoReturn, TextIO

import aiohttp

from auditor import __version__
from auditor.audit import AuditResult, default_name, report_paths, run_audit
from auditor.auth import StaticToken
from auditor.breaker import CredentialGuard
from auditor.client import TracingClient
from auditor.config import Settings, load_config, resolve_settings
from auditor.credential_sources import (
    CredentialSource,
    choose_credentials,
    load_credentials_file,
)
from auditor.errors import AuditorError, UsageError
from auditor.inputs import InputSet, from_lines, read_inputs
from auditor.journal import JournalContents, fingerprint, read_journal
from auditor.model import Row
from auditor.progress import Progress, summary_table
from auditor.rebuild import rebuild_reports
from auditor.retry import RetryPolicy
from auditor.rows import utc_now
from auditor.runner import Runner
from auditor.throttle import Throttles

EXIT_OK, EXIT_FINDINGS, EXIT_USAGE = 0, 1, 2
EXIT_SIGNAL = {signal.SIGINT: 130, signal.SIGTERM: 143}
LOG = logging.getLogger("auditor")
PROGRESS_LOG_EVERY = 10.0


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line and exit 2, like every other usage error."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="auditor",
        description="Audit the tracing (APM) configuration of FunctionGraph functions.",
    )
    parser.add_argument("--version", action="version", version=f"auditor {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    audit = commands.add_parser("audit", help="audit the functions named in URN lists")
    audit.add_argument("inputs", nargs="*", metavar="INPUT", help=".txt .csv .xlsx .json, or -")
    _add_run_options(audit)

    demo = commands.add_parser("demo", help="audit the built-in emulator's fleet, offline")
    demo.add_argument("--functions", type=int, default=2000, help="fleet size (default 2000)")
    demo.add_argument("--seed", type=int, default=7, help="fleet seed (default 7)")
    demo.add_argument("-o", "--out", default="reports", help="report folder (default reports/)")
    _add_console_options(demo)

    emulator = commands.add_parser("emulator", help="serve the FunctionGraph emulator")
    emulator.add_argument("--port", type=int, default=8080, help="port on 127.0.0.1 (8080)")
    emulator.add_argument("--functions", type=int, default=1000, help="fleet size (1000)")
    emulator.add_argument("--seed", type=int, default=0, help="fleet seed (0)")
    emulator.add_argument("--latency-ms", type=float, nargs=2, metavar=("MIN", "MAX"))
    emulator.add_argument("--rate-limit", type=int, help="429 above N requests/s per project")
    emulator.add_argument("--urns-out", metavar="FILE", help="write the fleet's URNs here")
    emulator.add_argument("--token", help="the X-Auth-Token it accepts (default emulator-token)")
    emulator.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="NAME=P",
        help="inject a fault into a share P of tracing answers, e.g. html_502=0.05 (repeatable)",
    )
    emulator.add_argument("--fault-seed", type=int, default=0, help="seed of fault draws (0)")
    emulator.add_argument(
        "--reject-project",
        action="append",
        default=[],
        metavar="ID",
        help="this project refuses every credential (repeatable)",
    )
    emulator.add_argument(
        "--token-lifetime-requests",
        type=int,
        metavar="N",
        help="IAM-issued tokens expire after N requests",
    )
    emulator.add_argument(
        "--retry-after", type=float, default=1.0, help="Retry-After of fss_429_retry_after (1)"
    )
    _add_console_options(emulator)

    report = commands.add_parser(
        "report", help="rebuild reports from a journal or a JSON report, without the API"
    )
    report.add_argument(
        "source", metavar="SOURCE", help="a <name>.journal.jsonl journal or a <name>.json report"
    )
    report.add_argument("--format", help="comma-separated: xlsx,csv,json (default all)")
    report.add_argument("-o", "--out", help="report folder (default: the source's folder)")
    report.add_argument("--name", help="report base name (default: the source's run name)")
    _add_console_options(report)
    return parser


def _add_run_options(parser: argparse.ArgumentParser) -> None:
    add = parser.add_argument
    add("-c", "--config", metavar="FILE", help="TOML config; flags override it")
    add("--endpoint", help="API base URL; may hold {region}")
    add("--iam-endpoint", help="IAM base URL")
    add("--rate", type=float, help="requests/s per endpoint, 0 = unlimited (default 100)")
    add("--concurrency", type=int, help="requests in flight (default 32)")
    add("--timeout", type=float, help="seconds per request (default 10)")
    add("--retries", type=int, help="retries after the first attempt (default 4)")
    add("-o", "--out", help="report folder (default reports/)")
    add("--format", help="comma-separated: xlsx,csv,json (default all)")
    add("--name", help="report base name (default tracing-audit-<UTC time>)")
    add("--fail-on", help="statuses that make exit 1 (default every one but configured)")
    add("--resume", metavar="JOURNAL", help="continue an interrupted run from its journal")
    add("--credentials", metavar="FILE", help="TOML file with [tokens] per project id")
    add("--auth-failures", type=int, help="refusals in a row before a project is skipped (3)")
    add("--no-preflight", action="store_true", help="skip the endpoint and credential checks")
    _add_console_options(parser)


def _add_console_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress or summary")
    parser.add_argument("--log-format", choices=("text", "json"), default="text")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code."""
    args = build_parser().parse_args(argv)
    _configure_logging(args.quiet, args.log_format)
    try:
        if args.command == "audit":
            return _audit_command(args, os.environ)
        if args.command == "demo":
            return _demo_command(args)
        if args.command == "report":
            return _report_command(args)
        return _emulator_command(args)
    except AuditorError as exc:
        print(f"auditor: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return EXIT_SIGNAL[signal.SIGINT]


def _audit_command(args: argparse.Namespace, env: Mapping[str, str]) -> int:
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
    source = _NO_CREDENTIALS
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
    return _run(
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
_NO_CREDENTIALS = CredentialSource("none needed", lambda session, regions: StaticToken(""))


def _run(
    inputs: InputSet,
    settings: Settings,
    source: CredentialSource,
    *,
    quiet: bool,
    preflight: bool = True,
    resume: tuple[Path, JournalContents] | None = None,
) -> int:
    name = settings.name or default_name(utc_now())
    console = _Console(len(inputs.targets), sys.stderr, quiet=quiet)
    LOG.info(
        "auditing %d entries (%d invalid) at rate %s/s per endpoint, concurrency %d",
        len(inputs.targets),
        sum(t.parsed is None for t in inputs.targets),
        settings.rate or "unlimited",
        settings.concurrency,
    )
    result, caught = asyncio.run(
        _audit_async(inputs, settings, source, name, console, preflight=preflight, resume=resume)
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


async def _audit_async(
    inputs: InputSet,
    settings: Settings,
    source: CredentialSource,
    name: str,
    console: _Console,
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


def _demo_command(args: argparse.Namespace) -> int:
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
    console = _Console(len(inputs.targets), sys.stderr, quiet=args.quiet)

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
            return await _audit_async(inputs, demo_settings, demo_source, name, console)

    result, caught = asyncio.run(demo())
    console.finish()
    if not args.quiet:
        print(summary_table(result.summary, report_paths(result)))
        print("\nnext: open the .xlsx, or audit your own list: auditor audit URNS.txt --help")
    return EXIT_SIGNAL[caught] if caught else EXIT_OK


def _report_command(args: argparse.Namespace) -> int:
    settings = resolve_settings({}, {"format": args.format, "name": args.name})
    out = Path(args.out) if args.out else None
    try:
        source, paths = rebuild_reports(
            Path(args.source), settings.formats, out_dir=out, name=settings.name or None
        )
    except OSError as exc:
        where = out or Path(args.source).parent
        raise UsageError(f"cannot write reports to {where}: {exc.strerror or exc}") from None
    run = source.document.run
    if not run.get("complete", True):
        missing = run.get("not_audited_count", len(run.get("not_audited") or ()))
        LOG.warning(
            "partial report (%s not audited): to finish the run, repeat the audit with "
            "--resume and its journal",
            missing,
        )
    if not args.quiet:
        for path in paths:
            print(path)
    return EXIT_OK


def _emulator_command(args: argparse.Namespace) -> int:
    from auditor.emulator import (
        DEFAULT_AK,
        DEFAULT_DOMAIN,
        DEFAULT_PASSWORD,
        DEFAULT_SK,
        DEFAULT_TOKEN,
        DEFAULT_USER,
        EmulatorConfig,
        Fleet,
        parse_fault_spec,
        running_emulator,
    )

    if not 0 <= args.port <= 65535:
        raise UsageError(f"--port: {args.port} is not a port number")
    try:
        faults = dict(parse_fault_spec(spec) for spec in args.fault)
    except ValueError as exc:
        raise UsageError(f"--fault: {exc}") from None
    fleet = Fleet.generate(args.functions, seed=args.seed)
    if args.urns_out:
        try:
            Path(args.urns_out).write_text("\n".join(fleet.urns()) + "\n", encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"--urns-out {args.urns_out}: {exc.strerror or exc}") from None
    try:
        config = EmulatorConfig(
            token=args.token or DEFAULT_TOKEN,
            latency_ms=tuple(args.latency_ms) if args.latency_ms else (0.0, 0.0),
            rate_limit=args.rate_limit,
            faults=faults,
            fault_seed=args.fault_seed,
            retry_after_s=args.retry_after,
            reject_projects=frozenset(args.reject_project),
            token_lifetime_requests=args.token_lifetime_requests,
        )
    except ValueError as exc:
        raise UsageError(f"emulator: {exc}") from None

    # Even a test server's custom token is not echoed; only the well-known default is.
    shown_token = DEFAULT_TOKEN if config.token == DEFAULT_TOKEN else "<your --token>"

    async def serve() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in EXIT_SIGNAL:
            loop.add_signal_handler(signum, stop.set)
        try:
            async with running_emulator(fleet, config, port=args.port) as server:
                url = server.url
                print(
                    f"emulator: {len(fleet)} functions, projects {', '.join(fleet.project_ids)}\n"
                    f"serving {url} (Ctrl-C to stop); audit it with one of:\n"
                    f"  AUDITOR_TOKEN={shown_token} auditor audit URNS.txt --endpoint {url}\n"
                    f"  HUAWEICLOUD_SDK_AK={DEFAULT_AK} HUAWEICLOUD_SDK_SK={DEFAULT_SK} "
                    f"auditor audit URNS.txt --endpoint {url}\n"
                    f"  HUAWEICLOUD_USERNAME={DEFAULT_USER} "
                    f"HUAWEICLOUD_PASSWORD={DEFAULT_PASSWORD} "
                    f"HUAWEICLOUD_DOMAIN_NAME={DEFAULT_DOMAIN} "
                    f"auditor audit URNS.txt --endpoint {url} --iam-endpoint {url}",
                    flush=True,
                )
                await stop.wait()
        except OSError as exc:
            raise UsageError(f"--port {args.port}: {exc.strerror or exc}") from None

    asyncio.run(serve())
    return EXIT_OK


class _Console:
    """Progress: a redrawn bar on a terminal, a log line every 10 s otherwise."""

    def __init__(self, total: int, stream: TextIO, *, quiet: bool) -> None:
        self._stream = stream
        self._quiet = quiet
        self._tty = stream.isatty()
        self._progress = Progress(total, time.monotonic())
        self._last = 0.0
        self._interval = 0.1 if self._tty else PROGRESS_LOG_EVERY

    def on_row(self, row: Row) -> None:
        self._progress.add(row.status)
        now = time.monotonic()
        if not self._quiet and now - self._last >= self._interval:
            self._last = now
            self._show(now)

    def _show(self, now: float) -> None:
        if self._tty:
            self._stream.write("\r" + self._progress.line(now) + "\x1b[K")
            self._stream.flush()
        else:
            LOG.info("progress %s", self._progress.line(now))

    def finish(self) -> None:
        if self._quiet:
            return
        self._show(time.monotonic())
        if self._tty:
            self._stream.write("\n")
            self._stream.flush()


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        return json.dumps(entry, ensure_ascii=False)


def _configure_logging(quiet: bool, log_format: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if log_format == "json":
        handler.setFormatter(_JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    LOG.handlers[:] = [handler]
    LOG.setLevel(logging.WARNING if quiet else logging.INFO)
    LOG.propagate = False
