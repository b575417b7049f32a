"""The cache of expiring credentials: one fetch however many wait, renewal before expiry (half
way through a short life), a refused one dropped once, lasting refusals remembered."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import datetime, timedelta

import pytest

from auditor.errors import AgencyRefused, CredentialsUnavailable, IamError
from auditor.service.expiring import REFRESH_MARGIN, ExpiringCache, Shelf, Shelves, lasting
from tests.factories import NOW, WallClock


class Fetcher:
    """Counts fetches per key and hands out `value-<key>-<n>` living `lifetime`, or raises."""

    def __init__(
        self,
        clock: WallClock,
        lifetime: timedelta = timedelta(hours=1),
        fail: Exception | None = None,
    ) -> None:
        self.clock = clock
        self.lifetime = lifetime
        self.fail = fail
        self.calls: Counter[str] = Counter()

    async def __call__(self, key: str) -> tuple[str, datetime]:
        self.calls[key] += 1
        await asyncio.sleep(0.005)
        if self.fail is not None:
            raise self.fail
        return f"value-{key}-{self.calls[key]}", self.clock() + self.lifetime


def cache_of(fetcher: Fetcher, clock: WallClock) -> ExpiringCache[tuple[str, datetime]]:
    return ExpiringCache(fetcher, lambda value: value[1], now=clock)


def test_one_fetch_however_many_wait_and_a_generation_per_fetch() -> None:
    clock = WallClock()
    fetcher = Fetcher(clock)
    cache = cache_of(fetcher, clock)

    async def main() -> list[tuple[tuple[str, datetime], int]]:
        return await asyncio.gather(*(cache.get(key) for key in ["a", "b"] * 20))

    answers = asyncio.run(main())
    assert fetcher.calls == {"a": 1, "b": 1}
    assert {value[0] for value, _ in answers} == {"value-a-1", "value-b-1"}
    assert {generation for _, generation in answers} == {1}
    assert len(cache) == 2
    assert cache.generation("a") == 1
    assert cache.generation("unknown") == 0


def test_renewed_a_margin_before_expiry() -> None:
    clock = WallClock()
    fetcher = Fetcher(clock, lifetime=timedelta(hours=1))
    cache = cache_of(fetcher, clock)

    async def main() -> None:
        await cache.get("a")
        clock.now = NOW + timedelta(hours=1) - REFRESH_MARGIN - timedelta(seconds=1)
        assert (await cache.get("a"))[1] == 1
        clock.now += timedelta(seconds=1)
        value, generation = await cache.get("a")
        assert (value[0], generation) == ("value-a-2", 2)

    asyncio.run(main())
    assert fetcher.calls["a"] == 2


def test_a_short_life_is_renewed_half_way_not_on_every_get() -> None:
    clock = WallClock()
    fetcher = Fetcher(clock, lifetime=timedelta(minutes=4))  # shorter than twice the margin
    cache = cache_of(fetcher, clock)

    async def main() -> None:
        await cache.get("a")
        clock.now = NOW + timedelta(minutes=2) - timedelta(seconds=1)
        for _ in range(5):
            await cache.get("a")
        assert fetcher.calls["a"] == 1
        clock.now = NOW + timedelta(minutes=2)
        await cache.get("a")
        assert fetcher.calls["a"] == 2

    asyncio.run(main())


def test_drop_forgets_only_the_current_generation() -> None:
    clock = WallClock()
    fetcher = Fetcher(clock)
    cache = cache_of(fetcher, clock)

    async def main() -> None:
        _, first = await cache.get("a")
        assert cache.drop("a", first) is True
        _, second = await cache.get("a")
        assert second == 2
        assert cache.drop("a", first) is True  # an old refusal: the fresh one stays
        value, generation = await cache.get("a")
        assert (value[0], generation) == ("value-a-2", 2)

    asyncio.run(main())
    assert fetcher.calls["a"] == 2


@pytest.mark.parametrize(
    "refusal",
    [
        CredentialsUnavailable("IAM refused a token: HTTP 401"),
        IamError("IAM refused: HTTP 401", status=401),
        AgencyRefused("account x: agency y refused", account="x", status=403),
    ],
)
def test_a_lasting_refusal_is_remembered_and_never_asked_again(refusal: Exception) -> None:
    clock = WallClock()
    fetcher = Fetcher(clock, fail=refusal)
    cache = cache_of(fetcher, clock)

    async def main() -> None:
        outcomes = await asyncio.gather(
            *(cache.get("a") for _ in range(10)), return_exceptions=True
        )
        assert all(type(outcome) is type(refusal) for outcome in outcomes)
        for _ in range(3):
            with pytest.raises(type(refusal)):
                await cache.get("a")
        assert cache.refused("a")
        assert cache.drop("a", 0) is False

    asyncio.run(main())
    assert fetcher.calls["a"] == 1


@pytest.mark.parametrize(
    "failure",
    [
        CredentialsUnavailable("IAM did not answer", lasting=False),
        IamError("IAM throttled", status=429, transient=True),
    ],
)
def test_a_passing_failure_is_asked_again_next_time(failure: Exception) -> None:
    clock = WallClock()
    fetcher = Fetcher(clock, fail=failure)
    cache = cache_of(fetcher, clock)

    async def main() -> None:
        for _ in range(3):
            with pytest.raises(type(failure)):
                await cache.get("a")
        assert not cache.refused("a")

    asyncio.run(main())
    assert fetcher.calls["a"] == 3


def test_what_lasts() -> None:
    assert lasting(CredentialsUnavailable("x"))
    assert not lasting(CredentialsUnavailable("x", lasting=False))
    assert lasting(IamError("x", status=403))
    assert not lasting(IamError("x", transient=True))
    assert not lasting(ValueError("a bug is not a refusal"))


# --- a shelf: what one event loop's cache fetched, for the next loop's ---------------------


def test_caches_of_successive_event_loops_share_their_shelf() -> None:
    # A run lists, discovers and audits in three event loops, each with its own cache.
    clock = WallClock()
    fetcher = Fetcher(clock)
    shelves = Shelves()
    got = []
    for _ in range(3):
        cache = ExpiringCache(fetcher, lambda value: value[1], now=clock, shelf=shelves("a"))
        got.append(asyncio.run(cache.get("p")))
    assert fetcher.calls == Counter({"p": 1})
    assert got == [got[0]] * 3
    other = ExpiringCache(fetcher, lambda value: value[1], now=clock, shelf=shelves("b"))
    asyncio.run(other.get("p"))
    assert fetcher.calls == Counter({"p": 2})  # another shelf: its own credentials


def test_a_shelf_keeps_drops_renewals_and_lasting_refusals_across_loops() -> None:
    clock = WallClock()
    fetcher = Fetcher(clock)
    shelf: Shelf[tuple[str, datetime]] = Shelf()
    first = ExpiringCache(fetcher, lambda value: value[1], now=clock, shelf=shelf)
    _, generation = asyncio.run(first.get("p"))
    assert first.drop("p", generation)
    second = ExpiringCache(fetcher, lambda value: value[1], now=clock, shelf=shelf)
    assert asyncio.run(second.get("p"))[1] == generation + 1  # the drop is seen: fetched anew
    refusing = Fetcher(clock, fail=AgencyRefused("agency refused", account="b", status=403))
    third = ExpiringCache(refusing, lambda value: value[1], now=clock, shelf=shelf)
    with pytest.raises(AgencyRefused):
        asyncio.run(third.get("q"))
    fourth = ExpiringCache(refusing, lambda value: value[1], now=clock, shelf=shelf)
    assert fourth.refused("q")
    with pytest.raises(AgencyRefused):
        asyncio.run(fourth.get("q"))
    assert refusing.calls == Counter({"q": 1})  # IAM is not asked again in the next loop


def test_a_shelf_shows_no_credential_it_holds() -> None:
    secret = "MIIplanted-agency-token-4f2a"
    shelf: Shelf[str] = Shelf()
    shelf.held["p"] = (secret, NOW)
    shelf.refused["q"] = CredentialsUnavailable("refused", lasting=True)
    shelves = Shelves()
    shelves("agency tokens of team-b").held["p"] = (secret, NOW)
    for text in (repr(shelf), str(shelf), repr(shelves), repr([shelf])):
        assert secret not in text
    assert repr(shelf) == "Shelf(1 held, 1 refused, ****)"
