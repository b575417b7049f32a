"""The emulator in a child process on 127.0.0.1, for integration tests and benchmarks.

A server measured by its own client must not share that client's event loop or its slice of
the CPU, so tests and benchmarks run `python -m auditor emulator` as a separate process. This
module starts one on a free port (trying another port if the one it picked is taken before the
child binds it), waits until it answers, reads and resets its stats, and stops it.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HOST = "127.0.0.1"


def free_port() -> int:
    """A port on 127.0.0.1 that is free now (it may be taken again before it is used)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


def read_stats(url: str, *, reset: bool = False, timeout: float = 30) -> dict[str, Any]:
    """What the emulator at `url` saw (`GET /_emulator/stats`), or clear it (`reset`)."""
    request = urllib.request.Request(
        f"{url}/_emulator/stats{'/reset' if reset else ''}", method="POST" if reset else "GET"
    )
    with urllib.request.urlopen(request, timeout=timeout) as answer:
        stats: dict[str, Any] = json.load(answer)
    return stats


@dataclass
class EmulatorChild:
    """A running emulator process: where it serves, its URN list, its log, its start-up time."""

    url: str
    urns_file: Path
    log_file: Path
    process: subprocess.Popen[bytes]
    started_in_s: float

    def stats(self, *, reset: bool = False) -> dict[str, Any]:
        return read_stats(self.url, reset=reset)

    def stop(self, timeout: float = 20) -> None:
        """SIGTERM, then SIGKILL if it does not end within `timeout` seconds."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_child(
    workdir: Path,
    *,
    functions: int,
    seed: int,
    args: Sequence[str] = (),
    timeout: float = 60,
    attempts: int = 3,
) -> EmulatorChild:
    """Start `auditor emulator` with a fleet of `functions` from `seed` (plus `args`, passed on
    as they are: `--generation`, `--fault`, ...), its URN list and log in `workdir`; return
    once it answers. `RuntimeError` if it never does."""
    for _ in range(attempts):
        port = free_port()
        log_file = workdir / f"emulator-{port}.log"
        # Named by port, not by fleet: two children of one seed (say, two generations of a
        # drifting fleet, told apart only by `args`) must not overwrite each other's list.
        urns = workdir / f"urns-{port}.txt"
        command = [
            sys.executable, "-m", "auditor", "emulator", "--port", str(port),
            "--functions", str(functions), "--seed", str(seed), "--urns-out", str(urns), *args,
        ]  # fmt: skip
        started = time.perf_counter()
        with log_file.open("wb") as log:
            process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        url = f"http://{HOST}:{port}"
        deadline = time.monotonic() + timeout
        while process.poll() is None and time.monotonic() < deadline:
            try:
                read_stats(url, timeout=1)
            except OSError:
                time.sleep(0.1)
                continue
            return EmulatorChild(url, urns, log_file, process, time.perf_counter() - started)
        child = EmulatorChild(url, urns, log_file, process, 0.0)
        child.stop()
        if time.monotonic() >= deadline:
            break  # it started but never answered: another port will not help
    raise RuntimeError(f"the emulator did not start; see {log_file}")
