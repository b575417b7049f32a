"""Tests for auditor/retry.py and auditor.service.client.parse_retry_after."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from auditor.model import ErrorKind, Probe
from auditor.send.retry import RetryPolicy, is_retryable
from auditor.service.client import parse_retry_after


@pytest.fixture
def rng() -> random.Random:
    return random.Random(1234)


@pytest.mark.parametrize(
    "probe",
    [
        Probe(429),
        Probe(429, error_code="APIG.0308"),
        Probe(500, error_code="FSS.0500"),
        Probe(502),
        Probe(503),
        Probe(504),
        Probe(None, ErrorKind.TIMEOUT),
        Probe(None, ErrorKind.CONNECTION),
    ],
    ids=repr,
)
def test_retryable_probes(probe: Probe) -> None:
    assert is_retryable(probe)


@pytest.mark.parametrize(
    "probe",
    [
        Probe(200, tracing_ak="AK"),
        Probe(200),
        Probe(400, error_code="FSS.1128"),
        Probe(401, error_code="APIG.0301"),
        Probe(403, error_code="FSS.0403"),
        Probe(404, error_code="FSS.0404"),
        Probe(404, error_code="FSS.1051"),
        Probe(200, ErrorKind.BAD_BODY),
        Probe(None, ErrorKind.BAD_BODY),
        Probe(501),
        Probe(418),
    ],
    ids=repr,
)
def test_final_probes_are_not_retried(probe: Probe, rng: random.Random) -> None:
    assert not is_retryable(probe)
    assert RetryPolicy().delay(probe, 1, rng) is None


def test_delay_is_none_past_the_retry_budget(rng: random.Random) -> None:
    policy = RetryPolicy(retries=3)
    probe = Probe(503)
    assert all(policy.delay(probe, attempt, rng) is not None for attempt in (1, 2, 3))
    assert policy.delay(probe, 4, rng) is None
    assert policy.delay(probe, 10, rng) is None


def test_zero_retries_never_retries(rng: random.Random) -> None:
    assert RetryPolicy(retries=0).delay(Probe(None, ErrorKind.TIMEOUT), 1, rng) is None


@pytest.mark.parametrize("attempt", [1, 2, 3, 4, 5, 6, 7, 8])
def test_exponential_full_jitter_bounds(attempt: int, rng: random.Random) -> None:
    policy = RetryPolicy(retries=10, base_delay=0.5, max_delay=8.0)
    bound = min(8.0, 0.5 * 2 ** (attempt - 1))
    delays = [policy.delay(Probe(503), attempt, rng) for _ in range(200)]
    assert all(d is not None and 0.0 <= d <= bound for d in delays)
    # Full jitter spreads over the whole range rather than clustering near the bound.
    numbers = [d for d in delays if d is not None]
    assert min(numbers) < bound * 0.1
    assert max(numbers) > bound * 0.9


def test_same_seed_same_delays() -> None:
    policy = RetryPolicy()
    first = [policy.delay(Probe(500), 2, random.Random(7)) for _ in range(3)]
    second = [policy.delay(Probe(500), 2, random.Random(7)) for _ in range(3)]
    assert first == second


def test_retry_after_is_honoured(rng: random.Random) -> None:
    policy = RetryPolicy()
    assert policy.delay(Probe(429, retry_after=7.5), 1, rng) == 7.5
    assert policy.delay(Probe(503, retry_after=0.0), 1, rng) == 0.0
    # A Retry-After beats the 2-5 s throttle wait too.
    assert policy.delay(Probe(429, error_code="APIG.0308", retry_after=1.0), 1, rng) == 1.0


def test_retry_after_is_capped(rng: random.Random) -> None:
    policy = RetryPolicy(max_retry_after=60.0)
    assert policy.delay(Probe(429, retry_after=3600.0), 1, rng) == 60.0
    assert policy.delay(Probe(429, retry_after=-5.0), 1, rng) == 0.0


def test_retry_after_does_not_extend_the_budget(rng: random.Random) -> None:
    policy = RetryPolicy(retries=2)
    assert policy.delay(Probe(503, retry_after=1.0), 3, rng) is None


@pytest.mark.parametrize(
    "probe",
    [Probe(429), Probe(429, error_code="APIG.0308"), Probe(429, retry_after=1.0)],
    ids=repr,
)
def test_a_429_spends_no_retry(probe: Probe, rng: random.Random) -> None:
    # A 429 is not a failure: past the budget, and even with no retries at all, it still
    # waits and goes again (the runner gives up only after the throttle deadline).
    for policy in (RetryPolicy(retries=2), RetryPolicy(retries=0)):
        for attempt in (1, 3, 10):
            delay = policy.delay(probe, attempt, rng)
            assert delay is not None
            if probe.retry_after is not None:
                assert delay == probe.retry_after
            else:
                assert 2.0 <= delay <= 5.0


def test_throttle_delay_is_retry_after_else_two_to_five_seconds(rng: random.Random) -> None:
    policy = RetryPolicy(throttle_wait=(2.0, 5.0), max_retry_after=60.0)
    assert policy.throttle_delay(Probe(429, retry_after=7.5), rng) == 7.5
    assert policy.throttle_delay(Probe(429, retry_after=3600.0), rng) == 60.0
    assert policy.throttle_delay(Probe(429, retry_after=-5.0), rng) == 0.0
    waits = [policy.throttle_delay(Probe(429), rng) for _ in range(200)]
    assert all(2.0 <= w <= 5.0 for w in waits)
    assert min(waits) < 2.3 and max(waits) > 4.7  # jitter over the whole range


def test_throttle_deadline_defaults_to_a_few_minutes() -> None:
    assert RetryPolicy().throttle_deadline == 300.0


def test_retry_after_on_a_final_answer_is_ignored(rng: random.Random) -> None:
    assert RetryPolicy().delay(Probe(403, retry_after=1.0), 1, rng) is None


@pytest.mark.parametrize("code", ["APIG.0308", "FSS.0429"])
def test_huawei_throttle_codes_wait_two_to_five_seconds(code: str, rng: random.Random) -> None:
    policy = RetryPolicy(retries=10, base_delay=0.01, max_delay=0.1)
    delays = [policy.delay(Probe(429, error_code=code), attempt, rng) for attempt in range(1, 11)]
    assert all(d is not None and 2.0 <= d <= 5.0 for d in delays)


def test_bare_429_waits_like_a_huawei_throttle_code(rng: random.Random) -> None:
    # A 429 without a code or Retry-After waits Huawei's 2-5 s too, not the short backoff of
    # a 503: the gateway just said it is over its limit.
    policy = RetryPolicy(base_delay=0.5, max_delay=30.0)
    delays = [policy.delay(Probe(429), 1, rng) for _ in range(50)]
    assert all(d is not None and 2.0 <= d <= 5.0 for d in delays)


def test_bare_503_uses_exponential_backoff(rng: random.Random) -> None:
    policy = RetryPolicy(base_delay=0.5, max_delay=30.0)
    delay = policy.delay(Probe(503), 1, rng)
    assert delay is not None
    assert 0.0 <= delay <= 0.5


def test_a_throttling_code_on_another_status_still_spends_retries(rng: random.Random) -> None:
    # Only a 429 is free; a 503 carrying APIG.0308 keeps the old rules: Huawei's 2-5 s wait,
    # within the retry budget.
    policy = RetryPolicy(retries=2)
    probe = Probe(503, error_code="APIG.0308")
    delays = [policy.delay(probe, attempt, rng) for attempt in (1, 2)]
    assert all(d is not None and 2.0 <= d <= 5.0 for d in delays)
    assert policy.delay(probe, 3, rng) is None


# --- parse_retry_after ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("0", 0.0), ("5", 5.0), (" 120 ", 120.0), ("1.5", 1.5), ("-3", 0.0)],
)
def test_parse_retry_after_seconds(value: str, seconds: float) -> None:
    assert parse_retry_after(value) == seconds


def test_parse_retry_after_http_date_in_the_future() -> None:
    when = datetime.now(UTC) + timedelta(seconds=90)
    seconds = parse_retry_after(format_datetime(when, usegmt=True))
    assert seconds is not None
    assert 80.0 <= seconds <= 91.0


def test_parse_retry_after_http_date_in_the_past_is_zero() -> None:
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0


@pytest.mark.parametrize("value", [None, "", "   ", "soon", "Wed, 99 Foo 2015", "5s"])
def test_parse_retry_after_garbage_is_none(value: str | None) -> None:
    assert parse_retry_after(value) is None
