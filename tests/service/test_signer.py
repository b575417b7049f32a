"""Tests for auditor/signer.py: SDK-HMAC-SHA256 signing and verification.

The three vectors spell out the canonical request by hand, from DESIGN.md ("AK/SK signing"), as
literal text; the expected signature is then computed here with hashlib/hmac alone, never with
the module's helpers, and also pinned as a literal so any drift shows.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from datetime import UTC, datetime, timedelta, timezone

import aiohttp
import pytest
import yarl
from aiohttp import web
from aiohttp.test_utils import TestServer

from auditor.service.signer import (
    ALGORITHM,
    Authorization,
    SignedHeaders,
    canonical_headers,
    canonical_query,
    canonical_request,
    canonical_uri,
    parse_authorization,
    parse_sdk_date,
    sdk_date,
    sign,
    string_to_sign,
    verify,
)

AK = "HPUAEXAMPLEAK0123456"
SK = "sk-Example/Secret+Key=0123456789abcdefXYZ"
PROJECT = "0123456789abcdef0123456789abcdef"
HOST = "functiongraph.cn-north-4.myhuaweicloud.com"
BASE = f"https://{HOST}/v2/{PROJECT}/fgs/functions"
URN = f"urn:fss:cn-north-4:{PROJECT}:function:default:my_fn-1"
URN_ENCODED = (
    f"urn%3Afss%3Acn-north-4%3A{PROJECT}%3Afunction%3Adefault%3Amy_fn-1"  # ':' -> %3A only
)
TRACING_URL = f"{BASE}/{URN_ENCODED}/tracing"
MOMENT = datetime(2026, 11, 23, 12, 34, 56, tzinfo=UTC)
DATE = "20261123T123456Z"
EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
JSON = {"Content-Type": "application/json"}


def by_hand(canonical: str, date: str = DATE, sk: str = SK) -> str:
    """The signature of a canonical request, straight from the specification."""
    hashed = hashlib.sha256(canonical.encode()).hexdigest()
    to_sign = f"SDK-HMAC-SHA256\n{date}\n{hashed}"
    return hmac.new(sk.encode(), to_sign.encode(), hashlib.sha256).hexdigest()


def received(url: str, extra: dict[str, str], signed: SignedHeaders) -> dict[str, str]:
    """The headers a server sees: the caller's, the signer's, and the Host aiohttp adds."""
    return {"Host": yarl.URL(url).host_port_subcomponent or "", **extra, **signed.headers}


# --- the three vectors ---------------------------------------------------------------------

VECTOR_1 = f"""GET
/v2/{PROJECT}/fgs/functions/{URN_ENCODED}/tracing/

content-type:application/json
host:{HOST}
x-project-id:{PROJECT}
x-sdk-date:{DATE}

content-type;host;x-project-id;x-sdk-date
{EMPTY_SHA256}"""
SIGNATURE_1 = "2140681f9962bc5017d2a9d332846f75fb2cfe7da503c5dee89cbb4f37130fab"


def test_vector_1_tracing_get_with_an_encoded_urn() -> None:
    signed = sign(
        ak=AK, sk=SK, method="get", url=TRACING_URL, headers=JSON, moment=MOMENT, project_id=PROJECT
    )
    assert by_hand(VECTOR_1) == SIGNATURE_1
    assert signed.headers == {
        "Authorization": f"SDK-HMAC-SHA256 Access={AK}, "
        f"SignedHeaders=content-type;host;x-project-id;x-sdk-date, Signature={SIGNATURE_1}",
        "X-Sdk-Date": DATE,
        "X-Project-Id": PROJECT,
    }
    to_sign = {**JSON, "Host": HOST, "X-Project-Id": PROJECT, "X-Sdk-Date": DATE}
    path = TRACING_URL.removeprefix(f"https://{HOST}")
    assert canonical_request("GET", path, "", to_sign, b"") == (
        VECTOR_1,
        "content-type;host;x-project-id;x-sdk-date",
    )


def test_vector_1_path_decodes_then_encodes_to_the_same_uri() -> None:
    encoded = f"/v2/{PROJECT}/fgs/functions/{URN_ENCODED}/tracing"
    raw = f"/v2/{PROJECT}/fgs/functions/{URN}/tracing"
    assert canonical_uri(encoded) == canonical_uri(raw) == encoded + "/"
    # an unencoded URN in the URL signs identically to the encoded one
    raw_url = sign(
        ak=AK,
        sk=SK,
        method="GET",
        url=f"https://{HOST}{raw}",
        headers=JSON,
        moment=MOMENT,
        project_id=PROJECT,
    )
    assert raw_url.headers["Authorization"].endswith(SIGNATURE_1)


VECTOR_2 = f"""GET
/v2/{PROJECT}/fgs/functions/
marker=0&maxitems=400
content-type:application/json
host:{HOST}
x-project-id:{PROJECT}
x-sdk-date:{DATE}

content-type;host;x-project-id;x-sdk-date
{EMPTY_SHA256}"""
SIGNATURE_2 = "264cda85cd640fd5fc00ab5369d661f19a26cf4d753070fc0e6f36bf0fa0067c"


def test_vector_2_list_functions_query_is_sorted() -> None:
    url = f"{BASE}?maxitems=400&marker=0"
    signed = sign(
        ak=AK, sk=SK, method="GET", url=url, headers=JSON, moment=MOMENT, project_id=PROJECT
    )
    assert by_hand(VECTOR_2) == SIGNATURE_2
    assert signed.headers["Authorization"] == (
        f"SDK-HMAC-SHA256 Access={AK}, "
        f"SignedHeaders=content-type;host;x-project-id;x-sdk-date, Signature={SIGNATURE_2}"
    )
    to_sign = {**JSON, "Host": HOST, "X-Project-Id": PROJECT, "X-Sdk-Date": DATE}
    text, _ = canonical_request(
        "GET", f"/v2/{PROJECT}/fgs/functions", "maxitems=400&marker=0", to_sign, b""
    )
    assert text == VECTOR_2


BODY = b'{"func_name":"my_fn-1","memory_size":512,"runtime":"Java11"}'
BODY_SHA256 = "f826cbda310dce51308fe56733c0f0f215f2c6c1012b0daa7682be19d8b8517a"
VECTOR_3 = f"""POST
/v2/{PROJECT}/fgs/functions/

content-type:application/json;charset=utf-8
host:{HOST}
x-project-id:{PROJECT}
x-sdk-date:{DATE}

content-type;host;x-project-id;x-sdk-date
{BODY_SHA256}"""
SIGNATURE_3 = "15324248033a2d76eb05b39bb6aed2fe93a00351740c23d6bb1a643ad2271f1c"


def test_vector_3_post_signs_the_body_hash() -> None:
    headers = {"Content-Type": "application/json;charset=utf-8"}
    signed = sign(
        ak=AK,
        sk=SK,
        method="POST",
        url=BASE,
        headers=headers,
        body=BODY,
        moment=MOMENT,
        project_id=PROJECT,
    )
    assert hashlib.sha256(BODY).hexdigest() == BODY_SHA256 != EMPTY_SHA256
    assert by_hand(VECTOR_3) == SIGNATURE_3
    assert signed.headers["Authorization"].endswith(f", Signature={SIGNATURE_3}")
    unsigned_body = sign(
        ak=AK, sk=SK, method="POST", url=BASE, headers=headers, moment=MOMENT, project_id=PROJECT
    )
    assert unsigned_body.headers["Authorization"] != signed.headers["Authorization"]


# --- the canonical pieces ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "uri"),
    [
        ("", "/"),
        ("/", "/"),
        ("/v2/p/fgs/functions", "/v2/p/fgs/functions/"),
        ("/v2/p/", "/v2/p/"),
        ("/a b/c~d_e.f-g", "/a%20b/c~d_e.f-g/"),
        ("/a%20b/%7Euser", "/a%20b/~user/"),
        ("/caf%C3%A9/é", "/caf%C3%A9/%C3%A9/"),
        ("/x:y@z+w=v", "/x%3Ay%40z%2Bw%3Dv/"),
        ("/a%2Fb", "/a/b/"),  # decoded first, so an encoded '/' splits, as in the SDKs
    ],
)
def test_canonical_uri(path: str, uri: str) -> None:
    assert canonical_uri(path) == uri


@pytest.mark.parametrize(
    ("query", "canonical"),
    [
        ("", ""),
        ("?", ""),
        ("maxitems=400&marker=0", "marker=0&maxitems=400"),
        ("?b=2&a=1", "a=1&b=2"),
        ("a=2&a=10&a=1", "a=1&a=10&a=2"),
        ("flag&x=", "flag=&x="),
        ("=orphan&&a=1", "a=1"),
        ("q=a%20b&r=x:y&s=a+b&t=~", "q=a%20b&r=x%3Ay&s=a%2Bb&t=~"),
        ({"maxitems": "400", "marker": "0"}, "marker=0&maxitems=400"),
        ({"k": ["b", "a"], "j": "x y"}, "j=x%20y&k=a&k=b"),
        ({}, ""),
    ],
)
def test_canonical_query(query: str | dict[str, str | list[str]], canonical: str) -> None:
    assert canonical_query(query) == canonical


def test_canonical_query_sorts_by_encoded_key() -> None:
    # ':' sorts after '-' raw, but its encoding '%3A' sorts before it
    assert canonical_query({"a-": "1", "a:": "2"}) == "a%3A=2&a-=1"


def test_canonical_headers_lower_sort_and_trim() -> None:
    lines, signed = canonical_headers(
        {"X-Sdk-Date": DATE, "Host": f"  {HOST}\t", "Content-Type": " application/json "}
    )
    assert lines == f"content-type:application/json\nhost:{HOST}\nx-sdk-date:{DATE}\n"
    assert signed == "content-type;host;x-sdk-date"


def test_canonical_headers_skip_names_with_underscores() -> None:
    lines, signed = canonical_headers({"X_Trace_Id": "t", "x-trace-id": "u", "Host": "h"})
    assert (lines, signed) == ("host:h\nx-trace-id:u\n", "host;x-trace-id")


def test_a_header_given_twice_is_an_error_that_names_it_but_not_its_value() -> None:
    with pytest.raises(ValueError, match="'x-security-token'") as caught:
        canonical_headers({"X-Security-Token": "secret-token", "x-security-token": "other"})
    assert "secret-token" not in str(caught.value)


def test_string_to_sign() -> None:
    assert string_to_sign("abc", DATE) == (
        "SDK-HMAC-SHA256\n20261123T123456Z\n"
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    )


@pytest.mark.parametrize(
    ("moment", "text"),
    [
        (MOMENT, DATE),
        (datetime(2026, 11, 23, 20, 34, 56, tzinfo=timezone(timedelta(hours=8))), DATE),
        (datetime(2026, 11, 24, 2, 0, 0, tzinfo=timezone(timedelta(hours=8))), "20261123T180000Z"),
        (datetime(2026, 11, 23, 12, 34, 56, 999_999), DATE),  # naive is UTC; no fractions
        (datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC), "20260102T030405Z"),
    ],
)
def test_sdk_date(moment: datetime, text: str) -> None:
    assert sdk_date(moment) == text


def test_parse_sdk_date_round_trips() -> None:
    assert parse_sdk_date(DATE) == MOMENT
    with pytest.raises(ValueError):
        parse_sdk_date("2026-11-23T12:34:56Z")


# --- sign ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "https://FunctionGraph.CN-North-4.MyHuaweiCloud.com/v2",
        "https://functiongraph.cn-north-4.myhuaweicloud.com:443/v2",
        "https://functiongraph.cn-north-4.myhuaweicloud.com:8443/v2",
        "http://127.0.0.1:80/v2",
        "http://127.0.0.1:8080/v2",
        "http://[::1]:8080/v2",
        "https://user:pw@example.com/v2",
    ],
)
def test_host_is_signed_as_aiohttp_sends_it(url: str) -> None:
    signed = sign(ak=AK, sk=SK, method="GET", url=url, moment=MOMENT)
    assert "Host" not in signed.headers and "host" not in signed.headers
    assert "SignedHeaders=host;x-sdk-date," in signed.headers["Authorization"]
    host = yarl.URL(url).host_port_subcomponent
    assert host is not None
    assert verify(sk=SK, method="GET", url=url, headers={"Host": host, **signed.headers})


def test_a_host_given_by_the_caller_is_signed_instead() -> None:
    signed = sign(
        ak=AK,
        sk=SK,
        method="GET",
        url="http://127.0.0.1:8080/v2",
        headers={"Host": HOST},
        moment=MOMENT,
    )
    headers = {"Host": HOST, **signed.headers}
    assert verify(sk=SK, method="GET", url="http://127.0.0.1:8080/v2", headers=headers)


def test_without_project_id_only_date_and_authorization_are_added() -> None:
    signed = sign(ak=AK, sk=SK, method="GET", url=BASE, moment=MOMENT)
    assert set(signed.headers) == {"Authorization", "X-Sdk-Date"}


def test_security_token_is_sent_and_signed() -> None:
    token = "temporary-security-token-value"
    signed = sign(
        ak=AK,
        sk=SK,
        method="GET",
        url=TRACING_URL,
        headers=JSON,
        moment=MOMENT,
        project_id=PROJECT,
        security_token=token,
    )
    assert signed.headers["X-Security-Token"] == token
    signed_names = "content-type;host;x-project-id;x-sdk-date;x-security-token"
    assert f"SignedHeaders={signed_names}," in signed.headers["Authorization"]
    sent = received(TRACING_URL, JSON, signed)
    assert verify(sk=SK, method="GET", url=TRACING_URL, headers=sent)
    forged = {**sent, "X-Security-Token": "another-token"}
    assert not verify(sk=SK, method="GET", url=TRACING_URL, headers=forged)
    assert token not in repr(signed)


def test_underscore_headers_are_not_signed_but_still_allowed() -> None:
    extra = {**JSON, "X_Trace_Id": "abc"}
    signed = sign(ak=AK, sk=SK, method="GET", url=BASE, headers=extra, moment=MOMENT)
    assert "SignedHeaders=content-type;host;x-sdk-date," in signed.headers["Authorization"]
    changed = {**received(BASE, extra, signed), "X_Trace_Id": "changed"}
    assert verify(sk=SK, method="GET", url=BASE, headers=changed)


@pytest.mark.parametrize("name", ["Authorization", "x-sdk-date"])
def test_headers_that_sign_sets_cannot_be_passed(name: str) -> None:
    with pytest.raises(ValueError, match=name):
        sign(ak=AK, sk=SK, method="GET", url=BASE, headers={name: "x"}, moment=MOMENT)


@pytest.mark.parametrize(
    "url", ["/v2/relative", "ftp://example.com/v2", "https:///v2", "https://example.com:99999/"]
)
def test_a_url_that_is_not_absolute_http_is_refused(url: str) -> None:
    with pytest.raises(ValueError):
        sign(ak=AK, sk=SK, method="GET", url=url, moment=MOMENT)


@pytest.mark.parametrize(("ak", "sk"), [("", SK), ("AK WITH SPACE", SK), ("A,K", SK), (AK, "")])
def test_empty_or_malformed_keys_are_refused(ak: str, sk: str) -> None:
    with pytest.raises(ValueError, match="key"):
        sign(ak=ak, sk=sk, method="GET", url=BASE, moment=MOMENT)


def test_the_sk_never_appears_in_the_result() -> None:
    signed = sign(
        ak=AK,
        sk=SK,
        method="GET",
        url=TRACING_URL,
        headers=JSON,
        moment=MOMENT,
        project_id=PROJECT,
        security_token="tok",
    )
    assert SK not in repr(signed) and SK not in str(signed)
    assert all(SK not in value for value in signed.headers.values())


@pytest.mark.parametrize(
    ("url", "headers", "project_id", "ak"),
    [
        ("not a url", {}, None, AK),
        ("https://example.com:notaport/", {}, None, AK),
        (BASE, {"Authorization": SK}, None, AK),
        (BASE, {"X-Project-Id": SK}, SK, AK),
        (BASE, {"Host": SK, "host": SK}, None, AK),
        (BASE, {}, None, f"{AK} {SK}"),
    ],
)
def test_no_error_message_holds_the_sk(
    url: str, headers: dict[str, str], project_id: str | None, ak: str
) -> None:
    with pytest.raises(ValueError) as caught:
        sign(
            ak=ak,
            sk=SK,
            method="GET",
            url=url,
            headers=headers,
            moment=MOMENT,
            project_id=project_id,
        )
    assert SK not in str(caught.value) and SK not in repr(caught.value)


# --- verify --------------------------------------------------------------------------------


def signed_request() -> dict[str, str]:
    signed = sign(
        ak=AK,
        sk=SK,
        method="POST",
        url=f"{BASE}?maxitems=400&marker=0",
        headers=JSON,
        body=BODY,
        moment=MOMENT,
        project_id=PROJECT,
    )
    return received(BASE, JSON, signed)


def test_verify_accepts_the_signed_request() -> None:
    headers = signed_request()
    url = f"{BASE}?maxitems=400&marker=0"
    assert verify(sk=SK, method="POST", url=url, headers=headers, body=BODY)
    # header names are case-insensitive, the query order and path encoding do not matter
    lowered = {name.lower(): value for name, value in headers.items()}
    reordered = f"https://{HOST}/v2/{PROJECT}/fgs/%66unctions?marker=0&maxitems=400"
    assert verify(sk=SK, method="post", url=reordered, headers=lowered, body=BODY)
    # a header that is not signed may change
    assert verify(sk=SK, method="POST", url=url, headers={**headers, "User-Agent": "x"}, body=BODY)


SIGNED_URL = f"{BASE}?maxitems=400&marker=0"


@pytest.mark.parametrize(
    ("method", "url", "body", "sk"),
    [
        ("POST", f"{BASE}/other?maxitems=400&marker=0", BODY, SK),
        ("POST", f"{BASE}?maxitems=400&marker=1", BODY, SK),
        ("POST", f"{BASE}?maxitems=400", BODY, SK),
        ("POST", BASE, BODY, SK),
        ("POST", SIGNED_URL, BODY + b" ", SK),
        ("POST", SIGNED_URL, b"", SK),
        ("PUT", SIGNED_URL, BODY, SK),
        ("POST", SIGNED_URL, BODY, SK + "x"),
        ("POST", SIGNED_URL, BODY, ""),
    ],
)
def test_verify_rejects_a_changed_request_or_a_wrong_sk(
    method: str, url: str, body: bytes, sk: str
) -> None:
    assert not verify(sk=sk, method=method, url=url, headers=signed_request(), body=body)


@pytest.mark.parametrize(
    "change",
    [
        {"Content-Type": "text/plain"},
        {"X-Project-Id": "f" * 32},
        {"Host": "evil.example.com"},
        {"X-Sdk-Date": "20261123T123457Z"},
        {"X-Sdk-Date": "not a date"},
        {"X-Sdk-Date": "2026112T123456Z"},
        {"Authorization": "Bearer abc"},
        {"Authorization": f"{ALGORITHM} Access={AK}"},
    ],
)
def test_verify_rejects_a_changed_signed_header(change: dict[str, str]) -> None:
    headers = {**signed_request(), **change}
    assert not verify(sk=SK, method="POST", url=SIGNED_URL, headers=headers, body=BODY)


def test_verify_rejects_missing_or_tampered_signed_headers() -> None:
    url = f"{BASE}?maxitems=400&marker=0"
    headers = signed_request()
    auth = headers["Authorization"]

    def check(**replace: str | None) -> bool:
        changed = {k: v for k, v in headers.items() if replace.get(k, v) is not None}
        changed.update({k: v for k, v in replace.items() if v is not None})
        return verify(sk=SK, method="POST", url=url, headers=changed, body=BODY)

    assert check()
    assert not check(Authorization=None)
    assert not check(**{"X-Project-Id": None})
    # claiming fewer signed headers, unsorted, upper-case, or no date, all fail
    for names in [
        "host;x-sdk-date",
        "x-sdk-date;host;content-type;x-project-id",
        "Content-Type;Host;X-Project-Id;X-Sdk-Date",
        "content-type;host;x-project-id",
    ]:
        claimed = auth.replace("content-type;host;x-project-id;x-sdk-date", names)
        assert not check(Authorization=claimed), names


def test_verify_needs_x_sdk_date_signed_but_not_host() -> None:
    canonical = f"GET\n/v2/\n\nx-sdk-date:{DATE}\n\nx-sdk-date\n{EMPTY_SHA256}"
    auth = f"{ALGORITHM} Access={AK}, SignedHeaders=x-sdk-date, Signature={by_hand(canonical)}"
    headers = {"Host": HOST, "X-Sdk-Date": DATE, "Authorization": auth}
    assert verify(sk=SK, method="GET", url=f"https://{HOST}/v2", headers=headers)
    canonical = f"GET\n/v2/\n\nhost:{HOST}\n\nhost\n{EMPTY_SHA256}"
    auth = f"{ALGORITHM} Access={AK}, SignedHeaders=host, Signature={by_hand(canonical)}"
    headers = {"Host": HOST, "X-Sdk-Date": DATE, "Authorization": auth}
    assert not verify(sk=SK, method="GET", url=f"https://{HOST}/v2", headers=headers)


def test_parse_authorization() -> None:
    value = f"{ALGORITHM} Access={AK}, SignedHeaders=host;x-sdk-date, Signature=abc"
    assert parse_authorization(value) == Authorization(AK, "host;x-sdk-date", "abc")
    for bad in [
        "",
        f"AWS4-HMAC-SHA256 Access={AK}, SignedHeaders=host, Signature=abc",
        f"{ALGORITHM} Access={AK}, SignedHeaders=host",
        f"{ALGORITHM} Access={AK}, SignedHeaders=host, Signature=",
        f"{ALGORITHM} Access={AK}, Access=x, SignedHeaders=host, Signature=abc",
        f"{ALGORITHM} Access={AK}, SignedHeaders=host, Signature=abc, Extra=1",
    ]:
        assert parse_authorization(bad) is None, bad


def test_a_request_signed_for_aiohttp_verifies_on_an_aiohttp_server() -> None:
    """What aiohttp really sends (Host, re-quoted path and query) verifies against the signature."""

    async def handler(request: web.Request) -> web.Response:
        body = await request.read()
        ok = verify(
            sk=SK, method=request.method, url=str(request.url), headers=request.headers, body=body
        )
        return web.Response(status=200 if ok else 401)

    async def main() -> list[int]:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", handler)
        async with TestServer(app, host="127.0.0.1") as server, aiohttp.ClientSession() as session:
            root = str(server.make_url("/")).rstrip("/")
            requests = [
                ("GET", f"{root}/v2/{PROJECT}/fgs/functions/{URN_ENCODED}/tracing", b""),
                ("GET", f"{root}/v2/{PROJECT}/fgs/functions/{URN}/tracing", b""),
                ("GET", f"{root}/v2/{PROJECT}/fgs/functions?maxitems=400&marker=0&q=a+b%20c", b""),
                ("POST", f"{root}/v2/{PROJECT}/fgs/functions", BODY),
            ]
            statuses = []
            for method, url, body in requests:
                signed = sign(
                    ak=AK,
                    sk=SK,
                    method=method,
                    url=url,
                    headers=JSON,
                    body=body,
                    moment=MOMENT,
                    project_id=PROJECT,
                    security_token="tok",
                )
                headers = {**JSON, **signed.headers}
                async with session.request(method, url, headers=headers, data=body) as response:
                    statuses.append(response.status)
            wrong = sign(ak=AK, sk="other", method="GET", url=root + "/v2", moment=MOMENT)
            async with session.get(root + "/v2", headers=wrong.headers) as response:
                statuses.append(response.status)
            return statuses

    assert asyncio.run(main()) == [200, 200, 200, 200, 401]
