"""The emulator playing an estate: every credential works in its own account (a project's token
in its project, a domain's token in none), `MOS` is never asked about by a careful walk of the
estate, and the counts and the rate limit are per account."""

from __future__ import annotations

from collections import Counter
from typing import Any

import aiohttp
import pytest
import yarl

from auditor.emulator import (
    DEFAULT_TOKEN,
    MOS,
    Behaviour,
    EmulatorConfig,
    Fleet,
    RunningEmulator,
    create_app,
)
from tests.emulator.test_estate import (
    ESTATE,
    ESTATE_FLEET,
    HOME,
    REFUSING,
    TRUSTING,
    assume_role_body,
    call,
    domain_token,
    password_body,
    password_token,
    project_of,
    serve_estate,
    signed,
)
from tests.emulator.test_server import tracing_url

INVALID_TOKEN = {"error_code": "FSS.0403", "error_msg": "invalid token"}
BAD_SIGNATURE = {
    "error_code": "APIG.0301",
    "error_msg": "Incorrect IAM authentication information: verify aksk signature fail",
}


def configured(account: Any, project_name: str) -> Any:
    project_id = project_of(account, project_name)
    return next(
        f
        for f in ESTATE_FLEET.functions
        if f.urn.project_id == project_id and f.behaviour is Behaviour.CONFIGURED
    )


HOME_FN = configured(HOME, "cn-north-4")
HOME_OPS_FN = configured(HOME, "cn-north-4_ops")
OTHER_FN = configured(TRUSTING, "cn-north-4")


async def status_of(
    session: aiohttp.ClientSession,
    emulator: RunningEmulator,
    function: Any,
    headers: dict[str, str],
) -> tuple[int, Any]:
    status, body, _ = await call(session, "GET", tracing_url(emulator, str(function.urn)), headers)
    return status, body


# --- credentials stay in their account ---------------------------------------------------------


def test_functiongraph_refuses_a_domain_scoped_token() -> None:
    async def scenario(emulator: RunningEmulator, session: aiohttp.ClientSession) -> None:
        headers = {"X-Auth-Token": await domain_token(session, emulator)}
        assert await status_of(session, emulator, HOME_FN, headers) == (403, INVALID_TOKEN)
        listing = f"{emulator.url}/v2/{HOME_FN.urn.project_id}/fgs/functions"
        assert (await call(session, "GET", listing, headers))[:2] == (403, INVALID_TOKEN)
        assert emulator.stats.auth_failures_by_project == Counter({HOME_FN.urn.project_id: 2})
        assert emulator.stats.domain_tokens_issued == Counter({HOME.name: 1})
        assert not emulator.stats.tokens_issued

    serve_estate(scenario)


def test_a_project_token_works_in_its_own_project_only() -> None:
    async def scenario(emulator: RunningEmulator, session: aiohttp.ClientSession) -> None:
        scope = {"project": {"id": HOME_FN.urn.project_id}}
        headers = {"X-Auth-Token": await password_token(session, emulator, scope)}
        assert (await status_of(session, emulator, HOME_FN, headers))[0] == 200
        for elsewhere in (HOME_OPS_FN, OTHER_FN):
            assert await status_of(session, emulator, elsewhere, headers) == (403, INVALID_TOKEN)

    serve_estate(scenario)


def test_the_home_user_gets_tokens_for_its_own_account_only() -> None:
    async def scenario(emulator: RunningEmulator, session: aiohttp.ClientSession) -> None:
        url = f"{emulator.url}/v3/auth/tokens?nocatalog=true"
        other_project = {"project": {"id": OTHER_FN.urn.project_id}}
        status, body, _ = await call(session, "POST", url, body=password_body(other_project))
        assert (status, body["error"]["code"]) == (400, 400)
        other_domain = {"domain": {"name": TRUSTING.name}}
        status, body, response = await call(session, "POST", url, body=password_body(other_domain))
        assert (status, body["error"]["code"]) == (401, 401)
        assert "X-Subject-Token" not in response.headers
        by_id = {"domain": {"id": HOME.domain_id}}
        status, body, _ = await call(session, "POST", url, body=password_body(by_id))
        assert status == 201
        assert body["token"]["domain"] == {"id": HOME.domain_id, "name": HOME.name}
        assert body["token"]["methods"] == ["password"]
        assert "project" not in body["token"]

    serve_estate(scenario)


def test_the_all_projects_token_and_the_access_key_are_the_home_accounts() -> None:
    async def scenario(emulator: RunningEmulator, session: aiohttp.ClientSession) -> None:
        token = {"X-Auth-Token": DEFAULT_TOKEN}
        assert (await status_of(session, emulator, HOME_OPS_FN, token))[0] == 200
        assert await status_of(session, emulator, OTHER_FN, token) == (403, INVALID_TOKEN)
        for function, expected in ((HOME_OPS_FN, 200), (OTHER_FN, 401)):
            url = tracing_url(emulator, str(function.urn))
            headers = signed(url, project_id=function.urn.project_id)
            status, body, _ = await call(session, "GET", url, headers)
            assert status == expected
        assert body == BAD_SIGNATURE  # and it counts against the key, as a rejected project

    serve_estate(scenario)


def test_create_app_refuses_a_fleet_that_is_not_the_estates() -> None:
    with pytest.raises(ValueError, match=r"build the fleet with Estate\.fleet"):
        create_app(Fleet.generate(10, seed=4), estate=ESTATE)


# --- MOS and the per-account counts ------------------------------------------------------------


async def walk_the_estate(emulator: RunningEmulator, session: aiohttp.ClientSession) -> int:
    """What a careful auditor does: list each reachable account's projects, skip MOS, take an
    agency token per project (the home user's own token at home), list its functions and ask
    for each one's tracing. Returns how many functions it asked about."""
    home_token = await domain_token(session, emulator)
    asked = 0
    for account in ESTATE.accounts:
        if account is HOME:
            lister = home_token
        else:
            url = f"{emulator.url}/v3/auth/tokens"
            body = assume_role_body(account, {"domain": {"name": account.name}})
            status, _, response = await call(
                session, "POST", url, {"X-Auth-Token": home_token}, body=body
            )
            if status != 201:
                continue
            lister = response.headers["X-Subject-Token"]
        status, listing, _ = await call(
            session, "GET", f"{emulator.url}/v3/auth/projects", {"X-Auth-Token": lister}
        )
        assert status == 200
        for project in listing["projects"]:
            if project["name"] == MOS:
                continue
            scope = {"project": {"id": project["id"]}}
            if account is HOME:
                token = await password_token(session, emulator, scope)
            else:
                body = assume_role_body(account, scope)
                url = f"{emulator.url}/v3/auth/tokens"
                _, _, response = await call(
                    session, "POST", url, {"X-Auth-Token": home_token}, body=body
                )
                token = response.headers["X-Subject-Token"]
            headers = {"X-Auth-Token": token}
            url = f"{emulator.url}/v2/{project['id']}/fgs/functions?maxitems=400"
            status, functions, _ = await call(session, "GET", url, headers)
            assert status == 200
            for function in functions["functions"]:
                urn = function["func_urn"]
                status, _, _ = await call(session, "GET", tracing_url(emulator, urn), headers)
                assert status in {200, 404, 500}
                asked += 1
    return asked


def test_a_careful_walk_of_the_estate_never_asks_about_mos() -> None:
    async def scenario(emulator: RunningEmulator, session: aiohttp.ClientSession) -> None:
        asked = await walk_the_estate(emulator, session)
        reachable = {p.id for a in (HOME, TRUSTING) for p in a.projects}
        listed = [
            f
            for f in ESTATE_FLEET.functions
            if f.urn.project_id in reachable and f.behaviour is not Behaviour.DELETED
        ]
        assert asked == len(listed)
        stats = emulator.stats
        assert stats.mos_requests == 0
        # Each reachable project: one listing and its functions; none in the refusing account.
        assert set(stats.by_account) == {HOME.name, TRUSTING.name}
        per_account = Counter(
            ESTATE.account_of(f.urn.project_id).name  # type: ignore[union-attr]
            for f in listed
        )
        assert stats.by_account == Counter(
            {name: per_account[name] + 4 for name in (HOME.name, TRUSTING.name)}
        )
        assert stats.agency_refusals == Counter({REFUSING.name: 1})
        assert stats.agency_tokens_issued == Counter({TRUSTING.name: 5})  # a domain's, 4 projects'
        assert stats.iam_listing_requests == Counter({"/v3/auth/projects": 2})
        async with session.get(emulator.url + "/_emulator/stats") as response:
            summary = (await response.json())["estate"]
        assert summary["mos_requests"] == 0
        assert summary["by_account"] == dict(sorted(stats.by_account.items()))
        assert set(summary) == {
            "by_account",
            "throttled_by_account",
            "mos_requests",
            "iam_listing_requests",
            "iam_auth_failures",
            "domain_tokens_issued",
            "agency_tokens_issued",
            "security_token_requests",
            "temporary_keys_issued",
            "agency_refusals",
        }
        # One careless ask is seen: a token scoped to MOS, and ListFunctions there.
        mos = project_of(HOME, MOS)
        token = await password_token(session, emulator, {"project": {"id": mos}})
        listing = f"{emulator.url}/v2/{mos}/fgs/functions"
        status, body, _ = await call(session, "GET", listing, {"X-Auth-Token": token})
        assert (status, body["functions"]) == (200, [])
        assert stats.mos_requests == 2

    serve_estate(scenario)


def test_a_stats_reset_clears_the_estate_counts_but_keeps_the_estate() -> None:
    async def scenario(emulator: RunningEmulator, session: aiohttp.ClientSession) -> None:
        await walk_the_estate(emulator, session)
        async with session.post(emulator.url + "/_emulator/stats/reset") as response:
            summary = await response.json()
        assert summary["estate"]["by_account"] == {}
        assert summary["estate"]["agency_refusals"] == {}
        assert summary["estate"]["mos_requests"] == 0

    serve_estate(scenario)


# --- the rate limit is per account -------------------------------------------------------------


def test_each_account_has_its_own_rate_limit_window() -> None:
    async def scenario(emulator: RunningEmulator, session: aiohttp.ClientSession) -> None:
        iam = f"{emulator.url}/v3/auth/tokens"
        scope = {"project": {"id": OTHER_FN.urn.project_id}}
        _, _, response = await call(
            session,
            "POST",
            iam,
            {"X-Auth-Token": DEFAULT_TOKEN},
            body=assume_role_body(scope=scope),
        )
        agency = {"X-Auth-Token": response.headers["X-Subject-Token"]}
        keys_url = f"{emulator.url}/v3.0/OS-CREDENTIAL/securitytokens"
        _, body, _ = await call(
            session, "POST", keys_url, {"X-Auth-Token": DEFAULT_TOKEN}, body=assume_role_body()
        )
        credential = body["credential"]
        other_url = tracing_url(emulator, str(OTHER_FN.urn))

        def temporary() -> dict[str, str]:
            return signed(
                other_url,
                project_id=OTHER_FN.urn.project_id,
                ak=credential["access"],
                sk=credential["secret"],
                security_token=credential["securitytoken"],
            )

        home = {"X-Auth-Token": DEFAULT_TOKEN}
        # Two per second per account: the home token's two, then the other account's two,
        # shared by its agency token and its temporary keys (one agency user).
        statuses = [
            (await status_of(session, emulator, HOME_FN, home))[0],
            (await status_of(session, emulator, HOME_FN, home))[0],
            (await status_of(session, emulator, OTHER_FN, agency))[0],
            (await call(session, "GET", other_url, temporary()))[0],
            (await status_of(session, emulator, OTHER_FN, agency))[0],
            (await call(session, "GET", other_url, temporary()))[0],
            (await status_of(session, emulator, HOME_FN, home))[0],
        ]
        assert statuses == [200, 200, 200, 200, 429, 429, 429]
        stats = emulator.stats
        assert stats.throttled_by_account == Counter({TRUSTING.name: 2, HOME.name: 1})
        assert stats.by_account == Counter({TRUSTING.name: 4, HOME.name: 3})

    serve_estate(scenario, config=EmulatorConfig(rate_limit=2))


def test_an_iam_listing_url_signs_like_any_other() -> None:
    # The query is part of what is signed: another page is another request.
    async def scenario(emulator: RunningEmulator, session: aiohttp.ClientSession) -> None:
        first = yarl.URL(f"{emulator.url}/v3/projects?page=1&per_page=2")
        second = yarl.URL(f"{emulator.url}/v3/projects?page=2&per_page=2")
        headers = signed(first, domain_id=HOME.domain_id)
        assert (await call(session, "GET", first, headers))[0] == 200
        status, body, _ = await call(session, "GET", second, headers)
        assert (status, body["error_code"]) == (401, "APIG.0301")

    serve_estate(scenario)
