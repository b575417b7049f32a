"""Run an audit: a bounded pool of workers asks about each target and hands rows to a sink.

The pool has `concurrency` workers sharing one iterator over the targets, so a million URNs
cost a million rows and nothing more: no task, future or coroutine per URN. Every target ends
in exactly one `sink(index, row)` call, except those left when `stop` is set.
"""

from __future__ import annotations

import asyncio
import functools
import random
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import NamedTuple, Protocol

from auditor.breaker import CredentialGuard
from auditor.classify import classify, credentials_accepted, is_auth_failure
from auditor.model import ErrorKind, Probe, Row, Target
from auditor.retry import RetryPolicy
from auditor.rows import invalid_row, result_row, utc_now
from auditor.targets import Targets
from auditor.throttle import Throttle, Throttles
from auditor.urn import FunctionUrn

Sink = Callable[[int, Row], None]


class Prober(Protocol):
    """What the runner needs of a client (`auditor.client.TracingClient` is one)."""

    def endpoint(self, urn: FunctionUrn) -> str:
        """The endpoint requests about `urn` go to."""

    def scopes(self, urn: FunctionUrn) -> tuple[str, ...]:
        """The credential scopes requests about `urn` are sent under."""

    async def probe(self, urn: FunctionUrn) -> Probe:
        """Ask once; never raise for an answer or a network failure."""

    async def refresh(self, urn: FunctionUrn, rejected: str) -> bool:
        """Credentials tagged `rejected` were refused: True if fresh ones are worth a retry."""

    async def preflight(self, urn: FunctionUrn) -> Probe:
        """One cheap request in `urn`'s project that shows whether its credentials work."""


@dataclass
class RunTally:
    """What the run saw besides rows: 429 answers and pauses per endpoint, requests sent."""

    requests: int = 0
    skipped: int = 0  # targets not sent because their credentials' breaker was open
    throttled: Counter[str] = field(default_factory=Counter)
    pauses: Counter[str] = field(default_factory=Counter)


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
        stop = stop or asyncio.Event()
        workers = [
            asyncio.create_task(self._worker(pending, sink, tally, stop))
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
        self,
        pending: Iterator[tuple[int, Target]],
        sink: Sink,
        tally: RunTally,
        stop: asyncio.Event,
    ) -> None:
        # Single-threaded event loop: `next()` on the shared generator is never re-entered.
        while not stop.is_set():
            item = next(pending, None)
            if item is None:
                return
            index, target = item
            sink(index, await self._audit_one(target, tally))

    async def preflight(self, urns: Sequence[FunctionUrn]) -> tuple[dict[str, str], RunTally]:
        """One cheap request per project (the first URN of each) to check its credentials,
        under the same guard as the audit. Returns a verdict per project id."""
        tally = RunTally()
        first: dict[str, FunctionUrn] = {}
        for urn in urns:
            first.setdefault(urn.project_id, urn)

        async def check(urn: FunctionUrn) -> tuple[str, str]:
            prober = self.prober
            sent = await guarded(
                self,
                self.throttles.for_endpoint(prober.endpoint(urn)),
                prober.scopes(urn),
                functools.partial(prober.preflight, urn),
                functools.partial(prober.refresh, urn),
                tally,
            )
            probe = sent.probe
            if credentials_accepted(probe):
                return urn.project_id, "ok"
            detail = " ".join(p for p in (probe.error_code, probe.error_msg) if p)
            if is_auth_failure(probe):
                return urn.project_id, f"refused: {detail or f'HTTP {probe.http_status}'}"
            return urn.project_id, f"unknown: {detail or f'HTTP {probe.http_status}'}"

        verdicts = await asyncio.gather(*(check(urn) for urn in first.values()))
        return dict(sorted(verdicts)), tally

    async def _audit_one(self, target: Target, tally: RunTally) -> Row:
        urn = target.parsed
        assert urn is not None
        prober = self.prober
        asked = await ask(
            self,
            prober.endpoint(urn),
            prober.scopes(urn),
            functools.partial(prober.probe, urn),
            functools.partial(prober.refresh, urn),
            tally,
        )
        return result_row(
            target,
            asked.probe,
            classify(asked.probe),
            attempts=asked.attempts,
            elapsed_ms=asked.elapsed_ms,
            checked_at=self.now(),
        )


def _invalid_indices(targets: Sequence[Target]) -> Iterable[int]:
    """The indices of the entries that are not URNs, without building every target when the
    input set knows them."""
    if isinstance(targets, Targets):
        return targets.invalid_indices()
    return [index for index, target in enumerate(targets) if target.parsed is None]


class Conduct(Protocol):
    """The policies a request is asked under: the throttles, the credential guard, the retry
    policy, and the randomness and sleep they use (`Runner` and `auditor.discovery.Discoverer`
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


class Asked(NamedTuple):
    """What asking came to, retries included: the last answer and what it took."""

    probe: Probe
    attempts: int
    elapsed_ms: float
    skipped: bool  # not sent: the credentials' breaker was open


async def ask(
    conduct: Conduct,
    endpoint: str,
    scopes: Sequence[str],
    send: Callable[[], Awaitable[Probe]],
    refresh: Callable[[str], Awaitable[bool]],
    tally: RunTally,
) -> Asked:
    """Send until there is an answer worth keeping: every attempt under the throttle and the
    credential guard, retried as the policy says; a 429 slows the whole endpoint down.

    The one way every API request is made, audit and discovery alike."""
    throttle = conduct.throttles.for_endpoint(endpoint)
    attempts, elapsed = 0, 0.0
    while True:
        sent = await guarded(conduct, throttle, scopes, send, refresh, tally)
        probe = sent.probe
        attempts += sent.requests
        elapsed += sent.elapsed_ms
        if sent.skipped:
            tally.skipped += 1
            return Asked(probe, attempts, elapsed, True)
        if is_auth_failure(probe):
            break
        policy = conduct.policy
        delay = policy.delay(probe, max(attempts, 1), conduct.rng)
        if probe.http_status == 429:
            # Every worker on this endpoint waits and the endpoint slows down, not only this
            # request: the gateway counts all of them.
            tally.throttled[endpoint] += 1
            tally.pauses[endpoint] += 1
            throttle.throttled(delay if delay is not None else _final_pause(policy, probe))
        else:
            throttle.succeeded()
            if delay is not None:
                await conduct.sleep(delay)
        if delay is None:
            break
    return Asked(probe, attempts, elapsed, False)


def _final_pause(policy: RetryPolicy, probe: Probe) -> float:
    """How long the endpoint rests after a 429 that will not be retried: what the server asked
    for, else the shortest of Huawei's advised waits."""
    if probe.retry_after is not None:
        return min(max(probe.retry_after, 0.0), policy.max_retry_after)
    return policy.throttle_wait[0]


async def guarded(
    conduct: Conduct,
    throttle: Throttle,
    scopes: Sequence[str],
    send: Callable[[], Awaitable[Probe]],
    refresh: Callable[[str], Awaitable[bool]],
    tally: RunTally,
) -> _Sent:
    """One attempt under the credential guard; a refusal gets one retry with fresh
    credentials (not counted against them)."""
    guard = conduct.guard
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
            await throttle.acquire()
            probe = await send()
            elapsed += probe.elapsed_ms
            if probe.error_kind is not ErrorKind.CREDENTIALS:
                requests += 1
                tally.requests += 1
            if not is_auth_failure(probe):
                if credentials_accepted(probe):
                    guard.accepted(scopes)
                return _Sent(probe, requests, elapsed)
            if not retry and guard.may_refresh(scopes) and await refresh(probe.credential):
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
