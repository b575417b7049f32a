"""Credentials: what headers a request needs to be accepted.

Only a static `X-Auth-Token` exists today (`AUDITOR_TOKEN`); AK/SK signing and per-project IAM
tokens plug in behind the same `Credentials` protocol. A credential's `repr` never shows the
secret, so it cannot leak through a log line or a traceback.
"""

from __future__ import annotations

from typing import Protocol


class Credentials(Protocol):
    """Supplies the authentication headers for one request."""

    method: str
    """A human name of the method, for summaries and settings (never the secret)."""

    async def headers(self, project_id: str, http_method: str, url: str) -> dict[str, str]:
        """Headers that authenticate `http_method url` for `project_id`."""


class StaticToken:
    """One IAM token (`X-Auth-Token`) used for every project."""

    method = "token (AUDITOR_TOKEN)"

    def __init__(self, token: str) -> None:
        self._token = token

    async def headers(self, project_id: str, http_method: str, url: str) -> dict[str, str]:
        return {"X-Auth-Token": self._token}

    def __repr__(self) -> str:
        return "StaticToken(****)"
