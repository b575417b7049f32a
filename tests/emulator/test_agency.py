"""Agencies on an emulated estate: agency tokens (`assume_role` at `POST /v3/auth/tokens`) and
temporary keys (`POST /v3.0/OS-CREDENTIAL/securitytokens`), which work in the delegating account
only, an agency that refuses, and temporary keys that expire on the wall clock."""

from __future__ import annotations

import json
import re
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
import yarl

from auditor.emulator import DEFAULT_AGENCY, DEFAULT_TOKEN, DEFAULT_USER, Behaviour, RunningEmulator
from auditor.emulator.access_keys import AccessKey
from auditor.emulator.agency import MAX_DURATION_S, MIN_DURATION_S, parse_assume_role
from auditor.emulator.iam import EXPIRES_FORMAT
from tests.emulator.test_estate import (
    ESTATE_FLEET,
    HOME,
    REFUSING,
    TRUSTING,
    assume_role_body,
    call,
    domain_token,
    project_of,
    serve_estate,
    signed,
)
from tests.emulator.test_server import tracing_url
from tests.factories import WallClock

FORBIDDEN_TITLE = "Forbidden"
INVALID_TOKEN = {"error_code": "FSS.0403", "error_msg": "invalid token"}


def function_in(account: Any, project_name: str) -> Any:
    """A CONFIGURED function of `account`'s project `project_name`: 200 when let in."""
    project_id = project_of(account, project_name)
    return next(
        f
        for f in ESTATE_FLEET.functions
        if f.urn.project_id == project_id and f.behaviour is Behaviour.CONFIGURED
    )


async def agency_token(
    session: aiohttp.ClientSession,
    emulator: RunningEmulator,
    scope: dict[str, Any],
    caller: str = DEFAULT_TOKEN,
    **kwargs: Any,
) -> tuple[int, Any, aiohttp.ClientResponse]:
    url = f"{emulator.url}/v3/auth/tokens?nocatalog=true"
    headers = {"X-Auth-Token": caller}
    return await call(session, "POST", url, headers, body=assume_role_body(scope=scope, **kwargs))


async def temporary_keys(
    session: aiohttp.ClientSession,
    emulator: RunningEmulator,
    headers: dict[str, str] | None = None,
    **kwargs: Any,
) -> tuple[int, Any, aiohttp.ClientResponse]:
    url = f"{emulator.url}/v3.0/OS-CREDENTIAL/securitytokens"
    body = assume_role_body(**kwargs)
    return await call(session, "POST", url, headers or {"X-Auth-Token": DEFAULT_TOKEN}, body=body)


async def tracing_status(
    session: aiohttp.ClientSession,
    emulator: RunningEmulator,
    function: Any,
    headers: dict[str, str],
) -> tuple[int, Any]:
    status, body, _ = await call(session, "GET", tracing_url(emulator, str(function.urn)), headers)
    return status, body


# --- agency tokens -----------------------------------------------------------------------------


def test_an_agency_token_works_in_its_project_only() -> None:
    function = function_in(TRUSTING, "cn-north-4_ops")
    project_id = function.urn.project_id

    async def scenario(emulator: RunningEmulator, session: aiohttp.ClientSession) -> None:
        before = datetime.now(UTC)
        status, body, response = await agency_token(
            session, emulator, {"project": {"id": project_id}}
        )
        assert status == 201, body
        token = response.headers["X-Subject-Token"]
        facts = body["token"]
        assert facts["methods"] == ["assume_role"]
        domain = {"id": TRUSTING.domain_id, "name": TRUSTING.name}
        assert facts["project"] == {"id": project_id, "name": "cn-north-4_ops", "domain": domain}
        assert facts["user"] == {"name": f"{TRUSTING.name}/{DEFAULT_AGENCY}", "domain": domain}
        assert facts["assumed_by"]["user"]["name"] == DEFAULT_USER
        assert facts["assumed_by"]["user"]["domain"]["id"] == HOME.domain_id
        expires = datetime.strptime(facts["expires_at"], EXPIRES_FORMAT).replace(tzinfo=UTC)
        assert timedelta(hours=23) < expires - before <= timedelta(hours=24, seconds=2)
        assert "catalog" not in facts
        headers = {"X-Auth-Token": token}
        assert (await tracing_status(session, emulator, function, headers))[0] == 200
        listing = f"{emulator.url}/v2/{project_id}/fgs/functions"
        assert (await call(session, "GET", listing, headers))[0] == 200
        # Another project of the same account, a home project: refused like any wrong token.
        for elsewhere in (function_in(TRUSTING, "cn-north-4"), function_in(HOME, "cn-north-4_ops")):
            assert await tracing_status(session, emulator, elsewhere, headers) == (
                403,
                INVALID_TOKEN,
            )
        stats = emulator.stats
        assert stats.agency_tokens_issued == Counter({TRUSTING.name: 1})
        assert stats.tokens_issued == Counter({project_id: 1})
        assert not stats.agency_refusals

    serve_estate(scenario)


def test_an_agency_token_by_domain_id_and_project_name() -> None:
    async def scenario(emulator: RunningEmulator, session: aiohttp.ClientSession) -> None:
        scope = {"project": {"name": "ap-southeast-1"}}
        status, body, response = await agency_token(session, emulator, scope, by_id=True)
        assert status == 201, body
        assert body["token"]["project"]["id"] == project_of(TRUSTING, "ap-southeast-1")
        function = function_in(TRUSTING, "ap-southeast-1")
        headers = {"X-Auth-Token": response.headers["X-Subject-Token"]}
        assert (await tracing_status(session, emulator, function, headers))[0] == 200

    serve_estate(scenario)


def test_a_domain_scoped_agency_token_lists_its_account_and_nothing_else() -> None:
    async def scenario(emulator: RunningEmulator, session: aiohttp.ClientSession) -> None:
        scope = {"domain": {"name": TRUSTING.name}}
        status, body, response = await agency_token(session, emulator, scope)
        assert status == 201, body
        assert body["token"]["domain"] == {"id": TRUSTING.domain_id, "name": TRUSTING.name}
        assert "project" not in body["token"]
        headers = {"X-Auth-Token": response.headers["X-Subject-Token"]}
        for path in ("/v3/auth/projects", "/v3/projects"):
            status, body, _ = await call(session, "GET", emulator.url + path, headers)
            assert status == 200
            assert [p["id"] for p in body["projects"]] == [p.id for p in TRUSTING.projects]
        status, body, _ = await call(session, "GET", f"{emulator.url}/v3/auth/domains", headers)
        assert [d["name"] for d in body["domains"]] == [TRUSTING.name]
        function = function_in(TRUSTING, "cn-north-4")
        assert await tracing_status(session, emulator, function, headers) == (403, INVALID_TOKEN)
        assert emulator.stats.domain_tokens_issued == Counter({TRUSTING.name: 1})

    serve_estate(scenario)


@pytest.mark.parametrize(
    ("kwargs", "asked"),
    [
        ({"account": REFUSING}, REFUSING.name),  # the agency trusts nobody
        ({"agency": "no-such-agency"}, TRUSTING.name),
        ({"account": HOME}, HOME.name),  # the home account needs no agency and has none
    ],
)
def test_an_agency_that_does_not_trust_the_home_account_refuses(
    kwargs: dict[str, Any], asked: str
) -> None:
    async def scenario(emulator: RunningEmulator, session: aiohttp.ClientSession) -> None:
        account = kwargs.get("account", TRUSTING)
        scope = {"project": {"id": account.projects[0].id}}
        status, body, response = await agency_token(session, emulator, scope, **kwargs)
        assert (status, body["error"]["code"], body["error"]["title"]) == (
            403,
            403,
            FORBIDDEN_TITLE,
        )
        assert "X-Subject-Token" not in response.headers
        status, body, _ = await temporary_keys(session, emulator, **kwargs)
        assert (status, body["error"]["code"]) == (403, 403)
        assert "credential" not in body
        stats = emulator.stats
        assert stats.agency_refusals == Counter({asked: 2})
        assert not stats.agency_tokens_issued and not stats.temporary_keys_issued

    serve_estate(scenario)


def test_an_unknown_account_is_refused_and_counted_as_asked() -> None:
    class Nobody:
        name = "nobody-domain"
        domain_id = "f" * 32

    async def scenario(emulator: RunningEmulator, session: aiohttp.ClientSession) -> None:
        status, _, _ = await temporary_keys(session, emulator, account=Nobody)
        assert status == 403
        status, _, _ = await temporary_keys(session, emulator, account=Nobody, by_id=True)
        assert status == 403
        assert emulator.stats.agency_refusals == Counter({"nobody-domain": 1, "f" * 32: 1})

    serve_estate(scenario)


def test_only_the_home_accounts_own_token_may_assume_a_role() -> None:
    project_scope = {"project": {"id": TRUSTING.projects[0].id}}

    async def scenario(emulator: RunningEmulator, session: aiohttp.ClientSession) -> None:
        url = f"{emulator.url}/v3/auth/tokens"
        # A signature is not enough for a token; no credential, or a bad token, is 401.
        body = json.dumps(assume_role_body(scope=project_scope)).encode()
        headers = signed(url, method="POST", body=body, domain_id=HOME.domain_id)
        for sent in (headers, {}, {"X-Auth-Token": "forged"}):
            status, answer, _ = await call(session, "POST", url, sent, body=body)
            assert (status, answer["error"]["code"]) == (401, 401)
        assert emulator.stats.iam_auth_failures == 3
        # An agency token cannot assume a role again (no chains), nor get temporary keys.
        status, _, response = await agency_token(session, emulator, project_scope)
        delegated = response.headers["X-Subject-Token"]
        status, answer, _ = await agency_token(session, emulator, project_scope, caller=delegated)
        assert (status, answer["error"]["title"]) == (403, FORBIDDEN_TITLE)
        assert "cannot assume a role" in answer["error"]["message"]
        status, _, _ = await temporary_keys(session, emulator, {"X-Auth-Token": delegated})
        assert status == 403
        # A domain token of the home user may.
        token = await domain_token(session, emulator)
        assert (await agency_token(session, emulator, project_scope, caller=token))[0] == 201

    serve_estate(scenario)


@pytest.mark.parametrize(
    "scope",
    [
        {"project": {"id": HOME.projects[0].id}},  # another account's project
        {"project": {"name": "eu-west-0"}},
        {"domain": {"name": HOME.name}},
    ],
)
def test_an_agency_token_scoped_outside_its_account_is_400(scope: dict[str, Any]) -> None:
    async def scenario(emulator: RunningEmulator, session: aiohttp.ClientSession) -> None:
        status, body, _ = await agency_token(session, emulator, scope)
        assert (status, body["error"]["code"]) == (400, 400)
        assert "scope" in body["error"]["message"].lower()

    serve_estate(scenario)


def test_malformed_assume_role_requests_are_400() -> None:
    async def scenario(emulator: RunningEmulator, session: aiohttp.ClientSession) -> None:
        url = f"{emulator.url}/v3/auth/tokens"
        headers = {"X-Auth-Token": DEFAULT_TOKEN}
        no_scope = assume_role_body()
        no_agency = assume_role_body(scope={"domain": {"name": TRUSTING.name}})
        del no_agency["auth"]["identity"]["assume_role"]["agency_name"]
        for body in (no_scope, no_agency):
            status, answer, _ = await call(session, "POST", url, headers, body=body)
            assert (status, answer["error"]["code"]) == (400, 400)
        assert not emulator.stats.agency_refusals

    serve_estate(scenario)


# --- temporary keys ----------------------------------------------------------------------------


def test_temporary_keys_work_in_their_account_with_their_security_token() -> None:
    function = function_in(TRUSTING, "ap-southeast-1_ops")
    project_id = function.urn.project_id

    async def scenario(emulator: RunningEmulator, session: aiohttp.ClientSession) -> None:
        before = datetime.now(UTC)
        status, body, _ = await temporary_keys(session, emulator, duration=3600)
        assert status == 201, body
        credential = body["credential"]
        assert set(credential) == {"access", "secret", "securitytoken", "expires_at"}
        assert re.fullmatch(r"[A-Z0-9]{20}", credential["access"])
        expires = datetime.strptime(credential["expires_at"], EXPIRES_FORMAT).replace(tzinfo=UTC)
        assert timedelta(minutes=59) < expires - before <= timedelta(hours=1, seconds=2)
        keys = {"ak": credential["access"], "sk": credential["secret"]}
        token = credential["securitytoken"]
        url = tracing_url(emulator, str(function.urn))
        good = signed(url, project_id=project_id, security_token=token, **keys)
        assert (await call(session, "GET", url, good))[0] == 200
        # Without the security token, with another one, or in another account: refused.
        for headers in (
            signed(url, project_id=project_id, **keys),
            signed(url, project_id=project_id, security_token="other", **keys),
        ):
            status, answer, _ = await call(session, "GET", url, headers)
            assert (status, answer["error_code"]) == (401, "APIG.0301")
            assert "x-security-token" in answer["error_msg"]
        home = function_in(HOME, "ap-southeast-1_ops")
        home_url = tracing_url(emulator, str(home.urn))
        headers = signed(home_url, project_id=home.urn.project_id, security_token=token, **keys)
        status, answer, _ = await call(session, "GET", home_url, headers)
        assert (status, answer["error_msg"]) == (
            401,
            "Incorrect IAM authentication information: verify aksk signature fail",
        )
        # At IAM, with X-Domain-Id its account's: that account's projects.
        iam = yarl.URL(f"{emulator.url}/v3/auth/projects")
        headers = signed(iam, domain_id=TRUSTING.domain_id, security_token=token, **keys)
        status, answer, _ = await call(session, "GET", iam, headers)
        assert (status, [p["id"] for p in answer["projects"]]) == (
            200,
            [p.id for p in TRUSTING.projects],
        )
        headers = signed(iam, domain_id=HOME.domain_id, security_token=token, **keys)
        assert (await call(session, "GET", iam, headers))[0] == 401
        stats = emulator.stats
        assert stats.temporary_keys_issued == Counter({TRUSTING.name: 1})
        assert stats.security_token_requests == 1

    serve_estate(scenario)


def test_temporary_keys_may_be_asked_with_the_home_access_key() -> None:
    async def scenario(emulator: RunningEmulator, session: aiohttp.ClientSession) -> None:
        url = f"{emulator.url}/v3.0/OS-CREDENTIAL/securitytokens"
        body = json.dumps(assume_role_body(by_id=True)).encode()
        headers = signed(url, method="POST", body=body, domain_id=HOME.domain_id)
        status, answer, _ = await call(session, "POST", url, headers, body=body)
        assert status == 201, answer
        # Temporary keys cannot ask for more.
        credential = answer["credential"]
        headers = signed(
            url,
            method="POST",
            body=body,
            ak=credential["access"],
            sk=credential["secret"],
            security_token=credential["securitytoken"],
            domain_id=TRUSTING.domain_id,
        )
        status, answer, _ = await call(session, "POST", url, headers, body=body)
        assert (status, answer["error"]["code"]) == (403, 403)

    serve_estate(scenario)


def test_temporary_keys_expire_at_expires_at() -> None:
    clock = WallClock(datetime.now(UTC))
    function = function_in(TRUSTING, "cn-north-4")
    project_id = function.urn.project_id

    async def scenario(emulator: RunningEmulator, session: aiohttp.ClientSession) -> None:
        status, body, _ = await temporary_keys(session, emulator, duration=MIN_DURATION_S)
        credential = body["credential"]
        keys = {
            "ak": credential["access"],
            "sk": credential["secret"],
            "security_token": credential["securitytoken"],
        }
        url = tracing_url(emulator, str(function.urn))
        iam = yarl.URL(f"{emulator.url}/v3/auth/domains")

        async def statuses() -> tuple[int, int]:
            at = clock.now
            fg = signed(url, project_id=project_id, moment=at, **keys)
            listing = signed(iam, domain_id=TRUSTING.domain_id, moment=at, **keys)
            return (await call(session, "GET", url, fg))[0], (
                await call(session, "GET", iam, listing)
            )[0]

        clock.now += timedelta(seconds=MIN_DURATION_S - 1)
        first = await statuses()
        assert first == (200, 200)
        clock.now += timedelta(seconds=1)
        status, answer, _ = await call(
            session, "GET", url, signed(url, project_id=project_id, moment=clock.now, **keys)
        )
        assert (status, answer) == (
            401,
            {
                "error_code": "APIG.0307",
                "error_msg": "Incorrect IAM authentication information: the security token expires",
            },
        )
        assert (await statuses())[1] == 401
        assert emulator.stats.aksk_locks == 0  # expiry does not count against the key

    serve_estate(scenario, wall_clock=clock)


@pytest.mark.parametrize("duration", [MIN_DURATION_S - 1, MAX_DURATION_S + 1, "900", 900.5, True])
def test_a_duration_outside_900_to_86400_seconds_is_400(duration: Any) -> None:
    async def scenario(emulator: RunningEmulator, session: aiohttp.ClientSession) -> None:
        status, body, _ = await temporary_keys(session, emulator, duration=duration)
        assert (status, body["error"]["code"]) == (400, 400)
        assert "duration_seconds" in body["error"]["message"]

    serve_estate(scenario)


def test_the_default_duration_is_900_seconds() -> None:
    clock = WallClock(datetime.now(UTC))

    async def scenario(emulator: RunningEmulator, session: aiohttp.ClientSession) -> None:
        status, body, _ = await temporary_keys(session, emulator)
        assert status == 201
        expires = datetime.strptime(body["credential"]["expires_at"], EXPIRES_FORMAT)
        assert expires.replace(tzinfo=UTC) - clock.now == timedelta(seconds=900)

    serve_estate(scenario, wall_clock=clock)


# --- secrets -----------------------------------------------------------------------------------


def test_no_granted_secret_is_in_the_stats_or_a_repr() -> None:
    async def scenario(emulator: RunningEmulator, session: aiohttp.ClientSession) -> None:
        _, body, _ = await temporary_keys(session, emulator)
        scope = {"project": {"id": TRUSTING.projects[0].id}}
        _, _, response = await agency_token(session, emulator, scope)
        secrets = [
            body["credential"]["secret"],
            body["credential"]["securitytoken"],
            response.headers["X-Subject-Token"],
        ]
        async with session.get(emulator.url + "/_emulator/stats") as stats_response:
            summary = await stats_response.text()
        assert json.loads(summary)["estate"]["temporary_keys_issued"] == {TRUSTING.name: 1}
        assert not [s for s in secrets if s in summary]
        assert body["credential"]["access"] not in summary

    serve_estate(scenario)
    key = AccessKey("the-secret", "the-token", "d" * 32, "user", datetime.now(UTC))
    assert "the-secret" not in repr(key) and "the-token" not in repr(key)


def test_assume_role_bodies_are_parsed() -> None:
    parsed = parse_assume_role(assume_role_body(duration=1200))
    assert parsed is not None
    assert (parsed.domain.name, parsed.agency_name, parsed.duration_seconds) == (
        TRUSTING.name,
        DEFAULT_AGENCY,
        1200,
    )
    assert parse_assume_role(assume_role_body(by_id=True)).domain.id == TRUSTING.domain_id  # type: ignore[union-attr]
    assert parse_assume_role({"auth": {"identity": {"methods": ["password"]}}}) is None
    assert parse_assume_role(None) is None
