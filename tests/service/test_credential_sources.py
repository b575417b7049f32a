"""Choosing credentials from the environment and a credentials file, and building them;
and the IAM client that password credentials fetch their tokens with."""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aioresponses import aioresponses
from yarl import URL

from auditor.config import DEFAULT_IAM_ENDPOINT, Settings
from auditor.errors import ConfigError, CredentialsUnavailable, UsageError
from auditor.service.auth import (
    AkSkCredentials,
    Credentials,
    IamPasswordTokens,
    IamToken,
    Outgoing,
    ProjectTokens,
    StaticToken,
)
from auditor.service.credential_sources import (
    CredentialsFile,
    CredentialSource,
    choose_credentials,
    load_credentials_file,
)
from auditor.service.iam import IamClient
from auditor.service.identity import Identity, KeyIdentity, PasswordIdentity, TokenIdentity

PROJECT_A = "0123456789abcdef0123456789abcdef"
PROJECT_B = "fedcba9876543210fedcba9876543210"
TOKEN = "MIItoken-env-secret-0001"
FILE_TOKEN = "MIItoken-file-secret-0002"
AK = "HPUAEXAMPLEACCESSKEY01"
SK = "sk-very-secret-0123456789abcdefghij"
PASSWORD = "P@ssw0rd-very-secret"
TOKEN_ENV = {"AUDITOR_TOKEN": TOKEN}
AKSK_ENV = {"HUAWEICLOUD_SDK_AK": AK, "HUAWEICLOUD_SDK_SK": SK}
PASSWORD_ENV = {
    "HUAWEICLOUD_USERNAME": "auditor-bot",
    "HUAWEICLOUD_PASSWORD": PASSWORD,
    "HUAWEICLOUD_DOMAIN_NAME": "acme",
}
URL_A = f"https://functiongraph.cn-north-4.myhuaweicloud.com/v2/{PROJECT_A}/fgs/functions"
BASE = {"Content-Type": "application/json"}
IAM_ANSWER: dict[str, Any] = {
    "status": 201,
    "headers": {"X-Subject-Token": "MIIiam-token-secret"},
    "payload": {"token": {"expires_at": "2099-01-01T00:00:00.000000Z"}},
}


def get_in(project_id: str) -> Outgoing:
    """A ListFunctions GET, as the client asks credentials to authenticate it."""
    return Outgoing("GET", URL_A, BASE, project_id=project_id)


def built(source: CredentialSource, regions: Mapping[str, str] | None = None) -> Credentials:
    """Build the credentials with a real (unused) aiohttp session."""

    async def main() -> Credentials:
        async with aiohttp.ClientSession() as session:
            return source.build(session, regions or {})

    return asyncio.run(main())


def tokens_file(tmp_path: Path, text: str, mode: int = 0o600) -> Path:
    path = tmp_path / "credentials.toml"
    path.write_text(text, encoding="utf-8")
    os.chmod(path, mode)
    return path


def file_of(tmp_path: Path) -> CredentialsFile:
    return load_credentials_file(
        tokens_file(tmp_path, f'[tokens]\n"{PROJECT_A}" = "{FILE_TOKEN}"\n')
    )


# --- precedence ----------------------------------------------------------------------------


def test_token_from_the_environment() -> None:
    source = choose_credentials(TOKEN_ENV, Settings())
    assert source.method == StaticToken.method
    credentials = built(source)
    assert isinstance(credentials, StaticToken)
    headers, _ = asyncio.run(credentials.headers(get_in(PROJECT_A)))
    assert headers["X-Auth-Token"] == TOKEN


def test_token_wins_over_aksk_and_password() -> None:
    source = choose_credentials({**PASSWORD_ENV, **AKSK_ENV, **TOKEN_ENV}, Settings())
    assert isinstance(built(source), StaticToken)


def test_aksk_wins_over_password() -> None:
    source = choose_credentials({**PASSWORD_ENV, **AKSK_ENV}, Settings())
    credentials = built(source)
    assert isinstance(credentials, AkSkCredentials)
    assert source.method == "AK/SK signature"
    headers, _ = asyncio.run(credentials.headers(get_in(PROJECT_A)))
    assert headers["Authorization"].startswith(f"SDK-HMAC-SHA256 Access={AK},")
    assert "X-Security-Token" not in headers


def test_aksk_with_a_security_token() -> None:
    env = {**AKSK_ENV, "HUAWEICLOUD_SDK_SECURITY_TOKEN": "sts-secret"}
    source = choose_credentials(env, Settings())
    credentials = built(source)
    headers, _ = asyncio.run(credentials.headers(get_in(PROJECT_A)))
    assert headers["X-Security-Token"] == "sts-secret"
    assert "security token" in source.method
    assert "sts-secret" not in source.method


def test_password_when_nothing_else_is_set() -> None:
    source = choose_credentials(PASSWORD_ENV, Settings())
    assert source.method == IamPasswordTokens.method
    assert isinstance(built(source), IamPasswordTokens)
    assert PASSWORD not in source.method


def test_file_wins_over_everything_and_falls_back(tmp_path: Path) -> None:
    env = {**PASSWORD_ENV, **AKSK_ENV, **TOKEN_ENV}
    source = choose_credentials(env, Settings(), file_of(tmp_path))
    assert "credentials.toml" in source.method
    assert StaticToken.method in source.method
    credentials = built(source)
    assert isinstance(credentials, ProjectTokens)

    async def main() -> tuple[str, str]:
        a, _ = await credentials.headers(get_in(PROJECT_A))
        b, _ = await credentials.headers(get_in(PROJECT_B))
        return a["X-Auth-Token"], b["X-Auth-Token"]

    assert asyncio.run(main()) == (FILE_TOKEN, TOKEN)


def test_file_alone_has_no_fallback(tmp_path: Path) -> None:
    source = choose_credentials({}, Settings(), file_of(tmp_path))
    assert source.method == f"per-project tokens ({tmp_path / 'credentials.toml'})"
    credentials = built(source)
    assert isinstance(credentials, ProjectTokens)
    assert FILE_TOKEN not in source.method


def test_blank_values_do_not_count() -> None:
    with pytest.raises(UsageError):
        choose_credentials({"AUDITOR_TOKEN": "  ", "HUAWEICLOUD_SDK_AK": ""}, Settings())


def test_no_credentials_at_all_is_a_usage_error() -> None:
    with pytest.raises(UsageError) as info:
        choose_credentials({"PATH": "/usr/bin"}, Settings())
    message = str(info.value)
    for name in ("AUDITOR_TOKEN", "HUAWEICLOUD_SDK_AK", "HUAWEICLOUD_USERNAME", "--credentials"):
        assert name in message


@pytest.mark.parametrize(
    ("env", "missing"),
    [
        ({"HUAWEICLOUD_SDK_AK": AK}, "HUAWEICLOUD_SDK_SK"),
        ({"HUAWEICLOUD_SDK_SK": SK}, "HUAWEICLOUD_SDK_AK"),
        ({"HUAWEICLOUD_SDK_AK": AK, "HUAWEICLOUD_SDK_SK": " "}, "HUAWEICLOUD_SDK_SK"),
    ],
)
def test_incomplete_aksk_names_the_missing_variable(env: dict[str, str], missing: str) -> None:
    with pytest.raises(UsageError, match=missing) as info:
        choose_credentials({**env, **PASSWORD_ENV}, Settings())  # not quietly skipped
    assert SK not in str(info.value)
    assert AK not in str(info.value)


@pytest.mark.parametrize("absent", sorted(PASSWORD_ENV))
def test_incomplete_password_set_names_the_missing_variable(absent: str) -> None:
    env = {k: v for k, v in PASSWORD_ENV.items() if k != absent}
    with pytest.raises(UsageError) as info:
        choose_credentials(env, Settings())
    message = str(info.value)
    assert absent in message
    for present in set(PASSWORD_ENV) - {absent}:
        assert present not in message
    assert PASSWORD not in message


def test_only_a_password_names_both_other_variables() -> None:
    with pytest.raises(UsageError) as info:
        choose_credentials({"HUAWEICLOUD_PASSWORD": PASSWORD}, Settings())
    assert "HUAWEICLOUD_USERNAME" in str(info.value)
    assert "HUAWEICLOUD_DOMAIN_NAME" in str(info.value)
    assert PASSWORD not in str(info.value)


# --- the credentials file ------------------------------------------------------------------


def test_load_a_good_file(tmp_path: Path) -> None:
    path = tokens_file(
        tmp_path, f'[tokens]\n"{PROJECT_A}" = "{FILE_TOKEN}"\n{PROJECT_B} = "other-token"\n'
    )
    loaded = load_credentials_file(path)
    assert loaded.path == path
    assert loaded.tokens == {PROJECT_A: FILE_TOKEN, PROJECT_B: "other-token"}
    assert loaded.warning == ""
    assert FILE_TOKEN not in repr(loaded.warning)


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.toml"
    with pytest.raises(ConfigError) as info:
        load_credentials_file(path)
    assert str(path) in str(info.value)
    assert "no such file" in str(info.value)


def test_a_directory_is_not_readable(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="is a directory"):
        load_credentials_file(tmp_path)


def test_invalid_toml_never_quotes_the_file(tmp_path: Path) -> None:
    secret = "MIIplanted-secret-token-xyz"
    path = tokens_file(tmp_path, f'[tokens]\n"{PROJECT_A}" = "{secret}\n{secret} = = =\n')
    with pytest.raises(ConfigError) as info:
        load_credentials_file(path)
    message = str(info.value)
    assert str(path) in message
    assert "invalid TOML" in message
    assert secret not in message
    assert "planted" not in message
    assert info.value.__cause__ is None
    assert info.value.__suppress_context__  # the parser's message is not chained either


def test_a_file_that_is_not_utf8_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "credentials.toml"
    path.write_bytes(f'[tokens]\n"{PROJECT_A}" = "tok\xe9n"\n'.encode("latin-1"))
    os.chmod(path, 0o600)
    with pytest.raises(ConfigError, match="not UTF-8 text"):
        load_credentials_file(path)


@pytest.mark.parametrize(
    "text",
    [
        "",  # no [tokens] at all
        'tokens = "MIIflat-secret"\n',  # not a table
        '[tokens]\n"p" = 42\n',  # not a string
        '[tokens]\n"p" = ""\n',  # empty token
        '[tokens.nested]\n"p" = "MIInested-secret"\n',  # a table, not a token
    ],
)
def test_wrong_shape(tmp_path: Path, text: str) -> None:
    path = tokens_file(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_credentials_file(path)
    message = str(info.value)
    assert "expected a [tokens] table" in message
    assert str(path) in message
    assert "secret" not in message


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o660, 0o644, 0o610])
def test_a_file_others_can_read_gets_a_warning(tmp_path: Path, mode: int) -> None:
    path = tokens_file(tmp_path, f'[tokens]\n"{PROJECT_A}" = "{FILE_TOKEN}"\n', mode)
    loaded = load_credentials_file(path)
    assert loaded.tokens == {PROJECT_A: FILE_TOKEN}  # still usable
    assert "chmod 600" in loaded.warning
    assert str(path) in loaded.warning
    assert f"{mode:o}" in loaded.warning
    assert FILE_TOKEN not in loaded.warning


@pytest.mark.parametrize("mode", [0o600, 0o400])
def test_a_private_file_gets_no_warning(tmp_path: Path, mode: int) -> None:
    path = tokens_file(tmp_path, f'[tokens]\n"{PROJECT_A}" = "{FILE_TOKEN}"\n', mode)
    assert load_credentials_file(path).warning == ""


# --- building password credentials: which IAM is asked, and how ----------------------------


def test_password_tokens_come_from_the_iam_endpoint_of_the_project_region() -> None:
    settings = Settings(
        iam_endpoint="https://iam.default.example",
        iam_endpoints={"cn-north-4": "https://iam.cn-north-4.example"},
    )
    source = choose_credentials(PASSWORD_ENV, settings)
    regions = {PROJECT_A: "cn-north-4", PROJECT_B: "ap-southeast-1"}

    with aioresponses() as fake:
        fake.post(re.compile(r"https://iam\.cn-north-4\.example/.*"), **IAM_ANSWER)
        fake.post(re.compile(r"https://iam\.default\.example/.*"), **IAM_ANSWER)

        async def main() -> dict[str, str]:
            async with aiohttp.ClientSession() as session:
                credentials = source.build(session, regions)
                assert isinstance(credentials, IamPasswordTokens)
                a, _ = await credentials.headers(get_in(PROJECT_A))
                b, _ = await credentials.headers(get_in(PROJECT_B))
                return {"a": a["X-Auth-Token"], "b": b["X-Auth-Token"]}

        tokens = asyncio.run(main())

    assert tokens == {"a": "MIIiam-token-secret", "b": "MIIiam-token-secret"}
    posted = {url: calls for (method, url), calls in fake.requests.items() if method == "POST"}
    assert set(posted) == {
        URL("https://iam.cn-north-4.example/v3/auth/tokens?nocatalog=true"),
        URL("https://iam.default.example/v3/auth/tokens?nocatalog=true"),
    }
    regional = posted[URL("https://iam.cn-north-4.example/v3/auth/tokens?nocatalog=true")]
    assert len(regional) == 1
    body = regional[0].kwargs["json"]
    assert body == {
        "auth": {
            "identity": {
                "methods": ["password"],
                "password": {
                    "user": {
                        "name": "auditor-bot",
                        "password": PASSWORD,
                        "domain": {"name": "acme"},
                    }
                },
            },
            "scope": {"project": {"id": PROJECT_A}},
        }
    }
    default = posted[URL("https://iam.default.example/v3/auth/tokens?nocatalog=true")]
    assert default[0].kwargs["json"]["auth"]["scope"] == {"project": {"id": PROJECT_B}}


def test_password_tokens_default_to_the_global_iam() -> None:
    source = choose_credentials(PASSWORD_ENV, Settings())
    with aioresponses() as fake:
        fake.post(re.compile(r".*"), **IAM_ANSWER)

        async def main() -> None:
            async with aiohttp.ClientSession() as session:
                credentials = source.build(session, {PROJECT_A: "cn-north-4"})
                await credentials.headers(get_in(PROJECT_A))

        asyncio.run(main())
    ((method, url),) = fake.requests
    assert method == "POST"
    assert url == URL(f"{DEFAULT_IAM_ENDPOINT}/v3/auth/tokens?nocatalog=true")


def test_file_with_password_fallback_asks_iam_only_for_unlisted_projects(tmp_path: Path) -> None:
    source = choose_credentials(PASSWORD_ENV, Settings(), file_of(tmp_path))
    with aioresponses() as fake:
        fake.post(re.compile(r".*"), **IAM_ANSWER)

        async def main() -> tuple[str, str]:
            async with aiohttp.ClientSession() as session:
                credentials = source.build(session, {PROJECT_A: "r", PROJECT_B: "r"})
                a, _ = await credentials.headers(get_in(PROJECT_A))
                b, _ = await credentials.headers(get_in(PROJECT_B))
                return a["X-Auth-Token"], b["X-Auth-Token"]

        assert asyncio.run(main()) == (FILE_TOKEN, "MIIiam-token-secret")
    ((_, calls),) = fake.requests.items()
    assert [call.kwargs["json"]["auth"]["scope"]["project"]["id"] for call in calls] == [PROJECT_B]


# --- IamClient: one project-scoped token per POST /v3/auth/tokens --------------------------

IAM = "https://iam.cn-north-4.example"
TOKENS_URL = f"{IAM}/v3/auth/tokens?nocatalog=true"


def fetch_with(answer: Mapping[str, Any]) -> tuple[IamToken | CredentialsUnavailable, Any]:
    """One `IamClient.fetch` for project A while aioresponses answers the POST with `answer`."""
    with aioresponses() as fake:
        fake.post(TOKENS_URL, **answer)

        async def main() -> IamToken | CredentialsUnavailable:
            async with aiohttp.ClientSession() as session:
                iam = IamClient(
                    session,
                    username="auditor-bot",
                    password=PASSWORD,
                    domain="acme",
                    endpoint_for_project={PROJECT_A: IAM + "/"},
                    default_endpoint="https://iam.unused.example",
                    timeout=2,
                )
                try:
                    return await iam.fetch(PROJECT_A)
                except CredentialsUnavailable as exc:
                    return exc

        return asyncio.run(main()), fake


def refusal(answer: Mapping[str, Any]) -> str:
    outcome, _ = fetch_with(answer)
    assert isinstance(outcome, CredentialsUnavailable)
    message = str(outcome)
    assert PASSWORD not in message
    assert "P@ss" not in message
    return message


def test_iam_201_gives_the_subject_token_and_its_expiry() -> None:
    outcome, fake = fetch_with(
        {
            "status": 201,
            "headers": {"X-Subject-Token": "MIIsubject-token"},
            "payload": {"token": {"expires_at": "2024-05-07T07:08:09.123000Z", "methods": []}},
        }
    )
    assert outcome == IamToken("MIIsubject-token", datetime(2024, 5, 7, 7, 8, 9, 123000, UTC))
    ((method, url),) = fake.requests
    assert (method, url) == ("POST", URL(TOKENS_URL))  # the trailing "/" is not doubled
    (call,) = fake.requests[(method, url)]
    assert call.kwargs["allow_redirects"] is False
    assert call.kwargs["json"]["auth"]["scope"] == {"project": {"id": PROJECT_A}}


def test_iam_201_without_expires_at_is_good_for_a_while() -> None:
    before = datetime.now(UTC)
    outcome, _ = fetch_with(
        {"status": 201, "headers": {"X-Subject-Token": "MIIsubject-token"}, "body": "not json"}
    )
    assert isinstance(outcome, IamToken)
    assert outcome.token == "MIIsubject-token"
    assert outcome.expires_at > before + timedelta(minutes=30)


@pytest.mark.parametrize("payload", [{}, {"token": {}}, {"token": {"expires_at": "soon"}}])
def test_iam_expiry_that_cannot_be_read_is_in_the_future(payload: dict[str, Any]) -> None:
    outcome, _ = fetch_with(
        {"status": 201, "headers": {"X-Subject-Token": "MIIsubject-token"}, "payload": payload}
    )
    assert isinstance(outcome, IamToken)
    assert outcome.expires_at > datetime.now(UTC)


def test_iam_expiry_without_a_zone_is_read_as_utc() -> None:
    outcome, _ = fetch_with(
        {
            "status": 201,
            "headers": {"X-Subject-Token": "MIIsubject-token"},
            "payload": {"token": {"expires_at": "2099-05-07T07:08:09.123000"}},
        }
    )
    assert isinstance(outcome, IamToken)
    assert outcome.expires_at.tzinfo is not None


def test_iam_401_says_what_iam_said_and_never_the_password() -> None:
    message = refusal(
        {
            "status": 401,
            "payload": {
                "error": {
                    "code": 401,
                    "message": "The username or password is wrong.",
                    "title": "Unauthorized",
                }
            },
        }
    )
    assert "The username or password is wrong." in message
    assert "HTTP 401" in message
    assert PROJECT_A in message


def test_iam_message_that_echoes_the_password_is_scrubbed() -> None:
    echo = f"The password {PASSWORD} is wrong."
    message = refusal({"status": 401, "payload": {"error": {"code": 401, "message": echo}}})
    assert PASSWORD not in message
    assert "The password **** is wrong." in message


def test_iam_error_body_that_echoes_the_request_is_not_quoted() -> None:
    # Only IAM's error message is shown, never the rest of the body.
    message = refusal({"status": 400, "payload": {"request": {"password": PASSWORD}}})
    assert "HTTP 400" in message


def test_iam_201_without_a_subject_token_is_a_refusal() -> None:
    message = refusal({"status": 201, "payload": {"token": {"expires_at": "2099-01-01T00:00Z"}}})
    assert "HTTP 201" in message


def test_iam_connection_failure() -> None:
    message = refusal({"exception": aiohttp.ClientConnectionError("connection refused")})
    assert "unreachable" in message
    assert IAM in message


def test_iam_timeout() -> None:
    message = refusal({"exception": TimeoutError()})
    assert "did not answer" in message
    assert IAM in message


# --- the IAM identity of each method (listing projects, assuming agencies) -----------------


def identity_of(source: CredentialSource) -> Identity | None:
    if source.identity is None:
        return None
    build = source.identity

    async def main() -> Identity:
        async with aiohttp.ClientSession() as session:
            return build(session)

    return asyncio.run(main())


def test_each_method_has_its_iam_identity() -> None:
    token = identity_of(choose_credentials(TOKEN_ENV, Settings()))
    assert isinstance(token, TokenIdentity)
    keys = identity_of(choose_credentials(AKSK_ENV, Settings()))
    assert isinstance(keys, KeyIdentity)
    assert keys.domain_id == ""  # IAM is asked for it
    password = identity_of(choose_credentials(PASSWORD_ENV, Settings()))
    assert isinstance(password, PasswordIdentity)
    for identity in (token, keys, password):
        assert identity.account == ""
        for secret in (TOKEN, SK, PASSWORD):
            assert secret not in repr(identity)


def test_the_sdks_domain_id_variable_spares_asking_iam_for_it() -> None:
    env = {**AKSK_ENV, "HUAWEICLOUD_SDK_DOMAIN_ID": " 0a1b2c3d4e5f60718293a4b5c6d7e8f9 "}
    keys = identity_of(choose_credentials(env, Settings()))
    assert isinstance(keys, KeyIdentity)
    assert keys.domain_id == "0a1b2c3d4e5f60718293a4b5c6d7e8f9"


def test_a_credentials_file_lists_only_through_its_fallback(tmp_path: Path) -> None:
    assert choose_credentials({}, Settings(), file_of(tmp_path)).identity is None
    source = choose_credentials(TOKEN_ENV, Settings(), file_of(tmp_path))
    assert isinstance(identity_of(source), TokenIdentity)
