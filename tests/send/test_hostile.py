"""Hostile answers over TCP: each fault ends in the right status and message, and one bad
function never stops the batch. The emulator injects faults per function on 127.0.0.1."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import random
from pathlib import Path

import aiohttp
import pytest

from auditor.emulator import (
    DEFAULT_TOKEN,
    PLAIN_SK_PREFIX,
    EmulatorConfig,
    Fault,
    Fleet,
    running_emulator,
)
from auditor.model import Row, Status
from auditor.send.request import RunTally
from auditor.send.retry import RetryPolicy
from auditor.send.runner import Runner
from auditor.send.throttle import Throttles
from auditor.service.auth import StaticToken
from auditor.service.client import TracingClient
from auditor.source.inputs import from_lines
from tests.conftest import run_cli, start_emulator

pytestmark = pytest.mark.e2e  # the emulator over TCP, in process and as a child

# A 429 is final only after the scope went `throttle_deadline` without an accepted answer:
# 5 s is far longer than the waits of a transient 429 (at most the emulator's 1 s Retry-After).
FAST = RetryPolicy(
    retries=3, base_delay=0.01, max_delay=0.05, throttle_wait=(0.05, 0.1), throttle_deadline=5.0
)


def faulted_run(
    faults: dict[Fault, int],
    *,
    fault_times: int | None,
    timeout: float = 2.0,
    extra: int = 20,
    policy: RetryPolicy = FAST,
    throttles: Throttles | None = None,
) -> tuple[dict[str, Row], dict[Fault, str], RunTally]:
    """Audit a configured fleet where function k gets the k-th fault; return rows by URN."""
    fleet = Fleet.generate(len(faults) + extra, seed=8, mix={"configured": 1.0})
    urns = fleet.urns()
    unqualified = [fleet.functions[i].urn.unqualified for i in range(len(urns))]
    assignment = dict(zip(faults, unqualified, strict=False))
    config = EmulatorConfig(
        function_faults={u: f for f, u in assignment.items()},
        fault_times=fault_times,
        retry_after_s=0.2,
        slow_s=1.0,
    )
    rows: dict[str, Row] = {}

    async def main() -> RunTally:
        async with running_emulator(fleet, config) as server, aiohttp.ClientSession() as session:
            client = TracingClient(
                session, StaticToken(DEFAULT_TOKEN), endpoint=server.url, timeout=timeout
            )
            runner = Runner(
                client,
                throttles or Throttles(None),
                concurrency=8,
                policy=policy,
                rng=random.Random(2),
            )
            targets = from_lines(urns, "fleet").targets
            return await runner.run(targets, lambda i, row: rows.__setitem__(row.urn, row))

    tally = asyncio.run(main())
    by_fault = {f: next(r for r in urns if r.startswith(u)) for f, u in assignment.items()}
    assert len(rows) == len(urns)  # every function has its row, faults or not
    faulted = set(by_fault.values())
    assert all(rows[u].status is Status.CONFIGURED for u in urns if u not in faulted)
    return rows, by_fault, tally


def test_persistent_faults_end_in_the_right_status_with_a_clear_message() -> None:
    faults = dict.fromkeys(
        [
            Fault.HTML_502,
            Fault.SERVER_503,
            Fault.EMPTY_200,
            Fault.GARBAGE_200,
            Fault.RESET,
            Fault.SLOW,
            Fault.APIG_429,
            Fault.PLAIN_SK,
        ],
        0,
    )
    # The persistent 429 ends `throttled` once nothing was accepted for the deadline (longer
    # than the timed-out function's four attempts: timeouts are no answer, so no progress).
    policy = dataclasses.replace(FAST, throttle_deadline=3.0)
    rows, urn_of, _ = faulted_run(faults, fault_times=None, timeout=0.3, policy=policy)
    row = {fault: rows[urn] for fault, urn in urn_of.items()}

    html = row[Fault.HTML_502]
    assert html.status is Status.ERROR and html.http_status == 502
    assert "502" in html.error_msg and "non-JSON body (text/html" in html.error_msg
    assert "<html" not in html.error_msg.lower()
    assert html.attempts == FAST.retries + 1

    assert row[Fault.SERVER_503].status is Status.ERROR
    assert "503" in row[Fault.SERVER_503].error_msg

    for fault in (Fault.EMPTY_200, Fault.GARBAGE_200):
        assert row[fault].status is Status.ERROR and row[fault].http_status == 200
        assert "unreadable response body" in row[fault].error_msg
        assert row[fault].attempts == 1  # a 200 is an answer: not retried
    assert "empty body" in row[Fault.EMPTY_200].error_msg

    reset = row[Fault.RESET]
    assert reset.status is Status.ERROR and reset.http_status is None
    assert "connection failed" in reset.error_msg

    slow = row[Fault.SLOW]
    assert slow.status is Status.ERROR and "timed out" in slow.error_msg
    assert slow.attempts == FAST.retries + 1

    throttled = row[Fault.APIG_429]
    assert throttled.status is Status.THROTTLED and throttled.error_code == "APIG.0308"
    # Its 429s spent no retries: it was asked again past the budget, until the deadline.
    assert throttled.attempts > FAST.retries + 1

    plain = row[Fault.PLAIN_SK]
    assert plain.status is Status.CONFIGURED and "****" in plain.tracing_ak
    assert PLAIN_SK_PREFIX not in repr(rows)


def test_transient_faults_are_retried_into_the_real_answer() -> None:
    faults = dict.fromkeys(
        [
            Fault.SERVER_503,
            Fault.HTML_502,
            Fault.FSS_429,
            Fault.FSS_429_RETRY_AFTER,
            Fault.APIG_429,
        ],
        0,
    )
    throttles = Throttles(None)
    rows, urn_of, tally = faulted_run(faults, fault_times=2, throttles=throttles)
    for fault, urn in urn_of.items():
        assert rows[urn].status is Status.CONFIGURED, (fault, rows[urn])
        assert rows[urn].attempts == 3, (fault, rows[urn])
    assert sum(tally.throttled.values()) == 3 * 2  # three throttling faults, twice each
    # The rate controller heard every 429, and each 429 delayed only its own request: the
    # Retry-After function waited the emulator's Retry-After (1 s) twice, the two others
    # Huawei's wait (FAST: 0.05-0.1 s) twice each.
    (report,) = throttles.reports()
    assert report.learned.responses_429 == 3 * 2
    assert 2 * 1.0 + 4 * 0.05 <= report.throttle_wait_s <= 2 * 1.0 + 4 * 0.1


def test_429s_spend_no_retries_where_other_faults_do() -> None:
    faults = dict.fromkeys([Fault.APIG_429, Fault.FSS_429, Fault.SERVER_503], 0)
    times = FAST.retries + 1  # one failure more than the retry budget allows
    # The deadline is not what is tested here: long enough never to end a row.
    policy = dataclasses.replace(FAST, throttle_deadline=60.0)
    rows, urn_of, tally = faulted_run(faults, fault_times=times, policy=policy)
    for fault in (Fault.APIG_429, Fault.FSS_429):
        row = rows[urn_of[fault]]
        assert row.status is Status.CONFIGURED, (fault, row)
        assert row.attempts == times + 1, (fault, row)
    server = rows[urn_of[Fault.SERVER_503]]
    assert server.status is Status.ERROR and server.http_status == 503
    assert server.attempts == FAST.retries + 1
    assert sum(tally.throttled.values()) == 2 * times


def test_unmasked_sk_from_a_real_server_reaches_no_output(tmp_path: Path) -> None:
    process, emulator = start_emulator(
        tmp_path, functions=60, seed=2, extra=("--fault", "plain_sk=0.5", "--fault", "html_502=0.1")
    )
    try:
        result = run_cli(
            "audit",
            str(emulator.urns_file),
            "--endpoint",
            emulator.url,
            "-o",
            str(tmp_path / "o"),
            "--name",
            "r",
            "--rate",
            "0",
            "--retries",
            "0",
            "--log-format",
            "json",
            env={"AUDITOR_TOKEN": emulator.token},
        )
    finally:
        process.stop()
    assert result.returncode == 1, result.stderr
    texts = [result.stdout, result.stderr]
    texts += [p.read_bytes().decode("latin-1") for p in (tmp_path / "o").iterdir()]
    assert all(PLAIN_SK_PREFIX not in text for text in texts)
    rows = json.loads((tmp_path / "o" / "r.json").read_text())["results"]
    assert {r["status"] for r in rows} >= {"configured", "error"}
