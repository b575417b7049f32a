"""Discovery: parsing ListFunctions pages, DESIGN's stop rules, and `Discoverer.list_project`
against aioresponses (the HTTP boundary) and against the in-process emulator on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import random
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest
from aioresponses import CallbackResult, aioresponses
from yarl import URL

from auditor.emulator import DEFAULT_MIX, DEFAULT_TOKEN, Fleet, running_emulator
from auditor.model import Probe, ProjectScope
from auditor.send.discovery import Discoverer
from auditor.send.retry import RetryPolicy
from auditor.send.throttle import Throttles
from auditor.service.auth import Outgoing, StaticToken, project_scope
from auditor.service.client import TracingClient
from auditor.source.listing import (
    MAX_ITEMS,
    ListedFunction,
    Listing,
    Page,
    PageError,
    entries,
    next_marker,
    parse_page,
)
from tests.clocks import VirtualTime

PROJECT = "0123456789abcdef0123456789ABCDEF"
REGION = "cn-north-4"
SCOPE = ProjectScope(PROJECT, REGION)
TOKEN = "MIIToken-discovery-very-secret-0123456789"
ANY_URL = re.compile(r".*")
NO_RETRIES = RetryPolicy(retries=0)


def item(n: int, **changes: Any) -> dict[str, Any]:
    """One ListFunctions item, as FunctionGraph writes it (no version in `func_urn`)."""
    values: dict[str, Any] = {
        "func_urn": f"urn:fss:{REGION}:{PROJECT}:function:default:fn-{n:05d}",
        "func_name": f"fn-{n:05d}",
        "package": "default",
        "runtime": "Java11",
        "version": "latest",
        "memory_size": 512,
        "last_modified": "2024-05-06T07:08:09+08:00",
    }
    values.update(changes)
    return values


def page_body(functions: Sequence[Mapping[str, Any]], **fields: Any) -> bytes:
    return json.dumps({"functions": list(functions), **fields}).encode()


def listed(n: int) -> ListedFunction:
    return parse_page(page_body([item(n)])).functions[0]


# --- parse_page ------------------------------------------------------------------------------


def test_parse_page_reads_every_listing_field() -> None:
    page = parse_page(page_body([item(1), item(2, runtime="Python3.9")], next_marker=2, count=9))
    assert page.next_marker == 2
    assert page.count == 9
    first, second = page.functions
    assert first == ListedFunction(
        func_urn=f"urn:fss:{REGION}:{PROJECT}:function:default:fn-00001",
        func_name="fn-00001",
        package="default",
        runtime="Java11",
        version="latest",
        memory_size=512,
        last_modified="2024-05-06T07:08:09+08:00",
    )
    assert second.runtime == "Python3.9"
    assert first.record()["tracing_supported"] is True
    assert second.record()["tracing_supported"] is False


def test_parse_page_takes_numbers_written_as_strings() -> None:
    page = parse_page(page_body([item(1, memory_size="1024")], next_marker="400", count="1000"))
    assert (page.next_marker, page.count) == (400, 1000)
    assert page.functions[0].memory_size == 1024


@pytest.mark.parametrize("value", [None, True, "lots", -1.5, "", [400]])
def test_parse_page_ignores_numbers_that_are_not_whole(value: Any) -> None:
    page = parse_page(page_body([item(1, memory_size=value)], next_marker=value, count=value))
    assert page.next_marker is None
    assert page.count is None
    assert page.functions[0].memory_size is None


def test_parse_page_missing_text_fields_are_empty_and_urns_are_stripped() -> None:
    page = parse_page(page_body([{"func_urn": "  urn:fss:x  ", "runtime": 11}]))
    function = page.functions[0]
    assert function.func_urn == "urn:fss:x"
    assert (function.func_name, function.runtime, function.version) == ("", "", "")
    assert function.record()["tracing_supported"] is None  # unknown runtime


def test_parse_page_missing_next_marker_and_count() -> None:
    page = parse_page(page_body([item(1)]))
    assert (page.next_marker, page.count) == (None, None)


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (b"<html>token=SECRET-IN-BODY</html>", "not JSON"),
        (b"", "not JSON"),
        (b'["SECRET-IN-BODY"]', "no functions list"),
        (b'{"functions": "SECRET-IN-BODY"}', "no functions list"),
        (b'{"error_msg": "SECRET-IN-BODY"}', "no functions list"),
        (b'{"functions": [{"func_name": "SECRET-IN-BODY"}]}', "item 1 has no func_urn"),
        (b'{"functions": [{"func_urn": "u"}, "SECRET-IN-BODY"]}', "item 2 has no func_urn"),
        (b'{"functions": [{"func_urn": 7}]}', "item 1 has no func_urn"),
    ],
)
def test_parse_page_rejects_what_is_not_a_page_without_quoting_it(body: bytes, words: str) -> None:
    with pytest.raises(PageError) as caught:
        parse_page(body)
    assert words in str(caught.value)
    assert "SECRET-IN-BODY" not in str(caught.value)


# --- next_marker: DESIGN's stop rules ----------------------------------------------------------


def a_page(n: int, next_at: int | None, count: int | None) -> Page:
    return Page([listed(i) for i in range(n)], next_at, count)


@pytest.mark.parametrize(
    ("page", "sent", "expected"),
    [
        (a_page(0, 400, 1000), 0, None),  # an empty page
        (a_page(400, None, 1000), 0, None),  # next_marker missing
        (a_page(400, 0, 1000), 0, None),  # next_marker 0
        (a_page(400, 400, 1000), 400, None),  # equal to the marker sent: no progress
        (a_page(400, 1000, 1000), 600, None),  # == count
        (a_page(400, 1200, 1000), 800, None),  # > count
        (a_page(400, 400, 1000), 0, 400),  # more to come
        (a_page(400, 800, 1000), 400, 800),
        (a_page(400, 400, None), 0, 400),  # count missing: the marker alone decides
        (a_page(1, 401, 402), 400, 401),
    ],
)
def test_next_marker_stop_rules(page: Page, sent: int, expected: int | None) -> None:
    assert next_marker(page, sent) == expected


def test_next_marker_from_string_numbers() -> None:
    page = parse_page(page_body([item(1)], next_marker="400", count="1000"))
    assert next_marker(page, 0) == 400
    last = parse_page(page_body([item(1)], next_marker="1000", count="1000"))
    assert next_marker(last, 600) is None


# --- Discoverer against aioresponses ---------------------------------------------------------


def learned(throttles: Throttles) -> dict[str, object]:
    """What the one throttle discovery used saw and learned (`run.throttling`'s scope row)."""
    (report,) = throttles.reports()
    return report.as_dict()


class RefreshableToken(StaticToken):
    """A token that can be renewed: each refresh bumps its version tag and is counted."""

    method = "test token"

    def __init__(self, token: str) -> None:
        super().__init__(token)
        self.refreshes: list[str] = []

    async def headers(self, out: Outgoing) -> tuple[dict[str, str], str]:
        headers, _ = await super().headers(out)
        return headers, f"v{len(self.refreshes)}"

    async def refresh(self, project_id: str, rejected: str) -> bool:
        self.refreshes.append(rejected)
        return True


class Slept:
    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


def fleet_server(items: Sequence[Mapping[str, Any]]) -> Callable[..., CallbackResult]:
    """A ListFunctions that pages `items` as FunctionGraph does (marker = offset)."""

    def answer(url: URL, **kwargs: Any) -> CallbackResult:
        query = parse_qs(urlsplit(str(url)).query)
        marker = int(query["marker"][0])
        size = int(query["maxitems"][0])
        chunk = items[marker : marker + size]
        body = page_body(chunk, next_marker=marker + len(chunk), count=len(items))
        return CallbackResult(status=200, body=body)

    return answer


def list_with(
    register: Callable[[aioresponses], None],
    *,
    credentials: StaticToken | None = None,
    throttles: Throttles | None = None,
    policy: RetryPolicy = NO_RETRIES,
    sleep: Slept | None = None,
    max_pages: int = 100_000,
    page_size: int = MAX_ITEMS,
) -> tuple[Listing, list[URL]]:
    """List `SCOPE` once while aioresponses answers as `register` set it up; the listing and
    the URLs asked, in order."""
    with aioresponses() as fake:
        register(fake)

        async def main() -> Listing:
            async with aiohttp.ClientSession() as session:
                client = TracingClient(session, credentials or StaticToken(TOKEN))
                discoverer = Discoverer(
                    client,
                    throttles or Throttles(None),
                    policy,
                    page_size=page_size,
                    rng=random.Random(1),
                    sleep=sleep or Slept(),
                    max_pages=max_pages,
                )
                return await discoverer.list_project(SCOPE)

        listing = asyncio.run(main())
        asked = [url for (_, url), calls in fake.requests.items() for _ in calls]
    return listing, asked


def serving(items: Sequence[Mapping[str, Any]]) -> Callable[[aioresponses], None]:
    return lambda fake: fake.get(ANY_URL, callback=fleet_server(items), repeat=True)


def answers(*mocks: Mapping[str, Any]) -> Callable[[aioresponses], None]:
    """Answer the requests in order, one mock each."""

    def register(fake: aioresponses) -> None:
        for mock in mocks:
            fake.get(ANY_URL, **mock)

    return register


def markers(urls: Sequence[URL]) -> list[int]:
    return [int(url.query["marker"]) for url in urls]


def test_an_empty_project_is_one_request() -> None:
    listing, asked = list_with(serving([]))
    assert listing.complete, listing.error
    assert listing.functions == []
    assert (listing.pages, listing.requests, len(asked)) == (1, 1, 1)
    assert listing.reported_count == 0


def test_the_request_names_project_marker_and_page_size_and_carries_the_token() -> None:
    with aioresponses() as fake:
        fake.get(ANY_URL, status=200, payload={"functions": [], "count": 0})

        async def main() -> None:
            async with aiohttp.ClientSession() as session:
                client = TracingClient(session, StaticToken(TOKEN))
                await Discoverer(client, Throttles(None)).list_project(SCOPE)

        asyncio.run(main())
        ((_, url), calls), *_ = fake.requests.items()
    assert url.host == f"functiongraph.{REGION}.myhuaweicloud.com"
    assert url.path == f"/v2/{PROJECT}/fgs/functions"
    assert dict(url.query) == {"marker": "0", "maxitems": "400"}
    assert calls[0].kwargs["headers"]["X-Auth-Token"] == TOKEN


@pytest.mark.parametrize(
    ("functions", "pages"), [(1, 1), (399, 1), (400, 1), (401, 2), (800, 2), (1000, 3)]
)
def test_pages_and_requests_follow_the_fleet_size(functions: int, pages: int) -> None:
    items = [item(n) for n in range(functions)]
    listing, asked = list_with(serving(items))
    assert listing.complete, listing.error
    assert [f.func_urn for f in listing.functions] == [i["func_urn"] for i in items]
    assert (listing.pages, listing.requests, len(asked)) == (pages, pages, pages)
    assert markers(asked) == [400 * p for p in range(pages)]
    assert listing.reported_count == functions
    assert listing.duplicates == 0


def test_the_last_page_is_short_and_ends_the_listing() -> None:
    last = [item(n) for n in range(400, 410)]
    listing, asked = list_with(
        answers(
            {"status": 200, "body": page_body([item(n) for n in range(400)], next_marker=400)},
            {"status": 200, "body": page_body(last, next_marker=410, count=410)},
        )
    )
    assert listing.complete
    assert len(listing.functions) == 410
    assert markers(asked) == [0, 400]


def test_a_page_without_next_marker_is_the_last_one_even_when_full() -> None:
    listing, asked = list_with(
        answers({"status": 200, "body": page_body([item(n) for n in range(400)])})
    )
    assert listing.complete
    assert (len(listing.functions), len(asked)) == (400, 1)


def test_a_server_that_repeats_the_marker_sent_is_stopped() -> None:
    listing, asked = list_with(
        answers(
            {"status": 200, "body": page_body([item(1)], next_marker=5, count=100)},
            {"status": 200, "body": page_body([item(2)], next_marker=5, count=100)},
        )
    )
    assert listing.complete
    assert markers(asked) == [0, 5]
    assert len(listing.functions) == 2


def test_a_smaller_page_size_is_sent_and_followed() -> None:
    items = [item(n) for n in range(25)]
    listing, asked = list_with(serving(items), page_size=10)
    assert {url.query["maxitems"] for url in asked} == {"10"}
    assert markers(asked) == [0, 10, 20]
    assert len(listing.functions) == 25


def test_a_refused_token_is_refreshed_once_then_the_listing_stops() -> None:
    refused = {
        "status": 401,
        "payload": {
            "error_code": "APIG.0301",
            "error_msg": "Incorrect IAM authentication information",
        },
    }
    token = RefreshableToken(TOKEN)
    listing, asked = list_with(answers(refused, refused, refused), credentials=token)
    assert not listing.complete
    assert listing.error.startswith("HTTP 401 APIG.0301")
    assert token.refreshes == ["v0"]  # asked once, with the tag of the refused credential
    assert (len(asked), listing.requests, listing.pages) == (2, 2, 0)


def test_a_refused_token_that_cannot_be_renewed_stops_after_one_request() -> None:
    refused = {"status": 403, "payload": {"error_code": "FSS.0403", "error_msg": "invalid token"}}
    listing, asked = list_with(answers(refused, refused))
    assert listing.error == "HTTP 403 FSS.0403 invalid token"
    assert len(asked) == 1


def test_a_refresh_that_works_continues_the_listing() -> None:
    refused = {"status": 401, "payload": {"error_code": "APIG.0307", "error_msg": "expired"}}
    token = RefreshableToken(TOKEN)
    listing, asked = list_with(
        answers(refused, {"status": 200, "body": page_body([item(1)], count=1)}),
        credentials=token,
    )
    assert listing.complete, listing.error
    assert len(listing.functions) == 1
    assert token.refreshes == ["v0"]
    assert len(asked) == 2


THROTTLED = {"status": 429, "payload": {"error_code": "APIG.0308", "error_msg": "too many"}}


def test_a_429_waits_and_is_asked_again_without_spending_a_retry() -> None:
    throttles = Throttles(None)
    slept = Slept()
    listing, asked = list_with(
        answers(THROTTLED, {"status": 200, "body": page_body([item(1)], next_marker=1, count=1)}),
        throttles=throttles,
        policy=NO_RETRIES,  # a 429 is not a failure: no retry is needed to ask again
        sleep=slept,
    )
    assert listing.complete, listing.error
    assert len(listing.functions) == 1
    assert (len(asked), listing.requests, listing.pages) == (2, 2, 1)
    # The page waits, not the endpoint: one wait of Huawei's 2-5 s (APIG.0308 without
    # Retry-After), slept by the request itself.
    (wait,) = slept.delays
    assert 2.0 <= wait <= 5.0
    found = learned(throttles)
    endpoint = f"https://functiongraph.{REGION}.myhuaweicloud.com"
    assert (found["scope"], found["endpoint"]) == ("token", endpoint)  # the token's own limit
    assert (found["requests"], found["responses_429"]) == (2, 1)  # both went through it
    assert found["throttle_wait_s"] == pytest.approx(wait, abs=0.001)


def test_a_429_with_retry_after_waits_that_long() -> None:
    throttles = Throttles(None)
    slept = Slept()
    listing, _ = list_with(
        answers(
            {"status": 429, "headers": {"Retry-After": "7"}, "payload": {"error_code": "FSS.0429"}},
            {"status": 200, "body": page_body([], count=0)},
        ),
        throttles=throttles,
        policy=NO_RETRIES,
        sleep=slept,
    )
    assert listing.complete, listing.error
    assert slept.delays == [7.0]
    assert learned(throttles)["throttle_wait_s"] == 7.0


def test_429s_past_the_retry_budget_are_asked_again_while_the_deadline_holds() -> None:
    slept = Slept()
    listing, asked = list_with(
        answers(THROTTLED, THROTTLED, THROTTLED, {"status": 200, "body": page_body([], count=0)}),
        policy=RetryPolicy(retries=1),
        sleep=slept,
    )
    assert listing.complete, listing.error
    assert len(asked) == 4
    assert len(slept.delays) == 3
    assert all(2.0 <= wait <= 5.0 for wait in slept.delays)


class ScriptedLister:
    """A `Lister` on a virtual clock: answers in the order of `script`, "page" (one function,
    and more to come) or "429"; after the script, 429 for ever."""

    def __init__(self, clock: VirtualTime, script: Sequence[str]) -> None:
        self.clock = clock
        self.script = list(script)
        self.pages = script.count("page")
        self.asked_at: list[float] = []

    def endpoint(self, region: str) -> str:
        return "https://fg.test"

    def scopes(self, project_id: str) -> tuple[str, ...]:
        return (project_scope(project_id),)

    def rate_scope(self, project_id: str) -> str:
        return "token"

    async def refresh(self, project_id: str, rejected: str) -> bool:
        return False

    async def list_functions(
        self, project_id: str, region: str, marker: int, maxitems: int
    ) -> tuple[Probe, bytes]:
        self.asked_at.append(self.clock.now)
        if (self.script.pop(0) if self.script else "429") == "429":
            return Probe(429, error_code="APIG.0308", error_msg="too many"), b""
        body = page_body([item(marker)], next_marker=marker + 1, count=self.pages)
        return Probe(200), body


def list_scripted(script: Sequence[str], policy: RetryPolicy) -> tuple[Listing, list[float]]:
    """List `SCOPE` from a `ScriptedLister` on virtual time; the listing and when each request
    went, in seconds from the first."""
    clock = VirtualTime()
    lister = ScriptedLister(clock, script)
    listing = Listing(SCOPE)

    async def main() -> None:
        nonlocal listing
        discoverer = Discoverer(
            lister,
            Throttles(None, sleep=clock.sleep),
            policy,
            rng=random.Random(1),
            sleep=clock.sleep,
        )
        listing = await discoverer.list_project(SCOPE)

    clock.run(main)
    start = lister.asked_at[0]
    return listing, [round(t - start, 6) for t in lister.asked_at]


def test_429s_end_the_listing_only_after_the_deadline_without_progress() -> None:
    policy = RetryPolicy(retries=0, throttle_wait=(2.0, 2.0), throttle_deadline=10.0)
    listing, asked_at = list_scripted(["429"], policy)
    assert listing.error == "HTTP 429 APIG.0308 too many"
    assert not listing.complete
    # Asked again every 2 s, well past the retry budget, until nothing was accepted for 10 s.
    assert asked_at == [0.0, 2.0, 4.0, 6.0, 8.0, 10.0]
    assert listing.requests == 6


def test_the_deadline_counts_from_the_last_accepted_answer() -> None:
    # 429s for 8 s after each page: 24 s in all, longer than the deadline, but the scope never
    # went 10 s without an accepted answer, so the listing goes on to the end.
    policy = RetryPolicy(retries=0, throttle_wait=(4.0, 4.0), throttle_deadline=10.0)
    script = ["page", "429", "429"] * 3 + ["page"]
    listing, asked_at = list_scripted(script, policy)
    assert listing.complete, listing.error
    assert listing.pages == 4
    assert asked_at[-1] == 24.0


def test_500_until_the_retries_are_spent_is_an_incomplete_listing() -> None:
    failed = {"status": 500, "payload": {"error_code": "FSS.0500", "error_msg": "internal error"}}
    slept = Slept()
    throttles = Throttles(None)
    listing, asked = list_with(
        answers(failed, failed, failed, failed),
        policy=RetryPolicy(retries=2),
        sleep=slept,
        throttles=throttles,
    )
    assert not listing.complete
    assert listing.error == "HTTP 500 FSS.0500 internal error"
    assert (len(asked), listing.requests, listing.pages) == (3, 3, 0)
    assert len(slept.delays) == 2  # a wait before each retry, none after the last
    found = learned(throttles)
    assert (found["requests"], found["responses_429"], found["rate_cuts"]) == (3, 0, 0)


def test_a_failure_on_a_later_page_keeps_the_functions_already_listed() -> None:
    failed = {"status": 502, "body": "<html>bad gateway</html>", "content_type": "text/html"}
    listing, asked = list_with(
        answers(
            {
                "status": 200,
                "body": page_body([item(n) for n in range(400)], next_marker=400, count=900),
            },
            failed,
        )
    )
    assert not listing.complete
    assert listing.error.startswith("HTTP 502")
    assert "bad gateway" not in listing.error
    assert len(listing.functions) == 400
    assert listing.summary()["complete"] is False
    assert listing.summary()["functions"] == 400
    assert markers(asked) == [0, 400]


def test_a_connection_failure_is_recorded() -> None:
    listing, _ = list_with(answers({"exception": aiohttp.ClientConnectionError("refused")}))
    assert not listing.complete
    assert "refused" in listing.error
    assert TOKEN not in listing.error


@pytest.mark.parametrize(
    "body",
    [
        b"<html>SECRET-IN-BODY</html>",
        b'{"SECRET-IN-BODY": 1}',
        b'{"functions": [{"x": "SECRET-IN-BODY"}]}',
    ],
)
def test_a_garbage_200_is_an_incomplete_listing_that_never_quotes_the_body(body: bytes) -> None:
    listing, asked = list_with(answers({"status": 200, "body": body}))
    assert not listing.complete
    assert listing.error.startswith("page at marker 0")
    assert "SECRET-IN-BODY" not in listing.error
    assert len(asked) == 1  # a 200 is not retried


def test_duplicates_across_pages_are_counted_and_dropped() -> None:
    listing, _ = list_with(
        answers(
            {"status": 200, "body": page_body([item(1), item(2)], next_marker=2, count=4)},
            {"status": 200, "body": page_body([item(2), item(3)], next_marker=4, count=4)},
        )
    )
    assert listing.complete
    assert listing.duplicates == 1
    assert [f.func_name for f in listing.functions] == ["fn-00001", "fn-00002", "fn-00003"]


def test_max_pages_stops_a_listing_that_never_ends() -> None:
    def endless(url: URL, **kwargs: Any) -> CallbackResult:
        marker = int(url.query["marker"])
        return CallbackResult(body=page_body([item(marker)], next_marker=marker + 1))

    listing, asked = list_with(
        lambda fake: fake.get(ANY_URL, callback=endless, repeat=True), max_pages=5
    )
    assert not listing.complete
    assert "stopped after 5 pages" in listing.error
    assert (listing.pages, len(asked), len(listing.functions)) == (5, 5, 5)


@pytest.mark.parametrize(
    "mock",
    [
        {"status": 401, "payload": {"error_code": "APIG.0301", "error_msg": "bad token"}},
        {"status": 500, "payload": {"error_code": "FSS.0500", "error_msg": "oops"}},
        {"status": 200, "body": b"not json"},
        {"exception": aiohttp.ClientConnectionError("connection reset")},
        {"exception": TimeoutError()},
    ],
)
def test_the_error_never_holds_the_token(mock: Mapping[str, Any]) -> None:
    listing, _ = list_with(answers(mock))
    assert listing.error
    assert TOKEN not in listing.error
    assert TOKEN not in json.dumps(listing.summary())


def test_discover_lists_projects_in_the_order_asked() -> None:
    other = ProjectScope("f" * 32, "ap-southeast-1")

    def by_project(url: URL, **kwargs: Any) -> CallbackResult:
        count = 2 if PROJECT in url.path else 1
        return CallbackResult(body=page_body([item(n) for n in range(count)], count=count))

    with aioresponses() as fake:
        fake.get(ANY_URL, callback=by_project, repeat=True)

        async def main() -> list[Listing]:
            async with aiohttp.ClientSession() as session:
                client = TracingClient(session, StaticToken(TOKEN))
                return await Discoverer(client, Throttles(None)).discover([other, SCOPE])

        listings = asyncio.run(main())
    assert [listing.scope for listing in listings] == [other, SCOPE]
    assert [len(listing.functions) for listing in listings] == [1, 2]


def test_entries_carry_runtime_memory_and_where_listed() -> None:
    listing = Listing(SCOPE, [listed(1), listed(2)])
    found = list(entries([listing]))
    assert [e.text for e in found] == [f.func_urn for f in listing.functions]
    assert found[1].where == f"ListFunctions {PROJECT} {REGION}:2"
    assert (found[0].runtime, found[0].memory_size) == ("Java11", 512)


# --- Done when: 3 projects x 1,000 functions against the emulator ----------------------------


def test_three_projects_of_a_thousand_are_three_thousand_urns_in_three_pages_each() -> None:
    mix = {k: v for k, v in DEFAULT_MIX.items() if k != "deleted"}
    fleet = Fleet.generate(3000, seed=5, projects=3, regions=(REGION,), mix=mix)

    async def main() -> tuple[list[Listing], int]:
        async with running_emulator(fleet) as emulator, aiohttp.ClientSession() as session:
            client = TracingClient(session, StaticToken(DEFAULT_TOKEN), endpoint=emulator.url)
            scopes = [ProjectScope(p, REGION) for p in fleet.project_ids]
            listings = await Discoverer(client, Throttles(None)).discover(scopes)
            return listings, emulator.stats.requests

    listings, server_requests = asyncio.run(main())
    assert [listing.error for listing in listings] == ["", "", ""]
    assert [(listing.pages, listing.requests) for listing in listings] == [(3, 3)] * 3
    assert [len(listing.functions) for listing in listings] == [1000] * 3
    urns = [f.func_urn for listing in listings for f in listing.functions]
    assert len(urns) == 3000
    assert len(set(urns)) == 3000
    assert set(urns) == {f.urn.unqualified for f in fleet.functions}
    assert server_requests == 9
    assert all(listing.duplicates == 0 for listing in listings)


@pytest.mark.parametrize("backwards", [1, -5])
def test_a_next_marker_behind_the_marker_sent_ends_the_listing(backwards: int) -> None:
    def answer(url: URL, **kwargs: Any) -> CallbackResult:
        marker = int(url.query["marker"])
        following = 400 if marker != 400 else backwards
        return CallbackResult(body=page_body([item(marker)], next_marker=following, count=1000))

    listing, asked = list_with(
        lambda fake: fake.get(ANY_URL, callback=answer, repeat=True), max_pages=50
    )
    assert markers(asked) == [0, 400]
    assert listing.complete
