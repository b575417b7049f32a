"""FunctionGraph's credential checks, as the emulator models its API gateway.

`CredentialCheck.check` judges one request to a project: a request carrying `X-Auth-Token` is
judged by its token, else one carrying `Authorization` by its `SDK-HMAC-SHA256` signature, else
it has no credentials. Tokens:

- the config's `token` is valid for every project, `project_tokens` each for one project;
- IAM-issued tokens (`remember`) for their project, until `expires_at` (wall clock) or until
  `token_lifetime_requests` requests have been accepted with them: then 401 `APIG.0307`;
- any other token, or a token for another project, is 403 `FSS.0403`.

Signatures (every refusal is 401): the AK must be known (else `APIG.0301` "ak not found"), and
not locked (`APIG.0307` "the access key is locked"); `X-Sdk-Date` within 15 minutes of the wall
clock, `X-Project-Id` (when sent) equal to the path's project, a temporary AK's
`X-Security-Token` (and no security token with a permanent AK), and the signature itself over
the request as received (`auditor.service.signer.verify`). Every one of these failures for a
known AK counts against it: 5 in a row lock it for `aksk_lock_s` seconds; an accepted request
resets the count. Requests while it is locked neither count nor extend the lock.

`reject_projects` refuse every credential after all the checks above pass: 403 `FSS.0403` for a
token, 401 `APIG.0301` "verify aksk signature fail" for a signature. The latter counts against
the AK like any failed signature: a client that keeps knocking on a refusing project can lock
its access key for every project, which is what a careful auditor must never do.

`CredentialCheck.check_account` judges a request to an account-wide API (the APM key listing) the
same way, the project taken from `X-Project-Id` or the token.

`CredentialCheck.holder` names whose credentials a request presents, without judging them, for
the gateway's per-user rate limit: an IAM token's user, any other token, a signature's AK, or
"anonymous".
"""

from __future__ import annotations

import hmac
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from auditor.emulator.config import EmulatorConfig
from auditor.emulator.faults import Answer, error_body
from auditor.emulator.stats import Stats
from auditor.service.signer import parse_authorization, parse_sdk_date, verify

AKSK_FAILURES_TO_LOCK = 5
ANONYMOUS = "anonymous"
SDK_DATE_TOLERANCE = timedelta(minutes=15)

WallClock = Callable[[], datetime]


def utc_now() -> datetime:
    """The wall clock, aware and in UTC (the default of every `WallClock` here)."""
    return datetime.now(UTC)


def _iam_info(code: str, detail: str) -> Answer:
    return 401, error_body(code, f"Incorrect IAM authentication information: {detail}")


NO_CREDENTIALS = _iam_info("APIG.0301", "x-auth-token not found")
BAD_TOKEN: Answer = (403, error_body("FSS.0403", "invalid token"))
TOKEN_EXPIRED: Answer = (401, error_body("APIG.0307", "The token expires."))
BAD_AUTHORIZATION = _iam_info("APIG.0301", "Authorization header format error")
AK_NOT_FOUND = _iam_info("APIG.0301", "ak not found")
AK_LOCKED = _iam_info("APIG.0307", "the access key is locked")
BAD_SDK_DATE = _iam_info("APIG.0301", "x-sdk-date is missing or malformed")
STALE_SDK_DATE = _iam_info("APIG.0301", "request expired: x-sdk-date is over 15 minutes off")
PROJECT_MISMATCH = _iam_info("APIG.0301", "x-project-id does not match the project in the URL")
BAD_SECURITY_TOKEN = _iam_info("APIG.0301", "x-security-token is missing or invalid")
BAD_SIGNATURE = _iam_info("APIG.0301", "verify aksk signature fail")


@dataclass(slots=True)
class IssuedToken:
    """A token IAM issued: its project, when it expires, how often it was accepted, and the
    user it was issued to."""

    project_id: str
    expires_at: datetime
    uses: int = 0
    user: str = ""


class CredentialCheck:
    """The gateway's verdict on each request's credentials, and what it remembers between them.

    `now` passed to `check` is the loop clock (for AK locks); `wall_clock` dates tokens and
    checks `X-Sdk-Date`.
    """

    def __init__(self, config: EmulatorConfig, stats: Stats, wall_clock: WallClock = utc_now):
        self._config = config
        self._stats = stats
        self._wall_clock = wall_clock
        self._scoped = {token: project for project, token in config.project_tokens.items()}
        self._issued: dict[str, IssuedToken] = {}
        self._failures: Counter[str] = Counter()  # failed authentications in a row, per AK
        self._locked_until: dict[str, float] = {}  # AK -> loop time its lock ends

    def remember(self, token: str, project_id: str, expires_at: datetime, user: str = "") -> None:
        """Accept `token` (issued by IAM to `user`) for `project_id` until `expires_at`."""
        self._issued[token] = IssuedToken(project_id, expires_at, user=user)

    def holder(self, headers: Mapping[str, str]) -> str:
        """Whose credentials the request presents, unchecked, as a rate-limit key.

        `X-Auth-Token` first, as `check` judges: `user:NAME` for a token IAM issued to a user
        (one user's tokens for many projects share a key), else `token:TOKEN`; then a signature's
        `ak:AK`; else `ANONYMOUS`, also for an `Authorization` header that does not parse.
        """
        received = {name.lower(): value for name, value in headers.items()}
        token = received.get("x-auth-token")
        if token is not None:
            issued = self._issued.get(token)
            return f"user:{issued.user}" if issued is not None and issued.user else f"token:{token}"
        authorization = received.get("authorization")
        auth = parse_authorization(authorization) if authorization is not None else None
        return ANONYMOUS if auth is None else f"ak:{auth.access}"

    def locked(self, access_key: str, now: float) -> bool:
        """Whether `access_key` is locked at loop time `now`."""
        return now < self._locked_until.get(access_key, -1.0)

    def check(
        self,
        *,
        project_id: str,
        method: str,
        url: str,
        headers: Mapping[str, str],
        body: bytes,
        now: float,
    ) -> Answer | None:
        """None if the request may proceed, else the refusal to send (counted in `Stats`).

        `url` is the URL as received (`str(request.url)`), `headers` the received headers.
        """
        received = {name.lower(): value for name, value in headers.items()}
        refusal = self._judge(project_id, method, url, received, body, now)
        if refusal is not None:
            self._stats.auth_failures_by_project[project_id] += 1
        return refusal

    def check_account(
        self, *, method: str, url: str, headers: Mapping[str, str], body: bytes, now: float
    ) -> Answer | None:
        """`check` for an account-wide API (APM), whose path names no project.

        The project is the request's `X-Project-Id`, else its token's own; credentials good
        for every project (the config's `token`, a signature without `X-Project-Id`) need none.
        A refusal is counted under that project, or not at all without one.
        """
        received = {name.lower(): value for name, value in headers.items()}
        project_id = received.get("x-project-id", "").strip() or self._token_project(received)
        refusal = self._judge(project_id or "", method, url, received, body, now)
        if refusal is not None and project_id:
            self._stats.auth_failures_by_project[project_id] += 1
        return refusal

    def _token_project(self, received: Mapping[str, str]) -> str | None:
        token = received.get("x-auth-token")
        if token is None:
            return None
        issued = self._issued.get(token)
        return issued.project_id if issued is not None else self._scoped.get(token)

    def _judge(
        self,
        project_id: str,
        method: str,
        url: str,
        received: Mapping[str, str],
        body: bytes,
        now: float,
    ) -> Answer | None:
        if "x-auth-token" in received:
            return self._check_token(received["x-auth-token"], project_id)
        if "authorization" in received:
            return self._check_signature(project_id, method, url, received, body, now)
        return NO_CREDENTIALS

    def _check_token(self, token: str, project_id: str) -> Answer | None:
        issued = self._issued.get(token)
        if issued is not None:
            lifetime = self._config.token_lifetime_requests
            if self._wall_clock() >= issued.expires_at or (
                lifetime is not None and issued.uses >= lifetime
            ):
                return TOKEN_EXPIRED
            scope: str | None = issued.project_id
        elif token == self._config.token:
            scope = project_id  # the all-projects token
        else:
            scope = self._scoped.get(token)
        if scope != project_id or project_id in self._config.reject_projects:
            return BAD_TOKEN
        if issued is not None:
            issued.uses += 1
        return None

    def _check_signature(
        self,
        project_id: str,
        method: str,
        url: str,
        received: Mapping[str, str],
        body: bytes,
        now: float,
    ) -> Answer | None:
        auth = parse_authorization(received["authorization"])
        if auth is None:
            return BAD_AUTHORIZATION
        sk = self._config.access_keys.get(auth.access)
        if sk is None:
            return AK_NOT_FOUND
        if self.locked(auth.access, now):
            return AK_LOCKED
        refusal = self._signature_refusal(auth.access, sk, project_id, method, url, received, body)
        if refusal is None:
            self._failures.pop(auth.access, None)
            return None
        self._failures[auth.access] += 1
        if self._failures[auth.access] >= AKSK_FAILURES_TO_LOCK:
            del self._failures[auth.access]
            self._locked_until[auth.access] = now + self._config.aksk_lock_s
            self._stats.aksk_locks += 1
        return refusal

    def _signature_refusal(
        self,
        access_key: str,
        sk: str,
        project_id: str,
        method: str,
        url: str,
        received: Mapping[str, str],
        body: bytes,
    ) -> Answer | None:
        try:
            signed_at = parse_sdk_date(received.get("x-sdk-date", "").strip())
        except ValueError:
            return BAD_SDK_DATE
        if abs(self._wall_clock() - signed_at) > SDK_DATE_TOLERANCE:
            return STALE_SDK_DATE
        if received.get("x-project-id", project_id).strip() != project_id:
            return PROJECT_MISMATCH
        required = self._config.temporary_keys.get(access_key)
        sent = received.get("x-security-token")
        if (required is None) != (sent is None) or not _same(sent, required):
            return BAD_SECURITY_TOKEN
        if not verify(sk=sk, method=method, url=url, headers=received, body=body):
            return BAD_SIGNATURE
        if project_id in self._config.reject_projects:
            return BAD_SIGNATURE
        return None


def _same(sent: str | None, required: str | None) -> bool:
    if sent is None or required is None:
        return sent is required
    return hmac.compare_digest(sent.strip().encode(), required.encode())
