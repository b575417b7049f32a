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

from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from typing import Protocol

from auditor.service.auth import IamToken
from auditor.service.expiring import ExpiringCache
from auditor.service.signer import sign


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

    async def headers(
        self, http_method: str, url: str, base: Mapping[str, str], body: bytes = b""
    ) -> tuple[dict[str, str], str]:
        """Headers (with `base`) that authenticate the call (a signature covers `body`), and an
        opaque version tag of the credential used. Raises `IamError` when none can be had."""

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

    async def headers(
        self, http_method: str, url: str, base: Mapping[str, str], body: bytes = b""
    ) -> tuple[dict[str, str], str]:
        return {**base, "X-Auth-Token": self._token}, "static"

    async def refresh(self, rejected: str) -> bool:
        return False  # a given token cannot be renewed

    def __repr__(self) -> str:
        return "TokenIdentity(****)"


DomainTokenFetcher = Callable[[], Awaitable[IamToken]]
"""Fetches a domain-scoped token (`IamClient.fetch_domain`); raises `IamError` when refused."""


class PasswordIdentity:
    """A domain-scoped token from the username and password: fetched when first needed,
    renewed before it expires or when IAM refuses it; a refusal of the password itself is
    remembered, so a wrong password is tried once and the user is not locked."""

    method = "IAM password (HUAWEICLOUD_USERNAME)"
    signs = False

    def __init__(
        self, fetch: DomainTokenFetcher, *, now: Callable[[], datetime], account: str = ""
    ) -> None:
        async def fetch_for(_: str) -> IamToken:
            return await fetch()

        self._tokens = ExpiringCache(fetch_for, lambda token: token.expires_at, now=now)
        self.account = account
        self.domain_id = ""

    async def headers(
        self, http_method: str, url: str, base: Mapping[str, str], body: bytes = b""
    ) -> tuple[dict[str, str], str]:
        token, generation = await self._tokens.get("domain")
        return {**base, "X-Auth-Token": token.token}, f"domain:{generation}"

    async def refresh(self, rejected: str) -> bool:
        _, _, number = rejected.partition(":")
        return number.isdigit() and self._tokens.drop("domain", int(number))

    def __repr__(self) -> str:
        return "PasswordIdentity(****)"


class KeyIdentity:
    """An access key and secret key (and a security token, for temporary keys): every IAM
    call signed anew, `X-Domain-Id` added by the caller once `domain_id` is known."""

    signs = True

    def __init__(
        self,
        access_key: str,
        secret_key: str,
        security_token: str | None = None,
        *,
        now: Callable[[], datetime],
        domain_id: str = "",
        account: str = "",
    ) -> None:
        self._ak = access_key
        self._sk = secret_key
        self._security_token = security_token or None
        self._now = now
        self.domain_id = domain_id
        self.account = account
        self.method = "AK/SK signature" + (" with security token" if security_token else "")

    async def headers(
        self, http_method: str, url: str, base: Mapping[str, str], body: bytes = b""
    ) -> tuple[dict[str, str], str]:
        signed = sign_iam(
            self._ak, self._sk, self._security_token, http_method, url, base, body, self._now()
        )
        return signed, "aksk"

    async def refresh(self, rejected: str) -> bool:
        # Signing again with the same key cannot cure a refusal, and would spend one of the
        # five failed signatures the gateway allows before it locks the key.
        return False

    def __repr__(self) -> str:
        return f"KeyIdentity(access_key={self._ak[:4]}****, secret_key=****)"


def sign_iam(
    ak: str,
    sk: str,
    security_token: str | None,
    http_method: str,
    url: str,
    base: Mapping[str, str],
    body: bytes,
    moment: datetime,
) -> dict[str, str]:
    """`base` plus the signature headers of an IAM call. IAM calls name no project, so no
    `X-Project-Id`; a security token is added before signing, and so signed, as the official
    SDKs do."""
    signed = sign(
        ak=ak,
        sk=sk,
        method=http_method,
        url=url,
        headers=base,
        body=body,
        moment=moment,
        security_token=security_token,
    )
    return {**base, **signed.headers}
