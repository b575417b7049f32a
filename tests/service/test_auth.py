"""Credentials: headers, version tags, scopes, secret-free reprs, and IAM token caching."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import timedelta

import pytest

from auditor.errors import CredentialsUnavailable
from auditor.service.auth import (
    ACCESS_KEY_SCOPE,
    REFRESH_MARGIN,
    AkSkCredentials,
    Credentials,
    CredentialsByProject,
    IamPasswordTokens,
    IamToken,
    KeyPair,
    Outgoing,
    ProjectTokens,
    StaticToken,
    project_scope,
)
from auditor.service.signer import parse_authorization, verify
from tests.factories import NOW, WallClock

PROJECT_A = "0123456789abcdef0123456789abcdef"
PROJECT_B = "fedcba9876543210fedcba9876543210"
HOST = "functiongraph.cn-north-4.myhuaweicloud.com"
URL = (
    f"https://{HOST}/v2/{PROJECT_A}/fgs/functions/"
    f"urn%3Afss%3Acn-north-4%3A{PROJECT_A}%3Afunction%3Adefault%3Afn/tracing"
)
BASE = {"Content-Type": "application/json"}
TOKEN = "MIItoken-static-secret-0001"
FILE_TOKEN = "MIItoken-from-file-secret-0002"
AK = "HPUAEXAMPLEACCESSKEY01"
SK = "sk-very-secret-0123456789abcdefghij"
SECURITY_TOKEN = "sts-security-token-secret-0003"


def get_in(project_id: str) -> Outgoing:
    """The tracing GET of `URL`, as the client asks credentials to authenticate it."""
    return Outgoing("GET", URL, BASE, project_id=project_id)


def headers_of(credentials: Credentials, project: str = PROJECT_A) -> tuple[dict[str, str], str]:
    return asyncio.run(credentials.headers(get_in(project)))


class CountingFetcher:
    """An IAM stand-in: counts fetches per project, sleeps a little, numbers its tokens."""

    def __init__(
        self,
        clock: WallClock,
        *,
        lifetime: timedelta = timedelta(hours=24),
        refuse: frozenset[str] = frozenset(),
        delay: float = 0.01,
    ) -> None:
        self.clock = clock
        self.lifetime = lifetime
        self.refuse = refuse
        self.delay = delay
        self.calls: Counter[str] = Counter()

    async def __call__(self, project_id: str) -> IamToken:
        self.calls[project_id] += 1
        await asyncio.sleep(self.delay)
        if project_id in self.refuse:
            raise CredentialsUnavailable(
                f"IAM refused a token for project {project_id}: HTTP 401 (wrong password)"
            )
        number = self.calls[project_id]
        return IamToken(f"iam-token-{project_id[:4]}-{number}", self.clock() + self.lifetime)


# --- StaticToken ---------------------------------------------------------------------------


def test_static_token_headers_keep_the_base_and_add_the_token() -> None:
    headers, tag = headers_of(StaticToken(TOKEN))
    assert headers == {**BASE, "X-Auth-Token": TOKEN}
    assert tag == "static"


def test_static_token_does_not_change_the_base_mapping() -> None:
    base = dict(BASE)
    asyncio.run(StaticToken(TOKEN).headers(Outgoing("GET", URL, base, project_id=PROJECT_A)))
    assert base == BASE


def test_static_token_cannot_be_refreshed_and_fails_per_project() -> None:
    credentials = StaticToken(TOKEN)
    assert asyncio.run(credentials.refresh(PROJECT_A, "static")) is False
    assert credentials.scopes(PROJECT_A) == (project_scope(PROJECT_A),)
    assert credentials.scopes(PROJECT_B) == (f"project {PROJECT_B}",)


def test_static_token_repr_and_method_hide_the_token() -> None:
    credentials = StaticToken(TOKEN)
    for text in (repr(credentials), str(credentials), credentials.method):
        assert TOKEN not in text
        assert TOKEN[:8] not in text


# --- ProjectTokens -------------------------------------------------------------------------


def test_project_tokens_use_the_file_token_for_listed_projects() -> None:
    credentials = ProjectTokens({PROJECT_A: FILE_TOKEN}, StaticToken(TOKEN), "creds.toml")
    headers, tag = headers_of(credentials, PROJECT_A)
    assert headers == {**BASE, "X-Auth-Token": FILE_TOKEN}
    assert tag == "file"


def test_project_tokens_use_the_fallback_for_other_projects() -> None:
    credentials = ProjectTokens({PROJECT_A: FILE_TOKEN}, StaticToken(TOKEN), "creds.toml")
    headers, tag = headers_of(credentials, PROJECT_B)
    assert headers == {**BASE, "X-Auth-Token": TOKEN}
    assert tag == "static"


def test_project_tokens_without_fallback_refuse_an_unlisted_project() -> None:
    credentials = ProjectTokens({PROJECT_A: FILE_TOKEN}, None, "/etc/auditor/creds.toml")
    with pytest.raises(CredentialsUnavailable) as info:
        headers_of(credentials, PROJECT_B)
    message = str(info.value)
    assert PROJECT_B in message
    assert "/etc/auditor/creds.toml" in message
    assert FILE_TOKEN not in message
    assert PROJECT_A not in message  # nor which other projects have tokens


def test_project_tokens_scopes_follow_whoever_supplies_the_credential() -> None:
    aksk = AkSkCredentials(KeyPair(AK, SK), now=WallClock())
    credentials = ProjectTokens({PROJECT_A: FILE_TOKEN}, aksk, "creds.toml")
    assert credentials.scopes(PROJECT_A) == (project_scope(PROJECT_A),)
    assert credentials.scopes(PROJECT_B) == (project_scope(PROJECT_B), ACCESS_KEY_SCOPE)
    alone = ProjectTokens({PROJECT_A: FILE_TOKEN}, None, "creds.toml")
    assert alone.scopes(PROJECT_B) == (project_scope(PROJECT_B),)


def test_project_tokens_refresh_only_through_the_fallback() -> None:
    aksk = ProjectTokens(
        {PROJECT_A: FILE_TOKEN}, AkSkCredentials(KeyPair(AK, SK), now=WallClock()), "f"
    )
    assert asyncio.run(aksk.refresh(PROJECT_A, "file")) is False  # a file token cannot renew
    # AK/SK never retries: the same key and clock cannot pass where they just failed.
    assert asyncio.run(aksk.refresh(PROJECT_B, "aksk")) is False
    static = ProjectTokens({PROJECT_A: FILE_TOKEN}, StaticToken(TOKEN), "f")
    assert asyncio.run(static.refresh(PROJECT_B, "static")) is False
    alone = ProjectTokens({PROJECT_A: FILE_TOKEN}, None, "f")
    assert asyncio.run(alone.refresh(PROJECT_B, "")) is False


def test_project_tokens_method_names_the_file_and_fallback_but_no_secret() -> None:
    credentials = ProjectTokens({PROJECT_A: FILE_TOKEN}, StaticToken(TOKEN), "creds.toml")
    assert "creds.toml" in credentials.method
    assert StaticToken.method in credentials.method
    for text in (repr(credentials), credentials.method):
        assert FILE_TOKEN not in text
        assert TOKEN not in text
        assert PROJECT_A not in text
    assert "1 projects" in repr(credentials)


# --- AkSkCredentials -----------------------------------------------------------------------


def test_aksk_headers_verify_for_the_same_url() -> None:
    credentials = AkSkCredentials(KeyPair(AK, SK), now=WallClock())
    headers, tag = headers_of(credentials)
    assert tag == "aksk"
    assert headers["Content-Type"] == "application/json"  # the base is kept, and signed
    assert headers["X-Sdk-Date"] == "20240506T070809Z"
    assert headers["X-Project-Id"] == PROJECT_A
    authorization = parse_authorization(headers["Authorization"])
    assert authorization is not None
    assert authorization.access == AK
    assert authorization.signed_headers.split(";") == [
        "content-type",
        "host",
        "x-project-id",
        "x-sdk-date",
    ]
    received = {**headers, "Host": HOST}  # aiohttp adds Host on the wire
    assert verify(sk=SK, method="GET", url=URL, headers=received)
    assert not verify(sk=SK + "x", method="GET", url=URL, headers=received)
    assert not verify(sk=SK, method="GET", url=URL.replace("/tracing", "/other"), headers=received)
    assert not verify(sk=SK, method="POST", url=URL, headers=received)


def test_aksk_signs_with_the_clock_it_is_given() -> None:
    clock = WallClock()
    credentials = AkSkCredentials(KeyPair(AK, SK), now=clock)
    first, _ = headers_of(credentials)
    clock.now = NOW + timedelta(seconds=61)
    second, _ = headers_of(credentials)
    assert second["X-Sdk-Date"] == "20240506T070910Z"
    assert first["Authorization"] != second["Authorization"]  # re-signed, not cached


def test_aksk_sends_and_signs_the_security_token() -> None:
    credentials = AkSkCredentials(KeyPair(AK, SK, SECURITY_TOKEN), now=WallClock())
    headers, _ = headers_of(credentials, PROJECT_B)
    assert headers["X-Security-Token"] == SECURITY_TOKEN
    assert headers["X-Project-Id"] == PROJECT_B
    authorization = parse_authorization(headers["Authorization"])
    assert authorization is not None
    assert "x-security-token" in authorization.signed_headers.split(";")
    assert verify(sk=SK, method="GET", url=URL, headers={**headers, "Host": HOST})
    assert "security token" in credentials.method


def test_aksk_without_security_token_sends_none() -> None:
    for given in (None, ""):
        credentials = AkSkCredentials(KeyPair(AK, SK, given), now=WallClock())
        headers, _ = headers_of(credentials)
        assert "X-Security-Token" not in headers
        assert "security token" not in credentials.method


def test_aksk_scopes_include_the_access_key_and_refresh_is_never_worth_a_retry() -> None:
    credentials = AkSkCredentials(KeyPair(AK, SK), now=WallClock())
    assert credentials.scopes(PROJECT_A) == (project_scope(PROJECT_A), ACCESS_KEY_SCOPE)
    assert credentials.scopes(PROJECT_B) == (project_scope(PROJECT_B), ACCESS_KEY_SCOPE)
    assert asyncio.run(credentials.refresh(PROJECT_A, "aksk")) is False


def test_aksk_repr_and_method_hide_the_secret_key_and_security_token() -> None:
    credentials = AkSkCredentials(KeyPair(AK, SK, SECURITY_TOKEN), now=WallClock())
    for text in (repr(credentials), str(credentials), credentials.method):
        assert SK not in text
        assert SK[:8] not in text
        assert SECURITY_TOKEN not in text
        assert AK not in text  # only a prefix of the access key is shown
    assert repr(credentials).startswith("AkSkCredentials(access_key=HPUA****")


def test_a_key_pair_shows_only_the_start_of_its_access_key() -> None:
    keys = KeyPair(AK, SK, SECURITY_TOKEN)
    for text in (repr(keys), str(keys), keys.shown, keys.method):
        for secret in (SK, SK[:8], SECURITY_TOKEN, AK):
            assert secret not in text
    assert repr(keys) == "KeyPair(access_key=HPUA****, secret_key=****)"
    assert keys.method == "AK/SK signature with security token"
    assert KeyPair(AK, SK, "").method == "AK/SK signature"  # an empty token is none


def test_an_outgoing_request_never_shows_its_body() -> None:
    body = b'{"tracing_ak": "AK", "tracing_sk": "' + SK.encode() + b'"}'
    out = Outgoing("PUT", URL, BASE, body, project_id=PROJECT_A)
    for text in (repr(out), str(out)):
        assert SK not in text
    assert repr(out) == f"Outgoing(PUT {URL}, {len(body)} bytes)"


# --- IamPasswordTokens ---------------------------------------------------------------------


def test_iam_headers_carry_the_fetched_token_and_a_generation_tag() -> None:
    clock = WallClock()
    fetcher = CountingFetcher(clock)
    credentials = IamPasswordTokens(fetcher, now=clock)

    async def main() -> None:
        headers, tag = await credentials.headers(get_in(PROJECT_A))
        assert headers == {**BASE, "X-Auth-Token": "iam-token-0123-1"}
        assert tag == "iam:1"
        other, other_tag = await credentials.headers(get_in(PROJECT_B))
        assert other["X-Auth-Token"] == "iam-token-fedc-1"  # a token per project
        assert other_tag == "iam:1"

    asyncio.run(main())
    assert fetcher.calls == {PROJECT_A: 1, PROJECT_B: 1}
    assert credentials.scopes(PROJECT_A) == (project_scope(PROJECT_A),)


def test_iam_fetches_once_per_project_however_many_workers_wait() -> None:
    clock = WallClock()
    fetcher = CountingFetcher(clock, delay=0.02)
    credentials = IamPasswordTokens(fetcher, now=clock)

    async def main() -> list[tuple[dict[str, str], str]]:
        calls = [
            credentials.headers(get_in(project))
            for _ in range(50)
            for project in (PROJECT_A, PROJECT_B)
        ]
        return await asyncio.gather(*calls)

    answers = asyncio.run(main())
    assert fetcher.calls == {PROJECT_A: 1, PROJECT_B: 1}
    tokens = Counter(headers["X-Auth-Token"] for headers, _ in answers)
    assert tokens == {"iam-token-0123-1": 50, "iam-token-fedc-1": 50}
    assert {tag for _, tag in answers} == {"iam:1"}


def test_iam_token_is_cached_until_five_minutes_before_expiry() -> None:
    clock = WallClock()
    fetcher = CountingFetcher(clock, lifetime=timedelta(hours=1))
    credentials = IamPasswordTokens(fetcher, now=clock)

    async def main() -> None:
        _, tag = await credentials.headers(get_in(PROJECT_A))
        assert tag == "iam:1"
        expires = NOW + timedelta(hours=1)
        clock.now = expires - REFRESH_MARGIN - timedelta(seconds=1)
        headers, tag = await credentials.headers(get_in(PROJECT_A))
        assert (headers["X-Auth-Token"], tag) == ("iam-token-0123-1", "iam:1")
        assert fetcher.calls[PROJECT_A] == 1
        clock.now = expires - REFRESH_MARGIN  # inside the margin: fetched anew
        headers, tag = await credentials.headers(get_in(PROJECT_A))
        assert (headers["X-Auth-Token"], tag) == ("iam-token-0123-2", "iam:2")
        assert fetcher.calls[PROJECT_A] == 2
        headers, tag = await credentials.headers(get_in(PROJECT_A))
        assert (headers["X-Auth-Token"], tag) == ("iam-token-0123-2", "iam:2")

    asyncio.run(main())
    assert fetcher.calls[PROJECT_A] == 2
    assert timedelta(minutes=5) == REFRESH_MARGIN


def test_iam_refresh_with_the_current_tag_drops_the_token() -> None:
    clock = WallClock()
    fetcher = CountingFetcher(clock)
    credentials = IamPasswordTokens(fetcher, now=clock)

    async def main() -> None:
        _, tag = await credentials.headers(get_in(PROJECT_A))
        assert await credentials.refresh(PROJECT_A, tag) is True
        headers, new_tag = await credentials.headers(get_in(PROJECT_A))
        assert headers["X-Auth-Token"] == "iam-token-0123-2"
        assert new_tag == "iam:2" != tag
        # Project B's token is untouched by A's refresh.
        await credentials.headers(get_in(PROJECT_B))
        assert await credentials.refresh(PROJECT_A, new_tag) is True
        await credentials.headers(get_in(PROJECT_B))

    asyncio.run(main())
    assert fetcher.calls == {PROJECT_A: 2, PROJECT_B: 1}


def test_iam_refresh_with_an_old_tag_does_not_fetch_again() -> None:
    clock = WallClock()
    fetcher = CountingFetcher(clock)
    credentials = IamPasswordTokens(fetcher, now=clock)

    async def main() -> None:
        _, old = await credentials.headers(get_in(PROJECT_A))
        assert await credentials.refresh(PROJECT_A, old) is True
        _, current = await credentials.headers(get_in(PROJECT_A))
        # Another worker was refused with the old token: a fresh one exists already.
        assert await credentials.refresh(PROJECT_A, old) is True
        headers, tag = await credentials.headers(get_in(PROJECT_A))
        assert tag == current == "iam:2"
        assert headers["X-Auth-Token"] == "iam-token-0123-2"

    asyncio.run(main())
    assert fetcher.calls[PROJECT_A] == 2


def test_iam_many_refusals_of_one_token_fetch_one_new_token() -> None:
    clock = WallClock()
    fetcher = CountingFetcher(clock)
    credentials = IamPasswordTokens(fetcher, now=clock)

    async def main() -> set[str]:
        _, tag = await credentials.headers(get_in(PROJECT_A))

        async def refused_worker() -> str:
            await credentials.refresh(PROJECT_A, tag)
            headers, _ = await credentials.headers(get_in(PROJECT_A))
            return headers["X-Auth-Token"]

        return set(await asyncio.gather(*(refused_worker() for _ in range(30))))

    assert asyncio.run(main()) == {"iam-token-0123-2"}
    assert fetcher.calls[PROJECT_A] == 2


def test_iam_refusal_is_remembered_and_iam_is_not_asked_again() -> None:
    clock = WallClock()
    fetcher = CountingFetcher(clock, refuse=frozenset({PROJECT_B}))
    credentials = IamPasswordTokens(fetcher, now=clock)

    async def main() -> None:
        with pytest.raises(CredentialsUnavailable, match=PROJECT_B):
            await credentials.headers(get_in(PROJECT_B))
        assert await credentials.refresh(PROJECT_B, "iam:0") is False
        for _ in range(5):
            with pytest.raises(CredentialsUnavailable, match="wrong password"):
                await credentials.headers(get_in(PROJECT_B))
        # Project A is not affected.
        headers, _ = await credentials.headers(get_in(PROJECT_A))
        assert headers["X-Auth-Token"] == "iam-token-0123-1"

    asyncio.run(main())
    assert fetcher.calls == {PROJECT_A: 1, PROJECT_B: 1}


def test_iam_refusal_with_concurrent_waiters_asks_iam_once() -> None:
    clock = WallClock()
    fetcher = CountingFetcher(clock, refuse=frozenset({PROJECT_B}), delay=0.02)
    credentials = IamPasswordTokens(fetcher, now=clock)

    async def main() -> list[object]:
        calls = [credentials.headers(get_in(PROJECT_B)) for _ in range(50)]
        return await asyncio.gather(*calls, return_exceptions=True)

    outcomes = asyncio.run(main())
    assert all(isinstance(o, CredentialsUnavailable) for o in outcomes)
    assert fetcher.calls == {PROJECT_B: 1}


def test_iam_repr_and_method_hide_tokens() -> None:
    clock = WallClock()
    credentials = IamPasswordTokens(CountingFetcher(clock), now=clock)
    headers_of(credentials)
    for text in (repr(credentials), credentials.method):
        assert "iam-token" not in text
        assert PROJECT_A not in text
    assert "1 projects" in repr(credentials)


def test_an_iam_token_repr_hides_the_token() -> None:
    token = IamToken("MIIsecret-token-in-repr", NOW)
    assert "MIIsecret" not in repr(token)
    assert "MIIsecret" not in str(token)
    assert "2024-05-06" in repr(token)


def test_a_refresh_with_a_tag_of_another_kind_does_not_drop_the_token() -> None:
    clock = WallClock()
    fetcher = CountingFetcher(clock)
    credentials = IamPasswordTokens(fetcher, now=clock)

    async def main() -> None:
        await credentials.headers(get_in(PROJECT_A))
        assert await credentials.refresh(PROJECT_A, "static") is True
        _, tag = await credentials.headers(get_in(PROJECT_A))
        assert tag == "iam:1"

    asyncio.run(main())
    assert fetcher.calls[PROJECT_A] == 1


# --- CredentialsByProject ------------------------------------------------------------------


def test_credentials_by_project_ask_with_the_accounts_credentials() -> None:
    clock = WallClock()
    theirs = AkSkCredentials(KeyPair(AK, SK, SECURITY_TOKEN), now=clock)
    ours = StaticToken(TOKEN)
    estate = CredentialsByProject({PROJECT_B: theirs}, ours)

    async def main() -> None:
        headers, tag = await estate.headers(get_in(PROJECT_A))
        assert (headers["X-Auth-Token"], tag) == (TOKEN, "static")
        headers, tag = await estate.headers(get_in(PROJECT_B))
        assert headers["X-Security-Token"] == SECURITY_TOKEN
        assert tag == "aksk"
        assert await estate.refresh(PROJECT_B, "aksk") is False

    asyncio.run(main())
    assert estate.scopes(PROJECT_A) == (project_scope(PROJECT_A),)
    assert estate.scopes(PROJECT_B) == (project_scope(PROJECT_B), ACCESS_KEY_SCOPE)
    assert estate.rate_scope(PROJECT_A) == "token"
    assert estate.rate_scope(PROJECT_B) == ACCESS_KEY_SCOPE
    assert estate.method == f"{StaticToken.method}, and 1 other accounts"
    for text in (repr(estate), estate.method):
        assert TOKEN not in text
        assert SECURITY_TOKEN not in text
        assert PROJECT_B not in text
