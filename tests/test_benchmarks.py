"""`benchmarks/run.py --quick` still runs end to end: emulator process, audits, reference
clients, report writers and profiles. Figures are machine-dependent, so nothing here asserts on
a timing or a goal being met; only that every figure was measured and written."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.run import Figure, Results, markdown, table

ROOT = Path(__file__).resolve().parent.parent

EXPECTED = (
    "audit ÷ bare aiohttp loop",
    "achieved ÷ configured rate at 25 req/s",
    "achieved ÷ configured rate at 200 req/s",
    "achieved ÷ configured rate at 1,000 req/s",
    "server's max in any 1 s ÷ configured rate at 1,000 req/s",
    "throughput ÷ (64 / 0.05 s) at 50 ms latency",
    "speed-up over a serial requests.Session",
    "SDK-style pool (8 threads over requests)",
    "peak RSS of auditor audit",
    "write JSON report",
    "write CSV report",
    "write XLSX report",
    "throttle's CPU share, c=256",
    "recording into history.sqlite with --baseline last (second run)",
    "rows into SQLite, first run",
    "rows into SQLite, second run",
    "history store size, SQLite",
    "--baseline last and finding age",
    "auditor history runs",
    "auditor history --urn",
)


@pytest.mark.slow
@pytest.mark.e2e
def test_quick_benchmark_runs_and_writes_every_figure(tmp_path: Path) -> None:
    results = tmp_path / "RESULTS.md"
    done = subprocess.run(
        [sys.executable, "benchmarks/run.py", "--quick", "--results", str(results)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    text = results.read_text(encoding="utf-8")
    for name in EXPECTED:
        assert name in text, name
    for fact in ("nproc", "memory", "Python", "aiohttp"):
        assert f"**{fact}**" in text or fact in text
    assert "## Profile: hot path" in text
    assert "| figure | measured | goal | verdict | detail |" in done.stdout


def test_table_and_markdown_show_each_figure_next_to_its_goal() -> None:
    results = Results(
        [
            Figure("ratio", "0.91", "≥ 0.90", True, "fine"),
            Figure("rss", "600 MiB", "≤ 512 MiB", False),
            Figure("json", "1.0 s"),
        ]
    )
    rows = table(results.figures).splitlines()
    assert rows[2] == "| ratio | 0.91 | ≥ 0.90 | met | fine |"
    assert rows[3] == "| rss | 600 MiB | ≤ 512 MiB | NOT met |  |"
    assert rows[4] == "| json | 1.0 s | reported | — |  |"
    text = markdown(results, "quick", 12.0)
    assert "## Machine" in text and "**nproc**" in text
    assert rows[3] in text
