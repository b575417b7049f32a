"""Start `auditor emulator` in a separate process on 127.0.0.1 and read its stats over HTTP."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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
        with urllib.request.urlopen(self.url + "/_emulator/stats", timeout=30) as answer:
            data: dict[str, Any] = json.load(answer)
        return data

    def reset(self) -> None:
        """`POST /_emulator/stats/reset`."""
        request = urllib.request.Request(self.url + "/_emulator/stats/reset", method="POST")
        with urllib.request.urlopen(request, timeout=30) as answer:
            answer.read()


def free_port() -> int:
    """A port on 127.0.0.1 that is free now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def running(
    workdir: Path, functions: int, *, seed: int = 1, latency_ms: Sequence[float] = (0.0, 0.0)
) -> Iterator[Emulator]:
    """Serve a fleet of `functions` from a child process until the block exits."""
    port = free_port()
    urns = workdir / f"urns-{functions}-{seed}.txt"
    command = [
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
    ]
    if any(latency_ms):
        command += ["--latency-ms", *(f"{v:g}" for v in latency_ms)]
    log = (workdir / f"emulator-{port}.log").open("w")
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"emulator exited with {process.returncode}; see {log.name}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"emulator did not answer within {START_TIMEOUT_S:g} s")
            try:
                with urllib.request.urlopen(url + "/_emulator/stats", timeout=1):
                    break
            except OSError:
                time.sleep(0.2)
        emulator = Emulator(url, urns, functions, time.perf_counter() - started, process.pid)
        yield emulator
    finally:
        if process.poll() is None:
            os.kill(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.kill(process.pid, signal.SIGKILL)
                process.wait()
        log.close()
