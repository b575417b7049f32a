"""Small real objects and fakes shared by the tests: report rows built the way the runner
builds them, a journal read whole, a wall clock set by hand and a spy on concurrency."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from auditor.model import Row, Status
from auditor.store.journal import JournalReader

PROJECT = "0123456789abcdef0123456789abcdef"
MASKED_AK = "AKID****WXYZ"
NOW = datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)  # the `checked_at` of `make_row`


def make_row(
    n: int = 0,
    status: Status = Status.CONFIGURED,
    project: str = PROJECT,
    region: str = "cn-north-4",
    **changes: Any,
) -> Row:
    """Row `n` of an audit (function `fn-<n>`, input line n + 1); `changes` override columns.

    A `configured` row carries a masked AK, as the runner writes it; other statuses none.
    """
    values: dict[str, Any] = {
        "urn": f"urn:fss:{region}:{project}:function:default:fn-{n}",
        "region": region,
        "project_id": project,
        "account": "",
        "package": "default",
        "function": f"fn-{n}",
        "qualifier": "",
        "status": status,
        "http_status": 200,
        "error_code": "",
        "error_msg": "",
        "tracing_ak": MASKED_AK if status is Status.CONFIGURED else "",
        "request_id": f"req-{n}",
        "attempts": 1,
        "elapsed_ms": 12,
        "checked_at": "2024-05-06T07:08:09Z",
        "source": f"in.txt:{n + 1}",
        "occurrences": 1,
    }
    values.update(changes)
    return Row(**values)


@dataclass
class Contents:
    """A journal read whole through `JournalReader`: header, rows by index, lines skipped."""

    header: dict[str, Any]
    rows: dict[int, Row]
    skipped_lines: int


def read_journal(path: Path) -> Contents:
    reader = JournalReader(path)
    rows = {index: row for index, _, row in reader.records()}
    return Contents(reader.header, rows, reader.skipped_lines)


class WallClock:
    """A wall clock the test sets by hand, for a `now=` parameter (credentials, the runner):
    it reads `now` until the test moves it, so nothing depends on when the test runs."""

    def __init__(self, now: datetime = NOW) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> datetime:
        self.now += timedelta(seconds=seconds)
        return self.now


class ConcurrencySpy:
    """Counts the calls inside `inside()` at once: now (`in_flight`) and at most (`most`),
    overall and per key (`most_by`, for calls a test tells apart, say by project), and
    records in `order` when each came in and went out."""

    def __init__(self) -> None:
        self.in_flight = 0
        self.most = 0
        self.in_flight_by: Counter[str] = Counter()
        self.most_by: Counter[str] = Counter()
        self.order: list[str] = []

    @contextmanager
    def inside(self, name: str = "", key: str = "") -> Iterator[None]:
        self.in_flight += 1
        self.most = max(self.most, self.in_flight)
        self.in_flight_by[key] += 1
        self.most_by[key] = max(self.most_by[key], self.in_flight_by[key])
        self.order.append(f"start {name}")
        try:
            yield
        finally:
            self.order.append(f"end {name}")
            self.in_flight -= 1
            self.in_flight_by[key] -= 1


class Sleeps:
    """An injected `sleep` that records the delays asked for and returns at once."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)


@dataclass(frozen=True)
class Sent:
    """One request an aioresponses fake received: method, URL, headers and JSON body."""

    method: str
    url: str
    headers: dict[str, str]
    body: Any


def sent_requests(fake: Any) -> list[Sent]:
    """Every request `fake` (an `aioresponses`) received, grouped by method and URL in the
    order each was first asked; a body sent as bytes is read as JSON."""
    found: list[Sent] = []
    for (method, url), calls in fake.requests.items():
        for call in calls:
            data = call.kwargs.get("data")
            body = call.kwargs.get("json")
            if isinstance(data, bytes) and data:
                body = json.loads(data)
            found.append(Sent(method, str(url), dict(call.kwargs.get("headers") or {}), body))
    return found
