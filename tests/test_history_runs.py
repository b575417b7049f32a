"""Issue 14's "done when": audits a day apart, on a clock the test moves (no sleeps), recorded
in the history store on SQLite and on PostgreSQL (`history_url`), show the right `change`
(`--baseline last`), `first_seen`, `failing_since` and `days_failing` in the JSON report, in
`History.timeline` and `History.trend`, and on the XLSX Trend sheet; a run interrupted and
resumed is recorded once.

`run_audit` is driven directly as `auditor audit` drives it (tests/test_audit.py's runner
over a fake prober), with the criteria `--baseline last` builds: the last complete run of the
scope as the baseline, the store's standings for the age.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from auditor.audit import AuditResult, HistoryPlan, RunOptions, run_audit
from auditor.config import Settings
from auditor.model import Probe, Row
from auditor.source.inputs import from_lines
from auditor.source.urn import FunctionUrn
from auditor.store.history import History, TimelineEntry
from auditor.store.journal import JournalReader
from auditor.store.runs import projects_scope
from auditor.verdict.marking import Criteria
from tests.factories import PROJECT, WallClock
from tests.test_audit import OK, FakeProber, runner_for, urn

MISSING = Probe(404, error_code="FSS.0404", error_msg="can not find tracing aksk")
BROKEN = Probe(500, error_code="FSS.0500", error_msg="internal error")
T0 = datetime(2024, 5, 6, 7, 0, 0, tzinfo=UTC)
# A discovering run's scope: the same projects whatever functions they hold, so a function
# deployed between two runs (f3) is `new` in the same scope.
SCOPE = projects_scope([(PROJECT, "cn-north-4")])
TREND_RUNS = 30


def text(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


class ScriptedProber(FakeProber):
    """Answers by function name from `answers`, which the test rewrites between runs; the
    wall clock stays where the test set it, so every row of a run is checked at that time."""

    def __init__(self, clock: WallClock) -> None:
        super().__init__(clock)
        self.answers: dict[str, Probe] = {}

    async def probe(self, urn: FunctionUrn) -> Probe:
        self.calls[urn.unqualified] += 1
        return await self._answer(urn, self.answers[urn.name])

    async def _answer(self, urn: FunctionUrn, answer: Probe) -> Probe:
        await asyncio.sleep(0)
        return answer


class Fleet:
    """Audits of one fleet into one store and one report folder, as cron would run them."""

    def __init__(self, store: History, out: Path) -> None:
        self.store = store
        self.settings = Settings(out=out, formats=("json", "xlsx"))
        self.clock = WallClock(T0)
        self.prober = ScriptedProber(self.clock)

    def audit(
        self,
        name: str,
        answers: dict[str, Probe],
        *,
        fail_on_age: int | None = None,
        stop_after: int | None = None,
        resume: bool = False,
        recorded: bool = True,
    ) -> tuple[AuditResult, dict[str, dict[str, Any]]]:
        """One `auditor audit --discover --baseline last [--fail-on-age N]` run; the result
        and the JSON report's rows by function name."""
        self.prober.answers = answers
        inputs = from_lines([urn(f) for f in answers], "ListFunctions")
        store = self.store
        last = store.last_run(SCOPE.key)
        criteria = Criteria(
            baseline=store.baseline(last) if last is not None else None,
            standings=store.standings(inputs.targets.urns),
            fail_on_age=fail_on_age,
        )
        plan = HistoryPlan(store, SCOPE, store.trend(SCOPE.key, limit=TREND_RUNS - 1))
        stop = asyncio.Event()
        seen: list[Row] = []

        def on_row(row: Row) -> None:
            seen.append(row)
            if stop_after is not None and len(seen) >= stop_after:
                stop.set()

        journal = self.settings.out / f"{name}.journal.jsonl"
        result = asyncio.run(
            run_audit(
                inputs,
                self.settings,
                runner_for(self.prober, concurrency=1),
                RunOptions(
                    resume=JournalReader(journal) if resume else None,
                    criteria=criteria,
                    history=plan,
                ),
                name=name,
                credential_method="test token",
                on_row=on_row,
                stop=stop,
            )
        )
        assert (result.history_error == "") is recorded, result.history_error
        return result, {row["function"]: row for row in self.report(name)["results"]}

    def report(self, name: str) -> dict[str, Any]:
        loaded: dict[str, Any] = json.loads((self.settings.out / f"{name}.json").read_text())
        return loaded


def ages(rows: dict[str, dict[str, Any]]) -> dict[str, tuple[Any, ...]]:
    """Each row's status, change, first_seen, failing_since and days_failing."""
    columns = ("status", "change", "first_seen", "failing_since", "days_failing")
    return {f: tuple(row[c] for c in columns) for f, row in rows.items()}


@pytest.fixture
def fleet(history_url: str, tmp_path: Path) -> Iterator[Fleet]:
    with History.open(history_url, migrate=True) as store:
        yield Fleet(store, tmp_path / "reports")


def test_audits_a_day_apart_age_their_findings_and_compare_with_the_last_run(
    fleet: Fleet,
) -> None:
    t0, t1, t2 = T0, T0 + timedelta(hours=24), T0 + timedelta(hours=47, minutes=59)

    # Day 1: f1 configured, f2 without keys. Nothing to compare with yet.
    first, rows = fleet.audit("run-1", {"f1": OK, "f2": MISSING})
    assert ages(rows) == {
        "f1": ("configured", "", text(t0), "", None),
        "f2": ("missing_keys", "", text(t0), text(t0), 0),
    }
    assert first.previous is None and first.comparison is None
    assert first.recorded is not None
    assert (first.recorded.total, first.recorded.compliance) == (2, 50.0)
    assert fleet.report("run-1")["run"]["history"]["previous_run"] is None

    # Day 2, 24 hours later: f1 lost its keys, f2 still has none, f3 was deployed without.
    fleet.clock.advance(24 * 3600)
    second, rows = fleet.audit("run-2", {"f1": MISSING, "f2": MISSING, "f3": MISSING})
    assert ages(rows) == {
        "f1": ("missing_keys", "regressed", text(t0), text(t1), 0),
        "f2": ("missing_keys", "unchanged", text(t0), text(t0), 1),
        "f3": ("missing_keys", "new", text(t1), text(t1), 0),
    }
    assert second.previous == first.recorded
    assert fleet.report("run-2")["run"]["history"]["previous_run"]["name"] == "run-1"
    assert second.comparison is not None
    assert {c: n for c, n in second.comparison.counts.items() if n} == {
        "regressed": 1,
        "unchanged": 1,
        "new": 1,
    }

    # 23 h 59 min later: f1 fixed, f2 cannot be checked (a 500), f3 still missing.
    # f2's finding is neither closed nor re-dated by the error; whole days only.
    fleet.clock.advance(23 * 3600 + 59 * 60)
    third, rows = fleet.audit("run-3", {"f1": OK, "f2": BROKEN, "f3": MISSING}, fail_on_age=1)
    assert ages(rows) == {
        "f1": ("configured", "fixed", text(t0), "", None),
        "f2": ("error", "unchanged", text(t0), text(t0), 1),  # 47 h 59 min: one whole day
        "f3": ("missing_keys", "unchanged", text(t1), text(t1), 0),  # 23 h 59 min: none
    }
    # --fail-on-age 1: f3 is too young to fail; the error fails, as --fail-on names it.
    assert third.failing == 1
    assert third.summary.aged == 0
    assert fleet.report("run-3")["summary"]["open_over_14_days"] == 0

    # History.timeline: only the changes of each function's status.
    store = fleet.store
    assert store.timeline(urn("f1"))[1] == [
        TimelineEntry(text(t0), "run-1", "", "configured", ""),
        TimelineEntry(text(t1), "run-2", "configured", "missing_keys", text(t1)),
        TimelineEntry(text(t2), "run-3", "missing_keys", "configured", ""),
    ]
    now, f2 = store.timeline(urn("f2"))
    assert f2 == [
        TimelineEntry(text(t0), "run-1", "", "missing_keys", text(t0)),
        TimelineEntry(text(t2), "run-3", "missing_keys", "error", text(t0)),
    ]
    assert now is not None
    assert (now["status"], now["verdict"], now["failing_since"]) == (
        "error",
        "missing_keys",
        text(t0),
    )
    assert store.timeline(urn("f3"))[1] == [
        TimelineEntry(text(t1), "run-2", "", "missing_keys", text(t1))
    ]

    # History.trend: the scope's runs, oldest first.
    trend = store.trend(SCOPE.key)
    assert [r.name for r in trend] == ["run-1", "run-2", "run-3"]
    assert [r.started_at for r in trend] == [text(t0), text(t1), text(t2)]
    assert [r.compliance for r in trend] == [50.0, 0.0, 33.33]
    assert [r.by_status for r in trend] == [
        {"configured": 1, "missing_keys": 1},
        {"missing_keys": 3},
        {"configured": 1, "missing_keys": 1, "error": 1},
    ]
    assert third.recorded == trend[-1]

    # The XLSX Trend sheet of the third run: the two runs before it and itself.
    book = openpyxl.load_workbook(fleet.settings.out / "run-3.xlsx", read_only=True)
    assert book.sheetnames[:2] == ["Summary", "Trend"]
    sheet = [list(r) for r in book["Trend"].iter_rows(values_only=True)]
    header = sheet[0]
    table = [dict(zip(header, r, strict=False)) for r in sheet[1:] if any(v is not None for v in r)]
    assert [r["name"] for r in table] == ["run-1", "run-2", "run-3"]
    assert [r["started_at"] for r in table] == [text(t0), text(t1), text(t2)]
    assert [r["compliance"] for r in table] == pytest.approx([0.5, 0.0, 0.3333])
    assert [(r["configured"], r["missing_keys"], r["error"]) for r in table] == [
        (1, 1, 0),
        (0, 3, 0),
        (1, 1, 1),
    ]
    assert [r["complete"] for r in table] == ["yes", "yes", "yes"]


def test_a_finding_open_past_the_sla_is_counted_and_gated_by_fail_on_age(fleet: Fleet) -> None:
    fleet.audit("start", {"f1": MISSING, "f2": OK})
    fleet.clock.advance(15 * 24 * 3600)
    result, rows = fleet.audit("later", {"f1": MISSING, "f2": MISSING}, fail_on_age=14)
    assert ages(rows) == {
        "f1": ("missing_keys", "unchanged", text(T0), text(T0), 15),
        "f2": ("missing_keys", "regressed", text(T0), text(T0 + timedelta(days=15)), 0),
    }
    assert result.failing == 1  # f1, open 15 days; f2 opened today
    assert result.summary.aged == 1
    assert fleet.report("later")["summary"]["open_over_14_days"] == 1
    book = openpyxl.load_workbook(fleet.settings.out / "later.xlsx", read_only=True)
    cells = [v for r in book["Summary"].iter_rows(values_only=True) for v in r if v is not None]
    assert any("1 findings open longer than 14 days" in str(v) for v in cells)


def test_a_resumed_run_is_recorded_once(fleet: Fleet) -> None:
    fleet.audit("run-1", {"f1": OK, "f2": MISSING, "f3": MISSING})
    fleet.clock.advance(24 * 3600)
    before = fleet.store.runs()

    # Interrupted after two of three functions: recorded, as incomplete.
    answers = {"f1": OK, "f2": OK, "f3": OK}
    partial, rows = fleet.audit("run-2", answers, stop_after=2)
    assert partial.complete is False
    assert partial.recorded is not None and partial.recorded.complete is False
    assert sorted(rows) == ["f1", "f2"]
    assert fleet.store.last_run(SCOPE.key) == before[0]  # not a baseline yet

    # Resumed an hour later: the same run, now whole, replaces the partial record.
    fleet.clock.advance(3600)
    resumed, rows = fleet.audit("run-2", answers, resume=True)
    assert resumed.complete is True
    assert fleet.prober.calls[urn("f3")] == 2  # asked once per run, not again on resume
    runs = fleet.store.runs()
    assert len(runs) == len(before) + 1
    assert runs[0] == resumed.recorded
    assert (runs[0].name, runs[0].complete, runs[0].total) == ("run-2", True, 3)
    assert runs[0].started_at == text(T0 + timedelta(hours=24))  # the first start
    assert fleet.store.last_run(SCOPE.key) == resumed.recorded
    results = fleet.store.database.rows(
        "SELECT COUNT(*) FROM results WHERE run_id = ?", (runs[0].run_id,)
    )
    assert results[0][0] == 3
    # The rows: compared with run-1 (the last complete run), each fixed once.
    assert {f: (r["change"], r["failing_since"]) for f, r in rows.items()} == {
        "f1": ("unchanged", ""),
        "f2": ("fixed", ""),
        "f3": ("fixed", ""),
    }
    # One timeline entry per change, whichever part of the run saw it.
    for f in ("f2", "f3"):
        entries = fleet.store.timeline(urn(f))[1]
        assert [(e.previous_status, e.status, e.run) for e in entries] == [
            ("", "missing_keys", "run-1"),
            ("missing_keys", "configured", "run-2"),
        ]


def test_a_resumed_run_is_compared_with_the_run_before_it_not_with_itself(
    fleet: Fleet,
) -> None:
    """The partial record of an interrupted run is the same run: once resumed, its Trend
    sheet lists it once, and the change since the last run is against the run before."""
    fleet.audit("run-1", {"f1": OK, "f2": MISSING, "f3": MISSING})
    fleet.clock.advance(24 * 3600)
    answers = {"f1": OK, "f2": OK, "f3": OK}
    fleet.audit("run-2", answers, stop_after=2)
    fleet.clock.advance(3600)
    resumed, _ = fleet.audit("run-2", answers, resume=True)
    assert resumed.previous is not None
    assert resumed.previous.name == "run-1"
    assert fleet.report("run-2")["run"]["history"]["previous_run"]["name"] == "run-1"
    book = openpyxl.load_workbook(fleet.settings.out / "run-2.xlsx", read_only=True)
    names = [r[1] for r in book["Trend"].iter_rows(min_row=2, values_only=True) if r[1]]
    assert names == ["run-1", "run-2"]


def test_a_run_the_store_fails_to_record_keeps_its_reports_and_can_be_imported(
    fleet: Fleet, history_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    fleet.audit("run-1", {"f1": OK, "f2": MISSING})
    fleet.clock.advance(24 * 3600)
    store = fleet.store
    real_record = store.record

    def record_after_losing_the_store(*args: Any, **kwargs: Any) -> Any:
        store.database.close()  # the server restarted, the disk went away...
        return real_record(*args, **kwargs)

    monkeypatch.setattr(store, "record", record_after_losing_the_store)
    result, rows = fleet.audit("run-2", {"f1": OK, "f2": MISSING}, recorded=False)
    report = fleet.settings.out / "run-2.json"
    assert result.recorded is None
    assert "auditor history import" in result.history_error
    assert str(report) in result.history_error
    assert report.is_file() and (fleet.settings.out / "run-2.xlsx").is_file()
    assert rows["f2"]["days_failing"] == 1  # the report has the age all the same

    # Nothing is lost: the report imported later is the run, aged as it was.
    from auditor.cli import main

    assert main(["history", "import", str(report), "--history", history_url, "-q"]) == 0
    with History.open(history_url) as again:
        runs = again.runs()
        assert [r.name for r in runs] == ["run-2", "run-1"]
        assert runs[0].started_at == text(T0 + timedelta(hours=24))
        imported = again.database.rows(
            "SELECT urn, failing_since, days_failing FROM results WHERE run_id = ?",
            (runs[0].run_id,),
        )
        assert sorted(imported) == [(urn("f1"), "", None), (urn("f2"), text(T0), 1)]
