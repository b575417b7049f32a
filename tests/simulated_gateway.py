"""A simulated API gateway on virtual time: a strict sliding 1-second window per user whose
limit may change on a schedule, a network latency each way, and 429s injected at random.

It lets the rate controller and the runner be driven through minutes of traffic in a second
of test time, and measured the way the benchmarks measure the real emulator: at the server.
"""

from __future__ import annotations

import bisect
import random
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

from auditor.model import Probe, Target
from auditor.source.urn import FunctionUrn, parse_urn
from tests.clocks import VirtualTime

PROJECT = "0123456789abcdef0123456789abcdef"


@dataclass
class SimulatedGateway:
    """`schedule`: (seconds from the first request, limit per second or None) steps."""

    clock: VirtualTime
    schedule: Sequence[tuple[float, int | None]] = ((0.0, None),)
    latency_s: float = 0.02
    jitter_s: float = 0.0  # on the way there, uniform from 0 to this, on top of half the latency
    answer_jitter_s: float = 0.0  # the same on the way back
    random_429: float = 0.0
    retry_after: float | None = None
    faulty_share: float = 0.0  # this share of functions answers 429 to its first requests ...
    fault_times: int = 2  # ... this many of them
    seed: int = 0
    window: deque[float] = field(default_factory=deque)
    accepted: list[float] = field(default_factory=list)
    refused: list[float] = field(default_factory=list)
    started: float | None = None

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)
        self._faulted: dict[str, int] = {}

    def limit_at(self, now: float) -> int | None:
        assert self.started is not None
        starts = [start for start, _ in self.schedule]
        return self.schedule[bisect.bisect_right(starts, now - self.started) - 1][1]

    def admit(self, now: float) -> bool:
        if self.started is None:
            self.started = now
        limit = self.limit_at(now)
        while self.window and self.window[0] <= now - 1.0:
            self.window.popleft()
        if limit is not None and len(self.window) >= limit:
            self.refused.append(now)
            return False
        self.window.append(now)
        self.accepted.append(now)
        return True

    async def send(self, urn: FunctionUrn | None = None) -> Probe:
        await self.clock.sleep(self.latency_s / 2 + self._rng.uniform(0, self.jitter_s))
        admitted = self.admit(self.clock.now)
        noise = admitted and self.random_429 and self._rng.random() < self.random_429
        if admitted and urn is not None and self.faulty_share:
            name = urn.name
            if random.Random(f"{self.seed}:{name}").random() < self.faulty_share:
                times = self._faulted.get(name, 0)
                if times < self.fault_times:
                    self._faulted[name] = times + 1
                    noise = True
        await self.clock.sleep(self.latency_s / 2 + self._rng.uniform(0, self.answer_jitter_s))
        if not admitted:
            return Probe(429, error_code="APIG.0308", retry_after=self.retry_after)
        if noise:
            return Probe(429, error_code="FSS.0429")
        return Probe(200, tracing_ak="AK")

    def accepted_between(self, start: float, end: float) -> int:
        """Requests admitted from `start` to `end` seconds after the first request."""
        assert self.started is not None
        low = bisect.bisect_left(self.accepted, self.started + start)
        high = bisect.bisect_left(self.accepted, self.started + end)
        return high - low

    @property
    def duration(self) -> float:
        assert self.started is not None
        return max(self.accepted[-1:] + self.refused[-1:]) - self.started


class GatewayProber:
    """A `Prober` whose every request goes to a `SimulatedGateway` under one user."""

    def __init__(self, gateway: SimulatedGateway, scope: str = "token") -> None:
        self.gateway = gateway
        self.scope = scope

    def endpoint(self, region: str) -> str:
        return "https://fg.test"

    def scopes(self, project_id: str) -> tuple[str, ...]:
        return (f"project {project_id}",)

    def rate_scope(self, project_id: str) -> str:
        return self.scope

    async def probe(self, urn: FunctionUrn) -> Probe:
        return await self.gateway.send(urn)

    async def refresh(self, project_id: str, rejected: str) -> bool:
        return False

    async def preflight(self, urn: FunctionUrn) -> Probe:
        return await self.gateway.send(urn)


def run_fleet(
    gateway: SimulatedGateway,
    functions: int,
    *,
    ceiling: float | None,
    concurrency: int = 32,
    deadline: float = 300.0,
) -> list[str]:
    """Audit `functions` URNs against `gateway` on its virtual clock; the statuses of the
    rows, in order."""
    from auditor.send.breaker import CredentialGuard
    from auditor.send.retry import RetryPolicy
    from auditor.send.runner import Runner
    from auditor.send.throttle import Throttles

    statuses: list[str] = [""] * functions
    clock = gateway.clock

    async def main() -> None:
        runner = Runner(
            GatewayProber(gateway),
            Throttles(ceiling, sleep=clock.sleep),
            concurrency=concurrency,
            policy=RetryPolicy(retries=2, throttle_deadline=deadline),
            rng=random.Random(1),
            sleep=clock.sleep,
            guard=CredentialGuard(),
        )

        def sink(index: int, row: object) -> None:
            statuses[index] = row.status  # type: ignore[attr-defined]

        fleet = [
            Target(text, parse_urn(text), f"sim:{n}")
            for n in range(functions)
            for text in (f"urn:fss:cn-north-4:{PROJECT}:function:default:fn-{n}",)
        ]
        await runner.run(fleet, sink)

    clock.run(main)
    return statuses
