"""Shared fixtures: a real `auditor emulator` process on 127.0.0.1, and CLI runners."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import aioresponses.core
import pytest

from auditor.emulator import Fleet


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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start_emulator(
    tmp: Path,
    *,
    functions: int,
    seed: int,
    token: str = "emulator-token",
    extra: tuple[str, ...] = (),
) -> tuple[subprocess.Popen[str], EmulatorProcess]:
    urns = tmp / f"urns-{seed}.txt"
    for _ in range(3):  # a free port can be taken between probing and binding: try again
        port = free_port()
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "auditor",
                "emulator",
                "--port",
                str(port),
                "--functions",
                str(functions),
                "--seed",
                str(seed),
                "--urns-out",
                str(urns),
                "--token",
                token,
                *extra,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert process.stdout is not None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            if "serving" in line:
                fleet = Fleet.generate(functions, seed=seed)
                return process, EmulatorProcess(f"http://127.0.0.1:{port}", urns, fleet, token)
            if not line and process.poll() is not None:
                break
        process.kill()
        process.wait()
    raise RuntimeError("the emulator did not start")


def emulator_stats(emulator: EmulatorProcess, *, reset: bool = False) -> dict[str, Any]:
    """What the emulator process saw (`GET /_emulator/stats`), or clear it first (`reset`)."""
    request = urllib.request.Request(
        f"{emulator.url}/_emulator/stats{'/reset' if reset else ''}",
        method="POST" if reset else "GET",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        stats: dict[str, Any] = json.load(response)
        return stats


@pytest.fixture(scope="module")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorProcess]:
    """An emulator process with a 600-function fleet, shared by a test module."""
    process, info = start_emulator(tmp_path_factory.mktemp("emulator"), functions=600, seed=11)
    yield info
    process.terminate()
    process.wait(timeout=10)


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
