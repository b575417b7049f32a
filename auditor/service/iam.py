"""IAM: every call `auditor` makes to Huawei Cloud's identity service.

- `IamClient`: tokens from a username and password (`POST /v3/auth/tokens?nocatalog=true`),
  scoped to one project (FunctionGraph takes those) or to the account's domain (IAM's listing
  calls take that);
- `IamApi`: the estate's calls made as an `Identity` (a token, a domain token, AK/SK with
  `X-Domain-Id`): the account's domain and projects, and another account's agency. It retries
  what may pass later (429 `IAM.0012`, 5xx, no answer) a few times, renews a refused token
  once, and turns every other failure into an `IamError` that says what to do.

No message carries a secret: of IAM's answer only its error code and message are shown, with
any credential it echoes (any this `IamApi` has sent or been handed) blotted out.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
from multidict import CIMultiDict

from auditor.config import DEFAULT_IAM_ENDPOINT
from auditor.errors import AgencyRefused, CredentialsUnavailable, IamError
from auditor.service.auth import IamToken, Outgoing
from auditor.service.client import (
    MAX_MESSAGE,
    describe_exception,
    exchange,
    parse_retry_after,
    read_capped,
)
from auditor.service.identity import Identity

IAM_MAX_BODY = 8 * 1024 * 1024  # a listing of thousands of projects is a few MiB at most
RETRY_DELAY = 2.0  # seconds, times the attempt: Huawei advises waiting 2-5 s after a 429
_BASE_HEADERS = {"Content-Type": "application/json;charset=utf8"}
# Headers whose values are credentials: blotted out of anything IAM says back.
_SECRET_HEADERS = ("x-auth-token", "x-security-token", "x-subject-token")
_SHORTEST_SECRET = 8  # shorter values are not credentials; blotting them would garble messages


class IamClient:
    """Fetches IAM tokens with a password (`POST /v3/auth/tokens`): project- or domain-scoped."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        username: str,
        password: str,
        domain: str,
        endpoint_for_project: Mapping[str, str],
        default_endpoint: str,
        timeout: float = 10.0,
    ) -> None:
        self._session = session
        self._identity = (username, password, domain)
        self._endpoints = dict(endpoint_for_project)
        self._default = default_endpoint.rstrip("/")
        self._timeout = aiohttp.ClientTimeout(total=timeout)

    async def fetch(self, project_id: str) -> IamToken:
        """A token scoped to `project_id`; `CredentialsUnavailable` says why there is none."""
        endpoint = self._endpoints.get(project_id, self._default).rstrip("/")
        scope = {"project": {"id": project_id}}
        return await self._token(scope, endpoint, f"a token for project {project_id}")

    async def fetch_domain(self) -> IamToken:
        """A token scoped to the user's account (its domain), for IAM's listing calls, from the
        default endpoint; `IamError` says why there is none."""
        domain = self._identity[2]
        try:
            return await self._token(
                {"domain": {"name": domain}}, self._default, f"a token for account {domain}"
            )
        except CredentialsUnavailable as exc:
            raise IamError(
                f"{exc}; check HUAWEICLOUD_USERNAME, HUAWEICLOUD_PASSWORD and "
                "HUAWEICLOUD_DOMAIN_NAME",
                transient=not exc.lasting,
            ) from None

    async def _token(self, scope: Mapping[str, Any], endpoint: str, what: str) -> IamToken:
        username, password, domain = self._identity
        body = {
            "auth": {
                "identity": {
                    "methods": ["password"],
                    "password": {
                        "user": {"name": username, "password": password, "domain": {"name": domain}}
                    },
                },
                "scope": scope,
            }
        }
        url = f"{endpoint}/v3/auth/tokens?nocatalog=true"
        try:
            async with self._session.post(
                url, json=body, timeout=self._timeout, allow_redirects=False
            ) as response:
                data = await read_capped(response)
                token = response.headers.get("X-Subject-Token", "")
                status = response.status
        except TimeoutError:
            raise CredentialsUnavailable(f"IAM at {endpoint} did not answer") from None
        except (aiohttp.ClientError, OSError) as exc:
            raise CredentialsUnavailable(
                f"IAM at {endpoint} unreachable ({describe_exception(exc)})"
            ) from None
        if status != 201 or not token:
            # IAM's own message is shown, but never anything of the identity it was sent: an
            # IAM (or a proxy posing as one) that echoes the password must not put it in a row.
            message = _iam_message(data)
            if password:
                message = message.replace(password, "****")
            raise CredentialsUnavailable(f"IAM refused {what}: HTTP {status} {message}".rstrip())
        return IamToken(token, iam_expiry(data))


@dataclass(frozen=True, slots=True, repr=False)
class IamAnswer:
    """A successful IAM answer: its status, headers and JSON object. The headers and body may
    hold credentials (`X-Subject-Token`, temporary keys): its `repr` shows neither."""

    status: int
    headers: Mapping[str, str]
    data: dict[str, Any]

    def __repr__(self) -> str:
        return f"IamAnswer({self.status}, ****)"


@dataclass(frozen=True, slots=True, repr=False)
class _Reply:
    status: int | None  # None: no answer, `problem` says why
    headers: Mapping[str, str]
    raw: bytes
    problem: str = ""


class IamApi:
    """The estate's IAM calls, made as an `Identity`, over a shared session.

    `endpoint` is IAM's base URL (the global one by default, or `--iam-endpoint`); `retries`
    is how many more times a throttled (429), failed (5xx) or unanswered call is made, after
    `RETRY_DELAY` times the attempt (or the `Retry-After` IAM sends); `sleep` is injected so
    tests do not wait.
    """

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        endpoint: str = DEFAULT_IAM_ENDPOINT,
        timeout: float = 10.0,
        retries: int = 2,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._session = session
        self.endpoint = endpoint.rstrip("/")
        self._timeout_s = timeout
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._retries = max(0, retries)
        self._sleep = sleep
        self._secrets: set[str] = set()
        # One GET /v3/auth/domains per identity, however many calls wait for it; a lock per
        # identity, as finding an agency's account may need ours found first.
        self._domain_lookups: dict[int, asyncio.Lock] = {}

    def conceal(self, *values: str) -> None:
        """Credentials that must never appear in a message: every later error blots them out.
        The tokens sent and received are concealed by `call` itself; temporary keys, which
        come in a body, by whoever reads them."""
        self._secrets.update(value for value in values if len(value) >= _SHORTEST_SECRET)

    async def domain_id(self, identity: Identity) -> str:
        """The id of the account `identity` acts in: known already, or asked of IAM
        (`GET /v3/auth/domains`, the one signed call without `X-Domain-Id`) and kept."""
        if identity.domain_id:
            return identity.domain_id
        async with self._domain_lookups.setdefault(id(identity), asyncio.Lock()):
            if not identity.domain_id:
                answer = await self.call(
                    "GET", "/v3/auth/domains", identity, what="the account's id", domain=False
                )
                domains = answer.data.get("domains")
                first = domains[0] if isinstance(domains, list) and domains else None
                domain_id = first.get("id") if isinstance(first, dict) else None
                if not isinstance(domain_id, str) or not domain_id:
                    message = "IAM's list of domains names no account: check --iam-endpoint"
                    raise IamError(_for(identity.account, message), account=identity.account)
                identity.domain_id = domain_id
        return identity.domain_id

    async def call(
        self,
        method: str,
        path: str,
        identity: Identity,
        *,
        what: str,
        body: Mapping[str, Any] | None = None,
        expect: tuple[int, ...] = (200,),
        account: str | None = None,
        agency: str = "",
        domain: bool = True,
    ) -> IamAnswer:
        """Make one IAM call (`path` with its query) as `identity` and return the answer.

        `what` names the call in messages ("the account's projects"); `account` the account it
        is for (by default the identity's). With `agency` (the agency's name) a 403 or 404 is
        `AgencyRefused`. A signing identity's call carries `X-Domain-Id` unless `domain` is
        False. Raises `IamError` for any answer but `expect`, after the retries.
        """
        whose = identity.account if account is None else account
        base = dict(_BASE_HEADERS)
        if identity.signs and domain:
            base["X-Domain-Id"] = await self.domain_id(identity)
        data = json.dumps(body).encode() if body is not None else b""
        out = Outgoing(method, self.endpoint + path, base, data)
        renewed = False
        attempt = 0
        while True:
            attempt += 1
            headers, tag = await identity.headers(out)
            self.conceal(*_credentials_in(headers))
            reply = await self._send(out, headers)
            self.conceal(*_credentials_in(reply.headers))
            if reply.status in expect:
                return IamAnswer(reply.status, reply.headers, self._json(reply, what, whose))
            if reply.status == 401 and not renewed and await identity.refresh(tag):
                renewed, attempt = True, attempt - 1  # a stale token: once more with a fresh one
                continue
            transient = reply.status is None or reply.status == 429 or reply.status >= 500
            if transient and attempt <= self._retries:
                await self._sleep(_delay(reply.headers, attempt))
                continue
            if reply.status is None:
                message = _for(whose, f"{reply.problem} (asked {attempt} times)")
                raise IamError(message, account=whose, transient=True)
            code, said = iam_error(reply.raw)
            said = self._blot(said)
            raise _refusal(reply.status, code, said, what, whose, agency, attempt)

    async def _send(self, out: Outgoing, headers: Mapping[str, str]) -> _Reply:
        try:
            response, raw = await exchange(self._session, out, headers, self._timeout, IAM_MAX_BODY)
            # A copy that stays case-insensitive: `x-subject-token` is `X-Subject-Token`.
            return _Reply(response.status, CIMultiDict(response.headers), raw)
        except TimeoutError:
            problem = (
                f"IAM at {self.endpoint} did not answer within {self._timeout_s:g} s: check "
                "--iam-endpoint and the network, or raise --timeout"
            )
        except (aiohttp.ClientError, OSError) as exc:
            problem = (
                f"IAM at {self.endpoint} unreachable ({describe_exception(exc)}): check "
                "--iam-endpoint and the network"
            )
        return _Reply(None, {}, b"", problem)

    def _blot(self, text: str) -> str:
        """`text` with every credential this IAM has been sent or has handed out replaced by
        `****`: an IAM (or a proxy posing as one) that echoes them must not put them in a
        message."""
        for secret in sorted(self._secrets, key=len, reverse=True):
            text = text.replace(secret, "****")
        return text

    def _json(self, reply: _Reply, what: str, account: str) -> dict[str, Any]:
        try:
            data = json.loads(reply.raw) if reply.raw.strip() else {}
        except ValueError:
            data = None
        if not isinstance(data, dict):
            message = (
                f"IAM answered {what} with HTTP {reply.status} but not a JSON object: check "
                "that --iam-endpoint points at IAM"
            )
            raise IamError(_for(account, message), account=account, status=reply.status)
        return data


def iam_error(body: bytes) -> tuple[str, str]:
    """IAM's error code and message, `("", "")` where absent. IAM answers
    `{"error": {"code", "message", "title"}}` (its code a string like `IAM.0012`, or the HTTP
    status as a number); the API gateway in front of it `{"error_code", "error_msg"}`."""
    try:
        data = json.loads(body)
    except ValueError:
        return "", ""
    if not isinstance(data, dict):
        return "", ""
    error = data.get("error")
    if isinstance(error, dict):
        code, message = error.get("code"), error.get("message")
    else:
        code, message = data.get("error_code"), data.get("error_msg")
    code = str(code) if isinstance(code, str | int) and not isinstance(code, bool) else ""
    message = message if isinstance(message, str) else ""
    return code[:MAX_MESSAGE], message[:MAX_MESSAGE]


def _iam_message(body: bytes) -> str:
    _, message = iam_error(body)
    return f"({message})" if message else ""


def iam_expiry(body: bytes) -> datetime:
    """`token.expires_at` of an IAM answer; one hour from now when it cannot be read."""
    try:
        return parse_expiry(json.loads(body)["token"]["expires_at"])
    except (ValueError, KeyError, TypeError):
        return datetime.now(UTC) + timedelta(hours=1)


def parse_expiry(text: Any) -> datetime:
    """An IAM time (`2024-05-07T07:08:09.123000Z`) as an aware datetime; `ValueError` when it
    is not one. IAM writes UTC: a time without a zone is read as UTC, not compared naively."""
    if not isinstance(text, str):
        raise ValueError("not a time")
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _delay(headers: Mapping[str, str], attempt: int) -> float:
    retry_after = parse_retry_after(headers.get("Retry-After"))
    return retry_after if retry_after is not None else RETRY_DELAY * attempt


def _credentials_in(headers: Mapping[str, str]) -> list[str]:
    return [value for name, value in headers.items() if name.lower() in _SECRET_HEADERS]


def _for(account: str, message: str) -> str:
    return f"account {account}: {message}" if account else message


def _refusal(
    status: int, code: str, said: str, what: str, account: str, agency: str, attempts: int
) -> IamError:
    """The error for IAM's refusal of `what`, saying what to do about it."""
    detail = f"HTTP {status}" + (f" {code}" if code and code != str(status) else "")
    detail += f": {said}" if said else ""
    transient = status == 429 or status >= 500
    if agency and status in (403, 404):
        return AgencyRefused(
            f"account {account}: agency {agency} refused ({detail}): check that the account "
            f"has an agency named {agency} that trusts these credentials' account and grants "
            "FunctionGraph read access, and that this user may assume it",
            account=account,
            status=status,
            code=code,
        )
    if status == 429:
        text = (
            f"IAM throttled {what} ({detail}) {attempts} times in a row: wait a minute and run "
            "again"
        )
    elif status >= 500:
        text = f"IAM failed {what} ({detail}) {attempts} times in a row: try again later"
    elif status == 401:
        text = f"IAM refused {what} ({detail}): the credentials are wrong or expired; check them"
    elif status == 403:
        text = (
            f"IAM refused {what} ({detail}): the user lacks the permission for it; grant it, or "
            "use credentials of a user who has it"
        )
    else:
        text = f"IAM answered {what} with {detail}: check that --iam-endpoint points at IAM"
    message = _for(account, text)
    return IamError(message, account=account, status=status, code=code, transient=transient)
