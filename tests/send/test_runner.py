"""The runner's worker pool, retries and stop, against a scripted fake prober."""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import logging
import math
import random
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime

import pytest

from auditor.errors import InvalidUrn
from auditor.model import ErrorKind, Probe, Row, Status, Target, mask_ak
from auditor.send.rate_control import Ticket
from auditor.send.request import RunTally
from auditor.send.retry import RetryPolicy
from auditor.send.runner import Runner
from auditor.send.throttle import Throttle, Throttles
from auditor.source.urn import FunctionUrn, parse_urn

PROJECT = "0123456789abcdef0123456789abcdef"
AK = "AKIDEXAMPLEACCESSKEY0042"
OK = Probe(200, tracing_ak=AK, request_id="r-ok", elapsed_ms=5.0)
NOW = datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)
FAST = RetryPolicy(retries=2, base_delay=0.001, max_delay=0.002, throttle_wait=(0.001, 0.002))


def urn_text(n: int, region: str = "cn-north-4") -> str:
    return f"urn:fss:{region}:{PROJECT}:function:default:fn-{n}"


def target(text: str, source: str = "in.txt:1") -> Target:
    try:
        return Target(text, parse_urn(text), source)
    except InvalidUrn as exc:
        return Target(text, None, source, invalid_reason=str(exc))


def targets(count: int) -> list[Target]:
    return [target(urn_text(n), f"in.txt:{n + 1}") for n in range(count)]


class FakeProber:
    """Answers from a script per function name (then `default`), and spies on concurrency."""

    def __init__(
        self,
        script: dict[str, Sequence[Probe]] | None = None,
        *,
        default: Probe = OK,
        delay: float = 0.0,
        before: Callable[[FunctionUrn], None] | None = None,
    ) -> None:
        self._script = {name: list(probes) for name, probes in (script or {}).items()}
        self._default = default
        self._delay = delay
        self._before = before
        self.calls: Counter[str] = Counter()
        self.in_flight = 0
        self.max_in_flight = 0
        self.max_tasks = 0

    def endpoint(self, region: str) -> str:
        return f"https://fg.{region}.test"

    def scopes(self, project_id: str) -> tuple[str, ...]:
        return (f"project {project_id}",)

    def rate_scope(self, project_id: str) -> str:
        return "token"

    async def refresh(self, project_id: str, rejected: str) -> bool:
        return False

    async def probe(self, urn: FunctionUrn) -> Probe:
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        self.max_tasks = max(self.max_tasks, len(asyncio.all_tasks()))
        try:
            self.calls[urn.name] += 1
            if self._before is not None:
                self._before(urn)
            await asyncio.sleep(self._delay)
            queue = self._script.get(urn.name)
            return queue.pop(0) if queue else self._default
        finally:
            self.in_flight -= 1


class SpyThrottle(Throttle):
    """An unceilinged throttle that records what the runner tells it."""

    def __init__(self, scope: str, endpoint: str) -> None:
        super().__init__(scope, endpoint, None)
        self.answers: list[int | None] = []
        self.acquired = 0

    async def acquire(self, give_up_after: float = math.inf) -> Ticket | None:
        self.acquired += 1
        return await super().acquire(give_up_after)

    def answered(self, ticket: Ticket, http_status: int | None) -> bool:
        self.answers.append(http_status)
        return super().answered(ticket, http_status)


class SpyThrottles(Throttles):
    def __init__(self) -> None:
        super().__init__(None)
        self.spies: dict[str, SpyThrottle] = {}

    def get(self, scope: str, endpoint: str) -> Throttle:
        return self.spies.setdefault(endpoint, SpyThrottle(scope, endpoint))


class Recorder:
    """The sink, and the injected sleep that records delays instead of sleeping."""

    def __init__(self) -> None:
        self.rows: list[tuple[int, Row]] = []
        self.delays: list[float] = []

    def sink(self, index: int, row: Row) -> None:
        self.rows.append((index, row))

    async def sleep(self, seconds: float) -> None:
        self.delays.append(seconds)
        await asyncio.sleep(0)

    def by_index(self) -> dict[int, Row]:
        return dict(self.rows)


def run(
    prober: FakeProber,
    items: Sequence[Target],
    recorder: Recorder | None = None,
    *,
    throttles: Throttles | None = None,
    concurrency: int = 4,
    policy: RetryPolicy = FAST,
    skip: Callable[[int], bool] | None = None,
    grace: float = 2.0,
    stop: Callable[[], asyncio.Event] | None = None,
) -> tuple[RunTally, Recorder]:
    recorder = recorder or Recorder()
    runner = Runner(
        prober,
        throttles or Throttles(None),
        concurrency=concurrency,
        policy=policy,
        now=lambda: NOW,
        rng=random.Random(1),
        sleep=recorder.sleep,
        grace=grace,
    )

    async def main() -> RunTally:
        event = stop() if stop else None
        if skip is None:
            return await runner.run(items, recorder.sink, stop=event)
        return await runner.run(items, recorder.sink, skip=skip, stop=event)

    return asyncio.run(main()), recorder


def statuses(rows: Iterable[Row]) -> list[Status]:
    return [row.status for row in rows]


# --- every target, exactly once ------------------------------------------------------------


def test_every_target_gets_exactly_one_row() -> None:
    items = [
        target(urn_text(0)),
        target("not a urn"),
        target(urn_text(1) + ":latest"),
        target(""),
        target(urn_text(2, "ap-southeast-1")),
    ]
    prober = FakeProber()
    tally, recorder = run(prober, items)
    indices = [index for index, _ in recorder.rows]
    assert sorted(indices) == list(range(len(items)))
    rows = recorder.by_index()
    assert statuses(rows[i] for i in (0, 2, 4)) == [Status.CONFIGURED] * 3
    assert statuses(rows[i] for i in (1, 3)) == [Status.INVALID_URN] * 2
    assert rows[1].attempts == 0
    assert rows[1].error_msg  # says why the entry is not a URN
    assert prober.calls == Counter({"fn-0": 1, "fn-1": 1, "fn-2": 1})
    assert tally.requests == 3


def test_rows_carry_what_the_probe_said() -> None:
    _, recorder = run(FakeProber(), [target(urn_text(7) + ":!prod", "list.csv:9")])
    ((index, row),) = recorder.rows
    assert index == 0
    assert row.urn == urn_text(7) + ":!prod"
    assert (row.region, row.project_id, row.function, row.qualifier) == (
        "cn-north-4",
        PROJECT,
        "fn-7",
        "!prod",
    )
    assert row.tracing_ak == mask_ak(AK) != AK
    assert (row.http_status, row.request_id, row.attempts, row.elapsed_ms) == (200, "r-ok", 1, 5)
    assert row.checked_at == "2024-05-06T07:08:09Z"
    assert row.source == "list.csv:9"


def test_many_targets_all_arrive() -> None:
    prober = FakeProber()
    tally, recorder = run(prober, targets(500), concurrency=16)
    assert sorted(index for index, _ in recorder.rows) == list(range(500))
    assert sum(prober.calls.values()) == tally.requests == 500


def test_no_targets() -> None:
    tally, recorder = run(FakeProber(), [])
    assert recorder.rows == []
    assert tally.requests == 0


# --- the bounded pool ----------------------------------------------------------------------


@pytest.mark.parametrize("concurrency", [1, 3, 8])
def test_in_flight_never_exceeds_concurrency_and_reaches_it(concurrency: int) -> None:
    prober = FakeProber(delay=0.001)
    run(prober, targets(concurrency * 6), concurrency=concurrency)
    assert prober.max_in_flight == concurrency


def test_fewer_targets_than_workers() -> None:
    # The project's first request goes alone (credential probation); the other three together.
    prober = FakeProber(delay=0.001)
    _, recorder = run(prober, targets(4), concurrency=50)
    assert len(recorder.rows) == 4
    assert prober.max_in_flight == 3


def test_zero_concurrency_still_runs_one_worker() -> None:
    prober = FakeProber()
    _, recorder = run(prober, targets(5), concurrency=0)
    assert len(recorder.rows) == 5
    assert prober.max_in_flight == 1


def test_task_count_stays_bounded_with_ten_thousand_targets() -> None:
    prober = FakeProber()
    tally, recorder = run(prober, targets(10_000), concurrency=8)
    assert len(recorder.rows) == tally.requests == 10_000
    # The main task, eight workers and the stop watcher; nothing per URN.
    assert prober.max_tasks <= 8 + 3


# --- retries -------------------------------------------------------------------------------


def test_retryable_answers_are_retried_until_success() -> None:
    prober = FakeProber({"fn-0": [Probe(503), Probe(503, elapsed_ms=7.0)]})
    tally, recorder = run(prober, targets(1))
    ((_, row),) = recorder.rows
    assert (row.status, row.attempts, row.http_status) == (Status.CONFIGURED, 3, 200)
    assert row.elapsed_ms == 12  # summed over attempts
    assert len(recorder.delays) == 2
    assert all(0.0 <= d <= 0.002 for d in recorder.delays)
    assert tally.requests == 3
    assert not tally.throttled


@pytest.mark.parametrize(
    "failure",
    [
        Probe(503, error_code="FSS.0500", error_msg="busy"),
        Probe(500),
        Probe(None, ErrorKind.TIMEOUT, error_msg="no answer"),
        Probe(None, ErrorKind.CONNECTION, error_msg="refused"),
    ],
)
def test_retries_exhausted_is_an_error(failure: Probe) -> None:
    prober = FakeProber(default=failure)
    tally, recorder = run(prober, targets(1), policy=FAST)
    ((_, row),) = recorder.rows
    assert row.status is Status.ERROR
    assert row.attempts == FAST.retries + 1
    assert prober.calls["fn-0"] == FAST.retries + 1 == tally.requests
    assert len(recorder.delays) == FAST.retries


@pytest.mark.parametrize(
    ("answer", "status"),
    [
        (Probe(404, error_code="FSS.0404", error_msg="can not find tracing aksk"), "missing_keys"),
        (Probe(404, error_code="FSS.1051", error_msg="Not found"), "function_not_found"),
        (Probe(403, error_code="FSS.0403", error_msg="invalid token"), "auth_failed"),
        (Probe(200, ErrorKind.BAD_BODY, error_msg="HTTP 200 with a non-JSON body"), "error"),
        (Probe(400, error_code="FSS.1128"), "function_not_found"),
    ],
)
def test_final_answers_are_not_retried(answer: Probe, status: str) -> None:
    prober = FakeProber(default=answer)
    _, recorder = run(prober, targets(1))
    ((_, row),) = recorder.rows
    assert (row.status, row.attempts) == (status, 1)
    assert recorder.delays == []


def test_zero_retries_means_one_attempt() -> None:
    prober = FakeProber(default=Probe(503))
    _, recorder = run(prober, targets(1), policy=RetryPolicy(retries=0))
    ((_, row),) = recorder.rows
    assert (row.status, row.attempts) == (Status.ERROR, 1)


# --- throttling ----------------------------------------------------------------------------


def test_a_429_puts_the_target_back_and_spends_no_retry() -> None:
    throttles = SpyThrottles()
    prober = FakeProber({"fn-0": [Probe(429, error_code="APIG.0308", error_msg="slow down")]})
    tally, recorder = run(prober, targets(1), throttles=throttles)
    ((_, row),) = recorder.rows
    assert (row.status, row.attempts) == (Status.CONFIGURED, 2)
    spy = throttles.spies["https://fg.cn-north-4.test"]
    assert spy.answers == [429, 200]  # every attempt goes through the throttle
    assert spy.acquired == 2
    # Waited Huawei's throttle wait (the policy's), as time put back, not as a retry's sleep.
    assert 0.001 <= spy.waited_after_429_s <= 0.002
    assert tally.requests == 2
    assert tally.throttled == Counter({"https://fg.cn-north-4.test": 1})


def test_429s_never_spend_retries() -> None:
    prober = FakeProber({"fn-0": [Probe(429, error_code="FSS.0429")] * 6})
    _, recorder = run(prober, targets(1))  # FAST allows 2 retries
    ((_, row),) = recorder.rows
    assert (row.status, row.attempts) == (Status.CONFIGURED, 7)


def test_a_429_and_a_server_error_each_count_for_their_own_kind() -> None:
    prober = FakeProber({"fn-0": [Probe(429), Probe(503), Probe(429), Probe(503), Probe(503)]})
    _, recorder = run(prober, targets(1))
    ((_, row),) = recorder.rows
    # Three 503s spend the two retries; the 429s between them spent none.
    assert (row.status, row.http_status, row.attempts) == (Status.ERROR, 503, 5)


def test_a_429_with_retry_after_waits_that_long() -> None:
    asked: list[float] = []

    def note(urn: FunctionUrn) -> None:
        asked.append(asyncio.get_running_loop().time())

    throttles = SpyThrottles()
    prober = FakeProber({"fn-0": [Probe(429, retry_after=0.05)]}, before=note)
    run(prober, targets(1), throttles=throttles)
    assert throttles.spies["https://fg.cn-north-4.test"].waited_after_429_s == 0.05
    assert asked[1] - asked[0] >= 0.05


def test_other_targets_keep_moving_while_one_waits_on_its_retry_after() -> None:
    """One worker, and the first URN told to come back in 0.2 s: the worker does not wait
    with it; the others are asked meanwhile, and it is asked again after its wait."""
    starts: list[tuple[str, float]] = []

    def note(urn: FunctionUrn) -> None:
        starts.append((urn.name, asyncio.get_running_loop().time()))

    prober = FakeProber({"fn-0": [Probe(429, retry_after=0.2)]}, before=note)
    _, recorder = run(prober, targets(10), concurrency=1)
    first = starts[0][1]
    others = [when for name, when in starts if name != "fn-0"]
    assert len(others) == 9
    assert max(others) < first + 0.2  # all of them while fn-0 waited
    assert starts[-1][0] == "fn-0" and starts[-1][1] >= first + 0.2
    assert {row.status for _, row in recorder.rows} == {Status.CONFIGURED}
    assert len(recorder.rows) == 10


def test_still_throttled_when_the_gateway_accepted_nothing_for_the_deadline() -> None:
    throttles = SpyThrottles()
    prober = FakeProber(default=Probe(429, error_code="FSS.0429", error_msg="too many"))
    policy = dataclasses.replace(FAST, throttle_deadline=0.02)
    tally, recorder = run(prober, targets(3), throttles=throttles, policy=policy)
    rows = [row for _, row in recorder.rows]
    assert [row.status for row in rows] == [Status.THROTTLED] * 3
    assert all(row.attempts >= 1 for row in rows)  # each asked and refused, none lost
    endpoint = "https://fg.cn-north-4.test"
    spy = throttles.spies[endpoint]
    assert spy.answers and set(spy.answers) == {429}
    assert tally.throttled[endpoint] == tally.requests == len(spy.answers)


def test_answers_reach_the_throttle_with_their_status() -> None:
    throttles = SpyThrottles()
    prober = FakeProber({"fn-0": [Probe(503)]})
    run(prober, targets(3), throttles=throttles)
    spy = throttles.spies["https://fg.cn-north-4.test"]
    assert sorted(spy.answers, key=str) == [200, 200, 200, 503]
    assert spy.acquired == 4


def test_throttling_is_tallied_per_endpoint() -> None:
    items = [target(urn_text(0)), target(urn_text(1, "ap-southeast-1"))]
    prober = FakeProber({"fn-1": [Probe(429, retry_after=0.0)]})
    throttles = SpyThrottles()
    tally, _ = run(prober, items, throttles=throttles)
    assert tally.throttled == Counter({"https://fg.ap-southeast-1.test": 1})
    assert tally.requests == 3
    assert throttles.spies["https://fg.cn-north-4.test"].answers == [200]
    assert throttles.spies["https://fg.ap-southeast-1.test"].answers == [429, 200]


# --- skip and stop -------------------------------------------------------------------------


def test_skip_leaves_indices_out() -> None:
    items = [*targets(6), target("garbage"), target("more garbage")]
    prober = FakeProber()
    tally, recorder = run(prober, items, skip=lambda index: index % 2 == 0)
    assert sorted(index for index, _ in recorder.rows) == [1, 3, 5, 7]
    assert prober.calls == Counter({"fn-1": 1, "fn-3": 1, "fn-5": 1})
    assert tally.requests == 3


def test_stop_mid_run_leaves_the_rest_out() -> None:
    recorder = Recorder()
    event: asyncio.Event | None = None

    def make_stop() -> asyncio.Event:
        nonlocal event
        event = asyncio.Event()
        return event

    def sink(index: int, row: Row) -> None:
        Recorder.sink(recorder, index, row)
        if len(recorder.rows) == 10:
            assert event is not None
            event.set()

    recorder.sink = sink  # type: ignore[method-assign]
    prober = FakeProber(delay=0.001)
    run(prober, targets(200), recorder, concurrency=4, stop=make_stop)
    assert 10 <= len(recorder.rows) <= 10 + 4
    assert len({index for index, _ in recorder.rows}) == len(recorder.rows)


def test_stop_already_set_sends_nothing() -> None:
    def make_stop() -> asyncio.Event:
        event = asyncio.Event()
        event.set()
        return event

    prober = FakeProber()
    tally, recorder = run(prober, targets(50), concurrency=8, stop=make_stop)
    assert tally.requests == 0 and sum(prober.calls.values()) == 0
    assert recorder.rows == []


def test_stop_returns_within_grace_when_requests_hang() -> None:
    event: asyncio.Event | None = None

    def make_stop() -> asyncio.Event:
        nonlocal event
        event = asyncio.Event()
        return event

    class HangingAfterStop(FakeProber):
        async def probe(self, urn: FunctionUrn) -> Probe:
            assert event is not None
            if self.calls.total() == 20:
                event.set()
            if event.is_set():
                self.calls[urn.name] += 1
                await asyncio.sleep(60)  # a request that never lands
            return await super().probe(urn)

    prober = HangingAfterStop()
    started = time.perf_counter()
    _, recorder = run(prober, targets(100), concurrency=4, grace=0.05, stop=make_stop)
    assert time.perf_counter() - started < 1.5
    assert len(recorder.rows) < 100
    assert all(row.status is Status.CONFIGURED for _, row in recorder.rows)


def test_a_bug_in_the_prober_surfaces() -> None:
    def explode(urn: FunctionUrn) -> None:
        if urn.name == "fn-5":
            raise RuntimeError("bug in the prober")

    with pytest.raises(RuntimeError, match="bug in the prober"):
        run(FakeProber(before=explode), targets(20))


def test_a_bug_in_the_sink_surfaces() -> None:
    recorder = Recorder()

    def sink(index: int, row: Row) -> None:
        raise OSError("disk full")

    recorder.sink = sink  # type: ignore[method-assign]
    with pytest.raises(OSError, match="disk full"):
        run(FakeProber(), targets(3), recorder)


def test_stop_after_grace_is_quiet(caplog: pytest.LogCaptureFixture) -> None:
    event: asyncio.Event | None = None

    def make_stop() -> asyncio.Event:
        nonlocal event
        event = asyncio.Event()
        return event

    class Hanging(FakeProber):
        async def probe(self, urn: FunctionUrn) -> Probe:
            assert event is not None
            event.set()
            await asyncio.sleep(60)
            return OK

    runner = Runner(Hanging(), Throttles(None), concurrency=3, grace=0.01)

    async def main() -> None:
        await runner.run(targets(10), Recorder().sink, stop=make_stop())

    with caplog.at_level(logging.ERROR, logger="asyncio"):
        asyncio.run(main())
        gc.collect()
    assert [r.getMessage() for r in caplog.records if r.name == "asyncio"] == []


def test_in_turn_takes_one_target_from_each_rate_scope_and_region_in_turn() -> None:
    from auditor.send.runner import in_turn
    from auditor.source.targets import Targets

    a, b = "a" * 32, "b" * 32
    urns = [f"urn:fss:cn-north-4:{a}:function:default:fn-{n}" for n in range(3)]
    urns += [f"urn:fss:cn-north-4:{b}:function:default:fn-{n}" for n in range(2)]
    urns += [f"urn:fss:ap-southeast-1:{a}:function:default:fn-{n}" for n in range(2)]
    targets = Targets()
    for line, urn in enumerate(urns, start=1):
        targets.add(urn, f"in.txt:{line}")
    per_project = list(in_turn(targets, range(len(urns)), lambda project: project))
    # (a, cn-north-4), (b, cn-north-4), (a, ap-southeast-1), in turn; each in input order
    assert per_project == [0, 3, 5, 1, 4, 6, 2]
    one_scope = list(in_turn(targets, range(len(urns)), lambda project: "token"))
    assert one_scope == [0, 5, 1, 6, 2, 3, 4]  # one scope: the two regions' endpoints in turn
    assert sorted(per_project) == sorted(one_scope) == list(range(len(urns)))
    assert list(in_turn(targets, [4, 6], lambda project: project)) == [4, 6]
