"""UpdateTracing at the emulator: the PUT changes what the tracing GET answers, for the
emulator's life, with the documented errors; rate-limited and authenticated like the GET.

Against a real emulator on 127.0.0.1 with a real aiohttp client (the rate limit on a fake
clock), plus the body parser on its own.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest
import yarl

from auditor.emulator import (
    DEFAULT_AK,
    DEFAULT_APM_AK,
    DEFAULT_APM_SK,
    DEFAULT_SK,
    Behaviour,
    EmulatedFunction,
    EmulatorConfig,
    Fault,
    RunningEmulator,
)
from auditor.emulator.tracing import TracingKeys, parse_update
from auditor.service.signer import sign
from tests.emulator.test_ratelimit import FakeClock, serve_on
from tests.emulator.test_server import AUTH, FLEET, fetch, first, serve, tracing_url

MISSING = first(Behaviour.MISSING_KEYS)
CONFIGURED = first(Behaviour.CONFIGURED)
APM_KEYS = {"tracing_ak": DEFAULT_APM_AK, "tracing_sk": DEFAULT_APM_SK}
NO_KEYS = {"error_code": "FSS.0404", "error_msg": "can not find tracing aksk"}


async def put(
    session: aiohttp.ClientSession,
    url: yarl.URL | str,
    body: Any = None,
    headers: dict[str, str] | None = None,
    *,
    raw: bytes | None = None,
) -> tuple[int, bytes]:
    """PUT `body` as JSON (or `raw` bytes) with the default token unless `headers` are given."""
    data = raw if raw is not None else json.dumps(APM_KEYS if body is None else body).encode()
    sent = {"Content-Type": "application/json", **(AUTH if headers is None else headers)}
    async with session.put(url, data=data, headers=sent) as response:
        return response.status, await response.read()


async def tracing_of(
    session: aiohttp.ClientSession, emulator: RunningEmulator, function: EmulatedFunction
) -> tuple[int, Any]:
    status, body, _ = await fetch(session, tracing_url(emulator, str(function.urn)))
    return status, body


def test_a_put_configures_the_function_and_the_get_masks_the_sk() -> None:
    async def scenario(emulator: RunningEmulator, session: aiohttp.ClientSession) -> None:
        assert await tracing_of(session, emulator, MISSING) == (404, NO_KEYS)
        status, body = await put(session, tracing_url(emulator, str(MISSING.urn)))
        assert (status, body) == (200, b"")
        want = {"tracing_ak": DEFAULT_APM_AK, "tracing_sk": "******"}
        for _ in range(2):  # from then on
            assert await tracing_of(session, emulator, MISSING) == (200, want)
        # A configured function's old AK is replaced.
        assert (await tracing_of(session, emulator, CONFIGURED))[1]["tracing_ak"] != DEFAULT_APM_AK
        await put(session, tracing_url(emulator, str(CONFIGURED.urn)))
        assert await tracing_of(session, emulator, CONFIGURED) == (200, want)

    serve(scenario)


def test_a_qualified_urn_updates_its_function() -> None:
    function = first(Behaviour.CONFIGURED, qualified=True)
    empty_ak = first(Behaviour.EMPTY_AK)

    async def scenario(emulator: RunningEmulator, session: aiohttp.ClientSession) -> None:
        assert (await put(session, tracing_url(emulator, str(function.urn))))[0] == 200
        url = tracing_url(emulator, function.urn.unqualified, function.urn.project_id)
        status, body, _ = await fetch(session, url)
        assert (status, body["tracing_ak"]) == (200, DEFAULT_APM_AK)
        assert emulator.stats.updates_by_urn == Counter({function.urn.unqualified: 1})
        # A function answering an empty AK is configured too.
        assert (await put(session, tracing_url(emulator, str(empty_ak.urn))))[0] == 200
        assert (await tracing_of(session, emulator, empty_ak))[1]["tracing_ak"] == DEFAULT_APM_AK

    serve(scenario)


@pytest.mark.parametrize(
    "off", [{}, {"tracing_ak": "", "tracing_sk": ""}, {"other": 1}], ids=["{}", "empty", "other"]
)
def test_empty_values_turn_tracing_off(off: dict[str, Any]) -> None:
    async def scenario(emulator: RunningEmulator, session: aiohttp.ClientSession) -> None:
        url = tracing_url(emulator, str(CONFIGURED.urn))
        assert (await put(session, url, off)) == (200, b"")
        assert await tracing_of(session, emulator, CONFIGURED) == (404, NO_KEYS)
        # And on again.
        assert (await put(session, url))[0] == 200
        assert (await tracing_of(session, emulator, CONFIGURED))[0] == 200

    serve(scenario)


def test_a_function_the_service_does_not_have_is_400_fss_1128() -> None:
    deleted = first(Behaviour.DELETED)
    unknown = CONFIGURED.urn.unqualified.replace(CONFIGURED.urn.name, "fn-999999")
    other_project = next(p for p in FLEET.project_ids if p != CONFIGURED.urn.project_id)

    async def scenario(emulator: RunningEmulator, session: aiohttp.ClientSession) -> None:
        for urn, project_id in [
            (str(deleted.urn), None),
            (unknown, None),
            (str(CONFIGURED.urn), other_project),
            ("urn:fss:x", other_project),
        ]:
            status, body = await put(session, tracing_url(emulator, urn, project_id))
            assert status == 400, urn
            assert json.loads(body) == {
                "error_code": "FSS.1128",
                "error_msg": f"function[{urn}] not existed",
            }
        # Still deleted for the GET, and nothing was updated.
        assert (await tracing_of(session, emulator, deleted))[0] == 404
        assert emulator.stats.update_requests == 4
        assert not emulator.stats.updates_by_urn

    serve(scenario)


def test_a_server_error_function_fails_the_put_too() -> None:
    broken = first(Behaviour.SERVER_ERROR)

    async def scenario(emulator: RunningEmulator, session: aiohttp.ClientSession) -> None:
        status, body = await put(session, tracing_url(emulator, str(broken.urn)))
        assert (status, json.loads(body)["error_code"]) == (500, "FSS.0500")
        assert not emulator.stats.updates_by_urn

    serve(scenario)


SECRET = "PLANTED-SECRET-SK-must-not-come-back"
BAD_BODIES: list[tuple[str, bytes, str]] = [
    ("not json", SECRET.encode(), "expected a JSON object"),
    ("empty", b"", "expected a JSON object"),
    ("a list", json.dumps(["AK", SECRET]).encode(), "expected a JSON object"),
    ("a string", json.dumps(SECRET).encode(), "expected a JSON object"),
    ("sk alone", json.dumps({"tracing_sk": SECRET}).encode(), "together"),
    ("ak alone", json.dumps({"tracing_ak": DEFAULT_APM_AK}).encode(), "together"),
    ("empty ak", json.dumps({"tracing_ak": "", "tracing_sk": SECRET}).encode(), "together"),
    ("empty sk", json.dumps({"tracing_ak": "AK", "tracing_sk": ""}).encode(), "together"),
    ("number sk", json.dumps({"tracing_ak": "AK", "tracing_sk": 7}).encode(), "strings"),
    ("null sk", json.dumps({"tracing_ak": SECRET, "tracing_sk": None}).encode(), "strings"),
    ("list ak", json.dumps({"tracing_ak": [SECRET], "tracing_sk": SECRET}).encode(), "strings"),
    ("not utf-8", b"\xff\xfe{", "expected a JSON object"),
]


@pytest.mark.parametrize(
    ("body", "reason"), [(b, r) for _, b, r in BAD_BODIES], ids=[i for i, _, _ in BAD_BODIES]
)
def test_a_bad_body_is_400_fss_0400_and_never_echoes_the_sk(body: bytes, reason: str) -> None:
    async def scenario(emulator: RunningEmulator, session: aiohttp.ClientSession) -> None:
        before = await tracing_of(session, emulator, CONFIGURED)
        status, answer = await put(session, tracing_url(emulator, str(CONFIGURED.urn)), raw=body)
        assert status == 400
        error = json.loads(answer)
        assert error["error_code"] == "FSS.0400"
        assert (
            error["error_msg"].startswith("invalid request body: ") and reason in error["error_msg"]
        )
        assert SECRET.encode() not in answer and b"PLANTED" not in answer
        assert await tracing_of(session, emulator, CONFIGURED) == before

    serve(scenario)


def test_the_body_is_checked_before_the_function() -> None:
    async def scenario(emulator: RunningEmulator, session: aiohttp.ClientSession) -> None:
        url = tracing_url(emulator, str(first(Behaviour.DELETED).urn))
        status, body = await put(session, url, raw=b"nonsense")
        assert (status, json.loads(body)["error_code"]) == (400, "FSS.0400")

    serve(scenario)


def signed_put(url: yarl.URL, body: bytes, project_id: str, sk: str = DEFAULT_SK) -> dict[str, str]:
    base = {"Content-Type": "application/json"}
    added = sign(
        ak=DEFAULT_AK,
        sk=sk,
        method="PUT",
        url=str(url),
        headers=base,
        body=body,
        moment=datetime.now(UTC),
        project_id=project_id,
    )
    return {**base, **added.headers}


def test_credentials_are_checked_as_for_the_get() -> None:
    rejected_project = next(p for p in FLEET.project_ids if p != MISSING.urn.project_id)
    rejected = next(f for f in FLEET.functions if f.urn.project_id == rejected_project)
    config = EmulatorConfig(reject_projects=frozenset({rejected.urn.project_id}))
    body = json.dumps(APM_KEYS).encode()

    async def scenario(emulator: RunningEmulator, session: aiohttp.ClientSession) -> None:
        url = tracing_url(emulator, str(MISSING.urn))
        status, answer = await put(session, url, headers={})
        assert (status, json.loads(answer)["error_code"]) == (401, "APIG.0301")
        status, answer = await put(session, url, headers={"X-Auth-Token": "stale"})
        assert (status, json.loads(answer)["error_code"]) == (403, "FSS.0403")
        status, _ = await put(session, tracing_url(emulator, str(rejected.urn)))
        assert status == 403
        assert (await tracing_of(session, emulator, MISSING))[0] == 404  # nothing changed
        project_id = MISSING.urn.project_id
        # A signature covers the body: another body under it is refused.
        headers = signed_put(url, body, project_id)
        assert (await put(session, url, raw=b"{}", headers=headers))[0] == 401
        status, _ = await put(session, url, raw=body, headers=signed_put(url, body, project_id))
        assert status == 200
        assert (await tracing_of(session, emulator, MISSING))[1]["tracing_ak"] == DEFAULT_APM_AK
        failures = emulator.stats.auth_failures_by_project
        assert failures == Counter({project_id: 3, rejected.urn.project_id: 1})

    serve(scenario, config=config)


def test_the_rate_limit_applies_to_the_put_and_shares_the_gets_window() -> None:
    clock = FakeClock()

    async def scenario(emulator: RunningEmulator, session: aiohttp.ClientSession) -> None:
        url = tracing_url(emulator, str(MISSING.urn))
        assert (await fetch(session, url))[0] == 404
        assert (await put(session, url))[0] == 200
        status, body = await put(session, url, {})
        assert (status, json.loads(body)["error_code"]) == (429, "APIG.0308")
        assert (await fetch(session, url))[0] == 429
        clock.now += 1.0
        assert (await fetch(session, url))[1]["tracing_ak"] == DEFAULT_APM_AK  # not turned off
        stats = emulator.stats
        assert (len(stats.arrivals), len(stats.accepted), len(stats.throttled)) == (5, 3, 2)
        assert stats.update_requests == 2
        assert stats.updates_by_urn == Counter({MISSING.urn.unqualified: 1})

    serve_on(clock, EmulatorConfig(rate_limit=2), scenario)


def test_faults_are_not_injected_into_the_put() -> None:
    config = EmulatorConfig(
        function_faults={MISSING.urn.unqualified: Fault.HTML_502}, faults={Fault.RESET: 1.0}
    )

    async def scenario(emulator: RunningEmulator, session: aiohttp.ClientSession) -> None:
        assert (await put(session, tracing_url(emulator, str(MISSING.urn)))) == (200, b"")
        assert not emulator.stats.by_fault

    serve(scenario, config=config)


def test_stats_count_updates_apart_from_reads_and_a_reset_keeps_the_settings() -> None:
    async def scenario(emulator: RunningEmulator, session: aiohttp.ClientSession) -> None:
        for function in (MISSING, MISSING, CONFIGURED):
            await put(session, tracing_url(emulator, str(function.urn)))
        await put(session, tracing_url(emulator, str(MISSING.urn)), raw=b"[]")
        await tracing_of(session, emulator, MISSING)
        async with session.get(emulator.url + "/_emulator/stats") as response:
            summary = await response.json()
        assert summary["update_requests"] == 4
        assert summary["updates"] == 3
        assert summary["updates_by_urn"] == dict(
            sorted({MISSING.urn.unqualified: 2, CONFIGURED.urn.unqualified: 1}.items())
        )
        # Reads are asks; updates are not.
        assert (summary["asked_more_than_once"], summary["extra_asks"]) == (0, 0)
        assert summary["tracing_requests"] == 5  # the rate limit's window sees both
        assert summary["by_status"] == {"200": 4, "400": 1}
        async with session.post(emulator.url + "/_emulator/stats/reset") as response:
            reset = await response.json()
        assert (reset["update_requests"], reset["updates"], reset["updates_by_urn"]) == (0, 0, {})
        assert (await tracing_of(session, emulator, MISSING))[1]["tracing_ak"] == DEFAULT_APM_AK

    serve(scenario)


# --- the body parser on its own -----------------------------------------------------------------


def test_parse_update_reads_the_keys_and_hides_the_sk_in_its_repr() -> None:
    keys = parse_update(json.dumps({"tracing_ak": "AK1", "tracing_sk": SECRET}).encode())
    assert keys == TracingKeys("AK1", SECRET)
    assert isinstance(keys, TracingKeys) and not keys.turns_off
    assert SECRET not in repr(keys) and "AK1" in repr(keys)
    off = parse_update(b"{}")
    assert isinstance(off, TracingKeys) and off.turns_off
    assert parse_update(b"[]") == (
        400,
        json.dumps(
            {
                "error_code": "FSS.0400",
                "error_msg": 'invalid request body: expected a JSON object {"tracing_ak": "...", '
                '"tracing_sk": "..."}',
            }
        ).encode(),
    )
