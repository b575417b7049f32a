"""Benchmark `auditor` against its emulator (a separate process on 127.0.0.1), side by side with
reference clients, and write the figures next to their goals.

    python benchmarks/run.py            # the full run (~40 min on 2 cores), writes RESULTS.md
    python benchmarks/run.py --quick    # seconds, tiny sizes: proves the benchmark still works
    python benchmarks/run.py --no-1m    # the full run without the 1M-URN audit and reports
    python benchmarks/run.py --only rate-control   # one section; prints, writes no RESULTS.md
    python benchmarks/run.py --only history        # the history store's section
    python benchmarks/run.py --only estate         # 50 accounts' limits ridden at once

Audits run with `--retries 0`: the emulator's fleet has functions that answer 500 every time,
and their back-off (seconds) would otherwise dominate every timing; with no retries the audit
sends exactly the GETs the reference clients send. Every load loop is bounded by a URN count
and every child process by a timeout. Run it with the
project's virtualenv Python (the audit runs as `python -m auditor`); the serial and thread-pool
figures need `requests`, the comparison with botocore's adaptive rate limiter `botocore` (the
`bench` extra); each is skipped with a note when its package is missing.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: make `benchmarks` and `auditor` importable
    sys.path.insert(0, str(ROOT))

from benchmarks import emulator as emu  # noqa: E402
from benchmarks import estate, history, rate_control  # noqa: E402
from benchmarks.figures import Figure, Results  # noqa: E402
from benchmarks.measure import Measured, own_peak_mib, run_measured  # noqa: E402

LATENCY_S = 0.05
OVERHEAD_ROUNDS = 3  # alternating bare/audit pairs; the median ratio is reported
CONCURRENCY = 64
MIB = 2**20


@dataclass(frozen=True)
class Sizes:
    """How much each measurement does; `--quick` shrinks everything."""

    audit: int  # URNs of the whole-process comparison with the bare loop
    rates: dict[int, int]  # configured req/s -> URNs sent at that rate
    latency: int  # URNs at 50 ms latency
    serial: int  # requests of the serial client
    threads: int  # requests of the 8-thread pool
    rss: tuple[int, ...]  # fleet sizes of the peak-RSS audits (all three reports)
    report_rows: tuple[int, ...]  # row counts of the report-writing timings
    openpyxl_max: int  # openpyxl write-only is measured up to this many rows
    profile: int  # URNs of the profiled in-process audit
    throttle: int  # URNs of the throttle CPU-share runs (concurrency 256, 1,000 req/s)


FULL = Sizes(
    audit=100_000,
    rates={25: 250, 200: 2_000, 1_000: 10_000},
    latency=25_000,
    serial=200,
    threads=1_600,
    rss=(100_000, 1_000_000),
    report_rows=(100_000, 1_000_000),
    openpyxl_max=100_000,
    profile=20_000,
    throttle=5_000,
)
QUICK = Sizes(
    audit=1_500,
    rates={25: 10, 200: 40, 1_000: 150},
    latency=300,
    serial=10,
    threads=40,
    rss=(1_500,),
    report_rows=(1_500,),
    openpyxl_max=1_500,
    profile=500,
    throttle=300,
)


# --- running things ----------------------------------------------------------------------------


def _audit_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HUAWEICLOUD_", "AUDITOR_"))}
    env["AUDITOR_TOKEN"] = emu.TOKEN
    return env


def run_audit(
    server: emu.Emulator,
    urns: Path,
    out: Path,
    name: str,
    *,
    rate: float,
    formats: str,
    preflight: bool = True,
    timeout_s: float = 1800.0,
    extra: Sequence[str] = (),
) -> Measured:
    """`auditor audit` as a whole process against `server` (`extra`: more options); raises
    if it did not finish."""
    command = [
        sys.executable, "-m", "auditor", "audit", str(urns),
        "--endpoint", server.url, "--rate", f"{rate:g}", "--concurrency", str(CONCURRENCY),
        "--format", formats, "-o", str(out), "--name", name, "-q", "--fail-on", "none",
        "--retries", "0",
    ]  # fmt: skip
    if not preflight:
        command.append("--no-preflight")
    command.extend(extra)
    measured = run_measured(command, env=_audit_env(), timeout_s=timeout_s)
    if measured.returncode != 0:
        raise RuntimeError(f"auditor audit exited {measured.returncode}: {measured.stderr[-2000:]}")
    return measured


def run_client(
    kind: str, server: emu.Emulator, urns: Path, *extra: str
) -> tuple[Measured, dict[str, Any]]:
    """A reference client from `benchmarks.clients` as its own process."""
    command = [sys.executable, "-m", "benchmarks.clients", kind, server.url, str(urns), *extra]
    measured = run_measured(command, env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout_s=900)
    if measured.returncode != 0:
        raise RuntimeError(f"{kind} client exited {measured.returncode}: {measured.stderr[-2000:]}")
    return measured, json.loads(measured.stdout)


def first_urns(source: Path, count: int, target: Path) -> Path:
    """The first `count` URNs of `source`, as a file of their own."""
    with source.open(encoding="utf-8") as lines, target.open("w", encoding="utf-8") as out:
        for n, line in enumerate(lines):
            if n >= count:
                break
            out.write(line)
    return target


def report_json(out: Path, name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((out / f"{name}.json").read_text(encoding="utf-8"))
    return data


# --- the measurements --------------------------------------------------------------------------


def measure_overhead(results: Results, server: emu.Emulator, work: Path, sizes: Sizes) -> None:
    """`auditor audit` (whole process, JSON report) ÷ a bare aiohttp loop, no rate limit.

    The machine is shared: one pair of runs can land on a quiet and a busy moment. So the two
    alternate for `OVERHEAD_ROUNDS` rounds, each ratio from one back-to-back pair, and the
    median ratio is the figure (every pair is listed in the details)."""
    urns = first_urns(server.urns_file, sizes.audit, work / "audit-urns.txt")
    pairs: list[tuple[Measured, Measured, int, int]] = []
    bare_outs: list[dict[str, Any]] = []
    for _ in range(OVERHEAD_ROUNDS):
        server.reset()
        bare, bare_out = run_client("bare", server, urns, str(CONCURRENCY))
        bare_outs.append(bare_out)
        bare_seen = server.stats()["tracing_requests"]
        server.reset()
        audit = run_audit(server, urns, work / "out", "overhead", rate=0, formats="json")
        pairs.append((bare, audit, bare_seen, server.stats()["tracing_requests"]))
    ratios = [bare.wall_s / audit.wall_s for bare, audit, _, _ in pairs]
    middle = sorted(range(len(pairs)), key=lambda i: ratios[i])[len(pairs) // 2]
    bare, audit, bare_seen, audit_seen = pairs[middle]
    bare_out = bare_outs[middle]
    ratio = ratios[middle]
    results.add(Figure(
        f"audit ÷ bare aiohttp loop ({sizes.audit:,} URNs, c={CONCURRENCY}, whole process,"
        f" median of {len(pairs)} alternating pairs)",
        f"{ratio:.2f}", "≥ 0.70", ratio >= 0.70,
        f"audit {audit.wall_s:.1f} s ({audit_seen / audit.wall_s:,.0f} req/s,"
        f" CPU {audit.cpu_s:.1f} s,"
        f" RSS {audit.maxrss_mib:.0f} MiB); bare {bare.wall_s:.1f} s"
        f" ({bare_seen / bare.wall_s:,.0f} req/s, CPU {bare.cpu_s:.1f} s)",
    ))  # fmt: skip
    results.details.append(
        "audit ÷ bare loop, every pair (bare s / audit s = ratio): "
        + "; ".join(
            f"{b.wall_s:.1f} / {a.wall_s:.1f} = {r:.2f}"
            for (b, a, _, _), r in zip(pairs, ratios, strict=True)
        )
    )
    results.details.append(
        f"Bare loop statuses: {bare_out['statuses']}; requests inside the loop took"
        f" {bare_out['seconds']:.1f} s of its {bare.wall_s:.1f} s."
    )


def measure_rates(results: Results, server: emu.Emulator, work: Path, sizes: Sizes) -> None:
    """Achieved ÷ configured rate, and the server's busiest 1 s window ÷ configured rate."""
    for rate, count in sizes.rates.items():
        urns = first_urns(server.urns_file, count, work / f"rate-{rate}.txt")
        server.reset()
        name = f"rate-{rate}"
        run_audit(server, urns, work / "out", name, rate=rate, formats="json", preflight=False)
        seen = server.stats()
        duration = report_json(work / "out", name)["run"]["duration_s"]
        achieved = seen["tracing_requests"] / duration
        results.add(Figure(
            f"achieved ÷ configured rate at {rate:,} req/s", f"{achieved / rate:.3f}", "≥ 0.98",
            achieved / rate >= 0.98,
            f"{seen['tracing_requests']:,} requests in {duration:.2f} s = {achieved:,.1f} req/s",
        ))  # fmt: skip
        peak = seen["max_in_any_1s"]
        results.add(Figure(
            f"server's max in any 1 s ÷ configured rate at {rate:,} req/s", f"{peak / rate:.3f}",
            "≤ 1.00", peak <= rate, f"{peak} in the busiest 1 s window",
        ))  # fmt: skip


def measure_latency(results: Results, server: emu.Emulator, work: Path, sizes: Sizes) -> None:
    """Throughput at 50 ms latency and concurrency 64; a serial client and an 8-thread pool."""
    ideal = CONCURRENCY / LATENCY_S
    urns = first_urns(server.urns_file, sizes.latency, work / "latency.txt")
    server.reset()
    audit = run_audit(server, urns, work / "out", "latency", rate=0, formats="json")
    duration = report_json(work / "out", "latency")["run"]["duration_s"]
    seen = server.stats()["tracing_requests"]
    throughput = seen / duration
    results.add(Figure(
        f"throughput ÷ (64 / 0.05 s) at 50 ms latency, c={CONCURRENCY}",
        f"{throughput / ideal:.3f}", "≥ 0.90", throughput / ideal >= 0.90,
        f"{throughput:,.0f} req/s of {ideal:,.0f} ({seen:,} requests in {duration:.2f} s;"
        f" whole process {audit.wall_s:.1f} s)",
    ))  # fmt: skip
    if importlib.util.find_spec("requests") is None:
        note = "skipped: `requests` is not installed (pip install -e '.[bench]')"
        results.add(Figure("speed-up over a serial requests.Session at 50 ms", "not measured",
                           "≥ 50×", None, note))  # fmt: skip
        results.add(Figure("SDK-style pool (8 threads over requests) at 50 ms", "not measured",
                           note=note))  # fmt: skip
        return
    serial_urns = first_urns(server.urns_file, sizes.serial, work / "serial.txt")
    _, serial = run_client("serial", server, serial_urns)
    serial_rate = serial["requests"] / serial["seconds"]
    speedup = throughput / serial_rate
    results.add(Figure(
        "speed-up over a serial requests.Session at 50 ms", f"{speedup:.0f}×", "≥ 50×",
        speedup >= 50, f"serial {serial_rate:.1f} req/s ({serial['requests']} requests)",
    ))  # fmt: skip
    pool_urns = first_urns(server.urns_file, sizes.threads, work / "threads.txt")
    _, pool = run_client("threads", server, pool_urns, "8")
    pool_rate = pool["requests"] / pool["seconds"]
    results.add(Figure(
        "SDK-style pool (8 threads over requests) at 50 ms", f"{pool_rate:.0f} req/s",
        note=f"ideal 160 req/s; the audit is {throughput / pool_rate:.1f}× faster",
    ))  # fmt: skip


def measure_rss(
    results: Results, server: emu.Emulator, work: Path, size: int, *, second: bool = False
) -> float:
    """Peak RSS (and time) of `auditor audit` writing all three reports and recording into
    `<out>/history.sqlite` (the default; a fresh store, so every function is new). With
    `second`, a second audit of the same URNs into the same store with `--baseline last`
    (`history.measure_baseline_audit`). Returns the first audit's wall time."""
    out = work / f"rss-{size}"
    results.details.append(
        f"peak RSS, {size:,} URNs: this benchmark process held {own_peak_mib():.0f} MiB at most"
        " when the audit started (a child's peak counts its parent's at the fork)"
    )
    first = run_audit(server, server.urns_file, out, "rss", rate=0, formats="xlsx,csv,json",
                      timeout_s=2400)  # fmt: skip
    limit = 512.0
    goal = "≤ 512 MiB" if size >= 1_000_000 else ""
    results.add(Figure(
        f"peak RSS of auditor audit, {size:,} URNs, all three reports, recording into a new"
        " history.sqlite",
        f"{first.maxrss_mib:.0f} MiB", goal, first.maxrss_mib <= limit if goal else None,
        f"whole process {first.wall_s:.0f} s, CPU {first.cpu_s:.0f} s;"
        f" emulator fleet generated in {server.started_in_s:.0f} s",
    ))  # fmt: skip
    if second:

        def audit(name: str, extra: Sequence[str]) -> Measured:
            return run_audit(server, server.urns_file, out, name, rate=0,
                             formats="xlsx,csv,json", timeout_s=2400, extra=extra)  # fmt: skip

        history.measure_baseline_audit(results, audit, size, first=first)
    shutil.rmtree(out, ignore_errors=True)
    return first.wall_s


def measure_reports(results: Results, sizes: Sizes) -> None:
    """Seconds to write each report format; XLSX next to the fastest bare streaming writer."""
    from benchmarks.reports import time_reports

    for rows in sizes.report_rows:
        baselines = ("xlsxwriter", "openpyxl") if rows <= sizes.openpyxl_max else ("xlsxwriter",)
        times = time_reports(rows, baselines=baselines)
        for fmt in ("json", "csv"):
            size = f"{times[fmt + '_mib']:.0f} MiB"
            name = f"write {fmt.upper()} report, {rows:,} rows"
            results.add(Figure(name, f"{times[fmt]:.1f} s", note=size))
        fastest = min(baselines, key=lambda b: times[f"baseline_{b}"])
        ratio = times["xlsx"] / times[f"baseline_{fastest}"]
        others = ", ".join(f"{b} {times[f'baseline_{b}']:.1f} s" for b in baselines)
        results.add(Figure(
            f"write XLSX report, {rows:,} rows ÷ fastest bare streaming writer",
            f"{times['xlsx']:.1f} s = {ratio:.2f}×", "≤ 1.20×", ratio <= 1.20,
            f"{times['xlsx_mib']:.0f} MiB; bare writers of the same cells: {others}",
        ))  # fmt: skip


def measure_profiles(results: Results, server: emu.Emulator, sizes: Sizes) -> None:
    """cProfile of the hot path, and the throttle's CPU share at concurrency 256."""
    from auditor.send.throttle import Throttles
    from benchmarks.legacy_throttle import LegacyThrottles
    from benchmarks.profiling import profile_audit

    urns = server.urns_file.read_text(encoding="utf-8").split()
    hot = profile_audit(server.url, urns[: sizes.profile], Throttles(None), CONCURRENCY)
    results.profiles[
        f"hot path: in-process audit of {hot.requests:,} URNs, no rate limit, c={CONCURRENCY}"
        f" ({hot.requests / hot.wall_s:,.0f} req/s under cProfile)"
    ] = hot.top
    for label, throttles in (
        ("schedule pacer, asyncio-throttle as the cap (now)", Throttles(1000)),
        ("asyncio-throttle polled by every waiter (first version)", LegacyThrottles(1000)),
    ):
        server.reset()
        run = profile_audit(server.url, urns[: sizes.throttle], throttles, 256)
        peak = server.stats()["max_in_any_1s"]
        results.add(Figure(
            f"throttle's CPU share, c=256 at 1,000 req/s: {label}",
            f"{run.throttle_share:.1%}",
            note=f"{run.requests / run.wall_s:,.0f} req/s achieved, busiest 1 s {peak},"
            f" process CPU {run.cpu_s / run.wall_s:.0%} of one core",
        ))  # fmt: skip
        results.profiles[f"throttle at c=256, 1,000 req/s: {label}"] = run.top


# --- reporting ---------------------------------------------------------------------------------


def machine_facts() -> list[tuple[str, str]]:
    """What the figures were measured on."""
    memory = "?"
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory = f"{int(line.split()[1]) / 2**20:.1f} GiB"
    except OSError:
        pass
    cpu = platform.processor() or "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions = []
    for package in ("auditor", "aiohttp", "yarl", "multidict", "asyncio-throttle", "pandas",
                    "xlsxwriter", "openpyxl", "requests", "botocore"):  # fmt: skip
        try:
            versions.append(f"{package} {importlib.metadata.version(package)}")
        except importlib.metadata.PackageNotFoundError:
            versions.append(f"{package} (not installed)")
    return [
        ("nproc", str(os.cpu_count())),
        ("CPU", cpu),
        ("memory", memory),
        ("OS", platform.platform()),
        ("load average (1, 5, 15 min) when written", " ".join(f"{v:.2f}" for v in os.getloadavg())),
        ("Python", f"{platform.python_implementation()} {platform.python_version()}"),
        ("packages", ", ".join(versions)),
    ]


def table(figures: Sequence[Figure]) -> str:
    lines = ["| figure | measured | goal | verdict | detail |", "| --- | --- | --- | --- | --- |"]
    for f in figures:
        lines.append(f"| {f.name} | {f.value} | {f.goal or 'reported'} | {f.verdict} | {f.note} |")
    return "\n".join(lines)


def markdown(results: Results, mode: str, took_s: float) -> str:
    facts = "\n".join(f"- **{k}**: {v}" for k, v in machine_facts())
    parts = [
        "# Benchmark results",
        "",
        f"Written by `python benchmarks/run.py{' --quick' if mode.startswith('quick') else ''}`"
        f" from one run ({mode}, {took_s / 60:.1f} min, {time.strftime('%Y-%m-%d %H:%M %Z')}).",
        "The emulator ran as a separate process on 127.0.0.1, on the same machine.",
        "",
        "## Machine",
        "",
        facts,
        "",
        "## Figures",
        "",
        table(results.figures),
        "",
        "How each is measured: `benchmarks/README.md`.",
    ]
    if results.details:
        parts += ["", "## Details", "", *(f"- {d}" for d in results.details)]
    for title, text in results.profiles.items():
        parts += ["", f"## Profile: {title}", "", "```", text, "```"]
    return "\n".join(parts) + "\n"


def measure_everything(
    results: Results,
    work: Path,
    sizes: Sizes,
    rate_control_sizes: rate_control.RateControlSizes,
    history_sizes: history.HistorySizes,
    estate_sizes: estate.EstateSizes,
) -> None:
    """Every section, in an order that keeps each measurement honest."""
    fleet = max(sizes.audit, *sizes.rates.values(), sizes.profile, sizes.throttle)
    largest = max(sizes.rss)  # audited twice: the second run with --baseline last
    audit_wall_s = None
    print(f"emulator: {fleet:,} functions, no latency", flush=True)
    with emu.running(work, fleet) as server:
        measure_overhead(results, server, work, sizes)
        measure_rates(results, server, work, sizes)
        measure_profiles(results, server, sizes)
        for size in (n for n in sizes.rss if n <= fleet):
            wall_s = measure_rss(results, server, work, size, second=size == largest)
            audit_wall_s = wall_s if size == largest else audit_wall_s
    print(f"emulator: {sizes.latency:,} functions, 50 ms latency", flush=True)
    lat_fleet = max(sizes.latency, sizes.serial, sizes.threads)
    with emu.running(work, lat_fleet, latency_ms=(50, 50)) as server:
        measure_latency(results, server, work, sizes)
    rate_control.measure_rate_control(results, work, rate_control_sizes)
    for size in (n for n in sizes.rss if n > fleet):
        print(f"emulator: {size:,} functions, no latency", flush=True)
        with emu.running(work, size) as server:
            wall_s = measure_rss(results, server, work, size, second=size == largest)
            audit_wall_s = wall_s if size == largest else audit_wall_s
    estate.measure_estate(results, work, estate_sizes)
    # Last, after every audit: these build a million rows in this process, and a child
    # started after that would inherit this process's peak RSS as its own (see
    # `benchmarks.measure`).
    _history_in_process(results, work, history_sizes, largest, audit_wall_s)
    print("report writers", flush=True)
    measure_reports(results, sizes)


def measure_history_section(
    results: Results, work: Path, sizes: Sizes, history_sizes: history.HistorySizes
) -> None:
    """`--only history`: the audits that record (the largest RSS size, twice), then the
    store's in-process figures."""
    largest = max(sizes.rss)
    print(f"emulator: {largest:,} functions, no latency", flush=True)
    with emu.running(work, largest) as server:
        audit_wall_s = measure_rss(results, server, work, largest, second=True)
    _history_in_process(results, work, history_sizes, largest, audit_wall_s)


def _history_in_process(
    results: Results,
    work: Path,
    history_sizes: history.HistorySizes,
    audited: int,
    audit_wall_s: float | None,
) -> None:
    print("history store", flush=True)
    same_size = audited == max(history_sizes.record)
    history.measure_history(
        results, work, history_sizes, audit_wall_s=audit_wall_s if same_size else None
    )


SECTIONS = ("rate-control", "history", "estate")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="tiny sizes: seconds, not minutes")
    parser.add_argument("--no-1m", action="store_true", help="skip the 1M-URN audit and reports")
    parser.add_argument(
        "--results", type=Path, help="write the Markdown here (default: benchmarks/RESULTS.md for"
        " a full run, nothing for --quick)",
    )  # fmt: skip
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    parser.add_argument(
        "--only", choices=SECTIONS, help="run this section alone (with --quick: its tiny sizes);"
        " prints the figures and writes Markdown only with --results, never RESULTS.md",
    )  # fmt: skip
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    history_sizes = history.QUICK if args.quick else history.FULL
    if args.no_1m:
        sizes = Sizes(**{
            **sizes.__dict__,
            "rss": tuple(n for n in sizes.rss if n < 1_000_000),
            "report_rows": tuple(n for n in sizes.report_rows if n < 1_000_000),
        })  # fmt: skip
        history_sizes = history.without_1m(history_sizes)
    mode = "quick" if args.quick else "full" + (" without 1M" if args.no_1m else "")
    results_path = args.results or (None if args.quick else ROOT / "benchmarks" / "RESULTS.md")
    rate_control_sizes = rate_control.QUICK if args.quick else rate_control.FULL
    if args.only:
        mode = f"{mode}, only {args.only}"
        results_path = args.results
        if (
            results_path is not None
            and results_path.resolve() == ROOT / "benchmarks" / "RESULTS.md"
        ):
            parser.error("--only does not write benchmarks/RESULTS.md (one full run does)")
    work = Path(tempfile.mkdtemp(prefix="auditor-bench-"))
    started = time.perf_counter()
    results = Results()
    try:
        if args.only == "rate-control":
            rate_control.measure_rate_control(results, work, rate_control_sizes)
        elif args.only == "history":
            measure_history_section(results, work, sizes, history_sizes)
        elif args.only == "estate":
            estate.measure_estate(results, work, estate.QUICK if args.quick else estate.FULL)
        else:
            estate_sizes = estate.QUICK if args.quick else estate.FULL
            measure_everything(
                results, work, sizes, rate_control_sizes, history_sizes, estate_sizes
            )
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    return _finish(results, results_path, mode, started)


def _finish(results: Results, results_path: Path | None, mode: str, started: float) -> int:
    """Print the table (and the details), and write the Markdown if there is a path."""
    took = time.perf_counter() - started
    print()
    print(table(results.figures))
    for detail in results.details:
        print(f"- {detail}")
    if results_path is not None:
        results_path.write_text(markdown(results, mode, took), encoding="utf-8")
        print(f"\nwrote {results_path}")
    print(f"took {took / 60:.1f} min")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
