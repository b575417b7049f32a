"""ListFunctions, read: a page parsed, the stop rules of paging, what one project's listing
found, and the audit entries it gives. Pure: asking for the pages is `auditor.send.discovery`'s.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from auditor.model import ProjectScope, tracing_supported
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
            "account": self.scope.account,
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
        account = listing.scope.account
        for number, function in enumerate(listing.functions, start=1):
            yield Entry(
                function.func_urn,
                f"{where}:{number}",
                "",
                function.runtime,
                function.memory_size,
                account,
            )
