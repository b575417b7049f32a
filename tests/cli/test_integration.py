"""The real command line against the real emulator over TCP on 127.0.0.1."""

from __future__ import annotations

import csv
import json
from collections import Counter
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from auditor.model import COLUMNS
from tests.conftest import EmulatorProcess, run_cli, start_emulator
from tests.report_schema import validate_report

pytestmark = pytest.mark.e2e  # emulator processes; the CLI as a subprocess


def audit(
    emulator: EmulatorProcess,
    out: Path,
    *extra: str,
    token: str | None = None,
    inputs: tuple[str, ...] | None = None,
) -> tuple[int, str, str]:
    result = run_cli(
        "audit",
        *(inputs or (str(emulator.urns_file),)),
        "--endpoint",
        emulator.url,
        "-o",
        str(out),
        "--name",
        "run",
        "--rate",
        "0",
        "--retries",
        "1",
        *extra,
        env={"AUDITOR_TOKEN": token or emulator.token},
    )
    return result.returncode, result.stdout, result.stderr


def read_json(out: Path) -> dict:
    report: dict = json.loads((out / "run.json").read_text(encoding="utf-8"))
    validate_report(report)
    return report


def test_every_urn_once_with_the_status_the_fleet_predicts(
    emulator: EmulatorProcess, tmp_path: Path
) -> None:
    code, stdout, stderr = audit(emulator, tmp_path)
    assert code == 1, stderr  # the fleet has findings
    report = read_json(tmp_path)
    urns = emulator.fleet.urns()
    results = report["results"]
    assert [r["urn"] for r in results] == urns  # each once, in input order
    for row in results:
        assert row["status"] == emulator.fleet.expected_status(row["urn"]), row
    assert report["run"]["complete"] is True
    assert report["summary"]["total"] == len(urns)
    statuses = Counter(r["status"] for r in results)
    assert {"configured", "missing_keys", "function_not_found", "error"} <= set(statuses)
    assert report["summary"]["by_status"] == dict(statuses) | report["summary"]["by_status"]
    assert "configured" in stdout and "run.xlsx" in stdout


def test_counts_agree_across_json_csv_and_xlsx(emulator: EmulatorProcess, tmp_path: Path) -> None:
    audit(emulator, tmp_path)
    from_json = Counter(r["status"] for r in read_json(tmp_path)["results"])
    with (tmp_path / "run.csv").open(encoding="utf-8", newline="") as stream:
        rows = list(csv.DictReader(stream))
    assert list(rows[0]) == list(COLUMNS)
    from_csv = Counter(r["status"] for r in rows)
    frame = pd.read_excel(tmp_path / "run.xlsx", sheet_name="Results")
    assert list(frame.columns) == list(COLUMNS)
    from_xlsx = Counter(frame["status"])
    assert from_json == from_csv == from_xlsx
    book = openpyxl.load_workbook(tmp_path / "run.xlsx", read_only=True)
    for status, count in from_json.items():
        if status != "configured":
            assert book[status].max_row - 1 == count
    # Trend: the history store (on by default) has this run, so the sheet shows it.
    assert book.sheetnames[:3] == ["Summary", "Trend", "Results"]


def test_ak_masked_and_journal_has_every_row(emulator: EmulatorProcess, tmp_path: Path) -> None:
    audit(emulator, tmp_path)
    results = read_json(tmp_path)["results"]
    configured = [r for r in results if r["status"] == "configured"]
    fleet = emulator.fleet
    for row in configured:
        full = fleet.tracing_ak(
            fleet.lookup(row["urn"].rsplit(":", 1)[0] if row["qualifier"] else row["urn"])
        )
        assert "****" in row["tracing_ak"] and full not in row["tracing_ak"]
        assert row["tracing_ak"][:4] == full[:4]
    lines = (tmp_path / "run.journal.jsonl").read_text(encoding="utf-8").splitlines()
    assert json.loads(lines[0])["targets"] == len(results)
    assert sorted(json.loads(line)["i"] for line in lines[1:]) == list(range(len(results)))


def test_wrong_token_is_auth_failed_for_every_function(
    emulator: EmulatorProcess, tmp_path: Path
) -> None:
    code, _, _ = audit(emulator, tmp_path, token="not-the-token")
    assert code == 1
    statuses = {r["status"] for r in read_json(tmp_path)["results"]}
    assert statuses == {"auth_failed"}


def test_fail_on_and_formats(emulator: EmulatorProcess, tmp_path: Path) -> None:
    code, _, _ = audit(emulator, tmp_path, "--fail-on", "none", "--format", "json")
    assert code == 0
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["history.sqlite", "run.journal.jsonl", "run.json"]
    code, _, _ = audit(emulator, tmp_path / "b", "--fail-on", "auth_failed", "--format", "csv")
    assert code == 0


def test_mixed_inputs_from_stdin_and_files(emulator: EmulatorProcess, tmp_path: Path) -> None:
    urns = emulator.fleet.urns()[:5]
    listing = tmp_path / "list.json"
    listing.write_text(json.dumps({"functions": [{"func_urn": u} for u in urns[:3]]}))
    result = run_cli(
        "audit",
        "-",
        str(listing),
        "--endpoint",
        emulator.url,
        "-o",
        str(tmp_path),
        "--name",
        "run",
        "--rate",
        "0",
        "--retries",
        "0",
        env={"AUDITOR_TOKEN": emulator.token},
        stdin="\n".join([*urns, "not-a-urn", urns[0]]) + "\n",
    )
    assert result.returncode in (0, 1), result.stderr
    rows = read_json(tmp_path)["results"]
    assert [r["urn"] for r in rows] == [*urns, "not-a-urn"]
    assert rows[0]["occurrences"] == 3 and rows[0]["source"] == "stdin:1"
    assert rows[-1]["status"] == "invalid_urn" and rows[-1]["attempts"] == 0


def test_ten_thousand_urns_over_three_projects(tmp_path: Path) -> None:
    process, emulator = start_emulator(tmp_path, functions=10_000, seed=5)
    try:
        code, _, stderr = audit(emulator, tmp_path / "out", "--concurrency", "64")
    finally:
        process.stop()
    assert code == 1, stderr
    out = tmp_path / "out"
    results = read_json(out)["results"]
    assert len(results) == 10_000 == len({r["urn"] for r in results})
    assert len({r["project_id"] for r in results}) == 3
    wrong = [r for r in results if r["status"] != emulator.fleet.expected_status(r["urn"])]
    assert wrong == []
    frame = pd.read_csv(out / "run.csv", dtype=str, keep_default_na=False)
    assert Counter(frame["status"]) == Counter(r["status"] for r in results)
