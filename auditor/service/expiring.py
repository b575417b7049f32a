"""Credentials that expire (IAM tokens, temporary keys), kept until shortly before they do.

One `ExpiringCache` holds a credential per key (a project id, "domain", an account): fetched
once however many workers wait for it, renewed `REFRESH_MARGIN` before it expires or when the
service refuses it, and a lasting refusal remembered so that IAM is not asked again with
credentials it has already turned down (a password asked too often locks the user).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Generic, TypeVar

from auditor.errors import CredentialsUnavailable, IamError

REFRESH_MARGIN = timedelta(minutes=5)

T = TypeVar("T")


def lasting(exc: Exception) -> bool:
    """Whether a refusal will not change by asking again (a wrong password, a refused agency),
    as opposed to IAM being throttled or out of reach for a moment."""
    if isinstance(exc, CredentialsUnavailable):
        return exc.lasting
    if isinstance(exc, IamError):
        return not exc.transient
    return False


class ExpiringCache(Generic[T]):
    """Expiring credentials by key, each fetched once however many wait for it.

    `fetch(key)` gets a fresh one (raising `CredentialsUnavailable` or `IamError` when it
    cannot), `expires(value)` says when it stops working. A credential is renewed
    `REFRESH_MARGIN` before it expires; one that lives shorter than twice the margin is renewed
    half way through its life instead, so a short-lived one is not fetched on every request.
    """

    def __init__(
        self,
        fetch: Callable[[str], Awaitable[T]],
        expires: Callable[[T], datetime],
        *,
        now: Callable[[], datetime],
        margin: timedelta = REFRESH_MARGIN,
    ) -> None:
        self._fetch = fetch
        self._expires = expires
        self._now = now
        self._margin = margin
        self._held: dict[str, tuple[T, datetime]] = {}  # the value, and when to renew it
        self._generation: dict[str, int] = {}
        self._pending: dict[str, asyncio.Task[T]] = {}
        self._refused: dict[str, Exception] = {}

    def __len__(self) -> int:
        """How many keys hold a credential."""
        return len(self._held)

    def generation(self, key: str) -> int:
        """How many credentials were fetched for `key` (0 before the first): a version tag."""
        return self._generation.get(key, 0)

    def refused(self, key: str) -> bool:
        """Whether IAM refused `key` for good: asking again would only risk a lock."""
        return key in self._refused

    async def get(self, key: str) -> tuple[T, int]:
        """A credential for `key` that is not about to expire, and its generation."""
        held = self._held.get(key)
        if held is None or self._now() >= held[1]:
            value = await self._fetch_once(key)
        else:
            value = held[0]
        return value, self.generation(key)

    def drop(self, key: str, generation: int) -> bool:
        """The credential of `generation` was refused: forget it, if it is still the current
        one, so the next `get` fetches a fresh one. False when a fresh one cannot be had (IAM
        has refused `key` for good)."""
        if key in self._refused:
            return False
        if generation == self.generation(key):
            self._held.pop(key, None)
        return True

    async def _fetch_once(self, key: str) -> T:
        refused = self._refused.get(key)
        if refused is not None:
            raise refused.with_traceback(None)
        task = self._pending.get(key)
        if task is None:
            # One fetch per key however many workers wait: they all await this task.
            task = asyncio.ensure_future(self._fetch_and_store(key))
            self._pending[key] = task
        try:
            return await asyncio.shield(task)
        finally:
            if task.done() and self._pending.get(key) is task:
                del self._pending[key]

    async def _fetch_and_store(self, key: str) -> T:
        try:
            value = await self._fetch(key)
        except (CredentialsUnavailable, IamError) as exc:
            if lasting(exc):
                self._refused[key] = exc
            raise
        fetched = self._now()
        expires = self._expires(value)
        margin = max(timedelta(0), min(self._margin, (expires - fetched) / 2))
        self._held[key] = (value, expires - margin)
        self._generation[key] = self.generation(key) + 1
        return value
