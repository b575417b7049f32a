"""Tests for auditor/progress.py: the progress line and the closing summary."""

from __future__ import annotations

import dataclasses

import pytest

from auditor.cli.progress import Progress, summary_table
from auditor.model import Row, Status, Target
from auditor.report.tables import Summary, summarize
from auditor.verdict.rows import invalid_row


def progress(total: int, statuses: list[str], started: float = 100.0) -> Progress:
    state = Progress(total=total, started=started)
    for status in statuses:
        state.add(status)
    return state


def test_add_counts_done_and_by_status() -> None:
    state = progress(10, ["configured", "configured", "error"])
    assert state.done == 3
    assert state.by_status == {"configured": 2, "error": 1}


def test_line_shows_done_total_percent_rate_eta_and_counts() -> None:
    state = progress(10, ["configured"] * 3 + ["missing_keys"] * 2)
    line = state.line(105.0)  # 5 done in 5 s: 1/s, 5 left
    assert "5/10" in line
    assert "50%" in line
    assert "1/s" in line
    assert "ETA 5s" in line
    assert "configured 3" in line
    assert "missing_keys 2" in line
    assert "error" not in line  # zero counts are left out
    assert line.startswith("[" + "#" * 12 + "." * 12 + "]")


def test_line_lists_statuses_in_report_order() -> None:
    state = progress(10, ["error", "invalid_urn", "configured", "auth_failed"])
    line = state.line(101.0)
    positions = [line.index(s) for s in ("configured", "auth_failed", "error", "invalid_urn")]
    assert positions == sorted(positions)


@pytest.mark.parametrize(
    ("elapsed", "eta"),
    [(1.0, "ETA 9s"), (10.0, "ETA 1m30s"), (500.0, "ETA 1h15m")],
)
def test_line_eta_formats(elapsed: float, eta: str) -> None:
    state = progress(10, ["configured"])  # 1 done, 9 left
    assert eta in state.line(100.0 + elapsed)


def test_line_when_finished() -> None:
    state = progress(4, ["configured"] * 4)
    line = state.line(102.0)
    assert "4/4" in line
    assert "100%" in line
    assert "ETA 0s" in line
    assert "." not in line.split("]")[0]


def test_line_with_nothing_to_do() -> None:
    line = Progress(total=0, started=0.0).line(1.0)
    assert "0/0" in line
    assert "100%" in line


def test_bar_width() -> None:
    line = progress(4, ["configured"] * 2).line(101.0, bar_width=10)
    assert line.startswith("[#####.....]")


def test_line_before_any_result_does_not_claim_eta_zero() -> None:
    line = Progress(total=1000, started=0.0).line(30.0)
    assert "0/1000" in line
    assert "ETA 0s" not in line


def row(status: Status) -> Row:
    blank = invalid_row(Target("urn", None, "x:1"))
    return dataclasses.replace(blank, status=status, region="cn-north-4", project_id="p" * 32)


def test_summary_table_has_each_status_total_and_paths() -> None:
    rows = [row(s) for s in Status for _ in range(list(Status).index(s) + 1)]
    summary = summarize(rows)
    text = summary_table(summary, ["reports/a.json", "reports/a.csv"])
    lines = text.splitlines()
    assert lines[0].split() == ["status", "count", "share"]
    for index, status in enumerate(Status, start=1):
        line = next(line for line in lines if line.startswith(status.value + " "))
        assert line.split()[1] == str(index)
    assert any(line.split() == ["total", str(len(rows))] for line in lines)
    assert "reports:" in lines
    assert "  reports/a.json" in lines
    assert "  reports/a.csv" in lines


def test_summary_table_shares_and_thousands() -> None:
    summary = Summary(
        total=2000, by_status={"configured": 1500, "error": 500}, by_project={}, by_region={}
    )
    text = summary_table(summary)
    assert "1,500" in text
    assert "75.0%" in text
    assert "25.0%" in text
    assert "2,000" in text
    assert "reports:" not in text


def test_summary_table_of_nothing() -> None:
    text = summary_table(Summary(total=0, by_status={}, by_project={}, by_region={}))
    assert text.splitlines()[-1].split() == ["total", "0"]
