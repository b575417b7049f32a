"""Other accounts through IAM agencies: agency tokens (token and password credentials),
temporary keys (AK/SK), renewal before expiry, and an agency that refuses; HTTP faked by
aioresponses."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any, TypeVar

import aiohttp
import pytest
from aioresponses import aioresponses

from auditor.accounts import Account
from auditor.errors import AgencyRefused, CredentialsUnavailable, IamError
from auditor.model import ErrorKind
from auditor.service.agency import (
    DEFAULT_DURATION,
    AgencyKeyring,
    AgencyKeys,
    AgencyTokens,
    TemporaryKeys,
    account_rate_scope,
    fetch_temporary_keys,
    reach_account,
)
from auditor.service.auth import (
    REFRESH_MARGIN,
    IamToken,
    KeyPair,
    Outgoing,
    access_key_scope,
    project_scope,
)
from auditor.service.client import TracingClient
from auditor.service.iam import IamApi
from auditor.service.identity import Identity, KeyIdentity, PasswordIdentity, TokenIdentity
from auditor.service.projects import Project, list_projects
from auditor.service.signer import parse_authorization, verify
from auditor.source.urn import parse_urn
from tests.factories import NOW, Sent, Sleeps, WallClock, sent_requests

IAM = "https://iam.example.test"
IAM_HOST = "iam.example.test"
TOKENS = f"{IAM}/v3/auth/tokens?nocatalog=true"
SECURITY_TOKENS = f"{IAM}/v3.0/OS-CREDENTIAL/securitytokens"
DOMAINS = f"{IAM}/v3/auth/domains"
AUTH_PROJECTS = f"{IAM}/v3/auth/projects"
HOME_TOKEN = "MIIhome-token-secret-0001"
HOME_AK = "HPUAHOMEACCESSKEY0001"
HOME_SK = "sk-home-secret-0123456789abcdef"
HOME_DOMAIN = "11111111111111111111111111111111"
THEIR_DOMAIN = "22222222222222222222222222222222"
TEMP_AK = "TMPAKAGENCY0000000001"
TEMP_SK = "tmp-sk-agency-secret-0123456789"
SECURITY_TOKEN = "sts-agency-security-token-secret-" + "x" * 200
PROJECT_A = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
PROJECT_B = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
ACME = Account(agency_name="auditor", domain_name="acme", name="acme-prod")
LISTED = {
    "projects": [
        {"id": PROJECT_A, "name": "cn-north-4", "domain_id": THEIR_DOMAIN, "enabled": True},
        {"id": PROJECT_B, "name": "cn-north-4_ops", "domain_id": THEIR_DOMAIN, "enabled": True},
    ]
}
T = TypeVar("T")


def agency_token(n: int, expires: str = "2024-05-07T07:08:09.000000Z") -> dict[str, Any]:
    return {
        "status": 201,
        "headers": {"X-Subject-Token": f"MIIagency-token-secret-{n}"},
        "payload": {"token": {"expires_at": expires, "methods": ["assume_role"]}},
    }


def temporary_keys(n: int = 1, expires: str = "2024-05-06T08:08:09.000000Z") -> dict[str, Any]:
    return {
        "status": 201,
        "payload": {
            "credential": {
                "access": f"{TEMP_AK}{n}",
                "secret": f"{TEMP_SK}{n}",
                "securitytoken": f"{SECURITY_TOKEN}{n}",
                "expires_at": expires,
            }
        },
    }


def with_iam(
    setup: Callable[[aioresponses], None],
    work: Callable[[IamApi, aiohttp.ClientSession], Awaitable[T]],
) -> tuple[T, list[Sent]]:
    """`work` with an IamApi on a session whose HTTP aioresponses fakes as `setup` says."""
    with aioresponses() as fake:
        setup(fake)

        async def main() -> T:
            async with aiohttp.ClientSession() as session:
                api = IamApi(session, endpoint=IAM, retries=0, sleep=Sleeps())
                return await work(api, session)

        return asyncio.run(main()), sent_requests(fake)


def signed_by(sent: Sent, sk: str, host: str = IAM_HOST) -> bool:
    raw = json.dumps(sent.body).encode() if sent.body is not None else b""
    return verify(
        sk=sk, method=sent.method, url=sent.url, headers={**sent.headers, "Host": host}, body=raw
    )


# --- agency tokens (token and password credentials) ----------------------------------------


def fg_get(project_id: str) -> Outgoing:
    """A FunctionGraph request in `project_id`, as the client asks credentials to sign it."""
    return Outgoing("GET", "https://fg/x", {}, project_id=project_id)


def test_a_token_lists_another_account_with_a_domain_scoped_agency_token() -> None:
    def setup(fake: aioresponses) -> None:
        fake.post(TOKENS, **agency_token(1))
        fake.get(AUTH_PROJECTS, payload=LISTED)

    async def work(api: IamApi, session: aiohttp.ClientSession) -> list[Project]:
        access = reach_account(api, TokenIdentity(HOME_TOKEN), ACME, now=WallClock())
        assert isinstance(access.credentials, AgencyTokens)
        return await list_projects(api, access.identity)

    projects, sent = with_iam(setup, work)
    assert [(p.id, p.region, p.account) for p in projects] == [
        (PROJECT_A, "cn-north-4", "acme-prod"),
        (PROJECT_B, "cn-north-4", "acme-prod"),
    ]
    assume, listing = sent
    assert assume.url == TOKENS
    assert assume.headers["X-Auth-Token"] == HOME_TOKEN
    assert assume.body == {
        "auth": {
            "identity": {
                "methods": ["assume_role"],
                "assume_role": {"domain_name": "acme", "agency_name": "auditor"},
            },
            "scope": {"domain": {"name": "acme"}},
        }
    }
    assert listing.headers["X-Auth-Token"] == "MIIagency-token-secret-1"


def test_a_password_assumes_the_agency_with_its_domain_token() -> None:
    clock = WallClock()

    async def domain_token() -> IamToken:
        return IamToken("MIIhome-domain-token", clock() + timedelta(hours=24))

    def setup(fake: aioresponses) -> None:
        fake.post(TOKENS, **agency_token(1))
        fake.get(AUTH_PROJECTS, payload=LISTED)

    async def work(api: IamApi, session: aiohttp.ClientSession) -> list[Project]:
        home = PasswordIdentity(domain_token, now=clock)
        return await list_projects(api, reach_account(api, home, ACME, now=clock).identity)

    _, sent = with_iam(setup, work)
    assert sent[0].headers["X-Auth-Token"] == "MIIhome-domain-token"


def test_agency_tokens_for_functiongraph_one_per_project_renewed_before_expiry() -> None:
    clock = WallClock()  # 2024-05-06T07:08:09Z; the tokens expire a day later

    def setup(fake: aioresponses) -> None:
        for n in range(1, 4):
            fake.post(TOKENS, **agency_token(n))

    async def work(api: IamApi, session: aiohttp.ClientSession) -> list[tuple[str, str]]:
        credentials = reach_account(api, TokenIdentity(HOME_TOKEN), ACME, now=clock).credentials
        assert credentials.rate_scope(PROJECT_A) == "account:acme-prod"
        assert credentials.scopes(PROJECT_A) == (project_scope(PROJECT_A),)
        seen = []
        for project in (PROJECT_A, PROJECT_A, PROJECT_B):
            headers, tag = await credentials.headers(fg_get(project))
            seen.append((headers["X-Auth-Token"], tag))
        clock.now = NOW + timedelta(days=1) - REFRESH_MARGIN
        headers, tag = await credentials.headers(fg_get(PROJECT_A))
        seen.append((headers["X-Auth-Token"], tag))
        return seen

    seen, sent = with_iam(setup, work)
    assert seen == [
        ("MIIagency-token-secret-1", "agency:1"),
        ("MIIagency-token-secret-1", "agency:1"),
        ("MIIagency-token-secret-2", "agency:1"),
        ("MIIagency-token-secret-3", "agency:2"),
    ]
    scopes = [s.body["auth"]["scope"] for s in sent]
    assert [scope["project"]["id"] for scope in scopes] == [PROJECT_A, PROJECT_B, PROJECT_A]
    assert all(s.body["auth"]["identity"]["methods"] == ["assume_role"] for s in sent)


def test_a_refused_agency_token_is_renewed_once() -> None:
    def setup(fake: aioresponses) -> None:
        fake.post(TOKENS, **agency_token(1))
        fake.post(TOKENS, **agency_token(2))

    async def work(api: IamApi, session: aiohttp.ClientSession) -> list[str]:
        credentials = reach_account(
            api, TokenIdentity(HOME_TOKEN), ACME, now=WallClock()
        ).credentials
        first, tag = await credentials.headers(fg_get(PROJECT_A))
        assert await credentials.refresh(PROJECT_A, tag) is True
        second, _ = await credentials.headers(fg_get(PROJECT_A))
        return [first["X-Auth-Token"], second["X-Auth-Token"]]

    tokens, _ = with_iam(setup, work)
    assert tokens == ["MIIagency-token-secret-1", "MIIagency-token-secret-2"]


REFUSED = {
    "status": 403,
    "payload": {"error": {"code": "IAM.0101", "message": "The agency is not trusted."}},
}


def test_an_agency_that_refuses_the_listing_is_agency_refused_naming_the_account() -> None:
    def setup(fake: aioresponses) -> None:
        fake.post(TOKENS, **REFUSED)

    async def work(api: IamApi, session: aiohttp.ClientSession) -> IamError:
        access = reach_account(api, TokenIdentity(HOME_TOKEN), ACME, now=WallClock())
        with pytest.raises(AgencyRefused) as info:
            await list_projects(api, access.identity)
        return info.value

    refusal, sent = with_iam(setup, work)
    assert refusal.account == "acme-prod"
    assert (refusal.status, refusal.code) == (403, "IAM.0101")
    message = str(refusal)
    assert message.startswith("account acme-prod: agency auditor refused (HTTP 403 IAM.0101")
    assert "The agency is not trusted." in message
    assert HOME_TOKEN not in message
    assert len(sent) == 1


def test_an_agency_that_refuses_functiongraph_tokens_is_auth_failed_and_not_asked_again() -> None:
    def setup(fake: aioresponses) -> None:
        fake.post(TOKENS, **REFUSED)

    async def work(api: IamApi, session: aiohttp.ClientSession) -> list[str]:
        credentials = reach_account(
            api, TokenIdentity(HOME_TOKEN), ACME, now=WallClock()
        ).credentials
        client = TracingClient(session, credentials, endpoint="https://fg.example.test")
        urn = parse_urn(f"urn:fss:cn-north-4:{PROJECT_A}:function:default:fn")
        messages = []
        for _ in range(3):
            probe = await client.probe(urn)
            assert probe.error_kind is ErrorKind.CREDENTIALS
            messages.append(probe.error_msg)
        assert await credentials.refresh(PROJECT_A, "agency:0") is False
        return messages

    messages, sent = with_iam(setup, work)
    assert len(sent) == 1  # the refusal is remembered: IAM is asked once
    assert all(m.startswith("account acme-prod: agency auditor refused") for m in messages)


def test_a_throttled_agency_token_is_asked_again_later() -> None:
    def setup(fake: aioresponses) -> None:
        fake.post(TOKENS, status=429, payload={"error": {"code": "IAM.0012"}})
        fake.post(TOKENS, **agency_token(1))

    async def work(api: IamApi, session: aiohttp.ClientSession) -> str:
        credentials = reach_account(
            api, TokenIdentity(HOME_TOKEN), ACME, now=WallClock()
        ).credentials
        with pytest.raises(CredentialsUnavailable) as info:
            await credentials.headers(fg_get(PROJECT_A))
        assert not info.value.lasting
        headers, _ = await credentials.headers(fg_get(PROJECT_A))
        return headers["X-Auth-Token"]

    token, _ = with_iam(setup, work)
    assert token == "MIIagency-token-secret-1"


def test_an_agency_token_answer_without_the_token_is_an_error() -> None:
    def setup(fake: aioresponses) -> None:
        fake.post(TOKENS, status=201, payload={"token": {"expires_at": "2099-01-01T00:00:00Z"}})

    async def work(api: IamApi, session: aiohttp.ClientSession) -> str:
        access = reach_account(api, TokenIdentity(HOME_TOKEN), ACME, now=WallClock())
        with pytest.raises(IamError) as info:
            await list_projects(api, access.identity)
        return str(info.value)

    message, _ = with_iam(setup, work)
    assert message.startswith("account acme-prod: ")
    assert "X-Subject-Token" in message


# --- temporary keys (AK/SK credentials) ----------------------------------------------------


def home_keys(domain_id: str = HOME_DOMAIN, clock: WallClock | None = None) -> KeyIdentity:
    return KeyIdentity(KeyPair(HOME_AK, HOME_SK), now=clock or WallClock(), domain_id=domain_id)


def test_access_keys_list_another_account_with_temporary_keys() -> None:
    def setup(fake: aioresponses) -> None:
        fake.post(SECURITY_TOKENS, **temporary_keys())
        fake.get(DOMAINS, payload={"domains": [{"id": THEIR_DOMAIN, "name": "acme"}]})
        fake.get(AUTH_PROJECTS, payload=LISTED)

    async def work(api: IamApi, session: aiohttp.ClientSession) -> list[Project]:
        access = reach_account(api, home_keys(), ACME, now=WallClock())
        assert isinstance(access.credentials, AgencyKeys)
        return await list_projects(api, access.identity)

    projects, sent = with_iam(setup, work)
    assert [p.account for p in projects] == ["acme-prod", "acme-prod"]
    keys, domains, listing = sent
    assert keys.url == SECURITY_TOKENS
    assert keys.body == {
        "auth": {
            "identity": {
                "methods": ["assume_role"],
                "assume_role": {
                    "domain_name": "acme",
                    "agency_name": "auditor",
                    "duration_seconds": DEFAULT_DURATION,
                },
            }
        }
    }
    assert keys.headers["X-Domain-Id"] == HOME_DOMAIN  # our key, our account
    assert parse_authorization(keys.headers["Authorization"]).access == HOME_AK  # type: ignore[union-attr]
    assert signed_by(keys, HOME_SK)
    for call in (domains, listing):
        assert call.headers["X-Security-Token"] == f"{SECURITY_TOKEN}1"
        authorization = parse_authorization(call.headers["Authorization"])
        assert authorization is not None
        assert authorization.access == f"{TEMP_AK}1"
        assert "x-security-token" in authorization.signed_headers.split(";")
        assert signed_by(call, f"{TEMP_SK}1")
    assert "X-Domain-Id" not in domains.headers
    assert listing.headers["X-Domain-Id"] == THEIR_DOMAIN  # their account, found with their keys


def test_an_account_by_id_is_listed_without_asking_for_its_id() -> None:
    account = Account("auditor", domain_id=THEIR_DOMAIN, name="beta")

    def setup(fake: aioresponses) -> None:
        fake.post(SECURITY_TOKENS, **temporary_keys())
        fake.get(AUTH_PROJECTS, payload=LISTED)

    async def work(api: IamApi, session: aiohttp.ClientSession) -> list[Project]:
        return await list_projects(
            api, reach_account(api, home_keys(), account, now=WallClock()).identity
        )

    _, sent = with_iam(setup, work)
    keys, listing = sent
    assert keys.body["auth"]["identity"]["assume_role"]["domain_id"] == THEIR_DOMAIN
    assert listing.headers["X-Domain-Id"] == THEIR_DOMAIN


def test_our_account_id_is_found_before_asking_for_temporary_keys() -> None:
    def setup(fake: aioresponses) -> None:
        fake.get(DOMAINS, payload={"domains": [{"id": HOME_DOMAIN, "name": "home"}]})
        fake.post(SECURITY_TOKENS, **temporary_keys())

    async def work(api: IamApi, session: aiohttp.ClientSession) -> TemporaryKeys:
        return await fetch_temporary_keys(api, home_keys(domain_id=""), ACME, 900)

    keys, sent = with_iam(setup, work)
    assert keys.access == f"{TEMP_AK}1"
    domains, asked = sent
    assert "X-Security-Token" not in domains.headers
    assert asked.headers["X-Domain-Id"] == HOME_DOMAIN
    assert asked.body["auth"]["identity"]["assume_role"]["duration_seconds"] == 900


def test_functiongraph_requests_are_signed_with_the_temporary_keys_and_security_token() -> None:
    fg_host = "functiongraph.cn-north-4.myhuaweicloud.com"
    urn = parse_urn(f"urn:fss:cn-north-4:{PROJECT_A}:function:default:fn")

    def setup(fake: aioresponses) -> None:
        fake.post(SECURITY_TOKENS, **temporary_keys())
        fake.get(re.compile(rf"https://{fg_host}/v2/{PROJECT_A}/.*"), payload={"tracing_ak": "A"})

    async def work(api: IamApi, session: aiohttp.ClientSession) -> AgencyKeys:
        credentials = reach_account(api, home_keys(), ACME, now=WallClock()).credentials
        assert isinstance(credentials, AgencyKeys)
        probe = await TracingClient(session, credentials).probe(urn)
        assert probe.http_status == 200
        assert probe.credential == "keys:1"
        return credentials

    credentials, sent = with_iam(setup, work)
    _, tracing = sent
    assert tracing.headers["X-Security-Token"] == f"{SECURITY_TOKEN}1"
    assert tracing.headers["X-Project-Id"] == PROJECT_A
    authorization = parse_authorization(tracing.headers["Authorization"])
    assert authorization is not None
    assert authorization.access == f"{TEMP_AK}1"
    assert authorization.signed_headers.split(";") == [
        "content-type",
        "host",
        "x-project-id",
        "x-sdk-date",
        "x-security-token",
    ]
    assert signed_by(tracing, f"{TEMP_SK}1", host=fg_host)
    assert credentials.scopes(PROJECT_A) == (
        project_scope(PROJECT_A),
        access_key_scope("acme-prod"),
    )
    assert (
        credentials.rate_scope(PROJECT_B) == account_rate_scope("acme-prod") == "account:acme-prod"
    )


def test_temporary_keys_are_shared_and_renewed_before_they_expire() -> None:
    clock = WallClock()  # 07:08:09; the first keys expire at 08:08:09

    def setup(fake: aioresponses) -> None:
        fake.post(SECURITY_TOKENS, **temporary_keys(1, "2024-05-06T08:08:09Z"))
        fake.post(SECURITY_TOKENS, **temporary_keys(2, "2024-05-06T09:08:09Z"))
        fake.get(AUTH_PROJECTS, payload=LISTED)

    account = Account("auditor", domain_id=THEIR_DOMAIN, name="beta")

    async def work(api: IamApi, session: aiohttp.ClientSession) -> list[tuple[str, str]]:
        access = reach_account(api, home_keys(clock=clock), account, now=clock)
        await list_projects(api, access.identity)
        seen = []
        for project in (PROJECT_A, PROJECT_B):
            headers, tag = await access.credentials.headers(fg_get(project))
            seen.append((headers["X-Security-Token"], tag))
        clock.now = NOW + timedelta(hours=1) - REFRESH_MARGIN - timedelta(seconds=1)
        headers, tag = await access.credentials.headers(fg_get(PROJECT_A))
        seen.append((headers["X-Security-Token"], tag))
        clock.now += timedelta(seconds=1)
        headers, tag = await access.credentials.headers(fg_get(PROJECT_A))
        seen.append((headers["X-Security-Token"], tag))
        return seen

    seen, sent = with_iam(setup, work)
    assert seen == [
        (f"{SECURITY_TOKEN}1", "keys:1"),  # the listing's keys, shared
        (f"{SECURITY_TOKEN}1", "keys:1"),
        (f"{SECURITY_TOKEN}1", "keys:1"),
        (f"{SECURITY_TOKEN}2", "keys:2"),
    ]
    assert [s.url for s in sent].count(SECURITY_TOKENS) == 2


def test_refused_temporary_keys_are_agency_refused_for_the_listing_and_auth_failed_after() -> None:
    def setup(fake: aioresponses) -> None:
        fake.post(SECURITY_TOKENS, **REFUSED)

    async def work(api: IamApi, session: aiohttp.ClientSession) -> CredentialsUnavailable:
        access = reach_account(api, home_keys(), ACME, now=WallClock())
        with pytest.raises(AgencyRefused, match="account acme-prod: agency auditor refused"):
            await list_projects(api, access.identity)
        with pytest.raises(CredentialsUnavailable) as info:
            await access.credentials.headers(fg_get(PROJECT_A))
        return info.value

    unavailable, sent = with_iam(setup, work)
    assert unavailable.lasting
    assert "agency auditor refused" in str(unavailable)
    assert len(sent) == 1  # the same keyring: IAM is not asked again


@pytest.mark.parametrize(
    ("credential", "what"),
    [
        (None, "no credential"),
        ({"access": "a", "secret": "s", "expires_at": "2099-01-01T00:00:00Z"}, "security token"),
        ({"access": "a", "secret": "s", "securitytoken": "t"}, "expiry"),
        ({"access": "a", "secret": "s", "securitytoken": "t", "expires_at": "soon"}, "expiry"),
    ],
)
def test_temporary_keys_that_cannot_be_read_are_an_error(credential: Any, what: str) -> None:
    payload = {} if credential is None else {"credential": credential}

    def setup(fake: aioresponses) -> None:
        fake.post(SECURITY_TOKENS, status=201, payload=payload)

    async def work(api: IamApi, session: aiohttp.ClientSession) -> str:
        with pytest.raises(IamError) as info:
            await fetch_temporary_keys(api, home_keys(), ACME)
        return str(info.value)

    message, _ = with_iam(setup, work)
    assert message.startswith("account acme-prod: IAM's answer for agency auditor holds")
    assert what in message


@pytest.mark.parametrize("duration", [899, 86_401, 0])
def test_the_duration_of_temporary_keys_is_within_iams_limits(duration: int) -> None:
    async def work(api: IamApi, session: aiohttp.ClientSession) -> None:
        with pytest.raises(ValueError, match="duration_seconds"):
            AgencyKeyring(api, home_keys(), ACME, now=WallClock(), duration_seconds=duration)
        with pytest.raises(ValueError, match="duration_seconds"):
            await fetch_temporary_keys(api, home_keys(), ACME, duration)

    with_iam(lambda fake: None, work)


def test_every_account_is_its_own_rate_scope() -> None:
    beta = Account("auditor", domain_id=THEIR_DOMAIN, name="beta")

    async def work(api: IamApi, session: aiohttp.ClientSession) -> set[str]:
        homes: list[Identity] = [TokenIdentity(HOME_TOKEN), home_keys()]
        return {
            reach_account(api, home, account, now=WallClock()).credentials.rate_scope(PROJECT_A)
            for home in homes
            for account in (ACME, beta)
        }

    scopes, _ = with_iam(lambda fake: None, work)
    assert scopes == {"account:acme-prod", "account:beta"}


@pytest.mark.parametrize("home", ["token", "keys"])
def test_a_listing_refused_with_a_stale_agency_credential_gets_a_fresh_one_once(home: str) -> None:
    unauthorized = {"status": 401, "payload": {"error": {"code": 401, "message": "expired"}}}
    account = Account("auditor", domain_id=THEIR_DOMAIN, name="beta")

    def setup(fake: aioresponses) -> None:
        if home == "token":
            fake.post(TOKENS, **agency_token(1))
            fake.post(TOKENS, **agency_token(2))
        else:
            fake.post(SECURITY_TOKENS, **temporary_keys(1))
            fake.post(SECURITY_TOKENS, **temporary_keys(2))
        fake.get(AUTH_PROJECTS, **unauthorized)
        fake.get(AUTH_PROJECTS, payload=LISTED)

    async def work(api: IamApi, session: aiohttp.ClientSession) -> list[Project]:
        identity: Identity = TokenIdentity(HOME_TOKEN) if home == "token" else home_keys()
        return await list_projects(
            api, reach_account(api, identity, account, now=WallClock()).identity
        )

    projects, sent = with_iam(setup, work)
    assert len(projects) == 2
    listings = [s for s in sent if s.url == AUTH_PROJECTS]
    if home == "token":
        assert [s.headers["X-Auth-Token"] for s in listings] == [
            "MIIagency-token-secret-1",
            "MIIagency-token-secret-2",
        ]
    else:
        assert [s.headers["X-Security-Token"] for s in listings] == [
            f"{SECURITY_TOKEN}1",
            f"{SECURITY_TOKEN}2",
        ]


def test_accounts_listed_at_once_find_our_account_id_once_and_their_own_each() -> None:
    beta = Account("auditor", domain_name="beta")

    def setup(fake: aioresponses) -> None:
        fake.get(DOMAINS, payload={"domains": [{"id": HOME_DOMAIN, "name": "home"}]})
        fake.post(SECURITY_TOKENS, **temporary_keys(1))
        fake.post(SECURITY_TOKENS, **temporary_keys(2))
        fake.get(DOMAINS, payload={"domains": [{"id": THEIR_DOMAIN, "name": "x"}]}, repeat=True)
        fake.get(AUTH_PROJECTS, payload=LISTED, repeat=True)

    async def work(api: IamApi, session: aiohttp.ClientSession) -> list[list[Project]]:
        home = home_keys(domain_id="")
        accesses = [reach_account(api, home, a, now=WallClock()) for a in (ACME, beta)]
        listings = asyncio.gather(*(list_projects(api, a.identity) for a in accesses))
        return list(await asyncio.wait_for(listings, timeout=5))  # no lock waits on itself

    listings, sent = with_iam(setup, work)
    assert [len(listing) for listing in listings] == [2, 2]
    asked = [s for s in sent if s.url == DOMAINS]
    ours = [s for s in asked if "X-Security-Token" not in s.headers]
    assert len(ours) == 1  # our key's account, asked once for both
    assert len(asked) == 3  # and each agency's account with its own keys


def test_the_subject_token_header_is_read_whatever_its_case() -> None:
    answer = agency_token(1)
    answer["headers"] = {"x-subject-token": "MIIagency-token-secret-lower"}

    def setup(fake: aioresponses) -> None:
        fake.post(TOKENS, **answer)

    async def work(api: IamApi, session: aiohttp.ClientSession) -> str:
        credentials = reach_account(api, TokenIdentity(HOME_TOKEN), ACME, now=WallClock())
        headers, _ = await credentials.credentials.headers(fg_get(PROJECT_A))
        return headers["X-Auth-Token"]

    token, _ = with_iam(setup, work)
    assert token == "MIIagency-token-secret-lower"
