"""Discover a fleet: list every function of each project and region via ListFunctions.

Pages are asked one after another per project (the next marker comes from the page before),
projects in parallel, each request under the same throttle, retry policy and credential
refresh as the audit. A project whose listing fails is reported as incomplete with the reason;
the functions of its pages that did arrive are kept.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from auditor.model import Probe, ProjectScope
from auditor.send.breaker import CredentialGuard
from auditor.send.request import Addressed, RunTally, ask, request_about
from auditor.send.retry import RetryPolicy
from auditor.send.throttle import Throttles
from auditor.source.listing import MAX_ITEMS, Listing, PageError, next_marker, parse_page


class Lister(Addressed, Protocol):
    """What discovery needs of a client (`auditor.service.client.TracingClient` is one):
    where and under whose credentials to ask (`Addressed`), and how to list a project."""

    async def list_functions(
        self, project_id: str, region: str, marker: int, maxitems: int
    ) -> tuple[Probe, bytes]:
        """One page: the probe and, for a 200, the body."""


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
        """One page, asked the way the audit asks (`auditor.send.request.ask`): throttled, retried,
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
        asked = await ask(self, request_about(lister, project_id, scope.region, send), tally)
        listing.requests += tally.requests
        return asked.probe, body


def _failure(probe: Probe) -> str:
    detail = " ".join(p for p in (probe.error_code, probe.error_msg) if p)
    if probe.http_status is None:
        return detail or "no answer"
    return f"HTTP {probe.http_status}" + (f" {detail}" if detail else "")
