"""When to ask again, and how long to wait first: a pure policy over probes.

Only answers that may succeed later are retried: 429, 500/502/503/504, timeouts and connection
failures. Waits are exponential with full jitter, except that a `Retry-After` header is obeyed
and Huawei's throttling codes without one wait 2-5 s, as Huawei advises.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from auditor.classify import THROTTLE_CODES
from auditor.model import ErrorKind, Probe

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

    def delay(self, probe: Probe, attempt: int, rng: random.Random) -> float | None:
        """Seconds to wait before attempt `attempt + 1`, or None when not to retry.

        `attempt` counts from 1: the probe is the answer to that attempt.
        """
        if attempt > self.retries or not is_retryable(probe):
            return None
        if probe.retry_after is not None:
            return min(max(probe.retry_after, 0.0), self.max_retry_after)
        if probe.error_code in THROTTLE_CODES:
            return rng.uniform(*self.throttle_wait)
        return rng.uniform(0.0, min(self.max_delay, self.base_delay * 2 ** (attempt - 1)))


def is_retryable(probe: Probe) -> bool:
    """True when the same request may well get a better answer later."""
    if probe.error_kind in RETRY_KINDS:
        return True
    return probe.http_status in RETRY_STATUSES
