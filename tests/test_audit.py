"""`run_audit`, the library's entry point, driven directly: an input set and settings as the
CLI builds them, a runner over a fake prober (no HTTP), then the journal, the JSON report and
the `AuditResult` checked against each other and against what the prober answered."""

from __future__ import annotations

import asyncio
import json
import random
from collections import Counter
from pathlib import Path
from typing import Any

from auditor.audit import AuditResult, RunOptions, run_audit
from auditor.config import Settings
from auditor.model import Probe, Row, Status
from auditor.send.retry import RetryPolicy
from auditor.send.runner import Runner
from auditor.send.throttle import Throttles
from auditor.service.auth import project_scope
from auditor.source.inputs import InputSet, from_lines
from auditor.source.targets import fingerprint
from auditor.source.urn import FunctionUrn
from auditor.store.journal import JournalReader
from tests.clocks import no_wait
from tests.factories import PROJECT, ConcurrencySpy, WallClock, read_journal

OTHER_PROJECT = "fedcba9876543210fedcba9876543210"
AK = "AKIDEXAMPLEACCESSKEY0042"
OK = Probe(200, tracing_ak=AK, request_id="r-ok", elapsed_ms=5.0)
REFUSED = Probe(403, error_code="FSS.0403", error_msg="invalid token")
# By function name: the answer every request about it gets (`OK` for any other name).
ANSWERS = {
    "missing": Probe(404, error_code="FSS.0404", error_msg="can not find tracing aksk"),
    "gone": Probe(404, error_code="FSS.1051", error_msg="Not found the function"),
    "broken": Probe(500, error_code="FSS.0500", error_msg="internal error"),
}
TICK_S = 0.5  # the wall clock moves this much per request, so the run has a known duration
CREDENTIALS = "test token"


def urn(name: str, project: str = PROJECT, region: str = "cn-north-4") -> str:
    return f"urn:fss:{region}:{project}:function:default:{name}"


class FakeProber:
    """The runner's `Prober` without HTTP: answers by function name (`ANSWERS`), refuses every
    request in `refused` projects, moves the wall clock one tick per request, counts requests
    and pre-flight checks, and spies on how many requests are in flight per project."""

    def __init__(self, clock: WallClock, *, refused: frozenset[str] = frozenset()) -> None:
        self.clock = clock
        self.refused = refused
        self.calls: Counter[str] = Counter()
        self.preflights: Counter[str] = Counter()
        self.spy = ConcurrencySpy()

    def endpoint(self, region: str) -> str:
        return f"https://fg.{region}.test"

    def scopes(self, project_id: str) -> tuple[str, ...]:
        return (project_scope(project_id),)

    def rate_scope(self, project_id: str) -> str:
        return f"token of project {project_id}"

    async def refresh(self, project_id: str, rejected: str) -> bool:
        return False  # a static token: nothing fresher to try

    async def probe(self, urn: FunctionUrn) -> Probe:
        self.calls[urn.unqualified] += 1
        return await self._answer(urn, ANSWERS.get(urn.name, OK))

    async def preflight(self, urn: FunctionUrn) -> Probe:
        self.preflights[urn.project_id] += 1
        return await self._answer(urn, OK)

    async def _answer(self, urn: FunctionUrn, answer: Probe) -> Probe:
        with self.spy.inside(urn.name, key=urn.project_id):
            await asyncio.sleep(0)  # let the other workers in
            self.clock.advance(TICK_S)
            return REFUSED if urn.project_id in self.refused else answer


def runner_for(prober: FakeProber, *, concurrency: int = 4) -> Runner:
    return Runner(
        prober,
        Throttles(None),
        concurrency=concurrency,
        policy=RetryPolicy(retries=1, base_delay=0.001, max_delay=0.002),
        now=prober.clock,
        rng=random.Random(7),
        sleep=no_wait,
    )


def audit(
    inputs: InputSet,
    settings: Settings,
    prober: FakeProber,
    *,
    concurrency: int = 4,
    **options: Any,
) -> tuple[AuditResult, list[Row]]:
    """Run `run_audit` as the CLI does; return its result and the rows handed to `on_row`."""
    seen: list[Row] = []
    result = asyncio.run(
        run_audit(
            inputs,
            settings,
            runner_for(prober, concurrency=concurrency),
            RunOptions(**options),
            name="run",
            credential_method=CREDENTIALS,
            on_row=seen.append,
        )
    )
    return result, seen


def report(settings: Settings, name: str = "run") -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((settings.out / f"{name}.json").read_text())
    return loaded


LINES = [
    urn("orders"),
    urn("missing"),
    "not-a-urn",
    urn("gone"),
    urn("orders"),  # a duplicate: merged into the first
    urn("broken"),
    urn("payments", region="eu-west-101"),
]
# The distinct entries in first-seen order, and the status each ends with.
EXPECTED = [
    (urn("orders"), Status.CONFIGURED),
    (urn("missing"), Status.MISSING_KEYS),
    ("not-a-urn", Status.INVALID_URN),
    (urn("gone"), Status.FUNCTION_NOT_FOUND),
    (urn("broken"), Status.ERROR),
    (urn("payments", region="eu-west-101"), Status.CONFIGURED),
]


def test_every_target_ends_in_one_row_journaled_reported_and_counted(tmp_path: Path) -> None:
    inputs = from_lines(LINES, "in.txt")
    settings = Settings(out=tmp_path / "reports")
    prober = FakeProber(WallClock())
    started = prober.clock.now
    result, seen = audit(inputs, settings, prober, run_facts={"discovery": None})

    # The prober: each valid distinct URN asked, the 500 once more (one retry), never the
    # entry that is not a URN, and never more at once than the workers.
    asked = {u: 1 for u, status in EXPECTED if status is not Status.INVALID_URN}
    asked[urn("broken")] = 2
    assert prober.calls == asked
    assert 1 <= prober.spy.most <= 4
    requests = sum(asked.values())

    # The journal: its header, and one row per target by index, in input order.
    journal_path = tmp_path / "reports" / "run.journal.jsonl"
    journal = read_journal(journal_path)
    assert journal.header["name"] == "run"
    assert journal.header["targets"] == len(EXPECTED)
    assert journal.header["fingerprint"] == fingerprint(u for u, _ in EXPECTED)
    assert journal.skipped_lines == 0
    assert sorted(journal.rows) == list(range(len(EXPECTED)))
    assert [(r.urn, r.status) for _, r in sorted(journal.rows.items())] == EXPECTED

    # The JSON report: the same rows in input order, each fact where it belongs.
    document = report(settings)
    rows = document["results"]
    assert [(r["urn"], r["status"]) for r in rows] == [(u, s.value) for u, s in EXPECTED]
    by_urn = {r["urn"]: r for r in rows}
    assert by_urn[urn("orders")]["occurrences"] == 2
    assert by_urn[urn("orders")]["source"] == "in.txt:1"
    assert by_urn[urn("orders")]["tracing_ak"] == "AKID****0042"  # masked
    assert by_urn[urn("broken")]["attempts"] == 2
    assert by_urn[urn("broken")]["error_code"] == "FSS.0500"
    assert by_urn["not-a-urn"]["attempts"] == 0
    assert by_urn[urn("gone")]["error_code"] == "FSS.1051"
    assert by_urn[urn("payments", region="eu-west-101")]["region"] == "eu-west-101"
    summary = document["summary"]
    assert summary["total"] == len(EXPECTED)
    assert summary["by_status"] == {
        "configured": 2,
        "missing_keys": 1,
        "function_not_found": 1,
        "error": 1,
        "invalid_urn": 1,
    }
    assert summary["by_region"]["eu-west-101"] == {"configured": 1}
    assert summary["by_project"][PROJECT] == {
        "configured": 2,
        "missing_keys": 1,
        "function_not_found": 1,
        "error": 1,
    }
    run = document["run"]
    assert run["complete"] is True
    assert run["not_audited"] == []
    assert run["requests"] == requests
    assert run["duplicates_merged"] == 1
    assert run["inputs"] == [{"name": "in.txt", "format": "list", "entries": len(LINES)}]
    assert run["settings"]["credentials"] == CREDENTIALS
    assert run["preflight"] is None and run["resumed"] is None
    assert run["journal"] == str(journal_path)
    assert run["discovery"] is None and "discovery" in run  # the run facts given
    # Started before the first request and finished after the last: one tick each.
    assert run["duration_s"] == requests * TICK_S
    assert run["started_at"] == started.strftime("%Y-%m-%dT%H:%M:%SZ")

    # The result: what the report says, and the files written.
    assert result.complete is True
    assert result.not_audited == 0
    assert result.summary.as_dict() == summary
    assert result.failing == 4  # every status but configured, by default
    assert result.tally.requests == requests
    assert result.preflight == {}
    assert result.open_breakers == []
    assert result.comparison is None and result.exemptions is None
    assert result.run == run
    out = tmp_path / "reports"
    assert settings.formats == ("xlsx", "csv", "json")  # all three by default
    assert result.paths == [*(out / f"run.{f}" for f in settings.formats), journal_path]
    assert all(path.is_file() for path in result.paths)
    for path in result.paths:
        assert AK.encode() not in path.read_bytes(), path  # only the masked AK is written

    # `on_row`: each row once, as it came.
    assert sorted((r.urn, r.status) for r in seen) == sorted(EXPECTED)


def test_only_the_statuses_fail_on_names_are_failing(tmp_path: Path) -> None:
    inputs = from_lines(LINES, "in.txt")
    settings = Settings(out=tmp_path, formats=("json",), fail_on=frozenset({Status.ERROR}))
    result, _ = audit(inputs, settings, FakeProber(WallClock()))
    assert result.failing == 1
    assert result.paths == [tmp_path / "run.json", tmp_path / "run.journal.jsonl"]
    assert report(settings)["run"]["settings"]["fail_on"] == ["error"]


def test_preflight_asks_once_per_project_and_its_verdicts_are_reported(tmp_path: Path) -> None:
    lines = [urn(f"fn-{n}", project) for project in (PROJECT, OTHER_PROJECT) for n in range(3)]
    inputs = from_lines(lines, "in.txt")
    settings = Settings(out=tmp_path, formats=("json",))
    prober = FakeProber(WallClock(), refused=frozenset({OTHER_PROJECT}))
    result, _ = audit(inputs, settings, prober, preflight=True)

    assert prober.preflights == {PROJECT: 1, OTHER_PROJECT: 1}
    assert set(result.preflight) == {PROJECT, OTHER_PROJECT}
    assert result.preflight[PROJECT] == "ok"
    assert result.preflight[OTHER_PROJECT].startswith("refused: ")
    assert "FSS.0403" in result.preflight[OTHER_PROJECT]
    run = report(settings)["run"]
    assert run["preflight"] == result.preflight
    assert run["requests"] == sum(prober.calls.values()) + 2  # the two pre-flight requests
    statuses = {row["urn"]: row["status"] for row in report(settings)["results"]}
    assert statuses == {
        u: ("configured" if PROJECT in u else "auth_failed") for u in lines
    }  # every URN has its one row, the refused project's too
    assert result.complete is True


def test_a_stopped_run_is_incomplete_and_a_resume_asks_only_the_rest(tmp_path: Path) -> None:
    lines = [urn(f"fn-{n}") for n in range(12)]
    inputs = from_lines(lines, "in.txt")
    settings = Settings(out=tmp_path, formats=("json",))
    stop = asyncio.Event()
    first: list[Row] = []

    def stop_after_four(row: Row) -> None:
        first.append(row)
        if len(first) == 4:
            stop.set()

    async def stopped() -> AuditResult:
        return await run_audit(
            inputs,
            settings,
            runner_for(FakeProber(WallClock()), concurrency=1),
            name="run",
            credential_method=CREDENTIALS,
            on_row=stop_after_four,
            stop=stop,
        )

    partial = asyncio.run(stopped())
    done = len(first)
    assert 4 <= done < len(lines)
    assert partial.complete is False
    assert partial.not_audited == len(lines) - done
    run = report(settings)["run"]
    assert run["complete"] is False
    assert run["not_audited"] == lines[done:]  # one worker: the input order
    assert [r["urn"] for r in report(settings)["results"]] == lines[:done]
    journal = tmp_path / "run.journal.jsonl"
    assert len(read_journal(journal).rows) == done

    prober = FakeProber(WallClock())
    result, seen = audit(inputs, settings, prober, resume=JournalReader(journal))
    assert prober.calls == {u: 1 for u in lines[done:]}  # nothing asked twice
    assert result.complete is True and result.not_audited == 0
    assert len(seen) == len(lines)  # the rows reused are handed on too
    assert result.paths[-1] == journal  # the journal is continued, not replaced
    assert len(read_journal(journal).rows) == len(lines)
    resumed = report(settings)
    assert [r["urn"] for r in resumed["results"]] == lines
    assert resumed["summary"]["by_status"] == {"configured": len(lines)}
    assert resumed["run"]["resumed"]["rows_reused"] == done
    assert resumed["run"]["requests"] == len(lines) - done


def test_an_empty_input_set_writes_an_empty_complete_report(tmp_path: Path) -> None:
    inputs = InputSet([], [])
    settings = Settings(out=tmp_path, formats=("json", "csv"))
    prober = FakeProber(WallClock())
    result, seen = audit(inputs, settings, prober)
    assert prober.calls == {} and seen == []
    assert result.complete is True and result.summary.total == 0 and result.failing == 0
    document = report(settings)
    assert document["results"] == [] and document["summary"]["total"] == 0
    assert read_journal(tmp_path / "run.journal.jsonl").header["targets"] == 0
