"""A local FunctionGraph: the tracing and ListFunctions APIs on aiohttp.web, from a seeded fleet.

The demo, the integration tests and the benchmarks run the real client against it on loopback.
It answers the way the public docs say the service does (status, `error_code`, `X-Request-Id`),
including the awkward cases: stale inventories, empty keys, throttling, rejected credentials.
Everything it serves is a pure function of `Fleet.generate`'s arguments.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import json
import random
import secrets
from collections import Counter
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from enum import StrEnum

from aiohttp import web

from auditor.errors import InvalidUrn
from auditor.urn import FunctionUrn, parse_urn

REGIONS: tuple[str, ...] = ("cn-north-4", "ap-southeast-1")
DEFAULT_TOKEN = "emulator-token"
PACKAGES: tuple[str, ...] = ("default", "payments", "etl")
RUNTIMES: tuple[str, ...] = ("Python3.9", "Java11", "Node.js16.17", "Go1.x")
MEMORY_SIZES: tuple[int, ...] = (128, 256, 512, 1024)
QUALIFIERS: tuple[str, ...] = ("latest", "!prod", "v2")
QUALIFIED_SHARE = 0.05
MAX_ITEMS = 400
LAST_MODIFIED = "2024-01-01T00:00:00+08:00"
_AK_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


class Behaviour(StrEnum):
    """How the tracing API answers for one function."""

    CONFIGURED = "configured"  # 200 with a tracing AK
    MISSING_KEYS = "missing_keys"  # 404 FSS.0404
    EMPTY_AK = "empty_ak"  # 200 with "tracing_ak": ""
    DELETED = "deleted"  # in the exported inventory, gone from the service: 404 FSS.1051
    SERVER_ERROR = "server_error"  # 500 FSS.0500, every time


DEFAULT_MIX: dict[str, float] = {
    "configured": 0.76,
    "missing_keys": 0.14,
    "empty_ak": 0.02,
    "deleted": 0.05,
    "server_error": 0.03,
}

_EXPECTED_STATUS: dict[Behaviour, str] = {
    Behaviour.CONFIGURED: "configured",
    Behaviour.MISSING_KEYS: "missing_keys",
    Behaviour.EMPTY_AK: "missing_keys",
    Behaviour.DELETED: "function_not_found",
    Behaviour.SERVER_ERROR: "error",
}


@dataclass(frozen=True, slots=True)
class EmulatedFunction:
    """One function of the fleet. `urn` is the inventory form and may carry a qualifier."""

    urn: FunctionUrn
    behaviour: Behaviour
    runtime: str
    memory_size: int


class Fleet:
    """The functions the emulator knows, in a stable order; build one with `Fleet.generate`."""

    def __init__(
        self, functions: Sequence[EmulatedFunction], project_ids: Sequence[str], seed: int = 0
    ) -> None:
        self.functions: tuple[EmulatedFunction, ...] = tuple(functions)
        self.project_ids: tuple[str, ...] = tuple(project_ids)
        self.seed = seed
        self._by_unqualified = {f.urn.unqualified: f for f in self.functions}

    @classmethod
    def generate(
        cls,
        functions: int,
        seed: int = 0,
        projects: int = 3,
        regions: Sequence[str] = REGIONS,
        mix: Mapping[str, float] | None = None,
    ) -> Fleet:
        """A fleet of `functions` spread round-robin over `projects` x `regions`.

        Behaviours are drawn by `mix` weights (keys are `Behaviour` values); the same
        arguments always give the same fleet.
        """
        if functions < 0 or projects < 1 or not regions:
            raise ValueError("need functions >= 0, projects >= 1 and at least one region")
        weights = dict(DEFAULT_MIX if mix is None else mix)
        unknown = set(weights) - set(Behaviour)
        if unknown:
            raise ValueError(f"unknown behaviours in mix: {sorted(unknown)}")
        if any(w < 0 for w in weights.values()) or sum(weights.values()) <= 0:
            raise ValueError("mix weights must be >= 0 and not all zero")
        behaviours = [Behaviour(b) for b in weights]
        cum_weights = list(itertools.accumulate(weights.values()))
        project_ids = tuple(
            hashlib.sha256(f"project:{seed}:{i}".encode()).hexdigest()[:32] for i in range(projects)
        )
        cells = [(p, r) for p in project_ids for r in regions]
        rng = random.Random(seed)
        fleet = []
        for i in range(functions):
            project_id, region = cells[i % len(cells)]
            behaviour = rng.choices(behaviours, cum_weights=cum_weights)[0]
            package = rng.choice(PACKAGES)
            runtime = rng.choice(RUNTIMES)
            memory = rng.choice(MEMORY_SIZES)
            qualifier = rng.choice(QUALIFIERS) if rng.random() < QUALIFIED_SHARE else ""
            urn = FunctionUrn(region, project_id, package, f"fn-{i:06d}", qualifier)
            fleet.append(EmulatedFunction(urn, behaviour, runtime, memory))
        return cls(fleet, project_ids, seed)

    def urns(self) -> list[str]:
        """Every function's inventory URN (DELETED ones included), in generation order."""
        return [str(f.urn) for f in self.functions]

    def expected_status(self, urn: str) -> str:
        """The status a correct auditor reports for `urn` with valid credentials, unthrottled."""
        try:
            parsed = parse_urn(urn)
        except InvalidUrn:
            return "invalid_urn"
        function = self.lookup(parsed.unqualified)
        return "function_not_found" if function is None else _EXPECTED_STATUS[function.behaviour]

    def lookup(self, unqualified_urn: str) -> EmulatedFunction | None:
        """The function behind an unqualified URN, or None if the fleet has no such function."""
        return self._by_unqualified.get(unqualified_urn)

    def tracing_ak(self, function: EmulatedFunction) -> str:
        """The 20-character AK the API reports for a CONFIGURED function (stable per seed)."""
        digest = hashlib.sha256(f"ak:{self.seed}:{function.urn.unqualified}".encode()).digest()
        return "".join(_AK_ALPHABET[b % len(_AK_ALPHABET)] for b in digest[:20])

    def __len__(self) -> int:
        return len(self.functions)


@dataclass
class EmulatorConfig:
    """Knobs for realism and fault injection; the defaults answer at once and never throttle."""

    token: str = DEFAULT_TOKEN
    latency_ms: tuple[float, float] = (0.0, 0.0)
    rate_limit: int | None = None  # requests per second per project, fixed 1 s windows
    reject_projects: frozenset[str] = frozenset()


@dataclass
class Stats:
    """What the server saw. `arrivals` holds the loop-clock time of each tracing request."""

    requests: int = 0
    by_project: Counter[str] = field(default_factory=Counter)
    by_status: Counter[int] = field(default_factory=Counter)
    arrivals: list[float] = field(default_factory=list)

    def max_in_window(self, seconds: float = 1.0) -> int:
        """The most arrivals in any half-open sliding window `[t, t + seconds)`."""
        times = sorted(self.arrivals)
        best = start = 0
        for end, t in enumerate(times):
            while times[start] <= t - seconds:
                start += 1
            best = max(best, end - start + 1)
        return best


Answer = tuple[int, bytes]  # status and pre-encoded JSON body


def _error_body(code: str, msg: str) -> bytes:
    return json.dumps({"error_code": code, "error_msg": msg}).encode()


_THROTTLED = (429, _error_body("APIG.0308", "The request is throttled."))
_NO_TOKEN = (
    401,
    _error_body("APIG.0301", "Incorrect IAM authentication information: x-auth-token not found"),
)
_BAD_TOKEN = (403, _error_body("FSS.0403", "invalid token"))
_NOT_FOUND = (404, _error_body("FSS.1051", "Not found the function"))
_NO_API = (
    404,
    _error_body(
        "APIG.0101", "The API does not exist or has not been published in the environment."
    ),
)


def _tracing_answer(fleet: Fleet, function: EmulatedFunction) -> Answer:
    match function.behaviour:
        case Behaviour.CONFIGURED:
            ak = fleet.tracing_ak(function)
            return 200, json.dumps({"tracing_ak": ak, "tracing_sk": "******"}).encode()
        case Behaviour.EMPTY_AK:
            return 200, json.dumps({"tracing_ak": "", "tracing_sk": ""}).encode()
        case Behaviour.MISSING_KEYS:
            return 404, _error_body("FSS.0404", "can not find tracing aksk")
        case Behaviour.DELETED:
            return _NOT_FOUND
        case Behaviour.SERVER_ERROR:
            return 500, _error_body("FSS.0500", "internal error")


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
    fleet: Fleet, config: EmulatorConfig | None = None, stats: Stats | None = None
) -> web.Application:
    """An aiohttp application serving `fleet`; every request is recorded in `stats`."""
    config = config or EmulatorConfig()
    stats = stats if stats is not None else Stats()
    answers = {f.urn.unqualified: _tracing_answer(fleet, f) for f in fleet.functions}
    listings: dict[str, list[str]] = {p: [] for p in fleet.project_ids}
    for f in fleet.functions:
        if f.behaviour is not Behaviour.DELETED:
            listings.setdefault(f.urn.project_id, []).append(_listing_item(f))
    windows: dict[str, tuple[int, int]] = {}  # project -> (window second, admitted in it)
    # A random prefix keeps ids unique across emulator runs; the counter within one.
    id_prefix = secrets.token_hex(8)
    request_ids = itertools.count()
    low, high = config.latency_ms
    latency = random.Random()

    def reply(answer: Answer) -> web.Response:
        status, body = answer
        stats.by_status[status] += 1
        headers = {"X-Request-Id": f"{id_prefix}{next(request_ids):016x}"}
        return web.Response(
            status=status, body=body, content_type="application/json", headers=headers
        )

    def gate(request: web.Request, project_id: str, now: float) -> Answer | None:
        """Throttling and authentication, in the order the gateway applies them."""
        stats.requests += 1
        stats.by_project[project_id] += 1
        if config.rate_limit is not None:
            second = int(now)
            window, admitted = windows.get(project_id, (second, 0))
            if window != second:
                window, admitted = second, 0
            if admitted >= config.rate_limit:
                return _THROTTLED
            windows[project_id] = (window, admitted + 1)
        token = request.headers.get("X-Auth-Token")
        if token is None:
            return _NO_TOKEN
        if token != config.token or project_id in config.reject_projects:
            return _BAD_TOKEN
        return None

    async def delay() -> None:
        if high > 0:
            await asyncio.sleep(latency.uniform(low, high) / 1000)

    async def tracing(request: web.Request) -> web.Response:
        now = asyncio.get_running_loop().time()
        stats.arrivals.append(now)
        project_id = request.match_info["project_id"]
        raw_urn = request.match_info["function_urn"]
        answer = gate(request, project_id, now)
        if answer is None:
            try:
                urn = parse_urn(raw_urn)
            except InvalidUrn:
                urn = None
            if urn is None or urn.project_id != project_id:
                answer = (400, _error_body("FSS.1128", f"function[{raw_urn}] not existed"))
            else:
                answer = answers.get(urn.unqualified, _NOT_FOUND)
        await delay()
        return reply(answer)

    async def list_functions(request: web.Request) -> web.Response:
        now = asyncio.get_running_loop().time()
        project_id = request.match_info["project_id"]
        answer = gate(request, project_id, now)
        if answer is None:
            answer = _list_page(listings.get(project_id, []), request.query)
        await delay()
        return reply(answer)

    async def no_such_api(request: web.Request) -> web.Response:
        stats.requests += 1
        return reply(_NO_API)

    app = web.Application()
    app.router.add_get("/v2/{project_id}/fgs/functions/{function_urn}/tracing", tracing)
    app.router.add_get("/v2/{project_id}/fgs/functions", list_functions)
    app.router.add_route("*", "/{tail:.*}", no_such_api)
    return app


def _list_page(items: list[str], query: Mapping[str, str]) -> Answer:
    try:
        marker = int(query.get("marker", "0"))
        max_items = int(query.get("maxitems", str(MAX_ITEMS)))
    except ValueError:
        marker = max_items = -1
    if marker < 0 or not 1 <= max_items <= MAX_ITEMS:
        msg = f"invalid parameter: marker must be >= 0 and maxitems from 1 to {MAX_ITEMS}"
        return 400, _error_body("FSS.0400", msg)
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


@asynccontextmanager
async def running_emulator(
    fleet: Fleet,
    config: EmulatorConfig | None = None,
    host: str = "127.0.0.1",
    port: int = 0,
) -> AsyncIterator[RunningEmulator]:
    """Serve `fleet` on `host:port` (0 picks a free port) until the block exits."""
    stats = Stats()
    runner = web.AppRunner(create_app(fleet, config, stats), access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
        real_port = int(runner.addresses[0][1])
        url_host = f"[{host}]" if ":" in host else host
        yield RunningEmulator(f"http://{url_host}:{real_port}", real_port, stats, fleet)
    finally:
        await runner.cleanup()
