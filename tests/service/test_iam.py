"""IAM's estate calls (`IamApi`) and the password's domain-scoped token, with HTTP faked by
aioresponses: headers, `X-Domain-Id`, retries, renewal, and every failure as a clear
`IamError` that carries no secret."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import aiohttp
import pytest
from aioresponses import aioresponses

from auditor.errors import AgencyRefused, IamError
from auditor.service.auth import IamToken, KeyPair
from auditor.service.iam import RETRY_DELAY, IamAnswer, IamApi, IamClient, iam_error
from auditor.service.identity import Identity, KeyIdentity, PasswordIdentity, TokenIdentity
from auditor.service.signer import verify
from tests.factories import Sleeps, WallClock, sent_requests

IAM = "https://iam.example.test"
DOMAINS = f"{IAM}/v3/auth/domains"
PROJECTS = f"{IAM}/v3/auth/projects"
TOKENS = f"{IAM}/v3/auth/tokens?nocatalog=true"
TOKEN = "MIItoken-iam-api-secret-0001"
AK = "HPUAIAMAPIACCESSKEY001"
SK = "sk-iam-api-secret-0123456789abcdef"
DOMAIN_ID = "0a1b2c3d4e5f60718293a4b5c6d7e8f9"
PASSWORD = "P@ssw0rd-iam-api-secret"
ERROR_401 = {"error": {"code": 401, "message": "The request you have made requires auth."}}
T = TypeVar("T")


def run(
    fake_setup: Callable[[aioresponses], None],
    work: Callable[[IamApi], Awaitable[T]],
    *,
    retries: int = 2,
) -> tuple[T | IamError, aioresponses, Sleeps]:
    """`work(api)` while aioresponses answers as `fake_setup` says; an `IamError` is returned."""
    sleeps = Sleeps()
    with aioresponses() as fake:
        fake_setup(fake)

        async def main() -> T | IamError:
            async with aiohttp.ClientSession() as session:
                api = IamApi(session, endpoint=IAM + "/", timeout=3, retries=retries, sleep=sleeps)
                try:
                    return await work(api)
                except IamError as exc:
                    return exc

        return asyncio.run(main()), fake, sleeps


def projects_as(identity: Identity) -> Callable[[IamApi], Awaitable[IamAnswer]]:
    return lambda api: api.call("GET", "/v3/auth/projects", identity, what="the projects list")


def failure(outcome: object) -> str:
    assert isinstance(outcome, IamError), outcome
    message = str(outcome)
    for secret in (TOKEN, SK, PASSWORD):
        assert secret not in message
    return message


# --- success -------------------------------------------------------------------------------


def test_a_token_call_carries_the_token_and_returns_the_json() -> None:
    answer, fake, _ = run(
        lambda fake: fake.get(PROJECTS, payload={"projects": []}),
        projects_as(TokenIdentity(TOKEN)),
    )
    assert isinstance(answer, IamAnswer)
    assert answer.status == 200
    assert answer.data == {"projects": []}
    (sent,) = sent_requests(fake)
    assert sent.url == PROJECTS  # the trailing "/" of the endpoint is not doubled
    assert sent.headers["X-Auth-Token"] == TOKEN
    assert sent.headers["Content-Type"] == "application/json;charset=utf8"
    assert "X-Domain-Id" not in sent.headers
    ((_, calls),) = fake.requests.items()
    assert calls[0].kwargs["allow_redirects"] is False


def test_a_signed_call_learns_the_account_id_once_and_carries_it_signed() -> None:
    identity = KeyIdentity(KeyPair(AK, SK), now=WallClock())

    def setup(fake: aioresponses) -> None:
        fake.get(DOMAINS, payload={"domains": [{"id": DOMAIN_ID, "name": "acme"}]})
        fake.get(PROJECTS, payload={"projects": []}, repeat=True)

    async def twice(api: IamApi) -> None:
        await projects_as(identity)(api)
        await projects_as(identity)(api)

    _, fake, _ = run(setup, twice)
    assert identity.domain_id == DOMAIN_ID
    domains, first, second = sent_requests(fake)
    assert domains.url == DOMAINS
    assert "X-Domain-Id" not in domains.headers  # the one call that finds it out
    host = "iam.example.test"
    assert verify(sk=SK, method="GET", url=DOMAINS, headers={**domains.headers, "Host": host})
    for sent in (first, second):
        assert sent.headers["X-Domain-Id"] == DOMAIN_ID
        assert "x-domain-id" in sent.headers["Authorization"]
        assert verify(sk=SK, method="GET", url=PROJECTS, headers={**sent.headers, "Host": host})


def test_a_known_account_id_is_not_asked_for() -> None:
    identity = KeyIdentity(KeyPair(AK, SK), now=WallClock(), domain_id=DOMAIN_ID)
    _, fake, _ = run(
        lambda fake: fake.get(PROJECTS, payload={"projects": []}), projects_as(identity)
    )
    (sent,) = sent_requests(fake)
    assert sent.headers["X-Domain-Id"] == DOMAIN_ID


@pytest.mark.parametrize(
    "payload", [{"domains": []}, {"domains": [{"name": "acme"}]}, {"other": 1}]
)
def test_a_list_of_domains_without_an_id_is_an_error(payload: dict[str, Any]) -> None:
    identity = KeyIdentity(KeyPair(AK, SK), now=WallClock())
    outcome, _, _ = run(lambda fake: fake.get(DOMAINS, payload=payload), projects_as(identity))
    assert "names no account" in failure(outcome)


# --- retries and renewal -------------------------------------------------------------------


def test_a_throttled_call_is_retried_after_the_advised_wait() -> None:
    throttled = {"error": {"code": "IAM.0012", "message": "Too many requests."}}

    def setup(fake: aioresponses) -> None:
        fake.get(PROJECTS, status=429, payload=throttled)
        fake.get(PROJECTS, status=429, payload=throttled, headers={"Retry-After": "7"})
        fake.get(PROJECTS, payload={"projects": []})

    answer, fake, sleeps = run(setup, projects_as(TokenIdentity(TOKEN)))
    assert isinstance(answer, IamAnswer)
    assert sleeps.delays == [RETRY_DELAY, 7.0]
    assert len(sent_requests(fake)) == 3


def test_still_throttled_after_the_retries_says_so_and_what_to_do() -> None:
    throttled = {"error": {"code": "IAM.0012", "message": "Too many requests."}}
    outcome, fake, sleeps = run(
        lambda fake: fake.get(PROJECTS, status=429, payload=throttled, repeat=True),
        projects_as(TokenIdentity(TOKEN)),
    )
    message = failure(outcome)
    assert isinstance(outcome, IamError)
    assert (outcome.status, outcome.code, outcome.transient) == (429, "IAM.0012", True)
    assert "IAM throttled the projects list (HTTP 429 IAM.0012: Too many requests.)" in message
    assert "3 times in a row" in message
    assert "wait a minute" in message
    assert len(sent_requests(fake)) == 3
    assert sleeps.delays == [RETRY_DELAY, 2 * RETRY_DELAY]


def test_a_server_error_is_retried_then_reported() -> None:
    outcome, fake, _ = run(
        lambda fake: fake.get(PROJECTS, status=503, body="<html>busy</html>", repeat=True),
        projects_as(TokenIdentity(TOKEN)),
        retries=1,
    )
    message = failure(outcome)
    assert "IAM failed the projects list (HTTP 503)" in message
    assert "try again later" in message
    assert "<html>" not in message
    assert len(sent_requests(fake)) == 2


def test_no_answer_is_retried_then_reported() -> None:
    outcome, fake, _ = run(
        lambda fake: fake.get(PROJECTS, exception=TimeoutError(), repeat=True),
        projects_as(TokenIdentity(TOKEN)),
    )
    message = failure(outcome)
    assert isinstance(outcome, IamError)
    assert outcome.transient and outcome.status is None
    assert f"IAM at {IAM} did not answer within 3 s" in message
    assert "--iam-endpoint" in message
    assert "asked 3 times" in message
    assert len(sent_requests(fake)) == 3


def test_an_unreachable_iam_is_reported() -> None:
    outcome, _, _ = run(
        lambda fake: fake.get(
            PROJECTS, exception=aiohttp.ClientConnectionError("refused"), repeat=True
        ),
        projects_as(TokenIdentity(TOKEN)),
        retries=0,
    )
    assert "unreachable (ClientConnectionError: refused)" in failure(outcome)


def test_a_refused_domain_token_is_renewed_once() -> None:
    clock = WallClock()
    issued: list[str] = []

    async def fetch() -> IamToken:
        issued.append(f"MIIdomain-{len(issued) + 1}")
        return IamToken(issued[-1], clock() + timedelta(hours=24))

    identity = PasswordIdentity(fetch, now=clock)

    def setup(fake: aioresponses) -> None:
        fake.get(PROJECTS, status=401, payload=ERROR_401)
        fake.get(PROJECTS, payload={"projects": []})

    answer, fake, sleeps = run(setup, projects_as(identity), retries=0)
    assert isinstance(answer, IamAnswer)
    assert [sent.headers["X-Auth-Token"] for sent in sent_requests(fake)] == issued
    assert issued == ["MIIdomain-1", "MIIdomain-2"]
    assert sleeps.delays == []


def test_a_token_refused_twice_is_wrong_or_expired() -> None:
    outcome, fake, _ = run(
        lambda fake: fake.get(PROJECTS, status=401, payload=ERROR_401, repeat=True),
        projects_as(TokenIdentity(TOKEN)),
    )
    message = failure(outcome)
    assert "IAM refused the projects list (HTTP 401: The request you have made" in message
    assert "wrong or expired" in message
    assert len(sent_requests(fake)) == 1  # a given token cannot be renewed: asked once


# --- refusals ------------------------------------------------------------------------------


def test_forbidden_says_what_permission_is_missing() -> None:
    forbidden = {"error": {"code": "IAM.0002", "message": "You do not have permission."}}
    outcome, _, _ = run(
        lambda fake: fake.get(PROJECTS, status=403, payload=forbidden),
        projects_as(TokenIdentity(TOKEN, account="acme-prod")),
    )
    message = failure(outcome)
    assert not isinstance(outcome, AgencyRefused)
    assert message.startswith("account acme-prod: IAM refused the projects list (HTTP 403")
    assert "lacks the permission" in message
    assert isinstance(outcome, IamError)
    assert (outcome.account, outcome.transient) == ("acme-prod", False)


@pytest.mark.parametrize("status", [403, 404])
def test_an_agency_that_refuses_is_agency_refused_naming_the_account(status: int) -> None:
    outcome, _, _ = run(
        lambda fake: fake.post(TOKENS, status=status, payload={"error": {"message": "no"}}),
        lambda api: api.call(
            "POST",
            "/v3/auth/tokens?nocatalog=true",
            TokenIdentity(TOKEN),
            what="a token of agency auditor",
            body={"auth": {}},
            expect=(201,),
            account="acme-prod",
            agency="auditor",
        ),
    )
    message = failure(outcome)
    assert isinstance(outcome, AgencyRefused)
    assert outcome.account == "acme-prod"
    assert message.startswith(f"account acme-prod: agency auditor refused (HTTP {status}: no)")
    assert "trusts" in message


def test_an_unexpected_status_points_at_the_endpoint() -> None:
    outcome, _, _ = run(
        lambda fake: fake.get(PROJECTS, status=302, headers={"Location": "https://elsewhere"}),
        projects_as(TokenIdentity(TOKEN)),
    )
    assert "answered the projects list with HTTP 302" in failure(outcome)


@pytest.mark.parametrize("body", ["not json", "[1, 2]"])
def test_a_success_that_is_not_a_json_object_is_an_error(body: str) -> None:
    outcome, _, _ = run(
        lambda fake: fake.get(PROJECTS, body=body), projects_as(TokenIdentity(TOKEN))
    )
    assert "not a JSON object" in failure(outcome)


def test_an_iam_message_that_echoes_the_token_is_blotted() -> None:
    echo = {"error": {"code": "IAM.0001", "message": f"token {TOKEN} is not valid"}}
    outcome, _, _ = run(
        lambda fake: fake.get(PROJECTS, status=400, payload=echo),
        projects_as(TokenIdentity(TOKEN)),
    )
    assert "token **** is not valid" in failure(outcome)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            b'{"error": {"code": "IAM.0012", "message": "slow down", "title": "x"}}',
            ("IAM.0012", "slow down"),
        ),
        (b'{"error": {"code": 401, "message": "no"}}', ("401", "no")),
        (
            b'{"error_code": "APIG.0308", "error_msg": "over ratelimit"}',
            ("APIG.0308", "over ratelimit"),
        ),
        (b'{"error": "flat"}', ("", "")),
        (b'{"error": {"code": true}}', ("", "")),
        (b"[]", ("", "")),
        (b"<html>", ("", "")),
    ],
)
def test_iam_error_reads_both_error_shapes(body: bytes, expected: tuple[str, str]) -> None:
    assert iam_error(body) == expected


# --- the password's domain-scoped token ----------------------------------------------------


def fetch_domain_with(answer: dict[str, Any]) -> tuple[IamToken | IamError, aioresponses]:
    with aioresponses() as fake:
        fake.post(TOKENS, **answer)

        async def main() -> IamToken | IamError:
            async with aiohttp.ClientSession() as session:
                client = IamClient(
                    session,
                    username="auditor-bot",
                    password=PASSWORD,
                    domain="acme",
                    endpoint_for_project={},
                    default_endpoint=IAM,
                )
                try:
                    return await client.fetch_domain()
                except IamError as exc:
                    return exc

        return asyncio.run(main()), fake


def test_the_domain_token_is_scoped_to_the_account_by_name() -> None:
    token, fake = fetch_domain_with(
        {
            "status": 201,
            "headers": {"X-Subject-Token": "MIIdomain-scoped"},
            "payload": {"token": {"expires_at": "2099-01-02T03:04:05.000000Z"}},
        }
    )
    assert token == IamToken("MIIdomain-scoped", datetime(2099, 1, 2, 3, 4, 5, tzinfo=UTC))
    (sent,) = sent_requests(fake)
    assert sent.url == TOKENS
    assert sent.body["auth"]["scope"] == {"domain": {"name": "acme"}}
    assert sent.body["auth"]["identity"]["methods"] == ["password"]


def test_a_refused_domain_token_names_the_variables_to_check() -> None:
    outcome, _ = fetch_domain_with(
        {"status": 401, "payload": {"error": {"message": f"password {PASSWORD} is wrong"}}}
    )
    message = failure(outcome)
    assert "IAM refused a token for account acme: HTTP 401" in message
    assert "password **** is wrong" in message
    assert "HUAWEICLOUD_PASSWORD" in message
    assert isinstance(outcome, IamError)
    assert not outcome.transient
