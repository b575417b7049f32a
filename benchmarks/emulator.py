"""Start `auditor emulator` in a separate process on 127.0.0.1 and read its stats over HTTP."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from auditor.emulator.child import read_stats, start_child

TOKEN = "emulator-token"  # the emulator's well-known default token
START_TIMEOUT_S = 180.0


@dataclass(frozen=True)
class Emulator:
    """A running emulator process: its base URL, its URN list, and how long it took to start."""

    url: str
    urns_file: Path
    functions: int
    started_in_s: float
    pid: int

    def stats(self) -> dict[str, Any]:
        """`GET /_emulator/stats`: what the server saw since the last reset."""
        return read_stats(self.url)

    def reset(self) -> None:
        """`POST /_emulator/stats/reset`."""
        read_stats(self.url, reset=True)


@contextmanager
def running(
    workdir: Path,
    functions: int,
    *,
    seed: int = 1,
    latency_ms: Sequence[float] = (0.0, 0.0),
    args: Sequence[str] = (),
) -> Iterator[Emulator]:
    """Serve a fleet of `functions` from a child process until the block exits; `args` go to
    `auditor emulator` as they are (`--rate-limit 60`, `--fault fss_429=0.01`, ...)."""
    latency = ["--latency-ms", *(f"{v:g}" for v in latency_ms)] if any(latency_ms) else []
    child = start_child(
        workdir, functions=functions, seed=seed, args=[*latency, *args], timeout=START_TIMEOUT_S
    )
    try:
        yield Emulator(child.url, child.urns_file, functions, child.started_in_s, child.process.pid)
    finally:
        child.stop()
