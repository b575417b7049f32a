"""The one way every API request is made, audit and discovery alike: under the throttle and
the credential guard, retried as the policy says; a 429 comes back as `Later` (ask again after
its wait) and spends no retry.

`Request` says what to ask (where, under whose rate and credentials, and how); `ask_once` sends
it until there is an answer worth keeping or a 429; `ask` waits the 429s out in place, for
callers with one request at a time to make; `guarded` is one attempt under the guard.
`Addressed` is what every client has, whatever it asks: an endpoint per region, and credential
and rate scopes per project; `request_about` makes a `Request` from it.
"""

from __future__ import annotations

import functools
import random
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple, Protocol

from auditor.model import ErrorKind, Probe
from auditor.send.breaker import CredentialGuard
from auditor.send.retry import RetryPolicy
from auditor.send.throttle import Throttle, Throttles
from auditor.service.answers import credentials_accepted, is_auth_failure


@dataclass
class RunTally:
    """What the run saw besides rows: 429 answers per endpoint, waits, requests sent."""

    requests: int = 0
    skipped: int = 0  # targets not sent because their credentials' breaker was open
    throttled: Counter[str] = field(default_factory=Counter)


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


class Addressed(Protocol):
    """Where requests go and under whose credentials: what every client has, whatever it
    asks (`auditor.service.client.TracingClient` is one). Endpoints depend on the region,
    credentials and rate limits on the project."""

    def endpoint(self, region: str) -> str:
        """The base URL of `region`'s API; the rate limit is kept per endpoint."""

    def scopes(self, project_id: str) -> tuple[str, ...]:
        """The credential scopes requests in `project_id` are sent under."""

    def rate_scope(self, project_id: str) -> str:
        """Whose rate limit requests in `project_id` count against (the gateway limits per
        user: one token or access key serves many projects)."""

    async def refresh(self, project_id: str, rejected: str) -> bool:
        """Credentials tagged `rejected` were refused in `project_id`: True if fresh ones are
        worth a retry."""


def request_about(
    client: Addressed, project_id: str, region: str, send: Callable[[], Awaitable[Probe]]
) -> Request:
    """The request `send` makes in `project_id` and `region`: its endpoint, rate scope and
    credential scopes, and how its credentials are refreshed."""
    return Request(
        client.endpoint(region),
        client.rate_scope(project_id),
        client.scopes(project_id),
        send,
        functools.partial(client.refresh, project_id),
    )


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
