"""Credentials as the emulator checks them: tokens, AK/SK signatures and locks, IAM tokens.

Against a real emulator on 127.0.0.1 with a real aiohttp client, plus `CredentialCheck` and the
IAM body parser on their own with a fake wall clock.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
import yarl

from auditor.emulator import (
    DEFAULT_AK,
    DEFAULT_DOMAIN,
    DEFAULT_PASSWORD,
    DEFAULT_SK,
    DEFAULT_TOKEN,
    DEFAULT_USER,
    Behaviour,
    EmulatorConfig,
    RunningEmulator,
    Stats,
)
from auditor.emulator.auth import CredentialCheck
from auditor.emulator.iam import EXPIRES_FORMAT, parse_password_auth
from auditor.service.signer import sign
from tests.emulator.test_server import FLEET, fetch, first, serve, tracing_url
from tests.factories import WallClock

FUNCTION = first(Behaviour.CONFIGURED)
PROJECT = FUNCTION.urn.project_id
OTHER = next(f for f in FLEET.functions if f.urn.project_id != PROJECT)
OTHER_PROJECT = OTHER.urn.project_id

APIG_INFO = "Incorrect IAM authentication information: "
BAD_SIGNATURE = {"error_code": "APIG.0301", "error_msg": APIG_INFO + "verify aksk signature fail"}
AK_NOT_FOUND = {"error_code": "APIG.0301", "error_msg": APIG_INFO + "ak not found"}
AK_LOCKED = {"error_code": "APIG.0307", "error_msg": APIG_INFO + "the access key is locked"}
TOKEN_EXPIRED = {"error_code": "APIG.0307", "error_msg": "The token expires."}
INVALID_TOKEN = {"error_code": "FSS.0403", "error_msg": "invalid token"}
WRONG_PASSWORD = {
    "error": {"code": 401, "message": "The username or password is wrong.", "title": "Unauthorized"}
}


def url_of(emulator: RunningEmulator, function: Any = FUNCTION) -> yarl.URL:
    url = tracing_url(emulator, str(function.urn))
    assert "%3A" in url.raw_path
    return url


def signed(
    url: yarl.URL | str,
    *,
    ak: str = DEFAULT_AK,
    sk: str = DEFAULT_SK,
    project_id: str | None = PROJECT,
    age: timedelta = timedelta(0),
    security_token: str | None = None,
) -> dict[str, str]:
    """The headers of a request signed as the official SDKs sign it, `age` ago."""
    base = {"Content-Type": "application/json"}
    added = sign(
        ak=ak,
        sk=sk,
        method="GET",
        url=str(url),
        headers=base,
        moment=datetime.now(UTC) - age,
        project_id=project_id,
        security_token=security_token,
    )
    return {**base, **added.headers}


def password_body(
    project_id: str = PROJECT,
    user: str = DEFAULT_USER,
    password: str = DEFAULT_PASSWORD,
    domain: str = DEFAULT_DOMAIN,
) -> dict[str, Any]:
    identity = {
        "methods": ["password"],
        "password": {"user": {"name": user, "password": password, "domain": {"name": domain}}},
    }
    return {"auth": {"identity": identity, "scope": {"project": {"id": project_id}}}}


async def ask_iam(
    session: aiohttp.ClientSession,
    emulator: RunningEmulator,
    body: Any,
    query: str = "?nocatalog=true",
) -> tuple[int, Any, aiohttp.ClientResponse]:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    url = f"{emulator.url}/v3/auth/tokens{query}"
    async with session.post(url, data=data, headers={"Content-Type": "application/json"}) as r:
        return r.status, await r.json(), r


async def iam_token(
    session: aiohttp.ClientSession, emulator: RunningEmulator, project_id: str = PROJECT
) -> str:
    status, _, response = await ask_iam(session, emulator, password_body(project_id))
    assert status == 201
    return response.headers["X-Subject-Token"]


# --- tokens ------------------------------------------------------------------------------------


def test_project_scoped_token_is_valid_for_its_project_only() -> None:
    config = EmulatorConfig(project_tokens={PROJECT: "token-for-one"})

    async def scenario(emulator: RunningEmulator, session: aiohttp.ClientSession) -> None:
        scoped = {"X-Auth-Token": "token-for-one"}
        assert (await fetch(session, url_of(emulator), scoped))[0] == 200
        status, body, _ = await fetch(session, url_of(emulator, OTHER), scoped)
        assert (status, body) == (403, INVALID_TOKEN)
        # The all-projects token still is one.
        for function in (FUNCTION, OTHER):
            assert (await fetch(session, url_of(emulator, function)))[0] == 200
        listing = f"{emulator.url}/v2/{OTHER_PROJECT}/fgs/functions"
        assert (await fetch(session, listing, scoped))[0] == 403

    serve(scenario, config=config)


# --- AK/SK signatures --------------------------------------------------------------------------


def test_signed_requests_are_accepted_as_received() -> None:
    async def scenario(emulator: RunningEmulator, session: aiohttp.ClientSession) -> None:
        url = url_of(emulator)
        status, body, _ = await fetch(session, url, signed(url))
        assert status == 200
        assert body["tracing_ak"] == FLEET.tracing_ak(FUNCTION)
        # The signer decodes the path before encoding it: a `:` form signs the same request.
        plain = str(url).replace("%3A", ":")
        assert (await fetch(session, url, signed(plain)))[0] == 200
        listing = yarl.URL(f"{emulator.url}/v2/{PROJECT}/fgs/functions?maxitems=5&marker=0")
        status, body, _ = await fetch(session, listing, signed(listing))
        assert (status, len(body["functions"])) == (200, 5)
        assert not emulator.stats.auth_failures_by_project

    serve(scenario)


def test_a_signature_covers_the_path_query_and_host() -> None:
    neighbour = next(f for f in FLEET.functions[1:] if f.urn.project_id == PROJECT)
    assert neighbour.urn.name != FUNCTION.urn.name

    async def scenario(emulator: RunningEmulator, session: aiohttp.ClientSession) -> None:
        url = url_of(emulator)
        headers = signed(url)
        for other, extra in (
            (url_of(emulator, neighbour), {}),  # another function
            (yarl.URL(str(url) + "?x=1", encoded=True), {}),  # another query
            (url, {"Host": f"127.0.0.1:{emulator.port + 1}"}),  # another host
        ):
            status, body, _ = await fetch(session, other, {**headers, **extra})
            assert (status, body) == (401, BAD_SIGNATURE), other
        assert (await fetch(session, url, headers))[0] == 200

    serve(scenario)


def test_wrong_sk_and_unknown_ak_are_refused() -> None:
    async def scenario(emulator: RunningEmulator, session: aiohttp.ClientSession) -> None:
        url = url_of(emulator)
        status, body, _ = await fetch(session, url, signed(url, sk="not-the-secret"))
        assert (status, body) == (401, BAD_SIGNATURE)
        status, body, _ = await fetch(session, url, signed(url, ak="NOSUCHAK"))
        assert (status, body) == (401, AK_NOT_FOUND)
        headers = {"Authorization": "Bearer abc"}
        status, body, _ = await fetch(session, url, headers)
        assert (status, body["error_code"]) == (401, "APIG.0301")

    serve(scenario)


def test_five_failed_signatures_lock_the_access_key_for_a_while() -> None:
    async def scenario(emulator: RunningEmulator, session: aiohttp.ClientSession) -> None:
        url = url_of(emulator)
        for _ in range(5):
            status, body, _ = await fetch(session, url, signed(url, sk="wrong"))
            assert (status, body) == (401, BAD_SIGNATURE)
        # Now even the right SK is refused, in every project, until the lock ends.
        status, body, _ = await fetch(session, url, signed(url))
        assert (status, body) == (401, AK_LOCKED)
        other = url_of(emulator, OTHER)
        status, body, _ = await fetch(session, other, signed(other, project_id=OTHER_PROJECT))
        assert (status, body) == (401, AK_LOCKED)
        assert emulator.stats.aksk_locks == 1
        await asyncio.sleep(0.5)
        assert (await fetch(session, url, signed(url)))[0] == 200
        assert emulator.stats.aksk_locks == 1

    serve(scenario, config=EmulatorConfig(aksk_lock_s=0.4))


def test_a_success_resets_the_failure_count() -> None:
    async def scenario(emulator: RunningEmulator, session: aiohttp.ClientSession) -> None:
        url = url_of(emulator)
        for sk in ["wrong"] * 4 + [DEFAULT_SK] + ["wrong"] * 4 + [DEFAULT_SK]:
            status, _, _ = await fetch(session, url, signed(url, sk=sk))
            assert status == (200 if sk == DEFAULT_SK else 401)
        assert emulator.stats.aksk_locks == 0

    serve(scenario)


@pytest.mark.parametrize("age_minutes", [20, -20])
def test_a_stale_or_future_sdk_date_is_refused(age_minutes: int) -> None:
    async def scenario(emulator: RunningEmulator, session: aiohttp.ClientSession) -> None:
        url = url_of(emulator)
        status, body, _ = await fetch(session, url, signed(url, age=timedelta(minutes=age_minutes)))
        assert (status, body["error_code"]) == (401, "APIG.0301")
        assert "x-sdk-date" in body["error_msg"]
        assert (await fetch(session, url, signed(url, age=timedelta(minutes=10))))[0] == 200

    serve(scenario)


def test_x_project_id_must_be_the_paths_project() -> None:
    async def scenario(emulator: RunningEmulator, session: aiohttp.ClientSession) -> None:
        url = url_of(emulator)
        status, body, _ = await fetch(session, url, signed(url, project_id=OTHER_PROJECT))
        assert (status, body["error_code"]) == (401, "APIG.0301")
        assert "x-project-id" in body["error_msg"]
        assert (await fetch(session, url, signed(url, project_id=None)))[0] == 200

    serve(scenario)


def test_temporary_keys_need_their_security_token() -> None:
    config = EmulatorConfig(
        access_keys={DEFAULT_AK: DEFAULT_SK, "TEMPORARYAK": "temporary-sk"},
        temporary_keys={"TEMPORARYAK": "sts-token"},
    )
    temp_ak, temp_sk = "TEMPORARYAK", "temporary-sk"

    async def scenario(emulator: RunningEmulator, session: aiohttp.ClientSession) -> None:
        url = url_of(emulator)
        good = signed(url, ak=temp_ak, sk=temp_sk, security_token="sts-token")
        assert (await fetch(session, url, good))[0] == 200
        for headers in (
            signed(url, ak=temp_ak, sk=temp_sk),  # no token
            signed(url, ak=temp_ak, sk=temp_sk, security_token="stolen"),  # a wrong one
            signed(url, security_token="sts-token"),  # one with a permanent AK
        ):
            status, body, _ = await fetch(session, url, headers)
            assert (status, body["error_code"]) == (401, "APIG.0301")
            assert "x-security-token" in body["error_msg"]

    serve(scenario, config=config)


# --- IAM ---------------------------------------------------------------------------------------


def test_iam_issues_a_project_scoped_token_for_a_good_password() -> None:
    async def scenario(emulator: RunningEmulator, session: aiohttp.ClientSession) -> None:
        before = datetime.now(UTC)
        status, body, response = await ask_iam(session, emulator, password_body())
        assert status == 201
        token = response.headers["X-Subject-Token"]
        assert len(token) > 200
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", body["token"]["expires_at"])
        expires = datetime.strptime(body["token"]["expires_at"], EXPIRES_FORMAT)
        expires = expires.replace(tzinfo=UTC)
        assert timedelta(hours=23) < expires - before <= timedelta(hours=24, seconds=2)
        assert body["token"]["project"]["id"] == PROJECT
        assert body["token"]["project"]["name"] == FUNCTION.urn.region
        assert body["token"]["methods"] == ["password"]
        assert body["token"]["user"] == {"name": DEFAULT_USER, "domain": {"name": DEFAULT_DOMAIN}}
        assert "catalog" not in body["token"]
        assert (await fetch(session, url_of(emulator), {"X-Auth-Token": token}))[0] == 200
        status, body, _ = await fetch(session, url_of(emulator, OTHER), {"X-Auth-Token": token})
        assert (status, body) == (403, INVALID_TOKEN)
        # Without nocatalog=true the (empty) catalog comes too; every token is new.
        status, body, again = await ask_iam(session, emulator, password_body(), query="")
        assert (status, body["token"]["catalog"]) == (201, [])
        assert again.headers["X-Subject-Token"] != token
        assert emulator.stats.iam_requests == 2
        assert emulator.stats.tokens_issued == Counter({PROJECT: 2})

    serve(scenario)


@pytest.mark.parametrize(
    "wrong", [{"password": "guess"}, {"user": "mallory"}, {"domain": "elsewhere"}]
)
def test_iam_refuses_a_wrong_password_in_its_own_error_shape(wrong: dict[str, str]) -> None:
    async def scenario(emulator: RunningEmulator, session: aiohttp.ClientSession) -> None:
        status, body, response = await ask_iam(session, emulator, password_body(**wrong))
        assert (status, body) == (401, WRONG_PASSWORD)
        assert "X-Subject-Token" not in response.headers
        assert not emulator.stats.tokens_issued

    serve(scenario)


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        {"auth": {}},
        {"auth": {"identity": password_body()["auth"]["identity"]}},  # no scope
        {"auth": {**password_body()["auth"], "identity": {"methods": ["token"]}}},
        password_body(password=""),
    ],
)
def test_iam_refuses_a_malformed_body_with_400(body: Any) -> None:
    async def scenario(emulator: RunningEmulator, session: aiohttp.ClientSession) -> None:
        status, answer, _ = await ask_iam(session, emulator, body)
        assert (status, answer["error"]["code"], answer["error"]["title"]) == (
            400,
            400,
            "Bad Request",
        )

    serve(scenario)


def test_iam_refuses_a_project_it_does_not_know() -> None:
    async def scenario(emulator: RunningEmulator, session: aiohttp.ClientSession) -> None:
        status, body, _ = await ask_iam(session, emulator, password_body("0" * 32))
        assert (status, body["error"]["code"]) == (400, 400)
        assert "project" in body["error"]["message"]

    serve(scenario)


def test_iam_tokens_expire_after_their_lifetime_in_requests() -> None:
    async def scenario(emulator: RunningEmulator, session: aiohttp.ClientSession) -> None:
        token = await iam_token(session, emulator)
        url = url_of(emulator)
        statuses = [(await fetch(session, url, {"X-Auth-Token": token}))[0] for _ in range(3)]
        assert statuses == [200, 200, 200]
        status, body, _ = await fetch(session, url, {"X-Auth-Token": token})
        assert (status, body) == (401, TOKEN_EXPIRED)
        fresh = await iam_token(session, emulator)
        assert (await fetch(session, url, {"X-Auth-Token": fresh}))[0] == 200
        # The static token never expires.
        assert all([(await fetch(session, url))[0] == 200 for _ in range(4)])

    serve(scenario, config=EmulatorConfig(token_lifetime_requests=3))


# --- rejected projects and Stats ---------------------------------------------------------------


def test_rejected_projects_refuse_every_credential_and_are_counted() -> None:
    config = EmulatorConfig(
        reject_projects=frozenset({PROJECT}), project_tokens={PROJECT: "scoped"}
    )

    async def scenario(emulator: RunningEmulator, session: aiohttp.ClientSession) -> None:
        url = url_of(emulator)
        token = await iam_token(session, emulator)  # IAM issues it; FunctionGraph says no
        for headers in ({"X-Auth-Token": DEFAULT_TOKEN}, {"X-Auth-Token": "scoped"}):
            assert (await fetch(session, url, headers))[:2] == (403, INVALID_TOKEN)
        assert (await fetch(session, url, {"X-Auth-Token": token}))[:2] == (403, INVALID_TOKEN)
        assert (await fetch(session, url, signed(url)))[:2] == (401, BAD_SIGNATURE)
        other = url_of(emulator, OTHER)
        assert (await fetch(session, other, signed(other, project_id=OTHER_PROJECT)))[0] == 200
        stats = emulator.stats
        assert stats.by_project == Counter({PROJECT: 4, OTHER_PROJECT: 1})
        assert stats.auth_failures_by_project == Counter({PROJECT: 4})
        assert stats.tokens_issued == Counter({PROJECT: 1})
        async with session.get(emulator.url + "/_emulator/stats") as response:
            summary = await response.json()
        assert summary["by_project"] == {PROJECT: 4, OTHER_PROJECT: 1}
        assert summary["auth_failures_by_project"] == {PROJECT: 4}
        assert (summary["iam_requests"], summary["tokens_issued"]) == (1, {PROJECT: 1})
        assert summary["requests"] == 6  # IAM included
        assert summary["aksk_locks"] == 0

    serve(scenario, config=config)


def test_refused_and_throttled_requests_count_for_their_project() -> None:
    async def scenario(emulator: RunningEmulator, session: aiohttp.ClientSession) -> None:
        url = url_of(emulator)
        statuses = [(await fetch(session, url, {"X-Auth-Token": "bad"}))[0] for _ in range(3)]
        assert statuses == [403, 403, 429]
        assert emulator.stats.by_project == Counter({PROJECT: 3})
        assert emulator.stats.auth_failures_by_project == Counter({PROJECT: 2})

    serve(scenario, config=EmulatorConfig(rate_limit=2))


# --- CredentialCheck on its own, on a fake wall clock ------------------------------------------


def check(gate: CredentialCheck, headers: dict[str, str], url: str, now: float = 0.0) -> Any:
    answer = gate.check(
        project_id=PROJECT, method="GET", url=url, headers=headers, body=b"", now=now
    )
    return None if answer is None else (answer[0], json.loads(answer[1]))


def test_iam_tokens_expire_at_expires_at() -> None:
    clock = WallClock(datetime(2026, 1, 1, tzinfo=UTC))
    gate = CredentialCheck(EmulatorConfig(), Stats(), clock)
    gate.remember("t", PROJECT, clock.now + timedelta(hours=24))
    url = LISTING
    clock.now += timedelta(hours=23, minutes=59, seconds=59)
    assert check(gate, {"X-Auth-Token": "t"}, url) is None
    clock.now += timedelta(seconds=1)
    assert check(gate, {"X-Auth-Token": "t"}, url) == (401, TOKEN_EXPIRED)


LISTING = f"http://127.0.0.1:1/v2/{PROJECT}/fgs/functions"


def signed_at(moment: datetime, sk: str = DEFAULT_SK) -> dict[str, str]:
    added = sign(ak=DEFAULT_AK, sk=sk, method="GET", url=LISTING, moment=moment)
    return {**added.headers, "Host": "127.0.0.1:1"}  # as aiohttp sends it


def test_sdk_date_tolerance_is_fifteen_minutes_either_way() -> None:
    clock = WallClock(datetime(2026, 1, 1, tzinfo=UTC))
    gate = CredentialCheck(EmulatorConfig(), Stats(), clock)
    fifteen, second = timedelta(minutes=15), timedelta(seconds=1)
    assert check(gate, signed_at(clock.now - fifteen), LISTING) is None
    assert check(gate, signed_at(clock.now + fifteen), LISTING) is None
    for moment in (clock.now - fifteen - second, clock.now + fifteen + second):
        status, body = check(gate, signed_at(moment), LISTING)
        assert (status, body["error_code"]) == (401, "APIG.0301")


def test_the_lock_ends_on_the_loop_clock() -> None:
    clock = WallClock(datetime(2026, 1, 1, tzinfo=UTC))
    gate = CredentialCheck(EmulatorConfig(aksk_lock_s=300), Stats(), clock)
    bad, url = signed_at(clock.now, sk="wrong"), LISTING
    for t in range(5):
        assert check(gate, bad, url, now=float(t))[1] == BAD_SIGNATURE
    assert gate.locked(DEFAULT_AK, 4.0)
    assert check(gate, bad, url, now=303.9)[1] == AK_LOCKED
    assert not gate.locked(DEFAULT_AK, 304.0)
    assert check(gate, bad, url, now=304.0)[1] == BAD_SIGNATURE


# --- config and the IAM body parser ------------------------------------------------------------


@pytest.mark.parametrize(
    "bad",
    [
        {"temporary_keys": {"NOTANAK": "token"}},
        {"access_keys": {"AK": ""}},
        {"project_tokens": {PROJECT: ""}},
        {"token_lifetime_requests": 0},
        {"token_lifetime_s": 0},
        {"aksk_lock_s": -1},
    ],
)
def test_config_rejects_unusable_credentials(bad: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        EmulatorConfig(**bad)


def test_config_defaults_accept_the_well_known_credentials() -> None:
    config = EmulatorConfig()
    assert config.token == DEFAULT_TOKEN
    assert config.access_keys == {DEFAULT_AK: DEFAULT_SK}
    assert config.users == {DEFAULT_USER: (DEFAULT_PASSWORD, DEFAULT_DOMAIN)}
    assert (config.token_lifetime_requests, config.token_lifetime_s) == (None, 86400.0)


def test_password_auth_is_parsed_and_its_repr_hides_the_password() -> None:
    parsed = parse_password_auth(json.dumps(password_body()).encode())
    assert parsed is not None
    assert (parsed.user, parsed.domain, parsed.project_id) == (
        DEFAULT_USER,
        DEFAULT_DOMAIN,
        PROJECT,
    )
    assert parsed.password == DEFAULT_PASSWORD
    assert DEFAULT_PASSWORD not in repr(parsed)
    assert parse_password_auth(b"\xff") is None
