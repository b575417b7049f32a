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
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import NamedTuple, Protocol

from auditor.model import ErrorKind, Probe, Row, Target
from auditor.send.breaker import CredentialGuard
from auditor.send.retry import RetryPolicy
from auditor.send.throttle import Throttle, Throttles
from auditor.source.targets import Targets
from auditor.source.urn import FunctionUrn
from auditor.verdict.classify import classify, credentials_accepted, is_auth_failure
from auditor.verdict.rows import invalid_row, result_row, utc_now

Sink = Callable[[int, Row], None]
IDLE_POLL_S = 0.25  # a worker with nothing ready looks again this often for put-back targets


class Prober(Protocol):
    """What the runner needs of a client (`auditor.service.client.TracingClient` is one)."""

    def endpoint(self, urn: FunctionUrn) -> str:
        """The endpoint requests about `urn` go to."""

    def scopes(self, urn: FunctionUrn) -> tuple[str, ...]:
        """The credential scopes requests about `urn` are sent under."""

    def rate_scope(self, project_id: str) -> str:
        """Whose rate limit requests in `project_id` count against (the gateway limits per
        user: one token or access key serves many projects)."""

    async def probe(self, urn: FunctionUrn) -> Probe:
        """Ask once; never raise for an answer or a network failure."""

    async def refresh(self, urn: FunctionUrn, rejected: str) -> bool:
        """Credentials tagged `rejected` were refused: True if fresh ones are worth a retry."""

    async def preflight(self, urn: FunctionUrn) -> Probe:
        """One cheap request in `urn`'s project that shows whether its credentials work."""


@dataclass
class RunTally:
    """What the run saw besides rows: 429 answers per endpoint, waits, requests sent."""

    requests: int = 0
    skipped: int = 0  # targets not sent because their credentials' breaker was open
    throttled: Counter[str] = field(default_factory=Counter)


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
        pending: Iterator[tuple[int, Target]] = (
            (index, targets[index])
            for index in range(len(targets))
            if not (index in invalid or skip(index))
        )
        backlog = _Backlog(pending, self.sleep)
        stop = stop or asyncio.Event()
        workers = [
            asyncio.create_task(self._worker(backlog, sink, tally, stop))
            for _ in range(max(1, self.concurrency))
        ]
        everyone = asyncio.gather(*workers)
        stopped = asyncio.create_task(stop.wait())
        try:
            await asyncio.wait([everyone, stopped], return_when=asyncio.FIRST_COMPLETED)  # type: ignore[type-var]  # gather's future and a task mix fine at run time
            if not everyone.done():
                # Stopped: requests in flight get a short grace to land; the rest are abandoned.
                await asyncio.wait([everyone], timeout=self.grace)
        finally:
            stopped.cancel()
            for worker in workers:
                worker.cancel()
            # Let cancelled workers unwind now, and collect the gathered outcome so asyncio
            # never logs an exception nobody retrieved.
            outcomes = await asyncio.gather(*workers, return_exceptions=True)
            if not everyone.cancelled():
                everyone.exception()
        for outcome in outcomes:
            if isinstance(outcome, Exception):
                raise outcome  # a bug in a worker: surface it
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
            prober = self.prober
            request = Request(
                prober.endpoint(urn),
                prober.rate_scope(urn.project_id),
                prober.scopes(urn),
                functools.partial(prober.probe, urn),
                functools.partial(prober.refresh, urn),
            )
            answer = await ask_once(self, request, tally, asking)
            if isinstance(answer, Later):
                backlog.put_back(answer.wait_s, index, target, asking)
                continue
            sink(
                index,
                result_row(
                    target,
                    answer.probe,
                    classify(answer.probe),
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
            prober = self.prober
            request = Request(
                prober.endpoint(urn),
                prober.rate_scope(urn.project_id),
                prober.scopes(urn),
                functools.partial(prober.preflight, urn),
                functools.partial(prober.refresh, urn),
            )
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
        """A target to ask now without waiting, if there is one."""
        later = self._later
        if later and later[0][0] <= asyncio.get_running_loop().time():
            _, _, index, target, asking = heapq.heappop(later)
            return index, target, asking
        if self._pending is not None:
            item = next(self._pending, None)
            if item is not None:
                return item[0], item[1], Asking()
            self._pending = None
        return None

    async def take(self, stop: asyncio.Event) -> tuple[int, Target, Asking] | None:
        """The next target to ask: one put back whose wait is over, else the next new one;
        None when there is nothing left (or the run is stopping)."""
        loop = asyncio.get_running_loop()
        while not stop.is_set():
            later = self._later
            if later and later[0][0] <= loop.time():
                _, _, index, target, asking = heapq.heappop(later)
                return index, target, asking
            if self._pending is not None:
                # Single-threaded event loop: `next()` on the shared generator is never
                # re-entered.
                item = next(self._pending, None)
                if item is not None:
                    return item[0], item[1], Asking()
                self._pending = None
            if not later:
                return None
            # Only put-back targets are left: wait for the first, looking again now and then
            # in case another worker puts back one that is ready sooner.
            await self._sleep(min(IDLE_POLL_S, max(0.0, later[0][0] - loop.time())))
        return None


def _invalid_indices(targets: Sequence[Target]) -> Iterable[int]:
    """The indices of the entries that are not URNs, without building every target when the
    input set knows them."""
    if isinstance(targets, Targets):
        return targets.invalid_indices()
    return [index for index, target in enumerate(targets) if target.parsed is None]


class Conduct(Protocol):
    """The policies a request is asked under: the throttles, the credential guard, the retry
    policy, and the randomness and sleep they use (`Runner` and `auditor.send.discovery.Discoverer`
    have them)."""

    @property
    def throttles(self) -> Throttles: ...

    @property
    def guard(self) -> CredentialGuard: ...

    @property
    def policy(self) -> RetryPolicy: ...

    @property
    def rng(self) -> random.Random: ...

    @property
    def sleep(self) -> Callable[[float], Awaitable[None]]: ...


class Request(NamedTuple):
    """One thing to ask the API: where, under whose rate and credentials, and how."""

    endpoint: str
    rate_scope: str
    scopes: Sequence[str]
    send: Callable[[], Awaitable[Probe]]
    refresh: Callable[[str], Awaitable[bool]]


@dataclass(slots=True)
class Asking:
    """How asking about one target has gone so far, across its waits after 429s."""

    attempts: int = 0
    elapsed_ms: float = 0.0
    failures: int = 0  # answers that spent a retry (429s never do)


class Asked(NamedTuple):
    """What asking came to, retries included: the last answer and what it took."""

    probe: Probe
    attempts: int
    elapsed_ms: float
    skipped: bool  # not sent: the credentials' breaker was open


class Later(NamedTuple):
    """Answered 429: ask again in `wait_s` seconds."""

    wait_s: float


async def ask_once(
    conduct: Conduct, request: Request, tally: RunTally, asking: Asking
) -> Asked | Later:
    """Send until there is an answer worth keeping, or a 429 that says to come back later.

    Every attempt goes under the throttle and the credential guard; 500s, timeouts and
    connection failures are retried here as the policy says (each spends one of `--retries`).
    A 429 spends nothing: it returns `Later` with its wait, unless its scope has had no
    request accepted for the policy's `throttle_deadline`, when it is the final answer."""
    throttle = conduct.throttles.get(request.rate_scope, request.endpoint)
    policy = conduct.policy
    while True:
        sent = await guarded(conduct, request, tally, throttle)
        probe = sent.probe
        asking.attempts += sent.requests
        asking.elapsed_ms += sent.elapsed_ms
        if sent.skipped:
            tally.skipped += 1
            return Asked(probe, asking.attempts, asking.elapsed_ms, True)
        if probe.error_kind is ErrorKind.GATEWAY_REFUSING:
            break
        if probe.http_status == 429:
            tally.throttled[request.endpoint] += 1
            if throttle.stalled_for() < policy.throttle_deadline:
                wait = policy.throttle_delay(probe, conduct.rng)
                throttle.waited_after_429_s += wait
                return Later(wait)
            break  # no progress for the deadline: the gateway is not serving this scope
        if is_auth_failure(probe):
            break
        delay = policy.delay(probe, asking.failures + 1, conduct.rng)
        if delay is None:
            break
        asking.failures += 1
        await conduct.sleep(delay)
    return Asked(probe, asking.attempts, asking.elapsed_ms, False)


async def ask(conduct: Conduct, request: Request, tally: RunTally) -> Asked:
    """`ask_once`, waiting out each 429 in place: for callers with one request at a time to
    make (a project's listing pages, page after page)."""
    asking = Asking()
    while True:
        answer = await ask_once(conduct, request, tally, asking)
        if isinstance(answer, Asked):
            return answer
        await conduct.sleep(answer.wait_s)


async def guarded(
    conduct: Conduct, request: Request, tally: RunTally, throttle: Throttle | None = None
) -> _Sent:
    """One attempt under the credential guard; a refusal gets one retry with fresh
    credentials (not counted against them)."""
    guard = conduct.guard
    scopes = request.scopes
    if throttle is None:
        throttle = conduct.throttles.get(request.rate_scope, request.endpoint)
    requests, elapsed = 0, 0.0
    # The whole exchange, refresh and retry included, happens under one admission: a scope on
    # probation lets nobody else in until this request has taught the guard.
    async with guard.admitted(scopes):
        for retry in (False, True):
            # Checked under the probation lock: a waiter sees what the request before it taught
            # the guard, and sends nothing once the breaker is open.
            blocked = guard.blocked(scopes)
            if blocked is not None:
                probe = Probe(None, ErrorKind.CREDENTIALS, error_msg=blocked)
                return _Sent(probe, requests, elapsed, skipped=True)
            ticket = await throttle.acquire(conduct.policy.throttle_deadline)
            if ticket is None:
                # The gateway has accepted nothing of this scope for the deadline, only 429s:
                # asking (again) would only be refused again.
                deadline = conduct.policy.throttle_deadline
                probe = Probe(
                    None,
                    ErrorKind.GATEWAY_REFUSING,
                    error_msg="not sent: the gateway accepted nothing of these credentials for"
                    f" {deadline:g} s and answered 429",
                )
                return _Sent(probe, requests, elapsed)
            probe = await request.send()
            elapsed += probe.elapsed_ms
            if probe.error_kind is not ErrorKind.CREDENTIALS:
                requests += 1
                tally.requests += 1
            throttle.answered(ticket, probe.http_status)
            if not is_auth_failure(probe):
                if credentials_accepted(probe):
                    guard.accepted(scopes)
                return _Sent(probe, requests, elapsed)
            if not retry and guard.may_refresh(scopes) and await request.refresh(probe.credential):
                continue  # one retry with fresh credentials, not counted
            guard.refused(scopes, after_refresh=retry)
            return _Sent(probe, requests, elapsed)
    raise AssertionError("unreachable: the second pass always returns")


class _Sent(NamedTuple):
    """What one guarded attempt came to: the final answer and the requests it took.

    A named tuple, not a frozen dataclass: one is made per request, and a tuple is cheaper."""

    probe: Probe
    requests: int
    elapsed_ms: float
    skipped: bool = False
