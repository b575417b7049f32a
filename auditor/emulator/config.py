"""`EmulatorConfig`: the emulator's knobs, and the well-known credentials it accepts by default.

The defaults answer at once, never throttle, inject no fault, and accept `DEFAULT_TOKEN` for
every project, `DEFAULT_AK`/`DEFAULT_SK` signatures, and `DEFAULT_USER`'s password at IAM; the
APM service lists one key pair, `DEFAULT_APM_AK`/`DEFAULT_APM_SK` (what `auditor fix` sets).
These are test credentials for a loopback server, public by design.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from auditor.emulator.faults import Fault
from auditor.emulator.ratelimit import SCOPES, RateSchedule, check_schedule
from auditor.errors import InvalidUrn
from auditor.source.urn import parse_urn

DEFAULT_TOKEN = "emulator-token"
DEFAULT_AK = "EMULATORAK0123456789"
DEFAULT_SK = "emulator-secret-key-0123456789abcdef"
DEFAULT_USER = "auditor"
DEFAULT_PASSWORD = "emulator-password"
DEFAULT_DOMAIN = "emulator-domain"
# Lower case, as the keys in APM's docs are, keeps it apart from every fleet function's tracing AK
# (`Fleet.tracing_ak`: capitals and digits), so a policy expecting only this AK flags them all.
DEFAULT_APM_AK = "emulatorapmak0000001"
DEFAULT_APM_SK = "emulatorapmsecretkey0123456789abcdef"
MAX_APM_KEYS = 2  # the APM console creates at most two key pairs per account


def _default_access_keys() -> dict[str, str]:
    return {DEFAULT_AK: DEFAULT_SK}


def _default_apm_keys() -> dict[str, str]:
    return {DEFAULT_APM_AK: DEFAULT_APM_SK}


def _default_users() -> dict[str, tuple[str, str]]:
    return {DEFAULT_USER: (DEFAULT_PASSWORD, DEFAULT_DOMAIN)}


@dataclass
class EmulatorConfig:
    """Knobs for realism, credentials and fault injection.

    Credentials, as FunctionGraph and IAM check them (see `auditor.emulator.auth`):

    - `token` is valid for every project; `project_tokens` (project id -> token) adds tokens
      valid for one project only, as real IAM tokens are.
    - `access_keys` (AK -> SK) sign requests (`SDK-HMAC-SHA256`); `temporary_keys` (AK -> security
      token) marks temporary AKs, which need their `X-Security-Token`. After 5 failed
      authentications in a row an AK is locked for `aksk_lock_s` seconds.
    - `users` (name -> (password, domain name)) get project-scoped tokens from
      `POST /v3/auth/tokens`; those expire after `token_lifetime_s`, or after
      `token_lifetime_requests` FunctionGraph requests made with them, whichever comes first.
    - `reject_projects` refuse every credential, however valid (IAM still issues tokens for them:
      it is FunctionGraph that says no).

    APM: `apm_keys` (AK -> SK, at most `MAX_APM_KEYS`) are the account's APM access keys,
    listed by `GET /v1/apm2/access-keys` (see `auditor.emulator.apm`); with `mask_apm_sks` the
    listing shows each SK masked, as the example in Huawei's docs does, so a client cannot use it.

    Rate limit (see `auditor.emulator.ratelimit`), checked before the credentials are: at most
    `rate_limit` requests admitted in any sliding 1 s window, or a limit that changes over time
    (`rate_limit_schedule`, phases `(start second, limit or None)`; `rate_limit=N` is the
    schedule `((0, N),)`, and only one of the two may be given). Seconds count from the first
    rate-limited request the server sees after it starts or after its stats are reset. The
    window is kept per `rate_limit_scope`: "user" (each credential presented: an IAM token's
    user, another token, a signature's AK, or "anonymous"), as Huawei's gateway limits, across
    all projects; or "project" (the project in the path). Tracing and ListFunctions requests
    share it; IAM is not limited.
    """

    token: str = DEFAULT_TOKEN
    latency_ms: tuple[float, float] = (0.0, 0.0)
    rate_limit: int | None = None  # requests per scope in any sliding 1 s window
    rate_limit_scope: str = "user"  # or "project"
    rate_limit_schedule: RateSchedule = ()
    reject_projects: frozenset[str] = frozenset()
    # Per run: each authenticated tracing request gets at most one of these faults, each with
    # its probability (they must add up to at most 1), drawn from random.Random(fault_seed).
    faults: Mapping[Fault, float] = field(default_factory=dict)
    fault_seed: int = 0
    # Per function, keyed by unqualified URN: checked before the per-run faults. With
    # fault_times set, only a function's first fault_times authenticated requests get it.
    function_faults: Mapping[str, Fault] = field(default_factory=dict)
    fault_times: int | None = None
    retry_after_s: float = 1.0  # Fault.FSS_429_RETRY_AFTER sends this, rounded up to seconds
    slow_s: float = 30.0  # Fault.SLOW holds its answer this long
    project_tokens: Mapping[str, str] = field(default_factory=dict)
    access_keys: Mapping[str, str] = field(default_factory=_default_access_keys)
    temporary_keys: Mapping[str, str] = field(default_factory=dict)
    aksk_lock_s: float = 300.0
    users: Mapping[str, tuple[str, str]] = field(default_factory=_default_users)
    token_lifetime_requests: int | None = None
    token_lifetime_s: float = 86400.0
    apm_keys: Mapping[str, str] = field(default_factory=_default_apm_keys)
    mask_apm_sks: bool = False

    def __post_init__(self) -> None:
        # Plain strings are accepted for faults (as a config file would give them).
        self.faults = {Fault(f): float(p) for f, p in self.faults.items()}
        if not all(0.0 <= p <= 1.0 for p in self.faults.values()):
            raise ValueError("faults: each probability must be from 0 to 1")
        if sum(self.faults.values()) > 1.0 + 1e-9:
            raise ValueError("faults: the probabilities must add up to at most 1")
        self.function_faults = {u: Fault(f) for u, f in self.function_faults.items()}
        for urn in self.function_faults:
            try:
                unqualified = parse_urn(urn).unqualified
            except InvalidUrn as exc:
                raise ValueError(f"function_faults: {urn!r}: {exc}") from None
            if unqualified != urn:
                raise ValueError(f"function_faults: use the unqualified URN {unqualified!r}")
        if self.fault_times is not None and self.fault_times < 0:
            raise ValueError("fault_times must be >= 0 or None")
        if not (self.retry_after_s >= 0 and self.slow_s >= 0):
            raise ValueError("retry_after_s and slow_s must be >= 0")
        self._check_rate_limit()
        self._check_credentials()

    @property
    def limit_schedule(self) -> RateSchedule:
        """The limit in force over time: `rate_limit_schedule`, or `((0, rate_limit),)`;
        empty when the server does not limit."""
        if self.rate_limit is not None:
            return ((0.0, self.rate_limit),)
        return self.rate_limit_schedule

    def _check_rate_limit(self) -> None:
        if self.rate_limit_scope not in SCOPES:
            raise ValueError(
                f"rate_limit_scope: {self.rate_limit_scope!r} is not one of {', '.join(SCOPES)}"
            )
        try:
            self.rate_limit_schedule = check_schedule(self.rate_limit_schedule)
        except ValueError as exc:
            raise ValueError(f"rate_limit_schedule: {exc}") from None
        if self.rate_limit is None:
            return
        if isinstance(self.rate_limit, bool) or not isinstance(self.rate_limit, int):
            raise ValueError(f"rate_limit: {self.rate_limit!r} is not a whole number")
        if self.rate_limit < 1:
            raise ValueError("rate_limit must be >= 1 or None")
        if self.rate_limit_schedule:
            raise ValueError(
                "give rate_limit or rate_limit_schedule, not both "
                "(rate_limit=N is rate_limit_schedule=((0, N),))"
            )

    def _check_credentials(self) -> None:
        # Copies, so a caller mutating its mapping later cannot change a running server.
        self.reject_projects = frozenset(self.reject_projects)
        self.project_tokens = dict(self.project_tokens)
        self.access_keys = dict(self.access_keys)
        self.temporary_keys = dict(self.temporary_keys)
        self.users = {name: (password, domain) for name, (password, domain) in self.users.items()}
        if not self.token or not all(self.project_tokens.values()):
            raise ValueError("token and project_tokens: a token must not be empty")
        if not all(self.access_keys) or not all(self.access_keys.values()):
            raise ValueError("access_keys: an AK or SK must not be empty")
        strays = sorted(set(self.temporary_keys) - set(self.access_keys))
        if strays:
            raise ValueError(f"temporary_keys: {', '.join(strays)} not in access_keys; add them")
        if not all(self.temporary_keys.values()):
            raise ValueError("temporary_keys: a security token must not be empty")
        if not self.aksk_lock_s >= 0:
            raise ValueError("aksk_lock_s must be >= 0")
        if self.token_lifetime_requests is not None and self.token_lifetime_requests < 1:
            raise ValueError("token_lifetime_requests must be >= 1 or None")
        if not self.token_lifetime_s > 0:
            raise ValueError("token_lifetime_s must be > 0")
        self.apm_keys = dict(self.apm_keys)
        if not all(self.apm_keys) or not all(self.apm_keys.values()):
            raise ValueError("apm_keys: an AK or SK must not be empty")
        if len(self.apm_keys) > MAX_APM_KEYS:
            raise ValueError(f"apm_keys: APM allows at most {MAX_APM_KEYS} key pairs per account")
