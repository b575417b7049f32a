"""The credential guard: probation, failure counts, breakers, and the access-key cap."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from auditor.send.breaker import DEFAULT_THRESHOLD, GATEWAY_LOCK_AFTER, CredentialGuard
from auditor.service.auth import ACCESS_KEY_SCOPE, access_key_scope, project_scope
from tests.factories import ConcurrencySpy

A = project_scope("0123456789abcdef0123456789abcdef")
B = project_scope("fedcba9876543210fedcba9876543210")


async def request(
    spy: ConcurrencySpy,
    guard: CredentialGuard,
    scopes: Sequence[str],
    name: str,
    *,
    accept: bool = False,
) -> None:
    """A request admitted by `guard`, counted by `spy` while it is inside. It stays inside a
    few milliseconds, so that the others have come to the guard by the time it leaves."""
    async with guard.admitted(scopes):
        with spy.inside(name):
            await asyncio.sleep(0.005)
            if accept:
                guard.accepted(scopes)


def test_defaults() -> None:
    assert CredentialGuard().threshold == DEFAULT_THRESHOLD == 3
    assert GATEWAY_LOCK_AFTER == 5
    assert CredentialGuard(0).threshold == 1  # never "no breaker at all"
    assert CredentialGuard(-5).threshold == 1


# --- probation -----------------------------------------------------------------------------


def test_unproven_scope_admits_one_request_at_a_time() -> None:
    guard, spy = CredentialGuard(), ConcurrencySpy()

    async def main() -> None:
        await asyncio.gather(request(spy, guard, [A], "1"), request(spy, guard, [A], "2"))

    asyncio.run(main())
    assert spy.most == 1
    assert spy.order == ["start 1", "end 1", "start 2", "end 2"]


def test_refused_requests_keep_the_scope_on_probation() -> None:
    guard, spy = CredentialGuard(threshold=100), ConcurrencySpy()

    async def refused(name: str) -> None:
        await request(spy, guard, [A], name)
        guard.refused([A], after_refresh=False)

    async def main() -> None:
        await asyncio.gather(*(refused(str(n)) for n in range(5)))

    asyncio.run(main())
    assert spy.most == 1


def test_after_acceptance_requests_run_together() -> None:
    guard, spy = CredentialGuard(), ConcurrencySpy()

    async def main() -> None:
        await request(spy, guard, [A], "probe", accept=True)
        await asyncio.gather(*(request(spy, guard, [A], str(n)) for n in range(10)))

    asyncio.run(main())
    assert spy.most == 10


def test_waiters_run_together_once_the_first_request_is_accepted() -> None:
    guard, spy = CredentialGuard(), ConcurrencySpy()

    async def main() -> None:
        first = asyncio.create_task(request(spy, guard, [A], "first", accept=True))
        await asyncio.sleep(0)  # the first one holds the probation lock
        await asyncio.gather(first, *(request(spy, guard, [A], str(n)) for n in range(5)))

    asyncio.run(main())
    assert spy.order[:2] == ["start first", "end first"]
    # The waiters queued behind the lock find the scope proven and do not hold the lock: they
    # overlap. (Each still passes through the lock once, but only for an instant.)
    assert spy.most == 5


def test_a_waiter_that_finds_the_scope_proven_releases_the_lock() -> None:
    guard = CredentialGuard()
    seen: list[bool] = []

    async def main() -> None:
        async def first() -> None:
            async with guard.admitted([A]):
                await asyncio.sleep(0.005)
                guard.accepted([A])

        async def waiter() -> None:
            async with guard.admitted([A]):
                # White-box: the probation lock is the only state that shows who holds it.
                seen.append(guard._scopes[A].lock.locked())

        task = asyncio.create_task(first())
        await asyncio.sleep(0)
        await asyncio.gather(task, waiter())

    asyncio.run(main())
    assert seen == [False]


def test_proven_scope_does_not_spare_an_unproven_one() -> None:
    guard, spy = CredentialGuard(), ConcurrencySpy()

    async def main() -> None:
        guard.accepted([A])
        await asyncio.gather(
            request(spy, guard, [A, ACCESS_KEY_SCOPE], "1"),
            request(spy, guard, [B, ACCESS_KEY_SCOPE], "2"),
        )

    asyncio.run(main())
    assert spy.most == 1  # the access key is still on probation: shared by both projects


def test_scopes_in_any_order_do_not_deadlock() -> None:
    guard, spy = CredentialGuard(), ConcurrencySpy()

    async def main() -> None:
        await asyncio.wait_for(
            asyncio.gather(
                *(request(spy, guard, [A, ACCESS_KEY_SCOPE], f"x{n}") for n in range(5)),
                *(request(spy, guard, [ACCESS_KEY_SCOPE, A], f"y{n}") for n in range(5)),
            ),
            timeout=2,
        )

    asyncio.run(main())
    assert spy.most == 1
    assert len(spy.order) == 20


def test_locks_are_released_when_the_request_raises() -> None:
    guard = CredentialGuard()

    async def main() -> None:
        with pytest.raises(RuntimeError):
            async with guard.admitted([A, ACCESS_KEY_SCOPE]):
                raise RuntimeError("boom")
        async with asyncio.timeout(1):
            async with guard.admitted([A, ACCESS_KEY_SCOPE]):
                pass

    asyncio.run(main())


# --- failure counts and breakers -----------------------------------------------------------


def test_refusals_below_the_threshold_do_not_block() -> None:
    guard = CredentialGuard(threshold=3)
    assert guard.blocked([A]) is None
    guard.refused([A], after_refresh=False)
    guard.refused([A], after_refresh=True)
    assert guard.blocked([A]) is None
    assert guard.open_scopes() == []


def test_threshold_refusals_open_the_breaker() -> None:
    guard = CredentialGuard(threshold=3)
    for _ in range(3):
        guard.refused([A], after_refresh=False)
    message = guard.blocked([A])
    assert message is not None
    assert A in message
    assert "3 times" in message
    assert "skipped after repeated credential failures" in message
    assert guard.blocked([B]) is None  # other projects are not affected
    assert guard.open_scopes() == [A]


def test_acceptance_resets_the_count() -> None:
    guard = CredentialGuard(threshold=3)
    guard.refused([A], after_refresh=False)
    guard.refused([A], after_refresh=False)
    guard.accepted([A])
    guard.refused([A], after_refresh=False)
    guard.refused([A], after_refresh=False)
    assert guard.blocked([A]) is None  # not in a row: an acceptance came between


def test_blocked_if_any_scope_is_open() -> None:
    guard = CredentialGuard(threshold=2)
    guard.refused([A], after_refresh=False)
    guard.refused([A], after_refresh=False)
    assert guard.blocked([A, ACCESS_KEY_SCOPE]) is not None
    assert guard.blocked([ACCESS_KEY_SCOPE, A]) is not None
    assert guard.blocked([B, ACCESS_KEY_SCOPE]) is None


def test_access_key_is_capped_below_the_gateway_lock() -> None:
    guard = CredentialGuard(threshold=10)
    for n in range(1, 4):
        guard.refused([A, ACCESS_KEY_SCOPE], after_refresh=False)
        assert guard.blocked([B, ACCESS_KEY_SCOPE]) is None, n
    guard.refused([B, ACCESS_KEY_SCOPE], after_refresh=False)  # the 4th, in another project
    message = guard.blocked([B, ACCESS_KEY_SCOPE])
    assert message is not None
    assert "access key" in message
    assert "4 times" in message
    assert "gateway" in message
    assert guard.blocked([A]) is None  # the project itself is far from its own threshold
    assert guard.open_scopes() == [ACCESS_KEY_SCOPE]


def test_access_key_follows_a_lower_threshold() -> None:
    guard = CredentialGuard(threshold=2)
    guard.refused([ACCESS_KEY_SCOPE], after_refresh=False)
    assert guard.blocked([ACCESS_KEY_SCOPE]) is None
    guard.refused([ACCESS_KEY_SCOPE], after_refresh=False)
    assert guard.blocked([ACCESS_KEY_SCOPE]) is not None


def test_open_scopes_lists_every_open_breaker_sorted() -> None:
    guard = CredentialGuard(threshold=1)
    guard.refused([B], after_refresh=False)
    guard.refused([A, ACCESS_KEY_SCOPE], after_refresh=False)
    guard.blocked([project_scope("never-refused")])  # known but closed: not listed
    assert guard.open_scopes() == sorted([A, B, ACCESS_KEY_SCOPE])
    guard.accepted([B])
    assert guard.open_scopes() == sorted([A, ACCESS_KEY_SCOPE])


# --- refresh budget ------------------------------------------------------------------------


def test_may_refresh_until_a_refresh_fails() -> None:
    guard = CredentialGuard()
    assert guard.may_refresh([A])
    guard.refused([A], after_refresh=False)  # no refresh was tried: the budget is intact
    assert guard.may_refresh([A])
    guard.refused([A], after_refresh=True)
    assert not guard.may_refresh([A])
    assert guard.may_refresh([B])
    guard.accepted([A])
    assert guard.may_refresh([A])


def test_a_spent_shared_scope_stops_refreshes_in_every_project() -> None:
    shared = "shared credential"
    guard = CredentialGuard()
    guard.refused([A, shared], after_refresh=True)
    assert not guard.may_refresh([B, shared])
    guard.accepted([B, shared])
    assert guard.may_refresh([B, shared])
    assert not guard.may_refresh([A, shared])  # A's own refresh failed too


def test_nothing_under_an_access_key_is_ever_refreshed() -> None:
    # A retry is one more failed signature towards the gateway's lock at five.
    guard = CredentialGuard()
    assert not guard.may_refresh([A, ACCESS_KEY_SCOPE])
    guard.accepted([A, ACCESS_KEY_SCOPE])
    assert not guard.may_refresh([A, ACCESS_KEY_SCOPE])
    assert guard.may_refresh([A])


def test_another_accounts_temporary_key_is_guarded_like_an_access_key_of_its_own() -> None:
    theirs = access_key_scope("acme-prod")
    guard = CredentialGuard(threshold=10)
    assert not guard.may_refresh([A, theirs])  # a retry is a failed signature too
    for _ in range(GATEWAY_LOCK_AFTER - 1):
        guard.refused([A, theirs], after_refresh=False)
    message = guard.blocked([B, theirs])
    assert message is not None
    assert "access key of account acme-prod" in message
    assert "gateway" in message
    assert guard.blocked([B, ACCESS_KEY_SCOPE]) is None  # our own key is another key
    assert guard.open_scopes() == [theirs]
