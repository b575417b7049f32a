"""Agencies: how the home account's user acts in another account of the estate, as IAM serves it.

An account delegates to another through an *agency*; the trusted account's user then asks IAM,
with credentials of its own, for credentials that act in the delegating account:

- an agency token, `POST /v3/auth/tokens` with the user's `X-Auth-Token` and

      {"auth": {"identity": {"methods": ["assume_role"], "assume_role": {"domain_name": D
        (or "domain_id": ID), "agency_name": A}}, "scope": {"project": {"id": P}}}}

  (`"project": {"name": N}` names the project within D; `"scope": {"domain": {"name": D}}`
  asks for a domain-scoped token) → 201, the token in `X-Subject-Token`, valid as long as a
  password token; it works in that project only (or, domain-scoped, at IAM only);
- temporary keys, `POST /v3.0/OS-CREDENTIAL/securitytokens` with a token or an AK/SK signature
  (`X-Domain-Id`, when sent, the home account's) and

      {"auth": {"identity": {"methods": ["assume_role"], "assume_role": {"agency_name": A,
        "domain_name": D (or "domain_id": ID), "duration_seconds": 900 to 86400 (900)}}}}

  → 201 `{"credential": {"access", "secret", "securitytoken", "expires_at"}}`: an AK/SK that
  signs requests to D's projects and to IAM (`X-Domain-Id`, if sent, D's id) when they carry
  `X-Security-Token`, until `expires_at`.

Only the home account is trusted, and only with credentials of its own: an agency's token or
temporary key cannot assume another role. An account whose agency refuses the home account, an
agency name it does not have, or an account the estate does not have are all 403 in IAM's
shape, counted per account asked for. Nothing here shows a secret: the answers carry them, as
IAM's do, and the reprs and messages never.
"""

from __future__ import annotations

import json
import secrets
import string
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from auditor.emulator.access_keys import AccessKey
from auditor.emulator.auth import Caller, CredentialCheck, WallClock
from auditor.emulator.config import EmulatorConfig
from auditor.emulator.estate import Account, Estate, Project
from auditor.emulator.faults import Answer, iam_error
from auditor.emulator.iam import (
    EXPIRES_FORMAT,
    DomainRef,
    dated,
    domain_ref,
    member,
    new_token,
    token_answer,
)
from auditor.emulator.stats import Stats

MIN_DURATION_S = 900
MAX_DURATION_S = 86400
DEFAULT_DURATION_S = 900

MALFORMED_ASSUME_ROLE = iam_error(
    400,
    "Bad Request",
    "The request body is invalid: expected an assume_role identity with agency_name and "
    "domain_name or domain_id, and a project or domain scope.",
)
MALFORMED_SECURITY_TOKEN = iam_error(
    400,
    "Bad Request",
    "The request body is invalid: expected an assume_role identity with agency_name and "
    f"domain_name or domain_id, and duration_seconds from {MIN_DURATION_S} to {MAX_DURATION_S}.",
)
AGENCY_REFUSED = iam_error(
    403,
    "Forbidden",
    "You are not authorized to perform the requested action: the agency does not exist or "
    "does not trust your account.",
)
DELEGATED_CALLER = iam_error(
    403,
    "Forbidden",
    "You are not authorized to perform the requested action: an agency's credentials cannot "
    "assume a role.",
)
BAD_SCOPE = iam_error(
    400, "Bad Request", "Invalid scope: the project or domain is not in the delegating account."
)
_KEY_ALPHABET = string.ascii_uppercase + string.digits


@dataclass(frozen=True, slots=True)
class AssumeRole:
    """What an `assume_role` identity asks for: the delegating account, the agency, and, for
    temporary keys, how long they live (None: the default)."""

    domain: DomainRef
    agency_name: str
    duration_seconds: int | None = None


def parse_assume_role(document: Any) -> AssumeRole | None:
    """The `assume_role` identity of a parsed request body, or None if it is malformed (the
    method missing, no agency, no account, or a duration that is not a whole number)."""
    identity = member(member(document, "auth"), "identity")
    methods = member(identity, "methods")
    if not isinstance(methods, list) or "assume_role" not in methods:
        return None
    assume = member(identity, "assume_role")
    domain = domain_ref(assume, "domain_id", "domain_name")
    agency = member(assume, "agency_name")
    duration = member(assume, "duration_seconds")
    if domain is None or not (isinstance(agency, str) and agency):
        return None
    if duration is not None and (isinstance(duration, bool) or not isinstance(duration, int)):
        return None
    return AssumeRole(domain, agency, duration)


def _parsed(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (UnicodeDecodeError, ValueError):
        return None


class Agencies:
    """Grants the home account's user credentials in the accounts whose agencies trust it."""

    def __init__(
        self,
        config: EmulatorConfig,
        estate: Estate,
        check: CredentialCheck,
        stats: Stats,
        wall_clock: WallClock,
    ) -> None:
        self._config = config
        self._estate = estate
        self._check = check
        self._stats = stats
        self._wall_clock = wall_clock

    def token(
        self, body: bytes, caller: Caller | Answer, *, catalog: bool
    ) -> tuple[Answer, dict[str, str]]:
        """The answer to an `assume_role` token request by `caller` (its refusal passed on),
        and its headers (`X-Subject-Token` on success)."""
        document = _parsed(body)
        request = parse_assume_role(document)
        scope = member(member(document, "auth"), "scope")
        project_ref, domain_scope = member(scope, "project"), domain_ref(member(scope, "domain"))
        if request is None or (project_ref is None and domain_scope is None):
            return MALFORMED_ASSUME_ROLE, {}
        if not isinstance(caller, Caller):
            return caller, {}
        account = self._grantor(request, caller)
        if not isinstance(account, Account):
            return account, {}
        project = _project(account, project_ref) if project_ref is not None else None
        if (project_ref is not None and project is None) or (
            domain_scope is not None and not domain_scope.names(account)
        ):
            return BAD_SCOPE, {}
        issued_at = self._wall_clock()
        expires_at = issued_at + timedelta(seconds=self._config.token_lifetime_s)
        token = new_token()
        user = f"{account.name}/{request.agency_name}"
        project_id = project.id if project is not None else ""
        self._check.remember(
            token, project_id, expires_at, user, domain_id=account.domain_id, delegated=True
        )
        self._stats.agency_tokens_issued[account.name] += 1
        domain = {"id": account.domain_id, "name": account.name}
        facts: dict[str, Any] = {**dated(issued_at, expires_at), "methods": ["assume_role"]}
        if project is not None:
            self._stats.tokens_issued[project.id] += 1
            if project.id in self._estate.mos_ids:
                self._stats.mos_requests += 1
            facts["project"] = {"id": project.id, "name": project.name, "domain": domain}
        else:
            self._stats.domain_tokens_issued[account.name] += 1
            facts["domain"] = domain
        home = self._estate.home
        facts["user"] = {"name": user, "domain": domain}
        facts["assumed_by"] = {
            "user": {"name": caller.user, "domain": {"id": home.domain_id, "name": home.name}}
        }
        return token_answer(token, facts, catalog=catalog)

    def temporary_keys(self, body: bytes, caller: Caller | Answer) -> Answer:
        """The answer to `POST /v3.0/OS-CREDENTIAL/securitytokens` by `caller` (its refusal
        passed on): 201 with the keys, or why not."""
        request = parse_assume_role(_parsed(body))
        if request is None:
            return MALFORMED_SECURITY_TOKEN
        duration = request.duration_seconds
        duration = DEFAULT_DURATION_S if duration is None else duration
        if not MIN_DURATION_S <= duration <= MAX_DURATION_S:
            return MALFORMED_SECURITY_TOKEN
        if not isinstance(caller, Caller):
            return caller
        account = self._grantor(request, caller)
        if not isinstance(account, Account):
            return account
        expires_at = self._wall_clock() + timedelta(seconds=duration)
        access = "".join(secrets.choice(_KEY_ALPHABET) for _ in range(20))
        secret = "".join(secrets.choice(_KEY_ALPHABET) for _ in range(40))
        security_token = "gQ" + secrets.token_urlsafe(384)
        user = f"{account.name}/{request.agency_name}"
        key = AccessKey(secret, security_token, account.domain_id, user, expires_at)
        self._check.access_keys.grant(access, key)
        self._stats.temporary_keys_issued[account.name] += 1
        credential = {
            "access": access,
            "secret": secret,
            "securitytoken": security_token,
            "expires_at": expires_at.strftime(EXPIRES_FORMAT),
        }
        return 201, json.dumps({"credential": credential}).encode()

    def _grantor(self, request: AssumeRole, caller: Caller) -> Account | Answer:
        """The account whose agency lets `caller` in, or the 403 (counted) if none does."""
        account = request.domain.find(self._estate)
        if caller.delegated:
            refusal = DELEGATED_CALLER
        elif (
            account is None
            or caller.domain_id != self._estate.home.domain_id
            or account.agency_name != request.agency_name
            or not account.trusts_home
        ):
            refusal = AGENCY_REFUSED
        else:
            return account
        self._stats.agency_refusals[account.name if account else str(request.domain)] += 1
        return refusal


def _project(account: Account, reference: Any) -> Project | None:
    """The project of `account` a scope names by `id` or `name`, or None."""
    project_id, name = member(reference, "id"), member(reference, "name")
    for project in account.projects:
        if (isinstance(project_id, str) and project.id == project_id) or (
            project_id is None and isinstance(name, str) and project.name == name
        ):
            return project
    return None
