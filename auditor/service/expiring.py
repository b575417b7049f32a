"""Credentials that expire (IAM tokens, temporary keys), kept until shortly before they do.

One `ExpiringCache` holds a credential per key (a project id, "domain", an account): fetched
once however many workers wait for it, renewed `REFRESH_MARGIN` before it expires or when the
service refuses it, and a lasting refusal remembered so that IAM is not asked again with
credentials it has already turned down (a password asked too often locks the user).

What a cache has fetched lives on a `Shelf`, which may outlive it: a run lists, discovers and
audits in three event loops, each with its own session and so its own caches, and a `Shelf`
handed to all three (one per credential, from `Shelves`) lets the later ones reuse what the
first fetched instead of asking IAM again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Generic, TypeVar

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


@dataclass(repr=False)
class Shelf(Generic[T]):
    """What an `ExpiringCache` has fetched, by key: each credential and when to renew it, how
    many were fetched, and lasting refusals. Plain data (tokens, keys and their expiry), bound
    to no event loop or session, so caches of one run's successive loops can share it. Its
    `repr` counts what it holds and shows none of it: the values are credentials."""

    held: dict[str, tuple[T, datetime]] = field(default_factory=dict)
    generation: dict[str, int] = field(default_factory=dict)
    refused: dict[str, Exception] = field(default_factory=dict)

    def __repr__(self) -> str:
        return f"Shelf({len(self.held)} held, {len(self.refused)} refused, ****)"


class Shelves:
    """One `Shelf` per name (say, an account's agency tokens), made when first asked for: what
    a run has fetched, across its event loops."""

    def __init__(self) -> None:
        self._shelves: dict[str, Shelf[Any]] = {}

    def __call__(self, name: str) -> Shelf[Any]:
        shelf = self._shelves.get(name)
        if shelf is None:
            shelf = self._shelves[name] = Shelf()
        return shelf


class ExpiringCache(Generic[T]):
    """Expiring credentials by key, each fetched once however many wait for it.

    `fetch(key)` gets a fresh one (raising `CredentialsUnavailable` or `IamError` when it
    cannot), `expires(value)` says when it stops working. A credential is renewed
    `REFRESH_MARGIN` before it expires; one that lives shorter than twice the margin is renewed
    half way through its life instead, so a short-lived one is not fetched on every request.
    What it fetches is kept on `shelf` (its own when none is given).
    """

    def __init__(
        self,
        fetch: Callable[[str], Awaitable[T]],
        expires: Callable[[T], datetime],
        *,
        now: Callable[[], datetime],
        margin: timedelta = REFRESH_MARGIN,
        shelf: Shelf[T] | None = None,
    ) -> None:
        self._fetch = fetch
        self._expires = expires
        self._now = now
        self._margin = margin
        shelf = shelf if shelf is not None else Shelf()
        self._held = shelf.held  # the value, and when to renew it
        self._generation = shelf.generation
        self._refused = shelf.refused
        self._pending: dict[str, asyncio.Task[T]] = {}  # this event loop's fetches in flight

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
