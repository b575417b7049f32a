"""Credentials: what headers a request needs to be accepted, and how to get fresh ones.

Several kinds, one protocol:

- `StaticToken`: one IAM token (`AUDITOR_TOKEN`) for every project;
- `ProjectTokens`: a token per project from a credentials file, with a fallback for the rest;
- `AkSkCredentials`: every request signed with `SDK-HMAC-SHA256` (see `auditor.service.signer`);
- `IamPasswordTokens`: a project-scoped IAM token per project, fetched once when first needed
  (however many workers wait for it), cached until 5 minutes before it expires, refreshed when
  FunctionGraph refuses it (`ScopedTokens`, which agency tokens share);
- `CredentialsByProject`: an estate's, each project asking with its own account's credentials
  (another account's are in `auditor.service.agency`).

Each is handed the request to authenticate as an `Outgoing`; the AK/SK kinds (here and in
`auditor.service.identity` and `auditor.service.agency`) sign it with a `KeyPair`.

Each credential names the *scopes* a failure counts against (`scopes`): a token fails for one
project, an access key fails for every project at once, and the gateway locks it after five
failed signatures in a row. The `repr` of a credential never shows the secret.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from auditor.errors import CredentialsUnavailable
from auditor.service import signer
from auditor.service.expiring import REFRESH_MARGIN as REFRESH_MARGIN
from auditor.service.expiring import ExpiringCache, Shelf

ACCESS_KEY_SCOPE = "access key"


def project_scope(project_id: str) -> str:
    """The breaker scope of one project's credentials."""
    return f"project {project_id}"


def access_key_scope(account: str = "") -> str:
    """The breaker scope of an access key: the credentials' own (`ACCESS_KEY_SCOPE`), or the
    temporary one of another account. The gateway locks any access key after five failed
    signatures in a row, so each is guarded on its own."""
    return f"{ACCESS_KEY_SCOPE} of account {account}" if account else ACCESS_KEY_SCOPE


def is_access_key_scope(scope: str) -> bool:
    """Whether `scope` is an access key's (see `access_key_scope`)."""
    return scope == ACCESS_KEY_SCOPE or scope.startswith(f"{ACCESS_KEY_SCOPE} of account ")


@dataclass(frozen=True, slots=True, repr=False)
class Outgoing:
    """A request about to be sent, as a credential sees it to authenticate it: `base` is its
    headers so far, and `project_id` the project it is about ("" for IAM's calls, which name
    none). Its `repr` leaves out the body: an UpdateTracing body holds the tracing SK."""

    method: str
    url: str
    base: Mapping[str, str]
    body: bytes = b""
    project_id: str = ""

    def __repr__(self) -> str:
        return f"Outgoing({self.method} {self.url}, {len(self.body)} bytes)"


@dataclass(frozen=True, slots=True, repr=False)
class KeyPair:
    """An access key and its secret key, with the security token of temporary keys: what an
    AK/SK signature is made with. Its `repr` shows the start of the access key, no more."""

    access_key: str
    secret_key: str
    security_token: str | None = None

    @property
    def method(self) -> str:
        """A human name of signing with these keys (never the secret)."""
        return "AK/SK signature" + (" with security token" if self.security_token else "")

    @property
    def shown(self) -> str:
        """All a `repr` may show of the keys."""
        return f"access_key={self.access_key[:4]}****, secret_key=****"

    def sign(self, out: Outgoing, moment: datetime) -> dict[str, str]:
        """`out.base` plus the headers that sign `out` at `moment` (`SDK-HMAC-SHA256`, see
        `auditor.service.signer`): `X-Project-Id` when it names a project, and a security token
        added before signing, and so signed, as the official SDKs do."""
        signed = signer.sign(
            ak=self.access_key,
            sk=self.secret_key,
            method=out.method,
            url=out.url,
            headers=out.base,
            body=out.body,
            moment=moment,
            project_id=out.project_id or None,
            security_token=self.security_token or None,
        )
        return {**out.base, **signed.headers}

    def __repr__(self) -> str:
        return f"KeyPair({self.shown})"


class Credentials(Protocol):
    """Supplies the authentication headers for one request, and fresh ones on refusal."""

    method: str
    """A human name of the method, for summaries and settings (never the secret)."""

    def scopes(self, project_id: str) -> tuple[str, ...]:
        """The scopes whose failures a refused request counts against."""

    def rate_scope(self, project_id: str) -> str:
        """Whose rate limit a request in `project_id` counts against: the gateway limits per
        user, so one token, access key or IAM user is one scope across its projects."""

    async def headers(self, out: Outgoing) -> tuple[dict[str, str], str]:
        """Headers (with `out.base`) that authenticate `out` (a signature covers its body), and
        an opaque version tag of the credential used. Raises `CredentialsUnavailable` when
        there is none to use."""

    async def refresh(self, project_id: str, rejected: str) -> bool:
        """The credential tagged `rejected` was refused: get a fresh one. True if a retry with
        fresh credentials is worth making."""


class StaticToken:
    """One IAM token (`X-Auth-Token`) used for every project; it cannot be renewed."""

    method = "token (AUDITOR_TOKEN)"

    def __init__(self, token: str) -> None:
        self._token = token

    def scopes(self, project_id: str) -> tuple[str, ...]:
        return (project_scope(project_id),)

    def rate_scope(self, project_id: str) -> str:
        return "token"

    async def headers(self, out: Outgoing) -> tuple[dict[str, str], str]:
        return {**out.base, "X-Auth-Token": self._token}, "static"

    async def refresh(self, project_id: str, rejected: str) -> bool:
        return False

    def __repr__(self) -> str:
        return "StaticToken(****)"


class ProjectTokens:
    """A token per project (a credentials file's `[tokens]`); other projects use `fallback`."""

    def __init__(self, tokens: Mapping[str, str], fallback: Credentials | None, source: str):
        self._tokens = dict(tokens)
        self._fallback = fallback
        self._source = source
        extra = f", else {fallback.method}" if fallback else ""
        self.method = f"per-project tokens ({source}){extra}"

    def scopes(self, project_id: str) -> tuple[str, ...]:
        if project_id in self._tokens or self._fallback is None:
            return (project_scope(project_id),)
        return self._fallback.scopes(project_id)

    def rate_scope(self, project_id: str) -> str:
        # Tokens of a file may belong to different users: each is its own scope.
        if project_id in self._tokens or self._fallback is None:
            return f"token of project {project_id}"
        return self._fallback.rate_scope(project_id)

    async def headers(self, out: Outgoing) -> tuple[dict[str, str], str]:
        token = self._tokens.get(out.project_id)
        if token is not None:
            return {**out.base, "X-Auth-Token": token}, "file"
        if self._fallback is None:
            raise CredentialsUnavailable(f"no token for project {out.project_id} in {self._source}")
        return await self._fallback.headers(out)

    async def refresh(self, project_id: str, rejected: str) -> bool:
        if project_id in self._tokens or self._fallback is None:
            return False
        return await self._fallback.refresh(project_id, rejected)

    def __repr__(self) -> str:
        return f"ProjectTokens({len(self._tokens)} projects, ****)"


class AkSkCredentials:
    """Access key and secret key: each request signed anew (`SDK-HMAC-SHA256`)."""

    def __init__(self, keys: KeyPair, *, now: Callable[[], datetime]) -> None:
        self._keys = keys
        self._now = now
        self.method = keys.method

    def scopes(self, project_id: str) -> tuple[str, ...]:
        # A bad key fails in every project, and the gateway locks it after five failed
        # signatures in a row: its failures are counted across projects.
        return (project_scope(project_id), ACCESS_KEY_SCOPE)

    def rate_scope(self, project_id: str) -> str:
        return ACCESS_KEY_SCOPE

    async def headers(self, out: Outgoing) -> tuple[dict[str, str], str]:
        return self._keys.sign(out, self._now()), "aksk"

    async def refresh(self, project_id: str, rejected: str) -> bool:
        # Every request is signed afresh anyway; signing again with the same key and clock
        # cannot cure a refusal, and would spend one of the five failed signatures the
        # gateway allows before it locks the key.
        return False

    def __repr__(self) -> str:
        return f"AkSkCredentials({self._keys.shown})"


class CredentialsByProject:
    """The credentials of an estate: each listed project asks with its account's credentials
    (`routes`, by project id), every other project with `fallback` (the credentials' own).

    Project ids are unique across accounts, so the project id alone picks the account; the
    scopes and the rate scope are those of the credentials picked.
    """

    def __init__(self, routes: Mapping[str, Credentials], fallback: Credentials) -> None:
        self._routes = dict(routes)
        self._fallback = fallback
        others = len({id(credentials) for credentials in self._routes.values()})
        self.method = fallback.method + (f", and {others} other accounts" if others else "")

    def _for(self, project_id: str) -> Credentials:
        return self._routes.get(project_id, self._fallback)

    def scopes(self, project_id: str) -> tuple[str, ...]:
        return self._for(project_id).scopes(project_id)

    def rate_scope(self, project_id: str) -> str:
        return self._for(project_id).rate_scope(project_id)

    async def headers(self, out: Outgoing) -> tuple[dict[str, str], str]:
        return await self._for(out.project_id).headers(out)

    async def refresh(self, project_id: str, rejected: str) -> bool:
        return await self._for(project_id).refresh(project_id, rejected)

    def __repr__(self) -> str:
        return f"CredentialsByProject({len(self._routes)} projects routed, ****)"


@dataclass(frozen=True, slots=True, repr=False)
class IamToken:
    """A scoped token (project or domain) and when it expires; its `repr` hides the token."""

    token: str
    expires_at: datetime

    def __repr__(self) -> str:
        return f"IamToken(****, expires_at={self.expires_at.isoformat()})"


TokenFetcher = Callable[[str], Awaitable[IamToken]]
"""Fetches a token scoped to a project; raises `CredentialsUnavailable` when IAM refuses."""


class ScopedTokens:
    """A token per project, fetched when first needed (however many workers wait for it),
    cached until shortly before it expires, refreshed when FunctionGraph refuses it; a lasting
    refusal by IAM is remembered and IAM is not asked again for that project.

    The shape of password tokens (`IamPasswordTokens`) and agency tokens
    (`auditor.service.agency.AgencyTokens`): they differ in how a token is fetched, in their
    name, and in whose rate limit they count against.
    """

    def __init__(
        self,
        fetch: TokenFetcher,
        *,
        now: Callable[[], datetime],
        method: str,
        rate_scope: str,
        tag: str,
        shelf: Shelf[IamToken] | None = None,
    ) -> None:
        self._tokens = ExpiringCache(fetch, lambda token: token.expires_at, now=now, shelf=shelf)
        self.method = method
        self._rate_scope = rate_scope
        self._tag = tag

    def scopes(self, project_id: str) -> tuple[str, ...]:
        return (project_scope(project_id),)

    def rate_scope(self, project_id: str) -> str:
        return self._rate_scope

    async def headers(self, out: Outgoing) -> tuple[dict[str, str], str]:
        token, generation = await self._tokens.get(out.project_id)
        return {**out.base, "X-Auth-Token": token.token}, f"{self._tag}:{generation}"

    async def refresh(self, project_id: str, rejected: str) -> bool:
        prefix, _, number = rejected.partition(":")
        if prefix != self._tag or not number.isdigit():
            return not self._tokens.refused(project_id)
        return self._tokens.drop(project_id, int(number))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({len(self._tokens)} projects, ****)"


class IamPasswordTokens(ScopedTokens):
    """Project-scoped IAM tokens from a username and password, one per project."""

    method = "IAM password (HUAWEICLOUD_USERNAME)"

    def __init__(
        self,
        fetch: TokenFetcher,
        *,
        now: Callable[[], datetime],
        shelf: Shelf[IamToken] | None = None,
    ) -> None:
        super().__init__(
            fetch, now=now, method=self.method, rate_scope="IAM user", tag="iam", shelf=shelf
        )
