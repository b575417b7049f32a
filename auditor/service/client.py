"""The only module that speaks HTTP: ask FunctionGraph for one function's tracing config.

`TracingClient.probe` never raises for an HTTP answer or a network failure: it returns a
`Probe`. The tracing SK in a 200 body is never read into the probe.
"""

from __future__ import annotations

import dataclasses
import json
import re
import sys
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from urllib.parse import quote

import aiohttp
from yarl import URL

from auditor.config import DEFAULT_ENDPOINT
from auditor.errors import CredentialsUnavailable
from auditor.model import ErrorKind, Probe
from auditor.service.auth import Credentials, Outgoing
from auditor.source.urn import FunctionUrn

_MAX_BODY = 64 * 1024
LIST_MAX_BODY = 16 * 1024 * 1024  # a page of 400 functions is ~100 KiB; a runaway body stops here
_BASE_HEADERS = {"Content-Type": "application/json"}
MAX_MESSAGE = 300
# What `quote(text, safe="")` leaves alone, plus ':' (which it encodes as %3A).
_PLAIN_SEGMENT = re.compile(r"[A-Za-z0-9_.~:-]*\Z")


def endpoint_for(template: str, region: str) -> str:
    """The API base URL for `region`: `{region}` in the template is filled in."""
    return template.replace("{region}", region).rstrip("/")


def tracing_path(urn: FunctionUrn) -> str:
    """The request path; the URN travels as one percent-encoded segment (`:` -> `%3A`)."""
    unqualified = urn.unqualified
    # A parsed URN holds only letters, digits, '_', '-' and ':': then quoting is one replace,
    # ten times cheaper than `quote` on every request of the run.
    if _PLAIN_SEGMENT.match(unqualified):
        segment = unqualified.replace(":", "%3A")
    else:
        segment = quote(unqualified, safe="")
    return f"/v2/{urn.project_id}/fgs/functions/{segment}/tracing"


class TracingClient:
    """Queries `GET /v2/{project_id}/fgs/functions/{urn}/tracing` over a shared session."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        credentials: Credentials,
        *,
        endpoint: str = DEFAULT_ENDPOINT,
        endpoints: Mapping[str, str] | None = None,
        timeout: float = 10.0,
    ) -> None:
        self._session = session
        self._credentials = credentials
        self._endpoint = endpoint
        self._endpoints = dict(endpoints or {})
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._timeout_s = timeout
        self._by_region: dict[str, str] = {}  # endpoint() is asked twice per request

    def endpoint(self, region: str) -> str:
        """The base URL of `region`'s API: its override, else the template filled in. The
        rate limit is kept per endpoint."""
        base = self._by_region.get(region)
        if base is None:
            override = self._endpoints.get(region)
            base = override.rstrip("/") if override else endpoint_for(self._endpoint, region)
            self._by_region[region] = base
        return base

    async def unreachable(self, endpoint: str, timeout: float = 5.0) -> str | None:
        """Why `endpoint` cannot be reached, or None when it answers anything at all."""
        try:
            async with self._session.get(
                endpoint + "/", timeout=aiohttp.ClientTimeout(total=timeout), allow_redirects=False
            ) as response:
                await response.read()
                return None
        except TimeoutError:
            return f"no answer within {timeout:g} s"
        except (aiohttp.ClientError, OSError) as exc:
            return describe_exception(exc)

    def scopes(self, project_id: str) -> tuple[str, ...]:
        """The credential scopes requests in `project_id` are sent under."""
        return self._credentials.scopes(project_id)

    def rate_scope(self, project_id: str) -> str:
        """Whose rate limit requests in `project_id` count against: the gateway limits per
        user, so one token or access key is one scope across all its projects."""
        return self._credentials.rate_scope(project_id)

    async def refresh(self, project_id: str, rejected: str) -> bool:
        """Credentials tagged `rejected` were refused in `project_id`: get fresh ones."""
        return await self._credentials.refresh(project_id, rejected)

    async def probe(self, urn: FunctionUrn) -> Probe:
        """Ask once about `urn`'s tracing configuration."""
        return await self._get(urn.project_id, self.endpoint(urn.region) + tracing_path(urn))

    async def preflight(self, urn: FunctionUrn) -> Probe:
        """One cheap request in `urn`'s project and region (ListFunctions, one item) that
        shows whether its credentials are accepted."""
        path = f"/v2/{urn.project_id}/fgs/functions?maxitems=1"
        return await self._get(urn.project_id, self.endpoint(urn.region) + path)

    async def update_tracing(self, urn: FunctionUrn, ak: str, sk: str) -> Probe:
        """Set `urn`'s tracing keys once (UpdateTracing: `PUT .../tracing`, 200 with no body).

        The SK travels only in this request's body: it is never kept, logged or put in the
        probe (an answer that quotes it would be cut from `error_msg` too)."""
        body = json.dumps({"tracing_ak": ak, "tracing_sk": sk}).encode()
        url = self.endpoint(urn.region) + tracing_path(urn)
        probe, _ = await self._fetch(urn.project_id, url, _MAX_BODY, method="PUT", body=body)
        if probe.http_status == 200:  # 200 with no body is the documented success
            return Probe(200, request_id=probe.request_id, elapsed_ms=probe.elapsed_ms)
        if sk and sk in probe.error_msg:
            probe = dataclasses.replace(probe, error_msg=probe.error_msg.replace(sk, "****"))
        return probe

    async def _get(self, project_id: str, url: str) -> Probe:
        probe, _ = await self._fetch(project_id, url, _MAX_BODY)
        return probe

    async def _fetch(
        self, project_id: str, url: str, limit: int, *, method: str = "GET", body: bytes = b""
    ) -> tuple[Probe, bytes]:
        """One signed request: the probe, and the body (up to `limit` bytes) of any answer."""
        out = Outgoing(method, url, _BASE_HEADERS, body, project_id)
        try:
            headers, credential = await self._credentials.headers(out)
        except CredentialsUnavailable as exc:
            return Probe(None, ErrorKind.CREDENTIALS, error_msg=str(exc)[:MAX_MESSAGE]), b""
        started = time.perf_counter()
        try:
            response, answer = await exchange(self._session, out, headers, self._timeout, limit)
            probe = _probe_from_answer(response, answer, _elapsed_ms(started), credential)
            return probe, answer
        except TimeoutError:
            message = f"no answer within {self._timeout_s:g} s"
            return Probe(
                None, ErrorKind.TIMEOUT, error_msg=message, elapsed_ms=_elapsed_ms(started)
            ), b""
        except (aiohttp.ClientError, OSError) as exc:
            message = describe_exception(exc)
            return Probe(
                None, ErrorKind.CONNECTION, error_msg=message, elapsed_ms=_elapsed_ms(started)
            ), b""

    # -- discovery (ListFunctions) ----------------------------------------------------------

    async def list_functions(
        self, project_id: str, region: str, marker: int, maxitems: int
    ) -> tuple[Probe, bytes]:
        """One ListFunctions page: the probe (status, error code, request id) and the body,
        read up to `LIST_MAX_BODY` (empty unless the answer is a 200)."""
        url = (
            f"{self.endpoint(region)}/v2/{project_id}/fgs/functions"
            f"?marker={marker}&maxitems={maxitems}"
        )
        probe, body = await self._fetch(project_id, url, LIST_MAX_BODY)
        return probe, body if probe.http_status == 200 else b""


async def exchange(
    session: aiohttp.ClientSession,
    out: Outgoing,
    headers: Mapping[str, str],
    timeout: aiohttp.ClientTimeout,
    limit: int,
) -> tuple[aiohttp.ClientResponse, bytes]:
    """Send `out` once with `headers` (its authenticated headers): the answer (its status and
    headers), and its body read up to `limit` bytes. Raises `TimeoutError`, `aiohttp.ClientError`
    or `OSError` when there is no answer."""
    # No redirects: aiohttp would carry X-Auth-Token to whatever host a 3xx names, and that
    # host's answer is not the API's. A 3xx is the caller's to report as unexpected.
    async with session.request(
        out.method,
        URL(out.url, encoded=True),
        headers=headers,
        data=out.body or None,
        timeout=timeout,
        allow_redirects=False,
    ) as response:
        return response, await read_capped(response, limit)


async def read_capped(response: aiohttp.ClientResponse, limit: int = _MAX_BODY) -> bytes:
    """The whole body however many pieces it comes in, but never more than `limit`."""
    length = response.content_length
    if length is not None and length <= limit and "Content-Encoding" not in response.headers:
        # The usual small answer of a declared size: one read, as a bare client does it. Not
        # for a compressed body: its declared size says nothing of what it inflates to.
        return (await response.read())[:limit]
    chunks: list[bytes] = []
    size = 0
    while size < limit:
        chunk = await response.content.readany()
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)[:limit]


def _elapsed_ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000.0


def describe_exception(exc: BaseException) -> str:
    text = str(exc).strip()
    name = type(exc).__name__
    return (f"{name}: {text}" if text else name)[:MAX_MESSAGE]


_STATUSES = {status: status for status in range(100, 600)}


def _probe_from_answer(
    response: aiohttp.ClientResponse, body: bytes, elapsed: float, credential: str = ""
) -> Probe:
    status = _STATUSES.get(response.status, response.status)  # one int object per status
    headers = response.headers
    request_id = headers.get("X-Request-Id", "")
    retry_after = parse_retry_after(headers.get("Retry-After"))
    try:
        data = json.loads(body) if body.strip() else None
    except ValueError:
        data = None
        readable = False
    else:
        readable = True
    if not isinstance(data, dict):
        # Non-JSON error pages (a gateway's HTML 502) keep their status so retries and the
        # message still say what happened; on a 200 the answer is useless, hence BAD_BODY.
        what = _describe_body(response, body, readable, data)
        kind = ErrorKind.BAD_BODY if status == 200 else None
        return Probe(status, kind, "", what, None, request_id, retry_after, elapsed, credential)
    code = data.get("error_code")
    msg = data.get("error_msg")
    ak = data.get("tracing_ak")
    # Error codes and messages repeat across a fleet; interned, a million rows share them.
    return Probe(
        http_status=status,
        error_code=sys.intern(code[:MAX_MESSAGE]) if isinstance(code, str) else "",
        error_msg=sys.intern(msg[:MAX_MESSAGE]) if isinstance(msg, str) else "",
        tracing_ak=ak if isinstance(ak, str) else None,
        request_id=request_id,
        retry_after=retry_after,
        elapsed_ms=elapsed,
        credential=credential,
    )


def _describe_body(
    response: aiohttp.ClientResponse, body: bytes, readable: bool, data: object
) -> str:
    # Never quote the body itself: it may carry anything, secrets included.
    ctype = response.headers.get("Content-Type", "no content type").split(";")[0]
    if not body.strip():
        return f"HTTP {response.status} with an empty body"
    if readable:
        return f"HTTP {response.status} with JSON that is not an object ({type(data).__name__})"
    return f"HTTP {response.status} with a non-JSON body ({ctype}, {len(body)} bytes)"


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a `Retry-After` header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, (when - datetime.now(UTC)).total_seconds())
