"""Shared fixtures: one real `auditor emulator` process on 127.0.0.1 for the session, and CLI
runners. Tests that use them start processes: mark them `e2e`."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import aioresponses.core
import pytest

from auditor.emulator import REGIONS, Fleet
from auditor.emulator.child import EmulatorChild, read_stats, start_child


def _make_aioresponses_work_with_aiohttp_3_14() -> None:
    """aiohttp 3.14 (a security release) made `ClientResponse(stream_writer=...)` required and
    aioresponses 0.7.9 does not pass it (pnuckowski/aioresponses#289, open). Faked responses
    are complete before they are built, so a writer that has sent 0 bytes is the truth."""
    import inspect

    if "stream_writer" not in inspect.signature(aiohttp.ClientResponse.__init__).parameters:
        return

    class _SentWriter:
        output_size = 0

    class _CompatibleResponse(aiohttp.ClientResponse):
        def __init__(self, *args: object, **kwargs: object) -> None:
            kwargs.setdefault("stream_writer", _SentWriter())
            super().__init__(*args, **kwargs)  # type: ignore[arg-type]

    aioresponses.core.ClientResponse = _CompatibleResponse  # type: ignore[misc]


_make_aioresponses_work_with_aiohttp_3_14()


@dataclass(frozen=True)
class EmulatorProcess:
    url: str
    urns_file: Path
    fleet: Fleet
    token: str


def start_emulator(
    tmp: Path,
    *,
    functions: int,
    seed: int,
    token: str = "emulator-token",
    extra: tuple[str, ...] = (),
    generation: int = 0,
    projects: int = 3,
    regions: tuple[str, ...] = REGIONS,
) -> tuple[EmulatorChild, EmulatorProcess]:
    """`auditor emulator` in a child process, and what a test needs to know of it."""
    fleet_args = ("--generation", str(generation), "--projects", str(projects))
    fleet_args += ("--regions", ",".join(regions))
    child = start_child(
        tmp, functions=functions, seed=seed, args=("--token", token, *fleet_args, *extra)
    )
    fleet = Fleet.generate(
        functions, seed=seed, projects=projects, regions=regions, generation=generation
    )
    return child, EmulatorProcess(child.url, child.urns_file, fleet, token)


def emulator_stats(emulator: EmulatorProcess, *, reset: bool = False) -> dict[str, Any]:
    """What the emulator process saw (`GET /_emulator/stats`), or clear it first (`reset`)."""
    return read_stats(emulator.url, reset=reset)


@pytest.fixture(scope="session")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorProcess]:
    """One emulator process with a 600-function fleet (seed 11, the default flags), started
    once and shared by every end-to-end test that can share it. A test that needs other
    emulator flags (faults, latency, a refused project) or counts the emulator's requests
    starts its own with `start_emulator`, so what it sees is its own doing."""
    child, info = start_emulator(tmp_path_factory.mktemp("emulator"), functions=600, seed=11)
    yield info
    child.stop()


def run_cli(
    *args: str, env: dict[str, str] | None = None, stdin: str | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run `python -m auditor ARGS` as a new process, as a user or a scheduler would."""
    full_env = {
        k: v for k, v in os.environ.items() if not k.startswith(("AUDITOR_", "HUAWEICLOUD_"))
    }
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "auditor", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=full_env,
        timeout=timeout,
    )
