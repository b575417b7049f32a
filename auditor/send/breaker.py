"""The credential guard: never hammer credentials that fail.

Every request is sent under one or more credential *scopes* (a project; for AK/SK also the
access key, shared by all projects; another account's temporary key is an access key too).
For each scope the guard keeps:

- **probation**: until the scope has had one accepted request, only one request at a time is
  sent under it, so a bad credential is found out by one request, not by a whole worker pool;
- **a failure count**: consecutive refusals that a fresh credential did not cure. A refusal is
  first answered by one retry with fresh credentials (a refreshed token, a re-signed request);
  only when that retry is refused too, or no refresh is possible, does the count go up, and the
  refresh is not tried again until a request is accepted;
- **a breaker**: at `threshold` failures the scope is open and nothing more is sent under it.

So a project whose credentials are bad receives at most `threshold + 1` requests (one of them
the retry after a refresh), and an access key, which is never retried (re-signing with the same
key cannot help), at most `min(threshold, 4)` failed signatures: the gateway locks it at five.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager, nullcontext
from dataclasses import dataclass, field

from auditor.service.auth import is_access_key_scope

DEFAULT_THRESHOLD = 3
GATEWAY_LOCK_AFTER = 5  # failed signatures in a row before the gateway locks an access key


_NOTHING_TO_HOLD: AbstractAsyncContextManager[None] = nullcontext()


@dataclass
class _Scope:
    threshold: int
    failures: int = 0
    proven: bool = False
    refresh_spent: bool = False
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class CredentialGuard:
    """Probation, failure counts and breakers per credential scope."""

    def __init__(self, threshold: int = DEFAULT_THRESHOLD) -> None:
        self.threshold = max(1, threshold)
        self._scopes: dict[str, _Scope] = {}

    def _scope(self, name: str) -> _Scope:
        scope = self._scopes.get(name)
        if scope is None:
            limit = self.threshold
            if is_access_key_scope(name):
                limit = min(limit, GATEWAY_LOCK_AFTER - 1)
            scope = self._scopes[name] = _Scope(limit)
        return scope

    def blocked(self, scopes: Sequence[str]) -> str | None:
        """Why nothing may be sent under `scopes`, or None when it may."""
        for name in scopes:
            scope = self._scope(name)
            if scope.failures >= scope.threshold:
                if is_access_key_scope(name):
                    return (
                        f"not sent: the {name} was refused {scope.failures} times in a row; "
                        f"stopped before the gateway locks it (after {GATEWAY_LOCK_AFTER})"
                    )
                return (
                    f"not sent: credentials for {name} were refused {scope.failures} times in "
                    "a row, even after a refresh; skipped after repeated credential failures"
                )
        return None

    def admitted(self, scopes: Sequence[str]) -> AbstractAsyncContextManager[None]:
        """Hold the probation locks of the unproven scopes for one request.

        Proven scopes (the normal case, once a run is under way) cost nothing here."""
        for name in scopes:
            if not self._scope(name).proven:
                return self._on_probation(scopes)
        return _NOTHING_TO_HOLD

    @asynccontextmanager
    async def _on_probation(self, scopes: Sequence[str]) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            for name in sorted(scopes):  # one order for everyone: no deadlock
                scope = self._scope(name)
                if scope.proven:
                    continue
                await scope.lock.acquire()
                if scope.proven:
                    scope.lock.release()  # proven while this one waited: no need to hold it
                else:
                    stack.callback(scope.lock.release)
            yield

    def may_refresh(self, scopes: Sequence[str]) -> bool:
        """True while no refresh has failed since the last accepted request.

        Never under an access key: a retry is one more failed signature towards the gateway's
        lock, so there every refusal counts and the cap counts signatures."""
        if any(is_access_key_scope(name) for name in scopes):
            return False
        return not any(self._scope(name).refresh_spent for name in scopes)

    def refused(self, scopes: Sequence[str], *, after_refresh: bool) -> None:
        """A request under `scopes` was refused and will not be retried.

        The scope goes back on probation: credentials that worked may have been revoked or
        expired, and until one request gets through again, one at a time is enough."""
        for name in scopes:
            scope = self._scope(name)
            scope.failures += 1
            scope.proven = False
            if after_refresh:
                scope.refresh_spent = True

    def accepted(self, scopes: Sequence[str]) -> None:
        """A request under `scopes` got through: the credentials work."""
        for name in scopes:
            scope = self._scope(name)
            scope.failures = 0
            scope.proven = True
            scope.refresh_spent = False

    def open_scopes(self) -> list[str]:
        """The scopes whose breaker is open, for the run summary."""
        return sorted(n for n, s in self._scopes.items() if s.failures >= s.threshold)
