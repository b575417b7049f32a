"""Writing a run into the history store: the SQL behind `History.record` and `History.prune`.

`record_run` adds a run and its rows in one transaction: `runs` and `results` from the run,
then `functions` (each URN's standing) and `changes` (its timeline) only where the run changed
them. `delete_run` removes one run and its rows, for a replaced record and for pruning. The
tables are described in `auditor.store.history`.
"""

from __future__ import annotations

import json
from array import array
from collections.abc import Callable, Iterable, Iterator, Mapping
from operator import itemgetter
from typing import Any

from auditor.model import STATUS_OF, Row, Status
from auditor.store.database import Database
from auditor.store.runs import RunFacts
from auditor.verdict.age import VERDICTS, Age, Standings, is_finding, standing_after
from auditor.verdict.summary import compliance

_RESULT_COLUMNS = (
    "run_id",
    "urn",
    "region",
    "project_id",
    "function",
    "status",
    "http_status",
    "error_code",
    "tracing_ak",
    "checked_at",
    "change",
    "exempt",
    "first_seen",
    "failing_since",
    "days_failing",
)
_RUN_COLUMNS = (
    "run_key, name, scope, scope_label, started_at, finished_at, complete, total, configured, "
    "findings, compliance, by_status, settings, tool_version, recorded_at, recorded_from"
)


def record_run(
    database: Database,
    facts: RunFacts,
    records: Iterable[tuple[int, Mapping[str, Any]]],
    standings: Standings,
    reread: Callable[[array[int]], Iterable[tuple[int, Row]]] | None,
    *,
    update_standings: bool,
) -> int:
    """Record a run and its rows in one transaction, replacing an earlier record of the same
    run; return its `run_id`. The arguments are `History.record`'s."""
    changed = array("q")
    with database.transaction():
        earlier = database.rows("SELECT run_id FROM runs WHERE run_key = ?", (facts.key,))
        for (old_id,) in earlier:
            delete_run(database, old_id)
        run_id = _insert_run(database, facts)
        for (old_id,) in earlier:
            # A resumed run replaces its partial record; the timeline it wrote stays.
            database.execute("UPDATE changes SET run_id = ? WHERE run_id = ?", (run_id, old_id))
            database.execute("UPDATE functions SET run_id = ? WHERE run_id = ?", (run_id, old_id))

        new = 0

        def results() -> Iterator[tuple[Any, ...]]:
            # Records, not rows: a million are read straight from the journal's JSON.
            nonlocal new
            for index, record in records:
                status, first_seen, failing_since = _STANDING_KEYS(record)
                if not standings.has(index):
                    new += 1
                elif standings.differs(index, status, first_seen, failing_since):
                    changed.append(index)
                yield (run_id, *_RESULT_VALUES(record))

        database.insert_many("results", _RESULT_COLUMNS, results())
        if new and update_standings:
            # Functions seen for the first time: their standing and first timeline row
            # come straight from their results, inside the database.
            database.execute(_FIRST_CHANGES, (run_id,))
            database.execute(_FIRST_STANDINGS, (run_id,))
        if changed and update_standings:
            if reread is None:
                raise ValueError("record() needs reread() when standings changed")
            _write_standings(database, run_id, reread(changed), standings)
    return run_id


def delete_run(database: Database, run_id: int) -> int:
    """Delete one run and its result rows (inside a transaction); return how many rows."""
    deleted = database.execute("DELETE FROM results WHERE run_id = ?", (run_id,))
    database.execute("DELETE FROM runs WHERE run_id = ?", (run_id,))
    return int(deleted.rowcount)


def _insert_run(database: Database, facts: RunFacts) -> int:
    summary = facts.summary
    by_status = summary.by_status
    configured = by_status.get(Status.CONFIGURED.value, 0)
    findings = sum(n for s, n in by_status.items() if is_finding(STATUS_OF[s]))
    values = (
        facts.key,
        facts.name,
        facts.scope.key,
        facts.scope.label,
        facts.started_at,
        facts.finished_at,
        int(facts.complete),
        summary.total,
        configured,
        findings,
        compliance(by_status),
        json.dumps(by_status),
        json.dumps(facts.settings, sort_keys=True, default=str),
        facts.tool_version,
        facts.recorded_at,
        facts.recorded_from,
    )
    placeholders = ", ".join("?" for _ in values)
    inserted = database.rows(
        f"INSERT INTO runs ({_RUN_COLUMNS}) VALUES ({placeholders}) RETURNING run_id", values
    )
    return int(inserted[0][0])


def _write_standings(
    database: Database, run_id: int, rows: Iterable[tuple[int, Row]], standings: Standings
) -> None:
    """Upsert the standings the run changed, and add a timeline row where a status
    changed (or a function was first seen)."""
    upsert = (
        "INSERT INTO functions (urn, region, project_id, first_seen, verdict, "
        "failing_since, status, changed_at, run_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (urn) DO UPDATE SET first_seen = excluded.first_seen, "
        "verdict = excluded.verdict, failing_since = excluded.failing_since, "
        "status = excluded.status, changed_at = excluded.changed_at, "
        "run_id = excluded.run_id"
    )
    timeline = (
        "INSERT INTO changes (urn, run_id, checked_at, previous_status, status, "
        "failing_since) VALUES (?, ?, ?, ?, ?, ?)"
    )
    functions: list[tuple[Any, ...]] = []
    changes: list[tuple[Any, ...]] = []
    for index, row in rows:
        before = standings.get(index)
        after = standing_after(before, row, _age(row))
        when = row.checked_at or after.first_seen
        verdict = after.verdict.value if after.verdict is not None else None
        functions.append(
            (
                row.urn,
                row.region,
                row.project_id,
                after.first_seen,
                verdict,
                after.failing_since,
                row.status.value,
                when,
                run_id,
            )
        )
        if before is None or before.status is not row.status:
            previous = before.status.value if before is not None else None
            changes.append((row.urn, run_id, when, previous, row.status.value, after.failing_since))
        if len(functions) >= 10_000:
            _execute_many(database, upsert, functions)
            _execute_many(database, timeline, changes)
    _execute_many(database, upsert, functions)
    _execute_many(database, timeline, changes)


def _execute_many(database: Database, statement: str, values: list[tuple[Any, ...]]) -> None:
    if values:
        database.execute_many(statement, values)
        values.clear()


def _age(row: Row) -> Age:
    return Age(row.first_seen, row.failing_since, row.days_failing)


_VERDICT_LIST = ", ".join(f"'{status.value}'" for status in sorted(VERDICTS))
_CHECKED = "CASE WHEN r.checked_at <> '' THEN r.checked_at ELSE r.first_seen END"
_UNKNOWN = "NOT EXISTS (SELECT 1 FROM functions f WHERE f.urn = r.urn)"
_FIRST_CHANGES = (
    "INSERT INTO changes (urn, run_id, checked_at, previous_status, status, failing_since) "
    f"SELECT r.urn, r.run_id, {_CHECKED}, NULL, r.status, r.failing_since "
    f"FROM results r WHERE r.run_id = ? AND {_UNKNOWN}"
)
_FIRST_STANDINGS = (
    "INSERT INTO functions (urn, region, project_id, first_seen, verdict, failing_since, "
    "status, changed_at, run_id) "
    "SELECT r.urn, r.region, r.project_id, r.first_seen, "
    f"CASE WHEN r.status IN ({_VERDICT_LIST}) THEN r.status END, r.failing_since, r.status, "
    f"{_CHECKED}, r.run_id FROM results r WHERE r.run_id = ? AND {_UNKNOWN} "
    "ON CONFLICT (urn) DO NOTHING"
)
_RESULT_VALUES = itemgetter(*_RESULT_COLUMNS[1:])  # a report record's values, in table order
_STANDING_KEYS = itemgetter("status", "first_seen", "failing_since")
