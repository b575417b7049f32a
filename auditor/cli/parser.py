"""The argument parser: every command and option of the command line."""

from __future__ import annotations

import argparse
from typing import NoReturn

from auditor import __version__
from auditor.cli.console import EXIT_USAGE


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
    add_run_options(audit)

    demo = commands.add_parser("demo", help="audit the built-in emulator's fleet, offline")
    demo.add_argument("--functions", type=int, default=2000, help="fleet size (default 2000)")
    demo.add_argument("--seed", type=int, default=7, help="fleet seed (default 7)")
    demo.add_argument("-o", "--out", default="reports", help="report folder (default reports/)")
    add_console_options(demo)

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
    add_console_options(emulator)

    report = commands.add_parser(
        "report", help="rebuild reports from a journal or a JSON report, without the API"
    )
    report.add_argument(
        "source", metavar="SOURCE", help="a <name>.journal.jsonl journal or a <name>.json report"
    )
    report.add_argument("--format", help="comma-separated: xlsx,csv,json (default all)")
    report.add_argument("-o", "--out", help="report folder (default: the source's folder)")
    report.add_argument("--name", help="report base name (default: the source's run name)")
    add_console_options(report)
    return parser


def add_run_options(parser: argparse.ArgumentParser) -> None:
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
    add_console_options(parser)


def add_console_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress or summary")
    parser.add_argument("--log-format", choices=("text", "json"), default="text")
