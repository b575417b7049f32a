"""Faults, against a real emulator on 127.0.0.1 with a real aiohttp client, and their parsing."""

from __future__ import annotations

import errno
import json
import re
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import aiohttp
import pytest

from auditor.emulator import (
    PLAIN_SK_PREFIX,
    Behaviour,
    EmulatedFunction,
    EmulatorConfig,
    Fault,
    RunningEmulator,
    parse_fault_spec,
)
from tests.emulator.test_server import (
    ANSWERS,
    FLEET,
    fetch,
    fetch_raw,
    first,
    serve,
    tracing_url,
)

JSON = "application/json"
FSS_429 = {"error_code": "FSS.0429", "error_msg": "Too many requests, please retry later."}


def is_json(want: dict[str, str]) -> Callable[[bytes], bool]:
    return lambda body: bool(json.loads(body) == want)


def not_json(body: bytes) -> bool:
    try:
        json.loads(body)
    except ValueError:
        return bool(body)
    return False


CANNED_FAULTS: list[tuple[Fault, int, str, str | None, Callable[[bytes], bool]]] = [
    (
        Fault.APIG_429,
        429,
        JSON,
        None,
        is_json({"error_code": "APIG.0308", "error_msg": "The request is throttled."}),
    ),
    (Fault.FSS_429, 429, JSON, None, is_json(FSS_429)),
    (Fault.FSS_429_RETRY_AFTER, 429, JSON, "1", is_json(FSS_429)),
    (
        Fault.SERVER_503,
        503,
        JSON,
        None,
        is_json({"error_code": "FSS.0503", "error_msg": "service unavailable"}),
    ),
    (Fault.HTML_502, 502, "text/html", None, lambda b: b"<h1>502 Bad Gateway</h1>" in b),
    (Fault.EMPTY_200, 200, JSON, None, lambda b: b == b""),
    (Fault.GARBAGE_200, 200, "text/plain", None, not_json),
]


@pytest.mark.parametrize(
    ("fault", "want_status", "want_type", "want_retry_after", "body_ok"),
    CANNED_FAULTS,
    ids=[str(case[0]) for case in CANNED_FAULTS],
)
def test_each_fault_answers_as_specified(
    fault: Fault,
    want_status: int,
    want_type: str,
    want_retry_after: str | None,
    body_ok: Callable[[bytes], bool],
) -> None:
    function = first(Behaviour.CONFIGURED)

    async def scenario(emulator: RunningEmulator, session: aiohttp.ClientSession) -> None:
        status, body, response = await fetch_raw(session, tracing_url(emulator, str(function.urn)))
        assert status == want_status
        assert response.content_type == want_type
        assert response.headers.get("Retry-After") == want_retry_after
        assert body_ok(body), body
        assert re.fullmatch(r"[0-9a-f]{32}", response.headers["X-Request-Id"])
        assert emulator.stats.by_fault == Counter({fault.value: 1})
        assert emulator.stats.by_status == Counter({want_status: 1})

    serve(scenario, config=EmulatorConfig(faults={fault: 1.0}))


def test_retry_after_is_whole_seconds_rounded_up() -> None:
    function = first(Behaviour.CONFIGURED)
    config = EmulatorConfig(faults={Fault.FSS_429_RETRY_AFTER: 1.0}, retry_after_s=2.5)

    async def scenario(emulator: RunningEmulator, session: aiohttp.ClientSession) -> None:
        _, _, response = await fetch_raw(session, tracing_url(emulator, str(function.urn)))
        assert response.headers["Retry-After"] == "3"

    serve(scenario, config=config)


def test_plain_sk_leaks_an_unmasked_secret_with_the_functions_ak() -> None:
    function = first(Behaviour.MISSING_KEYS)  # the fault overrides whatever it would answer

    async def scenario(emulator: RunningEmulator, session: aiohttp.ClientSession) -> None:
        status, body, response = await fetch(session, tracing_url(emulator, str(function.urn)))
        assert (status, response.content_type) == (200, JSON)
        assert body["tracing_ak"] == FLEET.tracing_ak(function)
        assert re.fullmatch(re.escape(PLAIN_SK_PREFIX) + r"[A-Z0-9]{24}", body["tracing_sk"])
        _, again, _ = await fetch(session, tracing_url(emulator, str(function.urn)))
        assert again == body  # stable, so a test can search reports for it

    serve(scenario, config=EmulatorConfig(faults={Fault.PLAIN_SK: 1.0}))


def test_reset_drops_the_connection_and_aiohttp_retries_it_once() -> None:
    function = first(Behaviour.CONFIGURED)
    urn = function.urn.unqualified

    async def scenario(emulator: RunningEmulator, session: aiohttp.ClientSession) -> None:
        with pytest.raises(aiohttp.ClientOSError) as caught:
            await fetch_raw(session, tracing_url(emulator, urn))
        assert caught.value.errno == errno.ECONNRESET
        # aiohttp resends an idempotent request once on a dropped connection, by itself.
        assert emulator.stats.by_urn[urn] == 2
        assert emulator.stats.by_fault == Counter({"reset": 2})
        assert not emulator.stats.by_status  # nothing was answered

    serve(scenario, config=EmulatorConfig(faults={Fault.RESET: 1.0}))


def test_a_single_reset_is_hidden_by_aiohttps_own_retry() -> None:
    function = first(Behaviour.CONFIGURED)
    urn = function.urn.unqualified
    config = EmulatorConfig(function_faults={urn: Fault.RESET}, fault_times=1)

    async def scenario(emulator: RunningEmulator, session: aiohttp.ClientSession) -> None:
        status, _, _ = await fetch_raw(session, tracing_url(emulator, urn))
        assert status == 200
        assert emulator.stats.by_urn[urn] == 2
        assert emulator.stats.by_fault == Counter({"reset": 1})

    serve(scenario, config=config)


def test_slow_outlasts_the_client_timeout_then_answers_normally() -> None:
    function = first(Behaviour.CONFIGURED)

    async def scenario(emulator: RunningEmulator, session: aiohttp.ClientSession) -> None:
        url = tracing_url(emulator, str(function.urn))
        with pytest.raises(TimeoutError):
            await fetch_raw(session, url, timeout=0.1)
        started = time.monotonic()
        status, body, _ = await fetch_raw(session, url, timeout=2.0)
        assert time.monotonic() - started >= 0.25
        assert status == 200
        assert json.loads(body)["tracing_ak"] == FLEET.tracing_ak(function)
        assert emulator.stats.by_fault == Counter({"slow": 2})

    serve(scenario, config=EmulatorConfig(faults={Fault.SLOW: 1.0}, slow_s=0.3))


@pytest.mark.parametrize("probability", [1.0, 0.0])
def test_per_run_probability_one_and_zero(probability: float) -> None:
    functions = [first(b) for b in Behaviour]
    config = EmulatorConfig(faults={Fault.SERVER_503: probability})

    async def scenario(emulator: RunningEmulator, session: aiohttp.ClientSession) -> None:
        for function in functions:
            status, _, _ = await fetch_raw(session, tracing_url(emulator, str(function.urn)))
            assert status == (503 if probability else ANSWERS[function.behaviour][0])
        injected = len(functions) if probability else 0
        assert sum(emulator.stats.by_fault.values()) == injected

    serve(scenario, config=config)


def fault_draws(config: EmulatorConfig, requests: int = 400) -> list[int]:
    """The statuses of `requests` sequential tracing requests over the configured functions."""
    functions = [f for f in FLEET.functions if f.behaviour is Behaviour.CONFIGURED][:50]
    statuses: list[int] = []

    async def scenario(emulator: RunningEmulator, session: aiohttp.ClientSession) -> None:
        for i in range(requests):
            url = tracing_url(emulator, str(functions[i % len(functions)].urn))
            statuses.append((await fetch_raw(session, url))[0])
        assert sum(emulator.stats.by_fault.values()) == requests - statuses.count(200)

    serve(scenario, config=config)
    return statuses


def test_per_run_faults_hit_their_share_deterministically_per_seed() -> None:
    faults = {Fault.HTML_502: 0.2, Fault.SERVER_503: 0.1}
    statuses = fault_draws(EmulatorConfig(faults=faults, fault_seed=11))
    shares = Counter(statuses)
    assert set(shares) == {200, 502, 503}
    assert 0.13 < shares[502] / 400 < 0.27
    assert 0.05 < shares[503] / 400 < 0.15
    assert fault_draws(EmulatorConfig(faults=faults, fault_seed=11)) == statuses
    assert fault_draws(EmulatorConfig(faults=faults, fault_seed=12)) != statuses


def test_function_fault_for_the_first_n_requests_then_normal() -> None:
    flaky, steady = [f for f in FLEET.functions if f.behaviour is Behaviour.CONFIGURED][:2]
    forever = first(Behaviour.MISSING_KEYS)
    config = EmulatorConfig(
        function_faults={
            flaky.urn.unqualified: Fault.SERVER_503,
            forever.urn.unqualified: Fault.APIG_429,
        },
        fault_times=2,
    )

    async def scenario(emulator: RunningEmulator, session: aiohttp.ClientSession) -> None:
        async def statuses(function: EmulatedFunction, times: int) -> list[int]:
            url = tracing_url(emulator, str(function.urn))
            return [(await fetch_raw(session, url))[0] for _ in range(times)]

        assert await statuses(flaky, 4) == [503, 503, 200, 200]
        assert await statuses(steady, 2) == [200, 200]
        assert await statuses(forever, 3) == [429, 429, 404]
        stats = emulator.stats
        assert stats.by_fault == Counter({"server_503": 2, "apig_429": 2})
        assert stats.by_urn[flaky.urn.unqualified] == 4
        assert stats.by_urn[steady.urn.unqualified] == 2

    serve(scenario, config=config)


def test_function_fault_without_fault_times_never_clears() -> None:
    function = first(Behaviour.CONFIGURED)
    config = EmulatorConfig(function_faults={function.urn.unqualified: Fault.HTML_502})

    async def scenario(emulator: RunningEmulator, session: aiohttp.ClientSession) -> None:
        url = tracing_url(emulator, str(function.urn))
        assert [(await fetch_raw(session, url))[0] for _ in range(5)] == [502] * 5

    serve(scenario, config=config)


def test_rate_limit_then_auth_come_before_faults() -> None:
    function = first(Behaviour.CONFIGURED)
    config = EmulatorConfig(
        rate_limit=2,
        rate_limit_scope="project",  # the bad token and the good one share the window
        faults={Fault.SERVER_503: 1.0},
        function_faults={function.urn.unqualified: Fault.HTML_502},
    )

    async def scenario(emulator: RunningEmulator, session: aiohttp.ClientSession) -> None:
        url = tracing_url(emulator, str(function.urn))
        status, body, _ = await fetch(session, url, headers={"X-Auth-Token": "stale"})
        assert (status, body["error_code"]) == (403, "FSS.0403")
        assert (await fetch_raw(session, url))[0] == 502  # per function wins over per run
        status, body, _ = await fetch(session, url)
        assert (status, body["error_code"]) == (429, "APIG.0308")
        assert emulator.stats.by_fault == Counter({"html_502": 1})
        assert emulator.stats.by_urn[function.urn.unqualified] == 3

    serve(scenario, config=config)


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("html_502=0.05", (Fault.HTML_502, 0.05)),
        (" RESET = 1 ", (Fault.RESET, 1.0)),
        ("fss_429_retry_after=0", (Fault.FSS_429_RETRY_AFTER, 0.0)),
    ],
)
def test_parse_fault_spec(text: str, want: tuple[Fault, float]) -> None:
    assert parse_fault_spec(text) == want


@pytest.mark.parametrize(
    "text", ["html_502", "html_502=", "html_502=1.5", "reset=-0.1", "reset=nan", "nope=0.1", ""]
)
def test_parse_fault_spec_rejects_bad_input_naming_the_faults(text: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_fault_spec(text)
    message = str(caught.value)
    assert "\n" not in message
    assert all(fault.value in message for fault in Fault)


def test_config_accepts_fault_names_and_checks_faults() -> None:
    urn = first(Behaviour.CONFIGURED).urn
    as_text: dict[Any, Any] = {
        "faults": {"reset": 0.5},
        "function_faults": {urn.unqualified: "slow"},
    }
    config = EmulatorConfig(**as_text)
    assert config.faults == {Fault.RESET: 0.5}
    assert config.function_faults == {urn.unqualified: Fault.SLOW}
    with pytest.raises(ValueError, match="add up to at most 1"):
        EmulatorConfig(faults={Fault.RESET: 0.6, Fault.SLOW: 0.6})
    with pytest.raises(ValueError, match="from 0 to 1"):
        EmulatorConfig(faults={Fault.RESET: -0.1})
    with pytest.raises(ValueError, match="not a valid Fault"):
        EmulatorConfig(faults={"teapot": 0.1})  # type: ignore[dict-item]
    with pytest.raises(ValueError, match="unqualified URN"):
        EmulatorConfig(function_faults={f"{urn.unqualified}:v2": Fault.RESET})
    with pytest.raises(ValueError, match="function_faults: 'typo'"):
        EmulatorConfig(function_faults={"typo": Fault.RESET})
    with pytest.raises(ValueError, match="fault_times"):
        EmulatorConfig(fault_times=-1)
