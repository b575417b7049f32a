"""The runner under the credential guard: bad credentials are never hammered.

A fake prober answers per project (and per credential generation), and counts what each
project received; the guard is a real `CredentialGuard`.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime

import pytest

from auditor.model import ErrorKind, Probe, Row, Status, Target
from auditor.send.breaker import CredentialGuard
from auditor.send.request import RunTally
from auditor.send.retry import RetryPolicy
from auditor.send.runner import Runner
from auditor.send.throttle import Throttles
from auditor.service.auth import ACCESS_KEY_SCOPE, project_scope
from auditor.source.urn import FunctionUrn, parse_urn
from tests.clocks import no_wait

PROJECT_A = "a" * 32
PROJECT_B = "b" * 32
PROJECT_C = "c" * 32
PROJECTS = (PROJECT_A, PROJECT_B, PROJECT_C)
K = 3  # the guard's threshold
NOW = datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)
FAST = RetryPolicy(retries=2, base_delay=0.001, max_delay=0.002, throttle_wait=(0.001, 0.002))
SKIPPED = "skipped after repeated credential failures"

OK = Probe(200, tracing_ak="AKIDEXAMPLEACCESSKEY0042", request_id="r-ok")
INVALID_TOKEN = Probe(403, error_code="FSS.0403", error_msg="invalid token")
EXPIRED = Probe(401, error_code="APIG.0307", error_msg="The token expires.")
BAD_SIGNATURE = Probe(401, error_code="APIG.0301", error_msg="Incorrect IAM authentication")


def targets(count: int, projects: Sequence[str] = PROJECTS) -> list[Target]:
    """`count` targets, the projects taking turns."""
    items = []
    for n in range(count):
        project = projects[n % len(projects)]
        text = f"urn:fss:cn-north-4:{project}:function:default:fn-{n}"
        items.append(Target(text, parse_urn(text), f"in.txt:{n + 1}"))
    return items


class ProjectProber:
    """Answers per project: `answers[project]` (default `OK`); refresh returns `refresh_result`.

    With `access_key`, requests are sent under the project and the shared access-key scope,
    as `AkSkCredentials` does. Every request is counted per project, refused ones as well.
    """

    def __init__(
        self,
        answers: dict[str, Probe] | None = None,
        *,
        refresh_result: bool = False,
        access_key: bool = False,
        delay: float = 0.001,
    ) -> None:
        self.answers = answers or {}
        self.refresh_result = refresh_result
        self.access_key = access_key
        self.delay = delay
        self.calls: Counter[str] = Counter()
        self.refused: Counter[str] = Counter()
        self.preflights: Counter[str] = Counter()
        self.refreshes: Counter[str] = Counter()
        self.in_flight: Counter[str] = Counter()
        self.most_in_flight: Counter[str] = Counter()

    def endpoint(self, region: str) -> str:
        return f"https://fg.{region}.test"

    def scopes(self, project_id: str) -> tuple[str, ...]:
        if self.access_key:
            return (project_scope(project_id), ACCESS_KEY_SCOPE)
        return (project_scope(project_id),)

    def rate_scope(self, project_id: str) -> str:
        # As the real credentials: one access key is one user across its projects; a token of
        # each project may be another user's.
        if self.access_key:
            return ACCESS_KEY_SCOPE
        return f"token of project {project_id}"

    async def refresh(self, project_id: str, rejected: str) -> bool:
        self.refreshes[project_id] += 1
        await asyncio.sleep(0)
        return self.refresh_result

    async def _answer(self, project: str) -> Probe:
        self.in_flight[project] += 1
        self.most_in_flight[project] = max(self.most_in_flight[project], self.in_flight[project])
        try:
            await asyncio.sleep(self.delay)
            answer = self.answers.get(project, OK)
            if answer.http_status in (401, 403):
                self.refused[project] += 1
            return answer
        finally:
            self.in_flight[project] -= 1

    async def probe(self, urn: FunctionUrn) -> Probe:
        self.calls[urn.project_id] += 1
        return await self._answer(urn.project_id)

    async def preflight(self, urn: FunctionUrn) -> Probe:
        self.preflights[urn.project_id] += 1
        return await self._answer(urn.project_id)


class ExpiringProber(ProjectProber):
    """Each project's credential is good for `lifetime` answers, then answers 401 APIG.0307
    until refreshed; a refresh of the current generation starts the next one (as an IAM token
    per project does). A request sent with an older generation is refused: it has expired."""

    def __init__(self, lifetime: int) -> None:
        super().__init__(refresh_result=True)
        self.lifetime = lifetime
        self.generation: Counter[str] = Counter({p: 1 for p in PROJECTS})
        self.used: Counter[str] = Counter()
        self.expired_answers: Counter[str] = Counter()

    async def refresh(self, project_id: str, rejected: str) -> bool:
        self.refreshes[project_id] += 1
        await asyncio.sleep(0)
        if rejected == f"gen{self.generation[project_id]}":
            self.generation[project_id] += 1
            self.used[project_id] = 0
        return True

    async def probe(self, urn: FunctionUrn) -> Probe:
        project = urn.project_id
        self.calls[project] += 1
        generation = self.generation[project]  # the credential the request is sent with
        await asyncio.sleep(self.delay)
        tag = f"gen{generation}"
        if generation != self.generation[project] or self.used[project] >= self.lifetime:
            self.expired_answers[project] += 1
            return Probe(401, error_code=EXPIRED.error_code, error_msg="expired", credential=tag)
        self.used[project] += 1
        return Probe(200, tracing_ak=OK.tracing_ak, credential=tag)


class SpyGuard(CredentialGuard):
    """A real guard that records every counted refusal."""

    def __init__(self, threshold: int = K) -> None:
        super().__init__(threshold)
        self.refusals: list[tuple[tuple[str, ...], bool]] = []

    def refused(self, scopes: Sequence[str], *, after_refresh: bool) -> None:
        self.refusals.append((tuple(scopes), after_refresh))
        super().refused(scopes, after_refresh=after_refresh)


def runner_for(prober: ProjectProber, guard: CredentialGuard, concurrency: int = 32) -> Runner:
    return Runner(
        prober,
        Throttles(None),
        concurrency=concurrency,
        policy=FAST,
        now=lambda: NOW,
        rng=random.Random(7),
        sleep=no_wait,
        guard=guard,
    )


def audit(
    prober: ProjectProber,
    items: Sequence[Target],
    *,
    guard: CredentialGuard | None = None,
    concurrency: int = 32,
) -> tuple[dict[int, Row], RunTally, CredentialGuard]:
    guard = guard or CredentialGuard(K)
    rows: dict[int, Row] = {}

    def sink(index: int, row: Row) -> None:
        assert index not in rows, "one row per target"
        rows[index] = row

    tally = asyncio.run(runner_for(prober, guard, concurrency).run(items, sink))
    assert sorted(rows) == list(range(len(items)))
    return rows, tally, guard


def rows_of(rows: dict[int, Row], project: str) -> list[Row]:
    return [row for row in rows.values() if row.project_id == project]


def assert_bad_project_spared(
    rows: dict[int, Row], prober: ProjectProber, bad: str, *, limit: int = K + 1
) -> None:
    assert prober.calls[bad] <= limit, f"{prober.calls[bad]} requests to a refused project"
    bad_rows = rows_of(rows, bad)
    assert len(bad_rows) == 100
    assert {row.status for row in bad_rows} == {Status.AUTH_FAILED}
    skipped = [row for row in bad_rows if row.attempts == 0]
    sent = [row for row in bad_rows if row.attempts > 0]
    assert sum(row.attempts for row in sent) == prober.calls[bad]
    assert len(skipped) >= 100 - limit
    for row in skipped:
        assert SKIPPED in row.error_msg
        assert project_scope(bad) in row.error_msg
        assert row.http_status is None
    for row in sent:
        assert row.error_code == "FSS.0403"
    for good in set(PROJECTS) - {bad}:
        assert {row.status for row in rows_of(rows, good)} == {Status.CONFIGURED}
        assert prober.calls[good] == 100


# --- a project whose credentials are refused -----------------------------------------------


def test_refused_project_gets_at_most_threshold_plus_one_requests() -> None:
    prober = ProjectProber({PROJECT_B: INVALID_TOKEN}, refresh_result=False)
    rows, tally, guard = audit(prober, targets(300))
    assert_bad_project_spared(rows, prober, PROJECT_B)
    assert prober.calls[PROJECT_B] == K  # no refresh: each request counts
    assert tally.skipped == 100 - K
    assert tally.requests == 200 + K
    assert guard.open_scopes() == [project_scope(PROJECT_B)]


def test_refused_project_grouped_in_the_input_is_spared_too() -> None:
    # All 32 workers reach project B at once when its URNs come in one block.
    items = sorted(targets(300), key=lambda t: t.parsed.project_id if t.parsed else "")
    prober = ProjectProber({PROJECT_B: INVALID_TOKEN}, refresh_result=False)
    rows, _, _ = audit(prober, items)
    assert_bad_project_spared(rows, prober, PROJECT_B)
    assert prober.most_in_flight[PROJECT_B] == 1  # probation: one at a time


def test_useless_refresh_still_spares_the_refused_project() -> None:
    prober = ProjectProber({PROJECT_B: INVALID_TOKEN}, refresh_result=True)
    rows, _, _ = audit(prober, targets(300))
    assert_bad_project_spared(rows, prober, PROJECT_B)


def test_useless_refresh_with_one_worker_is_tried_once() -> None:
    # Without concurrency the retry follows its request directly: 2 + 1 + 1 requests.
    prober = ProjectProber({PROJECT_B: INVALID_TOKEN}, refresh_result=True)
    rows, _, guard = audit(prober, targets(300), concurrency=1)
    assert_bad_project_spared(rows, prober, PROJECT_B)
    assert prober.calls[PROJECT_B] == K + 1
    assert prober.refreshes[PROJECT_B] == 1  # not again until a request is accepted
    assert guard.open_scopes() == [project_scope(PROJECT_B)]


# --- an expiring credential ----------------------------------------------------------------


def test_expiring_credential_is_refreshed_and_never_counted() -> None:
    prober = ExpiringProber(lifetime=40)
    guard = SpyGuard()
    rows, tally, _ = audit(prober, targets(300), guard=guard)
    assert {row.status for row in rows.values()} == {Status.CONFIGURED}
    for project in PROJECTS:
        assert prober.generation[project] >= 3  # it really expired, more than once
        assert prober.expired_answers[project] > 0
    assert guard.refusals == []  # refusals cured by a refresh are not failures
    assert guard.open_scopes() == []
    assert tally.skipped == 0
    assert max(row.attempts for row in rows.values()) == 2  # the refused one and its retry


def test_expiring_credential_with_one_worker() -> None:
    prober = ExpiringProber(lifetime=7)
    guard = SpyGuard()
    rows, _, _ = audit(prober, targets(60), guard=guard, concurrency=1)
    assert {row.status for row in rows.values()} == {Status.CONFIGURED}
    # 20 answers per project at 7 a generation: 2 refreshes each, one 401 each time.
    assert prober.generation == {p: 3 for p in PROJECTS}
    assert prober.expired_answers == {p: 2 for p in PROJECTS}
    assert sum(row.attempts for row in rows.values()) == 60 + 6
    assert guard.refusals == []


# --- an access key: failures count across every project ------------------------------------


@pytest.mark.parametrize(
    "refresh_result",
    [
        pytest.param(False, id="no-refresh"),
        pytest.param(True, id="refresh-claimed"),
    ],
)
def test_bad_access_key_is_never_locked_by_the_gateway(refresh_result: bool) -> None:
    answers = dict.fromkeys(PROJECTS, BAD_SIGNATURE)
    prober = ProjectProber(answers, refresh_result=refresh_result, access_key=True)
    rows, tally, guard = audit(prober, targets(300))
    failed = sum(prober.refused.values())
    assert failed <= 4, f"{failed} failed signatures: the gateway locks the key at 5"
    assert {row.status for row in rows.values()} == {Status.AUTH_FAILED}
    assert sum(1 for row in rows.values() if row.attempts == 0) == 300 - failed
    assert ACCESS_KEY_SCOPE in guard.open_scopes()
    assert tally.requests == failed


def test_bad_access_key_with_one_worker_and_a_refresh_stays_below_five() -> None:
    answers = dict.fromkeys(PROJECTS, BAD_SIGNATURE)
    prober = ProjectProber(answers, refresh_result=True, access_key=True)
    rows, _, guard = audit(prober, targets(300), concurrency=1)
    failed = sum(prober.refused.values())
    # Even a credential that claims a refresh is not retried under an access key: four single
    # failed signatures, then the breaker (the gateway would lock at five).
    assert failed == 3  # the default threshold, 3, is below the access-key cap of 4
    assert guard.open_scopes() == [ACCESS_KEY_SCOPE]
    skipped = [row for row in rows.values() if row.attempts == 0]
    assert len(skipped) == 300 - 3
    assert all("access key" in row.error_msg for row in skipped)
    assert all(row.status is Status.AUTH_FAILED for row in rows.values())


def test_bad_access_key_with_a_high_threshold_stays_below_five() -> None:
    answers = dict.fromkeys(PROJECTS, BAD_SIGNATURE)
    prober = ProjectProber(answers, refresh_result=True, access_key=True)
    audit(prober, targets(300), guard=CredentialGuard(10), concurrency=1)
    failed = sum(prober.refused.values())
    assert failed <= 4, f"{failed} failed signatures: the gateway locks the key at 5"


def test_one_bad_project_under_a_good_access_key_does_not_block_the_others() -> None:
    prober = ProjectProber({PROJECT_B: INVALID_TOKEN}, access_key=True)
    rows, _, guard = audit(prober, targets(300))
    assert_bad_project_spared(rows, prober, PROJECT_B)
    assert guard.open_scopes() == [project_scope(PROJECT_B)]


# --- preflight -----------------------------------------------------------------------------


def preflight(
    prober: ProjectProber, urns: Sequence[FunctionUrn], guard: CredentialGuard | None = None
) -> tuple[dict[str, str], RunTally]:
    runner = runner_for(prober, guard or CredentialGuard(K))
    return asyncio.run(runner.preflight(urns))


def urns(projects: Sequence[str], per_project: int = 5) -> list[FunctionUrn]:
    return [t.parsed for t in targets(len(projects) * per_project, projects) if t.parsed]


def test_preflight_one_request_per_project_and_a_verdict_each() -> None:
    prober = ProjectProber(
        {
            PROJECT_B: INVALID_TOKEN,
            PROJECT_C: Probe(500, error_code="FSS.0500", error_msg="internal error"),
        }
    )
    verdicts, tally = preflight(prober, urns(PROJECTS))
    assert verdicts == {
        PROJECT_A: "ok",
        PROJECT_B: "refused: FSS.0403 invalid token",
        PROJECT_C: "unknown: FSS.0500 internal error",
    }
    assert list(verdicts) == sorted(verdicts)
    assert prober.preflights == {PROJECT_A: 1, PROJECT_B: 1, PROJECT_C: 1}
    assert prober.calls == {}  # the audit request itself is not used
    assert tally.requests == 3


def test_preflight_retries_a_refusal_once_with_fresh_credentials() -> None:
    prober = ProjectProber({PROJECT_B: INVALID_TOKEN}, refresh_result=True)
    verdicts, tally = preflight(prober, urns([PROJECT_A, PROJECT_B]))
    assert verdicts[PROJECT_B] == "refused: FSS.0403 invalid token"
    assert prober.preflights[PROJECT_B] == 2
    assert tally.requests == 3


def test_preflight_verdicts_without_an_error_code_name_the_status() -> None:
    prober = ProjectProber({PROJECT_B: Probe(401), PROJECT_C: Probe(502)})
    verdicts, _ = preflight(prober, urns(PROJECTS))
    assert verdicts[PROJECT_B] == "refused: HTTP 401"
    assert verdicts[PROJECT_C] == "unknown: HTTP 502"


def test_preflight_a_404_about_something_else_means_the_credentials_work() -> None:
    not_found = Probe(404, error_code="FSS.1051", error_msg="Not found the function")
    verdicts, _ = preflight(ProjectProber({PROJECT_A: not_found}), urns([PROJECT_A]))
    assert verdicts == {PROJECT_A: "ok"}


def test_preflight_without_credentials_sends_nothing() -> None:
    no_token = Probe(None, ErrorKind.CREDENTIALS, error_msg="no token for project b in f.toml")
    prober = ProjectProber({PROJECT_B: no_token})
    verdicts, tally = preflight(prober, urns([PROJECT_A, PROJECT_B]))
    assert verdicts[PROJECT_B] == "refused: no token for project b in f.toml"
    assert tally.requests == 1  # only A's request went out


def test_preflight_under_an_open_breaker_sends_nothing() -> None:
    guard = CredentialGuard(K)
    for _ in range(K):
        guard.refused([project_scope(PROJECT_B)], after_refresh=False)
    prober = ProjectProber()
    verdicts, tally = preflight(prober, urns([PROJECT_A, PROJECT_B]), guard)
    assert verdicts[PROJECT_A] == "ok"
    assert verdicts[PROJECT_B].startswith("refused: not sent")
    assert prober.preflights == {PROJECT_A: 1}
    assert tally.requests == 1


def test_preflight_of_nothing() -> None:
    verdicts, tally = preflight(ProjectProber(), [])
    assert verdicts == {}
    assert tally.requests == 0


def test_preflight_teaches_the_guard() -> None:
    guard = CredentialGuard(K)
    prober = ProjectProber({PROJECT_B: INVALID_TOKEN})
    preflight(prober, urns(PROJECTS), guard)
    assert guard.may_refresh([project_scope(PROJECT_A)])
    assert guard.blocked([project_scope(PROJECT_B)]) is None  # one refusal of K
    # A's credentials are proven: its audit requests need no probation.
    rows, _, _ = audit(prober, targets(30), guard=guard)
    assert prober.most_in_flight[PROJECT_A] > 1
    assert {row.status for row in rows_of(rows, PROJECT_A)} == {Status.CONFIGURED}
    assert prober.calls[PROJECT_B] == K - 1  # the preflight refusal already counted
