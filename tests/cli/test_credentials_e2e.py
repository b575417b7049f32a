"""Real credentials against the emulator over TCP: AK/SK signing, password -> IAM tokens that
expire, and a project whose credentials fail, counted at the server."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from auditor.emulator import (
    DEFAULT_AK,
    DEFAULT_DOMAIN,
    DEFAULT_PASSWORD,
    DEFAULT_SK,
    DEFAULT_USER,
    Fleet,
)
from tests.conftest import EmulatorProcess, emulator_stats, run_cli, start_emulator
from tests.report_schema import validate_report

pytestmark = pytest.mark.e2e  # emulator processes; the CLI as a subprocess

AKSK = {"HUAWEICLOUD_SDK_AK": DEFAULT_AK, "HUAWEICLOUD_SDK_SK": DEFAULT_SK}
PASSWORD = {
    "HUAWEICLOUD_USERNAME": DEFAULT_USER,
    "HUAWEICLOUD_PASSWORD": DEFAULT_PASSWORD,
    "HUAWEICLOUD_DOMAIN_NAME": DEFAULT_DOMAIN,
}
FUNCTIONS, SEED = 900, 31
BAD_PROJECT = Fleet.generate(FUNCTIONS, seed=SEED).project_ids[1]


@pytest.fixture(scope="module")
def expiring(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorProcess]:
    """IAM tokens expire after 50 requests; every credential works."""
    process, info = start_emulator(
        tmp_path_factory.mktemp("expiring"),
        functions=FUNCTIONS,
        seed=SEED,
        extra=("--token-lifetime-requests", "50"),
    )
    yield info
    process.stop()


@pytest.fixture(scope="module")
def rejecting(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorProcess]:
    """One project refuses every credential."""
    process, info = start_emulator(
        tmp_path_factory.mktemp("rejecting"),
        functions=FUNCTIONS,
        seed=SEED,
        extra=("--reject-project", BAD_PROJECT),
    )
    yield info
    process.stop()


def audit(emulator: EmulatorProcess, out: Path, env: dict[str, str], *extra: str) -> dict:
    result = run_cli(
        "audit",
        str(emulator.urns_file),
        "--endpoint",
        emulator.url,
        "--iam-endpoint",
        emulator.url,
        "-o",
        str(out),
        "--name",
        "r",
        "--rate",
        "0",
        "--retries",
        "1",
        "--concurrency",
        "32",
        *extra,
        env=env,
    )
    assert result.returncode in (0, 1), result.stderr
    assert "Traceback" not in result.stderr
    report: dict = json.loads((out / "r.json").read_text())
    validate_report(report)
    report["stdout"] = result.stdout
    return report


def wrong_statuses(report: dict, fleet: Fleet) -> list[dict]:
    return [r for r in report["results"] if r["status"] != fleet.expected_status(r["urn"])]


def test_aksk_across_three_projects_and_two_regions(
    expiring: EmulatorProcess, tmp_path: Path
) -> None:
    emulator_stats(expiring, reset=True)
    report = audit(expiring, tmp_path, AKSK)
    results = report["results"]
    assert len({(r["project_id"], r["region"]) for r in results}) == 6
    assert wrong_statuses(report, expiring.fleet) == []
    assert report["run"]["settings"]["credentials"] == "AK/SK signature"
    assert set(report["run"]["preflight"].values()) == {"ok"}
    seen = emulator_stats(expiring)
    assert seen["aksk_locks"] == 0 and seen["auth_failures_by_project"] == {}


def test_password_with_tokens_expiring_every_50_requests(
    expiring: EmulatorProcess, tmp_path: Path
) -> None:
    emulator_stats(expiring, reset=True)
    report = audit(expiring, tmp_path, PASSWORD)
    assert wrong_statuses(report, expiring.fleet) == []
    assert "auth_failed" not in report["summary"]["by_status"]
    seen = emulator_stats(expiring)
    per_project = Counter(r["project_id"] for r in report["results"])
    for project, count in per_project.items():
        # A token lasts 50 requests: each project needed a fresh one regularly, fetched once
        # per expiry, not once per waiting worker.
        issued = seen["tokens_issued"][project]
        assert count / 50 <= issued <= count / 50 + 3, (project, count, issued)
    assert report["run"]["settings"]["credentials"].startswith("IAM password")


@pytest.mark.parametrize(
    "env", [AKSK, PASSWORD, {"AUDITOR_TOKEN": "emulator-token"}], ids=["aksk", "password", "token"]
)
def test_a_refusing_project_gets_at_most_k_plus_1_requests(
    rejecting: EmulatorProcess, tmp_path: Path, env: dict[str, str]
) -> None:
    emulator_stats(rejecting, reset=True)
    report = audit(rejecting, tmp_path, env)
    seen = emulator_stats(rejecting)
    k = report["run"]["settings"]["auth_failures"]
    assert seen["by_project"][BAD_PROJECT] <= k + 1, seen["by_project"]
    assert seen["aksk_locks"] == 0
    bad = [r for r in report["results"] if r["project_id"] == BAD_PROJECT]
    good = [r for r in report["results"] if r["project_id"] != BAD_PROJECT]
    assert bad and {r["status"] for r in bad} == {"auth_failed"}
    assert (
        sum("skipped after repeated credential failures" in r["error_msg"] for r in bad)
        >= len(bad) - k - 1
    )
    assert wrong_statuses({"results": good}, rejecting.fleet) == []
    assert report["run"]["preflight"][BAD_PROJECT].startswith("refused")
    assert f"pre-flight: project {BAD_PROJECT}: refused" in report["stdout"]
    assert f"project {BAD_PROJECT}" in report["run"]["credential_breakers"]
