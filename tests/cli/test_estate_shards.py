"""The shard recipe, as the README gives it: three processes each audit their share of the
estate at once (`--shard K/3`), recording into one shared history store, and `auditor report
--merge` joins their reports into one equal to a single process's audit of the whole."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.cli.test_estate_e2e import FAST, TOKEN, EstateEmulator, estate  # noqa: F401
from tests.conftest import run_cli

pytestmark = pytest.mark.e2e


def audit_command(emulator: EstateEmulator, out: Path, name: str, *more: str) -> list[str]:
    return [
        sys.executable, "-m", "auditor", "audit", "--all-projects", "-c", str(emulator.config),
        "-o", str(out), "--name", name, "--format", "json", "-q", *FAST, *more,
    ]  # fmt: skip


def comparable(report: dict[str, Any]) -> list[tuple[str, ...]]:
    """What must agree between runs: each function once, where it is, whose, and its verdict."""
    return sorted(
        (r["urn"], r["account"], r["region"], r["project_id"], r["status"])
        for r in report["results"]
    )


def test_three_shards_at_once_merge_into_the_single_process_report(
    estate: EstateEmulator,  # noqa: F811
    tmp_path: Path,
) -> None:
    store = tmp_path / "shared-history.sqlite"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AUDITOR_", "HUAWEICLOUD_"))}
    shards = [
        subprocess.Popen(
            audit_command(
                estate,
                tmp_path / f"s{k}",
                f"shard-{k}",
                "--shard",
                f"{k}/3",
                "--history",
                str(store),
            ),
            env={**env, **TOKEN},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for k in (1, 2, 3)
    ]
    for shard in shards:
        _, err = shard.communicate(timeout=120)
        assert shard.returncode == 1, err  # findings, and team-c's agency refuses
        assert "Traceback" not in err
    whole = run_cli(*audit_command(estate, tmp_path / "all", "all", "--no-history")[3:], env=TOKEN)
    assert whole.returncode == 1, whole.stderr

    reports = [str(tmp_path / f"s{k}" / f"shard-{k}.json") for k in (3, 1, 2)]  # any order
    merged = run_cli("report", "--merge", *reports, "-o", str(tmp_path / "m"), "--name", "estate")
    assert merged.returncode == 0, merged.stderr
    one = json.loads((tmp_path / "all" / "all.json").read_text(encoding="utf-8"))
    joined = json.loads((tmp_path / "m" / "estate.json").read_text(encoding="utf-8"))

    shard_rows = [
        comparable(json.loads(Path(r).read_text(encoding="utf-8"))) for r in sorted(reports)
    ]
    assert all(shard_rows), "every share has projects"
    assert sum(len(rows) for rows in shard_rows) == len(comparable(one))  # no overlap
    assert comparable(joined) == comparable(one)
    assert joined["summary"]["by_status"] == one["summary"]["by_status"]
    assert joined["summary"]["by_account"] == one["summary"]["by_account"]
    assert joined["run"]["complete"] is True and joined["run"]["shard"] is None
    assert sorted(joined["run"]["merged_from"]) == sorted(reports)
    audited = {a["name"]: sorted(a["projects_audited"]) for a in joined["run"]["accounts"]}
    assert audited == {a["name"]: sorted(a["projects_audited"]) for a in one["run"]["accounts"]}
    assert {a["name"]: a["status"] for a in joined["run"]["accounts"]}["team-c"] == "refused"

    # Each shard recorded its own run into the one shared store, concurrently.
    listing = run_cli("history", "--history", str(store), "--format", "json")
    assert listing.returncode == 0, listing.stderr
    runs = json.loads(listing.stdout)["runs"]
    assert sorted(r["name"] for r in runs) == ["shard-1", "shard-2", "shard-3"]
    assert sum(r["total"] for r in runs) == len(comparable(one))


def test_merging_needs_two_reports_and_names_a_missing_shard(
    estate: EstateEmulator,  # noqa: F811
    tmp_path: Path,
) -> None:
    run = run_cli(
        *audit_command(estate, tmp_path, "s1", "--shard", "1/3", "--no-history")[3:], env=TOKEN
    )
    assert run.returncode == 1, run.stderr
    alone = run_cli("report", "--merge", str(tmp_path / "s1.json"))
    assert alone.returncode == 2 and alone.stderr.count("\n") == 1, alone.stderr
    twice = run_cli(
        "report", "--merge", str(tmp_path / "s1.json"), str(tmp_path / "s1.json"),
        "-o", str(tmp_path / "m"), "--name", "partial",
    )  # fmt: skip
    assert twice.returncode == 0, twice.stderr
    assert "shards 2/3, 3/3 are missing" in twice.stderr
    assert "more than one report" in twice.stderr
    partial = json.loads((tmp_path / "m" / "partial.json").read_text(encoding="utf-8"))
    assert partial["run"]["complete"] is False
