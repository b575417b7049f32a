"""Apply a plan: for each planned function one UpdateTracing (`PUT .../tracing` with the APM
keys), then one tracing GET to read it back, each through the audit's request path (rate
control, retries, credential guard). A function ends `fixed` (read back with the APM AK),
`not_found` (it no longer exists) or `failed` (with the answer that said why).

A bounded pool of workers walks the plan; a 429 waits in place (plans are hundreds of
functions, not millions). Each result goes to `on_result` as it comes, for the journal.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from auditor.fix.plan import PlannedFix
from auditor.model import Probe, Status, mask_ak
from auditor.send.request import Addressed, Asked, Conduct, RunTally, ask, request_about
from auditor.send.runner import run_workers
from auditor.source.urn import FunctionUrn
from auditor.verdict.classify import classify

FIX_GRACE_S = 2.0  # after a stop, changes in flight get this long to land


class FixOutcome(StrEnum):
    """How one planned function ended. The strings are the fix report's vocabulary."""

    FIXED = "fixed"
    FAILED = "failed"
    NOT_FOUND = "not_found"


@dataclass(frozen=True, slots=True)
class FixResult:
    """One line of the fix report; field order is its column order."""

    urn: str
    region: str
    project_id: str
    package: str
    function: str
    status: str  # what the audit found: missing_keys or unexpected_keys
    outcome: FixOutcome
    http_status: int | None
    error_code: str
    error_msg: str
    tracing_ak: str  # read back, masked
    request_id: str
    attempts: int
    checked_at: str


@dataclass(frozen=True)
class ApmKeys:
    """The APM access key pair every planned function gets. The SK never shows in a repr."""

    ak: str
    sk: str

    def __repr__(self) -> str:
        return f"ApmKeys(ak={mask_ak(self.ak)}, sk=****)"


class Fixer(Addressed, Protocol):
    """What applying a plan needs of a client (`auditor.service.client.TracingClient`):
    where and under whose credentials to ask (`Addressed`), and how to change and read back
    a function's tracing keys."""

    async def update_tracing(self, urn: FunctionUrn, ak: str, sk: str) -> Probe:
        """Set `urn`'s tracing keys once; never raise for an answer or a network failure."""

    async def probe(self, urn: FunctionUrn) -> Probe:
        """Ask once about `urn`'s tracing configuration."""


async def apply_fixes(
    items: Iterable[PlannedFix],
    client: Fixer,
    conduct: Conduct,
    keys: ApmKeys,
    *,
    concurrency: int,
    on_result: Callable[[FixResult], None],
    now: Callable[[], datetime],
    format_time: Callable[[datetime], str],
    stop: asyncio.Event | None = None,
) -> RunTally:
    """Fix every item (until `stop` is set); each result goes to `on_result` as it comes."""
    tally = RunTally()
    pending: Iterator[PlannedFix] = iter(items)
    stop = stop or asyncio.Event()

    async def worker() -> None:
        while not stop.is_set():
            item = next(pending, None)
            if item is None:
                return
            on_result(await _fix_one(item, client, conduct, keys, tally, now, format_time))

    await run_workers(worker, concurrency, stop, grace=FIX_GRACE_S)
    return tally


async def _fix_one(
    item: PlannedFix,
    client: Fixer,
    conduct: Conduct,
    keys: ApmKeys,
    tally: RunTally,
    now: Callable[[], datetime],
    format_time: Callable[[datetime], str],
) -> FixResult:
    urn = item.parsed
    change = functools.partial(client.update_tracing, urn, keys.ak, keys.sk)
    put = await ask(conduct, request_about(client, urn.project_id, urn.region, change), tally)
    if put.probe.http_status != 200:
        return _result(item, put, put, _put_outcome(put), "UpdateTracing", now, format_time)
    read_back = functools.partial(client.probe, urn)
    read = await ask(conduct, request_about(client, urn.project_id, urn.region, read_back), tally)
    outcome = classify(read.probe, frozenset({keys.ak}))
    verdict = {
        Status.CONFIGURED: FixOutcome.FIXED,
        Status.FUNCTION_NOT_FOUND: FixOutcome.NOT_FOUND,
    }.get(outcome.status, FixOutcome.FAILED)
    return _result(item, put, read, verdict, "read back", now, format_time)


def _put_outcome(put: Asked) -> FixOutcome:
    if classify(put.probe).status is Status.FUNCTION_NOT_FOUND:
        return FixOutcome.NOT_FOUND
    return FixOutcome.FAILED


def _result(
    item: PlannedFix,
    put: Asked,
    last: Asked,
    outcome: FixOutcome,
    step: str,
    now: Callable[[], datetime],
    format_time: Callable[[datetime], str],
) -> FixResult:
    probe = last.probe
    urn = item.parsed
    message = ""
    if outcome is not FixOutcome.FIXED:
        verdict = classify(probe)
        detail = verdict.error_msg or f"HTTP {probe.http_status}"
        if step == "read back" and verdict.status is not Status.FUNCTION_NOT_FOUND:
            detail = f"{verdict.status.value}: {detail}"
        message = f"{step}: {detail}"
    attempts = put.attempts + (last.attempts if last is not put else 0)
    return FixResult(
        urn=item.urn,
        region=urn.region,
        project_id=urn.project_id,
        package=urn.package,
        function=urn.name,
        status=item.status.value,
        outcome=outcome,
        http_status=probe.http_status,
        error_code=probe.error_code,
        error_msg=message,
        tracing_ak=mask_ak(probe.tracing_ak) if outcome is FixOutcome.FIXED else "",
        request_id=probe.request_id,
        attempts=attempts,
        checked_at=format_time(now()),
    )
