"""The rate limit as the server sees it: real client, real throttle, the emulator on loopback.

Real-time tests (marked slow) with tolerances on the low side only: the server must never see
more than the configured rate in any sliding 1-second window, 429s and retries included. At
25/s the server runs in this event loop; at 1,000/s in a process of its own (also `e2e`), where
its own handling does not bunch the arrivals it times.
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from pathlib import Path

import aiohttp
import pytest

from auditor.emulator import DEFAULT_TOKEN, EmulatorConfig, Fault, Fleet, running_emulator
from auditor.emulator.child import read_stats, start_child
from auditor.model import Row, Status
from auditor.send.request import RunTally
from auditor.send.retry import RetryPolicy
from auditor.send.runner import Runner
from auditor.send.throttle import Throttles
from auditor.service.auth import StaticToken
from auditor.service.client import TracingClient
from auditor.source.inputs import from_lines

pytestmark = pytest.mark.slow


async def audit_at(
    url: str, urns: list[str], rate: float, concurrency: int, throttles: Throttles | None = None
) -> tuple[list[Row], RunTally, float]:
    """Audit `urns` at the server at `url` under `rate`: the rows, the tally, the seconds."""
    rows: list[Row] = []
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        client = TracingClient(session, StaticToken(DEFAULT_TOKEN), endpoint=url)
        runner = Runner(
            client,
            throttles or Throttles(rate),
            concurrency=concurrency,
            # Short waits after a 429 keep the test short; the pacing is what is measured.
            policy=RetryPolicy(retries=6, base_delay=0.05, throttle_wait=(0.2, 0.4)),
            rng=random.Random(1),
        )
        started = time.monotonic()
        tally = await runner.run(from_lines(urns, "fleet").targets, lambda i, row: rows.append(row))
        return rows, tally, time.monotonic() - started


async def audit_against_emulator(
    fleet: Fleet,
    config: EmulatorConfig,
    rate: float,
    concurrency: int,
    throttles: Throttles | None = None,
) -> tuple[list[Row], RunTally, int, int, float]:
    """`audit_at` an emulator in this process (and this event loop)."""
    async with running_emulator(fleet, config) as server:
        rows, tally, elapsed = await audit_at(
            server.url, fleet.urns(), rate, concurrency, throttles
        )
        return rows, tally, server.stats.max_in_window(1.0), len(server.stats.arrivals), elapsed


def test_server_never_sees_more_than_the_rate() -> None:
    rate, functions, concurrency = 25, 100, 8
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


@pytest.mark.e2e
def test_a_server_in_its_own_process_never_sees_more_than_1000_per_second(
    tmp_path: Path,
) -> None:
    """At 1,000/s the server runs in a process of its own, as a gateway does: in this event
    loop, its own handling would delay and bunch the arrivals it times, by more than the
    ~1.5 % the pacer leaves below the ceiling."""
    rate, functions, concurrency = 1000, 4000, 64
    share = 5 / functions  # about five of each throttling answer, as above
    faults = ("--fault", f"apig_429={share}", "--fault", f"fss_429_retry_after={share}")
    child = start_child(
        tmp_path, functions=functions, seed=3, args=(*faults, "--retry-after", "0.3")
    )
    try:
        urns = child.urns_file.read_text(encoding="utf-8").split()
        rows, tally, elapsed = asyncio.run(audit_at(child.url, urns, rate, concurrency))
        stats = read_stats(child.url)
    finally:
        child.stop()
    assert len(rows) == functions
    assert stats["max_in_any_1s"] <= rate, f"server saw {stats['max_in_any_1s']} in 1 s"
    assert sum(tally.throttled.values()) > 0  # 429s really were injected and retried
    assert stats["tracing_requests"] == tally.requests
    assert Status.THROTTLED not in {row.status for row in rows}
    print(f"rate {rate}: server max {stats['max_in_any_1s']} in any 1 s, {elapsed:.1f} s")


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
