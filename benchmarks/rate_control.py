"""Rate control, measured at the server: how close `auditor audit` rides a gateway limit it is
not told, how it follows a limit that changes, what stray 429s cost it, and how it compares
with botocore's adaptive `ClientRateLimiter` driving the same load.

Each scenario gets a fresh emulator process (its flags are fixed at start) serving the same
fleet (seed 1, 3 projects, one token: the per-user limit spans all three), 20-60 ms of
latency, and the audit runs as a whole process (`--no-preflight --retries 0 --format json`,
concurrency 64). Every figure comes from `GET /_emulator/stats` (the timeline of accepted and
throttled requests per second, the answers by status) or, for wall times, from the report's
`run.duration_s`; what the controller learned comes from the report's `run.throttling`.
`benchmarks/README.md` says how each is measured.
"""

from __future__ import annotations

import json
import math
import os
import statistics
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path
from typing import Any

from benchmarks import emulator as emu
from benchmarks.figures import Figure, Results
from benchmarks.measure import Measured, run_measured

ROOT = Path(__file__).resolve().parent.parent
CONCURRENCY = 64
LATENCY_MS = (20.0, 60.0)
LIMIT = 60  # scenario 1's server limit, requests/s per user
CEILING = 300.0  # `--rate` of the limited runs: far above what the server allows
FAULT_RATE = 100.0  # `--rate` of the runs with stray 429s and of their clean run
CHILD_TIMEOUT_FLOOR_S = 120.0


@dataclass(frozen=True)
class Phase:
    """A limit of `limit` requests/s from second `step` of the server's clock; measured from
    `start` (after the time to settle) to `end` (whole seconds, `end` excluded)."""

    step: int
    start: int
    end: int
    limit: int

    def label(self) -> str:
        return f"{self.start}–{self.end} s at {self.limit}/s"


@dataclass(frozen=True)
class RateControlSizes:
    """Fleet sizes and the stepped limit of this section; `--quick` shrinks them."""

    limited: int  # URNs under the fixed limit L (ours, then botocore's)
    stepped: int  # URNs under the stepped limit: enough to run past the last phase's end
    schedule: str  # the emulator's `--rate-limit-schedule`
    phases: tuple[Phase, ...]  # measured windows: each phase after its settling time
    faulted: int  # URNs of the clean run and of the two runs with stray 429s


FULL = RateControlSizes(
    limited=6_000,
    stepped=5_500,
    schedule="0:100,20:30,40:100",
    phases=(Phase(0, 5, 20, 100), Phase(20, 25, 40, 30), Phase(40, 45, 60, 100)),
    faulted=6_000,
)
QUICK = RateControlSizes(
    limited=300,
    stepped=550,
    schedule="0:100,2:30,4:100",
    phases=(Phase(0, 1, 2, 100), Phase(2, 3, 4, 30), Phase(4, 5, 6, 100)),
    faulted=300,
)


@dataclass(frozen=True)
class Run:
    """One load against one emulator: what the server saw, and the audit's report if any."""

    measured: Measured
    stats: dict[str, Any]
    report: dict[str, Any] | None = None

    @property
    def accepted(self) -> list[int]:
        return list(self.stats["timeline"]["accepted"])

    @property
    def throttled_per_s(self) -> list[int]:
        return list(self.stats["timeline"]["throttled"])

    @property
    def answers_429(self) -> int:
        return int(self.stats["by_status"].get("429", 0))

    @property
    def requests(self) -> int:
        return int(self.stats["tracing_requests"])

    @property
    def duration_s(self) -> float:
        assert self.report is not None
        return float(self.report["run"]["duration_s"])

    @property
    def throttled_rows(self) -> int:
        assert self.report is not None
        return int(self.report["summary"]["by_status"].get("throttled", 0))

    @property
    def throttling(self) -> dict[str, Any]:
        assert self.report is not None
        throttling: dict[str, Any] = self.report["run"]["throttling"]
        return throttling

    def scope(self) -> dict[str, Any]:
        """The one credential scope's `run.throttling` entry (one token: one scope)."""
        scopes: list[dict[str, Any]] = self.throttling["scopes"]
        return scopes[0] if scopes else {}


def child_timeout(urns: int, rate: float) -> float:
    """Four times the ideal duration, never under two minutes."""
    return max(CHILD_TIMEOUT_FLOOR_S, 4 * urns / rate)


def audit(server: emu.Emulator, urns: Path, work: Path, name: str, rate: float) -> Run:
    """`auditor audit` as a whole process against a freshly reset `server`."""
    server.reset()
    out = work / "rate-control-out"
    command = [
        sys.executable, "-m", "auditor", "audit", str(urns),
        "--endpoint", server.url, "--rate", f"{rate:g}", "--concurrency", str(CONCURRENCY),
        "--format", "json", "-o", str(out), "--name", name, "-q", "--fail-on", "none",
        "--retries", "0", "--no-preflight",
    ]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HUAWEICLOUD_", "AUDITOR_"))}
    env["AUDITOR_TOKEN"] = emu.TOKEN
    count = len(urns.read_text(encoding="utf-8").split())
    measured = run_measured(command, env=env, timeout_s=child_timeout(count, min(rate, LIMIT)))
    if measured.returncode != 0:
        raise RuntimeError(f"auditor audit exited {measured.returncode}: {measured.stderr[-2000:]}")
    report = json.loads((out / f"{name}.json").read_text(encoding="utf-8"))
    return Run(measured, server.stats(), report)


def botocore_loop(server: emu.Emulator, urns: Path) -> tuple[Run, dict[str, Any]]:
    """`benchmarks.botocore_loop` as its own process against a freshly reset `server`."""
    server.reset()
    command = [
        sys.executable,
        "-m",
        "benchmarks.botocore_loop",
        server.url,
        str(urns),
        str(CONCURRENCY),
    ]
    count = len(urns.read_text(encoding="utf-8").split())
    measured = run_measured(
        command,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout_s=child_timeout(count, LIMIT),
    )
    if measured.returncode != 0:
        raise RuntimeError(f"botocore loop exited {measured.returncode}: {measured.stderr[-2000:]}")
    return Run(measured, server.stats()), json.loads(measured.stdout)


def first_urns(source: Path, count: int, target: Path) -> Path:
    """The first `count` URNs of `source`, as a file of their own."""
    lines = source.read_text(encoding="utf-8").splitlines()[:count]
    target.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return target


# --- what a timeline says ----------------------------------------------------------------------


@dataclass(frozen=True)
class Span:
    """Requests the server accepted from the first to the last second that accepted one."""

    accepted: int
    seconds: int  # both ends included: the last second is usually partial

    @property
    def rate(self) -> float:
        return self.accepted / self.seconds if self.seconds else 0.0


def accepted_span(accepted: Sequence[int]) -> Span:
    busy = [second for second, n in enumerate(accepted) if n]
    if not busy:
        return Span(0, 0)
    return Span(sum(accepted), busy[-1] - busy[0] + 1)


def phase_rate(accepted: Sequence[int], phase: Phase) -> tuple[float, int]:
    """Mean accepted per second over the phase's whole seconds the timeline has (the last
    second of the timeline is partial and left out), and how many seconds that was."""
    end = min(phase.end, len(accepted) - 1)
    seconds = accepted[phase.start : end]
    return (statistics.fmean(seconds) if seconds else math.nan), len(seconds)


def bursts(throttled: Sequence[int]) -> str:
    """Where the 429s fell: how many seconds had any, and the worst seconds."""
    hit = [(n, second) for second, n in enumerate(throttled) if n]
    if not hit:
        return "no second had a 429"
    worst = ", ".join(f"{n} at {second} s" for n, second in sorted(hit, reverse=True)[:3])
    return f"{len(hit)} seconds had a 429; most in one second: {worst}"


def slow_seconds(accepted: Sequence[int], limit: int, share: float = 0.9) -> str:
    """Which seconds of the run accepted less than `share` of `limit` (the last, partial, one
    left out): where a run lost its time (the ramp, a cut, the tail of put-back targets)."""
    slow = [second for second, n in enumerate(accepted[:-1]) if n < share * limit]
    shown = ", ".join(str(second) for second in slow[:12]) + (", ..." if len(slow) > 12 else "")
    return f"{len(slow)} whole seconds under {share:.0%} of {limit}/s" + (
        f" (at {shown} s)" if slow else ""
    )


# --- the measurements --------------------------------------------------------------------------


def measure_rate_control(results: Results, work: Path, sizes: RateControlSizes) -> None:
    """Every rate-control figure, each scenario against its own emulator process."""
    throttled_rows: dict[str, int] = {}
    latency = LATENCY_MS
    fleet = max(sizes.limited, sizes.stepped, sizes.faulted)

    print(f"emulator: {fleet:,} functions, limit {LIMIT}/s per user, 20-60 ms", flush=True)
    with emu.running(work, fleet, latency_ms=latency, args=["--rate-limit", str(LIMIT)]) as server:
        urns = first_urns(server.urns_file, sizes.limited, work / "rc-limited.txt")
        ours = audit(server, urns, work, "rc-limited", CEILING)
        throttled_rows["limit 60/s"] = ours.throttled_rows
        theirs = botocore_loop(server, urns) if find_spec("botocore") else None
    _limited_figures(results, sizes, ours, theirs)

    print(f"emulator: {fleet:,} functions, limit {sizes.schedule} per user", flush=True)
    schedule = ["--rate-limit-schedule", sizes.schedule]
    with emu.running(work, fleet, latency_ms=latency, args=schedule) as server:
        urns = first_urns(server.urns_file, sizes.stepped, work / "rc-stepped.txt")
        stepped = audit(server, urns, work, "rc-stepped", CEILING)
        throttled_rows["stepped limit"] = stepped.throttled_rows
    _stepped_figure(results, sizes, stepped)

    runs: dict[str, Run] = {}
    for key, args in (
        ("clean", []),
        ("random", ["--fault", "fss_429=0.01"]),
        ("function", ["--function-fault", "fss_429=0.05", "--fault-times", "2"]),
    ):
        print(f"emulator: {fleet:,} functions, no limit, {' '.join(args) or 'no 429s'}", flush=True)
        with emu.running(work, fleet, latency_ms=latency, args=args) as server:
            urns = first_urns(server.urns_file, sizes.faulted, work / "rc-faulted.txt")
            runs[key] = audit(server, urns, work, f"rc-{key}", FAULT_RATE)
        if key != "clean":
            throttled_rows[f"{key} 429s"] = runs[key].throttled_rows
    _stray_429_figures(results, sizes, runs)

    total = sum(throttled_rows.values())
    results.add(Figure(
        "rate control: rows that ended `throttled`, all rate-control audits", f"{total}", "= 0",
        total == 0, "; ".join(f"{k}: {n}" for k, n in throttled_rows.items()),
    ))  # fmt: skip


def _learned(run: Run) -> str:
    scope = run.scope()
    return (
        f"limit_found {scope.get('limit_found')}, suggested_rate"
        f" {run.throttling.get('suggested_rate')}, rate_cuts {scope.get('rate_cuts')},"
        f" unexplained_429 {scope.get('unexplained_429')}, rate_at_end {scope.get('rate_at_end')}"
    )


def _limited_figures(
    results: Results,
    sizes: RateControlSizes,
    ours: Run,
    botocore: tuple[Run, dict[str, Any]] | None,
) -> None:
    span = accepted_span(ours.accepted)
    ratio = span.rate / LIMIT
    share = ours.answers_429 / ours.requests if ours.requests else math.nan
    steady = statistics.median(ours.accepted[:-1]) if len(ours.accepted) > 1 else math.nan
    results.add(Figure(
        f"rate control: accepted ÷ server limit L = {LIMIT}/s per user (3 projects, one token),"
        f" --rate {CEILING:g}, {sizes.limited:,} URNs",
        f"{ratio:.3f}", "≥ 0.92", ratio >= 0.92,
        f"{span.accepted:,} accepted over {span.seconds} s (server timeline, first to last"
        f" second with an accepted request, both counted) = {span.rate:.1f}/s; median second"
        f" {steady:g}/s; {slow_seconds(ours.accepted, LIMIT)};"
        f" over the audit's run.duration_s {ours.duration_s:.1f} s:"
        f" {span.accepted / ours.duration_s / LIMIT:.3f}; {_learned(ours)}",
    ))  # fmt: skip
    results.add(Figure(
        f"rate control: 429 answers ÷ all tracing requests, same run (L = {LIMIT}/s)",
        f"{share:.2%}", "≤ 3 %", share <= 0.03,
        f"{ours.answers_429:,} of {ours.requests:,}; {bursts(ours.throttled_per_s)};"
        f" busiest accepted 1 s {ours.stats['max_accepted_in_any_1s']}",
    ))  # fmt: skip
    name = (
        f"rate control: ours vs botocore's ClientRateLimiter on the same load (L = {LIMIT}/s),"
        " accepted ÷ L and 429s"
    )
    goal = "ours ≥ theirs, no more 429s"
    if botocore is None:
        note = "skipped: `botocore` is not installed (pip install -e '.[bench]')"
        results.add(Figure(name, "not measured", goal, None, note))
        return
    theirs, boto = botocore
    their_span = accepted_span(theirs.accepted)
    their_ratio = their_span.rate / LIMIT
    fewer = ours.answers_429 <= theirs.answers_429
    results.add(Figure(
        name,
        f"ours {ratio:.3f} / botocore {their_ratio:.3f}; 429s {ours.answers_429:,} /"
        f" {theirs.answers_429:,}",
        goal, ratio >= their_ratio and fewer,
        f"botocore (no ceiling: its adaptive mode has none; same 2-5 s put-back after a 429):"
        f" {their_span.accepted:,} accepted over {their_span.seconds} s = {their_span.rate:.1f}/s,"
        f" median second {statistics.median(theirs.accepted[:-1] or [0]):g}/s;"
        f" {slow_seconds(theirs.accepted, LIMIT)};"
        f" {theirs.answers_429:,} 429s of {theirs.requests:,} requests"
        f" ({theirs.answers_429 / max(1, theirs.requests):.2%}); {bursts(theirs.throttled_per_s)};"
        f" its bucket's rate at the end {boto['max_rate_at_end']:.1f}/s,"
        f" URNs left throttled {boto['throttled_left']}",
    ))  # fmt: skip


def _stepped_figure(results: Results, sizes: RateControlSizes, run: Run) -> None:
    accepted, throttled = run.accepted, run.throttled_per_s
    parts, ratios = [], []
    for phase in sizes.phases:
        rate, seconds = phase_rate(accepted, phase)
        ratios.append(rate / phase.limit)
        refused = sum(throttled[phase.step : phase.end])
        after_step = " ".join(str(n) for n in throttled[phase.step : phase.step + 4])
        parts.append(
            f"{phase.label()}: {rate:.1f}/s = {rate / phase.limit:.3f}"
            f" ({seconds} s measured; {refused} 429s from the step to the end,"
            f" in its first seconds: {after_step})"
        )
    worst = min(ratios)
    results.add(Figure(
        f"rate control: accepted ÷ limit, limit steps {sizes.schedule} (s:limit/s), each phase"
        f" after its settling time, worst phase; --rate {CEILING:g}, {sizes.stepped:,} URNs",
        f"{worst:.3f}", "≥ 0.85 each", all(r >= 0.85 for r in ratios),
        "; ".join(parts) + f"; run {len(accepted)} s on the server's clock,"
        f" {run.answers_429:,} 429s of {run.requests:,} requests; {_learned(run)}",
    ))  # fmt: skip


def _stray_429_figures(results: Results, sizes: RateControlSizes, runs: dict[str, Run]) -> None:
    clean = runs["clean"]
    results.details.append(
        f"rate control, clean run (no limit, no 429s, --rate {FAULT_RATE:g}, {sizes.faulted:,}"
        f" URNs): run.duration_s {clean.duration_s:.2f} s"
        f" ({clean.requests / clean.duration_s:.1f} req/s), process {clean.measured.wall_s:.1f} s"
    )
    for key, name, goal in (
        ("random", "1 % of answers 429 at random", 1.15),
        ("function", "5 % of functions answer 429 twice", 1.25),
    ):
        run = runs[key]
        ratio = run.duration_s / clean.duration_s
        results.add(Figure(
            f"rate control: wall time ÷ the clean run's, {name}, no limit, --rate {FAULT_RATE:g},"
            f" {sizes.faulted:,} URNs",
            f"{ratio:.3f}", f"≤ {goal:.2f}", ratio <= goal,
            f"run.duration_s {run.duration_s:.2f} s vs {clean.duration_s:.2f} s;"
            f" {run.answers_429:,} 429s of {run.requests:,} requests"
            f" (clean: {clean.requests:,}); {_learned(run)}",
        ))  # fmt: skip
