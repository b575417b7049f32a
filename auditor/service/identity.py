"""Who asks IAM: the identity behind the estate's IAM calls (listing an account's domain and
projects, assuming another account's agency).

FunctionGraph takes project-scoped credentials (`auditor.service.auth`); IAM's listing and
agency calls take the user's own, whatever the credential method:

- `TokenIdentity`: the token of `AUDITOR_TOKEN`, as it is;
- `PasswordIdentity`: a *domain*-scoped token fetched with the password (IAM's listing calls
  want one; FunctionGraph refuses it), cached and renewed like the project tokens;
- `KeyIdentity`: AK/SK signatures. IAM is a global service and a signature does not say which
  account it is for, so every signed IAM call but the one that finds it out
  (`GET /v3/auth/domains`) carries `X-Domain-Id`: `domain_id` holds it once known.

Another account's identities (an agency's token or temporary keys) live in
`auditor.service.agency`. As with credentials, the `repr` of an identity never shows a secret.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Protocol

from auditor.service.auth import IamToken, KeyPair, Outgoing
from auditor.service.expiring import ExpiringCache, Shelf


class Identity(Protocol):
    """Authenticates one IAM call, and gets fresh credentials when IAM refuses them."""

    method: str
    """A human name of the method, for messages and settings (never the secret)."""

    account: str
    """The account the identity acts in, by its configured name; "" for the credentials' own."""

    signs: bool
    """True for AK/SK: IAM's calls then carry `X-Domain-Id` (see `domain_id`)."""

    domain_id: str
    """The id of the account the identity acts in; "" until known. Signing identities learn it
    from `GET /v3/auth/domains` (`auditor.service.iam.IamApi.domain_id`)."""

    async def headers(self, out: Outgoing) -> tuple[dict[str, str], str]:
        """Headers (with `out.base`) that authenticate the call `out` (which names no project;
        a signature covers its body), and an opaque version tag of the credential used. Raises
        `IamError` when none can be had."""

    async def refresh(self, rejected: str) -> bool:
        """The credential tagged `rejected` was refused (401): get a fresh one. True if one
        more try is worth making."""


class TokenIdentity:
    """One IAM token (`AUDITOR_TOKEN`): it lists the projects its user can access."""

    method = "token (AUDITOR_TOKEN)"
    signs = False

    def __init__(self, token: str, *, account: str = "", domain_id: str = "") -> None:
        self._token = token
        self.account = account
        self.domain_id = domain_id

    async def headers(self, out: Outgoing) -> tuple[dict[str, str], str]:
        return {**out.base, "X-Auth-Token": self._token}, "static"

    async def refresh(self, rejected: str) -> bool:
        return False  # a given token cannot be renewed

    def __repr__(self) -> str:
        return "TokenIdentity(****)"


DomainTokenFetcher = Callable[[], Awaitable[IamToken]]
"""Fetches a domain-scoped token (`IamClient.fetch_domain`); raises `IamError` when refused."""


class DomainTokenIdentity:
    """A domain-scoped token: fetched when first needed (however many calls wait for it),
    renewed before it expires or when IAM refuses it; a lasting refusal is remembered, and IAM
    is not asked again.

    The shape of the password's identity (`PasswordIdentity`) and of an agency's token
    (`auditor.service.agency.AgencyTokenIdentity`): they differ in how the token is fetched,
    in their name and account, and in the tag of their tokens.
    """

    signs = False

    def __init__(
        self,
        fetch: DomainTokenFetcher,
        *,
        now: Callable[[], datetime],
        method: str,
        account: str,
        domain_id: str,
        tag: str,
        shelf: Shelf[IamToken] | None = None,
    ) -> None:
        async def fetch_for(_: str) -> IamToken:
            return await fetch()

        self._tokens = ExpiringCache(
            fetch_for, lambda token: token.expires_at, now=now, shelf=shelf
        )
        self.method = method
        self.account = account
        self.domain_id = domain_id
        self._tag = tag

    async def headers(self, out: Outgoing) -> tuple[dict[str, str], str]:
        token, generation = await self._tokens.get("domain")
        return {**out.base, "X-Auth-Token": token.token}, f"{self._tag}:{generation}"

    async def refresh(self, rejected: str) -> bool:
        _, _, number = rejected.partition(":")
        return number.isdigit() and self._tokens.drop("domain", int(number))

    def __repr__(self) -> str:
        return f"{type(self).__name__}(****)"


class PasswordIdentity(DomainTokenIdentity):
    """A domain-scoped token from the username and password; a refusal of the password itself
    is remembered, so a wrong password is tried once and the user is not locked."""

    method = "IAM password (HUAWEICLOUD_USERNAME)"

    def __init__(
        self,
        fetch: DomainTokenFetcher,
        *,
        now: Callable[[], datetime],
        account: str = "",
        shelf: Shelf[IamToken] | None = None,
    ) -> None:
        super().__init__(
            fetch,
            now=now,
            method=self.method,
            account=account,
            domain_id="",
            tag="domain",
            shelf=shelf,
        )


class KeyIdentity:
    """An access key and secret key (and a security token, for temporary keys): every IAM
    call signed anew, `X-Domain-Id` added by the caller once `domain_id` is known."""

    signs = True

    def __init__(
        self,
        keys: KeyPair,
        *,
        now: Callable[[], datetime],
        domain_id: str = "",
        account: str = "",
    ) -> None:
        self._keys = keys
        self._now = now
        self.domain_id = domain_id
        self.account = account
        self.method = keys.method

    async def headers(self, out: Outgoing) -> tuple[dict[str, str], str]:
        return self._keys.sign(out, self._now()), "aksk"

    async def refresh(self, rejected: str) -> bool:
        # Signing again with the same key cannot cure a refusal, and would spend one of the
        # five failed signatures the gateway allows before it locks the key.
        return False

    def __repr__(self) -> str:
        return f"KeyIdentity({self._keys.shown})"
