"""The emulator, against a real server on 127.0.0.1 with a real aiohttp client."""

from __future__ import annotations

import asyncio
import re
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

import aiohttp
import pytest
import yarl

from auditor.emulator import (
    DEFAULT_TOKEN,
    REGIONS,
    Behaviour,
    EmulatedFunction,
    EmulatorConfig,
    Fleet,
    RunningEmulator,
    Stats,
    running_emulator,
)

AUTH = {"X-Auth-Token": DEFAULT_TOKEN}
FLEET = Fleet.generate(300, seed=7)

Scenario = Callable[[RunningEmulator, aiohttp.ClientSession], Awaitable[None]]


def serve(scenario: Scenario, fleet: Fleet = FLEET, config: EmulatorConfig | None = None) -> None:
    """Run `scenario` against a fresh emulator and client; plain pytest, no async plugin."""

    async def main() -> None:
        async with running_emulator(fleet, config) as emulator, aiohttp.ClientSession() as session:
            await scenario(emulator, session)

    asyncio.run(main())


def tracing_url(emulator: RunningEmulator, urn: str, project_id: str | None = None) -> yarl.URL:
    """The URL the client builds: the URN percent-encoded as one path segment."""
    project_id = project_id or urn.split(":")[3]
    path = f"/v2/{project_id}/fgs/functions/{quote(urn, safe='')}/tracing"
    return yarl.URL(emulator.url + path, encoded=True)


async def fetch(
    session: aiohttp.ClientSession, url: yarl.URL | str, headers: dict[str, str] | None = None
) -> tuple[int, Any, aiohttp.ClientResponse]:
    async with session.get(url, headers=AUTH if headers is None else headers) as response:
        return response.status, await response.json(), response


def first(behaviour: Behaviour, qualified: bool = False) -> EmulatedFunction:
    return next(
        f
        for f in FLEET.functions
        if f.behaviour is behaviour and bool(f.urn.qualifier) == qualified
    )


# --- the fleet ---------------------------------------------------------------------------------


def test_same_seed_same_fleet() -> None:
    again = Fleet.generate(300, seed=7)
    assert again.urns() == FLEET.urns()
    assert again.functions == FLEET.functions
    assert again.project_ids == FLEET.project_ids


def test_other_seed_other_fleet() -> None:
    other = Fleet.generate(300, seed=8)
    assert other.project_ids != FLEET.project_ids
    assert [f.behaviour for f in other.functions] != [f.behaviour for f in FLEET.functions]


def test_functions_spread_round_robin_over_projects_and_regions() -> None:
    assert len(FLEET) == 300
    assert len(FLEET.project_ids) == 3
    assert all(re.fullmatch(r"[0-9a-f]{32}", p) for p in FLEET.project_ids)
    cells = Counter((f.urn.project_id, f.urn.region) for f in FLEET.functions)
    assert set(cells) == {(p, r) for p in FLEET.project_ids for r in REGIONS}
    assert set(cells.values()) == {50}
    assert len(set(FLEET.urns())) == 300


def test_mix_and_qualifiers() -> None:
    fleet = Fleet.generate(4000, seed=1)
    behaviours = Counter(f.behaviour for f in fleet.functions)
    assert set(behaviours) == set(Behaviour)
    assert behaviours[Behaviour.CONFIGURED] > 2500
    qualified = [f for f in fleet.functions if f.urn.qualifier]
    assert 0.02 < len(qualified) / len(fleet) < 0.09
    only_deleted = Fleet.generate(20, mix={"deleted": 1.0})
    assert {f.behaviour for f in only_deleted.functions} == {Behaviour.DELETED}
    with pytest.raises(ValueError, match="unknown behaviours"):
        Fleet.generate(5, mix={"forbidden": 1.0})


def test_expected_status_and_lookup() -> None:
    expected = {
        Behaviour.CONFIGURED: "configured",
        Behaviour.MISSING_KEYS: "missing_keys",
        Behaviour.EMPTY_AK: "missing_keys",
        Behaviour.DELETED: "function_not_found",
        Behaviour.SERVER_ERROR: "error",
    }
    for f in FLEET.functions:
        assert FLEET.expected_status(str(f.urn)) == expected[f.behaviour]
        assert FLEET.lookup(f.urn.unqualified) is f
    unknown = FLEET.functions[0].urn.unqualified.replace("fn-000000", "fn-999999")
    assert FLEET.lookup(unknown) is None
    assert FLEET.expected_status(unknown) == "function_not_found"
    assert FLEET.expected_status("not-a-urn") == "invalid_urn"


# --- the tracing API ---------------------------------------------------------------------------

ANSWERS: dict[Behaviour, tuple[int, dict[str, str] | None]] = {
    Behaviour.CONFIGURED: (200, None),
    Behaviour.EMPTY_AK: (200, {"tracing_ak": "", "tracing_sk": ""}),
    Behaviour.MISSING_KEYS: (
        404,
        {"error_code": "FSS.0404", "error_msg": "can not find tracing aksk"},
    ),
    Behaviour.DELETED: (404, {"error_code": "FSS.1051", "error_msg": "Not found the function"}),
    Behaviour.SERVER_ERROR: (500, {"error_code": "FSS.0500", "error_msg": "internal error"}),
}


@pytest.mark.parametrize("behaviour", list(Behaviour))
def test_each_behaviour_answers_as_documented(behaviour: Behaviour) -> None:
    function = first(behaviour)
    want_status, want_body = ANSWERS[behaviour]

    async def scenario(emulator: RunningEmulator, session: aiohttp.ClientSession) -> None:
        status, body, response = await fetch(session, tracing_url(emulator, str(function.urn)))
        assert status == want_status
        assert response.content_type == "application/json"
        assert re.fullmatch(r"[0-9a-f]{32}", response.headers["X-Request-Id"])
        if want_body is not None:
            assert body == want_body
        else:
            assert re.fullmatch(r"[A-Z0-9]{20}", body["tracing_ak"])
            assert body["tracing_ak"] == FLEET.tracing_ak(function)
            assert body["tracing_sk"] == "******"

    serve(scenario)


def test_encoded_and_raw_urn_forms_get_the_same_answer() -> None:
    function = first(Behaviour.CONFIGURED)
    urn, project_id = str(function.urn), function.urn.project_id
    raw = yarl.URL(f"/v2/{project_id}/fgs/functions/{urn}/tracing", encoded=True)

    async def scenario(emulator: RunningEmulator, session: aiohttp.ClientSession) -> None:
        encoded = tracing_url(emulator, urn)
        assert "%3A" in encoded.raw_path
        _, via_encoded, _ = await fetch(session, encoded)
        _, via_raw, _ = await fetch(session, yarl.URL(emulator.url).join(raw))
        assert via_encoded == via_raw
        assert via_encoded["tracing_ak"] == FLEET.tracing_ak(function)

    serve(scenario)


def test_qualified_urns_are_answered_for_their_function() -> None:
    qualified = [f for f in FLEET.functions if f.urn.qualifier]
    assert {f.urn.qualifier[0] for f in qualified} >= {"!", "l"}  # aliases and versions

    async def scenario(emulator: RunningEmulator, session: aiohttp.ClientSession) -> None:
        for function in qualified:
            status, _, _ = await fetch(session, tracing_url(emulator, str(function.urn)))
            assert status == ANSWERS[function.behaviour][0], function

    serve(scenario)


def test_credentials_are_checked() -> None:
    function = first(Behaviour.CONFIGURED)
    rejected = FLEET.project_ids[1]
    in_rejected = next(f for f in FLEET.functions if f.urn.project_id == rejected)
    config = EmulatorConfig(reject_projects=frozenset({rejected}))

    async def scenario(emulator: RunningEmulator, session: aiohttp.ClientSession) -> None:
        url = tracing_url(emulator, str(function.urn))
        status, body, _ = await fetch(session, url, headers={})
        assert (status, body["error_code"]) == (401, "APIG.0301")
        assert "x-auth-token not found" in body["error_msg"]
        status, body, _ = await fetch(session, url, headers={"X-Auth-Token": "stale"})
        assert (status, body) == (403, {"error_code": "FSS.0403", "error_msg": "invalid token"})
        status, body, _ = await fetch(session, tracing_url(emulator, str(in_rejected.urn)))
        assert (status, body["error_code"]) == (403, "FSS.0403")

    serve(scenario, config=config)


def test_bad_or_foreign_urn_is_400_and_unknown_function_404() -> None:
    function = first(Behaviour.CONFIGURED)
    other_project = next(p for p in FLEET.project_ids if p != function.urn.project_id)
    unknown = function.urn.unqualified.replace(function.urn.name, "fn-999999")

    async def scenario(emulator: RunningEmulator, session: aiohttp.ClientSession) -> None:
        url = tracing_url(emulator, str(function.urn), project_id=other_project)
        status, body, _ = await fetch(session, url)
        assert (status, body["error_code"]) == (400, "FSS.1128")
        assert body["error_msg"] == f"function[{function.urn}] not existed"
        status, body, _ = await fetch(session, tracing_url(emulator, "urn:fss:x", other_project))
        assert (status, body["error_code"]) == (400, "FSS.1128")
        status, body, _ = await fetch(session, tracing_url(emulator, unknown))
        assert (status, body["error_code"]) == (404, "FSS.1051")

    serve(scenario)


def test_rate_limit_throttles_per_project_once_the_window_is_full() -> None:
    function = first(Behaviour.CONFIGURED)
    elsewhere = next(f for f in FLEET.functions if f.urn.project_id != function.urn.project_id)

    async def scenario(emulator: RunningEmulator, session: aiohttp.ClientSession) -> None:
        # A window boundary may fall inside the burst, so allow up to two windows' worth.
        statuses = []
        for _ in range(7):
            status, body, _ = await fetch(session, tracing_url(emulator, str(function.urn)))
            statuses.append(status)
            if status == 429:
                assert body == {
                    "error_code": "APIG.0308",
                    "error_msg": "The request is throttled.",
                }
                break
        assert statuses[-1] == 429
        assert statuses[:3] == [200, 200, 200]
        status, _, _ = await fetch(session, tracing_url(emulator, str(elsewhere.urn)))
        assert status == 200

    serve(scenario, config=EmulatorConfig(rate_limit=3))


def test_latency_is_applied() -> None:
    function = first(Behaviour.CONFIGURED)

    async def scenario(emulator: RunningEmulator, session: aiohttp.ClientSession) -> None:
        started = time.monotonic()
        await fetch(session, tracing_url(emulator, str(function.urn)))
        assert time.monotonic() - started >= 0.025

    serve(scenario, config=EmulatorConfig(latency_ms=(30.0, 40.0)))


def test_unknown_api_is_apig_0101() -> None:
    async def scenario(emulator: RunningEmulator, session: aiohttp.ClientSession) -> None:
        status, body, response = await fetch(session, emulator.url + "/v1/nothing")
        assert (status, body["error_code"]) == (404, "APIG.0101")
        assert "X-Request-Id" in response.headers

    serve(scenario)


# --- ListFunctions -----------------------------------------------------------------------------


def test_list_functions_pages_through_the_project() -> None:
    project_id = FLEET.project_ids[0]
    existing = [
        f.urn.unqualified
        for f in FLEET.functions
        if f.urn.project_id == project_id and f.behaviour is not Behaviour.DELETED
    ]
    assert len(existing) < 100  # some DELETED functions are really left out

    async def scenario(emulator: RunningEmulator, session: aiohttp.ClientSession) -> None:
        listed: list[str] = []
        marker = 0
        while True:
            url = f"{emulator.url}/v2/{project_id}/fgs/functions?marker={marker}&maxitems=7"
            status, body, _ = await fetch(session, url)
            assert status == 200
            assert body["count"] == len(existing)
            assert body["next_marker"] == marker + len(body["functions"])
            if not body["functions"]:
                break
            assert len(body["functions"]) <= 7
            listed += [item["func_urn"] for item in body["functions"]]
            marker = body["next_marker"]
        assert listed == existing
        _, whole, _ = await fetch(session, f"{emulator.url}/v2/{project_id}/fgs/functions")
        item = whole["functions"][0]
        assert set(item) >= {"func_urn", "func_name", "package", "runtime", "version"}
        assert item["version"] == "latest"
        assert len(whole["functions"]) == len(existing)

    serve(scenario)


@pytest.mark.parametrize(
    "query", ["maxitems=0", "maxitems=401", "maxitems=ten", "marker=-1", "marker=x"]
)
def test_list_functions_rejects_bad_paging(query: str) -> None:
    async def scenario(emulator: RunningEmulator, session: aiohttp.ClientSession) -> None:
        url = f"{emulator.url}/v2/{FLEET.project_ids[0]}/fgs/functions?{query}"
        status, body, _ = await fetch(session, url)
        assert (status, body["error_code"]) == (400, "FSS.0400")

    serve(scenario)


def test_list_functions_checks_credentials() -> None:
    async def scenario(emulator: RunningEmulator, session: aiohttp.ClientSession) -> None:
        url = f"{emulator.url}/v2/{FLEET.project_ids[0]}/fgs/functions?maxitems=400"
        assert (await fetch(session, url, headers={}))[0] == 401
        assert (await fetch(session, url, headers={"X-Auth-Token": "x"}))[0] == 403
        assert (await fetch(session, url))[0] == 200

    serve(scenario)


# --- Stats -------------------------------------------------------------------------------------


def test_stats_count_what_arrived() -> None:
    configured, missing = first(Behaviour.CONFIGURED), first(Behaviour.MISSING_KEYS)

    async def scenario(emulator: RunningEmulator, session: aiohttp.ClientSession) -> None:
        ids = set()
        for function in (configured, configured, missing):
            _, _, response = await fetch(session, tracing_url(emulator, str(function.urn)))
            ids.add(response.headers["X-Request-Id"])
        await fetch(session, f"{emulator.url}/v2/{configured.urn.project_id}/fgs/functions")
        stats = emulator.stats
        assert len(ids) == 3
        assert stats.requests == 4
        assert stats.by_status == Counter({200: 3, 404: 1})
        assert sum(stats.by_project.values()) == 4
        assert stats.by_project[configured.urn.project_id] >= 3
        assert len(stats.arrivals) == 3  # tracing requests only
        assert stats.arrivals == sorted(stats.arrivals)

    serve(scenario)


def test_max_in_window() -> None:
    stats = Stats(arrivals=[5.0, 0.0, 0.5, 0.99, 1.0, 1.2, 3.0, 3.1, 3.2, 3.3])
    assert stats.max_in_window(1.0) == 4  # 3.0 .. 3.3
    assert stats.max_in_window(0.5) == 4
    assert stats.max_in_window(0.1) == 2  # 0.99, 1.0
    assert stats.max_in_window(0.005) == 1
    assert stats.max_in_window(10.0) == 10
    assert Stats().max_in_window() == 0


def test_running_emulator_listens_on_loopback() -> None:
    async def scenario(emulator: RunningEmulator, session: aiohttp.ClientSession) -> None:
        assert emulator.port > 0
        assert emulator.url == f"http://127.0.0.1:{emulator.port}"
        assert emulator.fleet is FLEET

    serve(scenario)
