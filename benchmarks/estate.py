"""Every account's limit ridden at once: `auditor audit --all-projects` over an emulated estate
of many accounts, each behind a gateway limit of its own (issue 15, point 7).

The emulator plays the estate (`--accounts N --functions F`, F the whole fleet, spread evenly
over every account's projects but `MOS`) with a per-user limit (`--rate-limit L`, scope
`user`): the home account's token is one limiter key, and every agency token of another
account (one per project) is that account's agency user, `user:<domain>/<agency>`, one key per
account. So the estate allows N × L requests/s in all, and the ideal audit takes F ÷ (N × L)
seconds. Before the audit, one burst of 2L requests per account (the home token; account 2
through two project tokens; account 3 through one) checks that the emulator limits exactly so.

The audit runs as a whole process: `auditor audit --all-projects -c estate.toml` (N - 1
`[[accounts]]` entries, endpoint and IAM endpoint the emulator) with `AUDITOR_TOKEN`,
`--rate 0 --concurrency C --format json --retries 0 --no-history`. Why those:

- `--rate 0`: `--rate` is a ceiling per API endpoint, and here one endpoint serves every
  account, so a ceiling is shared by all N accounts. One under N × L would cap the run below
  its ideal; one above it never binds once each account's rate is learned (the learned rates
  add up to N × L at most), and while nothing is learned its pacer hands out slots in input
  order, account after account. No ceiling leaves each account's controller alone to find L.
- `--concurrency 256`: enough for N × L requests/s at the emulator's 20-60 ms latency
  (~40 in flight) with a queue at every account's learned rate besides (50 scopes) — if the
  workers were spread over the accounts. They are not: the pool takes targets in input order
  (discovery's: account after account, ~1,900 each) and a worker waits at its target's scope
  while it holds it, so 256 workers hold one or two accounts' targets at a time. No
  concurrency short of the whole fleet changes that; the figure's detail shows it (accounts
  answered per second, each account's rate while it was being audited).
- `--retries 0`, as every benchmark here: the fleet has functions that answer 500 every time.
- `--no-history`: the store's cost has its own section (`benchmarks/history.py`); here it would
  add the recording of every row to a figure about rate limits.

Figures come from the emulator's `GET /_emulator/stats` (reset after the burst; `estate`'s
`by_account` and `throttled_by_account`, `by_status`), the report's `run` (`duration_s`: the
audit phase, pre-flight to last answer; `discovery`: the ListFunctions requests per project and
account; `throttling`: what each account's controller learned) and its rows (`account`,
`checked_at`, `status`), read line by line, never whole. The phases before the audit come from
the child's log lines (`account ...` once IAM listed the estate, `discovered ...` once every
project's functions were listed), timed against the moment the child was started.

`--quick` (3 accounts × 100 functions) proves the section runs in well under a minute; its
figures say little (the first second's 429s put back most of so small a fleet, which spreads
it over every account by chance).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: make `benchmarks` and `auditor` importable
    sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402

from auditor.emulator.estate import DEFAULT_AGENCY, account_name  # noqa: E402
from benchmarks import emulator as emu  # noqa: E402
from benchmarks.figures import Figure, Results  # noqa: E402
from benchmarks.measure import Measured, run_measured  # noqa: E402

LATENCY_MS = (20.0, 60.0)  # as the rate-control section: a gateway is not instant
CONCURRENCY = 256
NAME = "estate"
HOME = account_name(0)  # the home account: its rows' `account` is its domain name
CHILD_TIMEOUT_FLOOR_S = 600.0
BURST_PROJECTS = ("cn-north-4", "ap-southeast-1")  # two projects of every emulated account


@dataclass(frozen=True)
class EstateSizes:
    """The estate of this section; `--quick` shrinks it."""

    accounts: int  # the home account and accounts - 1 reached through agencies
    functions: int  # the whole fleet (`--functions`), spread evenly over the accounts
    limit: int  # each account's gateway limit, requests/s (`--rate-limit`, per user)

    @property
    def total_limit(self) -> int:
        return self.accounts * self.limit

    @property
    def ideal_s(self) -> float:
        """The fleet at every account's limit at once."""
        return self.functions / self.total_limit

    def label(self) -> str:
        return (
            f"{self.accounts} accounts × {self.functions // self.accounts:,} functions,"
            f" {self.limit}/s each"
        )


FULL = EstateSizes(accounts=50, functions=100_000, limit=20)
QUICK = EstateSizes(accounts=3, functions=300, limit=20)


def account_key(index: int) -> tuple[str, str]:
    """`(report name, domain name)` of the estate's account `index` (0: the home account, named
    by IAM after its domain; the others by their `[[accounts]]` entry)."""
    domain = account_name(index)
    return (domain if index == 0 else f"account-{index + 1:02d}", domain)


def write_config(path: Path, url: str, accounts: int) -> dict[str, str]:
    """`estate.toml` for `accounts` accounts (the home account needs no entry); returns the
    domain name of every account by its report name."""
    lines = [f'endpoint = "{url}"', f'iam_endpoint = "{url}"']
    domains = dict(account_key(i) for i in range(accounts))
    for name, domain in list(domains.items())[1:]:
        lines += [
            "",
            "[[accounts]]",
            f'domain_name = "{domain}"',
            f'agency_name = "{DEFAULT_AGENCY}"',
            f'name = "{name}"',
        ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return domains


# --- the emulator's limiter, checked -----------------------------------------------------------


async def _limiter_burst(url: str, limit: int) -> dict[str, Counter[int]]:
    """One burst of `2 × limit` ListFunctions requests (they share the tracing API's window)
    per account, all at once: the home account with its token, account 2 through two project
    tokens of its agency (one window per account, not per token), account 3 through one."""
    headers = {"X-Auth-Token": emu.TOKEN}
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(
        connector=connector, timeout=aiohttp.ClientTimeout(total=60)
    ) as session:
        async with session.get(f"{url}/v3/auth/projects", headers=headers) as answer:
            listed = (await answer.json())["projects"]
        home_project = next(p["id"] for p in listed if p["name"] == BURST_PROJECTS[0])

        async def agency_token(domain: str, project: str) -> tuple[str, str]:
            identity = {"domain_name": domain, "agency_name": DEFAULT_AGENCY}
            body = {
                "auth": {
                    "identity": {"methods": ["assume_role"], "assume_role": identity},
                    "scope": {"project": {"name": project}},
                }
            }
            async with session.post(f"{url}/v3/auth/tokens", json=body, headers=headers) as got:
                if got.status != 201:
                    raise RuntimeError(f"agency token for {domain}: HTTP {got.status}")
                token = got.headers["X-Subject-Token"]
                return token, (await got.json())["token"]["project"]["id"]

        two, three = account_name(1), account_name(2)
        credentials = {
            f"{HOME} (its token)": [(emu.TOKEN, home_project)],
            f"{two} (two project tokens)": [await agency_token(two, p) for p in BURST_PROJECTS],
            f"{three} (one project token)": [await agency_token(three, BURST_PROJECTS[0])],
        }

        async def one(token: str, project: str) -> int:
            async with session.get(
                f"{url}/v2/{project}/fgs/functions",
                params={"maxitems": "1"},
                headers={"X-Auth-Token": token},
            ) as answer:
                await answer.read()
                return answer.status

        sends = [
            (label, tokens[n % len(tokens)])
            for label, tokens in credentials.items()
            for n in range(2 * limit)
        ]
        statuses = await asyncio.gather(*(one(token, project) for _, (token, project) in sends))
    seen: dict[str, Counter[int]] = defaultdict(Counter)
    for (label, _), status in zip(sends, statuses, strict=True):
        seen[label][status] += 1
    return dict(seen)


def check_limiter(results: Results, server: emu.Emulator, limit: int) -> None:
    """Each account its own window of `limit`, the home account's too; then a clean slate."""
    seen = asyncio.run(_limiter_burst(server.url, limit))
    counted = server.stats()["estate"]
    accepted = {label: counts[200] for label, counts in seen.items()}
    results.add(Figure(
        f"estate: the emulator's limiter, one burst of {2 * limit} requests per account at once",
        " / ".join(str(n) for n in accepted.values()) + " accepted",
        f"= {limit} each", all(n == limit for n in accepted.values()),
        "; ".join(
            f"{label}: {dict(sorted(counts.items()))}" for label, counts in seen.items()
        ) + f"; the server's by_account {counted['by_account']},"
        f" throttled_by_account {counted['throttled_by_account']}",
    ))  # fmt: skip
    time.sleep(1.1)  # the windows empty (a reset keeps them), then the counts start afresh
    server.reset()


# --- the audit ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    """What a figure needs of one report row."""

    account: str
    checked_at: str  # whole seconds, UTC
    status: str


@dataclass(frozen=True)
class EstateRun:
    """The audit process, what the emulator saw, the report's `run` and `summary`, and
    when the child logged the end of its listing and discovery (seconds after its start)."""

    measured: Measured
    stats: dict[str, Any]
    run: dict[str, Any]
    summary: dict[str, Any]
    rows: list[Row]
    listed_at_s: float | None
    discovered_at_s: float | None


def report_head(path: Path) -> dict[str, Any]:
    """The JSON report without its rows (`results` is its last key, one row a line)."""
    head: list[str] = []
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            if line.strip() == '"results": [':
                break
            head.append(line)
    document: dict[str, Any] = json.loads("".join(head) + '"results": []}')
    return document


def report_rows(path: Path) -> Iterator[Row]:
    """The report's rows, one line at a time."""
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            if line.strip() == '"results": [':
                break
        for line in lines:
            text = line.strip().rstrip(",")
            if not text.startswith("{"):
                break
            row = json.loads(text)
            yield Row(row.get("account", ""), row["checked_at"], row["status"])


def logged_at(stderr: str, marker: str, started: float) -> float | None:
    """Seconds from `started` (epoch) to the first log line holding `marker`."""
    for line in stderr.splitlines():
        if marker in line:
            try:
                stamp = datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f")
            except ValueError:
                continue
            return stamp.timestamp() - started  # the log's local time, as `time.time`
    return None


def run_estate_audit(server: emu.Emulator, work: Path, sizes: EstateSizes) -> EstateRun:
    """`auditor audit --all-projects` over the whole estate, as a whole process."""
    config = work / "estate.toml"
    write_config(config, server.url, sizes.accounts)
    out = work / "estate-out"
    command = [
        sys.executable, "-m", "auditor", "audit", "--all-projects", "-c", str(config),
        "--rate", "0", "--concurrency", str(CONCURRENCY), "--format", "json", "-o", str(out),
        "--name", NAME, "--fail-on", "none", "--retries", "0", "--no-history",
    ]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HUAWEICLOUD_", "AUDITOR_"))}
    env["AUDITOR_TOKEN"] = emu.TOKEN
    # The full size has taken 43 times its ideal (accounts one or two at a time, see the
    # module docstring): bound it well past that, not at a few multiples of the ideal.
    timeout = max(CHILD_TIMEOUT_FLOOR_S, 60 * sizes.ideal_s)
    started = time.time()
    measured = run_measured(command, env=env, timeout_s=timeout)
    if measured.returncode != 0:
        raise RuntimeError(f"auditor audit exited {measured.returncode}: {measured.stderr[-2000:]}")
    report = out / f"{NAME}.json"
    head = report_head(report)
    return EstateRun(
        measured,
        server.stats(),
        head["run"],
        head["summary"],
        list(report_rows(report)),
        logged_at(measured.stderr, " INFO account ", started),
        logged_at(measured.stderr, " INFO discovered ", started),
    )


# --- what the run says -------------------------------------------------------------------------


def _epoch(checked_at: str) -> int:
    return int(datetime.strptime(checked_at, "%Y-%m-%dT%H:%M:%SZ").timestamp())


@dataclass(frozen=True)
class AccountRate:
    """One account's requests the gateway accepted in the audit phase, and its rows' span."""

    name: str
    accepted: int  # FunctionGraph requests accepted, less its ListFunctions pages
    throttled: int  # its 429s, the listing's included
    rows: int
    first_s: int  # its first and last row's `checked_at`, seconds after the first row of all
    last_s: int

    def rate(self, seconds: float) -> float:
        return self.accepted / seconds if seconds else 0.0

    @property
    def active_s(self) -> int:
        """Seconds from its first row to its last, both counted."""
        return self.last_s - self.first_s + 1


def account_rates(run: EstateRun, domains: dict[str, str]) -> list[AccountRate]:
    """Per account (report name), what the emulator accepted in the audit phase: every
    FunctionGraph request it let through (`by_account` less `throttled_by_account`), less the
    ListFunctions pages of discovery (`run.discovery`), which came before the phase; what is
    left is the pre-flight request per project and the tracing GETs."""
    estate = run.stats["estate"]
    listing: Counter[str] = Counter()
    for project in run.run.get("discovery", {}).get("projects", []):
        listing[project["account"]] += int(project["requests"])
    spans: dict[str, list[int]] = {}
    counts: Counter[str] = Counter()
    stamps = [_epoch(row.checked_at) for row in run.rows]
    origin = min(stamps, default=0)
    for row, stamp in zip(run.rows, stamps, strict=True):
        counts[row.account] += 1
        span = spans.setdefault(row.account, [stamp, stamp])
        span[0], span[1] = min(span[0], stamp), max(span[1], stamp)
    rates = []
    for name, domain in domains.items():
        seen = int(estate["by_account"].get(domain, 0))
        throttled = int(estate["throttled_by_account"].get(domain, 0))
        first, last = spans.get(name, [origin, origin - 1])
        rates.append(AccountRate(
            name, seen - throttled - listing[name], throttled, counts[name],
            first - origin, last - origin,
        ))  # fmt: skip
    return rates


def accounts_in_flight(rows: Sequence[Row]) -> list[int]:
    """How many accounts had a row answered in each whole second of the audit."""
    by_second: dict[int, set[str]] = defaultdict(set)
    for row in rows:
        by_second[_epoch(row.checked_at)].add(row.account)
    if not by_second:
        return []
    first, last = min(by_second), max(by_second)
    return [len(by_second.get(second, ())) for second in range(first, last + 1)]


def _spread(values: Sequence[float]) -> str:
    return (
        f"{min(values):.3f} / {statistics.median(values):.3f} / {max(values):.3f}"
        if values
        else "none"
    )


def measure_estate(results: Results, work: Path, sizes: EstateSizes) -> None:
    """The estate's figures: the limiter checked, then one audit of the whole estate."""
    print(
        f"emulator: estate of {sizes.label()} ({sizes.functions:,} functions),"
        f" {LATENCY_MS[0]:g}-{LATENCY_MS[1]:g} ms",
        flush=True,
    )
    args = ["--accounts", str(sizes.accounts), "--rate-limit", str(sizes.limit)]
    with emu.running(work, sizes.functions, latency_ms=LATENCY_MS, args=args) as server:
        check_limiter(results, server, sizes.limit)
        run = run_estate_audit(server, work, sizes)
        results.details.append(
            f"estate: the emulator generated the estate's fleet and answered in"
            f" {server.started_in_s:.1f} s"
        )
    domains = dict(account_key(i) for i in range(sizes.accounts))
    _figures(results, sizes, run, account_rates(run, domains))


def _figures(
    results: Results, sizes: EstateSizes, run: EstateRun, rates: Sequence[AccountRate]
) -> None:
    wall, audit_s = run.measured.wall_s, float(run.run["duration_s"])
    before_s = run.discovered_at_s  # start-up, IAM listing and discovery
    stats = run.stats
    fg_requests = sum(int(n) for n in stats["estate"]["by_account"].values())
    answers_429 = int(stats["by_status"].get("429", 0))
    listed = sum(int(p["functions"]) for p in run.run.get("discovery", {}).get("projects", []))
    pages = sum(int(p["requests"]) for p in run.run.get("discovery", {}).get("projects", []))
    projects = len(run.run.get("discovery", {}).get("projects", []))
    needed_s = (listed + pages + projects) / sizes.total_limit  # rows, pages, pre-flight
    label = f"{sizes.label()} = {sizes.total_limit:,}/s in all, --rate 0, c={CONCURRENCY}"

    phases = [
        f"process {wall:.1f} s: audit phase (run.duration_s, pre-flight to last answer)"
        f" {audit_s:.1f} s, the rest (start-up, IAM listing, discovery, reports)"
        f" {wall - audit_s:.1f} s"
    ]
    if run.listed_at_s is not None and before_s is not None:
        phases.append(
            f"of which start-up and IAM listing of every account {run.listed_at_s:.1f} s,"
            f" discovery (ListFunctions) {before_s - run.listed_at_s:.1f} s,"
            f" reports and exit {wall - before_s - audit_s:.1f} s"
        )
    results.add(Figure(
        f"estate: wall time ÷ ideal {sizes.ideal_s:g} s ({label}), whole process",
        f"{wall / sizes.ideal_s:.2f}", "≤ 1.15", wall / sizes.ideal_s <= 1.15,
        "; ".join(phases) + f"; the fleet's {sizes.functions:,} functions ÷ {sizes.total_limit:,}/s"
        f" = {sizes.ideal_s:g} s; what it had to ask ({listed:,} listed functions, {pages:,}"
        f" ListFunctions pages, {projects} pre-flight requests) ÷ {sizes.total_limit:,}/s ="
        f" {needed_s:.1f} s: {wall / needed_s:.2f} of that",
    ))  # fmt: skip
    results.add(Figure(
        f"estate: audit phase alone (run.duration_s) ÷ ideal {sizes.ideal_s:g} s",
        f"{audit_s / sizes.ideal_s:.2f}", "reported (the goal is the whole run's)", None,
        f"{audit_s:.1f} s; ÷ what the audit phase had to ask ({listed + projects:,} requests at"
        f" {sizes.total_limit:,}/s = {(listed + projects) / sizes.total_limit:.1f} s):"
        f" {audit_s / ((listed + projects) / sizes.total_limit):.2f}",
    ))  # fmt: skip

    ratios = [r.rate(audit_s) / sizes.limit for r in rates]
    active = [r.accepted / r.active_s / sizes.limit for r in rates if r.rows]
    in_flight = accounts_in_flight(run.rows)
    worst = sorted(zip(ratios, rates, strict=True), key=lambda pair: pair[0])[:3]
    results.add(Figure(
        f"estate: each account's accepted rate ÷ its limit {sizes.limit}/s over the audit"
        f" phase, min / median / max of {sizes.accounts}",
        _spread(ratios), "≥ 0.90 every account", all(r >= 0.9 for r in ratios),
        f"accepted = the emulator's by_account less throttled_by_account less the account's"
        f" ListFunctions pages, ÷ run.duration_s {audit_s:.1f} s; lowest:"
        f" {', '.join(f'{r.name} {x:.3f} ({r.accepted:,} accepted)' for x, r in worst)};"
        f" while each account was being audited (its first to its last row, whole seconds):"
        f" {_spread(active)}, each active for {min(r.active_s for r in rates)} /"
        f" {statistics.median(r.active_s for r in rates):g} / {max(r.active_s for r in rates)} s;"
        f" accounts answered per second of the audit: median"
        f" {statistics.median(in_flight) if in_flight else 0:g}, most {max(in_flight, default=0)}",
    ))  # fmt: skip
    results.add(Figure(
        "estate: 429 answers ÷ FunctionGraph requests",
        f"{answers_429 / fg_requests if fg_requests else 0:.2%}", "reported", None,
        f"{answers_429:,} of {fg_requests:,} (ListFunctions, pre-flight and tracing requests of"
        f" every account); first seconds of the server's timeline, 429s:"
        f" {' '.join(str(n) for n in stats['timeline']['throttled'][:5])}",
    ))  # fmt: skip
    throttled_rows = int(run.summary["by_status"].get("throttled", 0))
    results.add(Figure(
        "estate: rows that ended `throttled`", f"{throttled_rows}", "= 0", throttled_rows == 0,
        f"{len(run.rows):,} rows; by status {dict(sorted(run.summary['by_status'].items()))}",
    ))  # fmt: skip
    results.add(Figure(
        f"estate: peak RSS of auditor audit --all-projects ({sizes.label()})",
        f"{run.measured.maxrss_mib:.0f} MiB", "reported", None,
        f"CPU {run.measured.cpu_s:.1f} s over {wall:.1f} s of wall"
        f" ({run.measured.cpu_s / wall:.0%} of one core)",
    ))  # fmt: skip
    scopes = run.run.get("throttling", {}).get("scopes", [])
    if scopes:
        paced = sorted(float(s.get("paced_wait_s") or 0.0) for s in scopes)
        found = Counter(s.get("limit_found") for s in scopes)
        results.details.append(
            f"estate: {len(scopes)} rate scopes (one per account); limit_found"
            f" {dict(found.most_common(4))}; requests held to each scope's learned rate,"
            f" summed per scope: min {paced[0]:,.0f} s, median {statistics.median(paced):,.0f} s,"
            f" max {paced[-1]:,.0f} s"
        )


# --- on its own --------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """`python benchmarks/estate.py [--quick]`: this section alone, its table printed."""
    from benchmarks.run import table

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="a small estate: under a minute")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="auditor-bench-estate-"))
    results = Results()
    try:
        with contextlib.redirect_stdout(sys.stderr):  # progress; stdout is the table's
            measure_estate(results, work, QUICK if args.quick else FULL)
    finally:
        if args.keep:
            print(f"work folder: {work}", flush=True)
        else:
            shutil.rmtree(work, ignore_errors=True)
    print()
    print(table(results.figures))
    for detail in results.details:
        print(f"- {detail}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
