"""The emulator's gateway rate limit: windows per user or project, schedules, the timeline.

`RateLimit` on its own on made-up times; the server through `create_app` on a fake clock, so
every request of a scenario happens at the instant the test says, and nothing sleeps.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from auditor.emulator import (
    DEFAULT_AK,
    DEFAULT_SK,
    Behaviour,
    EmulatorConfig,
    RateLimit,
    RunningEmulator,
    Stats,
    create_app,
    parse_schedule,
)
from auditor.emulator.auth import ANONYMOUS, CredentialCheck
from auditor.emulator.ratelimit import describe
from auditor.service.signer import sign
from tests.emulator.test_auth import iam_token, signed
from tests.emulator.test_server import FLEET, fetch, tracing_url

OTHER_AK, OTHER_SK = "EMULATOROTHERAK12345", "another-secret-key-0123456789abcdef"
TWO_KEYS = {DEFAULT_AK: DEFAULT_SK, OTHER_AK: OTHER_SK}
# One configured function in each of the fleet's three projects.
PER_PROJECT = [
    next(
        f for f in FLEET.functions if f.urn.project_id == p and f.behaviour is Behaviour.CONFIGURED
    )
    for p in FLEET.project_ids
]
FUNCTION = PER_PROJECT[0]


class FakeClock:
    """The server's clock: it says what the test set, and moves only when the test moves it."""

    def __init__(self, now: float = 100.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


Scenario = Callable[[RunningEmulator, aiohttp.ClientSession], Awaitable[None]]


def serve_on(clock: FakeClock, config: EmulatorConfig, scenario: Scenario) -> None:
    """Run `scenario` against an emulator on 127.0.0.1 whose requests are timed by `clock`."""

    async def main() -> None:
        stats = Stats()
        server = TestServer(create_app(FLEET, config, stats, clock=clock), host="127.0.0.1")
        async with server, aiohttp.ClientSession() as session:
            url = str(server.make_url("")).rstrip("/")
            assert server.port is not None
            await scenario(RunningEmulator(url, server.port, stats, FLEET), session)

    asyncio.run(main())


async def statuses(
    session: aiohttp.ClientSession,
    emulator: RunningEmulator,
    function: Any = FUNCTION,
    headers: dict[str, str] | None = None,
    times: int = 1,
) -> list[int]:
    url = tracing_url(emulator, str(function.urn))
    return [(await fetch(session, url, headers))[0] for _ in range(times)]


async def listing(
    session: aiohttp.ClientSession, emulator: RunningEmulator, project_id: str
) -> int:
    return (await fetch(session, f"{emulator.url}/v2/{project_id}/fgs/functions"))[0]


async def stats_of(session: aiohttp.ClientSession, emulator: RunningEmulator) -> Any:
    async with session.get(emulator.url + "/_emulator/stats") as response:
        return await response.json()


# --- RateLimit on its own ----------------------------------------------------------------------


def test_the_window_is_exact_per_key_and_counts_only_admitted_requests() -> None:
    limit = RateLimit(((0.0, 2),))
    assert [limit.admit("a", t, t) for t in (0.0, 0.1, 0.5, 0.99)] == [True, True, False, False]
    assert limit.admit("b", 0.5, 0.5)  # another key, another window
    assert limit.admit("a", 1.0, 1.0)  # 0.0 is a second old; the refused ones never counted
    assert not limit.admit("a", 1.05, 1.05)  # 0.1 and 1.0 are still in the window
    assert limit.admit("a", 1.1, 1.1)


def test_the_limit_follows_the_schedule() -> None:
    limit = RateLimit(((0.0, 100), (20.0, 30), (40.0, None)))
    at = [0.0, 19.99, 20.0, 39.9, 40.0, 1000.0]
    assert [limit.limit_at(t) for t in at] == [100, 100, 30, 30, None, None]


def test_an_unlimited_phase_still_fills_the_window_a_limit_then_meets() -> None:
    limit = RateLimit(((0.0, None), (1.0, 2)))
    assert all(limit.admit("a", t, t) for t in (0.5, 0.6, 0.7, 0.8, 0.9))
    assert not limit.admit("a", 1.2, 1.2)  # five admitted in (0.2, 1.2], limit now 2
    assert limit.admit("a", 1.95, 1.95)  # all five are a second old


def test_a_rate_limit_needs_a_phase() -> None:
    with pytest.raises(ValueError, match="at least one phase"):
        RateLimit(())


# --- schedules: parsing and checking -----------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("0:100,20:30,40:none", ((0.0, 100), (20.0, 30), (40.0, None))),
        (" 0 : 5 , 2.5:NONE", ((0.0, 5), (2.5, None))),
        ("0:none", ((0.0, None),)),
    ],
)
def test_parse_schedule(text: str, want: tuple[tuple[float, int | None], ...]) -> None:
    assert parse_schedule(text) == want


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "expected SECONDS:LIMIT"),
        ("0", "expected SECONDS:LIMIT"),
        ("0:1.5", "expected SECONDS:LIMIT"),
        ("zero:5", "expected SECONDS:LIMIT"),
        ("0:10,", "expected SECONDS:LIMIT"),
        ("0:0", "must be a whole number >= 1"),
        ("0:-3", "must be a whole number >= 1"),
        ("5:10", "must start at second 0, not 5"),
        ("0:10,0:20", "must ascend (0 then 0)"),
        ("0:10,20:5,10:3", "must ascend (20 then 10)"),
        ("nan:5", "not a number of seconds"),
    ],
)
def test_parse_schedule_rejects_bad_schedules_in_one_line(text: str, reason: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_schedule(text)
    assert reason in str(caught.value)
    assert "\n" not in str(caught.value)


def test_config_checks_the_rate_limit_and_gives_the_schedule_in_force() -> None:
    assert EmulatorConfig().limit_schedule == ()
    assert EmulatorConfig().rate_limit_scope == "user"
    assert EmulatorConfig(rate_limit=5).limit_schedule == ((0.0, 5),)
    as_lists: Any = [[0, 5], [2, None]]
    config = EmulatorConfig(rate_limit_schedule=as_lists, rate_limit_scope="project")
    assert config.rate_limit_schedule == config.limit_schedule == ((0.0, 5), (2.0, None))
    with pytest.raises(ValueError, match="not both"):
        EmulatorConfig(rate_limit=5, rate_limit_schedule=((0.0, 5),))
    with pytest.raises(ValueError, match="rate_limit_scope: 'tenant' is not one of user, project"):
        EmulatorConfig(rate_limit_scope="tenant")
    with pytest.raises(ValueError, match="rate_limit must be >= 1"):
        EmulatorConfig(rate_limit=0)
    with pytest.raises(ValueError, match="rate_limit_schedule: the first phase must start"):
        EmulatorConfig(rate_limit_schedule=((1.0, 5),))
    with pytest.raises(ValueError, match="rate_limit_schedule: limit 0 must be"):
        EmulatorConfig(rate_limit_schedule=((0.0, 0),))


def test_describe_says_what_is_applied() -> None:
    assert describe((), "user") == "rate limit: none"
    assert describe(((0.0, 60),), "user") == "rate limit per user: 60/s"
    assert describe(parse_schedule("0:100,20:30,40:none"), "project") == (
        "rate limit per project: 100/s, from 20 s 30/s, from 40 s none "
        "(seconds from the first limited request)"
    )


# --- whose window: CredentialCheck.holder ------------------------------------------------------


def test_holder_names_the_credential_before_checking_it() -> None:
    gate = CredentialCheck(EmulatorConfig(), Stats())
    now = datetime.now(UTC)
    gate.remember("MIIissued", FUNCTION.urn.project_id, now, user="alice")
    signature = sign(
        ak="ANYAK", sk="any", method="GET", url="http://127.0.0.1/x", headers={}, moment=now
    ).headers
    assert gate.holder({"X-Auth-Token": "MIIissued"}) == "user:alice"
    assert gate.holder({"x-auth-token": "stale"}) == "token:stale"
    assert gate.holder(signature) == "ak:ANYAK"  # unknown AKs too: nothing is checked yet
    assert gate.holder({**signature, "X-Auth-Token": "t"}) == "token:t"  # as check() picks
    assert gate.holder({"Authorization": "Basic dXNlcg=="}) == ANONYMOUS
    assert gate.holder({}) == ANONYMOUS


# --- scopes, through the server ------------------------------------------------------------------


def test_one_token_across_three_projects_shares_one_window() -> None:
    async def scenario(emulator: RunningEmulator, session: aiohttp.ClientSession) -> None:
        for function in PER_PROJECT:
            assert await statuses(session, emulator, function) == [200]
        assert await statuses(session, emulator, PER_PROJECT[0]) == [429]
        # ListFunctions is the same user's: the same window.
        assert await listing(session, emulator, PER_PROJECT[2].urn.project_id) == 429
        # Each request still counts for the project in its path.
        projects = Counter(f.urn.project_id for f in [*PER_PROJECT, *PER_PROJECT[::2]])
        assert emulator.stats.by_project == projects
        summary = await stats_of(session, emulator)
        assert summary["timeline"] == {"accepted": [3], "throttled": [1]}
        assert summary["rate_limit"] == {"scope": "user", "schedule": [[0, 3]]}

    serve_on(FakeClock(), EmulatorConfig(rate_limit=3), scenario)


def test_per_project_scope_gives_each_project_its_own_window() -> None:
    async def scenario(emulator: RunningEmulator, session: aiohttp.ClientSession) -> None:
        for function in PER_PROJECT:
            assert await statuses(session, emulator, function, times=2) == [200, 429]
        # Another credential in a full project's window is throttled too.
        other = {"X-Auth-Token": "other"}
        assert await statuses(session, emulator, headers=other) == [429]
        summary = await stats_of(session, emulator)
        assert summary["rate_limit"] == {"scope": "project", "schedule": [[0, 1]]}

    serve_on(FakeClock(), EmulatorConfig(rate_limit=1, rate_limit_scope="project"), scenario)


def test_different_tokens_and_access_keys_have_separate_windows() -> None:
    second = PER_PROJECT[1]
    config = EmulatorConfig(
        rate_limit=1,
        project_tokens={second.urn.project_id: "token-two"},
        access_keys=TWO_KEYS,
    )

    async def scenario(emulator: RunningEmulator, session: aiohttp.ClientSession) -> None:
        url = tracing_url(emulator, str(FUNCTION.urn))
        by_ak = [signed(url), signed(url, ak=OTHER_AK, sk=OTHER_SK)]
        assert await statuses(session, emulator, times=2) == [200, 429]  # DEFAULT_TOKEN
        two = {"X-Auth-Token": "token-two"}
        assert await statuses(session, emulator, second, two, times=2) == [200, 429]
        for headers in by_ak:
            assert (await fetch(session, url, headers))[0] == 200
        assert (await fetch(session, url, signed(url)))[0] == 429
        # No credentials at all: the "anonymous" window, admitted and then refused by auth.
        assert await statuses(session, emulator, headers={}, times=2) == [401, 429]
        stale = {"X-Auth-Token": "stale"}
        assert await statuses(session, emulator, headers=stale, times=2) == [403, 429]
        timeline = (await stats_of(session, emulator))["timeline"]
        assert timeline == {"accepted": [6], "throttled": [5]}

    serve_on(FakeClock(), config, scenario)


def test_iam_tokens_of_one_user_share_a_window_across_projects() -> None:
    first_project, second = PER_PROJECT[0].urn.project_id, PER_PROJECT[1]

    async def scenario(emulator: RunningEmulator, session: aiohttp.ClientSession) -> None:
        # IAM itself is not limited.
        tokens = [await iam_token(session, emulator, p) for p in (first_project, first_project)]
        tokens.append(await iam_token(session, emulator, second.urn.project_id))
        assert await statuses(session, emulator, headers={"X-Auth-Token": tokens[0]}) == [200]
        assert await statuses(session, emulator, second, {"X-Auth-Token": tokens[2]}) == [200]
        assert await statuses(session, emulator, headers={"X-Auth-Token": tokens[1]}) == [429]
        assert await statuses(session, emulator) == [200]  # DEFAULT_TOKEN is not that user's

    serve_on(FakeClock(), EmulatorConfig(rate_limit=2), scenario)


# --- a limit that changes, and the timeline ------------------------------------------------------


def test_the_schedule_runs_from_the_first_limited_request_and_restarts_on_reset() -> None:
    clock = FakeClock(100.0)
    config = EmulatorConfig(rate_limit_schedule=parse_schedule("0:2,2:none,3:1"))
    project_id = FUNCTION.urn.project_id

    async def scenario(emulator: RunningEmulator, session: aiohttp.ClientSession) -> None:
        # Second 0, limit 2: the listing starts the clock and takes a place in the window.
        assert await listing(session, emulator, project_id) == 200
        assert await statuses(session, emulator, times=2) == [200, 429]
        clock.now = 101.5  # second 1, limit 2; the first second's requests have left
        assert await statuses(session, emulator, times=3) == [200, 200, 429]
        clock.now = 102.2  # second 2, no limit
        assert await statuses(session, emulator, times=5) == [200] * 5
        clock.now = 103.0  # second 3, limit 1, and five admitted within the last second
        assert await statuses(session, emulator, times=2) == [429, 429]
        clock.now = 103.3  # those five are a second old
        assert await statuses(session, emulator, times=2) == [200, 429]
        summary = await stats_of(session, emulator)
        assert summary["timeline"] == {"accepted": [1, 2, 5, 1], "throttled": [1, 1, 0, 3]}
        assert summary["rate_limit"] == {
            "scope": "user",
            "schedule": [[0, 2], [2, None], [3, 1]],
        }
        # The limit is the phase's: across the seam into the unlimited phase, 2 + 5 in 1 s.
        assert summary["max_accepted_in_any_1s"] == 7
        assert emulator.stats.clock_start == 100.0

        async with session.post(emulator.url + "/_emulator/stats/reset") as response:
            reset = await response.json()
        assert reset["timeline"] == {"accepted": [], "throttled": []}
        assert reset["rate_limit"] == summary["rate_limit"]
        assert emulator.stats.clock_start is None
        clock.now = 200.0  # the clock restarts here: second 0 again, limit 2
        assert await statuses(session, emulator, times=3) == [200, 200, 429]
        assert emulator.stats.clock_start == 200.0
        again = await stats_of(session, emulator)
        assert again["timeline"] == {"accepted": [2], "throttled": [1]}

    serve_on(clock, config, scenario)


def test_without_a_limit_the_timeline_counts_from_the_first_tracing_request() -> None:
    clock = FakeClock(50.0)

    async def scenario(emulator: RunningEmulator, session: aiohttp.ClientSession) -> None:
        assert await listing(session, emulator, FUNCTION.urn.project_id) == 200
        assert emulator.stats.clock_start is None  # ListFunctions is not limited here
        clock.now = 60.0
        assert await statuses(session, emulator) == [200]
        clock.now = 62.9
        assert await statuses(session, emulator, times=2) == [200, 200]
        summary = await stats_of(session, emulator)
        assert summary["timeline"] == {"accepted": [1, 0, 2], "throttled": [0, 0, 0]}
        assert summary["rate_limit"] is None

    serve_on(clock, EmulatorConfig(), scenario)


def test_a_stale_signature_is_still_the_access_keys_request() -> None:
    """The window is keyed before the signature is checked: a refused AK request counts."""

    async def scenario(emulator: RunningEmulator, session: aiohttp.ClientSession) -> None:
        url = tracing_url(emulator, str(FUNCTION.urn))
        stale = signed(url, age=timedelta(hours=1))
        assert (await fetch(session, url, stale))[0] == 401
        assert (await fetch(session, url, signed(url)))[0] == 429

    serve_on(FakeClock(), EmulatorConfig(rate_limit=1), scenario)
