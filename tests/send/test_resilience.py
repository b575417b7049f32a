"""Never lose a function: interrupts, kill -9 and --resume, against a real emulator process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import EmulatorProcess, emulator_stats, run_cli, start_emulator
from tests.factories import read_journal
from tests.report_schema import validate_report

pytestmark = pytest.mark.e2e  # emulator processes; the CLI as a subprocess


@pytest.fixture(scope="module")
def slow_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorProcess]:
    """3,000 functions answering in 20-40 ms, so a run lasts long enough to interrupt."""
    process, info = start_emulator(
        tmp_path_factory.mktemp("slow"), functions=3000, seed=21, extra=("--latency-ms", "20", "40")
    )
    yield info
    process.stop()


def start_audit(emulator: EmulatorProcess, out: Path, name: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUDITOR_")}
    env["AUDITOR_TOKEN"] = emulator.token
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "auditor",
            "audit",
            str(emulator.urns_file),
            "--endpoint",
            emulator.url,
            "-o",
            str(out),
            "--name",
            name,
            "--rate",
            "400",
            "--retries",
            "0",
            "-q",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for_journal_lines(path: Path, lines: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.read_bytes().count(b"\n") >= lines:
            return
        time.sleep(0.05)
    raise AssertionError(f"{path} never reached {lines} lines")


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_signal_writes_a_partial_report(
    slow_emulator: EmulatorProcess, tmp_path: Path, signum: signal.Signals, code: int
) -> None:
    process = start_audit(slow_emulator, tmp_path, "partial")
    wait_for_journal_lines(tmp_path / "partial.journal.jsonl", 200)
    process.send_signal(signum)
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == code, stderr
    assert "Traceback" not in stderr
    report = json.loads((tmp_path / "partial.json").read_text())
    validate_report(report)
    run, results = report["run"], report["results"]
    urns = slow_emulator.fleet.urns()
    assert run["complete"] is False
    assert 200 <= len(results) < len(urns)
    audited = [r["urn"] for r in results]
    assert len(set(audited)) == len(audited)
    # Every URN is either a real row or listed as not audited: none lost, none invented.
    assert sorted(audited + run["not_audited"]) == sorted(urns)
    assert all(r["status"] == slow_emulator.fleet.expected_status(r["urn"]) for r in results)


def test_kill_9_then_resume_finishes_every_urn_once(
    slow_emulator: EmulatorProcess, tmp_path: Path
) -> None:
    emulator_stats(slow_emulator, reset=True)
    process = start_audit(slow_emulator, tmp_path, "crash")
    journal = tmp_path / "crash.journal.jsonl"
    wait_for_journal_lines(journal, 500)
    process.kill()
    process.wait(timeout=10)
    before = read_journal(journal)
    assert len(before.rows) >= 499
    result = run_cli(
        "audit",
        str(slow_emulator.urns_file),
        "--endpoint",
        slow_emulator.url,
        "--resume",
        str(journal),
        "--rate",
        "0",
        "--retries",
        "0",
        "-q",
        env={"AUDITOR_TOKEN": slow_emulator.token},
    )
    assert result.returncode == 1, result.stderr  # findings, complete
    report = json.loads((tmp_path / "crash.json").read_text())
    validate_report(report)
    urns = slow_emulator.fleet.urns()
    assert [r["urn"] for r in report["results"]] == urns
    assert report["run"]["complete"] is True
    assert report["run"]["resumed"]["rows_reused"] == len(before.rows)
    # The journaled rows were kept as they were, not asked again.
    for index, row in before.rows.items():
        assert report["results"][index]["checked_at"] == row.checked_at
    after = read_journal(journal)
    assert sorted(after.rows) == list(range(len(urns)))
    # Only what was in flight at the kill is asked twice: at most one per worker (32).
    stats = emulator_stats(slow_emulator)
    assert stats["tracing_requests"] == len(urns) + stats["extra_asks"]
    assert stats["extra_asks"] <= 32


def test_resume_refuses_a_journal_of_other_inputs(
    slow_emulator: EmulatorProcess, tmp_path: Path
) -> None:
    journal = tmp_path / "j.journal.jsonl"
    journal.write_text(
        json.dumps({"journal": 1, "name": "j", "fingerprint": "x", "targets": 3}) + "\n"
    )
    result = run_cli(
        "audit",
        str(slow_emulator.urns_file),
        "--endpoint",
        slow_emulator.url,
        "--resume",
        str(journal),
        env={"AUDITOR_TOKEN": slow_emulator.token},
    )
    assert result.returncode == 2
    assert "different input set" in result.stderr and result.stderr.count("\n") == 1


def test_resume_of_something_not_a_journal(slow_emulator: EmulatorProcess, tmp_path: Path) -> None:
    result = run_cli(
        "audit",
        str(slow_emulator.urns_file),
        "--resume",
        str(slow_emulator.urns_file),
        env={"AUDITOR_TOKEN": slow_emulator.token},
    )
    assert result.returncode == 2 and "not an auditor journal" in result.stderr


def test_unreachable_endpoint_is_exit_2_before_any_file(tmp_path: Path) -> None:
    urns = tmp_path / "u.txt"
    urns.write_text("urn:fss:cn-north-4:0123456789abcdef0123456789abcdef:function:default:f\n")
    from auditor.emulator.child import free_port

    result = run_cli(
        "audit",
        str(urns),
        "--endpoint",
        f"http://127.0.0.1:{free_port()}",
        "-o",
        str(tmp_path / "out"),
        env={"AUDITOR_TOKEN": "t"},
    )
    assert result.returncode == 2
    assert "unreachable" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()
