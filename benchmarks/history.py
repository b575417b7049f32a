"""The history store (issue 14): recording a run beside writing its JSON report, the store's
size, what `--baseline last` and finding age cost a million-URN run, `auditor history` over a
hundred runs, and the peak RSS of an audit that records and compares with the last run.

Rows are synthetic but shaped like an audit's: URNs of 24 projects in three regions (some with
a version or an alias), the emulator's status mix, request ids, `checked_at` moving through
the run, the age columns marked from the store's standings. Each run is journaled with
`Journal` (rows a little out of order, as they finish) and recorded exactly as `run_audit`
records it (`auditor.audit._record`: `History.record` over the journal's rows, and a second
read of the rows whose standing changed). The second run of the same URNs, a day later, has
0.5 % of its statuses changed: the steady state of a daily cron job.

PostgreSQL figures need a server whose role may create databases: `AUDITOR_TEST_POSTGRES`
(`bash .ci/postgres start` prints it) and psycopg (the `postgres` extra). The benchmark makes
databases of its own there and drops them; without either, those figures say why they are
missing.
"""

from __future__ import annotations

import cProfile
import functools
import hashlib
import io
import os
import pstats
import shutil
import statistics
import sys
import time
import uuid
from array import array
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

from auditor import __version__
from auditor.audit import HistoryPlan
from auditor.audit import _record as record_as_audit
from auditor.model import Row, Status
from auditor.report.writers import write_reports
from auditor.source.targets import fingerprint
from auditor.store.history import History
from auditor.store.journal import Journal, JournalRows
from auditor.store.runs import RunFacts, RunScope, input_scope
from auditor.verdict.age import Standings
from auditor.verdict.baseline import Baseline
from auditor.verdict.marking import Criteria, Marker
from auditor.verdict.rows import to_record
from auditor.verdict.summary import Summary
from benchmarks.figures import Figure, Results
from benchmarks.measure import Measured, run_measured
from benchmarks.reports import document_for

MIB = 2**20
AUDIT_1M_WALL_S = 232.0  # the 1M-URN audit, all three reports, before the store (RESULTS.md)
CHANGED_PER_RUN = 200  # one URN in 200 changes status between two runs: 0.5 %
POSTGRES_ENV = "AUDITOR_TEST_POSTGRES"


@dataclass(frozen=True)
class HistorySizes:
    """How much the section does; `--quick` shrinks everything."""

    record: tuple[int, ...]  # rows of the recorded runs (SQLite and PostgreSQL)
    repeats: int  # timings of each measurement; the median is the figure
    runs: int  # runs filled into the store that `auditor history` reads
    run_rows: int  # rows of each of those runs
    cli_repeats: int  # `auditor history` processes timed per command
    profile: bool  # cProfile one steady-state record of the largest size (SQLite)


FULL = HistorySizes(
    record=(100_000, 1_000_000), repeats=3, runs=100, run_rows=100_000, cli_repeats=3, profile=True
)
QUICK = HistorySizes(
    record=(1_500,), repeats=1, runs=5, run_rows=1_000, cli_repeats=1, profile=False
)


def without_1m(sizes: HistorySizes) -> HistorySizes:
    """`--no-1m`: no million-row runs."""
    return replace(sizes, record=tuple(n for n in sizes.record if n < 1_000_000))


# --- an audit's rows ---------------------------------------------------------------------------

_MIX = (
    [Status.CONFIGURED] * 75
    + [Status.MISSING_KEYS] * 16
    + [Status.FUNCTION_NOT_FOUND] * 5
    + [Status.ERROR] * 2
    + [Status.UNEXPECTED_KEYS]
    + [Status.AUTH_FAILED]
)
_ANSWERS: dict[Status, tuple[int, str, str, str]] = {  # http_status, code, message, masked AK
    Status.CONFIGURED: (200, "", "", "ABCD****WXYZ"),
    Status.UNEXPECTED_KEYS: (200, "", "", "QRST****MNOP"),
    Status.MISSING_KEYS: (404, "FSS.0404", "can not find tracing aksk", ""),
    Status.FUNCTION_NOT_FOUND: (404, "FSS.1051", "Not found the function", ""),
    Status.ERROR: (500, "FSS.0500", "internal server error", ""),
    Status.AUTH_FAILED: (403, "FSS.0403", "invalid token", ""),
}
_REGIONS = ("cn-north-4", "cn-east-3", "ap-southeast-1")
_PROJECTS = tuple(hashlib.md5(f"project-{n}".encode()).hexdigest() for n in range(24))
_PACKAGES = ("default", "orders", "payments", "search", "notify")
_STARTED = datetime(2026, 11, 2, 6, 0, tzinfo=UTC)
_ROWS_PER_SECOND = 4_000  # checked_at moves on a second every this many rows, as in an audit


class Fleet:
    """The functions a cron job audits every day, and the rows of its `run`-th audit."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.urns: list[str] = []
        self._places: list[tuple[str, str, str, str, str]] = []
        for i in range(count):
            project = _PROJECTS[i % len(_PROJECTS)]
            region = _REGIONS[i % len(_PROJECTS) % len(_REGIONS)]
            package = _PACKAGES[(i // 7) % len(_PACKAGES)]
            name = f"{package}-handler-{i:07d}"
            qualifier = "latest" if i % 10 == 0 else ("!prod" if i % 25 == 1 else "")
            urn = f"urn:fss:{region}:{project}:function:{package}:{name}"
            self.urns.append(f"{urn}:{qualifier}" if qualifier else urn)
            self._places.append((region, project, package, name, qualifier.lstrip("!")))
        self.scope: RunScope = input_scope(fingerprint(self.urns), ["urns.txt"], count)

    def started(self, run: int) -> datetime:
        return _STARTED + timedelta(days=run)

    def status(self, index: int, run: int) -> Status:
        status = _MIX[(index * 37) % len(_MIX)]
        if run and (index * 7919 + run * 104_729) % CHANGED_PER_RUN == 0:
            return Status.MISSING_KEYS if status is Status.CONFIGURED else Status.CONFIGURED
        return status

    def rows(self, run: int, indices: Sequence[int] | None = None) -> Iterator[tuple[int, Row]]:
        """`(index, row)` of run `run` (0: the first), unmarked, in target order."""
        started = self.started(run)
        times: dict[int, str] = {}
        for i in range(self.count) if indices is None else indices:
            second = i // _ROWS_PER_SECOND
            checked_at = times.get(second)
            if checked_at is None:
                moment = started + timedelta(seconds=second)
                checked_at = times[second] = moment.strftime("%Y-%m-%dT%H:%M:%SZ")
            status = self.status(i, run)
            http_status, code, message, ak = _ANSWERS[status]
            region, project, package, name, qualifier = self._places[i]
            yield (
                i,
                Row(
                    urn=self.urns[i],
                    region=region,
                    project_id=project,
                    account="",
                    package=package,
                    function=name,
                    qualifier=qualifier,
                    status=status,
                    http_status=http_status,
                    error_code=code,
                    error_msg=message,
                    tracing_ak=ak,
                    request_id=f"{(i * 0x9E3779B97F4A7C15 + run) % 2**128:032x}",
                    attempts=1 if http_status != 500 else 2,
                    elapsed_ms=18 + (i * 13) % 60,
                    checked_at=checked_at,
                    source=f"urns.txt:{i + 1}",
                    occurrences=1,
                ),
            )

    def facts(self, run: int, summary: Summary, key: str = "") -> RunFacts:
        started = self.started(run)
        finished = started + timedelta(seconds=self.count // _ROWS_PER_SECOND + 1)
        text = started.strftime("%Y-%m-%dT%H:%M:%SZ")
        name = f"tracing-audit-{started:%Y%m%dT%H%M%SZ}"
        return RunFacts(
            key=f"{text} {name}{key}",
            name=name,
            scope=self.scope,
            started_at=text,
            finished_at=finished.strftime("%Y-%m-%dT%H:%M:%SZ"),
            complete=True,
            summary=summary,
            settings={"rate": 0, "concurrency": 64, "formats": ["json"], "credentials": "token"},
            tool_version=__version__,
            recorded_at=finished.strftime("%Y-%m-%dT%H:%M:%SZ"),
        )


@dataclass
class JournaledRun:
    """One run as an audit leaves it: its journal, each target's line, and its counts."""

    run: int
    path: Path
    offsets: array[int]
    written_from: int
    summary: Summary

    def rows(self, *, raw: bool = True) -> JournalRows:
        """The rows as `run_audit` reads them back (raw: the JSON report copies the lines)."""
        return JournalRows(self.path, self.offsets, raw_from=self.written_from if raw else None)


def journal_run(fleet: Fleet, run: int, criteria: Criteria, path: Path) -> JournaledRun:
    """Mark run `run`'s rows as the audit does (`Marker.add`) and journal them, a few at a
    time out of order (rows finish out of order, never far from it)."""
    marker = Marker(criteria, started_at=fleet.started(run).strftime("%Y-%m-%dT%H:%M:%SZ"))
    offsets = array("q", [-1]) * fleet.count
    with Journal(path, {"name": f"run-{run}", "targets": fleet.count}) as journal:
        written_from = journal.opened_at
        block: list[tuple[int, Row]] = []
        for index, row in fleet.rows(run):
            block.append((index, marker.add(index, row)))
            if len(block) == 64:
                for at, marked in block[1::2] + block[::2]:
                    offsets[at] = journal.record(at, marked)
                block.clear()
        for at, marked in block:
            offsets[at] = journal.record(at, marked)
    return JournaledRun(run, path, offsets, written_from, marker.finish().summary)


# --- timing ------------------------------------------------------------------------------------


def _timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def _median(times: Sequence[float]) -> float:
    return statistics.median(times)


def _spread(times: Sequence[float]) -> str:
    return "/".join(f"{t:.2f}" for t in times) + " s"


def _s(seconds: float) -> str:
    return f"{seconds:.1f} s" if seconds >= 10 else f"{seconds:.2f} s"


def time_json(journaled: JournaledRun, out: Path, repeats: int) -> dict[str, list[float]]:
    """The JSON report of the run (through `write_reports`: temp file, fsync, rename), from the
    journal's raw lines (as an audit writes it) and from decoded rows."""
    times: dict[str, list[float]] = {"raw": [], "decoded": []}
    for _ in range(repeats):
        for kind in ("raw", "decoded"):
            document = replace(
                document_for([]), rows=journaled.rows(raw=kind == "raw"), summary=journaled.summary
            )
            write = functools.partial(write_reports, document, out, "bench", ["json"])
            times[kind].append(_timed(write))
    (out / "bench.json").unlink(missing_ok=True)
    return times


@dataclass
class Backend:
    """Where stores are made: fresh SQLite files in a folder, or fresh PostgreSQL databases
    on a server."""

    kind: str
    folder: Path
    server: str = ""  # a PostgreSQL URL whose role may CREATE DATABASE
    made: list[str] | None = None

    @property
    def label(self) -> str:
        return "SQLite" if self.kind == "sqlite" else "PostgreSQL"

    def fresh(self) -> str:
        """A new, empty store (migrated), as a `--history` location."""
        if self.made is None:
            self.made = []
        name = f"auditor_bench_{uuid.uuid4().hex[:12]}"
        if self.kind == "sqlite":
            location = str(self.folder / f"{name}.sqlite")
            self.made.append(location)
            History.open(location).close()
            return location
        import psycopg
        from psycopg import sql

        with psycopg.connect(self.server, autocommit=True) as admin:
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        self.made.append(name)
        location = urlsplit(self.server)._replace(path=f"/{name}").geturl()
        History.open(location, migrate=True).close()
        return location

    def size(self, location: str) -> int:
        """The store's bytes on disk: the SQLite file and its WAL after a checkpoint; on
        PostgreSQL the tables with their indexes and TOAST (`pg_total_relation_size`)."""
        with History.open(location) as store:
            if self.kind == "sqlite":
                store.database.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                wal = Path(location + "-wal")
                return os.path.getsize(location) + (wal.stat().st_size if wal.exists() else 0)
            tables = ("schema_version", "runs", "results", "functions", "changes")
            found = store.database.rows(
                "SELECT SUM(pg_total_relation_size(t::regclass)) FROM unnest(?::text[]) AS t",
                (list(tables),),
            )
            return int(found[0][0])

    def drop_all(self) -> None:
        """Remove every store this backend made."""
        for made in self.made or []:
            if self.kind == "sqlite":
                for suffix in ("", "-wal", "-shm"):
                    Path(made + suffix).unlink(missing_ok=True)
                continue
            _drop_database(self.server, made)
        self.made = []


def _drop_database(server: str, name: str) -> None:
    """Drop a database the benchmark made. Its own connections are closed by now; not `WITH
    (FORCE)`: that would try to end an autovacuum worker (after a million-row COPY there often
    is one), which this role may not signal. A plain DROP waits for autovacuum to leave."""
    import psycopg
    from psycopg import sql

    statement = sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name))
    with psycopg.connect(server, autocommit=True) as admin:
        for attempt in range(10):
            try:
                admin.execute(statement)
                return
            except psycopg.errors.ObjectInUse:
                if attempt == 9:
                    raise
                time.sleep(1.0)


def postgres_backend(folder: Path) -> tuple[Backend | None, str]:
    """The PostgreSQL backend, or why there is none."""
    server = os.environ.get(POSTGRES_ENV, "")
    if not server:
        return None, f"not measured: no PostgreSQL server ({POSTGRES_ENV} unset)"
    host = urlsplit(server).hostname or ""
    if host not in ("127.0.0.1", "localhost", "::1"):
        return None, f"not measured: {POSTGRES_ENV} is not on this machine's loopback"
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return None, "not measured: psycopg is not installed (pip install 'auditor[postgres]')"
    return Backend("postgresql", folder, server), ""


def record(location: str, journaled: JournaledRun, facts: RunFacts, standings: Standings) -> float:
    """Seconds to record the run exactly as `run_audit` does (`auditor.audit._record`: the
    journal's rows streamed into `History.record`, a second read for the changed ones). The
    store is opened beforehand, as an audit opens it before its first request."""
    with History.open(location) as store:
        started = time.perf_counter()
        recorded, error = record_as_audit(
            HistoryPlan(store, facts.scope),
            facts,
            journaled.rows(),
            Criteria(standings=standings),
            journaled.path,
            journaled.offsets,
        )
        took = time.perf_counter() - started
    if recorded is None:
        raise RuntimeError(error)
    return took


@dataclass
class Loaded:
    """What a run loads from the store before it starts, and how long that took."""

    standings: Standings
    baseline: Baseline
    standings_s: list[float]
    baseline_s: list[float]


def load_before_run(location: str, fleet: Fleet, repeats: int) -> Loaded:
    """`History.standings(urns)` (finding age) and `last_run` + `baseline` (`--baseline
    last`), as `auditor audit` loads them before its first request."""
    standings_s, baseline_s = [], []
    standings: Standings | None = None
    baseline: Baseline | None = None
    with History.open(location) as store:
        for _ in range(repeats):
            standings = baseline = None  # the last ones are not held while the next load
            started = time.perf_counter()
            standings = store.standings(fleet.urns)
            standings_s.append(time.perf_counter() - started)
            started = time.perf_counter()
            last = store.last_run(fleet.scope.key)
            assert last is not None
            baseline = store.baseline(last)
            baseline_s.append(time.perf_counter() - started)
    assert standings is not None and baseline is not None
    return Loaded(standings, baseline, standings_s, baseline_s)


def marking_cost(fleet: Fleet, run: int, criteria: Criteria, repeats: int) -> list[float]:
    """Seconds that marking the run's rows (finding age and `change` against the baseline)
    adds to `Marker.add`, which every audit calls on every row anyway: the same rows
    marked with the standings and the baseline, less marked without them; the two
    alternate, one difference per pair."""
    started_at = fleet.started(run).strftime("%Y-%m-%dT%H:%M:%SZ")

    def mark_all(with_marks: Criteria | None) -> float:
        marker = Marker(with_marks, started_at=started_at)
        add = marker.add
        started = time.perf_counter()
        for index, row in fleet.rows(run):
            add(index, row)
        marker.finish()
        return time.perf_counter() - started

    costs = []
    for _ in range(repeats):
        plain = mark_all(None)
        marked = mark_all(criteria)
        costs.append(marked - plain)
    return costs


# --- the section -------------------------------------------------------------------------------


@dataclass
class RecordTimes:
    """One backend's timings and sizes at one row count."""

    first_s: list[float]
    second_s: list[float]
    first_bytes: int  # the store after the first run
    run_bytes: float  # what each further (steady-state) run added
    standings_s: list[float]
    baseline_s: list[float]
    profile: str = ""


def measure_backend(
    backend: Backend,
    fleet: Fleet,
    first: JournaledRun,
    work: Path,
    repeats: int,
    *,
    profile: bool = False,
) -> tuple[RecordTimes, JournaledRun, Loaded]:
    """Record the first run into fresh stores; from the last one load what the second run
    needs, journal the second run marked from it, and record that `repeats` times (each a run
    of its own, aged from the same standings: the same work each time). With `profile`, one
    more record of the second run under cProfile, not timed."""
    first_facts = fleet.facts(first.run, first.summary)
    first_s = []
    location = ""
    for attempt in range(repeats):
        if location:
            backend.drop_all()
        location = backend.fresh()
        first_s.append(record(location, first, first_facts, Standings(fleet.count)))
        print(f"  {backend.label}: run 1 recorded ({attempt + 1}/{repeats})", flush=True)
    first_bytes = backend.size(location)
    loaded = load_before_run(location, fleet, repeats)
    criteria = Criteria(baseline=loaded.baseline, standings=loaded.standings)
    second = journal_run(fleet, first.run + 1, criteria, work / "run-1.journal.jsonl")
    second_s = []
    for attempt in range(repeats):
        facts = fleet.facts(second.run, second.summary, key=f" #{attempt}")
        second_s.append(record(location, second, facts, loaded.standings))
        print(f"  {backend.label}: run 2 recorded ({attempt + 1}/{repeats})", flush=True)
    run_bytes = (backend.size(location) - first_bytes) / repeats
    text = ""
    if profile:
        facts = fleet.facts(second.run, second.summary, key=" profiled")
        profiler = cProfile.Profile()
        profiler.enable()
        record(location, second, facts, loaded.standings)
        profiler.disable()
        text = _top(profiler)
    backend.drop_all()
    times = RecordTimes(
        first_s, second_s, first_bytes, run_bytes, loaded.standings_s, loaded.baseline_s, text
    )
    return times, second, loaded


def _top(profiler: cProfile.Profile, count: int = 20) -> str:
    text = io.StringIO()
    pstats.Stats(profiler, stream=text).sort_stats("tottime").print_stats(count)
    lines = [line for line in text.getvalue().splitlines() if line.strip()]
    start = next((i for i, line in enumerate(lines) if line.lstrip().startswith("ncalls")), 0)
    return "\n".join(lines[start:])


def measure_history(
    results: Results, work: Path, sizes: HistorySizes, *, audit_wall_s: float | None = None
) -> None:
    """Every in-process figure of the section. `audit_wall_s`: the wall time of a
    million-URN audit this run measured, if it did."""
    folder = work / "history"
    folder.mkdir(parents=True, exist_ok=True)
    postgres, no_postgres = postgres_backend(folder)
    backends = [Backend("sqlite", folder), *([postgres] if postgres is not None else [])]
    if postgres is None:
        results.details.append(f"history store on PostgreSQL: {no_postgres}")
    try:
        for count in sizes.record:
            _measure_size(results, folder, count, backends, sizes, no_postgres, audit_wall_s)
        _measure_cli(results, folder, sizes)
    finally:
        for backend in backends:
            backend.drop_all()
        shutil.rmtree(folder, ignore_errors=True)


def _measure_size(
    results: Results,
    folder: Path,
    count: int,
    backends: list[Backend],
    sizes: HistorySizes,
    no_postgres: str,
    audit_wall_s: float | None,
) -> None:
    largest = count == max(sizes.record)
    print(f"history store: {count:,} rows", flush=True)
    fleet = Fleet(count)
    first = journal_run(fleet, 0, Criteria(standings=Standings(count)), folder / "run-0.jsonl")
    jsons = {"first": time_json(first, folder, sizes.repeats)}
    timed: dict[str, RecordTimes] = {}
    marking: list[float] = []
    for backend in backends:
        profile = largest and sizes.profile and backend.kind == "sqlite"
        times, second, loaded = measure_backend(
            backend, fleet, first, folder, sizes.repeats, profile=profile
        )
        timed[backend.kind] = times
        if times.profile:
            results.profiles[f"recording a steady-state run of {count:,} rows into SQLite"] = (
                times.profile
            )
        if backend.kind == "sqlite":
            jsons["second"] = time_json(second, folder, sizes.repeats)
            if largest:
                criteria = Criteria(baseline=loaded.baseline, standings=loaded.standings)
                marking = marking_cost(fleet, second.run, criteria, sizes.repeats)
        del loaded
        second.path.unlink(missing_ok=True)
    first.path.unlink(missing_ok=True)
    for backend in backends:
        times = timed[backend.kind]
        for which, label in (("first", "first run, every function new"),
                             ("second", "second run, 0.5 % changed (steady state)")):  # fmt: skip
            _record_figure(results, backend, count, label, times, which, jsons[which])
        results.add(Figure(
            f"history store size, {backend.label}, {count:,} rows a run",
            f"{times.run_bytes / MIB:.1f} MiB a run = {times.run_bytes / count:.0f} B a row",
            note=f"each steady-state run adds this (mean of {len(times.second_s)});"
            f" the store after the first run: {times.first_bytes / MIB:.1f} MiB"
            f" ({times.first_bytes / count:.0f} B a row: results, functions, changes)",
        ))  # fmt: skip
    if "postgresql" not in timed:
        results.add(Figure(f"record {count:,} rows into PostgreSQL", no_postgres))
    if largest:
        _age_figure(results, fleet.count, timed, marking, audit_wall_s)


def _record_figure(
    results: Results,
    backend: Backend,
    count: int,
    label: str,
    times: RecordTimes,
    which: str,
    json_times: dict[str, list[float]],
) -> None:
    recorded_s = times.first_s if which == "first" else times.second_s
    recorded = _median(recorded_s)
    raw, decoded = _median(json_times["raw"]), _median(json_times["decoded"])
    goal = backend.kind == "sqlite" and count >= 1_000_000
    results.add(Figure(
        f"record {count:,} rows into {backend.label}, {label} ÷ JSON report write",
        f"{_s(recorded)} = {recorded / raw:.1f}× the JSON report as an audit writes it"
        f" ({_s(raw)}, journal lines copied); {recorded / decoded:.2f}× the JSON report from"
        f" decoded rows ({_s(decoded)})",
        "≤ 1.0× (JSON as written)" if goal else "",
        recorded / raw <= 1.0 if goal else None,
        f"medians of {len(recorded_s)}: record {_spread(recorded_s)};"
        f" JSON copied {_spread(json_times['raw'])}, decoded {_spread(json_times['decoded'])}",
    ))  # fmt: skip


def _age_figure(
    results: Results,
    count: int,
    timed: dict[str, RecordTimes],
    marking: list[float],
    audit_wall_s: float | None,
) -> None:
    """`--baseline last` and finding age: loading before the run, marking during it."""
    sqlite = timed["sqlite"]
    standings_s, baseline_s = _median(sqlite.standings_s), _median(sqlite.baseline_s)
    added = standings_s + baseline_s + _median(marking)
    wall = AUDIT_1M_WALL_S * count / 1_000_000
    which = "RESULTS.md's 1M-URN audit before the store (all three reports), 232 s"
    if count != 1_000_000:
        which = f"RESULTS.md's 1M-URN audit (232 s) scaled to {count:,} URNs, {wall:.1f} s"
    recorded = _median(sqlite.second_s)
    postgres = timed.get("postgresql")
    on_postgres = ""
    if postgres is not None:
        on_postgres = (
            f"; on PostgreSQL: standings {_median(postgres.standings_s):.1f} s,"
            f" last run + baseline {_median(postgres.baseline_s):.1f} s (medians)"
        )
    measured = ""
    if audit_wall_s is not None:
        measured = (
            f" (of the first audit this run measured, {audit_wall_s:.0f} s:"
            f" {added / audit_wall_s:.1%})"
        )
    results.add(Figure(
        f"--baseline last and finding age, {count:,} URNs (SQLite): loading and marking"
        " ÷ the audit's wall time",
        f"{_s(added)} = {added / wall:.1%}", "≤ 10 %", added / wall <= 0.10,
        f"standings(urns) {_s(standings_s)} ({_spread(sqlite.standings_s)}), last_run +"
        f" baseline {_s(baseline_s)} ({_spread(sqlite.baseline_s)}), marking the rows"
        f" {_s(_median(marking))} ({_spread(marking)}); against {which}{measured};"
        f" with the steady-state record ({_s(recorded)}) too:"
        f" {(added + recorded) / wall:.1%}{on_postgres}",
    ))  # fmt: skip


# --- auditor history ---------------------------------------------------------------------------


def fill_store(location: str, fleet: Fleet, runs: int) -> None:
    """Record `runs` daily runs of the fleet, each aged from the store as an audit ages it,
    into `History.record` straight from rows in memory, as `auditor history import` records
    (no journal: one per run would make the fill half as long again)."""
    for run in range(runs):
        if run and run % 10 == 0:
            print(f"  {run} runs recorded", flush=True)
        with History.open(location) as store:
            standings = store.standings(fleet.urns)
            marker = Marker(Criteria(standings=standings))
            marked = [marker.add(index, row) for index, row in fleet.rows(run)]
            facts = fleet.facts(run, marker.finish().summary)
            records = ((index, to_record(row)) for index, row in enumerate(marked))
            store.record(facts, records, standings, functools.partial(_pick, marked))


def _pick(rows: list[Row], indices: Sequence[int]) -> list[tuple[int, Row]]:
    return [(i, rows[i]) for i in indices]


def _history_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("HUAWEICLOUD_", "AUDITOR_"))}


def time_cli(arguments: Sequence[str], repeats: int) -> list[Measured]:
    """`python -m auditor ARGUMENTS` as whole processes."""
    measured = []
    for _ in range(repeats):
        done = run_measured([sys.executable, "-m", "auditor", *arguments], env=_history_env(),
                            timeout_s=120)  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(f"auditor {' '.join(arguments)}: {done.stderr[-2000:]}")
        measured.append(done)
    return measured


def _measure_cli(results: Results, folder: Path, sizes: HistorySizes) -> None:
    fleet = Fleet(sizes.run_rows)
    location = str(folder / "runs.sqlite")
    print(f"history store: filling {sizes.runs} runs of {sizes.run_rows:,} rows", flush=True)
    filled = _timed(lambda: fill_store(location, fleet, sizes.runs))
    stored = Backend("sqlite", folder).size(location)
    # The URN that changed status most often: the longest timeline.
    flips = [sum(fleet.status(i, r) != fleet.status(i, r - 1) for r in range(1, sizes.runs))
             for i in range(0, fleet.count, 97)]  # fmt: skip
    urn = fleet.urns[97 * flips.index(max(flips))]
    base = ["history", "--history", location]
    for label, arguments in (("runs", base), (f"--urn (a URN with {max(flips)} changes)",
                                              [*base, "--urn", urn])):  # fmt: skip
        timings = time_cli(arguments, sizes.cli_repeats)
        walls = [t.wall_s for t in timings]
        wall = _median(walls)
        results.add(Figure(
            f"auditor history {label}, {sizes.runs} runs of {sizes.run_rows:,} rows (SQLite),"
            " whole process",
            f"{wall:.2f} s", "≤ 2 s", wall <= 2.0,
            f"median of {len(walls)} ({_spread(walls)}); store {stored / MIB:.0f} MiB,"
            f" filled by History.record in {filled:.0f} s",
        ))  # fmt: skip
    Path(location).unlink(missing_ok=True)


# --- an audit that records and compares with the last run -------------------------------------


def measure_baseline_audit(
    results: Results,
    audit: Callable[[str, Sequence[str]], Measured],
    size: int,
    first: Measured | None = None,
) -> float:
    """Peak RSS of `auditor audit` over `size` URNs recording into `<out>/history.sqlite`
    (the default) with `--baseline last`, the second run over the same URNs. `audit(name,
    extra_args)` runs one audit into one folder; `first` is the first run if it was already
    made there. Returns the first run's wall time."""
    if first is None:
        first = audit("history-1", [])
    second = audit("history-2", ["--baseline", "last"])
    goal = "≤ 512 MiB" if size >= 1_000_000 else ""
    results.add(Figure(
        f"peak RSS of auditor audit, {size:,} URNs, all three reports, recording into"
        " history.sqlite with --baseline last (second run)",
        f"{second.maxrss_mib:.0f} MiB", goal, second.maxrss_mib <= 512 if goal else None,
        f"second run {second.wall_s:.0f} s, CPU {second.cpu_s:.0f} s; the first run (store"
        f" empty, every function new) {first.maxrss_mib:.0f} MiB, {first.wall_s:.0f} s",
    ))  # fmt: skip
    return first.wall_s
