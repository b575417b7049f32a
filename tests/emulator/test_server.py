"""The emulator's server, against a real server on 127.0.0.1 with a real aiohttp client.

The helpers here (`serve`, `fetch`, `tracing_url`, ...) are shared with test_faults.
"""

from __future__ import annotations

import asyncio
import itertools
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
    MAX_ITEMS,
    Behaviour,
    EmulatedFunction,
    EmulatorConfig,
    Fault,
    Fleet,
    RunningEmulator,
    Stats,
    running_emulator,
)
from auditor.source.urn import parse_urn

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


async def fetch_raw(
    session: aiohttp.ClientSession, url: yarl.URL | str, timeout: float = 5.0
) -> tuple[int, bytes, aiohttp.ClientResponse]:
    """Like `fetch`, for answers that may not be JSON."""
    client_timeout = aiohttp.ClientTimeout(total=timeout)
    async with session.get(url, headers=AUTH, timeout=client_timeout) as response:
        return response.status, await response.read(), response


def first(behaviour: Behaviour, qualified: bool = False) -> EmulatedFunction:
    return next(
        f
        for f in FLEET.functions
        if f.behaviour is behaviour and bool(f.urn.qualifier) == qualified
    )


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
        statuses = []
        for _ in range(4):
            status, body, _ = await fetch(session, tracing_url(emulator, str(function.urn)))
            statuses.append(status)
        assert statuses == [200, 200, 200, 429]
        assert body == {"error_code": "APIG.0308", "error_msg": "The request is throttled."}
        status, _, _ = await fetch(session, tracing_url(emulator, str(elsewhere.urn)))
        assert status == 200

    serve(scenario, config=EmulatorConfig(rate_limit=3, rate_limit_scope="project"))


def test_rate_limit_is_a_sliding_window() -> None:
    """Full at once, refilled only as admitted requests turn a second old, never 2x at a seam."""
    function = first(Behaviour.CONFIGURED)

    async def scenario(emulator: RunningEmulator, session: aiohttp.ClientSession) -> None:
        loop = asyncio.get_running_loop()
        url = tracing_url(emulator, str(function.urn))
        statuses = [(await fetch_raw(session, url))[0] for _ in range(11)]
        assert statuses == [200] * 10 + [429]
        # The server shares this loop, so its clock and ours agree.
        opened = emulator.stats.accepted[0]
        while loop.time() < emulator.stats.accepted[9] + 1.2:
            statuses.append((await fetch_raw(session, url))[0])
            await asyncio.sleep(0.02)
        arrivals = emulator.stats.arrivals
        assert len(arrivals) == len(statuses)
        tenth = emulator.stats.accepted[9]
        for arrived, status in zip(arrivals[10:], statuses[10:], strict=True):
            if arrived < opened + 1.0:
                assert status == 429
        # Once the burst is a second old, the window has room again.
        after = [s for a, s in zip(arrivals, statuses, strict=True) if a >= tenth + 1.0]
        assert after[0] == 200
        assert emulator.stats.max_in_window(1.0, accepted=True) == 10
        assert len(emulator.stats.accepted) == statuses.count(200)

    serve(scenario, config=EmulatorConfig(rate_limit=10))


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


async def list_pages(
    emulator: RunningEmulator,
    session: aiohttp.ClientSession,
    project_id: str,
    maxitems: int = MAX_ITEMS,
) -> list[dict[str, Any]]:
    """Every ListFunctions page of `project_id`, by DESIGN.md's stop rules (the stopping page
    included, so a test sees it)."""
    pages: list[dict[str, Any]] = []
    marker = 0
    while True:
        url = f"{emulator.url}/v2/{project_id}/fgs/functions?marker={marker}&maxitems={maxitems}"
        status, body, _ = await fetch(session, url)
        assert status == 200, body
        pages.append(body)
        next_marker = body.get("next_marker") or 0
        if not body["functions"] or next_marker in (0, marker) or next_marker >= body["count"]:
            return pages
        marker = next_marker


def one_project_fleet(functions: int) -> Fleet:
    """`functions` listed functions, all in one project and region."""
    return Fleet.generate(functions, seed=3, projects=1, regions=("cn-north-4",), mix=LISTED)


LISTED = {"configured": 0.8, "missing_keys": 0.2}


@pytest.mark.parametrize(
    ("functions", "page_sizes"),
    [(0, [0]), (1, [1]), (400, [400]), (401, [400, 1]), (1000, [400, 400, 200])],
)
def test_list_functions_page_boundaries(functions: int, page_sizes: list[int]) -> None:
    fleet = one_project_fleet(functions)
    project_id = fleet.project_ids[0]

    async def scenario(emulator: RunningEmulator, session: aiohttp.ClientSession) -> None:
        pages = await list_pages(emulator, session, project_id)
        assert [len(p["functions"]) for p in pages] == page_sizes
        assert [p["count"] for p in pages] == [functions] * len(pages)
        assert [p["next_marker"] for p in pages] == list(itertools.accumulate(page_sizes))
        assert pages[-1]["next_marker"] == functions  # the last page: next_marker == count
        listed = [item["func_urn"] for p in pages for item in p["functions"]]
        assert listed == [f.urn.unqualified for f in fleet.functions]
        # One page further: empty, and next_marker stays where it was.
        url = f"{emulator.url}/v2/{project_id}/fgs/functions?marker={functions}&maxitems=400"
        status, body, _ = await fetch(session, url)
        assert (status, body) == (
            200,
            {"functions": [], "next_marker": functions, "count": functions},
        )

    serve(scenario, fleet)


def test_list_functions_of_an_unknown_project_is_an_empty_list() -> None:
    # A project the caller may use but that has no functions here: FunctionGraph lists nothing.
    unknown = "0" * 32

    async def scenario(emulator: RunningEmulator, session: aiohttp.ClientSession) -> None:
        pages = await list_pages(emulator, session, unknown)
        assert pages == [{"functions": [], "next_marker": 0, "count": 0}]

    serve(scenario)


@pytest.mark.parametrize(
    ("marker", "maxitems"), [(0, 1), (0, 400), (399, 400), (400, 1), (401, 5), (10**6, 400)]
)
def test_list_functions_paging_bounds(marker: int, maxitems: int) -> None:
    fleet = one_project_fleet(401)
    project_id = fleet.project_ids[0]
    expected = [f.urn.unqualified for f in fleet.functions][marker : marker + maxitems]

    async def scenario(emulator: RunningEmulator, session: aiohttp.ClientSession) -> None:
        url = f"{emulator.url}/v2/{project_id}/fgs/functions?marker={marker}&maxitems={maxitems}"
        status, body, _ = await fetch(session, url)
        assert status == 200
        assert [item["func_urn"] for item in body["functions"]] == expected
        assert (body["next_marker"], body["count"]) == (marker + len(expected), 401)

    serve(scenario, fleet)


def test_discovery_of_three_projects_of_1000_functions() -> None:
    fleet = Fleet.generate(3000, seed=5, projects=3, regions=("cn-north-4",), mix=LISTED)

    async def scenario(emulator: RunningEmulator, session: aiohttp.ClientSession) -> None:
        found: list[str] = []
        for project_id in fleet.project_ids:
            pages = await list_pages(emulator, session, project_id)
            assert [len(p["functions"]) for p in pages] == [400, 400, 200]
            found += [item["func_urn"] for p in pages for item in p["functions"]]
        assert len(found) == len(set(found)) == 3000
        assert set(found) == {f.urn.unqualified for f in fleet.functions}

    serve(scenario, fleet)


# --- a fleet's next generation -----------------------------------------------------------------

GEN1 = Fleet.generate(300, seed=7, generation=1)


def test_a_generation_serves_its_drift() -> None:
    drift = GEN1.drift
    assert drift.removed and drift.fixed and drift.regressed and drift.added

    async def listed(emulator: RunningEmulator, session: aiohttp.ClientSession) -> set[str]:
        urns: set[str] = set()
        for project_id in GEN1.project_ids:
            pages = await list_pages(emulator, session, project_id, maxitems=50)
            urns |= {item["func_urn"] for p in pages for item in p["functions"]}
        return urns

    async def scenario(emulator: RunningEmulator, session: aiohttp.ClientSession) -> None:
        listing = await listed(emulator, session)
        assert listing == {
            f.urn.unqualified for f in GEN1.functions if f.behaviour is not Behaviour.DELETED
        }
        for urn in drift.removed:
            assert parse_urn(urn).unqualified not in listing
            status, body, _ = await fetch(session, tracing_url(emulator, urn))
            assert (status, body["error_code"]) == (404, "FSS.1051")
        for urn in drift.fixed:
            status, body, _ = await fetch(session, tracing_url(emulator, urn))
            assert status == 200 and body["tracing_ak"], urn
        for urn in drift.regressed:
            status, body, _ = await fetch(session, tracing_url(emulator, urn))
            assert (status, body["error_code"]) == (404, "FSS.0404")
        for urn in drift.added:
            function = GEN1.lookup(parse_urn(urn).unqualified)
            assert function is not None and function.urn.unqualified in listing
            status, _, _ = await fetch(session, tracing_url(emulator, urn))
            assert status == ANSWERS[function.behaviour][0]

    async def generation_0(emulator: RunningEmulator, session: aiohttp.ClientSession) -> None:
        # The same URNs against generation 0: the changes are real changes.
        for urn in drift.removed:
            _, body, _ = await fetch(session, tracing_url(emulator, urn))
            assert body.get("error_code") != "FSS.1051"
        for urn in drift.added:
            status, body, _ = await fetch(session, tracing_url(emulator, urn))
            assert (status, body["error_code"]) == (404, "FSS.1051")
        for urn in drift.regressed:
            status, body, _ = await fetch(session, tracing_url(emulator, urn))
            assert status == 200 and body["tracing_ak"]

    serve(scenario, GEN1)
    serve(generation_0, FLEET)


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


def test_by_urn_counts_qualified_requests_under_the_unqualified_urn() -> None:
    function = first(Behaviour.CONFIGURED, qualified=True)

    async def scenario(emulator: RunningEmulator, session: aiohttp.ClientSession) -> None:
        for urn in (str(function.urn), function.urn.unqualified, "not-a-urn"):
            await fetch_raw(session, tracing_url(emulator, urn, function.urn.project_id))
        assert emulator.stats.by_urn == Counter({function.urn.unqualified: 2})
        assert not emulator.stats.by_fault

    serve(scenario)


def test_running_emulator_listens_on_loopback() -> None:
    async def scenario(emulator: RunningEmulator, session: aiohttp.ClientSession) -> None:
        assert emulator.port > 0
        assert emulator.url == f"http://127.0.0.1:{emulator.port}"
        assert emulator.fleet is FLEET

    serve(scenario)


# --- /_emulator: the emulator's own routes ---------------------------------------------------


async def emulator_route(
    session: aiohttp.ClientSession, emulator: RunningEmulator, method: str, path: str
) -> tuple[int, Any]:
    """Call an `/_emulator` route without credentials: it needs none."""
    async with session.request(method, emulator.url + path) as response:
        return response.status, await response.json()


def test_stats_summary_counts_repeats_and_peaks() -> None:
    stats = Stats(
        requests=9,
        by_status=Counter({503: 1, 200: 6, 404: 2}),
        arrivals=[0.0, 0.1, 0.2, 0.3, 2.0, 2.1],
        accepted=[0.0, 0.1, 2.0],
        by_urn=Counter({"a": 3, "b": 1, "c": 2}),
        by_fault=Counter({"slow": 1, "html_502": 2}),
        by_project=Counter({"q": 2, "p": 7}),
        auth_failures_by_project=Counter({"q": 2}),
        aksk_locks=1,
        iam_requests=3,
        tokens_issued=Counter({"q": 1, "p": 1}),
        update_requests=4,
        updates_by_urn=Counter({"b": 1, "a": 2}),
        apm_requests=1,
        throttled=[0.2, 0.3],
        clock_start=0.0,
        rate_limit_scope="project",
        rate_limit_schedule=((0.0, 2), (1.5, None)),
    )
    summary = stats.summary()
    assert summary == {
        "requests": 9,
        "tracing_requests": 6,
        "by_status": {"200": 6, "404": 2, "503": 1},
        "by_fault": {"html_502": 2, "slow": 1},
        "max_in_any_1s": 4,
        "max_accepted_in_any_1s": 2,
        "asked_more_than_once": 2,
        "extra_asks": 3,
        "by_project": {"p": 7, "q": 2},
        "auth_failures_by_project": {"q": 2},
        "aksk_locks": 1,
        "iam_requests": 3,
        "tokens_issued": {"p": 1, "q": 1},
        "update_requests": 4,
        "updates": 3,
        "updates_by_urn": {"a": 2, "b": 1},
        "apm_requests": 1,
        "timeline": {"accepted": [2, 0, 1], "throttled": [2, 0, 0]},
        "rate_limit": {"scope": "project", "schedule": [[0, 2], [1.5, None]]},
    }
    assert str(summary["by_status"]) == "{'200': 6, '404': 2, '503': 1}"  # sorted by code
    assert str(summary["by_project"]) == "{'p': 7, 'q': 2}"  # sorted by project
    assert Stats().summary()["extra_asks"] == 0


def test_stats_reset_clears_every_field_in_place() -> None:
    stats = Stats(
        requests=3,
        by_project=Counter({"p": 3}),
        by_status=Counter({200: 3}),
        arrivals=[0.0, 0.5],
        accepted=[0.0],
        by_urn=Counter({"a": 2}),
        by_fault=Counter({"reset": 1}),
        auth_failures_by_project=Counter({"p": 1}),
        aksk_locks=1,
        iam_requests=2,
        tokens_issued=Counter({"p": 1}),
        update_requests=2,
        updates_by_urn=Counter({"a": 1}),
        apm_requests=1,
        throttled=[0.7],
        clock_start=0.0,
        rate_limit_schedule=((0.0, 2),),
    )
    arrivals = stats.arrivals
    stats.reset()
    # What the server applies is not something it saw: a reset keeps it.
    assert stats == Stats(rate_limit_schedule=((0.0, 2),))
    assert stats.arrivals is arrivals  # holders of the old lists see the reset too


def test_stats_route_serves_what_the_server_saw_without_counting_itself() -> None:
    configured, missing = first(Behaviour.CONFIGURED), first(Behaviour.MISSING_KEYS)
    flaky = [f for f in FLEET.functions if f.behaviour is Behaviour.CONFIGURED][1]
    config = EmulatorConfig(function_faults={flaky.urn.unqualified: Fault.HTML_502}, fault_times=1)

    asked = (configured, configured, flaky, flaky, missing)
    projects = Counter(f.urn.project_id for f in (*asked, configured))  # and one listing

    async def scenario(emulator: RunningEmulator, session: aiohttp.ClientSession) -> None:
        for function in asked:
            await fetch_raw(session, tracing_url(emulator, str(function.urn)))
        await fetch(session, f"{emulator.url}/v2/{configured.urn.project_id}/fgs/functions")
        await fetch(session, emulator.url + "/v1/nothing")
        status, body = await emulator_route(session, emulator, "GET", "/_emulator/stats")
        assert status == 200
        assert body == {
            "requests": 7,
            "tracing_requests": 5,
            "by_status": {"200": 4, "404": 2, "502": 1},
            "by_fault": {"html_502": 1},
            "max_in_any_1s": emulator.stats.max_in_window(1.0),
            "max_accepted_in_any_1s": emulator.stats.max_in_window(1.0, accepted=True),
            "asked_more_than_once": 2,
            "extra_asks": 2,
            "by_project": dict(sorted(projects.items())),
            "auth_failures_by_project": {},
            "aksk_locks": 0,
            "iam_requests": 0,
            "tokens_issued": {},
            "update_requests": 0,
            "updates": 0,
            "updates_by_urn": {},
            "apm_requests": 0,
            # Without a limit the clock starts at the first tracing request; none is throttled.
            "timeline": emulator.stats.timeline(),
            "rate_limit": None,
        }
        assert sum(body["timeline"]["accepted"]) == 5
        assert not any(body["timeline"]["throttled"])
        assert 1 <= body["max_in_any_1s"] <= 5
        # Neither the stats route, nor a wrong path or method under /_emulator, is counted.
        for method, path, want in [
            ("GET", "/_emulator/stats", 200),
            ("POST", "/_emulator/stats", 404),
            ("GET", "/_emulator/stats/reset", 404),
            ("GET", "/_emulator/nothing", 404),
            ("DELETE", "/_emulator/", 404),
        ]:
            status, _ = await emulator_route(session, emulator, method, path)
            assert status == want, (method, path)
        assert (await emulator_route(session, emulator, "GET", "/_emulator/stats"))[1] == body
        assert emulator.stats.by_status == Counter({200: 4, 404: 2, 502: 1})

    serve(scenario, config=config)


def test_stats_reset_route_starts_a_fresh_measurement() -> None:
    function = first(Behaviour.CONFIGURED)
    config = EmulatorConfig(rate_limit=2)

    async def scenario(emulator: RunningEmulator, session: aiohttp.ClientSession) -> None:
        url = tracing_url(emulator, str(function.urn))
        for _ in range(3):
            await fetch_raw(session, url)
        before = emulator.stats
        status, body = await emulator_route(session, emulator, "POST", "/_emulator/stats/reset")
        assert status == 200
        applied = {"scope": "user", "schedule": [[0, 2]]}
        assert body == {**Stats().summary(), "rate_limit": applied}
        assert emulator.stats is before
        assert emulator.stats == Stats(rate_limit_schedule=((0.0, 2),))
        # Only Stats is cleared: the rate limit's window still holds the first second.
        assert (await fetch_raw(session, url))[0] == 429
        _, body = await emulator_route(session, emulator, "GET", "/_emulator/stats")
        assert (body["requests"], body["tracing_requests"]) == (1, 1)
        assert body["by_status"] == {"429": 1}
        assert (body["max_in_any_1s"], body["max_accepted_in_any_1s"]) == (1, 0)
        assert (body["asked_more_than_once"], body["extra_asks"]) == (0, 0)
        # The clock restarted at that request.
        assert body["timeline"] == {"accepted": [0], "throttled": [1]}
        assert body["rate_limit"] == applied

    serve(scenario, config=config)
