"""Which credentials a run uses: chosen from the environment and a credentials file.

Precedence, first match wins (README, "Credentials"):

1. `--credentials FILE` (TOML, `[tokens]` keyed by project id): those projects use their token;
   other projects fall back to the first of 2-4 that is set, or are `auth_failed`;
2. `AUDITOR_TOKEN`: one IAM token for every project;
3. `HUAWEICLOUD_SDK_AK` + `HUAWEICLOUD_SDK_SK` (+ `HUAWEICLOUD_SDK_SECURITY_TOKEN`): signed
   requests (IAM's calls also carry `HUAWEICLOUD_SDK_DOMAIN_ID` when set; else IAM is asked);
4. `HUAWEICLOUD_USERNAME` + `HUAWEICLOUD_PASSWORD` + `HUAWEICLOUD_DOMAIN_NAME`: a project-scoped
   IAM token per project, fetched from `--iam-endpoint` (or the config's `[iam_endpoints]` for
   the project's region).

Each method also has an IAM identity (`auditor.service.identity`) for listing the account's
projects and assuming agencies: the token itself, a domain-scoped token from the password, or
the signing key. The environment is passed in as a mapping; this module never reads
`os.environ` itself.
"""

from __future__ import annotations

import stat
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from auditor.config import Settings
from auditor.errors import ConfigError, UsageError, read_toml, reading
from auditor.model import utc_now
from auditor.service.auth import (
    AkSkCredentials,
    Credentials,
    IamPasswordTokens,
    KeyPair,
    ProjectTokens,
    StaticToken,
)
from auditor.service.expiring import Shelves
from auditor.service.iam import IamClient
from auditor.service.identity import Identity, KeyIdentity, PasswordIdentity, TokenIdentity

Builder = Callable[[aiohttp.ClientSession, Mapping[str, str]], Credentials]
"""Builds the credentials once the session exists; gets each project's region."""

IdentityBuilder = Callable[[aiohttp.ClientSession], Identity]
"""Builds the IAM identity (listing projects, assuming agencies) once the session exists."""


@dataclass(frozen=True)
class CredentialSource:
    """The chosen method (a name for reports, never a secret), how to build its FunctionGraph
    credentials, and how to build its IAM identity (`--all-projects`, `[[accounts]]`): None
    when it has none (a credentials file's tokens alone)."""

    method: str
    build: Builder
    identity: IdentityBuilder | None = None


@dataclass(frozen=True)
class CredentialsFile:
    """Tokens read from a credentials file, and a warning about its permissions, if any."""

    path: Path
    tokens: dict[str, str]
    warning: str = ""


def load_credentials_file(path: Path) -> CredentialsFile:
    """Read `[tokens]` from a TOML credentials file. Values are never put in a message."""
    where = f"credentials {path}"
    with reading(where, ConfigError):
        mode = path.stat().st_mode
    # The parser's message may quote the file's text, secrets included: not shown.
    data = read_toml(where, path, quote_errors=False)
    tokens = data.get("tokens")
    if not isinstance(tokens, dict) or not all(
        isinstance(k, str) and isinstance(v, str) and v for k, v in tokens.items()
    ):
        raise ConfigError(f"credentials {path}: expected a [tokens] table of project_id = token")
    warning = ""
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        warning = (
            f"credentials {path} can be read by others (mode {stat.S_IMODE(mode):o}); "
            f"restrict it with: chmod 600 {path}"
        )
    return CredentialsFile(path, dict(tokens), warning)


def choose_credentials(
    env: Mapping[str, str], settings: Settings, file: CredentialsFile | None = None
) -> CredentialSource:
    """The credentials to use, by the precedence above; `UsageError` when there are none."""
    fallback = _from_environment(env, settings)
    if file is not None:
        tokens, name = file.tokens, str(file.path)

        def build(session: aiohttp.ClientSession, regions: Mapping[str, str]) -> Credentials:
            inner = fallback.build(session, regions) if fallback else None
            return ProjectTokens(tokens, inner, name)

        method = f"per-project tokens ({name})" + (f", else {fallback.method}" if fallback else "")
        # The file's tokens are per project: only the fallback can list an account.
        return CredentialSource(method, build, fallback.identity if fallback else None)
    if fallback is None:
        raise UsageError(
            "no credentials: set AUDITOR_TOKEN, or HUAWEICLOUD_SDK_AK and HUAWEICLOUD_SDK_SK, or "
            "HUAWEICLOUD_USERNAME, HUAWEICLOUD_PASSWORD and HUAWEICLOUD_DOMAIN_NAME, or give "
            "--credentials FILE"
        )
    return fallback


def _from_environment(env: Mapping[str, str], settings: Settings) -> CredentialSource | None:
    token = env.get("AUDITOR_TOKEN", "").strip()
    if token:
        return CredentialSource(
            StaticToken.method,
            lambda session, regions: StaticToken(token),
            lambda session: TokenIdentity(token),
        )
    ak = env.get("HUAWEICLOUD_SDK_AK", "").strip()
    sk = env.get("HUAWEICLOUD_SDK_SK", "").strip()
    if ak or sk:
        if not (ak and sk):
            absent = "HUAWEICLOUD_SDK_SK" if ak else "HUAWEICLOUD_SDK_AK"
            raise UsageError(f"AK/SK credentials need {absent} as well")
        security = env.get("HUAWEICLOUD_SDK_SECURITY_TOKEN", "").strip() or None
        keys = KeyPair(ak, sk, security)
        credentials = AkSkCredentials(keys, now=utc_now)
        # The official SDK's name for the account id of global services' calls: when set, IAM
        # is not asked for it.
        domain_id = env.get("HUAWEICLOUD_SDK_DOMAIN_ID", "").strip()
        signer = KeyIdentity(keys, now=utc_now, domain_id=domain_id)
        return CredentialSource(
            credentials.method, lambda session, regions: credentials, lambda session: signer
        )
    names = ("HUAWEICLOUD_USERNAME", "HUAWEICLOUD_PASSWORD", "HUAWEICLOUD_DOMAIN_NAME")
    given = {name: env.get(name, "") for name in names}
    if any(given.values()):
        missing = [name for name, value in given.items() if not value]
        if missing:
            raise UsageError(f"password credentials need {', '.join(missing)} as well")
        username, password, domain = (given[name] for name in names)
        # The tokens a run's listing, discovery and audit fetch (each with its own session)
        # are kept for all three: IAM is asked once per project, and once for the domain.
        shelves = Shelves()

        def iam(session: aiohttp.ClientSession, regions: Mapping[str, str]) -> IamClient:
            return IamClient(
                session,
                username=username,
                password=password,
                domain=domain,
                endpoint_for_project={
                    project: settings.iam_endpoints[region]
                    for project, region in regions.items()
                    if region in settings.iam_endpoints
                },
                default_endpoint=settings.iam_endpoint,
                timeout=settings.timeout,
            )

        def build(session: aiohttp.ClientSession, regions: Mapping[str, str]) -> Credentials:
            fetch = iam(session, regions).fetch
            return IamPasswordTokens(fetch, now=utc_now, shelf=shelves("project tokens"))

        def identity(session: aiohttp.ClientSession) -> Identity:
            fetch = iam(session, {}).fetch_domain
            return PasswordIdentity(fetch, now=utc_now, shelf=shelves("domain token"))

        return CredentialSource(IamPasswordTokens.method, build, identity)
    return None
