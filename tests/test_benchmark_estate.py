"""`benchmarks/estate.py --quick` still runs end to end: an emulated estate in its own process,
the limiter burst, one `auditor audit --all-projects` child. Figures depend on the machine, so
nothing here asserts on a goal being met; only that every figure was measured and printed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

EXPECTED = (
    "estate: the emulator's limiter",
    "estate: wall time ÷ ideal",
    "estate: audit phase alone",
    "estate: each account's accepted rate ÷ its limit",
    "estate: 429 answers ÷ FunctionGraph requests",
    "estate: rows that ended `throttled`",
    "estate: peak RSS of auditor audit --all-projects",
)


@pytest.mark.slow
@pytest.mark.e2e
def test_quick_estate_benchmark_prints_every_figure() -> None:
    done = subprocess.run(
        [sys.executable, "benchmarks/estate.py", "--quick"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    table = done.stdout
    assert table.lstrip().startswith("| figure | measured | goal | verdict | detail |")
    for name in EXPECTED:
        assert name in table, name
    assert "not measured" not in table
