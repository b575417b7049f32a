"""Run a command as a child process and measure it: wall time, CPU time and peak RSS.

The peak RSS is the child's own (`os.wait4` returns the rusage of exactly that child), so the
emulator and earlier children never blur it. One catch: Linux keeps the largest RSS a process
had before `exec` (for a child, the parent's memory it forked with), so a child started by a
parent that holds a lot counts that as its own peak. Start RSS-measured children while this
process is small (`own_peak_mib` says how small it was).
"""

from __future__ import annotations

import os
import resource
import subprocess
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Measured:
    """How a child process went."""

    returncode: int
    wall_s: float
    cpu_s: float
    maxrss_mib: float
    stdout: str
    stderr: str


def run_measured(
    command: Sequence[str], *, env: Mapping[str, str] | None = None, timeout_s: float = 1800.0
) -> Measured:
    """Run `command` to the end (killed after `timeout_s`) and measure it."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        process = subprocess.Popen(
            list(command), stdout=out, stderr=err, env=dict(env or os.environ)
        )
        watchdog = threading.Timer(timeout_s, process.kill)
        watchdog.start()
        try:
            _, status, usage = os.wait4(process.pid, 0)
        finally:
            watchdog.cancel()
        wall = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
        out.seek(0)
        err.seek(0)
        return Measured(
            returncode=process.returncode,
            wall_s=wall,
            cpu_s=usage.ru_utime + usage.ru_stime,
            maxrss_mib=usage.ru_maxrss / 1024,  # KiB on Linux
            stdout=out.read().decode("utf-8", "replace"),
            stderr=err.read().decode("utf-8", "replace"),
        )


def own_peak_mib() -> float:
    """This process's own peak RSS so far, in MiB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
