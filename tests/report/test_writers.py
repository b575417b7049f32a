"""The one module that writes report files: atomically, through a temp file and os.replace."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import BinaryIO

import openpyxl
import pytest

from auditor.config import FORMATS
from auditor.model import COLUMNS
from auditor.report import writers
from auditor.report.tables import ReportDocument, summarize
from auditor.report.writers import RENDERERS, write_atomically, write_reports
from tests.factories import make_row

ROWS = [make_row(n) for n in range(3)]
DOCUMENT = ReportDocument(ROWS, summarize(ROWS), {"complete": True})


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.startswith(".") or "tmp" in p.name)


def test_formats_and_renderers_agree() -> None:
    assert set(FORMATS) == set(RENDERERS) == {"xlsx", "csv", "json"}


def test_write_reports_writes_each_format_and_returns_the_paths(tmp_path: Path) -> None:
    out = tmp_path / "reports" / "nested"
    paths = write_reports(DOCUMENT, out, "audit-1", ["json", "csv", "xlsx"])
    assert paths == [out / "audit-1.json", out / "audit-1.csv", out / "audit-1.xlsx"]
    assert sorted(p.name for p in out.iterdir()) == ["audit-1.csv", "audit-1.json", "audit-1.xlsx"]
    assert leftovers(out) == []
    report = json.loads((out / "audit-1.json").read_text(encoding="utf-8"))
    assert len(report["results"]) == 3
    with (out / "audit-1.csv").open(newline="", encoding="utf-8") as stream:
        header, *lines = list(csv.reader(stream))
    assert header == list(COLUMNS)
    assert len(lines) == 3
    book = openpyxl.load_workbook(out / "audit-1.xlsx")
    assert "Results" in book.sheetnames


def test_write_reports_writes_only_the_chosen_formats(tmp_path: Path) -> None:
    paths = write_reports(DOCUMENT, tmp_path, "only", ["csv"])
    assert paths == [tmp_path / "only.csv"]
    assert [p.name for p in tmp_path.iterdir()] == ["only.csv"]
    assert write_reports(DOCUMENT, tmp_path, "none", []) == []


def test_write_reports_replaces_an_older_report(tmp_path: Path) -> None:
    (tmp_path / "r.json").write_text("old", encoding="utf-8")
    write_reports(DOCUMENT, tmp_path, "r", ["json"])
    assert json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))["results"]


def test_a_failing_renderer_leaves_the_old_file_and_no_temp_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(document: ReportDocument, stream: BinaryIO) -> None:
        stream.write(b'{"half": ')
        raise RuntimeError("renderer bug")

    (tmp_path / "r.json").write_text("old report", encoding="utf-8")
    monkeypatch.setitem(writers.RENDERERS, "json", broken)
    with pytest.raises(RuntimeError, match="renderer bug"):
        write_reports(DOCUMENT, tmp_path, "r", ["csv", "json", "xlsx"])
    assert (tmp_path / "r.json").read_text(encoding="utf-8") == "old report"
    assert leftovers(tmp_path) == []
    assert (tmp_path / "r.csv").exists()  # written before the failure
    assert not (tmp_path / "r.xlsx").exists()  # never reached


def test_write_atomically_renders_into_a_temp_file_beside_the_target(tmp_path: Path) -> None:
    target = tmp_path / "r.csv"
    seen: list[Path] = []

    def render(stream: BinaryIO) -> None:
        seen.append(Path(stream.name))  # type: ignore[attr-defined]
        assert not target.exists()  # nothing is visible until the rename
        stream.write(b"a,b\r\n")

    assert write_atomically(target, render) == target
    assert target.read_bytes() == b"a,b\r\n"
    (temp,) = seen
    assert temp.parent == tmp_path
    assert temp != target
    assert not temp.exists()
    assert leftovers(tmp_path) == []


def test_write_atomically_keeps_the_old_file_when_rendering_fails(tmp_path: Path) -> None:
    target = tmp_path / "r.xlsx"
    target.write_bytes(b"old")

    def render(stream: BinaryIO) -> None:
        stream.write(b"partial")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        write_atomically(target, render)
    assert target.read_bytes() == b"old"
    assert leftovers(tmp_path) == []


def test_write_atomically_in_a_missing_directory_fails_cleanly(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        write_atomically(tmp_path / "absent" / "r.csv", lambda stream: None)


def test_rendering_into_memory_matches_the_file(tmp_path: Path) -> None:
    (path,) = write_reports(DOCUMENT, tmp_path, "r", ["csv"])
    stream = io.BytesIO()
    RENDERERS["csv"](DOCUMENT, stream)
    assert path.read_bytes() == stream.getvalue()
