"""Run an audit: a bounded pool of workers asks about each target and hands rows to a sink.

The pool has `concurrency` workers sharing one iterator over the targets, so a million URNs
cost a million rows and nothing more: no task, future or coroutine per URN. A target whose
request was answered 429 is put back, to be asked again after its wait (`Retry-After`, else
Huawei's 2-5 s), and the worker moves on to the next target: one throttled function never holds
a worker, and never holds the others. Every target ends in exactly one `sink(index, row)` call,
except those left when `stop` is set.
"""

from __future__ import annotations

import asyncio
import functools
import heapq
import itertools
import random
from array import array
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from auditor.model import Probe, Row, Target, utc_now
from auditor.send.breaker import CredentialGuard
from auditor.send.request import (
    Addressed,
    Asking,
    Later,
    RunTally,
    ask_once,
    guarded,
    request_about,
)
from auditor.send.retry import RetryPolicy
from auditor.send.throttle import Throttles
from auditor.service.answers import credentials_accepted, is_auth_failure
from auditor.source.targets import Targets
from auditor.source.urn import FunctionUrn
from auditor.verdict.classify import classify
from auditor.verdict.rows import invalid_row, result_row

Sink = Callable[[int, Row], None]
IDLE_POLL_S = 0.25  # a worker with nothing ready looks again this often for put-back targets


class Prober(Addressed, Protocol):
    """What the runner needs of a client (`auditor.service.client.TracingClient` is one):
    where and under whose credentials to ask (`Addressed`), and how to ask about a function."""

    async def probe(self, urn: FunctionUrn) -> Probe:
        """Ask once; never raise for an answer or a network failure."""

    async def preflight(self, urn: FunctionUrn) -> Probe:
        """One cheap request in `urn`'s project that shows whether its credentials work."""


@dataclass(frozen=True, slots=True)
class Runner:
    """Everything an audit run is handed: the I/O, the policy and the clocks."""

    prober: Prober
    throttles: Throttles
    concurrency: int = 32
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    now: Callable[[], datetime] = utc_now
    rng: random.Random = field(default_factory=random.Random)
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    grace: float = 2.0
    guard: CredentialGuard = field(default_factory=CredentialGuard)
    expected_aks: frozenset[str] | None = None  # the APM key policy (`expected_tracing_aks`)

    async def run(
        self,
        targets: Sequence[Target],
        sink: Sink,
        *,
        skip: Callable[[int], bool] = lambda index: False,
        stop: asyncio.Event | None = None,
    ) -> RunTally:
        """Audit `targets` (indices for which `skip` is true are left out) into `sink`."""
        tally = RunTally()
        invalid = set(_invalid_indices(targets))
        for index in sorted(invalid):
            if not skip(index):
                sink(index, invalid_row(targets[index]))
        # Targets are taken one at a time as workers free up: a compact `Targets` builds
        # each (and parses its URN) only then.
        todo = array(
            "q", (index for index in range(len(targets)) if not (index in invalid or skip(index)))
        )
        pending: Iterator[tuple[int, Target]] = (
            (index, targets[index]) for index in in_turn(targets, todo, self.prober.rate_scope)
        )
        backlog = _Backlog(pending, self.sleep)
        stop = stop or asyncio.Event()
        await run_workers(
            lambda: self._worker(backlog, sink, tally, stop),
            self.concurrency,
            stop,
            grace=self.grace,
        )
        return tally

    async def _worker(
        self, backlog: _Backlog, sink: Sink, tally: RunTally, stop: asyncio.Event
    ) -> None:
        while not stop.is_set():
            # The common case takes no await: the next target is ready.
            item = backlog.ready() or await backlog.take(stop)
            if item is None:
                return
            index, target, asking = item
            urn = target.parsed
            assert urn is not None
            send = functools.partial(self.prober.probe, urn)
            request = request_about(self.prober, urn.project_id, urn.region, send)
            answer = await ask_once(self, request, tally, asking)
            if isinstance(answer, Later):
                backlog.put_back(answer.wait_s, index, target, asking)
                continue
            sink(
                index,
                result_row(
                    target,
                    answer.probe,
                    classify(answer.probe, self.expected_aks),
                    attempts=answer.attempts,
                    elapsed_ms=answer.elapsed_ms,
                    checked_at=self.now(),
                ),
            )

    async def preflight(self, urns: Sequence[FunctionUrn]) -> tuple[dict[str, str], RunTally]:
        """One cheap request per project (the first URN of each) to check its credentials,
        under the same guard as the audit. Returns a verdict per project id."""
        tally = RunTally()
        first: dict[str, FunctionUrn] = {}
        for urn in urns:
            first.setdefault(urn.project_id, urn)

        async def check(urn: FunctionUrn) -> tuple[str, str]:
            send = functools.partial(self.prober.preflight, urn)
            request = request_about(self.prober, urn.project_id, urn.region, send)
            sent = await guarded(self, request, tally)
            probe = sent.probe
            if credentials_accepted(probe):
                return urn.project_id, "ok"
            detail = " ".join(p for p in (probe.error_code, probe.error_msg) if p)
            if is_auth_failure(probe):
                return urn.project_id, f"refused: {detail or f'HTTP {probe.http_status}'}"
            return urn.project_id, f"unknown: {detail or f'HTTP {probe.http_status}'}"

        verdicts = await asyncio.gather(*(check(urn) for urn in first.values()))
        return dict(sorted(verdicts)), tally


async def run_workers(
    worker: Callable[[], Coroutine[Any, Any, None]],
    count: int,
    stop: asyncio.Event,
    *,
    grace: float,
) -> None:
    """Run `count` copies of `worker` until they all return, or `stop` is set: then the
    requests in flight get `grace` seconds to land and the rest are abandoned. A worker's
    exception (a bug) is raised here."""
    workers = [asyncio.create_task(worker()) for _ in range(max(1, count))]
    everyone = asyncio.gather(*workers)
    stopped = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait([everyone, stopped], return_when=asyncio.FIRST_COMPLETED)  # type: ignore[type-var]  # gather's future and a task mix fine at run time
        if not everyone.done():
            await asyncio.wait([everyone], timeout=grace)
    finally:
        stopped.cancel()
        for task in workers:
            task.cancel()
        # Let cancelled workers unwind now, and collect the gathered outcome so asyncio
        # never logs an exception nobody retrieved.
        outcomes = await asyncio.gather(*workers, return_exceptions=True)
        if not everyone.cancelled():
            everyone.exception()
    for outcome in outcomes:
        if isinstance(outcome, Exception):
            raise outcome


class _Backlog:
    """The targets still to ask: the input order first, and targets put back after a 429,
    each ready again at its own time (a heap on the loop clock)."""

    def __init__(
        self,
        pending: Iterator[tuple[int, Target]],
        sleep: Callable[[float], Awaitable[None]],
    ) -> None:
        self._pending: Iterator[tuple[int, Target]] | None = pending
        self._later: list[tuple[float, int, int, Target, Asking]] = []
        self._order = itertools.count()  # ties on the heap never compare targets
        self._sleep = sleep

    def put_back(self, wait_s: float, index: int, target: Target, asking: Asking) -> None:
        ready_at = asyncio.get_running_loop().time() + wait_s
        heapq.heappush(self._later, (ready_at, next(self._order), index, target, asking))

    def ready(self) -> tuple[int, Target, Asking] | None:
        """A target to ask now without waiting: one put back whose wait is over, else the
        next new one; None if neither is there."""
        later = self._later
        if later and later[0][0] <= asyncio.get_running_loop().time():
            _, _, index, target, asking = heapq.heappop(later)
            return index, target, asking
        if self._pending is not None:
            # Single-threaded event loop: `next()` on the shared generator is never re-entered.
            item = next(self._pending, None)
            if item is not None:
                return item[0], item[1], Asking()
            self._pending = None
        return None

    async def take(self, stop: asyncio.Event) -> tuple[int, Target, Asking] | None:
        """The next target to ask, waiting for a put-back one if only those are left; None
        when there is nothing left (or the run is stopping)."""
        loop = asyncio.get_running_loop()
        while not stop.is_set():
            item = self.ready()
            if item is not None or not self._later:
                return item
            # Only put-back targets are left: wait for the first, looking again now and then
            # in case another worker puts back one that is ready sooner.
            await self._sleep(min(IDLE_POLL_S, max(0.0, self._later[0][0] - loop.time())))
        return None


def in_turn(
    targets: Sequence[Target], todo: Sequence[int], rate_scope: Callable[[str], str]
) -> Iterator[int]:
    """The indices in `todo`, one from each rate scope and region in turn.

    A worker that takes a target waits at that target's rate limit while holding it: in
    input order, an estate's functions come account after account, so every worker would wait
    at one account's limit while the others' went unused. In turn, the workers spread over
    every credential scope (each account, each project's token) and ride all their limits at
    once. The rows are still journaled and reported in input order."""
    place = targets.place if isinstance(targets, Targets) else _place_of(targets)
    scope_of: dict[str, str] = {}
    groups: dict[tuple[str, str], array[int]] = {}
    for index in todo:
        region, project = place(index)
        scope = scope_of.get(project)
        if scope is None:
            scope = scope_of[project] = rate_scope(project)
        group = groups.get((scope, region))
        if group is None:
            group = groups[scope, region] = array("q")
        group.append(index)
    queues = [iter(group) for group in groups.values()]
    while queues:
        still = []
        for queue in queues:
            following = next(queue, None)
            if following is not None:
                yield following
                still.append(queue)
        queues = still


def _place_of(targets: Sequence[Target]) -> Callable[[int], tuple[str, str]]:
    """`Targets.place` for a plain sequence of valid targets."""

    def place(index: int) -> tuple[str, str]:
        parsed = targets[index].parsed
        assert parsed is not None
        return parsed.region, parsed.project_id

    return place


def _invalid_indices(targets: Sequence[Target]) -> Iterable[int]:
    """The indices of the entries that are not URNs, without building every target when the
    input set knows them."""
    if isinstance(targets, Targets):
        return targets.invalid_indices()
    return [index for index, target in enumerate(targets) if target.parsed is None]
