"""IAM's `POST /v3/auth/tokens`, password method, as the emulator serves it.

A request names a user (name, password, domain name) and one project to scope the token to:

    {"auth": {"identity": {"methods": ["password"], "password": {"user": {"name": U,
      "password": P, "domain": {"name": D}}}}, "scope": {"project": {"id": PROJECT_ID}}}}

The answer is 201 with the token in `X-Subject-Token` and its facts in the body. IAM's errors
are shaped unlike FunctionGraph's: `{"error": {"code": 401, "message": ..., "title": ...}}`.
IAM issues tokens for `reject_projects` too; FunctionGraph is what refuses them.

With an estate, a user belongs to the account its domain names, may scope a token to a project
of that account only, and may instead scope it to the account itself, `"scope": {"domain":
{"name": D}}` (or `{"id": DOMAIN_ID}`): a domain-scoped token, which IAM's listing calls take
and FunctionGraph refuses. The `assume_role` method is `auditor.emulator.agency`'s.
"""

from __future__ import annotations

import hmac
import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from auditor.emulator.auth import CredentialCheck, WallClock
from auditor.emulator.config import EmulatorConfig
from auditor.emulator.estate import Account, Estate
from auditor.emulator.faults import Answer, iam_error
from auditor.emulator.fleet import Fleet
from auditor.emulator.stats import Stats

EXPIRES_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"  # IAM's: 2026-11-24T12:00:00.000000Z


MALFORMED = iam_error(
    400, "Bad Request", "The request body is invalid: expected a password identity and a project."
)
WRONG_PASSWORD = iam_error(401, "Unauthorized", "The username or password is wrong.")
NO_SUCH_PROJECT = iam_error(400, "Bad Request", "Invalid project: the project does not exist.")
OTHER_DOMAIN = iam_error(
    401, "Unauthorized", "The domain in the scope is not the user's: scope your own account."
)


@dataclass(frozen=True, slots=True)
class DomainRef:
    """An account as a request names it: by domain id or by domain name (one of them set)."""

    id: str = ""
    name: str = ""

    def find(self, estate: Estate) -> Account | None:
        """The account named, or None."""
        if self.id:
            return estate.account(domain_id=self.id)
        return estate.account(name=self.name)

    def names(self, account: Account) -> bool:
        """Whether this names `account`."""
        return self.id == account.domain_id if self.id else self.name == account.name

    def __str__(self) -> str:
        return self.id or self.name


@dataclass(frozen=True, slots=True, repr=False)
class PasswordAuth:
    """The parts of a password-method token request; the repr never shows the password.

    `project_id` is the project scope, or "" for a domain scope, `scope_domain`."""

    user: str
    password: str
    domain: str
    project_id: str
    scope_domain: DomainRef | None = None

    def __repr__(self) -> str:
        return f"PasswordAuth(user={self.user!r}, domain={self.domain!r}, password=****)"


def member(parent: Any, key: str) -> Any:
    """`parent[key]` when `parent` is a JSON object, else None: a walk that never raises."""
    return parent.get(key) if isinstance(parent, dict) else None


def domain_ref(document: Any, id_key: str = "id", name_key: str = "name") -> DomainRef | None:
    """The account `document` names by `id_key` or `name_key` (a non-empty string), or None."""
    for key, make in ((id_key, "id"), (name_key, "name")):
        value = member(document, key)
        if isinstance(value, str) and value:
            return DomainRef(**{make: value})
    return None


def parse_password_auth(body: bytes) -> PasswordAuth | None:
    """The password identity and project (or domain) scope of a token request; None if it is
    malformed."""
    try:
        document = json.loads(body)
    except (UnicodeDecodeError, ValueError):
        return None
    auth = member(document, "auth")
    identity = member(auth, "identity")
    user = member(member(identity, "password"), "user")
    fields = (
        member(user, "name"),
        member(user, "password"),
        member(member(user, "domain"), "name"),
    )
    methods = member(identity, "methods")
    if not isinstance(methods, list) or "password" not in methods:
        return None
    if not all(isinstance(value, str) and value for value in fields):
        return None
    scope = member(auth, "scope")
    project_id = member(member(scope, "project"), "id")
    if isinstance(project_id, str) and project_id:
        return PasswordAuth(*fields, project_id)
    scope_domain = domain_ref(member(scope, "domain"))
    return None if scope_domain is None else PasswordAuth(*fields, "", scope_domain)


def identity_methods(body: bytes) -> list[str]:
    """The `auth.identity.methods` a token request names (strings only), [] if none."""
    try:
        methods = member(member(member(json.loads(body), "auth"), "identity"), "methods")
    except (UnicodeDecodeError, ValueError):
        return []
    return [m for m in methods if isinstance(m, str)] if isinstance(methods, list) else []


def new_token() -> str:
    """A fresh token: real ones are a few kilobytes of opaque base64 starting "MII"."""
    return "MII" + secrets.token_urlsafe(192)


def token_answer(
    token: str, facts: dict[str, Any], *, catalog: bool
) -> tuple[Answer, dict[str, str]]:
    """201 with `{"token": facts}` (and an empty `catalog` when asked), the token in
    `X-Subject-Token`."""
    if catalog:
        facts["catalog"] = []
    return (201, json.dumps({"token": facts}).encode()), {"X-Subject-Token": token}


def dated(issued_at: datetime, expires_at: datetime) -> dict[str, str]:
    """A token's `issued_at` and `expires_at`, as IAM writes them."""
    return {
        "expires_at": expires_at.strftime(EXPIRES_FORMAT),
        "issued_at": issued_at.strftime(EXPIRES_FORMAT),
    }


class Iam:
    """Issues tokens to the config's users; `CredentialCheck` then honours them."""

    def __init__(
        self,
        config: EmulatorConfig,
        project_names: Mapping[str, str],
        check: CredentialCheck,
        stats: Stats,
        wall_clock: WallClock,
        *,
        estate: Estate | None = None,
    ) -> None:
        self._config = config
        self._project_names = dict(project_names)
        self._check = check
        self._stats = stats
        self._wall_clock = wall_clock
        self._estate = estate

    def issue(self, body: bytes, *, catalog: bool) -> tuple[Answer, dict[str, str]]:
        """The answer to a password token request, and its headers (`X-Subject-Token` on
        success).

        With `catalog` (no `nocatalog=true` in the query) the body holds an empty `catalog`.
        """
        request = parse_password_auth(body)
        if request is None or (request.scope_domain is not None and self._estate is None):
            return MALFORMED, {}
        known = self._config.users.get(request.user)
        if known is None or not (
            hmac.compare_digest(known[0].encode(), request.password.encode())
            and known[1] == request.domain
        ):
            return WRONG_PASSWORD, {}
        account = self._estate.account(name=request.domain) if self._estate else None
        if self._estate is not None and account is None:
            return WRONG_PASSWORD, {}  # a user of a domain the estate does not have
        if request.scope_domain is not None and account is not None:
            return self._domain_token(request, request.scope_domain, account, catalog)
        project_name = self._project_names.get(request.project_id)
        if project_name is None or (
            self._estate is not None and self._estate.account_of(request.project_id) is not account
        ):
            return NO_SUCH_PROJECT, {}
        issued_at = self._wall_clock()
        expires_at = issued_at + timedelta(seconds=self._config.token_lifetime_s)
        token = new_token()
        domain_id = account.domain_id if account is not None else ""
        self._check.remember(
            token, request.project_id, expires_at, request.user, domain_id=domain_id
        )
        self._stats.tokens_issued[request.project_id] += 1
        if self._estate is not None and request.project_id in self._estate.mos_ids:
            self._stats.mos_requests += 1
        domain: dict[str, str] = {"name": request.domain}
        if account is not None:
            domain = {"id": account.domain_id, **domain}
        facts: dict[str, Any] = {
            **dated(issued_at, expires_at),
            "methods": ["password"],
            "project": {"id": request.project_id, "name": project_name, "domain": domain},
            "user": {"name": request.user, "domain": domain},
        }
        return token_answer(token, facts, catalog=catalog)

    def _domain_token(
        self, request: PasswordAuth, scope: DomainRef, account: Account, catalog: bool
    ) -> tuple[Answer, dict[str, str]]:
        if not scope.names(account):
            return OTHER_DOMAIN, {}
        issued_at = self._wall_clock()
        expires_at = issued_at + timedelta(seconds=self._config.token_lifetime_s)
        token = new_token()
        self._check.remember(token, "", expires_at, request.user, domain_id=account.domain_id)
        self._stats.domain_tokens_issued[account.name] += 1
        domain = {"id": account.domain_id, "name": account.name}
        facts: dict[str, Any] = {
            **dated(issued_at, expires_at),
            "methods": ["password"],
            "domain": domain,
            "user": {"name": request.user, "domain": domain},
        }
        return token_answer(token, facts, catalog=catalog)


def project_names(fleet: Fleet) -> dict[str, str]:
    """Each fleet project's IAM name: the region of its first function, else its id.

    Huawei Cloud names a region's default project after the region (`cn-north-4`).
    """
    names: dict[str, str] = {}
    for function in fleet.functions:
        names.setdefault(function.urn.project_id, function.urn.region)
    return {project_id: names.get(project_id, project_id) for project_id in fleet.project_ids}
