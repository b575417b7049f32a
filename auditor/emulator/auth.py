"""FunctionGraph's credential checks, as the emulator models its API gateway.

`CredentialCheck.check` judges one request to a project: a request carrying `X-Auth-Token` is
judged by its token, else one carrying `Authorization` by its `SDK-HMAC-SHA256` signature
(`auditor.emulator.access_keys`: keys, signature checks and locks), else it has no credentials.
Tokens:

- the config's `token` is valid for every project, `project_tokens` each for one project;
- IAM-issued tokens (`remember`) for their project, until `expires_at` (wall clock) or until
  `token_lifetime_requests` requests have been accepted with them: then 401 `APIG.0307`;
- any other token, or a token for another project, is 403 `FSS.0403`.

`reject_projects` refuse every credential after all the other checks pass: 403 `FSS.0403` for a
token, 401 `APIG.0301` "verify aksk signature fail" for a signature. The latter counts against
the AK like any failed signature: a client that keeps knocking on a refusing project can lock
its access key for every project, which is what a careful auditor must never do.

`CredentialCheck.check_account` judges a request to an account-wide API (the APM key listing) the
same way, the project taken from `X-Project-Id` or the token.

`CredentialCheck.holder` names whose credentials a request presents, without judging them, for
the gateway's per-user rate limit: an IAM token's user, any other token, a signature's AK, or
"anonymous".

With an `Estate`, every credential also belongs to one account and works in that account's
projects only: the config's token, access keys and users' tokens are the home account's; an
agency's tokens and temporary keys the account that granted them, and their holder is its agency
user (`<domain name>/<agency name>`), so that each account has a rate-limit window of its own. A
domain-scoped token works in no project (403 `FSS.0403`). A project outside the credential's
account is refused as `reject_projects` are. `CredentialCheck.iam_caller` judges a request to
IAM itself: a token (refused in IAM's own error shape), or a signature, whose `X-Domain-Id`, when
sent, must be its key's account.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from auditor.emulator.access_keys import (
    DOMAIN_MISMATCH,
    PROJECT_MISMATCH,
    AccessKey,
    AccessKeys,
    Arrival,
    iam_info,
)
from auditor.emulator.config import EmulatorConfig
from auditor.emulator.estate import Estate
from auditor.emulator.faults import Answer, error_body, iam_error
from auditor.emulator.stats import Stats
from auditor.service.signer import parse_authorization

ANONYMOUS = "anonymous"

WallClock = Callable[[], datetime]


def utc_now() -> datetime:
    """The wall clock, aware and in UTC (the default of every `WallClock` here)."""
    return datetime.now(UTC)


NO_CREDENTIALS = iam_info("APIG.0301", "x-auth-token not found")
BAD_TOKEN: Answer = (403, error_body("FSS.0403", "invalid token"))
TOKEN_EXPIRED: Answer = (401, error_body("APIG.0307", "The token expires."))
IAM_UNAUTHENTICATED = iam_error(
    401, "Unauthorized", "The request you have made requires authentication."
)


@dataclass(slots=True)
class IssuedToken:
    """A token IAM issued: its project ("" for a domain-scoped token), when it expires, how
    often it was accepted, the user it was issued to, and, with an estate, the account it acts
    in and whether an agency granted it."""

    project_id: str
    expires_at: datetime
    uses: int = 0
    user: str = ""
    domain_id: str = ""
    delegated: bool = False


@dataclass(frozen=True, slots=True)
class Caller:
    """Who a request to IAM comes from: the account (domain id) it acts in, its user's name,
    whether the credential is domain-wide (a domain-scoped token, a signature; not a project's
    token), and whether an agency granted it (an agency token, a temporary key)."""

    domain_id: str
    user: str
    domain_scoped: bool
    delegated: bool


class CredentialCheck:
    """The gateway's verdict on each request's credentials, and what it remembers between them.

    `now` passed to `check` is the loop clock (for AK locks); `wall_clock` dates tokens and
    temporary keys and checks `X-Sdk-Date`.
    """

    def __init__(
        self,
        config: EmulatorConfig,
        stats: Stats,
        wall_clock: WallClock = utc_now,
        *,
        estate: Estate | None = None,
    ):
        self._config = config
        self._stats = stats
        self._wall_clock = wall_clock
        self._estate = estate
        self._scoped = {token: project for project, token in config.project_tokens.items()}
        self._issued: dict[str, IssuedToken] = {}
        self._home = estate.home.domain_id if estate is not None else ""
        home_name = estate.home.name if estate is not None else ""
        self._home_user = next(
            (user for user, (_, domain) in config.users.items() if domain == home_name), ""
        )
        self.access_keys = AccessKeys(
            config, stats, wall_clock, home_domain=self._home, home_user=self._home_user
        )

    def remember(
        self,
        token: str,
        project_id: str,
        expires_at: datetime,
        user: str = "",
        *,
        domain_id: str = "",
        delegated: bool = False,
    ) -> None:
        """Accept `token` (issued by IAM to `user`) for `project_id` until `expires_at`; a
        `project_id` of "" is a domain-scoped token, for IAM only. `domain_id` is the account
        it acts in, `delegated` true for an agency's token."""
        self._issued[token] = IssuedToken(
            project_id, expires_at, user=user, domain_id=domain_id, delegated=delegated
        )

    def holder(self, headers: Mapping[str, str]) -> str:
        """Whose credentials the request presents, unchecked, as a rate-limit key.

        `X-Auth-Token` first, as `check` judges: `user:NAME` for a token IAM issued to a user
        (one user's tokens for many projects share a key), else `token:TOKEN`; then a signature's
        `ak:AK`, or `user:NAME` for a temporary key (its agency user, as its agency's tokens);
        else `ANONYMOUS`, also for an `Authorization` header that does not parse.
        """
        received = {name.lower(): value for name, value in headers.items()}
        token = received.get("x-auth-token")
        if token is not None:
            issued = self._issued.get(token)
            return f"user:{issued.user}" if issued is not None and issued.user else f"token:{token}"
        authorization = received.get("authorization")
        auth = parse_authorization(authorization) if authorization is not None else None
        if auth is None:
            return ANONYMOUS
        key = self.access_keys.get(auth.access)
        return f"user:{key.user}" if key is not None and key.temporary else f"ak:{auth.access}"

    def locked(self, access_key: str, now: float) -> bool:
        """Whether `access_key` is locked at loop time `now`."""
        return self.access_keys.locked(access_key, now)

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
        refusal = self._judge(project_id, Arrival(method, url, received, body, now))
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
        refusal = self._judge(project_id or "", Arrival(method, url, received, body, now))
        if refusal is not None and project_id:
            self._stats.auth_failures_by_project[project_id] += 1
        return refusal

    def _token_project(self, received: Mapping[str, str]) -> str | None:
        token = received.get("x-auth-token")
        if token is None:
            return None
        issued = self._issued.get(token)
        return issued.project_id if issued is not None else self._scoped.get(token)

    def _judge(self, project_id: str, arrival: Arrival) -> Answer | None:
        received = arrival.received
        if "x-auth-token" in received:
            return self._check_token(received["x-auth-token"], project_id)
        if "authorization" not in received:
            return NO_CREDENTIALS

        def placement(_: AccessKey) -> Answer | None:
            sent = received.get("x-project-id", project_id).strip()
            return PROJECT_MISMATCH if sent != project_id else None

        def refused(key: AccessKey) -> bool:
            rejected = project_id in self._config.reject_projects
            return rejected or self._outside(key.domain_id, project_id)

        verdict = self.access_keys.check(arrival, placement=placement, refused=refused)
        return None if isinstance(verdict, AccessKey) else verdict

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
            # The all-projects token: of the home account's projects, with an estate.
            scope = None if self._outside(self._home, project_id) else project_id
        else:
            scope = self._scoped.get(token)
        if scope != project_id or project_id in self._config.reject_projects:
            return BAD_TOKEN
        if issued is not None:
            issued.uses += 1
        return None

    def _outside(self, domain_id: str, project_id: str) -> bool:
        """Whether `project_id` lies outside account `domain_id`: never without an estate, nor
        for "" (an account-wide API's request that names no project)."""
        if self._estate is None or not project_id:
            return False
        account = self._estate.account_of(project_id)
        return account is None or account.domain_id != domain_id

    # --- IAM -----------------------------------------------------------------------------------

    def iam_caller(
        self,
        *,
        method: str,
        url: str,
        headers: Mapping[str, str],
        body: bytes,
        now: float,
        token_only: bool = False,
    ) -> Caller | Answer:
        """Who a request to IAM comes from, or the refusal to send (counted in `Stats`).

        A token (`X-Auth-Token`) must be one IAM issued and not expired, the config's token (the
        home account's, domain-wide) or one of `project_tokens`; else 401 in IAM's shape. A
        signature is checked as FunctionGraph checks one (the same keys and locks), with
        `X-Domain-Id` in place of `X-Project-Id`: when sent, it must name the key's account
        (Huawei's SDKs learn that id from `GET /v3/auth/domains`, signed without one). With
        `token_only` (an agency token is asked with a token), a request without one is 401.
        """
        received = {name.lower(): value for name, value in headers.items()}
        if token_only and "x-auth-token" not in received:
            self._stats.iam_auth_failures += 1
            return IAM_UNAUTHENTICATED
        caller = self._iam_judge(Arrival(method, url, received, body, now))
        if not isinstance(caller, Caller):
            self._stats.iam_auth_failures += 1
        return caller

    def _iam_judge(self, arrival: Arrival) -> Caller | Answer:
        received = arrival.received
        token = received.get("x-auth-token")
        if token is not None:
            return self._token_caller(token)
        if "authorization" not in received:
            return IAM_UNAUTHENTICATED

        def placement(key: AccessKey) -> Answer | None:
            sent = received.get("x-domain-id", key.domain_id).strip()
            return DOMAIN_MISMATCH if sent != key.domain_id else None

        verdict = self.access_keys.check(arrival, placement=placement, refused=lambda _: False)
        if not isinstance(verdict, AccessKey):
            return verdict
        return Caller(verdict.domain_id, verdict.user, True, verdict.temporary)

    def _token_caller(self, token: str) -> Caller | Answer:
        issued = self._issued.get(token)
        if issued is not None:
            if self._wall_clock() >= issued.expires_at:
                return IAM_UNAUTHENTICATED
            return Caller(issued.domain_id, issued.user, not issued.project_id, issued.delegated)
        if token == self._config.token:
            return Caller(self._home, self._home_user, True, False)
        project_id = self._scoped.get(token)
        account = self._estate.account_of(project_id) if self._estate and project_id else None
        if account is None:
            return IAM_UNAUTHENTICATED
        return Caller(account.domain_id, "", False, False)
