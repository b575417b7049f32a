"""The history store: every audit recorded, each function's standing kept between runs.

`History` is the store's one face. Before a run it answers what the run needs: each target's
standing (`standings`, for the finding age), the previous complete run of the same scope
(`last_run`, `baseline`, for `--baseline last`) and the recent runs of that scope (`trend`).
After the reports are written, `record` adds the run and its rows in one transaction: rows are
streamed in (never all held), and a run recorded before (an interrupted run now resumed) is
replaced, so each run is recorded once. The runs it takes and gives (`RunFacts`, `RecordedRun`,
`RunScope`) are in `auditor.store.runs`; the SQL that writes a run is in `auditor.store.recording`.

Tables (documented for SQL users in the README):

- `runs`: one row per recorded audit: when, its scope, totals, compliance, settings (no secret).
- `results`: one row per function per run, with the report's verdict and age columns.
- `functions`: each URN's standing now: first seen, last verdict, failing since, last status.
  Pruning old runs keeps it, so age survives.
- `changes`: each URN's timeline: a row each time its status changed (and when first seen).
"""

from __future__ import annotations

import json
from array import array
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from auditor.errors import HistoryError
from auditor.model import STATUS_OF, Row, Status, utc_now
from auditor.store.database import Database, is_postgres, shown
from auditor.store.recording import delete_run, record_run
from auditor.store.runs import RecordedRun, RunFacts
from auditor.store.schema import SCHEMA_VERSION, statements
from auditor.verdict.age import Standing, Standings
from auditor.verdict.baseline import Baseline
from auditor.verdict.rows import format_time

_RUN_FIELDS = (
    "run_id, name, scope, scope_label, started_at, finished_at, complete, total, compliance, "
    "by_status, recorded_from"
)


@dataclass(frozen=True)
class TimelineEntry:
    """One change of a function's status (the first row: when it was first seen)."""

    checked_at: str
    run: str
    previous_status: str
    status: str
    failing_since: str


@dataclass(frozen=True)
class Pruned:
    runs: int
    results: int


class History:
    """The history store over one open `Database`; use as a context manager."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self._create_at = ""  # a new SQLite file to make at the first record

    @classmethod
    def open(cls, location: str, *, migrate: bool | None = None) -> History:
        """Open the store at `location` (see `auditor.store.database.locate`), checking its
        schema. A SQLite store is migrated on open, and a new one made at the first record
        (or by `migrate=True`); a PostgreSQL store is migrated only with `migrate=True`
        (`auditor history migrate`)."""
        if migrate is None and not is_postgres(location) and not Path(location).exists():
            # A new SQLite store is made when the first run is recorded, not when it is
            # opened: a run stopped before it records anything (an unreachable endpoint)
            # leaves no file behind. Until then it is empty, in memory.
            history = cls(Database(":memory:"))
            history.migrate()
            history._create_at = location
            return history
        database = Database(location)
        history = cls(database)
        try:
            history._check_schema(database.kind == "sqlite" if migrate is None else migrate)
        except BaseException:
            database.close()
            raise
        return history

    def __enter__(self) -> History:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.database.close()

    @property
    def where(self) -> str:
        """The store's location for messages (a URL without its password)."""
        return shown(self._create_at or self.database.location)

    # --- schema -------------------------------------------------------------------------------

    def version(self) -> int:
        """The schema version the store is at (0: empty)."""
        database = self.database
        if database.kind == "sqlite":
            found = database.rows(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'"
            )
        else:
            found = [r for r in database.rows("SELECT to_regclass('schema_version')") if r[0]]
        if not found:
            return 0
        value = database.rows("SELECT MAX(version) FROM schema_version")[0][0]
        return int(value or 0)

    def migrate(self) -> list[int]:
        """Apply the migrations the store lacks, each in its own transaction; return them."""
        applied = []
        database = self.database
        while True:
            with database.transaction():
                current = self.version()
                if current >= SCHEMA_VERSION:
                    break
                if current == 0:
                    database.execute(
                        "CREATE TABLE IF NOT EXISTS schema_version "
                        "(version INTEGER NOT NULL, applied_at TEXT NOT NULL)"
                    )
                step = current + 1
                for statement in statements(step, database.kind):
                    database.execute(statement)
                database.execute(
                    "INSERT INTO schema_version (version, applied_at) VALUES (?, ?)",
                    (step, format_time(utc_now())),
                )
                applied.append(step)
        return applied

    def _check_schema(self, migrate: bool) -> None:
        current = self.version()
        if current > SCHEMA_VERSION:
            raise HistoryError(
                f"history store {self.where} was written by a newer auditor (schema "
                f"{current}; this one knows {SCHEMA_VERSION}): upgrade auditor, or give "
                "another --history"
            )
        if current < SCHEMA_VERSION:
            if not migrate:
                raise HistoryError(
                    f"history store {self.where} is at schema {current}, this auditor needs "
                    f"{SCHEMA_VERSION}: run `auditor history migrate --history URL` first"
                )
            self.migrate()

    # --- before a run -------------------------------------------------------------------------

    def standings(self, urns: Sequence[str]) -> Standings:
        """The standing of each URN (by index) before this run; unknown URNs have none."""
        return self.before_run(urns)[0]

    def before_run(
        self, urns: Sequence[str], baseline_run: RecordedRun | None = None
    ) -> tuple[Standings, Baseline | None]:
        """What a run over `urns` needs from the store: each URN's standing (by index) and,
        for `--baseline last`, `baseline_run` as a baseline. One index of the URNs serves
        both, and the baseline is keyed by the run's own URN strings with one place tuple per
        project: a million-URN baseline costs its dicts, not a million new strings."""
        standings = Standings(len(urns))
        index_of = {urn: index for index, urn in enumerate(urns)}
        query = "SELECT urn, first_seen, verdict, failing_since, status FROM functions"
        for urn, first_seen, verdict, failing_since, status in self.database.stream(query):
            index = index_of.get(urn)
            if index is not None:
                standings.set(
                    index,
                    Standing(
                        first_seen=first_seen,
                        verdict=STATUS_OF.get(verdict) if verdict else None,
                        failing_since=failing_since,
                        status=STATUS_OF.get(status, Status.ERROR),
                    ),
                )
        baseline = None
        if baseline_run is not None:
            baseline = self._baseline(baseline_run, urns, index_of)
        return standings, baseline

    def baseline(self, run: RecordedRun) -> Baseline:
        """A recorded run as a baseline to compare with (`--baseline last`)."""
        return self._baseline(run, (), {})

    def _baseline(
        self, run: RecordedRun, urns: Sequence[str], index_of: Mapping[str, int]
    ) -> Baseline:
        statuses: dict[str, Status] = {}
        places: dict[str, tuple[str, str]] = {}
        shared: dict[tuple[str, str], tuple[str, str]] = {}
        query = "SELECT urn, status, region, project_id FROM results WHERE run_id = ?"
        for urn, status, region, project_id in self.database.stream(query, (run.run_id,)):
            index = index_of.get(urn)
            key = urns[index] if index is not None else urn
            if key not in statuses and status in STATUS_OF:
                statuses[key] = STATUS_OF[status]
                place = (region, project_id)
                places[key] = shared.setdefault(place, place)
        return Baseline(
            source=f"the last run, {run.name} ({self.where})",
            started_at=run.started_at,
            statuses=statuses,
            places=places,
        )

    def last_run(self, scope: str, *, complete: bool = True) -> RecordedRun | None:
        """The latest recorded run of `scope` (complete ones only, by default)."""
        runs = self.runs(scope=scope, limit=1, complete_only=complete)
        return runs[0] if runs else None

    def runs(
        self,
        *,
        scope: str | None = None,
        limit: int | None = None,
        complete_only: bool = False,
    ) -> list[RecordedRun]:
        """Recorded runs, newest first."""
        where, params = [], []
        if scope is not None:
            where.append("scope = ?")
            params.append(scope)
        if complete_only:
            where.append("complete = 1")
        query = f"SELECT {_RUN_FIELDS} FROM runs"
        if where:
            query += " WHERE " + " AND ".join(where)
        query += " ORDER BY started_at DESC, run_id DESC"
        if limit is not None:
            query += f" LIMIT {int(limit)}"
        return [_recorded(row) for row in self.database.rows(query, params)]

    def trend(self, scope: str, limit: int = 30) -> list[RecordedRun]:
        """The last `limit` runs of `scope`, oldest first (for the Trend sheet)."""
        return list(reversed(self.runs(scope=scope, limit=limit)))

    # --- after a run --------------------------------------------------------------------------

    def record(
        self,
        facts: RunFacts,
        records: Iterable[tuple[int, Mapping[str, Any]]],
        standings: Standings,
        reread: Callable[[array[int]], Iterable[tuple[int, Row]]] | None = None,
        *,
        update_standings: bool = True,
    ) -> RecordedRun:
        """Record a run and its rows (`(target index, record)`: each row as the report's
        JSON object, streamed, marked with its age) in one transaction, replacing an earlier
        record of the same run.

        `standings` are the targets' standings before the run (what the rows were aged from):
        a function's standing and timeline are written only where the run changed them.
        `reread(indices)` gives the rows at those target indices again (a second, short read
        of the journal) once the rows are in: `functions` and `changes` are written then.
        `update_standings=False` records the run's rows and totals only (a backfilled run
        older than what the store already holds must not rewind the standings).
        """
        if self._create_at:
            self.database.close()
            self.database = Database(self._create_at)
            self._create_at = ""
            self._check_schema(True)
        run_id = record_run(
            self.database, facts, records, standings, reread, update_standings=update_standings
        )
        recorded = self.runs_by_id(run_id)
        assert recorded is not None
        return recorded

    def has_run_after(self, started_at: str) -> bool:
        """Whether a run that started after `started_at` is recorded."""
        found = self.database.rows("SELECT 1 FROM runs WHERE started_at > ? LIMIT 1", (started_at,))
        return bool(found)

    def runs_by_id(self, run_id: int) -> RecordedRun | None:
        found = self.database.rows(f"SELECT {_RUN_FIELDS} FROM runs WHERE run_id = ?", (run_id,))
        return _recorded(found[0]) if found else None

    # --- reading and pruning ------------------------------------------------------------------

    def timeline(self, urn: str) -> tuple[dict[str, Any] | None, list[TimelineEntry]]:
        """A function's standing now and every change of its status, oldest first."""
        database = self.database
        found = database.rows(
            "SELECT urn, region, project_id, first_seen, verdict, failing_since, status, "
            "changed_at FROM functions WHERE urn = ?",
            (urn,),
        )
        names = ("urn", "region", "project_id", "first_seen", "verdict", "failing_since")
        columns = (*names, "status", "changed_at")
        standing = dict(zip(columns, found[0], strict=True)) if found else None
        entries = [
            TimelineEntry(checked_at, name or "(pruned run)", previous or "", status, since)
            for checked_at, name, previous, status, since in database.rows(
                "SELECT c.checked_at, r.name, c.previous_status, c.status, c.failing_since "
                "FROM changes c LEFT JOIN runs r ON r.run_id = c.run_id "
                "WHERE c.urn = ? ORDER BY c.checked_at, c.run_id",
                (urn,),
            )
        ]
        return standing, entries

    def prune(self, before: str) -> Pruned:
        """Delete the runs started before `before` (a report time) and their rows; every
        function's standing and timeline stay."""
        database = self.database
        with database.transaction():
            query = "SELECT run_id FROM runs WHERE started_at < ?"
            old = [found[0] for found in database.rows(query, (before,))]
            results = sum(delete_run(database, run_id) for run_id in old)
        return Pruned(len(old), results)


def _recorded(row: Sequence[Any]) -> RecordedRun:
    run_id, name, scope, label, started, finished, complete, total, share, by_status, origin = row
    return RecordedRun(
        run_id=int(run_id),
        name=name,
        scope=scope,
        scope_label=label,
        started_at=started,
        finished_at=finished,
        complete=bool(complete),
        total=int(total),
        compliance=None if share is None else float(share),
        by_status=json.loads(by_status),
        recorded_from=origin,
    )
