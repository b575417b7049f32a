"""Credentials: what headers a request needs to be accepted, and how to get fresh ones.

Four kinds, one protocol:

- `StaticToken`: one IAM token (`AUDITOR_TOKEN`) for every project;
- `ProjectTokens`: a token per project from a credentials file, with a fallback for the rest;
- `AkSkCredentials`: every request signed with `SDK-HMAC-SHA256` (see `auditor.service.signer`);
- `IamPasswordTokens`: a project-scoped IAM token per project, fetched once when first needed
  (however many workers wait for it), cached until 5 minutes before it expires, refreshed when
  FunctionGraph refuses it.

Each credential names the *scopes* a failure counts against (`scopes`): a token fails for one
project, an access key fails for every project at once, and the gateway locks it after five
failed signatures in a row. The `repr` of a credential never shows the secret.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from auditor.errors import CredentialsUnavailable
from auditor.service.signer import sign

REFRESH_MARGIN = timedelta(minutes=5)
ACCESS_KEY_SCOPE = "access key"


def project_scope(project_id: str) -> str:
    """The breaker scope of one project's credentials."""
    return f"project {project_id}"


class Credentials(Protocol):
    """Supplies the authentication headers for one request, and fresh ones on refusal."""

    method: str
    """A human name of the method, for summaries and settings (never the secret)."""

    def scopes(self, project_id: str) -> tuple[str, ...]:
        """The scopes whose failures a refused request counts against."""

    def rate_scope(self, project_id: str) -> str:
        """Whose rate limit a request in `project_id` counts against: the gateway limits per
        user, so one token, access key or IAM user is one scope across its projects."""

    async def headers(
        self,
        project_id: str,
        http_method: str,
        url: str,
        base: Mapping[str, str],
        body: bytes = b"",
    ) -> tuple[dict[str, str], str]:
        """Headers (with `base`) that authenticate the request (a signature covers `body`), and
        an opaque version tag of
        the credential used. Raises `CredentialsUnavailable` when there is none to use."""

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

    async def headers(
        self,
        project_id: str,
        http_method: str,
        url: str,
        base: Mapping[str, str],
        body: bytes = b"",
    ) -> tuple[dict[str, str], str]:
        return {**base, "X-Auth-Token": self._token}, "static"

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

    async def headers(
        self,
        project_id: str,
        http_method: str,
        url: str,
        base: Mapping[str, str],
        body: bytes = b"",
    ) -> tuple[dict[str, str], str]:
        token = self._tokens.get(project_id)
        if token is not None:
            return {**base, "X-Auth-Token": token}, "file"
        if self._fallback is None:
            raise CredentialsUnavailable(f"no token for project {project_id} in {self._source}")
        return await self._fallback.headers(project_id, http_method, url, base, body)

    async def refresh(self, project_id: str, rejected: str) -> bool:
        if project_id in self._tokens or self._fallback is None:
            return False
        return await self._fallback.refresh(project_id, rejected)

    def __repr__(self) -> str:
        return f"ProjectTokens({len(self._tokens)} projects, ****)"


class AkSkCredentials:
    """Access key and secret key: each request signed anew (`SDK-HMAC-SHA256`)."""

    def __init__(
        self,
        access_key: str,
        secret_key: str,
        security_token: str | None = None,
        *,
        now: Callable[[], datetime],
    ) -> None:
        self._ak = access_key
        self._sk = secret_key
        self._security_token = security_token or None
        self._now = now
        self.method = "AK/SK signature" + (" with security token" if security_token else "")

    def scopes(self, project_id: str) -> tuple[str, ...]:
        # A bad key fails in every project, and the gateway locks it after five failed
        # signatures in a row: its failures are counted across projects.
        return (project_scope(project_id), ACCESS_KEY_SCOPE)

    def rate_scope(self, project_id: str) -> str:
        return ACCESS_KEY_SCOPE

    async def headers(
        self,
        project_id: str,
        http_method: str,
        url: str,
        base: Mapping[str, str],
        body: bytes = b"",
    ) -> tuple[dict[str, str], str]:
        signed = sign(
            ak=self._ak,
            sk=self._sk,
            method=http_method,
            url=url,
            headers=base,
            body=body,
            moment=self._now(),
            project_id=project_id,
            security_token=self._security_token,
        )
        return {**base, **signed.headers}, "aksk"

    async def refresh(self, project_id: str, rejected: str) -> bool:
        # Every request is signed afresh anyway; signing again with the same key and clock
        # cannot cure a refusal, and would spend one of the five failed signatures the
        # gateway allows before it locks the key.
        return False

    def __repr__(self) -> str:
        return f"AkSkCredentials(access_key={self._ak[:4]}****, secret_key=****)"


@dataclass(frozen=True, slots=True)
class IamToken:
    """A project-scoped token and when it expires."""

    token: str
    expires_at: datetime


TokenFetcher = Callable[[str], Awaitable[IamToken]]
"""Fetches a token scoped to a project; raises `CredentialsUnavailable` when IAM refuses."""


class IamPasswordTokens:
    """Project-scoped IAM tokens from a username and password, one per project."""

    method = "IAM password (HUAWEICLOUD_USERNAME)"

    def __init__(self, fetch: TokenFetcher, *, now: Callable[[], datetime]) -> None:
        self._fetch = fetch
        self._now = now
        self._tokens: dict[str, IamToken] = {}
        self._generation: dict[str, int] = {}
        self._pending: dict[str, asyncio.Task[IamToken]] = {}
        self._refused: dict[str, str] = {}

    def scopes(self, project_id: str) -> tuple[str, ...]:
        return (project_scope(project_id),)

    def rate_scope(self, project_id: str) -> str:
        return "IAM user"

    async def headers(
        self,
        project_id: str,
        http_method: str,
        url: str,
        base: Mapping[str, str],
        body: bytes = b"",
    ) -> tuple[dict[str, str], str]:
        token = self._tokens.get(project_id)
        if token is None or self._now() >= token.expires_at - REFRESH_MARGIN:
            token = await self._fetch_once(project_id)
        return {**base, "X-Auth-Token": token.token}, self._tag(project_id)

    async def refresh(self, project_id: str, rejected: str) -> bool:
        if project_id in self._refused:
            return False  # IAM said no: asking again with the same password only risks a lock
        if rejected == self._tag(project_id):
            self._tokens.pop(project_id, None)  # the next headers() fetches a fresh one
        return True

    def _tag(self, project_id: str) -> str:
        return f"iam:{self._generation.get(project_id, 0)}"

    async def _fetch_once(self, project_id: str) -> IamToken:
        refused = self._refused.get(project_id)
        if refused is not None:
            raise CredentialsUnavailable(refused)
        task = self._pending.get(project_id)
        if task is None:
            # One fetch per project however many workers wait: they all await this task.
            task = asyncio.ensure_future(self._fetch_and_store(project_id))
            self._pending[project_id] = task
        try:
            return await asyncio.shield(task)
        finally:
            if task.done() and self._pending.get(project_id) is task:
                del self._pending[project_id]

    async def _fetch_and_store(self, project_id: str) -> IamToken:
        try:
            token = await self._fetch(project_id)
        except CredentialsUnavailable as exc:
            self._refused[project_id] = str(exc)
            raise
        self._tokens[project_id] = token
        self._generation[project_id] = self._generation.get(project_id, 0) + 1
        return token

    def __repr__(self) -> str:
        return f"IamPasswordTokens({len(self._tokens)} projects, ****)"
