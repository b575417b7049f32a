"""The tracing client, with HTTP faked by aioresponses (and one real loopback server)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import fields
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aioresponses import aioresponses
from yarl import URL

from auditor.model import ErrorKind, Probe
from auditor.service.auth import Outgoing, StaticToken
from auditor.service.client import (
    DEFAULT_ENDPOINT,
    TracingClient,
    endpoint_for,
    parse_retry_after,
    tracing_path,
)
from auditor.source.urn import FunctionUrn, parse_urn

PROJECT = "0123456789abcdef0123456789ABCDEF"
URN = f"urn:fss:cn-north-4:{PROJECT}:function:default:my-func"
ENCODED_URN = URN.replace(":", "%3A")
TOKEN = "MIIToken-very-secret-0123456789"
ANY_URL = re.compile(r".*")
REAL_URL = (
    f"https://functiongraph.cn-north-4.myhuaweicloud.com/v2/{PROJECT}/fgs/functions/"
    f"{ENCODED_URN}/tracing"
)


def probe_with(
    mock: Mapping[str, Any] | None = None,
    *,
    urn: str = URN,
    endpoint: str = DEFAULT_ENDPOINT,
    endpoints: Mapping[str, str] | None = None,
    register: bool = True,
) -> tuple[Probe, aioresponses]:
    """Probe `urn` once while aioresponses answers every GET with `mock`."""
    with aioresponses() as fake:
        if register:
            answer = mock or {"status": 200, "payload": {"tracing_ak": "AK"}}
            fake.get(ANY_URL, **answer)

        async def main() -> Probe:
            async with aiohttp.ClientSession() as session:
                client = TracingClient(
                    session, StaticToken(TOKEN), endpoint=endpoint, endpoints=endpoints
                )
                return await client.probe(parse_urn(urn))

        return asyncio.run(main()), fake


def requested_urls(fake: aioresponses) -> list[URL]:
    return [url for (method, url), calls in fake.requests.items() for _ in calls]


def requested_kwargs(fake: aioresponses) -> dict[str, Any]:
    (calls,) = fake.requests.values()
    (call,) = calls
    return dict(call.kwargs)


# --- URL -----------------------------------------------------------------------------------


def test_url_sends_the_urn_as_one_percent_encoded_segment() -> None:
    _, fake = probe_with()
    (url,) = requested_urls(fake)
    assert str(url) == REAL_URL
    assert url.raw_path == f"/v2/{PROJECT}/fgs/functions/{ENCODED_URN}/tracing"
    assert url.raw_path.count("/") == 6  # the URN did not add path segments


def test_exact_encoded_url_matches_a_registered_mock() -> None:
    unmatched, _ = probe_with(register=False)
    assert unmatched.error_kind is ErrorKind.CONNECTION  # nothing registered: aioresponses refuses
    with aioresponses() as fake:
        fake.get(
            URL(REAL_URL, encoded=True),
            status=200,
            payload={"tracing_ak": "AK-1"},
        )

        async def main() -> Probe:
            async with aiohttp.ClientSession() as session:
                return await TracingClient(session, StaticToken(TOKEN)).probe(parse_urn(URN))

        assert asyncio.run(main()).tracing_ak == "AK-1"


@pytest.mark.parametrize("qualifier", ["latest", "3", "!prod-alias"])
def test_qualifier_is_dropped_from_the_requested_urn(qualifier: str) -> None:
    _, fake = probe_with(urn=f"{URN}:{qualifier}")
    (url,) = requested_urls(fake)
    assert str(url) == REAL_URL
    assert url.raw_path.endswith("%3Amy-func/tracing")


def test_region_template_is_filled() -> None:
    _, fake = probe_with(endpoint="https://fg.{region}.example.test/")
    (url,) = requested_urls(fake)
    assert url.host == "fg.cn-north-4.example.test"
    assert url.raw_path.startswith(f"/v2/{PROJECT}/")


def test_one_url_for_all_regions() -> None:
    _, fake = probe_with(endpoint="http://127.0.0.1:8080")
    (url,) = requested_urls(fake)
    assert (url.scheme, url.host, url.port) == ("http", "127.0.0.1", 8080)


def test_per_region_endpoint_override() -> None:
    other = URN.replace("cn-north-4", "ap-southeast-1")
    _, fake = probe_with(
        urn=other, endpoints={"ap-southeast-1": "https://override.example.test:8443/"}
    )
    (url,) = requested_urls(fake)
    assert (url.host, url.port) == ("override.example.test", 8443)
    assert "//" not in url.raw_path

    _, fake = probe_with(urn=URN, endpoints={"ap-southeast-1": "https://override.example.test"})
    (url,) = requested_urls(fake)
    assert url.host == "functiongraph.cn-north-4.myhuaweicloud.com"


def test_endpoint_is_what_the_rate_limit_is_keyed_on() -> None:
    async def main() -> tuple[str, str, str]:
        async with aiohttp.ClientSession() as session:
            client = TracingClient(
                session,
                StaticToken(TOKEN),
                endpoint="https://fg.{region}.example.test/",
                endpoints={"eu-west-101": "http://eu.example.test/"},
            )
            return (
                client.endpoint("cn-north-4"),
                client.endpoint("cn-north-4"),  # now from the per-region cache
                client.endpoint("eu-west-101"),
            )

    assert asyncio.run(main()) == (
        "https://fg.cn-north-4.example.test",
        "https://fg.cn-north-4.example.test",
        "http://eu.example.test",
    )


def test_endpoint_for_and_tracing_path() -> None:
    assert endpoint_for(DEFAULT_ENDPOINT, "la-south-2") == (
        "https://functiongraph.la-south-2.myhuaweicloud.com"
    )
    assert endpoint_for("http://h:1/", "x-y-1") == "http://h:1"
    urn = FunctionUrn("cn-north-4", PROJECT, "pkg", "fn", "!alias")
    path = tracing_path(urn)
    assert path == (
        f"/v2/{PROJECT}/fgs/functions/urn%3Afss%3Acn-north-4%3A{PROJECT}%3Afunction%3Apkg%3Afn"
        "/tracing"
    )


# --- headers -------------------------------------------------------------------------------


def test_headers_carry_the_token_and_json_content_type() -> None:
    _, fake = probe_with()
    headers = requested_kwargs(fake)["headers"]
    assert headers["X-Auth-Token"] == TOKEN
    assert headers["Content-Type"] == "application/json"


def test_static_token_repr_hides_the_token() -> None:
    credentials = StaticToken(TOKEN)
    assert TOKEN not in repr(credentials)
    assert TOKEN not in str(credentials)
    assert TOKEN not in credentials.method
    headers, tag = asyncio.run(
        credentials.headers(Outgoing("GET", REAL_URL, {"A": "b"}, project_id=PROJECT))
    )
    assert headers == {"A": "b", "X-Auth-Token": TOKEN}
    assert TOKEN not in tag


# --- answers -------------------------------------------------------------------------------


def test_200_keeps_the_ak_and_never_the_sk() -> None:
    sk = "PLANTED-UNMASKED-SK-8f3e2d1c0b9a"
    probe, _ = probe_with(
        {
            "status": 200,
            "payload": {"tracing_ak": "AKAKAKAKAKAKAKAKAKAK", "tracing_sk": sk},
            "headers": {"X-Request-Id": "req-200"},
        }
    )
    assert probe.http_status == 200
    assert probe.error_kind is None
    assert probe.tracing_ak == "AKAKAKAKAKAKAKAKAKAK"
    assert probe.request_id == "req-200"
    assert probe.elapsed_ms >= 0
    assert sk not in repr(probe)
    for field in fields(Probe):
        assert sk not in str(getattr(probe, field.name))


def test_200_with_a_masked_sk_and_no_ak() -> None:
    probe, _ = probe_with({"status": 200, "payload": {"tracing_sk": "******"}})
    assert (probe.http_status, probe.error_kind, probe.tracing_ak) == (200, None, None)


def test_error_body_gives_code_message_and_request_id() -> None:
    probe, _ = probe_with(
        {
            "status": 404,
            "payload": {"error_code": "FSS.0404", "error_msg": "can not find tracing aksk"},
            "headers": {"X-Request-Id": "0f1e2d3c"},
        }
    )
    assert probe.http_status == 404
    assert probe.error_kind is None
    assert probe.error_code == "FSS.0404"
    assert probe.error_msg == "can not find tracing aksk"
    assert probe.request_id == "0f1e2d3c"
    assert probe.tracing_ak is None
    assert probe.retry_after is None


def test_error_fields_of_the_wrong_type_are_ignored() -> None:
    probe, _ = probe_with(
        {"status": 500, "payload": {"error_code": 500, "error_msg": ["x"], "tracing_ak": 7}}
    )
    assert (probe.http_status, probe.error_code, probe.error_msg, probe.tracing_ak) == (
        500,
        "",
        "",
        None,
    )


def test_long_error_message_is_capped() -> None:
    probe, _ = probe_with({"status": 500, "payload": {"error_code": "X", "error_msg": "m" * 5000}})
    assert 0 < len(probe.error_msg) <= 300


def test_retry_after_seconds_is_parsed() -> None:
    probe, _ = probe_with(
        {
            "status": 429,
            "payload": {"error_code": "APIG.0308", "error_msg": "too many"},
            "headers": {"Retry-After": "7"},
        }
    )
    assert (probe.http_status, probe.error_code, probe.retry_after) == (429, "APIG.0308", 7.0)


def test_retry_after_http_date_is_parsed() -> None:
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    probe, _ = probe_with({"status": 429, "payload": {}, "headers": {"Retry-After": when}})
    assert probe.retry_after is not None
    assert 20 <= probe.retry_after <= 31


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        ("", None),
        ("3", 3.0),
        (" 2.5 ", 2.5),
        ("-4", 0.0),
        ("soon", None),
        ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0),  # in the past: no wait
    ],
)
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    assert parse_retry_after(value) == expected


def test_html_502_keeps_the_status_and_never_quotes_the_page() -> None:
    html = "<html><body><h1>502 Bad Gateway</h1>nginx-internal-host-42</body></html>"
    probe, _ = probe_with(
        {
            "status": 502,
            "body": html,
            "content_type": "text/html",
            "headers": {"X-Request-Id": "gw-1"},
        }
    )
    assert probe.http_status == 502
    assert probe.error_kind is None
    assert "non-JSON" in probe.error_msg
    assert "502" in probe.error_msg
    assert "nginx-internal-host-42" not in probe.error_msg
    assert "<html>" not in probe.error_msg
    assert probe.request_id == "gw-1"


@pytest.mark.parametrize(
    "body", ["<html>oops</html>", "not json at all", '{"tracing_ak": "AK"', b"\xff\xfe\x00garbage"]
)
def test_garbage_on_a_200_is_bad_body(body: str | bytes) -> None:
    probe, _ = probe_with({"status": 200, "body": body, "content_type": "text/html"})
    assert probe.http_status == 200
    assert probe.error_kind is ErrorKind.BAD_BODY
    assert "non-JSON" in probe.error_msg
    assert probe.tracing_ak is None


@pytest.mark.parametrize("status", [200, 503])
def test_empty_body(status: int) -> None:
    probe, _ = probe_with({"status": status, "body": ""})
    assert probe.http_status == status
    assert probe.error_kind is (ErrorKind.BAD_BODY if status == 200 else None)
    assert "empty body" in probe.error_msg


@pytest.mark.parametrize("status", [200, 500])
def test_json_list_body(status: int) -> None:
    probe, _ = probe_with({"status": status, "payload": [{"tracing_ak": "AK"}]})
    assert probe.http_status == status
    assert probe.error_kind is (ErrorKind.BAD_BODY if status == 200 else None)
    assert "not an object" in probe.error_msg
    assert probe.tracing_ak is None


def test_timeout() -> None:
    # asyncio.TimeoutError is TimeoutError since Python 3.11.
    probe, _ = probe_with({"exception": TimeoutError()})
    assert probe.http_status is None
    assert probe.error_kind is ErrorKind.TIMEOUT
    assert "10 s" in probe.error_msg


@pytest.mark.parametrize(
    "exc",
    [
        aiohttp.ClientConnectionError("Connection refused"),
        aiohttp.ServerDisconnectedError(),
        aiohttp.ClientPayloadError("truncated"),
        ConnectionResetError("reset by peer"),
    ],
)
def test_connection_failures(exc: BaseException) -> None:
    probe, _ = probe_with({"exception": exc})
    assert probe.http_status is None
    assert probe.error_kind is ErrorKind.CONNECTION
    assert type(exc).__name__ in probe.error_msg


@pytest.mark.parametrize(
    "mock",
    [
        {"status": 200, "body": b"\x00\x01\x02"},
        {"status": 418, "body": "{}"},
        {"status": 204},
        {"status": 304},
        {"status": 200, "payload": "just a string"},
        {"status": 200, "payload": None},
        {"status": 200, "payload": {"tracing_ak": None}},
        {"status": 429, "headers": {"Retry-After": "Thu, 99 Foo 20xx"}},
        {"exception": ValueError("unexpected from the stack")},
    ],
)
def test_never_raises_for_an_answer(mock: dict[str, Any]) -> None:
    if "exception" in mock:
        # A non-network exception is a bug, and bugs are not swallowed.
        with pytest.raises(ValueError):
            probe_with(mock)
        return
    probe, _ = probe_with(mock)
    assert isinstance(probe, Probe)
    assert probe.http_status == mock["status"]


# --- a real socket: what a faked response cannot show -------------------------------------

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@asynccontextmanager
async def serving(handler: Handler) -> AsyncIterator[int]:
    """Serve `handler` on 127.0.0.1 and yield the port."""
    app = web.Application()
    app.router.add_get("/{tail:.*}", handler)
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        yield runner.addresses[0][1]
    finally:
        await runner.cleanup()


async def probe_port(port: int) -> Probe:
    async with aiohttp.ClientSession() as session:
        client = TracingClient(session, StaticToken(TOKEN), endpoint=f"http://127.0.0.1:{port}")
        return await client.probe(parse_urn(URN))


@pytest.mark.e2e
def test_body_arriving_in_two_pieces_is_read_whole() -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        await response.prepare(request)
        await response.write(b'{"tracing_ak": "AKAKAKAKAKAKAKAKAKAK",')
        await asyncio.sleep(0.1)
        try:
            await response.write(b' "tracing_sk": "******"}')
            await response.write_eof()
        except ConnectionError:
            pass  # the buggy client hung up after the first piece
        return response

    async def main() -> Probe:
        async with serving(handler) as port:
            return await probe_port(port)

    probe = asyncio.run(main())
    assert probe.error_kind is None
    assert probe.tracing_ak == "AKAKAKAKAKAKAKAKAKAK"


@pytest.mark.e2e
def test_redirect_to_another_host_is_not_followed_with_the_token() -> None:
    tokens_seen_elsewhere: list[str | None] = []

    async def elsewhere(request: web.Request) -> web.StreamResponse:
        tokens_seen_elsewhere.append(request.headers.get("X-Auth-Token"))
        return web.json_response({"tracing_ak": "NOT-THE-REAL-API"})

    async def main() -> Probe:
        async with serving(elsewhere) as other_port:

            async def api(request: web.Request) -> web.StreamResponse:
                raise web.HTTPFound(f"http://localhost:{other_port}/collect")

            async with serving(api) as port:
                return await probe_port(port)

    probe = asyncio.run(main())
    assert tokens_seen_elsewhere == []
    assert probe.http_status == 302
    assert probe.tracing_ak is None


# --- reachability check --------------------------------------------------------------------


def unreachable_with(mock: Mapping[str, Any]) -> tuple[str | None, aioresponses]:
    with aioresponses() as fake:
        fake.get(ANY_URL, **mock)

        async def main() -> str | None:
            async with aiohttp.ClientSession() as session:
                client = TracingClient(session, StaticToken(TOKEN))
                return await client.unreachable("https://functiongraph.cn-north-4.example.test")

        return asyncio.run(main()), fake


@pytest.mark.parametrize("status", [200, 404, 401, 502])
def test_any_answer_means_reachable(status: int) -> None:
    reason, fake = unreachable_with({"status": status, "body": "<html>whatever</html>"})
    assert reason is None
    (url,) = requested_urls(fake)
    assert str(url) == "https://functiongraph.cn-north-4.example.test/"
    assert TOKEN not in str(requested_kwargs(fake).get("headers"))  # no credentials sent


def test_unreachable_says_why() -> None:
    reason, _ = unreachable_with({"exception": aiohttp.ClientConnectionError("refused")})
    assert reason is not None
    assert "ClientConnectionError" in reason
    assert "refused" in reason
    reason, _ = unreachable_with({"exception": TimeoutError()})
    assert reason == "no answer within 5 s"
