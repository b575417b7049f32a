"""Applying a plan against a fake FunctionGraph: one PUT and one read-back per function, the
outcome of each, and the SK nowhere but in the PUT."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import UTC, datetime

from auditor.fix.apply import ApmKeys, FixOutcome, FixResult, apply_fixes
from auditor.fix.plan import plan_fixes
from auditor.model import Probe, Status
from auditor.send.retry import RetryPolicy
from auditor.send.runner import Runner
from auditor.send.throttle import Throttles
from auditor.source.urn import FunctionUrn
from tests.factories import make_row

KEYS = ApmKeys("APMACCESSKEY00000001", "apm-secret-key-never-to-be-seen-0042")
NOW = datetime(2026, 12, 6, 5, 0, 0, tzinfo=UTC)
P = "0123456789abcdef0123456789abcdef"


class FakeFunctionGraph:
    """Keeps each function's tracing AK; `deleted` functions do not exist; `refuse` answers
    every PUT with a 403; `stale` accepts PUTs but keeps answering the old AK."""

    def __init__(self, *, deleted: set[str] = set(), refuse: set[str] = set()) -> None:  # noqa: B006
        self.aks: dict[str, str] = {}
        self.deleted, self.refuse = deleted, refuse
        self.puts: list[tuple[str, str, str]] = []
        self.gets: list[str] = []
        self.stale: set[str] = set()

    def endpoint(self, region: str) -> str:
        return "https://fg.test"

    def scopes(self, project_id: str) -> tuple[str, ...]:
        return (f"project {project_id}",)

    def rate_scope(self, project_id: str) -> str:
        return "token"

    async def refresh(self, project_id: str, rejected: str) -> bool:
        return False

    async def update_tracing(self, urn: FunctionUrn, ak: str, sk: str) -> Probe:
        self.puts.append((urn.name, ak, sk))
        if urn.name in self.deleted:
            return Probe(400, error_code="FSS.1128", error_msg=f"function[{urn}] not existed")
        if urn.name in self.refuse:
            return Probe(403, error_code="FSS.0403", error_msg="invalid token")
        if urn.name not in self.stale:
            self.aks[urn.name] = ak
        return Probe(200, request_id=f"put-{urn.name}")

    async def probe(self, urn: FunctionUrn) -> Probe:
        self.gets.append(urn.name)
        ak = self.aks.get(urn.name)
        if ak is None:
            return Probe(404, error_code="FSS.0404", error_msg="can not find tracing aksk")
        return Probe(200, tracing_ak=ak, request_id=f"get-{urn.name}")


def apply(fake: FakeFunctionGraph, names: list[str]) -> list[FixResult]:
    rows = [
        make_row(urn=f"urn:fss:cn-north-4:{P}:function:default:{name}", status=Status.MISSING_KEYS)
        for name in names
    ]
    plan = plan_fixes(rows)
    results: list[FixResult] = []

    async def main() -> None:
        conduct = Runner(fake, Throttles(None), policy=RetryPolicy(retries=0))
        await apply_fixes(
            plan.items,
            fake,
            conduct,
            KEYS,
            concurrency=4,
            on_result=results.append,
            now=lambda: NOW,
            format_time=lambda moment: moment.strftime("%Y-%m-%dT%H:%M:%SZ"),
        )

    asyncio.run(main())
    return sorted(results, key=lambda r: r.function)


def test_each_function_gets_one_put_and_one_read_back() -> None:
    fake = FakeFunctionGraph()
    results = apply(fake, ["a", "b", "c"])
    assert [r.outcome for r in results] == [FixOutcome.FIXED] * 3
    assert sorted(p[0] for p in fake.puts) == ["a", "b", "c"]
    assert all(p[1:] == (KEYS.ak, KEYS.sk) for p in fake.puts)
    assert sorted(fake.gets) == ["a", "b", "c"]
    assert results[0].tracing_ak == "APMA****0001"
    assert results[0].attempts == 2
    assert results[0].request_id == "get-a"
    assert results[0].status == "missing_keys"
    assert results[0].checked_at == "2026-12-06T05:00:00Z"


def test_a_deleted_function_is_not_found_and_not_read_back() -> None:
    fake = FakeFunctionGraph(deleted={"b"})
    results = apply(fake, ["a", "b"])
    assert [(r.function, r.outcome) for r in results] == [
        ("a", FixOutcome.FIXED),
        ("b", FixOutcome.NOT_FOUND),
    ]
    assert fake.gets == ["a"]
    assert results[1].error_code == "FSS.1128"


def test_a_refused_put_is_failed_with_its_answer() -> None:
    fake = FakeFunctionGraph(refuse={"a"})
    (result,) = apply(fake, ["a"])
    assert result.outcome is FixOutcome.FAILED
    assert result.http_status == 403
    assert result.error_msg.startswith("UpdateTracing: ")
    assert fake.gets == []


def test_a_put_that_does_not_stick_is_failed_by_the_read_back() -> None:
    fake = FakeFunctionGraph()
    fake.stale = {"a"}
    (result,) = apply(fake, ["a"])
    assert result.outcome is FixOutcome.FAILED
    assert result.error_msg.startswith("read back: missing_keys")


def test_the_sk_is_in_no_result() -> None:
    fake = FakeFunctionGraph(deleted={"b"}, refuse={"c"})
    results = apply(fake, ["a", "b", "c"])
    for result in results:
        assert KEYS.sk not in repr(dataclasses.asdict(result))
    assert KEYS.sk not in repr(KEYS)
