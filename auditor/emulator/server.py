"""The emulator's HTTP side: the tracing (GET and UpdateTracing's PUT), ListFunctions, IAM token
and APM key listing APIs on aiohttp.web.

It answers the way the public docs say the service does (status, `error_code`, `X-Request-Id`),
including the awkward cases: stale inventories, empty keys, throttling, rejected credentials.
Credentials are checked by `auth.CredentialCheck`; `POST /v3/auth/tokens` is `iam.Iam`'s (every
IAM route goes through `iam_routes.IamRoutes`), `GET /v1/apm2/access-keys` is `apm`'s, and the
tracing settings, which UpdateTracing changes, are `tracing.TracingSettings`. Everything it
serves is a pure function of the `Fleet`, the `EmulatorConfig` and the updates received;
`Fault`s from `EmulatorConfig.faults` and `EmulatorConfig.function_faults` then make tracing GET
answers misbehave. Before all that, the gateway's rate limit (`ratelimit.RateLimit`, per user or
per project, its limit following a schedule) may answer 429 `APIG.0308`.

With an `Estate` (`create_app(..., estate=...)`; without one nothing below exists and every
answer is as it was) the fleet's projects are the estate's, every credential works in its own
account only (`auth`), `POST /v3/auth/tokens` also issues domain-scoped tokens and, for the
`assume_role` method, agency tokens (`agency.Agencies`), and IAM serves the listing calls
`GET /v3/auth/projects`, `GET /v3/projects` and `GET /v3/auth/domains` (`iam_listing`) and
temporary keys, `POST /v3.0/OS-CREDENTIAL/securitytokens`. IAM is neither rate-limited nor
faulted.

Besides the Huawei API it serves, without authentication, `GET /_emulator/stats` (what it has
seen, as JSON) and `POST /_emulator/stats/reset`, so that tests and benchmarks can measure an
emulator running in another process; requests to `/_emulator/*` are not counted in `Stats`.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import random
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass

from aiohttp import web

from auditor.emulator.apm import access_keys_answer
from auditor.emulator.auth import CredentialCheck, WallClock, utc_now
from auditor.emulator.config import DEFAULT_TOKEN, EmulatorConfig
from auditor.emulator.estate import Estate
from auditor.emulator.faults import (
    APIG_THROTTLED,
    JSON_TYPE,
    Answer,
    Fault,
    FaultPlan,
    canned_faults,
    error_body,
    plain_sk_answer,
    reset_connection,
)
from auditor.emulator.fleet import Behaviour, EmulatedFunction, Fleet
from auditor.emulator.iam import project_names
from auditor.emulator.iam_routes import IamCall, IamRoutes
from auditor.emulator.ratelimit import RateLimit
from auditor.emulator.stats import Stats
from auditor.emulator.tracing import UPDATED, TracingSettings
from auditor.errors import InvalidUrn
from auditor.source.urn import FunctionUrn, parse_urn

__all__ = [
    "DEFAULT_TOKEN",
    "LAST_MODIFIED",
    "MAX_ITEMS",
    "EmulatorConfig",
    "RunningEmulator",
    "Stats",
    "create_app",
    "running_emulator",
]

MAX_ITEMS = 400
LAST_MODIFIED = "2024-01-01T00:00:00+08:00"

_NO_API = (
    404,
    error_body("APIG.0101", "The API does not exist or has not been published in the environment."),
)
_NO_EMULATOR_ROUTE = {
    "error": "no such emulator route: use GET /_emulator/stats or POST /_emulator/stats/reset"
}


def _listing_item(function: EmulatedFunction) -> str:
    urn = function.urn
    item = {
        "func_urn": urn.unqualified,
        "func_name": urn.name,
        "package": urn.package,
        "runtime": function.runtime,
        "version": "latest",
        "memory_size": function.memory_size,
        "last_modified": LAST_MODIFIED,
    }
    return json.dumps(item)


def create_app(
    fleet: Fleet,
    config: EmulatorConfig | None = None,
    stats: Stats | None = None,
    *,
    clock: Callable[[], float] | None = None,
    estate: Estate | None = None,
    wall_clock: WallClock = utc_now,
) -> web.Application:
    """An aiohttp application serving `fleet`; every API request is recorded in `stats`.

    A tracing GET meets, in order: the rate limit, authentication, its function's fault,
    a per-run fault, then the function's answer. UpdateTracing (the PUT) meets the same rate
    limit and authentication, then changes the function's settings; no fault is injected into
    it. ListFunctions gets no faults, but shares the rate limit's window. `clock` is the event
    loop's by default (tests pass a fake). `POST /v3/auth/tokens` (IAM) is neither rate-limited
    nor faulted, and its tokens are honoured by the FunctionGraph and APM routes of this app
    only. `GET /v1/apm2/access-keys` (APM, another service's gateway) is authenticated, but
    neither rate-limited nor faulted.
    `/_emulator/*` is neither limited, authenticated, delayed nor counted.

    `estate` plays an estate (see the module docstring): `fleet` must be one of its fleets
    (`Estate.fleet`), else `ValueError`. `wall_clock` dates tokens and temporary keys and
    checks signatures' dates (tests pass a fake).
    """
    config = config or EmulatorConfig()
    stats = stats if stats is not None else Stats()
    if estate is not None:
        _check_fleet_in(estate, fleet)
    settings = TracingSettings(fleet)
    apm_listing = access_keys_answer(config.apm_keys, mask_sks=config.mask_apm_sks)
    listings: dict[str, list[str]] = {p: [] for p in fleet.project_ids}
    for f in fleet.functions:
        if f.behaviour is not Behaviour.DELETED:
            listings.setdefault(f.urn.project_id, []).append(_listing_item(f))
    schedule = config.limit_schedule
    limit = RateLimit(schedule) if schedule else None
    stats.rate_limit_scope, stats.rate_limit_schedule = config.rate_limit_scope, schedule
    by_user = config.rate_limit_scope == "user"
    now_of = clock or (lambda: asyncio.get_running_loop().time())
    canned = canned_faults(config.retry_after_s)
    plan = FaultPlan(config.faults, config.fault_seed, config.function_faults, config.fault_times)
    # A random prefix keeps ids unique across emulator runs; the counter within one.
    id_prefix = secrets.token_hex(8)
    request_ids = itertools.count()
    low, high = config.latency_ms
    latency = random.Random()
    credentials = CredentialCheck(config, stats, wall_clock, estate=estate)
    names = estate.project_names() if estate is not None else project_names(fleet)
    iam = IamRoutes(
        config, stats, credentials, names, wall_clock=wall_clock, now=now_of, estate=estate
    )
    stats.estate_served = estate is not None
    # Each project's account, for the per-account counts (a dict lookup per request).
    account_names = (
        {p.id: a.name for a in estate.accounts for p in a.projects} if estate is not None else {}
    )
    mos_ids = estate.mos_ids if estate is not None else frozenset()

    def reply(
        answer: Answer, content_type: str = JSON_TYPE, headers: Mapping[str, str] | None = None
    ) -> web.Response:
        status, body = answer
        stats.by_status[status] += 1
        all_headers = {"X-Request-Id": f"{id_prefix}{next(request_ids):016x}", **(headers or {})}
        return web.Response(
            status=status, body=body, content_type=content_type, headers=all_headers
        )

    def elapsed(now: float) -> float:
        """Seconds on the clock that starts at the first request it is asked about since the
        start or the last reset (the schedule's and the timeline's)."""
        if stats.clock_start is None:
            stats.clock_start = now
        return now - stats.clock_start

    def admit(request: web.Request, project_id: str, now: float) -> bool:
        """The rate limit's verdict, before authentication: per credential or per project."""
        stats.requests += 1
        stats.by_project[project_id] += 1
        account = account_names.get(project_id)
        if account is not None:
            stats.by_account[account] += 1
            if project_id in mos_ids:
                stats.mos_requests += 1
        if limit is None:
            return True
        key = credentials.holder(request.headers) if by_user else project_id
        if limit.admit(key, now, elapsed(now)):
            return True
        if account is not None:
            stats.throttled_by_account[account] += 1
        return False

    async def authenticate(request: web.Request, project_id: str, now: float) -> Answer | None:
        return credentials.check(
            project_id=project_id,
            method=request.method,
            url=str(request.url),
            headers=request.headers,
            body=await request.read(),
            now=now,
        )

    async def delay() -> None:
        if high > 0:
            await asyncio.sleep(latency.uniform(low, high) / 1000)

    async def gate(request: web.Request, project_id: str, now: float) -> Answer | None:
        """The rate limit's and the credentials' verdict on a tracing request (GET or PUT):
        None to go on, else the answer."""
        stats.arrivals.append(now)
        elapsed(now)  # without a limit, the timeline's clock starts at the first tracing request
        if not admit(request, project_id, now):
            stats.throttled.append(now)
            return APIG_THROTTLED
        stats.accepted.append(now)
        return await authenticate(request, project_id, now)

    async def tracing(request: web.Request) -> web.Response:
        now = now_of()
        project_id = request.match_info["project_id"]
        raw_urn = request.match_info["function_urn"]
        urn = _parsed(raw_urn)
        unqualified = urn.unqualified if urn is not None else None
        if unqualified is not None:
            stats.by_urn[unqualified] += 1
        fault = None
        answer = await gate(request, project_id, now)
        if answer is None:
            answer = settings.answer(urn, raw_urn, project_id)
            fault = plan.fault_for(unqualified or "")
        await delay()
        if fault is None:
            return reply(answer)
        stats.by_fault[fault.value] += 1
        match fault:
            case Fault.RESET:
                reset_connection(request)
                return web.Response()  # never written: the transport is gone
            case Fault.SLOW:
                await asyncio.sleep(config.slow_s)
                return reply(answer)
            case Fault.PLAIN_SK:
                return reply(plain_sk_answer(fleet.seed, unqualified or raw_urn))
            case _:
                status, body, content_type, headers = canned[fault]
                return reply((status, body), content_type, headers)

    async def update_tracing(request: web.Request) -> web.Response:
        now = now_of()
        stats.update_requests += 1
        project_id = request.match_info["project_id"]
        raw_urn = request.match_info["function_urn"]
        urn = _parsed(raw_urn)
        answer = await gate(request, project_id, now)
        if answer is None:
            answer = settings.update(urn, raw_urn, project_id, await request.read())
            if answer == UPDATED and urn is not None:
                stats.updates_by_urn[urn.unqualified] += 1
        await delay()
        return reply(answer)

    async def list_functions(request: web.Request) -> web.Response:
        now = now_of()
        project_id = request.match_info["project_id"]
        if not admit(request, project_id, now):
            answer: Answer = APIG_THROTTLED
        else:
            listing = listings.get(project_id, [])
            denied = await authenticate(request, project_id, now)
            answer = denied or _list_page(listing, request.query)
        await delay()
        return reply(answer)

    def answered(call: IamCall) -> Callable[[web.Request], Awaitable[web.Response]]:
        """An IAM route's handler: its call's answer, after the latency."""

        async def handle(request: web.Request) -> web.Response:
            answer, headers = await call(request)
            await delay()
            return reply(answer, headers=headers)

        return handle

    async def apm_access_keys(request: web.Request) -> web.Response:
        stats.requests += 1
        stats.apm_requests += 1
        denied = credentials.check_account(
            method=request.method,
            url=str(request.url),
            headers=request.headers,
            body=await request.read(),
            now=now_of(),
        )
        await delay()
        return reply(denied or apm_listing)

    async def no_such_api(request: web.Request) -> web.Response:
        stats.requests += 1
        return reply(_NO_API)

    async def stats_summary(request: web.Request) -> web.Response:
        return web.json_response(stats.summary())

    async def stats_reset(request: web.Request) -> web.Response:
        stats.reset()
        return web.json_response(stats.summary())

    async def no_such_emulator_route(request: web.Request) -> web.Response:
        return web.json_response(_NO_EMULATOR_ROUTE, status=404)

    app = web.Application()
    app.router.add_get("/v2/{project_id}/fgs/functions/{function_urn}/tracing", tracing)
    app.router.add_put("/v2/{project_id}/fgs/functions/{function_urn}/tracing", update_tracing)
    app.router.add_get("/v2/{project_id}/fgs/functions", list_functions)
    app.router.add_post("/v3/auth/tokens", answered(iam.tokens))
    for method, path, call in iam.estate_routes():
        app.router.add_route(method, path, answered(call))
    app.router.add_get("/v1/apm2/access-keys", apm_access_keys)
    app.router.add_get("/_emulator/stats", stats_summary)
    app.router.add_post("/_emulator/stats/reset", stats_reset)
    # Before the catch-all below, so a wrong method or path here is not counted either.
    app.router.add_route("*", "/_emulator/{tail:.*}", no_such_emulator_route)
    app.router.add_route("*", "/{tail:.*}", no_such_api)
    return app


def _check_fleet_in(estate: Estate, fleet: Fleet) -> None:
    """`ValueError` unless every project of `fleet` is an estate project that is not `MOS`."""
    strays = [p for p in fleet.project_ids if estate.project(p) is None or p in estate.mos_ids]
    if strays:
        raise ValueError(
            f"the fleet's project {strays[0]} is not one of the estate's (or is MOS): "
            "build the fleet with Estate.fleet"
        )


def _parsed(raw_urn: str) -> FunctionUrn | None:
    try:
        return parse_urn(raw_urn)
    except InvalidUrn:
        return None


def _list_page(items: list[str], query: Mapping[str, str]) -> Answer:
    try:
        marker = int(query.get("marker", "0"))
        max_items = int(query.get("maxitems", str(MAX_ITEMS)))
    except ValueError:
        marker = max_items = -1
    if marker < 0 or not 1 <= max_items <= MAX_ITEMS:
        msg = f"invalid parameter: marker must be >= 0 and maxitems from 1 to {MAX_ITEMS}"
        return 400, error_body("FSS.0400", msg)
    page = items[marker : marker + max_items]
    # Items are pre-encoded JSON objects, so a page is a join rather than a dump.
    body = (
        f'{{"functions": [{", ".join(page)}], '
        f'"next_marker": {marker + len(page)}, "count": {len(items)}}}'
    )
    return 200, body.encode()


@dataclass(frozen=True, slots=True)
class RunningEmulator:
    """A served emulator: where it listens and what it has seen."""

    url: str
    port: int
    stats: Stats
    fleet: Fleet
    estate: Estate | None = None


@asynccontextmanager
async def running_emulator(
    fleet: Fleet,
    config: EmulatorConfig | None = None,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    estate: Estate | None = None,
    wall_clock: WallClock = utc_now,
) -> AsyncIterator[RunningEmulator]:
    """Serve `fleet` (of `estate`, if one is given) on `host:port` (0 picks a free port) until
    the block exits; `wall_clock` as `create_app` takes it."""
    stats = Stats()
    app = create_app(fleet, config, stats, estate=estate, wall_clock=wall_clock)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
        real_port = int(runner.addresses[0][1])
        url_host = f"[{host}]" if ":" in host else host
        yield RunningEmulator(f"http://{url_host}:{real_port}", real_port, stats, fleet, estate)
    finally:
        await runner.cleanup()
