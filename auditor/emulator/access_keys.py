"""The gateway's AK/SK side: which access keys exist, how it checks a signature, and its locks.

A key is one of the config's `access_keys` (the home account's; those in `temporary_keys` need
their security token) or a temporary key an agency granted (`AccessKeys.grant`), which belongs
to that agency's account, needs its security token, and stops working at its `expires_at`.

`AccessKeys.check` judges one signed request, every refusal a 401: the AK must be known (else
`APIG.0301` "ak not found") and not locked (`APIG.0307` "the access key is locked"), a temporary
key not expired (`APIG.0307` "the security token expires"); then `X-Sdk-Date` within 15 minutes
of the wall clock, the place the request is sent (FunctionGraph: `X-Project-Id`, when sent,
equal to the path's project; IAM: `X-Domain-Id`, when sent, the key's account), the security
token (required with a temporary key, refused with a permanent one), the signature itself over
the request as received (`auditor.service.signer.verify`), and last a place that refuses the key
however well signed (a rejected project, another account's). Every failure after the lock check
but expiry counts against the AK: 5 in a row lock it for `aksk_lock_s` seconds; an accepted
request resets the count. Requests while it is locked neither count nor extend the lock.
"""

from __future__ import annotations

import hmac
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from auditor.emulator.config import EmulatorConfig
from auditor.emulator.faults import Answer, error_body
from auditor.emulator.stats import Stats
from auditor.service.signer import parse_authorization, parse_sdk_date, verify

AKSK_FAILURES_TO_LOCK = 5
SDK_DATE_TOLERANCE = timedelta(minutes=15)


@dataclass(frozen=True, slots=True)
class Arrival:
    """A request as the gateway received it, to judge its credentials: `received` holds its
    headers with lower-case names, `now` is the loop time it arrived."""

    method: str
    url: str
    received: Mapping[str, str]
    body: bytes
    now: float


def iam_info(code: str, detail: str) -> Answer:
    """The gateway's 401 for credentials it cannot accept, `detail` after its usual words."""
    return 401, error_body(code, f"Incorrect IAM authentication information: {detail}")


BAD_AUTHORIZATION = iam_info("APIG.0301", "Authorization header format error")
AK_NOT_FOUND = iam_info("APIG.0301", "ak not found")
AK_LOCKED = iam_info("APIG.0307", "the access key is locked")
SECURITY_TOKEN_EXPIRED = iam_info("APIG.0307", "the security token expires")
BAD_SDK_DATE = iam_info("APIG.0301", "x-sdk-date is missing or malformed")
STALE_SDK_DATE = iam_info("APIG.0301", "request expired: x-sdk-date is over 15 minutes off")
PROJECT_MISMATCH = iam_info("APIG.0301", "x-project-id does not match the project in the URL")
DOMAIN_MISMATCH = iam_info("APIG.0301", "x-domain-id is not the access key's account")
BAD_SECURITY_TOKEN = iam_info("APIG.0301", "x-security-token is missing or invalid")
BAD_SIGNATURE = iam_info("APIG.0301", "verify aksk signature fail")


@dataclass(frozen=True, slots=True, repr=False)
class AccessKey:
    """An access key as the gateway knows it: its SK, the security token requests signed with
    it must carry (None for a permanent key), its account (domain id; "" without an estate),
    its holder (the user it acts as, for the rate limit and IAM's answers), and when it expires
    (None: never). The repr never shows the SK or the security token."""

    secret: str
    security_token: str | None
    domain_id: str
    user: str
    expires_at: datetime | None = None

    @property
    def temporary(self) -> bool:
        """Whether an agency granted it (it expires)."""
        return self.expires_at is not None

    def __repr__(self) -> str:
        return f"AccessKey(user={self.user!r}, expires_at={self.expires_at}, secret=****)"


# Where a request is sent, judged for the key that signed it: None to go on, else the refusal.
Placement = Callable[[AccessKey], Answer | None]


class AccessKeys:
    """The access keys the gateway accepts, and its memory of failures and locks.

    `home_domain` and `home_user` are the account and user the config's keys belong to;
    `wall_clock` checks `X-Sdk-Date` and the temporary keys' expiry, `now` (the loop clock)
    times the locks.
    """

    def __init__(
        self,
        config: EmulatorConfig,
        stats: Stats,
        wall_clock: Callable[[], datetime],
        *,
        home_domain: str = "",
        home_user: str = "",
    ) -> None:
        self._config = config
        self._stats = stats
        self._wall_clock = wall_clock
        self._home = (home_domain, home_user)
        self._granted: dict[str, AccessKey] = {}  # temporary AK -> what an agency granted
        self._failures: Counter[str] = Counter()  # failed authentications in a row, per AK
        self._locked_until: dict[str, float] = {}  # AK -> loop time its lock ends

    def grant(self, access_key: str, key: AccessKey) -> None:
        """Accept `access_key` as `key` from now on (a temporary key an agency granted)."""
        self._granted[access_key] = key

    def get(self, access_key: str) -> AccessKey | None:
        """What the gateway knows of `access_key`, or None."""
        granted = self._granted.get(access_key)
        if granted is not None:
            return granted
        sk = self._config.access_keys.get(access_key)
        if sk is None:
            return None
        domain_id, user = self._home
        return AccessKey(sk, self._config.temporary_keys.get(access_key), domain_id, user)

    def locked(self, access_key: str, now: float) -> bool:
        """Whether `access_key` is locked at loop time `now`."""
        return now < self._locked_until.get(access_key, -1.0)

    def check(
        self,
        arrival: Arrival,
        *,
        placement: Placement,
        refused: Callable[[AccessKey], bool],
    ) -> AccessKey | Answer:
        """The key that signed `arrival`, or the refusal to send (see the module docstring).

        Its headers must have `authorization`; `placement` judges where the request is sent,
        `refused` whether that place refuses the key anyway.
        """
        now = arrival.now
        auth = parse_authorization(arrival.received["authorization"])
        if auth is None:
            return BAD_AUTHORIZATION
        key = self.get(auth.access)
        if key is None:
            return AK_NOT_FOUND
        if self.locked(auth.access, now):
            return AK_LOCKED
        if key.expires_at is not None and self._wall_clock() >= key.expires_at:
            return SECURITY_TOKEN_EXPIRED
        refusal = self._refusal(key, arrival, placement, refused)
        if refusal is None:
            self._failures.pop(auth.access, None)
            return key
        self._failures[auth.access] += 1
        if self._failures[auth.access] >= AKSK_FAILURES_TO_LOCK:
            del self._failures[auth.access]
            self._locked_until[auth.access] = now + self._config.aksk_lock_s
            self._stats.aksk_locks += 1
        return refusal

    def _refusal(
        self,
        key: AccessKey,
        arrival: Arrival,
        placement: Placement,
        refused: Callable[[AccessKey], bool],
    ) -> Answer | None:
        received = arrival.received
        try:
            signed_at = parse_sdk_date(received.get("x-sdk-date", "").strip())
        except ValueError:
            return BAD_SDK_DATE
        if abs(self._wall_clock() - signed_at) > SDK_DATE_TOLERANCE:
            return STALE_SDK_DATE
        misplaced = placement(key)
        if misplaced is not None:
            return misplaced
        sent = received.get("x-security-token")
        if (key.security_token is None) != (sent is None) or not _same(sent, key.security_token):
            return BAD_SECURITY_TOKEN
        if not verify(
            sk=key.secret,
            method=arrival.method,
            url=arrival.url,
            headers=received,
            body=arrival.body,
        ):
            return BAD_SIGNATURE
        if refused(key):
            return BAD_SIGNATURE
        return None


def _same(sent: str | None, required: str | None) -> bool:
    if sent is None or required is None:
        return sent is required
    return hmac.compare_digest(sent.strip().encode(), required.encode())
