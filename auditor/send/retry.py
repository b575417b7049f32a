"""When to ask again, and how long to wait first: a pure policy over probes.

Only answers that may succeed later are retried: 429, 500/502/503/504, timeouts and connection
failures. Waits are exponential with full jitter, except that a `Retry-After` header is obeyed.
A 429 is not a failure: it spends no retry, and waits its `Retry-After`, else 2-5 s with jitter
(Huawei's advice); the request is given up only when its credential scope has had nothing
accepted for `throttle_deadline` seconds.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from auditor.model import ErrorKind, Probe
from auditor.service.answers import THROTTLE_CODES

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
RETRY_KINDS = frozenset({ErrorKind.TIMEOUT, ErrorKind.CONNECTION})


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """`retries` further attempts after the first, with waits between them."""

    retries: int = 4
    base_delay: float = 0.5
    max_delay: float = 30.0
    throttle_wait: tuple[float, float] = (2.0, 5.0)
    max_retry_after: float = 120.0
    throttle_deadline: float = 300.0  # seconds a scope may go without progress before 429 is final

    def delay(self, probe: Probe, attempt: int, rng: random.Random) -> float | None:
        """Seconds to wait before attempt `attempt + 1`, or None when not to retry.

        `attempt` counts from 1 the answers that spend a retry: the probe is the answer to
        that attempt. A 429 is `throttle_delay`'s, whatever the attempt.
        """
        if probe.http_status == 429:
            return self.throttle_delay(probe, rng)
        if attempt > self.retries or not is_retryable(probe):
            return None
        if probe.retry_after is not None:
            return min(max(probe.retry_after, 0.0), self.max_retry_after)
        if probe.error_code in THROTTLE_CODES:
            return rng.uniform(*self.throttle_wait)
        return rng.uniform(0.0, min(self.max_delay, self.base_delay * 2 ** (attempt - 1)))

    def throttle_delay(self, probe: Probe, rng: random.Random) -> float:
        """How long a request answered 429 waits before it is sent again: what the server
        asked for (`Retry-After`), else 2-5 s with jitter, as Huawei advises."""
        if probe.retry_after is not None:
            return min(max(probe.retry_after, 0.0), self.max_retry_after)
        return rng.uniform(*self.throttle_wait)


def is_retryable(probe: Probe) -> bool:
    """True when the same request may well get a better answer later."""
    if probe.error_kind in RETRY_KINDS:
        return True
    return probe.http_status in RETRY_STATUSES
