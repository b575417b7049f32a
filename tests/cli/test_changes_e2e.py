"""Issue 5's done-when, end to end: discover and audit two generations of a seeded fleet (two
emulator processes), compare them with `--baseline` and `auditor diff`, honour exemptions.

The expected changes come from `Fleet.generate(..., generation=1).drift`, never from the
auditor's own diff code. Discovery yields unqualified URNs, so the drift's URNs are compared
without their qualifier.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook

from auditor.emulator import Drift
from auditor.source.urn import parse_urn
from tests.conftest import EmulatorProcess, emulator_stats, run_cli, start_emulator
from tests.report_schema import validate_report

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

REGION = "cn-north-4"
TOKEN = "changes-e2e-token-SECRET-4d5e6f"
SEED = 41
FUNCTIONS = 3000


@dataclass(frozen=True)
class Generations:
    g0: EmulatorProcess
    g1: EmulatorProcess
    out: Path  # g0 and g1's reports

    @property
    def drift(self) -> Drift:
        return self.g1.fleet.drift

    def report(self, name: str) -> dict[str, Any]:
        report: dict[str, Any] = json.loads((self.out / f"{name}.json").read_text("utf-8"))
        return report


def audit(
    emulator: EmulatorProcess, out: Path, name: str, *args: str, discover: bool = True
) -> subprocess.CompletedProcess[str]:
    """`auditor audit --discover` of every project of `emulator`'s fleet, unlimited, no retries."""
    scope = [a for p in emulator.fleet.project_ids for a in ("--project", p)]
    result = run_cli(
        "audit",
        *(["--discover", *scope, "--region", REGION] if discover else []),
        "--endpoint",
        emulator.url,
        "--rate",
        "0",
        "--retries",
        "0",
        "--format",
        "json",
        "-o",
        str(out),
        "--name",
        name,
        *args,
        env={"AUDITOR_TOKEN": TOKEN},
    )
    assert "Traceback" not in result.stderr
    assert TOKEN not in result.stdout + result.stderr
    return result


@pytest.fixture(scope="module")
def generations(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Generations]:
    """Both generations served, g0 audited, then g1 audited with g0 as its baseline."""
    tmp = tmp_path_factory.mktemp("changes")
    children = []
    try:
        c0, g0 = start_emulator(
            tmp, functions=FUNCTIONS, seed=SEED, token=TOKEN, projects=3, regions=(REGION,)
        )
        children.append(c0)
        c1, g1 = start_emulator(
            tmp,
            functions=FUNCTIONS,
            seed=SEED,
            token=TOKEN,
            projects=3,
            regions=(REGION,),
            generation=1,
        )
        children.append(c1)
        out = tmp / "reports"
        first = audit(g0, out, "g0")
        assert first.returncode == 1, first.stderr  # the default --fail-on: findings
        second = audit(
            g1,
            out,
            "g1",
            "--baseline",
            str(out / "g0.json"),
            "--format",
            "json,xlsx",
            "--fail-on",
            "regressed",
        )
        (out / "g1.stdout").write_text(second.stdout)
        (out / "g1.exit").write_text(str(second.returncode))
        yield Generations(g0, g1, out)
    finally:
        for child in children:
            child.stop()


def unqualified(urns: frozenset[str]) -> set[str]:
    return {parse_urn(u).unqualified for u in urns}


def expected_changes(generations: Generations, audited: set[str]) -> dict[str, int]:
    drift = generations.drift
    moved = len(drift.added) + len(drift.fixed) + len(drift.regressed)
    return {
        "new": len(drift.added),
        "fixed": len(drift.fixed),
        "regressed": len(drift.regressed),
        "unchanged": len(audited) - moved,
        "gone": len(drift.removed),
    }


def test_the_drift_is_not_trivial(generations: Generations) -> None:
    drift = generations.drift
    assert all(len(s) > 10 for s in (drift.added, drift.removed, drift.fixed, drift.regressed))


def test_discovery_lists_every_listed_function_of_each_generation(
    generations: Generations,
) -> None:
    for name, emulator in (("g0", generations.g0), ("g1", generations.g1)):
        report = generations.report(name)
        listed = {
            f.urn.unqualified for f in emulator.fleet.functions if f.behaviour.value != "deleted"
        }
        urns = [row["urn"] for row in report["results"]]
        assert len(urns) == len(set(urns))
        assert set(urns) == listed
        discovery = report["run"]["discovery"]
        assert discovery["complete"] is True
        assert [p["project_id"] for p in discovery["projects"]] == list(emulator.fleet.project_ids)
        assert all(p["pages"] == p["requests"] == 3 for p in discovery["projects"])
        assert sum(p["functions"] for p in discovery["projects"]) == len(listed)
        assert Path(discovery["inventory"]) == generations.out / f"{name}.inventory.csv"


def test_change_counts_match_the_fleets_drift(generations: Generations) -> None:
    report = generations.report("g1")
    audited = {row["urn"] for row in report["results"]}
    expected = expected_changes(generations, audited)
    assert report["summary"]["changes"] == expected
    assert report["run"]["changes"]["counts"] == expected
    assert Counter(row["change"] for row in report["results"]) == {
        k: v for k, v in expected.items() if k != "gone"
    }
    stdout = (generations.out / "g1.stdout").read_text()
    assert "changes since " in stdout
    assert f"{expected['regressed']} regressed" in stdout


def test_every_rows_change_matches_the_drift(generations: Generations) -> None:
    drift = generations.drift
    added, fixed, regressed = (unqualified(s) for s in (drift.added, drift.fixed, drift.regressed))
    for row in generations.report("g1")["results"]:
        urn = row["urn"]
        if urn in added:
            assert row["change"] == "new", urn
        elif urn in fixed:
            assert (row["change"], row["status"]) == ("fixed", "configured"), urn
        elif urn in regressed:
            assert (row["change"], row["status"]) == ("regressed", "missing_keys"), urn
        else:
            assert row["change"] == "unchanged", urn
    gone = generations.report("g1")["run"]["changes"]["gone"]
    assert {entry["urn"] for entry in gone} == unqualified(drift.removed)
    assert {entry["region"] for entry in gone} == {REGION}


def test_the_reports_validate_against_the_schema(generations: Generations) -> None:
    validate_report(generations.report("g0"))
    validate_report(generations.report("g1"))


def test_rows_from_discovery_carry_runtime_memory_and_support(generations: Generations) -> None:
    by_urn = {f.urn.unqualified: f for f in generations.g1.fleet.functions}
    for row in generations.report("g1")["results"]:
        function = by_urn[row["urn"]]
        assert row["runtime"] == function.runtime
        assert row["memory_size"] == function.memory_size
        supported = function.runtime.startswith("Java") and function.memory_size >= 512
        assert row["tracing_supported"] is supported


def test_the_xlsx_has_a_changes_sheet(generations: Generations) -> None:
    book = load_workbook(generations.out / "g1.xlsx", read_only=True)
    try:
        assert "Changes" in book.sheetnames
        rows = list(book["Changes"].iter_rows(values_only=True))
    finally:
        book.close()
    assert rows[0][:2] == ("change", "urn")
    changes = Counter(row[0] for row in rows[1:] if row and row[0])
    drift = generations.drift
    assert changes["regressed"] == len(drift.regressed)
    assert changes["gone"] == len(drift.removed)
    assert changes["fixed"] == len(drift.fixed)
    assert changes["new"] == len(drift.added)
    assert not (generations.out / "g0.xlsx").exists()  # xlsx was not asked for g0


def test_fail_on_regressed_fails_when_something_regressed(generations: Generations) -> None:
    assert generations.drift.regressed
    assert (generations.out / "g1.exit").read_text() == "1"


def test_fail_on_regressed_passes_against_a_baseline_of_itself(
    generations: Generations, tmp_path: Path
) -> None:
    result = audit(
        generations.g1,
        tmp_path,
        "again",
        "--baseline",
        str(generations.out / "g1.json"),
        "--fail-on",
        "regressed",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads((tmp_path / "again.json").read_text())
    assert report["summary"]["changes"]["regressed"] == 0
    assert report["summary"]["changes"]["unchanged"] == len(report["results"])
    # Statuses that are findings still are, but --fail-on regressed names only regressions.
    assert report["summary"]["by_status"]["missing_keys"] > 0


def test_fail_on_regressed_without_a_baseline_is_a_usage_error(
    generations: Generations, tmp_path: Path
) -> None:
    before = emulator_stats(generations.g1)["requests"]
    result = audit(generations.g1, tmp_path, "nobase", "--fail-on", "regressed")
    assert result.returncode == 2
    assert result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "--fail-on regressed needs --baseline" in result.stderr
    assert emulator_stats(generations.g1)["requests"] == before  # checked before anything is sent
    assert not tmp_path.joinpath("nobase.json").exists()


def test_diff_gives_the_same_counts_writes_reports_and_fails_on_regressions(
    generations: Generations, tmp_path: Path
) -> None:
    out = generations.out
    result = run_cli(
        "diff", str(out / "g0.json"), str(out / "g1.json"), "-o", str(tmp_path), "--name", "d"
    )
    assert result.returncode == 1, result.stderr
    expected = generations.report("g1")["summary"]["changes"]
    for change, count in expected.items():
        assert f"  {change:<10} {count:>9,}" in result.stdout
    report = json.loads((tmp_path / "d.json").read_text())
    validate_report(report)
    assert report["summary"]["changes"] == expected
    assert [r["change"] for r in report["results"]] == [
        r["change"] for r in generations.report("g1")["results"]
    ]
    assert {p.name for p in tmp_path.iterdir()} == {"d.json", "d.csv", "d.xlsx"}
    book = load_workbook(tmp_path / "d.xlsx", read_only=True)
    try:
        assert "Changes" in book.sheetnames
    finally:
        book.close()


def test_diff_of_a_report_with_itself_passes(generations: Generations, tmp_path: Path) -> None:
    g1 = str(generations.out / "g1.json")
    result = run_cli("diff", g1, g1, "-o", str(tmp_path), "--name", "same", "--format", "json")
    assert result.returncode == 0, result.stderr
    counts = json.loads((tmp_path / "same.json").read_text())["summary"]["changes"]
    assert counts["unchanged"] == len(generations.report("g1")["results"])
    assert sum(counts.values()) == counts["unchanged"]


def exemptions_file(path: Path, entries: list[dict[str, str]]) -> Path:
    lines = []
    for entry in entries:
        lines.append("[[exemption]]")
        for key, value in entry.items():
            lines.append(f"{key} = {value}" if key == "expires" else f"{key} = {json.dumps(value)}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_exempting_every_regression_by_urn_makes_fail_on_regressed_pass(
    generations: Generations, tmp_path: Path
) -> None:
    regressed = sorted(unqualified(generations.drift.regressed))
    stale = "urn:fss:cn-north-4:" + "0" * 32 + ":function:default:old-*"
    exemptions = exemptions_file(
        tmp_path / "exempt.toml",
        [{"urn": u, "reason": "known regression", "owner": "team-a"} for u in regressed]
        + [{"urn": stale, "reason": "lapsed waiver", "expires": "2020-01-31"}],
    )
    result = audit(
        generations.g1,
        tmp_path,
        "exempt",
        "--baseline",
        str(generations.out / "g0.json"),
        "--exemptions",
        str(exemptions),
        "--fail-on",
        "regressed",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads((tmp_path / "exempt.json").read_text())
    validate_report(report)
    rows = {row["urn"]: row for row in report["results"]}
    for urn in regressed:
        row = rows[urn]
        assert (row["change"], row["status"], row["exempt"]) == ("regressed", "missing_keys", True)
        assert row["exempt_reason"] == "known regression (owner: team-a)"
    assert sum(row["exempt"] for row in rows.values()) == len(regressed)
    assert report["summary"]["exempt"] == len(regressed)
    assert report["summary"]["changes"]["regressed"] == len(regressed)  # still counted
    expired = report["run"]["exemptions"]["expired"]
    assert [(e["urn"], e["expires"]) for e in expired] == [(stale, "2020-01-31")]
    assert f"exempt: {len(regressed)} findings" in result.stdout
    assert f"EXPIRED exemption {len(regressed) + 1} ({stale}" in result.stdout


def test_an_expired_exemption_does_not_apply(generations: Generations, tmp_path: Path) -> None:
    regressed = sorted(unqualified(generations.drift.regressed))
    exemptions = exemptions_file(
        tmp_path / "expired.toml",
        [{"urn": regressed[0], "reason": "too late", "expires": "2020-01-31"}],
    )
    result = run_cli(
        "diff",
        str(generations.out / "g0.json"),
        str(generations.out / "g1.json"),
        "--exemptions",
        str(exemptions),
        "-o",
        str(tmp_path),
        "--name",
        "expired",
        "--format",
        "json",
    )
    assert result.returncode == 1  # the regression it would cover fails the run again
    report = json.loads((tmp_path / "expired.json").read_text())
    (entry,) = report["run"]["exemptions"]["expired"]
    assert (entry["urn"], entry["would_match"]) == (regressed[0], 1)
    assert not any(row["exempt"] for row in report["results"])


def test_a_glob_exempting_the_project_makes_the_diff_pass(
    generations: Generations, tmp_path: Path
) -> None:
    glob = f"urn:fss:{REGION}:*:function:*"
    exemptions = exemptions_file(
        tmp_path / "glob.toml", [{"urn": glob, "reason": "migration", "expires": "2999-12-31"}]
    )
    result = run_cli(
        "diff",
        str(generations.out / "g0.json"),
        str(generations.out / "g1.json"),
        "--exemptions",
        str(exemptions),
        "-o",
        str(tmp_path),
        "--name",
        "glob",
        "--format",
        "json",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads((tmp_path / "glob.json").read_text())
    findings = [row for row in report["results"] if row["status"] != "configured"]
    assert findings
    assert all(row["exempt"] for row in findings)
    assert {row["exempt_reason"] for row in findings} == {"migration (until 2999-12-31)"}
    assert not any(row["exempt"] for row in report["results"] if row["status"] == "configured")
    assert report["summary"]["exempt"] == len(findings)


def test_discover_with_resume_is_a_usage_error(generations: Generations, tmp_path: Path) -> None:
    before = emulator_stats(generations.g1)["requests"]
    result = audit(
        generations.g1, tmp_path, "r", "--resume", str(generations.out / "g1.journal.jsonl")
    )
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "--resume with --discover" in result.stderr
    assert "inventory" in result.stderr
    assert emulator_stats(generations.g1)["requests"] == before


def test_resume_from_the_written_inventory_asks_nothing_more(
    generations: Generations, tmp_path: Path
) -> None:
    # A copy, so the resumed run does not touch g1's own journal and reports.
    journal = shutil.copy(generations.out / "g1.journal.jsonl", tmp_path / "g1.journal.jsonl")
    inventory = shutil.copy(generations.out / "g1.inventory.csv", tmp_path / "g1.inventory.csv")
    before = emulator_stats(generations.g1)
    result = run_cli(
        "audit",
        str(inventory),
        "--resume",
        str(journal),
        "--endpoint",
        generations.g1.url,
        "--rate",
        "0",
        "--retries",
        "0",
        "--format",
        "json",
        "--no-preflight",
        env={"AUDITOR_TOKEN": TOKEN},
    )
    assert "Traceback" not in result.stderr
    after = emulator_stats(generations.g1)
    assert after["requests"] == before["requests"]
    assert result.returncode == 1, result.stderr  # the same findings as the run resumed
    report = json.loads((tmp_path / "g1.json").read_text())
    original = generations.report("g1")
    assert report["run"]["resumed"]["rows_reused"] == len(original["results"])
    assert [(r["urn"], r["status"]) for r in report["results"]] == [
        (r["urn"], r["status"]) for r in original["results"]
    ]


def test_resume_with_preflight_sends_no_function_graph_request(
    generations: Generations, tmp_path: Path
) -> None:
    journal = shutil.copy(generations.out / "g0.journal.jsonl", tmp_path / "g0.journal.jsonl")
    inventory = shutil.copy(generations.out / "g0.inventory.csv", tmp_path / "g0.inventory.csv")
    before = emulator_stats(generations.g0)
    result = run_cli(
        "audit",
        str(inventory),
        "--resume",
        str(journal),
        "--endpoint",
        generations.g0.url,
        "--format",
        "json",
        env={"AUDITOR_TOKEN": TOKEN},
    )
    assert result.returncode == 1, result.stderr
    after = emulator_stats(generations.g0)
    assert after["by_project"] == before["by_project"]  # no ListFunctions, no tracing request
    assert after["tracing_requests"] == before["tracing_requests"]


def test_only_supported_audits_only_java_of_at_least_512_mb(
    generations: Generations, tmp_path: Path
) -> None:
    result = audit(generations.g0, tmp_path, "supported", "--only-supported", "--fail-on", "none")
    assert result.returncode == 0, result.stderr
    report = json.loads((tmp_path / "supported.json").read_text())
    listed = [f for f in generations.g0.fleet.functions if f.behaviour.value != "deleted"]
    supported = {
        f.urn.unqualified for f in listed if f.runtime.startswith("Java") and f.memory_size >= 512
    }
    assert {row["urn"] for row in report["results"]} == supported
    assert all(row["tracing_supported"] is True for row in report["results"])
    discovery = report["run"]["discovery"]
    assert discovery["only_supported"] is True
    assert discovery["unsupported_skipped"] == len(listed) - len(supported)
    assert f"--only-supported: {len(listed) - len(supported)} functions left out" in result.stdout
    # The inventory written beside the reports still lists everything discovered.
    inventory = (tmp_path / "supported.inventory.csv").read_text().splitlines()
    assert len(inventory) == 1 + len(listed)
