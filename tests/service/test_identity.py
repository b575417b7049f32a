"""The identities IAM's estate calls are made as: headers, renewal, signatures, reprs."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from auditor.errors import IamError
from auditor.service.auth import IamToken, KeyPair, Outgoing
from auditor.service.identity import KeyIdentity, PasswordIdentity, TokenIdentity
from auditor.service.signer import parse_authorization, verify
from tests.factories import NOW, WallClock

HOST = "iam.myhuaweicloud.com"
URL = f"https://{HOST}/v3/auth/projects"
BASE = {"Content-Type": "application/json;charset=utf8", "X-Domain-Id": "d" * 32}
LISTING = Outgoing("GET", URL, BASE)  # an IAM call names no project
TOKEN = "MIItoken-identity-secret-0001"
AK = "HPUAIDENTITYACCESSKEY01"
SK = "sk-identity-secret-0123456789abcdef"
SECURITY_TOKEN = "sts-identity-security-token-0002"


class DomainTokens:
    """IAM's domain-scoped tokens, numbered; refuses for good when `refuse` is set."""

    def __init__(self, clock: WallClock, refuse: bool = False) -> None:
        self.clock = clock
        self.refuse = refuse
        self.calls = 0

    async def __call__(self) -> IamToken:
        self.calls += 1
        if self.refuse:
            raise IamError("IAM refused a token for account acme: HTTP 401", status=401)
        return IamToken(f"MIIdomain-token-{self.calls}", self.clock() + timedelta(hours=24))


def test_a_token_identity_sends_the_token_and_cannot_renew_it() -> None:
    identity = TokenIdentity(TOKEN)
    headers, tag = asyncio.run(identity.headers(LISTING))
    assert headers == {**BASE, "X-Auth-Token": TOKEN}
    assert not identity.signs
    assert identity.account == ""
    assert asyncio.run(identity.refresh(tag)) is False


def test_a_password_identity_fetches_one_domain_token_and_renews_it() -> None:
    clock = WallClock()
    fetch = DomainTokens(clock)
    identity = PasswordIdentity(fetch, now=clock)

    async def main() -> None:
        answers = await asyncio.gather(*(identity.headers(LISTING) for _ in range(20)))
        assert {h["X-Auth-Token"] for h, _ in answers} == {"MIIdomain-token-1"}
        assert {tag for _, tag in answers} == {"domain:1"}
        assert await identity.refresh("domain:1") is True  # IAM said 401: renew it
        headers, tag = await identity.headers(LISTING)
        assert (headers["X-Auth-Token"], tag) == ("MIIdomain-token-2", "domain:2")
        clock.now = NOW + timedelta(hours=24)  # expired: renewed before use
        headers, _ = await identity.headers(LISTING)
        assert headers["X-Auth-Token"] == "MIIdomain-token-3"

    asyncio.run(main())
    assert fetch.calls == 3


def test_a_refused_password_is_tried_once() -> None:
    clock = WallClock()
    fetch = DomainTokens(clock, refuse=True)
    identity = PasswordIdentity(fetch, now=clock)

    async def main() -> None:
        for _ in range(3):
            with pytest.raises(IamError, match="HTTP 401"):
                await identity.headers(LISTING)
        assert await identity.refresh("domain:0") is False

    asyncio.run(main())
    assert fetch.calls == 1


def test_a_key_identity_signs_every_header_it_is_given_and_no_project() -> None:
    identity = KeyIdentity(KeyPair(AK, SK), now=WallClock())
    headers, tag = asyncio.run(identity.headers(LISTING))
    assert tag == "aksk"
    assert identity.signs
    assert "X-Project-Id" not in headers
    assert "X-Security-Token" not in headers
    authorization = parse_authorization(headers["Authorization"])
    assert authorization is not None
    assert authorization.access == AK
    assert authorization.signed_headers == "content-type;host;x-domain-id;x-sdk-date"
    assert verify(sk=SK, method="GET", url=URL, headers={**headers, "Host": HOST})
    forged = {**headers, "Host": HOST, "X-Domain-Id": "e" * 32}
    assert not verify(sk=SK, method="GET", url=URL, headers=forged)  # the account is signed
    assert asyncio.run(identity.refresh(tag)) is False


def test_a_key_identity_with_a_security_token_sends_it_signed() -> None:
    identity = KeyIdentity(KeyPair(AK, SK, SECURITY_TOKEN), now=WallClock(), domain_id="d" * 32)
    headers, _ = asyncio.run(identity.headers(Outgoing("POST", URL, BASE, b'{"a": 1}')))
    assert headers["X-Security-Token"] == SECURITY_TOKEN
    authorization = parse_authorization(headers["Authorization"])
    assert authorization is not None
    assert "x-security-token" in authorization.signed_headers.split(";")
    received = {**headers, "Host": HOST}
    assert verify(sk=SK, method="POST", url=URL, headers=received, body=b'{"a": 1}')
    assert not verify(sk=SK, method="POST", url=URL, headers=received, body=b'{"a": 2}')
    assert identity.domain_id == "d" * 32
    assert "security token" in identity.method


def test_identities_never_show_a_secret() -> None:
    clock = WallClock()
    password = PasswordIdentity(DomainTokens(clock), now=clock)
    asyncio.run(password.headers(LISTING))
    identities = [
        TokenIdentity(TOKEN),
        password,
        KeyIdentity(KeyPair(AK, SK, SECURITY_TOKEN), now=clock),
    ]
    for identity in identities:
        for text in (repr(identity), str(identity), identity.method):
            for secret in (TOKEN, "MIIdomain-token", SK, SECURITY_TOKEN, AK):
                assert secret not in text
