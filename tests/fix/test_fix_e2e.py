"""The fix workflow against a real emulator process, as a user runs it: audit, plan (nothing
sent), apply (one PUT per planned function, each read back), audit again under the key policy;
the APM SK planted and looked for in every output."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from auditor.emulator import DEFAULT_APM_AK, DEFAULT_APM_SK
from tests.conftest import EmulatorProcess, emulator_stats, run_cli, start_emulator

pytestmark = pytest.mark.e2e

KEYS = {"AUDITOR_APM_AK": DEFAULT_APM_AK, "AUDITOR_APM_SK": DEFAULT_APM_SK}


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorProcess]:
    child, info = start_emulator(tmp_path_factory.mktemp("fix"), functions=150, seed=5)
    yield info
    child.stop()


def audit(emu: EmulatorProcess, out: Path, name: str, *extra: str) -> dict[str, object]:
    done = run_cli(
        "audit",
        str(emu.urns_file),
        "--endpoint",
        emu.url,
        "-o",
        str(out),
        "--name",
        name,
        "--format",
        "json",
        "-q",
        *extra,
        env={"AUDITOR_TOKEN": emu.token},
    )
    assert done.returncode in (0, 1), done.stderr
    report: dict[str, object] = json.loads((out / f"{name}.json").read_text())
    return report


def test_audit_plan_apply_and_audit_again(fleet: EmulatorProcess, tmp_path: Path) -> None:
    before = audit(fleet, tmp_path, "before")
    missing = before["summary"]["by_status"]["missing_keys"]  # type: ignore[index]
    assert missing > 0
    emulator_stats(fleet, reset=True)

    plan = run_cli("fix", str(tmp_path / "before.json"), env=KEYS)
    assert plan.returncode == 0, plan.stderr
    assert f"plan: {missing} functions to fix" in plan.stdout
    assert (tmp_path / "before.fix-plan.csv").read_text().count("\n") == missing + 1
    assert emulator_stats(fleet)["update_requests"] == 0  # nothing sent without --apply

    env = {"AUDITOR_TOKEN": fleet.token, **KEYS}
    applied = run_cli(
        "fix", str(tmp_path / "before.json"), "--apply", "--endpoint", fleet.url, env=env
    )
    assert applied.returncode == 0, applied.stderr
    assert f"fix: fixed {missing} (of {missing} planned)" in applied.stdout
    stats = emulator_stats(fleet)
    assert stats["updates"] == stats["update_requests"] == missing  # one PUT each
    assert all(n == 1 for n in stats["updates_by_urn"].values())
    report = json.loads((tmp_path / "before.fix.json").read_text())
    assert report["summary"]["by_outcome"] == {"fixed": missing}
    assert {r["tracing_ak"] for r in report["results"]} == {"emul****0001"}

    policy = tmp_path / "policy.toml"
    policy.write_text(f'expected_tracing_aks = ["{DEFAULT_APM_AK}"]\n')
    after = audit(
        fleet, tmp_path, "after", "-c", str(policy), "--baseline", str(tmp_path / "before.json")
    )
    by_status = after["summary"]["by_status"]  # type: ignore[index]
    assert by_status["configured"] == missing  # exactly the fixed ones carry the APM AK
    assert by_status["unexpected_keys"] == before["summary"]["by_status"]["configured"]  # type: ignore[index]
    assert "missing_keys" not in by_status
    assert after["summary"]["changes"]["fixed"] == missing  # type: ignore[index]

    # A second apply of the same plan is refused (its journal exists); --resume sends nothing.
    again = run_cli(
        "fix", str(tmp_path / "before.json"), "--apply", "--endpoint", fleet.url, env=env
    )
    assert again.returncode == 2 and "--resume" in again.stderr
    emulator_stats(fleet, reset=True)
    journal = tmp_path / "before.fix.journal.jsonl"
    resumed = run_cli(
        "fix",
        str(tmp_path / "before.json"),
        "--apply",
        "--endpoint",
        fleet.url,
        "--resume",
        str(journal),
        env=env,
    )
    assert resumed.returncode == 0, resumed.stderr
    assert emulator_stats(fleet)["update_requests"] == 0

    for output in [plan, applied, again, resumed]:
        assert DEFAULT_APM_SK not in output.stdout + output.stderr
    for path in tmp_path.iterdir():
        assert DEFAULT_APM_SK.encode() not in path.read_bytes(), path


def test_help_never_shows_a_key(fleet: EmulatorProcess) -> None:
    shown = run_cli("fix", "--help", env=KEYS)
    assert shown.returncode == 0
    assert DEFAULT_APM_SK not in shown.stdout and DEFAULT_APM_AK not in shown.stdout
    assert "--apply" in shown.stdout and "--max-changes" in shown.stdout
