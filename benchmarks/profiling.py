"""The audit's hot path in-process under cProfile, and the throttle's share of the CPU."""

from __future__ import annotations

import asyncio
import cProfile
import io
import pstats
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from auditor.model import Row
from auditor.send.retry import RetryPolicy
from auditor.send.runner import Runner
from auditor.send.throttle import Throttles
from auditor.service.auth import StaticToken
from auditor.service.client import TracingClient
from auditor.source.inputs import from_lines
from auditor.store.journal import Journal
from benchmarks.emulator import TOKEN

_THROTTLE_FILES = (
    "auditor/send/throttle.py",
    "auditor/send/rate_control.py",
    "asyncio_throttle",
    "benchmarks/legacy_throttle.py",
)
_IDLE = ("epoll", "poll", "select")  # the event loop waiting for the network: not CPU


@dataclass(frozen=True)
class Profiled:
    """One profiled in-process run."""

    requests: int
    wall_s: float
    cpu_s: float
    throttle_share: float  # of the profiled CPU time, spent in the throttle's own code
    top: str  # the top functions by own time


async def _audit(url: str, urns: list[str], throttles: Throttles, concurrency: int) -> int:
    inputs = from_lines(urns, "bench")
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        client = TracingClient(session, StaticToken(TOKEN), endpoint=url)
        runner = Runner(client, throttles, concurrency=concurrency, policy=RetryPolicy(retries=0))
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "bench.journal.jsonl"
            with Journal(path, {"name": "bench"}) as journal:
                rows: list[Row | None] = [None] * len(inputs.targets)

                def sink(index: int, row: Row) -> None:
                    rows[index] = row
                    journal.record(index, row)

                tally = await runner.run(inputs.targets, sink)
    return tally.requests


def profile_audit(
    url: str, urns: list[str], throttles: Throttles, concurrency: int, top: int = 15
) -> Profiled:
    """Audit `urns` in this process under cProfile."""
    profiler = cProfile.Profile()
    wall, cpu = time.perf_counter(), time.process_time()
    profiler.enable()
    requests = asyncio.run(_audit(url, urns, throttles, concurrency))
    profiler.disable()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    stats = pstats.Stats(profiler)
    own: float = 0.0
    busy: float = 0.0
    for (filename, _line, name), entry in stats.stats.items():  # type: ignore[attr-defined]
        tottime = entry[2]
        if filename == "~" and any(f"select.{idle}" in name for idle in _IDLE):
            continue
        busy += tottime
        if any(part in filename for part in _THROTTLE_FILES):
            own += tottime
    text = io.StringIO()
    pstats.Stats(profiler, stream=text).sort_stats("tottime").print_stats(top)
    lines = [line for line in text.getvalue().splitlines() if line.strip()]
    start = next((i for i, line in enumerate(lines) if line.lstrip().startswith("ncalls")), 0)
    return Profiled(requests, wall, cpu, own / busy if busy else 0.0, "\n".join(lines[start:]))
