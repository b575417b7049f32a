"""The rate limit as the server sees it: real client, real throttle, the emulator on loopback.

Real-time tests (marked slow) with tolerances on the low side only: the server must never see
more than the configured rate in any sliding 1-second window, 429s and retries included.
"""

from __future__ import annotations

import asyncio
import math
import random
import time

import aiohttp
import pytest

from auditor.emulator import DEFAULT_TOKEN, EmulatorConfig, Fault, Fleet, running_emulator
from auditor.model import Row, Status
from auditor.send.request import RunTally
from auditor.send.retry import RetryPolicy
from auditor.send.runner import Runner
from auditor.send.throttle import Throttles
from auditor.service.auth import StaticToken
from auditor.service.client import TracingClient
from auditor.source.inputs import from_lines

pytestmark = pytest.mark.slow


async def audit_against_emulator(
    fleet: Fleet,
    config: EmulatorConfig,
    rate: float,
    concurrency: int,
    throttles: Throttles | None = None,
) -> tuple[list[Row], RunTally, int, int, float]:
    rows: list[Row] = []
    async with running_emulator(fleet, config) as server:
        connector = aiohttp.TCPConnector(limit=concurrency)
        async with aiohttp.ClientSession(connector=connector) as session:
            client = TracingClient(session, StaticToken(DEFAULT_TOKEN), endpoint=server.url)
            runner = Runner(
                client,
                throttles or Throttles(rate),
                concurrency=concurrency,
                # Short waits after a 429 keep the test short; the pacing is what is measured.
                policy=RetryPolicy(retries=6, base_delay=0.05, throttle_wait=(0.2, 0.4)),
                rng=random.Random(1),
            )
            started = time.monotonic()
            tally = await runner.run(
                from_lines(fleet.urns(), "fleet").targets, lambda i, row: rows.append(row)
            )
            elapsed = time.monotonic() - started
        return (
            rows,
            tally,
            server.stats.max_in_window(1.0),
            len(server.stats.arrivals),
            elapsed,
        )


@pytest.mark.parametrize(("rate", "functions", "concurrency"), [(25, 100, 8), (1000, 4000, 64)])
def test_server_never_sees_more_than_the_rate(rate: int, functions: int, concurrency: int) -> None:
    fleet = Fleet.generate(functions, seed=3, mix={"configured": 1.0})
    # About five of each throttling answer per run: enough to exercise the rate controller and
    # the targets put back after a 429, few enough that the pacing itself is what is measured.
    share = 5 / functions
    config = EmulatorConfig(
        faults={Fault.APIG_429: share, Fault.FSS_429_RETRY_AFTER: share}, retry_after_s=0.3
    )
    rows, tally, max_window, arrivals, elapsed = asyncio.run(
        audit_against_emulator(fleet, config, rate, concurrency)
    )
    assert len(rows) == functions
    assert max_window <= rate, f"server saw {max_window} requests in 1 s at rate {rate}"
    assert sum(tally.throttled.values()) > 0  # 429s really were injected and retried
    assert arrivals == tally.requests
    assert {row.status for row in rows} == {Status.CONFIGURED}
    print(
        f"rate {rate}: server max {max_window} in any 1 s, {arrivals} requests, "
        f"{sum(tally.throttled.values())} x 429, {arrivals / elapsed:.0f} req/s overall"
    )


def test_a_stricter_server_limit_slows_the_client_down() -> None:
    """The server allows 100/s, the client's ceiling is 400/s: the 429s must teach the rate
    controller a limit near the server's, and every function still ends configured."""
    fleet = Fleet.generate(600, seed=4, projects=1, mix={"configured": 1.0})
    throttles = Throttles(400)
    rows, tally, _, arrivals, _ = asyncio.run(
        audit_against_emulator(fleet, EmulatorConfig(rate_limit=100), 400, 32, throttles)
    )
    assert {row.status for row in rows} == {Status.CONFIGURED}
    throttled = sum(tally.throttled.values())
    assert throttled > 0
    # Without slowing down, ~3/4 of the 400/s would be refused; with the learned rate, a few
    # in the first second and a few per probe after (the goal is 3 %; the tolerance is loose).
    assert throttled < arrivals * 0.06
    (report,) = throttles.reports()
    learned = report.learned
    assert learned.rate_cuts > 0
    assert learned.limit_found is not None
    assert 50 <= learned.limit_found <= 110, learned  # the server's 100/s, from our side
    assert throttles.as_run_dict(300.0)["suggested_rate"] == math.floor(learned.limit_found)
    print(f"limit found {learned.limit_found}, {learned.rate_cuts} cuts, {throttled} x 429")
