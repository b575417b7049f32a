"""IAM's `POST /v3/auth/tokens`, password method, as the emulator serves it.

A request names a user (name, password, domain name) and one project to scope the token to:

    {"auth": {"identity": {"methods": ["password"], "password": {"user": {"name": U,
      "password": P, "domain": {"name": D}}}}, "scope": {"project": {"id": PROJECT_ID}}}}

The answer is 201 with the token in `X-Subject-Token` and its facts in the body. IAM's errors
are shaped unlike FunctionGraph's: `{"error": {"code": 401, "message": ..., "title": ...}}`.
IAM issues tokens for `reject_projects` too; FunctionGraph is what refuses them.
"""

from __future__ import annotations

import hmac
import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from auditor.emulator.auth import CredentialCheck, WallClock
from auditor.emulator.config import EmulatorConfig
from auditor.emulator.faults import Answer
from auditor.emulator.fleet import Fleet
from auditor.emulator.stats import Stats

EXPIRES_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"  # IAM's: 2026-11-24T12:00:00.000000Z


def iam_error(status: int, title: str, message: str) -> Answer:
    """An IAM error answer: `{"error": {"code": status, "message": ..., "title": ...}}`."""
    body = {"error": {"code": status, "message": message, "title": title}}
    return status, json.dumps(body).encode()


MALFORMED = iam_error(
    400, "Bad Request", "The request body is invalid: expected a password identity and a project."
)
WRONG_PASSWORD = iam_error(401, "Unauthorized", "The username or password is wrong.")
NO_SUCH_PROJECT = iam_error(400, "Bad Request", "Invalid project: the project does not exist.")


@dataclass(frozen=True, slots=True, repr=False)
class PasswordAuth:
    """The parts of a password-method token request; the repr never shows the password."""

    user: str
    password: str
    domain: str
    project_id: str

    def __repr__(self) -> str:
        return f"PasswordAuth(user={self.user!r}, domain={self.domain!r}, password=****)"


def _object(parent: Any, key: str) -> Any:
    return parent.get(key) if isinstance(parent, dict) else None


def parse_password_auth(body: bytes) -> PasswordAuth | None:
    """The password identity and project scope of a token request; None if it is malformed."""
    try:
        document = json.loads(body)
    except (UnicodeDecodeError, ValueError):
        return None
    auth = _object(document, "auth")
    identity = _object(auth, "identity")
    user = _object(_object(identity, "password"), "user")
    fields = (
        _object(user, "name"),
        _object(user, "password"),
        _object(_object(user, "domain"), "name"),
        _object(_object(_object(auth, "scope"), "project"), "id"),
    )
    methods = _object(identity, "methods")
    if not isinstance(methods, list) or "password" not in methods:
        return None
    if not all(isinstance(value, str) and value for value in fields):
        return None
    return PasswordAuth(*fields)


class Iam:
    """Issues project-scoped tokens to the config's users; `CredentialCheck` then honours them."""

    def __init__(
        self,
        config: EmulatorConfig,
        project_names: Mapping[str, str],
        check: CredentialCheck,
        stats: Stats,
        wall_clock: WallClock,
    ) -> None:
        self._config = config
        self._project_names = dict(project_names)
        self._check = check
        self._stats = stats
        self._wall_clock = wall_clock

    def issue(self, body: bytes, *, catalog: bool) -> tuple[Answer, dict[str, str]]:
        """The answer to a token request and its extra headers (`X-Subject-Token` on success).

        With `catalog` (no `nocatalog=true` in the query) the body holds an empty `catalog`.
        """
        request = parse_password_auth(body)
        if request is None:
            return MALFORMED, {}
        known = self._config.users.get(request.user)
        if known is None or not (
            hmac.compare_digest(known[0].encode(), request.password.encode())
            and known[1] == request.domain
        ):
            return WRONG_PASSWORD, {}
        project_name = self._project_names.get(request.project_id)
        if project_name is None:
            return NO_SUCH_PROJECT, {}
        issued_at = self._wall_clock()
        expires_at = issued_at + timedelta(seconds=self._config.token_lifetime_s)
        # Real tokens are a few kilobytes of opaque base64 starting "MII"; long enough here.
        token = "MII" + secrets.token_urlsafe(192)
        self._check.remember(token, request.project_id, expires_at, request.user)
        self._stats.tokens_issued[request.project_id] += 1
        facts: dict[str, Any] = {
            "expires_at": expires_at.strftime(EXPIRES_FORMAT),
            "issued_at": issued_at.strftime(EXPIRES_FORMAT),
            "methods": ["password"],
            "project": {
                "id": request.project_id,
                "name": project_name,
                "domain": {"name": request.domain},
            },
            "user": {"name": request.user, "domain": {"name": request.domain}},
        }
        if catalog:
            facts["catalog"] = []
        return (201, json.dumps({"token": facts}).encode()), {"X-Subject-Token": token}


def project_names(fleet: Fleet) -> dict[str, str]:
    """Each fleet project's IAM name: the region of its first function, else its id.

    Huawei Cloud names a region's default project after the region (`cn-north-4`).
    """
    names: dict[str, str] = {}
    for function in fleet.functions:
        names.setdefault(function.urn.project_id, function.urn.region)
    return {project_id: names.get(project_id, project_id) for project_id in fleet.project_ids}
