"""The history store (auditor/store/history.py), on SQLite and on a real PostgreSQL server
(`history_url` runs each test on both): the schema and its versions, recording runs and
reading them back, a run recorded twice kept once, standings, timelines, pruning, one
transaction per run, no secret in any table (nor in a store URL), and several writers at once
on one store, a new SQLite file included."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from auditor.audit import HistoryPlan
from auditor.config import Settings
from auditor.errors import HistoryError
from auditor.model import Row, Status
from auditor.source.inputs import from_lines
from auditor.store.database import is_postgres, shown
from auditor.store.history import History, TimelineEntry
from auditor.store.runs import RecordedRun, RunFacts, RunScope, input_scope, projects_scope
from auditor.store.schema import SCHEMA_VERSION
from auditor.verdict.age import Standing
from auditor.verdict.marking import Criteria, Marker
from auditor.verdict.rows import to_record
from tests.factories import PROJECT, WallClock, make_row
from tests.test_audit import AK, FakeProber, audit
from tests.test_audit import urn as audit_urn

C, M, NF, E = Status.CONFIGURED, Status.MISSING_KEYS, Status.FUNCTION_NOT_FOUND, Status.ERROR
SCOPE = RunScope("inputs:0123456789abcdef", "in.txt (4 entries)")
OTHER_SCOPE = RunScope("inputs:fedcba9876543210", "other.txt (1 entries)")
TABLES = {"schema_version", "runs", "results", "functions", "changes"}


def day(n: int, hour: int = 7) -> str:
    return f"2024-05-{6 + n:02d}T{hour:02d}:00:00Z"


def urn(n: int) -> str:
    return make_row(n).urn


def open_store(url: str) -> History:
    """The store at `url`, created and at the current schema on either backend."""
    return History.open(url, migrate=True)


def as_records(rows: Iterable[tuple[int, Row]]) -> Iterator[tuple[int, dict[str, Any]]]:
    """Rows as `History.record` streams them in: each row's report record (its JSON object,
    as the journal holds it), one at a time."""
    for index, row in rows:
        yield index, to_record(row)


def record_run(
    store: History,
    name: str,
    when: str,
    statuses: Mapping[int, Status],
    *,
    scope: RunScope = SCOPE,
    complete: bool = True,
    key: str | None = None,
    only: Sequence[int] | None = None,
    rows: Iterator[tuple[int, Row]] | None = None,
    settings: Mapping[str, Any] | None = None,
) -> RecordedRun:
    """Record one run over functions `fn-<n>` (target index i for the i-th of `statuses`),
    aged from the store's standings as an audit does; `only` records just those indices (a
    partial run), `rows` replaces the rows given to `record` (to make it fail)."""
    numbers = list(statuses)
    standings = store.standings([urn(n) for n in numbers])
    marker = Marker(Criteria(standings=standings), started_at=when)
    indexed = [
        (i, marker.add(i, make_row(n, statuses[n], checked_at=when)))
        for i, n in enumerate(numbers)
        if only is None or i in only
    ]
    by_index = dict(indexed)
    facts = RunFacts(
        key=key or f"{when} {name}",
        name=name,
        scope=scope,
        started_at=when,
        finished_at=when,
        complete=complete,
        summary=marker.finish().summary,
        settings=settings or {"rate": 10.0, "formats": ["json"]},
        tool_version="test",
        recorded_at=when,
    )
    return store.record(
        facts,
        as_records(rows if rows is not None else iter(indexed)),
        standings,
        lambda indices: [(i, by_index[i]) for i in indices],
    )


def count(store: History, table: str) -> int:
    return int(store.database.rows(f"SELECT COUNT(*) FROM {table}")[0][0])


def tables(store: History) -> set[str]:
    if store.database.kind == "sqlite":
        query = "SELECT name FROM sqlite_master WHERE type = 'table'"
    else:
        query = "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
    return {name for (name,) in store.database.rows(query)}


# --- the schema ----------------------------------------------------------------------------------


def test_a_store_is_created_on_open_for_sqlite_and_by_migrate_for_postgresql(
    history_url: str,
) -> None:
    if is_postgres(history_url):
        # A team's database is changed on purpose: opening does not migrate it.
        with pytest.raises(HistoryError, match="auditor history migrate") as refused:
            History.open(history_url)
        assert "schema 0" in str(refused.value)
        with History.open(history_url, migrate=True) as store:
            assert store.version() == SCHEMA_VERSION
    else:
        assert not Path(history_url).exists()
        with History.open(history_url) as store:
            assert store.version() == SCHEMA_VERSION
            assert store.runs() == []
        # Made when the first run is recorded (or by migrate), not when opened: a run that
        # stops before recording leaves no file.
        assert not Path(history_url).exists()
        with History.open(history_url, migrate=True) as store:
            mode = store.database.rows("PRAGMA journal_mode")[0][0]
            assert mode == "wal"  # two writers at once both land
        assert Path(history_url).is_file()
    with History.open(history_url) as store:  # now opens as it is, on both
        assert tables(store) >= TABLES
        assert store.version() == SCHEMA_VERSION
        assert store.migrate() == []  # nothing left to apply
        assert count(store, "schema_version") == SCHEMA_VERSION
        assert store.runs() == []


def test_a_postgresql_store_not_migrated_is_left_untouched(postgres_url: str) -> None:
    with pytest.raises(HistoryError, match="auditor history migrate"):
        History.open(postgres_url)
    with History.open(postgres_url, migrate=True) as store:
        assert store.migrate() == []  # the open did the one migration
        assert count(store, "schema_version") == SCHEMA_VERSION


def test_a_store_written_by_a_newer_auditor_is_refused(history_url: str) -> None:
    with open_store(history_url) as store:
        record_run(store, "r1", day(0), {0: M})
        store.database.execute(
            "INSERT INTO schema_version (version, applied_at) VALUES (?, ?)",
            (SCHEMA_VERSION + 1, day(1)),
        )
    for migrate in (None, True, False):
        with pytest.raises(HistoryError, match="newer") as refused:
            History.open(history_url, migrate=migrate)
        assert f"schema {SCHEMA_VERSION + 1}" in str(refused.value)
        assert "\n" not in str(refused.value)
    # Refused, not changed: the newer schema's rows are all still there.
    if not is_postgres(history_url):
        with sqlite3.connect(history_url) as raw:
            newest = raw.execute("SELECT MAX(version) FROM schema_version").fetchone()[0]
            assert newest == SCHEMA_VERSION + 1
            assert raw.execute("SELECT COUNT(*) FROM runs").fetchone()[0] == 1


# --- recording and reading back ------------------------------------------------------------------


def test_a_run_is_recorded_and_read_back(history_url: str) -> None:
    statuses = {0: C, 1: M, 2: NF, 3: E}
    with open_store(history_url) as store:
        recorded = record_run(store, "first", day(0), statuses)
        assert recorded == RecordedRun(
            run_id=recorded.run_id,
            name="first",
            scope=SCOPE.key,
            scope_label=SCOPE.label,
            started_at=day(0),
            finished_at=day(0),
            complete=True,
            total=4,
            compliance=33.33,  # 1 configured of 3 functions that exist
            by_status={"configured": 1, "missing_keys": 1, "function_not_found": 1, "error": 1},
            recorded_from="audit",
        )
        assert store.runs() == [recorded]
        assert store.runs_by_id(recorded.run_id) == recorded
        assert store.runs_by_id(recorded.run_id + 1000) is None
        configured, findings, settings = store.database.rows(
            "SELECT configured, findings, settings FROM runs"
        )[0]
        assert (configured, findings) == (1, 2)  # an error is not a finding (no verdict)
        assert '"rate": 10.0' in settings
        results = store.database.rows(
            "SELECT urn, status, first_seen, failing_since, days_failing, tracing_ak "
            "FROM results ORDER BY urn"
        )
        assert sorted(results) == sorted(
            [
                (urn(0), "configured", day(0), "", None, "AKID****WXYZ"),
                (urn(1), "missing_keys", day(0), day(0), 0, ""),
                (urn(2), "function_not_found", day(0), day(0), 0, ""),
                (urn(3), "error", day(0), "", None, ""),
            ]
        )
    with History.open(history_url) as again:  # what was recorded outlives the connection
        assert again.runs() == [recorded]


def test_runs_are_listed_newest_first_and_filtered(history_url: str) -> None:
    with open_store(history_url) as store:
        a = record_run(store, "a", day(0), {0: C, 1: M})
        b = record_run(store, "b", day(1), {0: C, 1: C}, complete=False)
        c = record_run(store, "c", day(2), {5: M}, scope=OTHER_SCOPE)
        d = record_run(store, "d", day(3), {0: M, 1: C})
        assert store.runs() == [d, c, b, a]
        assert store.runs(scope=SCOPE.key) == [d, b, a]
        assert store.runs(scope=OTHER_SCOPE.key) == [c]
        assert store.runs(scope="inputs:nobody") == []
        assert store.runs(limit=2) == [d, c]
        assert store.runs(complete_only=True) == [d, c, a]
        assert store.runs(scope=SCOPE.key, complete_only=True, limit=1) == [d]
        assert [r.complete for r in (a, b, c, d)] == [True, False, True, True]
        assert len({a.run_id, b.run_id, c.run_id, d.run_id}) == 4


def test_last_run_is_the_latest_complete_run_of_the_scope(history_url: str) -> None:
    with open_store(history_url) as store:
        assert store.last_run(SCOPE.key) is None
        a = record_run(store, "a", day(0), {0: C, 1: M})
        other = record_run(store, "other", day(1), {0: M}, scope=OTHER_SCOPE)
        interrupted = record_run(store, "b", day(2), {0: M, 1: M}, complete=False)
        assert store.last_run(SCOPE.key) == a  # the interrupted one is not a baseline
        assert store.last_run(SCOPE.key, complete=False) == interrupted
        assert store.last_run(OTHER_SCOPE.key) == other
        c = record_run(store, "c", day(3), {0: C, 1: C})
        assert store.last_run(SCOPE.key) == c


def test_trend_is_the_scope_s_last_runs_oldest_first(history_url: str) -> None:
    with open_store(history_url) as store:
        runs = [record_run(store, f"r{n}", day(n), {0: C, 1: M if n % 2 else C}) for n in range(5)]
        record_run(store, "elsewhere", day(2, hour=9), {0: M}, scope=OTHER_SCOPE)
        assert store.trend(SCOPE.key) == runs
        assert store.trend(SCOPE.key, limit=3) == runs[2:]
        assert [r.compliance for r in store.trend(SCOPE.key)] == [100.0, 50.0, 100.0, 50.0, 100.0]
        assert store.trend("inputs:nobody") == []


def test_a_recorded_run_is_a_baseline_with_statuses_and_places(history_url: str) -> None:
    eu = make_row(9, NF, region="eu-west-101")
    with open_store(history_url) as store:
        run = record_run(store, "base", day(0), {0: C, 1: M, 2: E})
        # One more function in another region, recorded in a run of its own scope.
        standings = store.standings([eu.urn])
        facts = RunFacts(
            f"{day(1)} eu", "eu", OTHER_SCOPE, day(1), day(1), True,
            Marker().finish().summary, {}, "test", day(1),
        )  # fmt: skip
        row = Marker(Criteria(standings=standings)).add(0, eu)
        store.record(facts, as_records([(0, row)]), standings, lambda indices: [(0, row)])
        baseline = store.baseline(run)
        assert baseline.statuses == {urn(0): C, urn(1): M, urn(2): E}
        assert baseline.places == {urn(n): ("cn-north-4", PROJECT) for n in range(3)}
        assert baseline.started_at == day(0)
        assert "base" in baseline.source
        eu_run = store.last_run(OTHER_SCOPE.key)
        assert eu_run is not None
        assert store.baseline(eu_run).places == {eu.urn: ("eu-west-101", PROJECT)}


def test_the_same_run_recorded_twice_is_kept_once(history_url: str) -> None:
    """An interrupted run recorded, then resumed and recorded again under the same key."""
    statuses = {0: M, 1: C, 2: NF}
    key = f"{day(0)} nightly"
    with open_store(history_url) as store:
        partial = record_run(
            store, "nightly", day(0), statuses, key=key, complete=False, only=[0, 1]
        )
        assert (partial.total, partial.complete) == (2, False)
        assert count(store, "results") == 2
        whole = record_run(store, "nightly", day(0), statuses, key=key)
        assert store.runs() == [whole]
        assert (whole.total, whole.complete) == (3, True)
        assert count(store, "runs") == 1
        assert count(store, "results") == 3  # replaced, not doubled
        # The timeline the partial record wrote stays, now pointing at the one run.
        for n, status in statuses.items():
            standing, entries = store.timeline(urn(n))
            assert standing is not None and standing["status"] == status.value
            assert entries == [
                TimelineEntry(day(0), "nightly", "", status.value, day(0) if n != 1 else "")
            ]
        assert count(store, "changes") == 3
        assert {r[0] for r in store.database.rows("SELECT run_id FROM changes")} == {whole.run_id}
        assert {r[0] for r in store.database.rows("SELECT run_id FROM functions")} == {whole.run_id}


def test_standings_after_recording(history_url: str) -> None:
    with open_store(history_url) as store:
        assert store.standings([urn(0)]).known() == 0
        assert len(store.standings([])) == 0
        record_run(store, "r1", day(0), {0: C, 1: M, 2: E})
        record_run(store, "r2", day(3), {0: M, 1: E, 2: E})
        # A partial run that reached only fn-0: the others stay as they were.
        record_run(store, "r3", day(5), {0: C, 1: C, 2: C}, complete=False, only=[0])
        asked = [urn(2), urn(7), urn(1), urn(0)]
        standings = store.standings(asked)
        assert len(standings) == 4 and standings.known() == 3
        assert standings.get(0) == Standing(day(0), None, "", E)  # only errors: no verdict
        assert standings.get(1) is None  # never recorded
        assert standings.get(2) == Standing(day(0), M, day(0), E)  # failing since day 0
        assert standings.get(3) == Standing(day(0), C, "", C)  # failed day 3, fixed day 5


def test_a_timeline_shows_only_the_changes_of_status(history_url: str) -> None:
    sequence = [M, M, C, C, E, E, M, NF]
    with open_store(history_url) as store:
        for n, status in enumerate(sequence):
            record_run(store, f"r{n}", day(n), {0: status, 1: C})
        standing, entries = store.timeline(urn(0))
        assert entries == [
            TimelineEntry(day(0), "r0", "", "missing_keys", day(0)),
            TimelineEntry(day(2), "r2", "missing_keys", "configured", ""),
            TimelineEntry(day(4), "r4", "configured", "error", ""),
            TimelineEntry(day(6), "r6", "error", "missing_keys", day(6)),
            TimelineEntry(day(7), "r7", "missing_keys", "function_not_found", day(6)),
        ]
        assert standing == {
            "urn": urn(0),
            "region": "cn-north-4",
            "project_id": PROJECT,
            "first_seen": day(0),
            "verdict": "function_not_found",
            "failing_since": day(6),
            "status": "function_not_found",
            "changed_at": day(7),
        }
        steady, unchanged = store.timeline(urn(1))
        assert unchanged == [TimelineEntry(day(0), "r0", "", "configured", "")]
        assert steady is not None and steady["failing_since"] == ""
        assert store.timeline(urn(99)) == (None, [])


def test_prune_deletes_old_runs_and_their_results_and_keeps_every_standing(
    history_url: str,
) -> None:
    with open_store(history_url) as store:
        record_run(store, "r0", day(0), {0: M, 1: C})
        record_run(store, "r1", day(1), {0: M, 1: M})
        kept = record_run(store, "r2", day(2), {0: M, 1: M})
        standings_before = store.standings([urn(0), urn(1)])
        changes_before = count(store, "changes")
        timeline_before = store.timeline(urn(1))

        pruned = store.prune(day(2))
        assert (pruned.runs, pruned.results) == (2, 4)
        assert store.runs() == [kept]
        assert count(store, "results") == 2
        assert {r[0] for r in store.database.rows("SELECT run_id FROM results")} == {kept.run_id}
        assert count(store, "functions") == 2
        assert count(store, "changes") == changes_before
        after = store.standings([urn(0), urn(1)])
        assert [after.get(i) for i in range(2)] == [standings_before.get(i) for i in range(2)]
        # The timeline keeps its entries; the runs they came from are gone by name.
        _, entries = store.timeline(urn(1))
        assert [(e.checked_at, e.status) for e in entries] == [
            (e.checked_at, e.status) for e in timeline_before[1]
        ]
        assert [e.run for e in entries] == ["(pruned run)", "(pruned run)"]
        # Age survives the pruning: fn-0 is still failing since day 0.
        later = record_run(store, "r9", day(9), {0: M, 1: M})
        days = store.database.rows(
            "SELECT urn, failing_since, days_failing FROM results WHERE run_id = ?",
            (later.run_id,),
        )
        assert sorted(days) == [(urn(0), day(0), 9), (urn(1), day(1), 8)]
        assert store.prune(day(0)) == type(pruned)(0, 0)  # nothing that old is left


# --- one transaction per run ---------------------------------------------------------------------


class Boom(Exception):
    """A failure in the middle of recording (the journal unreadable, the process stopping)."""


def test_a_failure_while_rows_stream_in_leaves_no_run_and_no_results(history_url: str) -> None:
    statuses = {n: M for n in range(5)}
    with open_store(history_url) as store:
        kept = record_run(store, "before", day(0), {7: C})

        def failing_rows() -> Iterator[tuple[int, Row]]:
            for n in range(3):
                yield n, make_row(n, M, checked_at=day(1))
            raise Boom("the journal went away")

        with pytest.raises(Boom):
            record_run(store, "broken", day(1), statuses, rows=failing_rows())
        assert store.runs() == [kept]
        assert count(store, "results") == 1
        assert count(store, "functions") == 1
        assert count(store, "changes") == 1
        assert store.standings([urn(n) for n in range(5)]).known() == 0
        # The store is still usable, and the run can be recorded afterwards.
        again = record_run(store, "broken", day(1), statuses)
        assert store.runs() == [again, kept]
        assert count(store, "results") == 6


def test_a_failure_while_standings_are_written_leaves_nothing_either(history_url: str) -> None:
    with open_store(history_url) as store:

        def run(name: str, when: str, status: Status) -> tuple[RunFacts, list[tuple[int, Row]]]:
            standings = store.standings([urn(0), urn(1)])
            marker = Marker(Criteria(standings=standings), started_at=when)
            rows = [(i, marker.add(i, make_row(i, status, checked_at=when))) for i in range(2)]
            facts = RunFacts(
                f"{when} {name}", name, SCOPE, when, when, True, marker.finish().summary, {},
                "test", when,
            )  # fmt: skip
            return facts, rows

        # New functions' standings are written by the database itself; the journal is read
        # again only for functions whose standing changed: the second run's.
        facts, rows = run("r0", day(0), C)
        store.record(facts, as_records(rows), store.standings([urn(0), urn(1)]))
        before = {
            table: count(store, table) for table in ("runs", "results", "functions", "changes")
        }
        standings = store.standings([urn(0), urn(1)])
        facts, rows = run("r1", day(1), M)

        def reread(indices: Sequence[int]) -> Iterator[tuple[int, Row]]:
            yield rows[0]
            raise Boom("the journal went away on the second read")

        with pytest.raises(Boom):
            store.record(facts, as_records(rows), standings, reread)
        after = {
            table: count(store, table) for table in ("runs", "results", "functions", "changes")
        }
        assert after == before == {"runs": 1, "results": 2, "functions": 2, "changes": 2}
        assert [r.name for r in store.runs()] == ["r0"]
        assert store.standings([urn(0)]).get(0) is not None
        assert store.standings([urn(0)]).get(0).status is C  # type: ignore[union-attr]


# --- no secret in the store ----------------------------------------------------------------------


def every_text(store: History) -> str:
    """Every value of every table, as text: what a reader with SQL access could see."""
    values = []
    for table in sorted(tables(store)):
        for row in store.database.rows(f"SELECT * FROM {table}"):
            values.extend(str(value) for value in row)
    return "\n".join(values)


def test_no_secret_reaches_the_store(history_url: str, tmp_path: Path) -> None:
    planted_password = "PLANTED-PW-5a1c9e"
    other_ak = "AKEXPECTEDFULLVALUE0123456789XY"
    settings = Settings(
        out=tmp_path / "reports",
        formats=("json",),
        history=f"postgresql://auditor:{planted_password}@db.example:5432/audits",
        expected_tracing_aks=frozenset({AK, other_ak}),
    )
    lines = [audit_urn(f"fn-{n}") for n in range(4)] + [audit_urn("missing")]
    inputs = from_lines(lines, "in.txt")
    scope = input_scope("f" * 64, ["in.txt"], len(lines))
    with open_store(history_url) as store:
        criteria = Criteria(standings=store.standings(inputs.targets.urns))
        result, _ = audit(
            inputs, settings, FakeProber(WallClock()), criteria=criteria,
            history=HistoryPlan(store, scope),
        )  # fmt: skip
        assert result.history_error == ""
        assert result.recorded is not None and result.recorded.total == 5
        dumped = every_text(store)
    assert "AKID****0042" in dumped  # the dump does see the rows: the AK masked
    assert "***" in dumped  # and the settings, with the store's password masked
    for secret in (AK, other_ak, planted_password):
        assert secret not in dumped, secret


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://auditor@db.example:5432/audits?password=PLANTED-PW-QUERY",
        "postgresql://auditor@db.example/audits?sslmode=require&password=PLANTED-PW-QUERY",
        "postgres://auditor:PLANTED-PW-QUERY@db.example/audits",
    ],
)
def test_a_password_anywhere_in_a_store_url_is_masked(
    url: str, history_url: str, tmp_path: Path
) -> None:
    """libpq takes the password in the URL's user info or as a `password=` query parameter:
    neither may reach a message, a report's settings or the store."""
    assert "PLANTED-PW-QUERY" not in shown(url)
    settings = Settings(out=tmp_path / "reports", formats=("json",), history=url)
    assert "PLANTED-PW-QUERY" not in str(settings.public())
    inputs = from_lines([audit_urn("fn-0")], "in.txt")
    with open_store(history_url) as store:
        scope = input_scope("e" * 64, ["in.txt"], 1)
        result, _ = audit(
            inputs, settings, FakeProber(WallClock()), history=HistoryPlan(store, scope)
        )
        assert result.recorded is not None
        dumped = every_text(store)
    assert "db.example" in dumped  # the settings are there...
    assert "PLANTED-PW-QUERY" not in dumped  # ...without the password
    assert "PLANTED-PW-QUERY" not in (tmp_path / "reports" / "run.json").read_text()


# --- two writers at once -------------------------------------------------------------------------


def test_two_writers_recording_into_one_store_at_once_both_land(history_url: str) -> None:
    """Two audits finishing together, each with its own connection: the second waits for the
    first's transaction (SQLite: the write lock) and both runs land whole."""
    size = 2000
    with open_store(history_url):
        pass  # created and migrated once, before the writers race
    first_inside = threading.Event()
    second_calling = threading.Event()
    finished: list[str] = []
    errors: list[BaseException] = []

    def first() -> None:
        with History.open(history_url) as store:

            def rows() -> Iterator[tuple[int, Row]]:
                for n in range(size):
                    if n == 1:
                        # Hold the transaction open until the other writer has begun too.
                        first_inside.set()
                        second_calling.wait(5)
                        time.sleep(0.1)
                    yield n, make_row(n, M, checked_at=day(0))

            record_run(store, "first", day(0), {n: M for n in range(size)}, rows=rows())
            finished.append("first")

    def second() -> None:
        first_inside.wait(5)
        with History.open(history_url) as store:
            second_calling.set()
            statuses = {n: C for n in range(size, 2 * size)}
            record_run(store, "second", day(0, hour=8), statuses, scope=OTHER_SCOPE)
            finished.append("second")

    def guarded(target: Any) -> Any:
        def run() -> None:
            try:
                target()
            except BaseException as exc:  # reported below, in the test's thread
                errors.append(exc)

        return run

    threads = [threading.Thread(target=guarded(f)) for f in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []
    assert sorted(finished) == ["first", "second"]
    assert first_inside.is_set() and second_calling.is_set()  # they did overlap
    with History.open(history_url) as store:
        runs = store.runs()
        assert [r.name for r in runs] == ["second", "first"]
        if not is_postgres(history_url):
            # One writer at a time: the second's transaction began after the first's ended.
            assert runs[0].run_id > runs[1].run_id
        assert [r.total for r in store.runs()] == [size, size]
        assert count(store, "results") == 2 * size
        assert count(store, "functions") == 2 * size


def test_opening_a_new_sqlite_store_another_writer_holds_waits_for_it(tmp_path: Path) -> None:
    """Another audit is creating the same new store and holds its write lock for a moment:
    opening waits (the busy timeout) instead of failing at once with "database is locked"
    (switching a new file to WAL takes the lock, and SQLite does not wait for it there)."""
    path = tmp_path / "history.sqlite"
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    released = threading.Timer(0.3, other.execute, ("ROLLBACK",))
    released.start()
    started = time.monotonic()
    try:
        with History.open(str(path)) as store:
            assert store.version() == SCHEMA_VERSION
        assert time.monotonic() - started >= 0.25  # it did wait for the other writer
    finally:
        released.join()
        other.close()


def test_audits_starting_together_on_a_new_sqlite_store_all_land(tmp_path: Path) -> None:
    """Cron starts several audits at once in a new report folder: each opens (creates,
    switches to WAL, migrates) the same new store and records its run; none may fail. The
    race is short, so it is run many times over."""
    writers, rounds = 6, 20
    failures: list[str] = []
    for round_ in range(rounds):
        path = str(tmp_path / f"round-{round_}" / "history.sqlite")
        start = threading.Barrier(writers)

        def write(n: int, path: str = path, start: threading.Barrier = start) -> None:
            start.wait(5)
            try:
                with History.open(path) as store:
                    scope = RunScope(f"inputs:{n}", f"w{n}")
                    record_run(store, f"w{n}", day(0, hour=n), {n: M}, scope=scope)
            except HistoryError as exc:
                failures.append(str(exc))

        threads = [threading.Thread(target=write, args=(n,)) for n in range(writers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        if not failures:
            with History.open(path) as store:
                assert len(store.runs()) == writers
    assert failures == [], f"{len(failures)} of {writers * rounds} opens failed: {failures[0]}"


def test_scopes_name_their_inputs_or_projects() -> None:
    scope = input_scope("ab" * 32, ["a.txt", "b.csv", "c.json", "d.txt"], 12)
    assert scope.key == "inputs:" + "ab" * 8
    assert scope.label == "a.txt, b.csv, c.json and 1 more (12 entries)"
    pairs = [(PROJECT, "cn-north-4"), ("f" * 32, "eu-west-101")]
    discovered = projects_scope(pairs)
    assert discovered == projects_scope(reversed(pairs + pairs))  # order and repeats aside
    assert discovered.key.startswith("projects:")
    assert discovered.label == "discovered: 2 projects in cn-north-4, eu-west-101"
    assert projects_scope(pairs[:1]).key != discovered.key
