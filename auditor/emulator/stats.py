"""`Stats`: what the emulator saw, for tests and benchmarks to assert on.

The server fills one `Stats` per run and serves `Stats.summary()` at `GET /_emulator/stats`, so a
measured run in another process can be checked too.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from auditor.emulator.ratelimit import RateSchedule


@dataclass
class Stats:
    """What the server saw.

    `requests` counts every API request (FunctionGraph, IAM, APM, unknown paths); `by_project`
    the FunctionGraph ones per project of the path, refused and throttled ones included;
    `by_status` every answer's status. `arrivals` holds the loop-clock time of each tracing
    request (GET or PUT: they share the rate limit's window), `accepted` those of the tracing
    requests the rate limit let through, `by_urn` the tracing GETs (reads) per unqualified URN
    (unparseable ones are left out), `by_fault` how often each fault (by value) was injected. A
    reset connection has no status, so it is in `by_fault` but not in `by_status`.

    Updates: `update_requests` counts UpdateTracing PUTs, throttled and refused ones included;
    `updates_by_urn` the accepted ones (answered 200, the settings changed) per unqualified URN.
    `apm_requests` counts `GET /v1/apm2/access-keys` requests.

    Credentials: `auth_failures_by_project` counts FunctionGraph requests refused for their
    credentials, per project of the path; `aksk_locks` how often an access key got locked;
    `iam_requests` the `POST /v3/auth/tokens` requests and `tokens_issued` the tokens IAM
    issued, per project they are scoped to.

    Rate limit: `throttled` holds the loop-clock time of each tracing request the rate limit
    answered 429, and `clock_start` the loop time the server's clock started: at the first
    rate-limited request (with no limit, the first tracing request) since the start or the
    last reset. The limit's schedule counts from it, and so does `timeline`.
    `rate_limit_scope` and `rate_limit_schedule` are what the server applies (`create_app` sets
    them; a reset keeps them).

    Estate (kept only when the server plays one: `estate_served`, set by `create_app` and kept
    by a reset; accounts are keyed by domain name): `by_account` counts FunctionGraph requests
    per account of the path's project, refused and throttled ones included, and
    `throttled_by_account` those the rate limit answered 429; `mos_requests` every request
    about a `MOS` project (FunctionGraph with it in the path, a token scoped to it), which a
    careful auditor never makes. IAM: `iam_listing_requests` counts the listing calls per path
    (`/v3/auth/projects`, `/v3/projects`, `/v3/auth/domains`), `iam_auth_failures` the IAM
    requests refused for their credentials, `domain_tokens_issued` the domain-scoped tokens
    per account, `agency_tokens_issued` the tokens an agency granted (either scope) per
    account, `security_token_requests` the `POST /v3.0/OS-CREDENTIAL/securitytokens`
    requests and `temporary_keys_issued` the temporary keys granted per account, and
    `agency_refusals` the agency requests (tokens or keys) refused per account asked for (its
    domain name, or the name or id asked for when no account has it). Project-scoped tokens,
    an agency's too, are in `tokens_issued`; every POST to `/v3/auth/tokens` in `iam_requests`.
    """

    requests: int = 0
    by_project: Counter[str] = field(default_factory=Counter)
    by_status: Counter[int] = field(default_factory=Counter)
    arrivals: list[float] = field(default_factory=list)
    accepted: list[float] = field(default_factory=list)
    by_urn: Counter[str] = field(default_factory=Counter)
    by_fault: Counter[str] = field(default_factory=Counter)
    auth_failures_by_project: Counter[str] = field(default_factory=Counter)
    aksk_locks: int = 0
    iam_requests: int = 0
    tokens_issued: Counter[str] = field(default_factory=Counter)
    update_requests: int = 0
    updates_by_urn: Counter[str] = field(default_factory=Counter)
    apm_requests: int = 0
    throttled: list[float] = field(default_factory=list)
    clock_start: float | None = None
    rate_limit_scope: str = "user"
    rate_limit_schedule: RateSchedule = ()
    estate_served: bool = False
    by_account: Counter[str] = field(default_factory=Counter)
    throttled_by_account: Counter[str] = field(default_factory=Counter)
    mos_requests: int = 0
    iam_listing_requests: Counter[str] = field(default_factory=Counter)
    iam_auth_failures: int = 0
    domain_tokens_issued: Counter[str] = field(default_factory=Counter)
    agency_tokens_issued: Counter[str] = field(default_factory=Counter)
    security_token_requests: int = 0
    temporary_keys_issued: Counter[str] = field(default_factory=Counter)
    agency_refusals: Counter[str] = field(default_factory=Counter)

    def max_in_window(self, seconds: float = 1.0, *, accepted: bool = False) -> int:
        """The most arrivals (or `accepted` ones) in any half-open window `[t, t + seconds)`."""
        times = sorted(self.accepted if accepted else self.arrivals)
        best = start = 0
        for end, t in enumerate(times):
            while times[start] <= t - seconds:
                start += 1
            best = max(best, end - start + 1)
        return best

    def timeline(self) -> dict[str, list[int]]:
        """Tracing requests per whole second since `clock_start`: `accepted` (let through by the
        rate limit) and `throttled` (answered 429 by it), both as long as the last second that
        saw one; empty before the clock starts."""
        if self.clock_start is None:
            return {"accepted": [], "throttled": []}
        start = self.clock_start
        accepted = _per_second(self.accepted, start)
        throttled = _per_second(self.throttled, start)
        length = max(len(accepted), len(throttled))
        return {
            "accepted": accepted + [0] * (length - len(accepted)),
            "throttled": throttled + [0] * (length - len(throttled)),
        }

    def summary(self) -> dict[str, Any]:
        """The JSON `GET /_emulator/stats` serves: counts, peak 1 s rates and repeated asks.

        `asked_more_than_once` is how many unqualified URNs were asked for more than once, and
        `extra_asks` how many asks beyond the first they add up to (retries and duplicates);
        both count tracing GETs only. `updates` is how many PUTs changed a function's settings,
        `updates_by_urn` how many per unqualified URN (sorted), `update_requests` every PUT.
        Per-project counts are keyed by project id, sorted. `timeline` is `Stats.timeline()`;
        `rate_limit` is `{"scope": ..., "schedule": [[start second, limit or null], ...]}`, or
        null when the server does not limit. With an estate, `estate` holds its counts (the
        fields of that name, counters as objects sorted by key); without one there is no
        `estate` key.
        """
        repeats = [n for n in self.by_urn.values() if n > 1]
        summary: dict[str, Any] = {
            "requests": self.requests,
            "tracing_requests": len(self.arrivals),
            "by_status": {str(code): n for code, n in sorted(self.by_status.items())},
            "by_fault": dict(sorted(self.by_fault.items())),
            "max_in_any_1s": self.max_in_window(1.0),
            "max_accepted_in_any_1s": self.max_in_window(1.0, accepted=True),
            "asked_more_than_once": len(repeats),
            "extra_asks": sum(n - 1 for n in repeats),
            "by_project": dict(sorted(self.by_project.items())),
            "auth_failures_by_project": dict(sorted(self.auth_failures_by_project.items())),
            "aksk_locks": self.aksk_locks,
            "iam_requests": self.iam_requests,
            "tokens_issued": dict(sorted(self.tokens_issued.items())),
            "update_requests": self.update_requests,
            "updates": sum(self.updates_by_urn.values()),
            "updates_by_urn": dict(sorted(self.updates_by_urn.items())),
            "apm_requests": self.apm_requests,
            "timeline": self.timeline(),
            "rate_limit": self._rate_limit(),
        }
        if self.estate_served:
            summary["estate"] = self._estate()
        return summary

    def _estate(self) -> dict[str, Any]:
        return {
            "by_account": dict(sorted(self.by_account.items())),
            "throttled_by_account": dict(sorted(self.throttled_by_account.items())),
            "mos_requests": self.mos_requests,
            "iam_listing_requests": dict(sorted(self.iam_listing_requests.items())),
            "iam_auth_failures": self.iam_auth_failures,
            "domain_tokens_issued": dict(sorted(self.domain_tokens_issued.items())),
            "agency_tokens_issued": dict(sorted(self.agency_tokens_issued.items())),
            "security_token_requests": self.security_token_requests,
            "temporary_keys_issued": dict(sorted(self.temporary_keys_issued.items())),
            "agency_refusals": dict(sorted(self.agency_refusals.items())),
        }

    def _rate_limit(self) -> dict[str, Any] | None:
        if not self.rate_limit_schedule:
            return None
        schedule = [
            [int(start) if start.is_integer() else start, limit]
            for start, limit in self.rate_limit_schedule
        ]
        return {"scope": self.rate_limit_scope, "schedule": schedule}

    def reset(self) -> None:
        """Forget everything seen so far, in place, so holders of this object see it too, and
        restart the clock; what the server applies (`rate_limit_*`, `estate_served`) stays."""
        self.requests = self.aksk_locks = self.iam_requests = 0
        self.update_requests = self.apm_requests = 0
        self.mos_requests = self.iam_auth_failures = self.security_token_requests = 0
        self.clock_start = None
        for seen in (
            self.by_project,
            self.by_status,
            self.by_urn,
            self.by_fault,
            self.auth_failures_by_project,
            self.tokens_issued,
            self.updates_by_urn,
            self.by_account,
            self.throttled_by_account,
            self.iam_listing_requests,
            self.domain_tokens_issued,
            self.agency_tokens_issued,
            self.temporary_keys_issued,
            self.agency_refusals,
        ):
            seen.clear()
        self.arrivals.clear()
        self.accepted.clear()
        self.throttled.clear()


def _per_second(times: Iterable[float], start: float) -> list[int]:
    counts: Counter[int] = Counter(max(0, int(t - start)) for t in times)
    return [counts[second] for second in range(max(counts) + 1)] if counts else []
