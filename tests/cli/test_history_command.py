"""`auditor history` and the history options of `auditor audit`, in-process on SQLite: listing
runs (table, JSON, CSV), one function's timeline, pruning, importing old reports, and every
store problem as exit 2 with one line (never a traceback, never a password).

The reports imported are written by `run_audit` over a fake prober on a clock the test moves
(two audits a day apart); the audits run through the CLI are faked with aioresponses at the
HTTP boundary, as in test_cli.py.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from aioresponses import aioresponses

from auditor.audit import run_audit
from auditor.config import Settings
from auditor.source.inputs import from_lines
from auditor.store.history import History
from auditor.store.schema import SCHEMA_VERSION
from tests.cli.test_cli import run_main, urn_file
from tests.factories import WallClock
from tests.test_audit import OK, runner_for, urn
from tests.test_history_runs import MISSING, T0, ScriptedProber, text

TOKEN = "TOKEN-history-cli-NEVER-PRINT"
PASSWORD = "PW-history-9c41-NEVER-PRINT"
UNREACHABLE = f"postgresql://nobody:{PASSWORD}@127.0.0.1:1/auditor"
TRACING = re.compile(r"^http://api\.test/v2/.*/tracing$")
ORDERS, PAYMENTS = urn("orders"), urn("payments")


def history(
    args: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> tuple[int, str, str]:
    """`auditor history ARGS`: exit code, stdout, stderr."""
    code = run_main(["history", *args], monkeypatch)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_one_line_error(code: int, err: str, *needles: str) -> None:
    assert code == 2, err
    assert err.startswith("auditor: error: "), err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    for needle in needles:
        assert needle in err, (needle, err)


def write_reports(folder: Path) -> tuple[Path, Path]:
    """Two JSON reports of the same inputs a day apart, as audits without a store write
    them: `mon` (orders configured, payments without keys), then `tue` (both without)."""
    clock = WallClock(T0)
    prober = ScriptedProber(clock)
    inputs = from_lines([ORDERS, PAYMENTS], "fleet.txt")
    settings = Settings(out=folder, formats=("json",), history=None)
    for name, answers in (
        ("mon", {"orders": OK, "payments": MISSING}),
        ("tue", {"orders": MISSING, "payments": MISSING}),
    ):
        prober.answers = answers
        asyncio.run(
            run_audit(inputs, settings, runner_for(prober), name=name, credential_method="t")
        )
        clock.advance(24 * 3600)
    return folder / "mon.json", folder / "tue.json"


@pytest.fixture
def imported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Path:
    """A report folder whose history.sqlite holds the two runs, imported newest first (the
    import sorts them)."""
    mon, tue = write_reports(tmp_path / "old")
    out = tmp_path / "reports"
    code, stdout, err = history(["import", str(tue), str(mon), "-o", str(out)], monkeypatch, capsys)
    assert code == 0, err
    lines = stdout.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith(f"imported {mon}: run ") and "mon" in lines[0]
    assert lines[1].startswith(f"imported {tue}: run ") and "2 rows" in lines[1]
    assert (out / "history.sqlite").is_file()
    return out


def mocked_api(mocked: aioresponses, status: int = 404) -> None:
    mocked.get("http://api.test/", status=404, repeat=True)  # the reachability pre-flight
    body = (
        {"tracing_ak": "AKFULLVALUE0123456789ABCDEF", "tracing_sk": "******"}
        if status == 200
        else {"error_code": "FSS.0404", "error_msg": "can not find tracing aksk"}
    )
    mocked.get(TRACING, status=status, payload=body, repeat=True)


def audit_args(tmp_path: Path, out: Path, *more: str) -> list[str]:
    return [
        "audit",
        urn_file(tmp_path, ORDERS, PAYMENTS),
        "--endpoint",
        "http://api.test",
        "-o",
        str(out),
        "-q",
        "--rate",
        "0",
        "--retries",
        "0",
        *more,
    ]


def requests_sent(mocked: aioresponses) -> int:
    return sum(len(calls) for calls in mocked.requests.values())


# --- listing runs --------------------------------------------------------------------------------


def test_history_of_a_folder_without_a_store_is_one_line_exit_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    code, out, err = history(["-o", str(empty)], monkeypatch, capsys)
    assert_one_line_error(code, err, "no history store", str(empty / "history.sqlite"))
    assert out == ""
    assert list(empty.iterdir()) == []  # nothing created by looking


def test_history_lists_the_runs_as_a_table(
    imported: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = history(["-o", str(imported)], monkeypatch, capsys)
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == f"history store {imported / 'history.sqlite'}: 2 runs"
    assert lines[1].split() == [
        "run_id",
        "started_at",
        "name",
        "scope_label",
        "complete",
        "total",
        "compliance",
        "configured",
        "missing_keys",
    ]
    tue, mon = lines[2], lines[3]  # newest first
    assert text(T0 + timedelta(days=1)) in tue and " tue " in tue
    assert text(T0) in mon and " mon " in mon
    assert tue.split()[-3:] == ["0.0", "0", "2"]  # compliance, configured, missing_keys
    assert mon.split()[-3:] == ["50.0", "1", "1"]


def test_history_lists_the_runs_as_json_and_csv(
    imported: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = history(["-o", str(imported), "--format", "json"], monkeypatch, capsys)
    assert code == 0, err
    document = json.loads(out)
    assert document["store"] == str(imported / "history.sqlite")
    runs = document["runs"]
    assert [r["name"] for r in runs] == ["tue", "mon"]
    assert [r["started_at"] for r in runs] == [text(T0 + timedelta(days=1)), text(T0)]
    assert [r["by_status"] for r in runs] == [
        {"missing_keys": 2},
        {"configured": 1, "missing_keys": 1},
    ]
    assert [r["compliance"] for r in runs] == [0.0, 50.0]
    assert [r["recorded_from"] for r in runs] == ["import tue.json", "import mon.json"]
    assert runs[0]["scope"] == runs[1]["scope"]  # the same inputs: the same scope
    assert all(r["complete"] is True and r["total"] == 2 for r in runs)

    code, out, err = history(["-o", str(imported), "--format", "csv"], monkeypatch, capsys)
    assert code == 0, err
    table = list(csv.reader(io.StringIO(out)))
    assert table[0][:3] == ["run_id", "started_at", "name"]
    assert table[0][-2:] == ["configured", "missing_keys"]
    assert [row[2] for row in table[1:]] == ["tue", "mon"]
    assert [row[-2:] for row in table[1:]] == [["0", "2"], ["1", "1"]]

    code, out, err = history(
        ["-o", str(imported), "--format", "json", "--limit", "1"], monkeypatch, capsys
    )
    assert code == 0, err
    assert [r["name"] for r in json.loads(out)["runs"]] == ["tue"]


def test_history_reads_the_store_history_names(
    imported: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    moved = tmp_path / "elsewhere" / "team.sqlite"
    moved.parent.mkdir()
    (imported / "history.sqlite").rename(moved)
    empty = tmp_path / "empty"
    for given in (str(moved), f"sqlite:///{moved}"):
        code, out, err = history(
            ["-o", str(empty), "--history", given, "--format", "json"], monkeypatch, capsys
        )
        assert code == 0, (given, err)
        assert [r["name"] for r in json.loads(out)["runs"]] == ["tue", "mon"]


def test_history_of_a_store_file_that_does_not_exist_is_one_line_exit_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # A mistyped --history must not be answered with an empty store created on the spot.
    typo = tmp_path / "team" / "histroy.sqlite"
    code, _, err = history(["--history", str(typo)], monkeypatch, capsys)
    assert_one_line_error(code, err, "no history store", str(typo))
    assert not typo.exists() and not typo.parent.exists()


# --- one function's timeline ---------------------------------------------------------------------


def test_history_urn_shows_the_timeline_of_changes(
    imported: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    t0, t1 = text(T0), text(T0 + timedelta(days=1))
    code, out, err = history(["-o", str(imported), "--urn", ORDERS], monkeypatch, capsys)
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == ORDERS
    assert lines[1] == f"first seen {t0}; now missing_keys, failing since {t1}"
    assert lines[2].split() == ["checked_at", "run", "previous_status", "status", "failing_since"]
    assert [line.split() for line in lines[3:]] == [
        [t0, "mon", "configured"],  # no previous status, not failing: empty cells
        [t1, "tue", "configured", "missing_keys", t1],
    ]

    code, out, err = history(
        ["-o", str(imported), "--urn", PAYMENTS, "--format", "json"], monkeypatch, capsys
    )
    assert code == 0, err
    document = json.loads(out)
    assert document["urn"] == PAYMENTS
    assert document["now"]["status"] == "missing_keys"
    assert document["now"]["failing_since"] == t0  # unbroken since Monday
    assert document["now"]["first_seen"] == t0
    assert document["changes"] == [  # Tuesday changed nothing: no entry
        {
            "checked_at": t0,
            "run": "mon",
            "previous_status": "",
            "status": "missing_keys",
            "failing_since": t0,
        }
    ]

    code, out, err = history(
        ["-o", str(imported), "--urn", ORDERS, "--format", "csv"], monkeypatch, capsys
    )
    assert code == 0, err
    assert list(csv.reader(io.StringIO(out))) == [
        ["checked_at", "run", "previous_status", "status", "failing_since"],
        [t0, "mon", "", "configured", ""],
        [t1, "tue", "configured", "missing_keys", t1],
    ]


def test_history_urn_not_in_the_store_is_one_line_exit_2(
    imported: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = history(["-o", str(imported), "--urn", urn("nobody")], monkeypatch, capsys)
    assert_one_line_error(code, err, urn("nobody"), "not in the history store")


# --- pruning -------------------------------------------------------------------------------------


def test_prune_keep_0d_deletes_every_run_and_keeps_each_timeline(
    imported: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = history(["-o", str(imported), "--prune", "--keep", "0d"], monkeypatch, capsys)
    assert code == 0, err
    assert out.startswith("pruned 2 runs started before ")
    assert "(4 result rows)" in out
    code, out, _ = history(["-o", str(imported), "--format", "json"], monkeypatch, capsys)
    assert code == 0 and json.loads(out)["runs"] == []
    code, out, err = history(
        ["-o", str(imported), "--urn", ORDERS, "--format", "json"], monkeypatch, capsys
    )
    assert code == 0, err
    document = json.loads(out)
    assert document["now"]["failing_since"] == text(T0 + timedelta(days=1))
    assert [c["run"] for c in document["changes"]] == ["(pruned run)", "(pruned run)"]


def test_prune_keeps_runs_younger_than_keep(
    imported: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # The imported runs are from 2024: far younger than 100 years (5218 weeks).
    code, out, err = history(
        ["-o", str(imported), "--prune", "--keep", "5218w"], monkeypatch, capsys
    )
    assert code == 0, err
    assert out.startswith("pruned 0 runs")
    code, out, _ = history(["-o", str(imported), "--format", "json"], monkeypatch, capsys)
    assert len(json.loads(out)["runs"]) == 2


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--prune", "--keep", "soon"], "--keep soon"),
        (["--prune", "--keep", "10"], "--keep 10"),
        (["--prune", "--keep=-5d"], "--keep -5d"),
        (["--prune"], "--prune needs --keep"),
        (["--keep", "10d"], "--keep goes with --prune"),
    ],
)
def test_bad_prune_options_are_one_line_exit_2(
    args: list[str],
    needle: str,
    imported: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = history(["-o", str(imported), *args], monkeypatch, capsys)
    assert_one_line_error(code, err, needle)
    code, out, _ = history(["-o", str(imported), "--format", "json"], monkeypatch, capsys)
    assert len(json.loads(out)["runs"]) == 2  # nothing pruned


# --- import --------------------------------------------------------------------------------------


def test_import_ages_the_rows_in_the_order_the_runs_happened(
    imported: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with History.open(str(imported / "history.sqlite")) as store:
        rows = store.database.rows(
            "SELECT r.name, s.urn, s.first_seen, s.failing_since, s.days_failing "
            "FROM results s JOIN runs r ON r.run_id = s.run_id ORDER BY r.started_at, s.urn"
        )
    t0, t1 = text(T0), text(T0 + timedelta(days=1))
    assert rows == [
        ("mon", ORDERS, t0, "", None),
        ("mon", PAYMENTS, t0, t0, 0),
        ("tue", ORDERS, t0, t1, 0),
        ("tue", PAYMENTS, t0, t0, 1),
    ]


def test_importing_the_same_report_again_keeps_one_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    mon, _ = write_reports(tmp_path / "old")
    out = tmp_path / "reports"
    for _ in range(2):
        code, _, err = history(["import", str(mon), "-o", str(out)], monkeypatch, capsys)
        assert code == 0, err
    code, listed, _ = history(["-o", str(out), "--format", "json"], monkeypatch, capsys)
    assert [r["name"] for r in json.loads(listed)["runs"]] == ["mon"]


def test_journals_are_imported_like_reports(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    old = tmp_path / "old"
    write_reports(old)
    out = str(tmp_path / "reports")
    journals = [str(old / "tue.journal.jsonl"), str(old / "mon.journal.jsonl")]
    code, _, err = history(["import", *journals, "-o", out], monkeypatch, capsys)
    assert code == 0, err
    code, listed, _ = history(["-o", out, "--format", "json"], monkeypatch, capsys)
    runs = json.loads(listed)["runs"]
    assert [(r["name"], r["by_status"]) for r in runs] == [
        ("tue", {"missing_keys": 2}),
        ("mon", {"configured": 1, "missing_keys": 1}),
    ]
    code, timeline, _ = history(
        ["-o", out, "--urn", PAYMENTS, "--format", "json"], monkeypatch, capsys
    )
    assert json.loads(timeline)["now"]["failing_since"] == text(T0)


def test_importing_a_report_the_audit_recorded_already_keeps_one_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "reports"
    code, report = cli_audit(tmp_path, out, 404, monkeypatch, capsys)
    assert code == 1
    code, _, err = history(["import", str(out / "run0.json"), "-o", str(out)], monkeypatch, capsys)
    assert code == 0, err
    code, listed, _ = history(["-o", str(out), "--format", "json"], monkeypatch, capsys)
    runs = json.loads(listed)["runs"]
    assert [r["name"] for r in runs] == ["run0"]
    code, timeline, _ = history(
        ["-o", str(out), "--urn", ORDERS, "--format", "json"], monkeypatch, capsys
    )
    document = json.loads(timeline)
    assert len(document["changes"]) == 1  # first seen, once
    assert document["now"]["failing_since"] == report["results"][0]["failing_since"]


def test_backfilling_an_older_report_does_not_rewind_the_current_standing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A store already holding Tuesday's run is backfilled with Monday's report: Monday's
    rows are recorded, but what each function is now stays what Tuesday saw."""
    mon, tue = write_reports(tmp_path / "old")
    out = str(tmp_path / "reports")
    for report in (tue, mon):  # two imports, newest first
        code, _, err = history(["import", str(report), "-o", out], monkeypatch, capsys)
        assert code == 0, err
    code, listed, _ = history(["-o", out, "--format", "json"], monkeypatch, capsys)
    assert [r["name"] for r in json.loads(listed)["runs"]] == ["tue", "mon"]
    code, timeline, _ = history(
        ["-o", out, "--urn", ORDERS, "--format", "json"], monkeypatch, capsys
    )
    document = json.loads(timeline)
    t1 = text(T0 + timedelta(days=1))
    assert document["now"]["status"] == "missing_keys"  # Tuesday's, not Monday's configured
    assert document["now"]["failing_since"] == t1
    assert document["changes"][-1]["status"] == "missing_keys"


def test_bad_import_arguments_are_one_line_exit_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    out = str(tmp_path / "reports")
    code, _, err = history(["import", "-o", out], monkeypatch, capsys)
    assert_one_line_error(code, err, "import needs FILE")
    code, _, err = history(["import", str(tmp_path / "nope.json"), "-o", out], monkeypatch, capsys)
    assert_one_line_error(code, err, "nope.json")
    junk = tmp_path / "junk.json"
    junk.write_text("[1, 2, 3]\n")
    code, _, err = history(["import", str(junk), "-o", out], monkeypatch, capsys)
    assert_one_line_error(code, err, "junk.json")
    with pytest.raises(SystemExit) as exit_info:  # argparse: not an action
        history(["-o", out, str(junk)], monkeypatch, capsys)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "junk.json" in err, err


def test_migrate_takes_no_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Files go with import only: `migrate FILE` is a usage error, not FILE silently ignored.
    out = str(tmp_path / "reports")
    mon, _ = write_reports(tmp_path / "old")
    code, _, err = history(["migrate", str(mon), "-o", out], monkeypatch, capsys)
    assert_one_line_error(code, err, "unexpected arguments", "mon.json")


# --- store problems: exit 2, one line ------------------------------------------------------------


def test_an_unreachable_postgresql_store_is_one_line_without_its_password(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    out = str(tmp_path / "reports")
    for args in (
        ["--history", UNREACHABLE, "-o", out],
        ["migrate", "--history", UNREACHABLE, "-o", out],
        ["--history", UNREACHABLE, "--urn", ORDERS, "-o", out],
    ):
        code, stdout, err = history(args, monkeypatch, capsys)
        assert_one_line_error(code, err, "127.0.0.1:1")  # it names the store it tried
        assert PASSWORD not in err and PASSWORD not in stdout, args
        assert "nobody:***@" in err, err


def test_a_password_in_the_url_s_query_never_reaches_stderr(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # libpq also takes the password as a query parameter.
    url = f"postgresql://nobody@127.0.0.1:1/auditor?sslmode=disable&password={PASSWORD}"
    code, stdout, err = history(["--history", url, "-o", str(tmp_path)], monkeypatch, capsys)
    assert_one_line_error(code, err, "127.0.0.1:1")
    assert PASSWORD not in err and PASSWORD not in stdout, err


def test_an_audit_with_an_unreachable_postgresql_store_stops_before_any_request(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "reports"
    with aioresponses() as mocked:
        mocked_api(mocked)
        code = run_main(
            audit_args(tmp_path, out, "--history", UNREACHABLE), monkeypatch, AUDITOR_TOKEN=TOKEN
        )
        sent = requests_sent(mocked)
    err = capsys.readouterr().err
    assert_one_line_error(code, err, "127.0.0.1:1")
    assert PASSWORD not in err
    assert sent == 0
    assert not any(out.glob("*.json"))


@pytest.mark.parametrize(
    "more",
    [["--baseline", "last", "--no-history"], ["--fail-on-age", "7", "--no-history"]],
    ids=["baseline-last", "fail-on-age"],
)
def test_what_needs_the_store_is_refused_with_no_history(
    more: list[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = tmp_path / "reports"
    with aioresponses() as mocked:
        mocked_api(mocked)
        code = run_main(audit_args(tmp_path, out, *more), monkeypatch, AUDITOR_TOKEN=TOKEN)
        sent = requests_sent(mocked)
    err = capsys.readouterr().err
    assert_one_line_error(code, err, "--no-history", more[0])
    assert sent == 0


def test_no_history_records_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "reports"
    with aioresponses() as mocked:
        mocked_api(mocked, status=200)
        code = run_main(audit_args(tmp_path, out, "--no-history"), monkeypatch, AUDITOR_TOKEN=TOKEN)
    assert code == 0, capsys.readouterr().err
    assert any(out.glob("*.json"))
    assert not (out / "history.sqlite").exists()


def test_a_store_that_is_not_sqlite_is_one_line_exit_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "reports"
    out.mkdir()
    garbage = bytes(range(256)) * 16
    (out / "history.sqlite").write_bytes(garbage)
    code, _, err = history(["-o", str(out)], monkeypatch, capsys)
    assert_one_line_error(code, err, str(out / "history.sqlite"))
    # An audit into that folder stops before sending anything, and leaves the file alone.
    with aioresponses() as mocked:
        mocked_api(mocked)
        code = run_main(audit_args(tmp_path, out), monkeypatch, AUDITOR_TOKEN=TOKEN)
        sent = requests_sent(mocked)
    assert_one_line_error(code, capsys.readouterr().err, str(out / "history.sqlite"))
    assert sent == 0
    assert (out / "history.sqlite").read_bytes() == garbage


def test_a_store_of_a_newer_auditor_is_one_line_exit_2(
    imported: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with History.open(str(imported / "history.sqlite")) as store:
        store.database.execute(
            "INSERT INTO schema_version (version, applied_at) VALUES (?, ?)",
            (SCHEMA_VERSION + 1, text(T0)),
        )
    code, _, err = history(["-o", str(imported)], monkeypatch, capsys)
    assert_one_line_error(code, err, "newer", "upgrade auditor")


# --- audits through the CLI, recorded in the default store ---------------------------------------


def cli_audit(
    tmp_path: Path,
    out: Path,
    status: int,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    *more: str,
) -> tuple[int, dict[str, Any]]:
    name = f"run{len(list(out.glob('*.json'))) if out.exists() else 0}"
    with aioresponses() as mocked:
        mocked_api(mocked, status=status)
        code = run_main(
            audit_args(tmp_path, out, "--name", name, *more), monkeypatch, AUDITOR_TOKEN=TOKEN
        )
    err = capsys.readouterr().err
    assert TOKEN not in err
    report: dict[str, Any] = json.loads((out / f"{name}.json").read_text())
    return code, report


def test_audits_are_recorded_in_the_default_store_and_compared_with_the_last(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "reports"
    code, first = cli_audit(tmp_path, out, 200, monkeypatch, capsys)
    assert code == 0
    assert (out / "history.sqlite").is_file()
    assert first["run"]["history"]["store"] == str(out / "history.sqlite")
    assert first["run"]["history"]["previous_run"] is None
    code, second = cli_audit(tmp_path, out, 404, monkeypatch, capsys, "--baseline", "last")
    assert code == 1
    assert [r["change"] for r in second["results"]] == ["regressed", "regressed"]
    assert all(r["failing_since"] and r["days_failing"] == 0 for r in second["results"])
    assert second["run"]["history"]["previous_run"]["name"] == "run0"
    code, listed, err = history(["-o", str(out), "--format", "json"], monkeypatch, capsys)
    assert code == 0, err
    assert [r["name"] for r in json.loads(listed)["runs"]] == ["run1", "run0"]


def test_fail_on_age_lets_a_fresh_finding_pass(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "reports"
    code, report = cli_audit(tmp_path, out, 404, monkeypatch, capsys, "--fail-on-age", "1")
    assert [r["days_failing"] for r in report["results"]] == [0, 0]
    assert report["run"]["settings"]["fail_on_age"] == 1
    assert code == 0  # findings, but none open a day yet
    code, report = cli_audit(tmp_path, out, 404, monkeypatch, capsys, "--fail-on-age", "0")
    assert code == 1


def test_an_audit_records_in_the_store_history_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "reports"
    store = tmp_path / "team" / "shared.sqlite"
    code, report = cli_audit(tmp_path, out, 200, monkeypatch, capsys, "--history", str(store))
    assert code == 0
    assert store.is_file()
    assert not (out / "history.sqlite").exists()
    assert report["run"]["history"]["store"] == str(store)


def test_a_config_history_false_records_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "auditor.toml"
    config.write_text("history = false\n")
    out = tmp_path / "reports"
    code, report = cli_audit(tmp_path, out, 200, monkeypatch, capsys, "-c", str(config))
    assert code == 0
    assert not (out / "history.sqlite").exists()
    assert "history" not in report["run"]
    code, _, err = history(["-o", str(out), "-c", str(config)], monkeypatch, capsys)
    assert_one_line_error(code, err, "needs a store")
