"""botocore's adaptive rate limiter driving a plain aiohttp worker loop: the reference the rate
controller is measured against.

    python -m benchmarks.botocore_loop URL URNS CONCURRENCY [--deadline S]

botocore's adaptive retry mode is wired here as `botocore.retries.adaptive.
register_retry_handler` wires it: a `ClientRateLimiter` over a `CubicCalculator`, a
`RateClocker`, a `TokenBucket` and a `ThrottlingErrorDetector`, every answer reported through
`on_receiving_response` (its `needs-retry` hook) and every send asking `on_sending_request`
(its `before-send` hook) first. One change: botocore's token bucket blocks its thread until a
token is free, which would block the whole event loop, so `NonBlockingTokenBucket` asks it with
`block=False`; a send that finds no token sleeps on the loop (`asyncio.sleep`) for the time the
bucket needs to refill one token, then asks again. Same bucket, same refill, same rates.

The loop is the audit's: `CONCURRENCY` workers share one iterator of GETs over one session,
and a 429 puts its URN back to be asked again after 2-5 s (uniform, Huawei's advice) while the
worker moves on, as `auditor.send.runner` does. A URN still answered 429 after `--deadline` seconds
of nothing accepted is left `throttled`. Prints
`{"requests", "seconds", "statuses", "throttled_left", "max_rate_at_end", "measured_rate"}`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import heapq
import itertools
import json
import random
import sys
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from botocore.exceptions import CapacityNotAvailableError  # type: ignore[import-untyped]
from botocore.retries import bucket, standard, throttling  # type: ignore[import-untyped]
from botocore.retries.adaptive import (  # type: ignore[import-untyped]
    ClientRateLimiter,
    RateClocker,
)

from benchmarks.clients import HEADERS, tracing_urls

THROTTLE_WAIT_S = (2.0, 5.0)
IDLE_POLL_S = 0.25


class NonBlockingTokenBucket(bucket.TokenBucket):  # type: ignore[misc]  # untyped upstream
    """botocore's token bucket, asked without blocking: `ClientRateLimiter` calls `acquire()`
    with no arguments, and here that raises `CapacityNotAvailableError` instead of sleeping
    the thread (the event loop's) until a token is free."""

    def acquire(self, amount: int = 1, block: bool = True) -> bool:
        return bool(super().acquire(amount, block=False))

    def seconds_to_token(self) -> float:
        """How long until one token is free at the current fill rate."""
        rate = self.max_rate or bucket.TokenBucket._MIN_RATE
        return max(0.001, float((1 - self.available_capacity) / rate))


def wired_limiter() -> tuple[ClientRateLimiter, NonBlockingTokenBucket, RateClocker]:
    """The limiter as `botocore.retries.adaptive.register_retry_handler` builds it (with its
    bucket and clocker, to report on)."""
    clock = bucket.Clock()
    rate_adjustor = throttling.CubicCalculator(starting_max_rate=0, start_time=clock.current_time())
    token_bucket = NonBlockingTokenBucket(max_rate=1, clock=clock)
    rate_clocker = RateClocker(clock)
    limiter = ClientRateLimiter(
        rate_adjustor=rate_adjustor,
        rate_clocker=rate_clocker,
        token_bucket=token_bucket,
        throttling_detector=standard.ThrottlingErrorDetector(
            retry_event_adapter=standard.RetryEventAdapter()
        ),
        clock=clock,
    )
    return limiter, token_bucket, rate_clocker


def needs_retry_kwargs(status: int, error_code: str | None, attempts: int) -> dict[str, Any]:
    """What botocore's `needs-retry` event hands the limiter, for one HTTP answer."""
    parsed = {"Error": {"Code": error_code}} if error_code else {}
    return {
        "response": (SimpleNamespace(status_code=status), parsed),
        "attempts": attempts,
        "operation": None,  # no service model: a 429 is a throttle by its status
        "caught_exception": None,
        "request_dict": {"context": {}},
    }


async def run(base: str, urns_file: Path, concurrency: int, deadline_s: float) -> dict[str, Any]:
    import aiohttp
    from yarl import URL

    limiter, token_bucket, rate_clocker = wired_limiter()
    loop = asyncio.get_running_loop()
    rng = random.Random(1)
    statuses: Counter[int] = Counter()
    pending: Iterator[str] | None = tracing_urls(base, urns_file)
    later: list[tuple[float, int, str, int]] = []  # (ready at, order, url, attempts so far)
    order = itertools.count()
    throttled_left = 0
    last_accepted = loop.time()

    async def take() -> tuple[str, int] | None:
        nonlocal pending
        while True:
            if later and later[0][0] <= loop.time():
                _, _, url, attempts = heapq.heappop(later)
                return url, attempts
            if pending is not None:
                fresh = next(pending, None)
                if fresh is not None:
                    return fresh, 0
                pending = None
            if not later:
                return None
            await asyncio.sleep(min(IDLE_POLL_S, max(0.0, later[0][0] - loop.time())))

    async def before_send() -> None:
        while True:
            try:
                limiter.on_sending_request(request=None)
                return
            except CapacityNotAvailableError:
                await asyncio.sleep(token_bucket.seconds_to_token())

    connector = aiohttp.TCPConnector(limit=concurrency)
    started = time.perf_counter()
    async with aiohttp.ClientSession(connector=connector) as session:

        async def worker() -> None:
            nonlocal throttled_left, last_accepted
            while (item := await take()) is not None:
                url, attempts = item
                await before_send()
                async with session.get(URL(url, encoded=True), headers=HEADERS) as answer:
                    body = await answer.read()
                    status = answer.status
                statuses[status] += 1
                code = None
                if status == 429:
                    with contextlib.suppress(ValueError, AttributeError):
                        code = json.loads(body).get("error_code")
                limiter.on_receiving_response(**needs_retry_kwargs(status, code, attempts + 1))
                if status != 429:
                    last_accepted = loop.time()
                elif loop.time() - last_accepted < deadline_s:
                    wait = rng.uniform(*THROTTLE_WAIT_S)
                    heapq.heappush(later, (loop.time() + wait, next(order), url, attempts + 1))
                else:
                    throttled_left += 1

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return {
        "requests": sum(statuses.values()),
        "seconds": time.perf_counter() - started,
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "throttled_left": throttled_left,
        "max_rate_at_end": token_bucket.max_rate,
        "measured_rate": rate_clocker.measured_rate,
    }


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("url")
    parser.add_argument("urns", type=Path)
    parser.add_argument("concurrency", type=int)
    parser.add_argument("--deadline", type=float, default=300.0, metavar="S")
    args = parser.parse_args(argv)
    print(json.dumps(asyncio.run(run(args.url, args.urns, args.concurrency, args.deadline))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
