"""`auditor report` (auditor/rebuild.py): reports rebuilt from a journal or a JSON report.

The sources are those of one real audit of the emulator; the rebuilds run in-process and never
touch the network (no credentials are set, no endpoint is given).
"""

from __future__ import annotations

import csv
import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from auditor.cli import main
from auditor.errors import InputError, UsageError
from auditor.model import COLUMNS, Status
from auditor.report.rebuild import load_source, rebuild_reports
from auditor.store.journal import Journal
from tests.conftest import EmulatorProcess, run_cli
from tests.factories import make_row
from tests.report_schema import validate_report


@dataclass(frozen=True)
class Audited:
    """The files one finished audit left in `folder`, and its JSON report."""

    folder: Path
    report: dict[str, Any]

    @property
    def journal(self) -> Path:
        return self.folder / "run.journal.jsonl"

    @property
    def json(self) -> Path:
        return self.folder / "run.json"

    def copy_to(self, folder: Path) -> Audited:
        """A private copy, for tests that write beside the sources or change them."""
        shutil.copytree(self.folder, folder)
        return Audited(folder, self.report)


@pytest.fixture(scope="module")
def audited(emulator: EmulatorProcess, tmp_path_factory: pytest.TempPathFactory) -> Audited:
    folder = tmp_path_factory.mktemp("audited")
    result = run_cli(
        "audit",
        str(emulator.urns_file),
        "--endpoint",
        emulator.url,
        "-o",
        str(folder),
        "--name",
        "run",
        "--rate",
        "0",
        "--retries",
        "1",
        "-q",
        env={"AUDITOR_TOKEN": emulator.token},
    )
    assert result.returncode == 1, result.stderr  # the fleet has findings
    report: dict[str, Any] = json.loads((folder / "run.json").read_text(encoding="utf-8"))
    return Audited(folder, report)


def rebuild(*args: str) -> int:
    return main(["report", *args])


def read_report(path: Path) -> dict[str, Any]:
    report: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    validate_report(report)
    return report


def csv_rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as stream:
        return list(csv.DictReader(stream))


# --- from a journal -------------------------------------------------------------------------


@pytest.mark.e2e
def test_from_a_journal_the_report_is_the_audits(
    audited: Audited, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert rebuild(str(audited.journal), "-o", str(tmp_path)) == 0
    paths = [tmp_path / f"run.{fmt}" for fmt in ("xlsx", "csv", "json")]
    printed = capsys.readouterr()
    assert printed.out.splitlines() == [str(p) for p in paths]
    assert "partial" not in printed.err
    rebuilt = read_report(tmp_path / "run.json")
    assert rebuilt["results"] == audited.report["results"]
    assert rebuilt["summary"] == audited.report["summary"]
    run = rebuilt["run"]
    assert run["complete"] is True and run["not_audited"] == []
    assert run["not_audited_count"] == 0 and run["lines_skipped"] == 0
    assert run["targets"] == len(audited.report["results"])
    assert run["started_at"] == audited.report["run"]["started_at"]
    assert run["journal"] == run["rebuilt_from"] == str(audited.journal)
    rows = csv_rows(tmp_path / "run.csv")
    assert [r["urn"] for r in rows] == [r["urn"] for r in audited.report["results"]]
    assert list(rows[0]) == list(COLUMNS)
    book = openpyxl.load_workbook(tmp_path / "run.xlsx", read_only=True)
    assert book["Results"].max_row - 1 == len(audited.report["results"])


@pytest.mark.e2e
def test_a_torn_last_line_loses_only_that_row(
    audited: Audited, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    journal = tmp_path / "crashed.journal.jsonl"
    whole = audited.journal.read_text(encoding="utf-8").splitlines(keepends=True)
    torn_index = json.loads(whole[-1])["i"]
    journal.write_text("".join(whole[:-1]) + whole[-1][: len(whole[-1]) // 2], encoding="utf-8")
    assert rebuild(str(journal), "--format", "json,csv", "-q") == 0
    assert "partial report (1 not audited)" in capsys.readouterr().err
    # The header names the run "run": the rebuild takes that name, beside the journal.
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "crashed.journal.jsonl",
        "run.csv",
        "run.json",
    ]
    rebuilt = read_report(tmp_path / "run.json")
    original = audited.report["results"]
    assert rebuilt["results"] == original[:torn_index] + original[torn_index + 1 :]
    run = rebuilt["run"]
    assert run["complete"] is False and "not_audited" not in run
    assert run["not_audited_count"] == 1 and run["lines_skipped"] == 1
    assert rebuilt["summary"]["total"] == len(original) - 1
    assert len(csv_rows(tmp_path / "run.csv")) == len(original) - 1


def test_a_resumed_journal_counts_once(tmp_path: Path) -> None:
    journal = tmp_path / "r.journal.jsonl"
    header = {"name": "r", "started_at": "2024-05-06T07:08:00Z", "targets": 3}
    with Journal(journal, header) as first:
        first.record(1, make_row(1))
    with Journal(journal, {**header, "started_at": "2024-05-06T08:00:00Z"}, resume=True) as again:
        again.record(0, make_row(0, Status.MISSING_KEYS, http_status=404))
        again.record(2, make_row(2))
    loaded = load_source(journal)
    assert loaded.kind == "journal" and loaded.name == "r"
    assert [row.function for row in loaded.document.rows] == ["fn-0", "fn-1", "fn-2"]
    assert loaded.document.run["complete"] is True
    assert loaded.document.run["started_at"] == "2024-05-06T07:08:00Z"  # the first start


def test_rows_past_the_targets_are_skipped_not_reported(tmp_path: Path) -> None:
    journal = tmp_path / "odd.journal.jsonl"
    with Journal(journal, {"name": "odd", "targets": 1}) as writer:
        writer.record(0, make_row(0))
        writer.record(7, make_row(7))
    run = load_source(journal).document.run
    assert run["complete"] is True and run["lines_skipped"] == 1
    assert run["started_at"] == ""
    assert len(load_source(journal).document.rows) == 1


# --- from a JSON report ---------------------------------------------------------------------


@pytest.mark.e2e
def test_from_a_json_report_under_another_name(
    audited: Audited, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    copy = audited.copy_to(tmp_path / "copy")
    assert rebuild(str(copy.json), "--name", "again") == 0
    assert capsys.readouterr().out.splitlines() == [
        str(copy.folder / f"again.{fmt}") for fmt in ("xlsx", "csv", "json")
    ]
    rebuilt = read_report(copy.folder / "again.json")
    assert rebuilt["results"] == audited.report["results"]
    assert rebuilt["summary"] == audited.report["summary"]
    assert rebuilt["run"] == {**audited.report["run"], "rebuilt_from": str(copy.json)}
    assert (copy.folder / "run.json").read_bytes() == (audited.json).read_bytes()
    assert (copy.folder / "again.csv").read_bytes() == (copy.folder / "run.csv").read_bytes()


@pytest.mark.e2e
def test_from_a_json_report_only_the_formats_asked(audited: Audited, tmp_path: Path) -> None:
    copy = audited.copy_to(tmp_path / "copy")
    (copy.folder / "run.xlsx").unlink()
    (copy.folder / "run.csv").unlink()
    # Beside the source under its own name: fine as long as the JSON is not rewritten.
    assert rebuild(str(copy.json), "--format", "xlsx,csv", "-q") == 0
    assert sorted(p.name for p in copy.folder.iterdir()) == [
        "history.sqlite",  # the audit's history store
        "run.csv",
        "run.journal.jsonl",
        "run.json",
        "run.xlsx",
    ]
    assert len(csv_rows(copy.folder / "run.csv")) == len(audited.report["results"])


@pytest.mark.e2e
def test_a_compact_json_report_is_read_too(audited: Audited, tmp_path: Path) -> None:
    compact = tmp_path / "compact.json"
    compact.write_text(json.dumps(audited.report, separators=(",", ":")), encoding="utf-8")
    _, paths = rebuild_reports(compact, ["json"], name="out")
    assert paths == [tmp_path / "out.json"]
    assert read_report(paths[0])["results"] == audited.report["results"]


@pytest.mark.e2e
def test_a_rebuilt_report_rebuilds_again(audited: Audited, tmp_path: Path) -> None:
    assert rebuild(str(audited.journal), "-o", str(tmp_path), "--name", "one", "-q") == 0
    assert rebuild(str(tmp_path / "one.json"), "--name", "two", "-q") == 0
    two = read_report(tmp_path / "two.json")
    assert two["results"] == audited.report["results"]
    assert two["run"]["rebuilt_from"] == str(tmp_path / "one.json")
    assert two["run"]["journal"] == str(audited.journal)


# --- refusals and errors --------------------------------------------------------------------


@pytest.mark.e2e
def test_refuses_to_overwrite_its_source(
    audited: Audited, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    copy = audited.copy_to(tmp_path / "copy")
    before = copy.json.read_bytes()
    listing = sorted(p.name for p in copy.folder.iterdir())
    for args in ([str(copy.json)], [str(copy.json), "-o", f"{copy.folder}/../copy/."]):
        assert rebuild(*args) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "is the source being rebuilt from" in err
        assert "--name" in err
    assert copy.json.read_bytes() == before
    assert sorted(p.name for p in copy.folder.iterdir()) == listing


@pytest.mark.e2e
def test_refuses_a_symlink_to_its_source_too(audited: Audited, tmp_path: Path) -> None:
    copy = audited.copy_to(tmp_path / "copy")
    (tmp_path / "link").mkdir()
    (tmp_path / "link" / "run.json").symlink_to(copy.json)
    with pytest.raises(UsageError, match="is the source being rebuilt from"):
        rebuild_reports(copy.json, ["json"], out_dir=tmp_path / "link")


def _not_a_report_cases(tmp_path: Path, audited: Audited) -> dict[str, tuple[Path, str]]:
    def file(name: str, content: str | bytes) -> Path:
        path = tmp_path / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
        return path

    text = audited.json.read_text(encoding="utf-8")
    wrong_version = json.dumps({**audited.report, "schema_version": 2})
    bad_row = json.dumps({**audited.report, "results": [{"urn": "x", "status": "weird"}]})
    return {
        "missing": (tmp_path / "nope.json", "no such file"),
        "directory": (tmp_path, "is a directory"),
        "empty": (file("empty.json", ""), "not an auditor journal or JSON report"),
        "urn list": (file("urns.txt", "urn:fss:x\n"), "not an auditor journal or JSON report"),
        "xlsx": (file("book.xlsx", b"PK\x03\x04\xff\xfe"), "not UTF-8 text"),
        "truncated": (file("cut.json", text[: len(text) // 2]), "not valid JSON"),
        "listing": (file("list.json", '{"functions": []}'), "not an auditor JSON report"),
        "array": (file("array.json", "[1, 2]"), "not an auditor journal or JSON report"),
        "version": (file("v2.json", wrong_version), "schema_version 2 is not supported"),
        "row": (file("row.json", bad_row), "results[0] is not a report row"),
        "jsonl": (file("x.journal.jsonl", "garbage\n"), "not an auditor journal"),
        "no count": (
            file("nocount.journal.jsonl", '{"journal": 1, "name": "n"}\n'),
            "no entry count",
        ),
    }


@pytest.mark.e2e
def test_errors_are_one_line_and_exit_2(
    audited: Audited, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sources = tmp_path / "sources"
    sources.mkdir()
    out = tmp_path / "out"
    for label, (path, message) in _not_a_report_cases(sources, audited).items():
        assert rebuild(str(path), "-o", str(out)) == 2, label
        err = capsys.readouterr().err
        assert err.startswith("auditor: error: ") and err.count("\n") == 1, (label, err)
        assert message in err and str(path) in err, (label, err)
        assert "Traceback" not in err
        assert not out.exists(), label  # nothing written


@pytest.mark.e2e
def test_usage_errors(audited: Audited, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for args, message in [
        (["--format", "pdf", "-o", str(tmp_path)], "--format: unknown format 'pdf'"),
        (["--name", "../escape", "-o", str(tmp_path)], "--name: '../escape' must be"),
        (["-o", "/proc/no/such"], "cannot write reports to /proc/no/such"),
    ]:
        assert rebuild(str(audited.json), *args) == 2, args
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1, err
    with pytest.raises(SystemExit) as exit_info:
        rebuild()
    assert exit_info.value.code == 2


def test_load_source_errors_are_input_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        load_source(tmp_path / "missing.journal.jsonl")


@pytest.mark.e2e
def test_the_real_command_needs_no_network_or_credentials(audited: Audited, tmp_path: Path) -> None:
    result = run_cli("report", str(audited.journal), "-o", str(tmp_path), "--format", "json")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [str(tmp_path / "run.json")]
    assert read_report(tmp_path / "run.json")["results"] == audited.report["results"]
