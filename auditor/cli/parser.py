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
    demo.add_argument(
        "--accounts",
        type=int,
        default=0,
        metavar="N",
        help="an estate of N accounts: the first one's own, the others reached through IAM "
        "agencies, all listed with --all-projects",
    )
    add_console_options(demo)

    emulator = commands.add_parser("emulator", help="serve the FunctionGraph emulator")
    emulator.add_argument("--port", type=int, default=8080, help="port on 127.0.0.1 (8080)")
    emulator.add_argument("--functions", type=int, default=1000, help="fleet size (1000)")
    emulator.add_argument("--seed", type=int, default=0, help="fleet seed (0)")
    emulator.add_argument(
        "--generation",
        type=int,
        default=0,
        help="serve the fleet as it is N changes later: functions removed, added, fixed and "
        "regressed, the same way every time (0)",
    )
    emulator.add_argument(
        "--projects", type=int, help="projects in the fleet (3; not with --accounts)"
    )
    emulator.add_argument(
        "--regions", default="cn-north-4,ap-southeast-1", help="comma-separated fleet regions"
    )
    emulator.add_argument("--latency-ms", type=float, nargs=2, metavar=("MIN", "MAX"))
    emulator.add_argument(
        "--rate-limit",
        type=int,
        metavar="N",
        help="429 APIG.0308 above N requests in any sliding 1 s window per scope",
    )
    emulator.add_argument(
        "--rate-limit-schedule",
        metavar="T:N,...",
        help="a limit that changes: 0:100,20:30,40:none = 100/s from second 0, 30/s from 20, "
        "none from 40; seconds count from the first rate-limited request after the start or "
        "a stats reset (not with --rate-limit)",
    )
    emulator.add_argument(
        "--rate-limit-scope",
        choices=("user", "project"),
        default="user",
        help="one window per credential across all projects, as Huawei's gateway (user), "
        "or per project (default user)",
    )
    emulator.add_argument("--urns-out", metavar="FILE", help="write the fleet's URNs here")
    emulator.add_argument("--token", help="the X-Auth-Token it accepts (default emulator-token)")
    emulator.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="NAME=P",
        help="inject a fault into a share P of tracing answers, e.g. html_502=0.05 (repeatable)",
    )
    emulator.add_argument(
        "--function-fault",
        action="append",
        default=[],
        metavar="NAME=SHARE",
        help="a share of the fleet's functions, picked by --fault-seed, get fault NAME on every "
        "request, e.g. fss_429=0.05 (repeatable; disjoint functions)",
    )
    emulator.add_argument(
        "--fault-times",
        type=int,
        metavar="N",
        help="a --function-fault function gets its fault on its first N requests only",
    )
    emulator.add_argument(
        "--fault-seed", type=int, default=0, help="seed of fault draws and picks (0)"
    )
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
    emulator.add_argument(
        "--mask-apm-sk",
        action="store_true",
        help="the APM key listing shows each SK masked, as Huawei's docs example does",
    )
    add_estate_options(emulator)
    add_console_options(emulator)

    discover = commands.add_parser(
        "discover", help="list every function of projects via ListFunctions, without auditing"
    )
    add_connection_options(discover)
    add_scope_options(discover)
    discover.add_argument(
        "-o", "--output", metavar="FILE", help="write here (.txt .csv .json); default stdout"
    )
    discover.add_argument("--format", choices=("text", "csv", "json"), help="default: by suffix")
    add_console_options(discover)

    diff = commands.add_parser("diff", help="what changed between two JSON reports, offline")
    diff.add_argument("old", metavar="OLD.json", help="the earlier JSON report (the baseline)")
    diff.add_argument("new", metavar="NEW.json", help="the later JSON report")
    diff.add_argument("-o", "--out", help="report folder (default: NEW's folder)")
    diff.add_argument("--format", help="comma-separated: xlsx,csv,json (default all)")
    diff.add_argument("--name", help="report base name (default <NEW's name>-diff)")
    diff.add_argument("--fail-on", help="changes or statuses that make exit 1 (default regressed)")
    diff.add_argument("--exemptions", metavar="FILE", help="TOML [[exemption]] list")
    add_console_options(diff)

    fix = commands.add_parser(
        "fix",
        help="give the APM keys to the functions a report found without them (plan, then --apply)",
        description="Plan (and with --apply, make) the tracing fix for every missing_keys row "
        "of REPORT: one UpdateTracing per function with the APM keys from AUDITOR_APM_AK and "
        "AUDITOR_APM_SK, each read back. Without --apply nothing is sent.",
    )
    fix.add_argument("report", metavar="REPORT", help="a JSON report or a journal of an audit")
    fix.add_argument("--apply", action="store_true", help="send the changes (default: plan only)")
    fix.add_argument(
        "--include",
        action="append",
        default=[],
        choices=("unexpected_keys",),
        help="also fix functions configured with another AK (expected_tracing_aks)",
    )
    fix.add_argument(
        "--max-changes", type=int, default=500, metavar="N", help="refuse plans over N (500)"
    )
    fix.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    fix.add_argument("--resume", metavar="JOURNAL", help="continue from a <name>.fix.journal.jsonl")
    add_connection_options(fix)
    fix.add_argument("--project", action="append", default=[], metavar="ID", help="only this one")
    fix.add_argument("--region", action="append", default=[], metavar="R", help="only this one")
    fix.add_argument("-o", "--out", help="report folder (default: the report's folder)")
    fix.add_argument("--format", help="comma-separated: xlsx,csv,json (default all)")
    fix.add_argument("--name", help="base name (default: the report's run name)")
    add_console_options(fix)

    history = commands.add_parser(
        "history",
        help="the audits the history store recorded, a function's timeline, prune, import",
        description="List the recorded runs (default), show one function's timeline (--urn), "
        "delete old runs (--prune --keep 180d), backfill from reports (import FILE...), or "
        "bring a PostgreSQL store's tables up to date (migrate).",
    )
    history.add_argument(
        "action", nargs="?", choices=("import", "migrate"), help="import FILE... | migrate"
    )
    history.add_argument("files", nargs="*", metavar="FILE", help="for import: reports, journals")
    history.add_argument("-c", "--config", metavar="FILE", help="TOML config (its history, out)")
    history.add_argument("-o", "--out", help="report folder holding history.sqlite (reports/)")
    add_history_options(history)
    history.add_argument("--urn", help="one function's timeline: each change of its status")
    history.add_argument("--format", choices=("table", "json", "csv"), default="table")
    history.add_argument("--limit", type=int, metavar="N", help="only the newest N runs")
    history.add_argument("--prune", action="store_true", help="delete runs older than --keep")
    history.add_argument("--keep", metavar="AGE", help="with --prune: 180d, 26w")
    add_console_options(history)

    report = commands.add_parser(
        "report", help="rebuild reports from a journal or a JSON report, without the API"
    )
    report.add_argument(
        "sources",
        nargs="+",
        metavar="SOURCE",
        help="a <name>.journal.jsonl journal or a <name>.json report (with --merge, several)",
    )
    report.add_argument(
        "--merge",
        action="store_true",
        help="merge the reports of an estate's shards (--shard K/N) into one report",
    )
    report.add_argument("--format", help="comma-separated: xlsx,csv,json (default all)")
    report.add_argument("-o", "--out", help="report folder (default: the source's folder)")
    report.add_argument("--name", help="report base name (default: the source's run name)")
    add_console_options(report)
    return parser


def add_run_options(parser: argparse.ArgumentParser) -> None:
    add_connection_options(parser)
    add = parser.add_argument
    add("-o", "--out", help="report folder (default reports/)")
    add("--format", help="comma-separated: xlsx,csv,json (default all)")
    add("--name", help="report base name (default tracing-audit-<UTC time>)")
    add(
        "--fail-on",
        help="statuses that make exit 1 (default every one but configured); with --baseline "
        "also regressed, new, gone (--fail-on regressed: only regressions fail)",
    )
    add("--resume", metavar="JOURNAL", help="continue an interrupted run from its journal")
    add("--no-preflight", action="store_true", help="skip the endpoint and credential checks")
    add(
        "--discover",
        action="store_true",
        help="audit every function ListFunctions returns for --project/--region or the "
        "config's [[projects]] (besides any INPUT)",
    )
    add_scope_options(parser)
    add(
        "--baseline",
        metavar="REPORT.json|last",
        help="an earlier JSON report, or `last` (the previous complete run of the same scope "
        "in the history store): add a change column",
    )
    add("--exemptions", metavar="FILE", help="TOML [[exemption]] list: urn/glob, reason, expires")
    add_history_options(parser)
    add(
        "--fail-on-age",
        type=int,
        metavar="DAYS",
        help="only findings open at least DAYS days (days_failing) fail the run: an SLA gate",
    )
    add_console_options(parser)


def add_history_options(parser: argparse.ArgumentParser) -> None:
    add = parser.add_argument
    add(
        "--history",
        metavar="URL",
        help="the history store: a path, sqlite:///PATH or postgresql://user@host:port/db "
        "(default <out>/history.sqlite)",
    )
    add("--no-history", action="store_true", help="record nothing in the history store")


def add_connection_options(parser: argparse.ArgumentParser) -> None:
    add = parser.add_argument
    add("-c", "--config", metavar="FILE", help="TOML config; flags override it")
    add("--endpoint", help="API base URL; may hold {region}")
    add("--iam-endpoint", help="IAM base URL")
    add(
        "--rate",
        type=float,
        help="ceiling in requests/s per endpoint, never exceeded; under it the rate the gateway "
        "allows is learned (default 100; 0 = no ceiling)",
    )
    add("--concurrency", type=int, help="requests in flight (default 32)")
    add("--timeout", type=float, help="seconds per request (default 10)")
    add("--retries", type=int, help="retries after the first attempt (default 4; 429s spend none)")
    add(
        "--throttle-deadline",
        type=float,
        metavar="S",
        help="a 429 is final only after its credential scope had nothing accepted for S "
        "seconds (default 300)",
    )
    add("--credentials", metavar="FILE", help="TOML file with [tokens] per project id")
    add("--auth-failures", type=int, help="refusals in a row before a project is skipped (3)")


def add_scope_options(parser: argparse.ArgumentParser) -> None:
    add = parser.add_argument
    add(
        "--project",
        action="append",
        default=[],
        metavar="ID",
        help="a project to discover (repeatable; pair each with --region, or one --region for all)",
    )
    add(
        "--region",
        action="append",
        default=[],
        metavar="R",
        help="the project's region; with --all-projects, audit only this region (repeatable)",
    )
    add(
        "--all-projects",
        action="store_true",
        help="list every project of the credentials' account (and of the config's [[accounts]], "
        "through their IAM agencies) with IAM, discover and audit all of them",
    )
    add(
        "--exclude-project",
        action="append",
        default=[],
        metavar="ID",
        help="with --all-projects: leave this project (id or name) out (repeatable)",
    )
    add(
        "--shard",
        metavar="K/N",
        help="with --all-projects: audit only share K of N of the projects (a stable split; "
        "one process per share, e.g. a Kubernetes Indexed Job)",
    )
    add(
        "--only-supported",
        action="store_true",
        default=None,
        help="only functions Huawei documents tracing for (Java, >= 512 MB)",
    )


def add_estate_options(emulator: argparse.ArgumentParser) -> None:
    """The `emulator` command's estate: several accounts instead of one account's fleet."""
    estate = emulator.add_argument_group(
        "estate",
        "serve several accounts instead of one: each has a default project per --regions "
        "region (named after it), sub-projects <region>_<suffix> and the billing project MOS "
        "(no functions); the --functions are spread over every project but MOS. The first "
        "account (emulator-domain) is the home account, whose credentials are the ones "
        "printed; the others (emulator-domain-2, -3, ...) trust it through an IAM agency. IAM "
        "then also serves GET /v3/auth/projects, /v3/projects and /v3/auth/domains, "
        "domain-scoped and agency (assume_role) tokens, and temporary keys "
        "(POST /v3.0/OS-CREDENTIAL/securitytokens); every credential works in its own account "
        "only, and the rate limit's users are per account",
    )
    estate.add_argument(
        "--accounts", type=int, metavar="N", help="serve an estate of N accounts (N >= 1)"
    )
    estate.add_argument(
        "--subprojects",
        metavar="SUFFIX,...",
        help='sub-projects of each region in every account, <region>_<suffix> (default ops; "" '
        "for none)",
    )
    estate.add_argument(
        "--agency",
        metavar="NAME",
        help="the agency through which each other account trusts the home account "
        "(default emulator-agency)",
    )
    estate.add_argument(
        "--refusing-account",
        action="append",
        default=[],
        metavar="DOMAIN_NAME",
        help="this account's agency refuses the home account, e.g. emulator-domain-3 (repeatable)",
    )


def add_console_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress or summary")
    parser.add_argument("--log-format", choices=("text", "json"), default="text")
