"""AK/SK request signing, `SDK-HMAC-SHA256` as Huawei Cloud's official SDKs and gateway do it.

A pure module: no I/O and no clock (the moment is passed in), so both halves are tested with
fixed vectors. `sign` is the client half; `verify` is the gateway half, used by the emulator::

    canonical request = METHOD \\n URI \\n QUERY \\n HEADERS \\n SIGNED \\n HEX(SHA256(body))
    string to sign    = SDK-HMAC-SHA256 \\n X-Sdk-Date \\n HEX(SHA256(canonical request))
    signature         = HEX(HMAC-SHA256(key=SK, string to sign))

HEADERS is one `name:value\\n` line per signed header, so the canonical request holds an empty
line before SIGNED, exactly as the SDKs build it. No error path formats the SK, a header value
or the URL: messages name the header or argument at fault, never the secret.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import quote, unquote, urlsplit

ALGORITHM = "SDK-HMAC-SHA256"
DATE_FORMAT = "%Y%m%dT%H%M%SZ"

_DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True, slots=True, repr=False)
class SignedHeaders:
    """The headers to add to the request; `host` is signed but not here (aiohttp sends it)."""

    headers: dict[str, str]

    def __repr__(self) -> str:
        shown = {
            k: "****" if k.lower() == "x-security-token" else v for k, v in self.headers.items()
        }
        return f"SignedHeaders({shown!r})"


@dataclass(frozen=True, slots=True)
class Authorization:
    """The parts of an `Authorization: SDK-HMAC-SHA256 ...` header."""

    access: str
    signed_headers: str
    signature: str


def _encode(text: str) -> str:
    # Only RFC 3986 unreserved characters (A-Za-z0-9-_.~) stay; everything else is %XX (UTF-8).
    return quote(text, safe="")


def canonical_uri(path: str) -> str:
    """Percent-decode `path`, re-encode each segment, and end it with `/` (the SDKs do)."""
    uri = "/".join(_encode(segment) for segment in unquote(path).split("/"))
    return uri if uri.endswith("/") else uri + "/"


def canonical_query(query: str | Mapping[str, str | Sequence[str]]) -> str:
    """Encoded `k=v` pairs sorted by key then value, joined by `&`; `""` when there are none.

    A string is a raw query (`a=1&b=x%3Ay`): it is split and percent-decoded first, and pieces
    with an empty name are dropped, as the SDKs do.
    """
    pairs: list[tuple[str, str]] = []
    if isinstance(query, str):
        for piece in query.removeprefix("?").split("&"):
            name, _, value = piece.partition("=")
            if name:
                pairs.append((unquote(name), unquote(value)))
    else:
        for name, values in query.items():
            for value in [values] if isinstance(values, str) else values:
                pairs.append((name, value))
    return "&".join(f"{k}={v}" for k, v in sorted((_encode(k), _encode(v)) for k, v in pairs))


def canonical_headers(headers: Mapping[str, str]) -> tuple[str, str]:
    """`(lines, signed_names)`: lower-cased sorted names, trimmed values, one line each.

    Names containing `_` are skipped: proxies commonly drop such headers, so a signature over
    them could never be verified (Huawei's Go SDK skips them too).
    """
    lowered: dict[str, str] = {}
    for name, value in headers.items():
        key = name.strip().lower()
        if "_" in key:
            continue
        if key in lowered:
            raise ValueError(f"header {key!r} is given more than once; give it once")
        lowered[key] = value.strip()
    names = sorted(lowered)
    return "".join(f"{n}:{lowered[n]}\n" for n in names), ";".join(names)


def canonical_request(
    method: str,
    path: str,
    query: str | Mapping[str, str | Sequence[str]],
    headers: Mapping[str, str],
    body: bytes,
) -> tuple[str, str]:
    """`(canonical request, signed header names)` for the headers that are signed."""
    lines, signed = canonical_headers(headers)
    text = "\n".join(
        [
            method.upper(),
            canonical_uri(path),
            canonical_query(query),
            lines,  # already ends in "\n": the empty line the SDKs produce
            signed,
            hashlib.sha256(body).hexdigest(),
        ]
    )
    return text, signed


def string_to_sign(canonical: str, sdk_date: str) -> str:
    """`SDK-HMAC-SHA256`, the `X-Sdk-Date` value and the canonical request's SHA-256, by line."""
    digest = hashlib.sha256(canonical.encode("utf-8")).hexdigest()
    return f"{ALGORITHM}\n{sdk_date}\n{digest}"


def sdk_date(moment: datetime) -> str:
    """`YYYYMMDDTHHMMSSZ` in UTC; an aware `moment` is converted, a naive one is taken as UTC."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.strftime(DATE_FORMAT)


def parse_sdk_date(text: str) -> datetime:
    """The aware UTC moment an `X-Sdk-Date` value names; `ValueError` if it is malformed."""
    return datetime.strptime(text, DATE_FORMAT).replace(tzinfo=UTC)


def parse_authorization(value: str) -> Authorization | None:
    """Split `SDK-HMAC-SHA256 Access=.., SignedHeaders=.., Signature=..`; None if it is not one."""
    scheme, _, rest = value.strip().partition(" ")
    if scheme != ALGORITHM:
        return None
    fields: dict[str, str] = {}
    for item in rest.split(","):
        key, sep, field = item.strip().partition("=")
        if not sep or key in fields:
            return None
        fields[key] = field
    if set(fields) != {"Access", "SignedHeaders", "Signature"} or not all(fields.values()):
        return None
    return Authorization(fields["Access"], fields["SignedHeaders"], fields["Signature"])


def _host_header(url: str) -> tuple[str, str, str]:
    """`(host header, path, query)` of an absolute URL; the host as aiohttp sends it."""
    parts = urlsplit(url)
    host = parts.hostname
    if parts.scheme not in _DEFAULT_PORTS or not host:
        raise ValueError("sign() needs an absolute http:// or https:// URL")
    if ":" in host:
        host = f"[{host}]"
    port = parts.port  # raises ValueError (without the URL) for a bad port
    if port is not None and port != _DEFAULT_PORTS[parts.scheme]:
        host = f"{host}:{port}"
    return host, parts.path, parts.query


def _signature(sk: str, to_sign: str) -> str:
    return hmac.new(sk.encode("utf-8"), to_sign.encode("utf-8"), hashlib.sha256).hexdigest()


def sign(
    *,
    ak: str,
    sk: str,
    method: str,
    url: str,
    headers: Mapping[str, str] | None = None,
    body: bytes = b"",
    moment: datetime,
    project_id: str | None = None,
    security_token: str | None = None,
) -> SignedHeaders:
    """Sign `method url` at `moment`; every header in `headers` (bar `_` names) is signed.

    Send `headers` unchanged plus the returned ones. `host` and `x-sdk-date` are always signed,
    and `x-project-id` / `x-security-token` when given.
    """
    if not ak or any(c in ak for c in " ,="):
        raise ValueError("the access key (AK) is empty or holds a space, ',' or '='")
    if not sk:
        raise ValueError("the secret key (SK) is empty")
    host, path, query = _host_header(url)
    added = {"X-Sdk-Date": sdk_date(moment)}
    if project_id is not None:
        added["X-Project-Id"] = project_id
    if security_token is not None:
        added["X-Security-Token"] = security_token
    given = dict(headers or {})
    # A caller's copy of a header sign() sets would be signed with one value and sent with two.
    own = {"authorization"} | {name.lower() for name in added}
    clashes = sorted(name for name in given if name.lower() in own)
    if clashes:
        raise ValueError(f"sign() sets {', '.join(clashes)} itself; do not pass it in headers")
    to_sign = {**given, **added}
    if not any(n.lower() == "host" for n in given):
        to_sign["Host"] = host
    canonical, signed = canonical_request(method, path, query, to_sign, body)
    signature = _signature(sk, string_to_sign(canonical, added["X-Sdk-Date"]))
    authorization = f"{ALGORITHM} Access={ak}, SignedHeaders={signed}, Signature={signature}"
    return SignedHeaders({"Authorization": authorization, **added})


def verify(
    *, sk: str, method: str, url: str, headers: Mapping[str, str], body: bytes = b""
) -> bool:
    """Whether `headers` carry a valid signature by `sk` of this request (the gateway's check).

    `url` is the URL as received (its raw path and query). The headers named in SignedHeaders
    are taken from `headers`; `x-sdk-date` must be among them. Checking that the date is recent,
    and which SK belongs to the Access key (`parse_authorization`), is the caller's job.
    """
    received = {name.lower(): value for name, value in headers.items()}
    auth = parse_authorization(received.get("authorization", ""))
    if auth is None or not sk:
        return False
    names = auth.signed_headers.split(";")
    if "x-sdk-date" not in names or any(n not in received for n in names):
        return False
    date = received["x-sdk-date"].strip()
    try:
        if sdk_date(parse_sdk_date(date)) != date:
            return False
        parts = urlsplit(url)
        canonical, signed = canonical_request(
            method, parts.path, parts.query, {n: received[n] for n in names}, body
        )
    except ValueError:
        return False
    if signed != auth.signed_headers:  # not lower-case, not sorted, or a `_` name
        return False
    expected = _signature(sk, string_to_sign(canonical, date))
    return hmac.compare_digest(expected.encode(), auth.signature.encode("utf-8", "replace"))
