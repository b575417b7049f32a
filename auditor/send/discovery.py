"""Discover a fleet: list every function of each project and region via ListFunctions.

Pages are asked one after another per project (the next marker comes from the page before),
projects in parallel, each request under the same throttle, retry policy and credential
refresh as the audit. A project whose listing fails is reported as incomplete with the reason;
the functions of its pages that did arrive are kept.
"""

from __future__ import annotations

import asyncio
import functools
import json
import random
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from auditor.model import Probe, ProjectScope, tracing_supported
from auditor.send.breaker import CredentialGuard
from auditor.send.retry import RetryPolicy
from auditor.send.runner import Request, RunTally, ask
from auditor.send.throttle import Throttles
from auditor.source.inputs import Entry, memory_size_of

MAX_ITEMS = 400  # the API's largest page
LISTING_FIELDS: tuple[str, ...] = (
    "func_urn",
    "func_name",
    "package",
    "runtime",
    "version",
    "memory_size",
    "last_modified",
)


class Lister(Protocol):
    """What discovery needs of a client (`auditor.service.client.TracingClient` is one)."""

    def region_endpoint(self, region: str) -> str:
        """The base URL of `region`'s API."""

    async def list_functions(
        self, project_id: str, region: str, marker: int, maxitems: int
    ) -> tuple[Probe, bytes]:
        """One page: the probe and, for a 200, the body."""

    async def refresh_project(self, project_id: str, rejected: str) -> bool:
        """Credentials tagged `rejected` were refused: True if fresh ones are worth a retry."""

    def project_scopes(self, project_id: str) -> tuple[str, ...]:
        """The credential scopes requests in `project_id` are sent under."""

    def project_rate_scope(self, project_id: str) -> str:
        """Whose rate limit requests in `project_id` count against."""


@dataclass(frozen=True, slots=True)
class ListedFunction:
    """One function as ListFunctions describes it (`func_urn` carries no version)."""

    func_urn: str
    func_name: str
    package: str
    runtime: str
    version: str
    memory_size: int | None
    last_modified: str

    def record(self) -> dict[str, Any]:
        """The listing fields, in `LISTING_FIELDS` order, plus `tracing_supported`."""
        return {
            "func_urn": self.func_urn,
            "func_name": self.func_name,
            "package": self.package,
            "runtime": self.runtime,
            "version": self.version,
            "memory_size": self.memory_size,
            "last_modified": self.last_modified,
            "tracing_supported": tracing_supported(self.runtime, self.memory_size),
        }


@dataclass(frozen=True, slots=True)
class Page:
    """One ListFunctions answer, parsed."""

    functions: list[ListedFunction]
    next_marker: int | None
    count: int | None


@dataclass
class Listing:
    """What discovery found in one project and region, and whether it found all of it."""

    scope: ProjectScope
    functions: list[ListedFunction] = field(default_factory=list)
    pages: int = 0
    requests: int = 0
    error: str = ""  # why the listing stopped early; empty when complete
    reported_count: int | None = None  # the API's `count` on the last page
    duplicates: int = 0  # the same func_urn on two pages (the fleet changed while listing)

    @property
    def complete(self) -> bool:
        return not self.error

    def summary(self) -> dict[str, Any]:
        """JSON-ready facts for the report's `run.discovery`."""
        return {
            "project_id": self.scope.project_id,
            "region": self.scope.region,
            "functions": len(self.functions),
            "pages": self.pages,
            "requests": self.requests,
            "count": self.reported_count,
            "complete": self.complete,
            "error": self.error,
        }


class PageError(ValueError):
    """A 200 whose body is not a ListFunctions page; the message never quotes the body."""


def parse_page(body: bytes) -> Page:
    """Parse a ListFunctions body. Items without a usable `func_urn` raise `PageError`."""
    try:
        data = json.loads(body)
    except ValueError:
        raise PageError(f"unreadable ListFunctions page ({len(body)} bytes, not JSON)") from None
    if not isinstance(data, dict) or not isinstance(data.get("functions"), list):
        raise PageError("not a ListFunctions page (no functions list)")
    functions = []
    for number, item in enumerate(data["functions"], start=1):
        if not isinstance(item, dict) or not isinstance(item.get("func_urn"), str):
            raise PageError(f"ListFunctions item {number} has no func_urn")
        functions.append(
            ListedFunction(
                func_urn=item["func_urn"].strip(),
                func_name=_text(item.get("func_name")),
                package=_text(item.get("package")),
                runtime=_text(item.get("runtime")),
                version=_text(item.get("version")),
                memory_size=memory_size_of(item.get("memory_size")),
                last_modified=_text(item.get("last_modified")),
            )
        )
    return Page(functions, _whole(data.get("next_marker")), _whole(data.get("count")))


def next_marker(page: Page, sent: int) -> int | None:
    """Where the next page starts, or None when this was the last one.

    DESIGN's stop rules: the page is empty, `next_marker` is missing or 0, equals the marker
    sent (no progress), or is at least `count`. A marker behind the one sent (or negative) is
    no progress either: following it could page forever.
    """
    marker = page.next_marker
    if not page.functions or not marker or marker <= sent:
        return None
    if page.count is not None and marker >= page.count:
        return None
    return marker


@dataclass(frozen=True)
class Discoverer:
    """Lists projects under the audit's throttles, retry policy and credential refresh."""

    lister: Lister
    throttles: Throttles
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    page_size: int = MAX_ITEMS
    rng: random.Random = field(default_factory=random.Random)
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    max_pages: int = 100_000  # a server that keeps paging forever is stopped here
    guard: CredentialGuard = field(default_factory=CredentialGuard)

    async def discover(self, scopes: Sequence[ProjectScope]) -> list[Listing]:
        """List every scope, in parallel; the listings come back in the order asked."""
        return list(await asyncio.gather(*(self.list_project(scope) for scope in scopes)))

    async def list_project(self, scope: ProjectScope) -> Listing:
        """Every function of one project and region, page after page."""
        listing = Listing(scope)
        seen: set[str] = set()
        marker = 0
        while True:
            if listing.pages >= self.max_pages:
                listing.error = f"stopped after {self.max_pages} pages (the listing did not end)"
                return listing
            probe, body = await self._ask(scope, marker, listing)
            if probe.http_status != 200:
                listing.error = _failure(probe)
                return listing
            try:
                page = parse_page(body)
            except PageError as exc:
                listing.error = f"page at marker {marker}: {exc}"
                return listing
            listing.pages += 1
            listing.reported_count = page.count
            for function in page.functions:
                if function.func_urn in seen:
                    listing.duplicates += 1
                    continue
                seen.add(function.func_urn)
                listing.functions.append(function)
            following = next_marker(page, marker)
            if following is None:
                return listing
            marker = following

    async def _ask(self, scope: ProjectScope, marker: int, listing: Listing) -> tuple[Probe, bytes]:
        """One page, asked the way the audit asks (`auditor.send.runner.ask`): throttled, retried,
        under the credential guard, so a bad access key is refused a few times in all rather
        than once per project (the gateway locks it at five)."""
        lister, project_id = self.lister, scope.project_id
        body = b""

        async def send() -> Probe:
            nonlocal body
            probe, body = await lister.list_functions(
                project_id, scope.region, marker, self.page_size
            )
            return probe

        tally = RunTally()
        request = Request(
            lister.region_endpoint(scope.region),
            lister.project_rate_scope(project_id),
            lister.project_scopes(project_id),
            send,
            functools.partial(lister.refresh_project, project_id),
        )
        asked = await ask(self, request, tally)
        listing.requests += tally.requests
        return asked.probe, body


def _failure(probe: Probe) -> str:
    detail = " ".join(p for p in (probe.error_code, probe.error_msg) if p)
    if probe.http_status is None:
        return detail or "no answer"
    return f"HTTP {probe.http_status}" + (f" {detail}" if detail else "")


def _text(value: object) -> str:
    return value.strip() if isinstance(value, str) else ""


def _whole(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def entries(listings: Sequence[Listing]) -> Iterator[Entry]:
    """Audit entries for every discovered function, with runtime and memory size; the source
    says where it was listed. A `func_urn` that is not a URN becomes an `invalid_urn` row."""
    for listing in listings:
        where = f"ListFunctions {listing.scope.project_id} {listing.scope.region}"
        for number, function in enumerate(listing.functions, start=1):
            yield Entry(
                function.func_urn, f"{where}:{number}", "", function.runtime, function.memory_size
            )
