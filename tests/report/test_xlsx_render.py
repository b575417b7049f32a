"""The XLSX report (auditor/report/xlsx_render.py), read back with openpyxl and as a zip."""

from __future__ import annotations

import io
import zipfile
from typing import Any

import openpyxl
import pytest
from openpyxl.worksheet.worksheet import Worksheet

from auditor.model import COLUMNS, Row, Status, Target
from auditor.report.tables import ReportDocument, summarize
from auditor.report.xlsx_render import STATUS_COLOURS, render_xlsx
from auditor.verdict.rows import invalid_row
from tests.factories import PROJECT, make_row

P1 = PROJECT  # make_row's default project
P2 = "22222222222222222222222222222222"
RUN: dict[str, Any] = {
    "started_at": "2024-05-06T07:08:00Z",
    "finished_at": "2024-05-06T07:09:00Z",
    "duration_s": 60.0,
    "complete": True,
    "settings": {"rate": 10.0, "concurrency": 32, "formats": ["xlsx", "csv"], "resume": None},
    "inputs": [{"name": "fleet.txt", "format": "text", "entries": 8}],
}


ROWS = [
    make_row(0),
    make_row(1, Status.MISSING_KEYS, http_status=404, error_code="FSS.0404"),
    make_row(2, Status.ERROR, P2, http_status=None, error_msg="timed out"),
    make_row(3),
    invalid_row(Target("not a urn", None, "in.txt:5", invalid_reason="not a function URN")),
    make_row(5, Status.MISSING_KEYS, P2, http_status=200),
    make_row(6, Status.ERROR, error_msg='=HYPERLINK("http://x","y")', http_status=500),
]


def render(rows: list[Row], run: dict[str, Any] | None = None, **options: Any) -> bytes:
    stream = io.BytesIO()
    render_xlsx(
        ReportDocument(rows, summarize(rows), RUN if run is None else run), stream, **options
    )
    return stream.getvalue()


def load(data: bytes) -> openpyxl.Workbook:
    return openpyxl.load_workbook(io.BytesIO(data))


def data_rows(sheet: Worksheet) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in sheet.iter_rows(min_row=2, values_only=True)]


def column(sheet: Worksheet, name: str) -> list[Any]:
    index = COLUMNS.index(name)
    return [r[index] for r in data_rows(sheet)]


def test_sheets_are_summary_results_and_one_per_non_configured_status() -> None:
    book = load(render(ROWS))
    assert book.sheetnames == ["Summary", "Results", "missing_keys", "error", "invalid_urn"]
    for absent in ("configured", "function_not_found", "auth_failed", "throttled"):
        assert absent not in book.sheetnames


def test_only_configured_rows_need_no_status_sheet() -> None:
    book = load(render([make_row(0), make_row(1)]))
    assert book.sheetnames == ["Summary", "Results"]


def test_results_sheet_header_panes_and_filter() -> None:
    sheet = load(render(ROWS))["Results"]
    header = next(sheet.iter_rows(max_row=1, values_only=True))
    assert list(header) == list(COLUMNS)
    assert sheet.freeze_panes == "A2"
    assert sheet.auto_filter.ref is not None
    assert sheet.auto_filter.ref.startswith("A1:")
    assert sheet.auto_filter.ref == f"A1:{sheet.cell(1, len(COLUMNS)).column_letter}{len(ROWS) + 1}"


def test_every_row_is_present_in_order_with_its_values() -> None:
    sheet = load(render(ROWS))["Results"]
    assert column(sheet, "urn") == [row.urn for row in ROWS]
    assert column(sheet, "status") == [row.status.value for row in ROWS]
    assert column(sheet, "http_status") == [200, 404, None, 200, None, 200, 500]
    assert column(sheet, "attempts") == [1, 1, 1, 1, 0, 1, 1]
    # A message that looks like a formula stays text in the workbook.
    assert column(sheet, "error_msg")[6] == '=HYPERLINK("http://x","y")'
    assert sheet.cell(8, COLUMNS.index("error_msg") + 1).data_type == "s"


def test_status_cells_are_filled_with_the_status_colour() -> None:
    sheet = load(render(ROWS))["Results"]
    status_column = COLUMNS.index("status") + 1
    for number, row in enumerate(ROWS, start=2):
        cell = sheet.cell(number, status_column)
        assert cell.value == row.status.value
        assert cell.fill.fgColor.rgb == "FF" + STATUS_COLOURS[row.status].lstrip("#").upper()
    other = sheet.cell(2, 1)
    assert other.fill.fgColor.rgb != "FF" + STATUS_COLOURS[Status.CONFIGURED].lstrip("#")


def test_every_status_has_a_colour() -> None:
    assert set(STATUS_COLOURS) == set(Status)
    assert len(set(STATUS_COLOURS.values())) == len(Status)


def test_status_sheets_hold_their_rows_in_order() -> None:
    book = load(render(ROWS))
    assert column(book["missing_keys"], "function") == ["fn-1", "fn-5"]
    assert column(book["error"], "function") == ["fn-2", "fn-6"]
    assert column(book["invalid_urn"], "urn") == ["not a urn"]
    for name in ("missing_keys", "error", "invalid_urn"):
        sheet = book[name]
        assert list(next(sheet.iter_rows(max_row=1, values_only=True))) == list(COLUMNS)
        assert sheet.freeze_panes == "A2"
        assert sheet.auto_filter.ref


def summary_cells(book: openpyxl.Workbook) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in book["Summary"].iter_rows(values_only=True)]


def test_summary_has_the_status_counts() -> None:
    cells = summary_cells(load(render(ROWS)))
    first_column = [r[0] for r in cells]
    start = first_column.index("Functions by status")
    assert cells[start + 1][:3] == ("status", "count", "share")
    table = {r[0]: (r[1], r[2]) for r in cells[start + 2 : start + 6]}
    assert table == {
        "configured": (2, pytest.approx(2 / 7)),
        "missing_keys": (2, pytest.approx(2 / 7)),
        "error": (2, pytest.approx(2 / 7)),
        "invalid_urn": (1, pytest.approx(1 / 7)),
    }


def test_summary_has_the_run_facts_and_crosstabs() -> None:
    cells = summary_cells(load(render(ROWS)))
    facts = {r[0]: r[1] for r in cells if r[0] is not None}
    assert facts["Functions in report"] == 7
    assert facts["Complete"] == "yes"
    assert facts["Inputs"] == "fleet.txt"
    assert facts["Setting: concurrency"] == 32
    assert facts["Setting: formats"] == "xlsx, csv"
    assert facts["Setting: resume"] == "none"
    first_column = [r[0] for r in cells]
    assert "Functions by project and status" in first_column
    assert "Functions by region and status" in first_column
    start = first_column.index("Functions by project and status")
    assert cells[start + 1][:6] == (
        "project_id",
        "configured",
        "missing_keys",
        "error",
        "invalid_urn",
        "total",
    )
    assert cells[start + 2][:6] == ("(invalid)", 0, 0, 0, 1, 1)
    assert cells[start + 3][:6] == (P1, 2, 1, 1, 0, 4)
    assert cells[start + 4][:6] == (P2, 0, 1, 1, 0, 2)


def test_a_partial_run_says_so() -> None:
    cells = summary_cells(load(render(ROWS, run={**RUN, "complete": False})))
    assert {r[0]: r[1] for r in cells if r[0]}["Complete"] == "NO: partial report"


def test_summary_has_a_chart() -> None:
    names = zipfile.ZipFile(io.BytesIO(render(ROWS))).namelist()
    assert "xl/charts/chart1.xml" in names


def test_no_rows_still_renders() -> None:
    book = load(render([], run={}))
    assert book.sheetnames == ["Summary", "Results"]
    assert data_rows(book["Results"]) == []


def test_results_spill_onto_further_sheets() -> None:
    rows = [make_row(n) for n in range(12)]
    book = load(render(rows, rows_per_sheet=5))
    assert book.sheetnames == ["Summary", "Results", "Results 2", "Results 3"]
    parts = [column(book[name], "function") for name in book.sheetnames[1:]]
    assert [len(p) for p in parts] == [5, 5, 2]
    assert [f for part in parts for f in part] == [f"fn-{n}" for n in range(12)]
    for name in book.sheetnames[1:]:
        sheet = book[name]
        assert list(next(sheet.iter_rows(max_row=1, values_only=True))) == list(COLUMNS)
        assert sheet.freeze_panes == "A2"
        assert sheet.auto_filter.ref


def test_status_sheets_spill_too() -> None:
    rows = [make_row(n, Status.ERROR, error_msg="boom") for n in range(12)]
    book = load(render(rows, rows_per_sheet=5))
    # Each series stays together: Results 2 stands next to Results, not after the status sheets.
    assert book.sheetnames == [
        "Summary",
        "Results",
        "Results 2",
        "Results 3",
        "error",
        "error 2",
        "error 3",
    ]
    assert [len(data_rows(book[n])) for n in ("error", "error 2", "error 3")] == [5, 5, 2]


def test_exactly_full_sheet_does_not_spill() -> None:
    book = load(render([make_row(n) for n in range(5)], rows_per_sheet=5))
    assert book.sheetnames == ["Summary", "Results"]
    assert len(data_rows(book["Results"])) == 5


def test_summary_facts_are_never_formulas() -> None:
    run = {
        **RUN,
        "inputs": [{"name": '=HYPERLINK("http://x","y")'}],
        "settings": {"endpoint": "=1+1"},
    }
    sheet = load(render(ROWS, run=run))["Summary"]
    kinds = {
        sheet.cell(r, 1).value: sheet.cell(r, 2).data_type for r in range(1, sheet.max_row + 1)
    }
    assert kinds["Inputs"] == "s"
    assert kinds["Setting: endpoint"] == "s"
