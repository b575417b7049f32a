"""Other accounts (`auditor.accounts.Account`), reached through IAM agencies.

An account trusts ours through an *agency*: a role in that account our user may assume. How it
is assumed follows the credentials' own method (the official SDK has no cross-account support,
so this is ours):

- tokens (token or password credentials): `POST /v3/auth/tokens` with the `assume_role`
  method and our user's `X-Auth-Token`, scoped to the account's domain (to list its projects)
  or to one of its projects (FunctionGraph takes only those): 201, the token in
  `X-Subject-Token`, good for 24 h. `AgencyTokens` keeps one per project, like password tokens;
- temporary keys (AK/SK credentials): `POST /v3.0/OS-CREDENTIAL/securitytokens`, signed with
  our key: 201 `{"credential": {"access", "secret", "securitytoken", "expires_at"}}`, good for
  `duration_seconds` (900 to 86400) and in every project of the account. Requests signed with
  them carry `X-Security-Token` (signed too, as the official SDKs do). `AgencyKeys` holds them.

Both renew before expiry. An agency that refuses (403/404) is `AgencyRefused` for the listing
(the caller reports the account and carries on) and `auth_failed` for FunctionGraph requests.
Each account is its own rate scope (`account:<name>`): its gateway limits it apart from ours.
No agency token, temporary key or security token appears in a `repr`, a message or a log.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from auditor.accounts import Account
from auditor.errors import CredentialsUnavailable, IamError
from auditor.service.auth import (
    Credentials,
    IamToken,
    KeyPair,
    Outgoing,
    ScopedTokens,
    access_key_scope,
    project_scope,
)
from auditor.service.expiring import ExpiringCache, Shelf, Shelves
from auditor.service.iam import IamAnswer, IamApi, parse_expiry
from auditor.service.identity import DomainTokenIdentity, Identity

MIN_DURATION = 900
MAX_DURATION = 86_400
DEFAULT_DURATION = 3600  # temporary keys' life: renewed 5 minutes before it ends


def account_rate_scope(name: str) -> str:
    """Whose rate limit requests in another account count against: that account's."""
    return f"account:{name}"


# -- the two IAM calls ------------------------------------------------------------------------


async def _assume_role(
    api: IamApi, home: Identity, account: Account, path: str, what: str, body: Mapping[str, Any]
) -> IamAnswer:
    """POST `body` to `path` as `home`, assuming `account`'s agency: its 201 answer, or
    `AgencyRefused` when the agency refuses."""
    return await api.call(
        "POST",
        path,
        home,
        what=f"{what} of agency {account.agency_name}",
        body=body,
        expect=(201,),
        account=account.name,
        agency=account.agency_name,
    )


async def fetch_agency_token(
    api: IamApi, home: Identity, account: Account, scope: Mapping[str, Any]
) -> IamToken:
    """A token of `account`'s agency, scoped to `scope` (a project, or the account's domain),
    asked with the `X-Auth-Token` of `home`. `AgencyRefused` when the agency refuses."""
    body = {
        "auth": {
            "identity": {"methods": ["assume_role"], "assume_role": account.assume_role()},
            "scope": dict(scope),
        }
    }
    path = "/v3/auth/tokens?nocatalog=true"
    answer = await _assume_role(api, home, account, path, "a token", body)
    token = answer.headers.get("X-Subject-Token", "")
    if not token:
        message = "IAM's agency token answer has no X-Subject-Token: check --iam-endpoint"
        raise IamError(f"account {account.name}: {message}", account=account.name, status=201)
    try:
        expires = parse_expiry(answer.data["token"]["expires_at"])
    except (KeyError, TypeError, ValueError):
        raise _unreadable(account, "a token without its expiry (token.expires_at)") from None
    return IamToken(token, expires)


@dataclass(frozen=True, slots=True, repr=False)
class TemporaryKeys:
    """An agency's temporary access key, secret key and security token, and when they expire;
    the `repr` shows only the start of the access key."""

    access: str
    secret: str
    security_token: str
    expires_at: datetime

    @property
    def pair(self) -> KeyPair:
        """The keys to sign with."""
        return KeyPair(self.access, self.secret, self.security_token)

    def __repr__(self) -> str:
        return f"TemporaryKeys(access={self.access[:4]}****, expires_at={self.expires_at})"


async def fetch_temporary_keys(
    api: IamApi, home: Identity, account: Account, duration_seconds: int = DEFAULT_DURATION
) -> TemporaryKeys:
    """Temporary keys of `account`'s agency for `duration_seconds` (900 to 86400), asked as
    `home` (signed with our key). `AgencyRefused` when the agency refuses."""
    _check_duration(duration_seconds)
    role = {**account.assume_role(), "duration_seconds": duration_seconds}
    body = {"auth": {"identity": {"methods": ["assume_role"], "assume_role": role}}}
    path = "/v3.0/OS-CREDENTIAL/securitytokens"
    answer = await _assume_role(api, home, account, path, "temporary keys", body)
    credential = answer.data.get("credential")
    if not isinstance(credential, dict):
        raise _unreadable(account, "no credential")
    parts = [credential.get(name) for name in ("access", "secret", "securitytoken")]
    if not all(isinstance(part, str) and part for part in parts):
        raise _unreadable(account, "a credential without its access, secret or security token")
    try:
        expires = parse_expiry(credential.get("expires_at"))
    except ValueError:
        raise _unreadable(account, "a credential without its expiry (expires_at)") from None
    access, secret, security_token = (str(part) for part in parts)
    api.conceal(secret, security_token)
    return TemporaryKeys(access, secret, security_token, expires)


def _check_duration(duration_seconds: int) -> None:
    if not MIN_DURATION <= duration_seconds <= MAX_DURATION:
        raise ValueError(f"duration_seconds must be {MIN_DURATION} to {MAX_DURATION}")


def _unreadable(account: Account, what: str) -> IamError:
    message = f"IAM's answer for agency {account.agency_name} holds {what}: check --iam-endpoint"
    return IamError(f"account {account.name}: {message}", account=account.name, status=201)


def _unavailable(exc: IamError) -> CredentialsUnavailable:
    """An IAM failure as FunctionGraph's credentials report it (an `auth_failed` row)."""
    return CredentialsUnavailable(str(exc), lasting=not exc.transient)


# -- agency tokens ----------------------------------------------------------------------------


class AgencyTokens(ScopedTokens):
    """FunctionGraph credentials in another account: an agency token per project, fetched
    when first needed, renewed before it expires or when refused, a refusal remembered."""

    def __init__(
        self,
        api: IamApi,
        home: Identity,
        account: Account,
        *,
        now: Callable[[], datetime],
        shelf: Shelf[IamToken] | None = None,
    ) -> None:
        async def fetch(project_id: str) -> IamToken:
            try:
                return await fetch_agency_token(api, home, account, {"project": {"id": project_id}})
            except IamError as exc:
                raise _unavailable(exc) from None

        super().__init__(
            fetch,
            now=now,
            method=f"agency {account.agency_name} of account {account.name} (tokens)",
            rate_scope=account_rate_scope(account.name),
            tag="agency",
            shelf=shelf,
        )


class AgencyTokenIdentity(DomainTokenIdentity):
    """Another account as IAM's listing calls see it: a domain-scoped agency token."""

    def __init__(
        self,
        api: IamApi,
        home: Identity,
        account: Account,
        *,
        now: Callable[[], datetime],
        shelf: Shelf[IamToken] | None = None,
    ) -> None:
        async def fetch() -> IamToken:
            return await fetch_agency_token(api, home, account, account.domain_scope())

        super().__init__(
            fetch,
            now=now,
            method=f"agency {account.agency_name} of account {account.name} (token)",
            account=account.name,
            domain_id=account.domain_id,
            tag="agency",
            shelf=shelf,
        )

    def __repr__(self) -> str:
        return f"AgencyTokenIdentity({self.account}, ****)"


# -- temporary keys ---------------------------------------------------------------------------


class AgencyKeyring:
    """One account's temporary keys, shared by its listing (`identity`) and its FunctionGraph
    requests (`credentials`): fetched when first needed, renewed before `expires_at`."""

    def __init__(
        self,
        api: IamApi,
        home: Identity,
        account: Account,
        *,
        now: Callable[[], datetime],
        duration_seconds: int = DEFAULT_DURATION,
        shelf: Shelf[TemporaryKeys] | None = None,
    ) -> None:
        _check_duration(duration_seconds)

        async def fetch(_: str) -> TemporaryKeys:
            return await fetch_temporary_keys(api, home, account, duration_seconds)

        self._keys = ExpiringCache(fetch, lambda keys: keys.expires_at, now=now, shelf=shelf)
        self.account = account
        self._now = now

    async def keys(self) -> tuple[TemporaryKeys, str]:
        """The current keys and their version tag; `IamError` when none can be had."""
        keys, generation = await self._keys.get("keys")
        return keys, f"keys:{generation}"

    def drop(self, rejected: str) -> bool:
        """The keys tagged `rejected` were refused: the next `keys()` fetches new ones."""
        _, _, number = rejected.partition(":")
        return number.isdigit() and self._keys.drop("keys", int(number))

    def now(self) -> datetime:
        """The moment to sign at."""
        return self._now()

    def __repr__(self) -> str:
        return f"AgencyKeyring({self.account.name}, ****)"


class AgencyKeyIdentity:
    """Another account as IAM's listing calls see it: its temporary keys, with its
    `X-Domain-Id` (configured, or found with `GET /v3/auth/domains`)."""

    signs = True

    def __init__(self, keyring: AgencyKeyring) -> None:
        self._keyring = keyring
        account = keyring.account
        self.account = account.name
        self.domain_id = account.domain_id
        self.method = f"agency {account.agency_name} of account {account.name} (temporary keys)"

    async def headers(self, out: Outgoing) -> tuple[dict[str, str], str]:
        keys, tag = await self._keyring.keys()
        return keys.pair.sign(out, self._keyring.now()), tag

    async def refresh(self, rejected: str) -> bool:
        return self._keyring.drop(rejected)  # new keys are a new access key: worth one try

    def __repr__(self) -> str:
        return f"AgencyKeyIdentity({self.account}, ****)"


class AgencyKeys:
    """FunctionGraph credentials in another account: requests signed with its temporary keys
    and carrying `X-Security-Token`. The keys are one access key across the account's
    projects, so their failures count against one access-key scope (the gateway locks a key
    after five failed signatures), apart from ours."""

    def __init__(self, keyring: AgencyKeyring) -> None:
        self._keyring = keyring
        account = keyring.account
        self._name = account.name
        self.method = f"agency {account.agency_name} of account {account.name} (temporary keys)"

    def scopes(self, project_id: str) -> tuple[str, ...]:
        return (project_scope(project_id), access_key_scope(self._name))

    def rate_scope(self, project_id: str) -> str:
        return account_rate_scope(self._name)

    async def headers(self, out: Outgoing) -> tuple[dict[str, str], str]:
        try:
            keys, tag = await self._keyring.keys()
        except IamError as exc:
            raise _unavailable(exc) from None
        return keys.pair.sign(out, self._keyring.now()), tag

    async def refresh(self, project_id: str, rejected: str) -> bool:
        return self._keyring.drop(rejected)

    def __repr__(self) -> str:
        return f"AgencyKeys({self._name}, ****)"


# -- one account, reached ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AccountAccess:
    """How one other account is reached: `identity` lists its projects
    (`auditor.service.projects.list_projects`), `credentials` ask its FunctionGraph."""

    account: Account
    identity: Identity
    credentials: Credentials


def reach_account(
    api: IamApi,
    home: Identity,
    account: Account,
    *,
    now: Callable[[], datetime],
    duration_seconds: int = DEFAULT_DURATION,
    shelves: Shelves | None = None,
) -> AccountAccess:
    """The way into `account` for credentials whose own identity is `home`: temporary keys
    for AK/SK (`home.signs`), agency tokens otherwise. Nothing is asked of IAM until the
    identity or the credentials are first used. With `shelves` (one per run), what was
    fetched for `account` in an earlier event loop of the run is used again."""
    shelves = shelves if shelves is not None else Shelves()
    name = account.name
    if home.signs:
        keyring = AgencyKeyring(
            api,
            home,
            account,
            now=now,
            duration_seconds=duration_seconds,
            shelf=shelves(f"temporary keys of {name}"),
        )
        return AccountAccess(account, AgencyKeyIdentity(keyring), AgencyKeys(keyring))
    return AccountAccess(
        account,
        AgencyTokenIdentity(api, home, account, now=now, shelf=shelves(f"domain token of {name}")),
        AgencyTokens(api, home, account, now=now, shelf=shelves(f"agency tokens of {name}")),
    )
