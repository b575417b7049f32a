"""IAM, for password credentials: a project-scoped token from a username and password
(`POST /v3/auth/tokens?nocatalog=true`), its `X-Subject-Token` and `expires_at`."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

import aiohttp

from auditor.errors import CredentialsUnavailable
from auditor.service.auth import IamToken
from auditor.service.client import MAX_MESSAGE, describe_exception, read_capped


class IamClient:
    """Fetches project-scoped IAM tokens with a password (`POST /v3/auth/tokens`)."""

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
        username, password, domain = self._identity
        body = {
            "auth": {
                "identity": {
                    "methods": ["password"],
                    "password": {
                        "user": {"name": username, "password": password, "domain": {"name": domain}}
                    },
                },
                "scope": {"project": {"id": project_id}},
            }
        }
        endpoint = self._endpoints.get(project_id, self._default).rstrip("/")
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
            raise CredentialsUnavailable(
                f"IAM refused a token for project {project_id}: HTTP {status} {message}".rstrip()
            )
        return IamToken(token, _iam_expiry(data))


def _iam_message(body: bytes) -> str:
    # IAM's own error shape: {"error": {"code", "message", "title"}}; only its message is shown.
    try:
        data = json.loads(body)
    except ValueError:
        return ""
    error = data.get("error") if isinstance(data, dict) else None
    message = error.get("message") if isinstance(error, dict) else None
    return f"({message[:MAX_MESSAGE]})" if isinstance(message, str) else ""


def _iam_expiry(body: bytes) -> datetime:
    """`token.expires_at` of an IAM answer; one hour from now when it cannot be read."""
    try:
        text = json.loads(body)["token"]["expires_at"]
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except (ValueError, KeyError, TypeError, AttributeError):
        return datetime.now(UTC) + timedelta(hours=1)
    # IAM writes UTC; a time without a zone is read as UTC rather than compared naively.
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
