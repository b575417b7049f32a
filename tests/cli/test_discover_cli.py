"""`auditor discover` as a user runs it: a new process against an emulator process on 127.0.0.1."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from auditor.cli import main
from auditor.cli.discover_command import NO_SCOPES
from auditor.emulator import DEFAULT_AK, DEFAULT_SK, Behaviour
from auditor.model import tracing_supported
from auditor.send.breaker import GATEWAY_LOCK_AFTER
from auditor.source.urn import parse_urn
from tests.conftest import EmulatorProcess, emulator_stats, run_cli, start_emulator

REGION = "cn-north-4"
TOKEN = "discover-cli-token-SECRET-7f3a9c"
FUNCTIONS = 1500  # 500 per project: after the deleted ones, two pages each


@pytest.fixture(scope="module")
def fleet_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorProcess]:
    child, info = start_emulator(
        tmp_path_factory.mktemp("discover"),
        functions=FUNCTIONS,
        seed=23,
        token=TOKEN,
        projects=3,
        regions=(REGION,),
    )
    yield info
    child.stop()


def listed_urns(emulator: EmulatorProcess, project: str) -> list[str]:
    """What ListFunctions lists for `project`: every function but the DELETED ones, unqualified."""
    return [
        f.urn.unqualified
        for f in emulator.fleet.functions
        if f.urn.project_id == project and f.behaviour is not Behaviour.DELETED
    ]


def discover(emulator: EmulatorProcess, *args: str, token: str = TOKEN) -> tuple[int, str, str]:
    result = run_cli("discover", "--endpoint", emulator.url, *args, env={"AUDITOR_TOKEN": token})
    assert "Traceback" not in result.stderr
    return result.returncode, result.stdout, result.stderr


def scope_args(*projects: str) -> list[str]:
    args = [arg for project in projects for arg in ("--project", project)]
    return [*args, "--region", REGION]


@pytest.mark.e2e
def test_text_to_stdout_lists_every_function_once(fleet_emulator: EmulatorProcess) -> None:
    project = fleet_emulator.fleet.project_ids[0]
    before = emulator_stats(fleet_emulator)["requests"]
    code, out, err = discover(fleet_emulator, *scope_args(project))
    assert code == 0, err
    urns = out.splitlines()
    assert urns == listed_urns(fleet_emulator, project)
    assert len(urns) > 400  # two pages
    assert emulator_stats(fleet_emulator)["requests"] - before == 2
    assert f"discovered {len(urns)} functions in 1 projects" in err
    assert TOKEN not in out + err


@pytest.mark.e2e
def test_one_region_for_several_projects(fleet_emulator: EmulatorProcess) -> None:
    projects = fleet_emulator.fleet.project_ids
    code, out, err = discover(fleet_emulator, *scope_args(*projects), "--quiet")
    assert code == 0, err
    expected = [u for p in projects for u in listed_urns(fleet_emulator, p)]
    assert out.splitlines() == expected
    assert len(set(expected)) == len(expected)
    for project in projects:
        assert parse_urn(listed_urns(fleet_emulator, project)[0]).region == REGION


@pytest.mark.e2e
def test_csv_file_has_the_listing_columns(fleet_emulator: EmulatorProcess, tmp_path: Path) -> None:
    project = fleet_emulator.fleet.project_ids[1]
    target = tmp_path / "x.csv"
    code, out, err = discover(fleet_emulator, *scope_args(project), "-o", str(target))
    assert code == 0, err
    assert out == ""
    assert str(target) in err
    rows = list(csv.DictReader(io.StringIO(target.read_text(encoding="utf-8"), newline="")))
    assert [r["func_urn"] for r in rows] == listed_urns(fleet_emulator, project)
    by_urn = {f.urn.unqualified: f for f in fleet_emulator.fleet.functions}
    for row in rows:
        function = by_urn[row["func_urn"]]
        assert row["runtime"] == function.runtime
        assert int(row["memory_size"]) == function.memory_size
        assert row["func_name"] == function.urn.name
        assert row["package"] == function.urn.package
        expected = tracing_supported(function.runtime, function.memory_size)
        assert row["tracing_supported"] == str(expected)
    assert not list(tmp_path.glob(".*.tmp"))  # written atomically, nothing left behind


@pytest.mark.e2e
def test_json_file_is_listfunctions_shaped_with_the_projects(
    fleet_emulator: EmulatorProcess, tmp_path: Path
) -> None:
    projects = fleet_emulator.fleet.project_ids[:2]
    target = tmp_path / "x.json"
    code, _, err = discover(fleet_emulator, *scope_args(*projects), "-o", str(target))
    assert code == 0, err
    document = json.loads(target.read_text(encoding="utf-8"))
    expected = [u for p in projects for u in listed_urns(fleet_emulator, p)]
    assert [f["func_urn"] for f in document["functions"]] == expected
    assert document["count"] == len(expected)
    assert [(p["project_id"], p["complete"], p["pages"]) for p in document["projects"]] == [
        (p, True, 2) for p in projects
    ]


@pytest.mark.e2e
def test_format_flag_wins_over_the_suffix(fleet_emulator: EmulatorProcess, tmp_path: Path) -> None:
    project = fleet_emulator.fleet.project_ids[0]
    target = tmp_path / "x.txt"
    code, _, err = discover(
        fleet_emulator, *scope_args(project), "-o", str(target), "--format", "json"
    )
    assert code == 0, err
    assert json.loads(target.read_text())["count"] == len(listed_urns(fleet_emulator, project))


@pytest.mark.e2e
def test_only_supported_keeps_java_of_at_least_512_mb(
    fleet_emulator: EmulatorProcess, tmp_path: Path
) -> None:
    projects = fleet_emulator.fleet.project_ids
    target = tmp_path / "supported.csv"
    code, _, err = discover(
        fleet_emulator, *scope_args(*projects), "--only-supported", "-o", str(target)
    )
    assert code == 0, err
    rows = list(csv.DictReader(io.StringIO(target.read_text(encoding="utf-8"), newline="")))
    expected = [
        f.urn.unqualified
        for f in fleet_emulator.fleet.functions
        if f.behaviour is not Behaviour.DELETED
        and f.runtime.startswith("Java")
        and f.memory_size >= 512
    ]
    assert rows
    assert sorted(r["func_urn"] for r in rows) == sorted(expected)
    assert all(r["runtime"].startswith("Java") and int(r["memory_size"]) >= 512 for r in rows)
    assert {r["tracing_supported"] for r in rows} == {"True"}
    assert f", {len(rows)} with tracing support" in err


@pytest.mark.e2e
def test_projects_from_the_config(fleet_emulator: EmulatorProcess, tmp_path: Path) -> None:
    projects = fleet_emulator.fleet.project_ids
    config = tmp_path / "auditor.toml"
    config.write_text(
        f'endpoint = "{fleet_emulator.url}"\n'
        + "".join(f'[[projects]]\nid = "{p}"\nregion = "{REGION}"\n' for p in projects[1:]),
        encoding="utf-8",
    )
    result = run_cli("discover", "-c", str(config), "-q", env={"AUDITOR_TOKEN": TOKEN})
    assert result.returncode == 0, result.stderr
    expected = [u for p in projects[1:] for u in listed_urns(fleet_emulator, p)]
    assert result.stdout.splitlines() == expected


@pytest.mark.e2e
def test_flags_override_the_configs_projects(
    fleet_emulator: EmulatorProcess, tmp_path: Path
) -> None:
    projects = fleet_emulator.fleet.project_ids
    config = tmp_path / "auditor.toml"
    config.write_text(f'[[projects]]\nid = "{projects[0]}"\nregion = "{REGION}"\n')
    code, out, err = discover(fleet_emulator, "-c", str(config), *scope_args(projects[2]), "-q")
    assert code == 0, err
    assert out.splitlines() == listed_urns(fleet_emulator, projects[2])


@pytest.mark.e2e
def test_refused_credentials_are_exit_1_and_the_token_is_not_shown(
    fleet_emulator: EmulatorProcess, tmp_path: Path
) -> None:
    project = fleet_emulator.fleet.project_ids[0]
    wrong = "wrong-token-SECRET-1b2c3d"
    target = tmp_path / "x.csv"
    code, out, err = discover(fleet_emulator, *scope_args(project), "-o", str(target), token=wrong)
    assert code == 1
    assert "INCOMPLETE" in err
    assert "403" in err or "401" in err
    everything = out + err + target.read_text()
    assert wrong not in everything
    assert TOKEN not in everything


# --- usage errors: one line, exit 2, no traceback, nothing sent -------------------------------


@pytest.mark.e2e
def test_no_projects_is_one_line_and_exit_2(fleet_emulator: EmulatorProcess) -> None:
    before = emulator_stats(fleet_emulator)["requests"]
    code, out, err = discover(fleet_emulator)
    assert (code, out) == (2, "")
    assert err.strip().splitlines() == [f"auditor: error: {NO_SCOPES}"]
    assert emulator_stats(fleet_emulator)["requests"] == before


@pytest.mark.parametrize(
    ("args", "words"),
    [
        ((), "no projects to discover"),
        (("--region", REGION), "--region given without --project"),
        (("--project", "a" * 32, "--project", "b" * 32), "--region 0 times"),
        (
            ("--project", "a" * 32, "--project", "b" * 32, "--project", "c" * 32)
            + ("--region", REGION) * 2,
            "--project given 3 times but --region 2 times",
        ),
        (("--project", "not-a-project", "--region", REGION), "not 32 letters or digits"),
        (("--project", "a" * 32, "--region", "Nowhere"), "not a region name"),
        (("--project", "a" * 32, "--region", REGION, "--format", "xlsx"), "invalid choice"),
    ],
)
def test_usage_errors_are_one_line_and_exit_2(
    args: tuple[str, ...],
    words: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # In-process for speed; the endpoint is closed, so a request sent would fail loudly.
    monkeypatch.setenv("AUDITOR_TOKEN", TOKEN)
    try:
        code = main(["discover", "--endpoint", "http://127.0.0.1:9", *args])
    except SystemExit as exc:  # argparse's own errors
        code = int(exc.code or 0)
    captured = capsys.readouterr()
    assert code == 2
    assert captured.out == ""
    assert len(captured.err.strip().splitlines()) == 1, captured.err
    assert words in captured.err
    assert TOKEN not in captured.err


@pytest.mark.e2e
def test_a_config_project_without_region_is_a_usage_error(
    fleet_emulator: EmulatorProcess, tmp_path: Path
) -> None:
    config = tmp_path / "bad.toml"
    config.write_text(f'[[projects]]\nid = "{"a" * 32}"\n')
    code, _, err = discover(fleet_emulator, "-c", str(config))
    assert code == 2
    assert len(err.strip().splitlines()) == 1, err
    assert "projects 1" in err and "region" in err


@pytest.mark.e2e
def test_without_credentials_is_a_usage_error(fleet_emulator: EmulatorProcess) -> None:
    result = run_cli(
        "discover",
        "--endpoint",
        fleet_emulator.url,
        *scope_args(fleet_emulator.fleet.project_ids[0]),
    )
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert "no credentials" in result.stderr


@pytest.mark.e2e
def test_an_unwritable_output_is_refused_before_anything_is_sent(
    fleet_emulator: EmulatorProcess, tmp_path: Path
) -> None:
    before = emulator_stats(fleet_emulator)["requests"]
    target = tmp_path / "missing-dir" / "x.csv"
    code, _, err = discover(
        fleet_emulator, *scope_args(fleet_emulator.fleet.project_ids[0]), "-o", str(target)
    )
    assert code == 2
    assert err.strip().splitlines() == [
        f"auditor: error: -o {target}: folder {target.parent} does not exist"
    ]
    assert emulator_stats(fleet_emulator)["requests"] == before


@pytest.mark.e2e
def test_an_output_suffix_of_another_format_is_refused(
    fleet_emulator: EmulatorProcess, tmp_path: Path
) -> None:
    target = tmp_path / "fleet.xlsx"
    code, _, err = discover(
        fleet_emulator, *scope_args(fleet_emulator.fleet.project_ids[0]), "-o", str(target)
    )
    assert code == 2
    assert len(err.strip().splitlines()) == 1
    assert "write .txt, .csv or .json" in err
    assert not target.exists()


@pytest.mark.e2e
def test_a_wrong_secret_key_is_not_hammered_across_projects(tmp_path: Path) -> None:
    """Six projects listed in parallel under one bad access key: the credential guard lets a
    few failed signatures through, not one per project, so the gateway (which locks a key
    after five in a row) never locks it, and the right key still works afterwards."""
    child, emulator = start_emulator(tmp_path, functions=120, seed=3, projects=6, regions=(REGION,))
    try:
        scope = scope_args(*emulator.fleet.project_ids)
        common = ("discover", "--endpoint", emulator.url, *scope, "--retries", "0")
        wrong = {"HUAWEICLOUD_SDK_AK": DEFAULT_AK, "HUAWEICLOUD_SDK_SK": "wrong-secret-key"}
        refused = run_cli(*common, env=wrong)
        assert refused.returncode == 1, refused.stderr
        stats = emulator_stats(emulator)
        assert 1 <= stats["by_status"].get("401", 0) <= GATEWAY_LOCK_AFTER - 1
        right = {"HUAWEICLOUD_SDK_AK": DEFAULT_AK, "HUAWEICLOUD_SDK_SK": DEFAULT_SK}
        accepted = run_cli(*common, env=right)
        assert accepted.returncode == 0, accepted.stderr
        assert len(accepted.stdout.split()) == len(
            [f for f in emulator.fleet.functions if f.behaviour is not Behaviour.DELETED]
        )
    finally:
        child.stop()
