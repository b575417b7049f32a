"""The CSV report (auditor/report/csv_render.py): RFC 4180, formula-safe, read back two ways."""

from __future__ import annotations

import csv
import io

import pandas as pd
import pytest

from auditor.model import COLUMNS, Row, Status, Target
from auditor.report.csv_render import FORMULA_PREFIXES, csv_cells, escape_cell, render_csv
from auditor.report.tables import ReportDocument, summarize
from auditor.verdict.rows import invalid_row
from tests.factories import make_row

FORMULA = '=HYPERLINK("http://x","y")'


def render(rows: list[Row]) -> bytes:
    stream = io.BytesIO()
    render_csv(ReportDocument(rows, summarize(rows)), stream)
    assert not stream.closed  # the renderer leaves the caller's stream open
    return stream.getvalue()


def read_back(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))


def test_header_is_the_columns() -> None:
    header, *rest = read_back(render([]))
    assert header == list(COLUMNS)
    assert rest == []


def test_rows_in_order_with_their_values() -> None:
    rows = [make_row(n) for n in range(5)]
    _, *lines = read_back(render(rows))
    assert [line[COLUMNS.index("function")] for line in lines] == [f"fn-{n}" for n in range(5)]
    first = dict(zip(COLUMNS, lines[0], strict=True))
    assert first["status"] == "configured"
    assert first["http_status"] == "200"
    assert first["attempts"] == "1"
    assert first["tracing_ak"] == "AKID****WXYZ"


def test_lines_end_with_crlf() -> None:
    data = render([make_row(0)])
    assert data.count(b"\r\n") == 2
    assert data.endswith(b"\r\n")


AWKWARD = 'a, "quoted" value,\nwith a newline\r\nand ünïcode ✓'


def test_commas_quotes_and_newlines_round_trip_through_the_csv_module() -> None:
    data = render([make_row(0, Status.ERROR, error_msg=AWKWARD)])
    assert b'"a, ""quoted"" value,\nwith a newline\r\nand' in data  # RFC 4180 quoting
    _, line = read_back(data)
    assert line[COLUMNS.index("error_msg")] == AWKWARD


def test_round_trip_through_pandas() -> None:
    rows = [make_row(0, Status.ERROR, error_msg=AWKWARD, http_status=None), make_row(1)]
    frame = pd.read_csv(io.BytesIO(render(rows)), dtype=str, keep_default_na=False)
    assert list(frame.columns) == list(COLUMNS)
    assert len(frame) == 2
    assert frame.loc[0, "error_msg"] == AWKWARD
    assert frame.loc[0, "http_status"] == ""
    assert frame.loc[1, "function"] == "fn-1"


def test_missing_http_status_is_an_empty_cell() -> None:
    _, line = read_back(render([make_row(0, Status.ERROR, http_status=None)]))
    assert line[COLUMNS.index("http_status")] == ""


def test_formula_in_a_message_is_neutralised() -> None:
    _, line = read_back(render([make_row(0, Status.ERROR, error_msg=FORMULA)]))
    assert line[COLUMNS.index("error_msg")] == "'" + FORMULA


@pytest.mark.parametrize("prefix", ["=", "+", "-", "@", "\t", "\r"])
def test_every_formula_prefix_is_escaped(prefix: str) -> None:
    value = prefix + "1+cmd|' /C calc'!A0"
    rows = [
        make_row(0, Status.ERROR, error_msg=value, error_code=value, request_id=value),
        invalid_row(Target(value, None, value, invalid_reason=value)),
    ]
    _, audited, invalid = read_back(render(rows))
    for line, names in (
        (audited, ("error_msg", "error_code", "request_id")),
        (invalid, ("urn", "error_msg", "source")),
    ):
        for name in names:
            assert line[COLUMNS.index(name)] == "'" + value, name


def test_prefixes_are_the_owasp_set() -> None:
    assert set(FORMULA_PREFIXES) == {"=", "+", "-", "@", "\t", "\r"}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("plain", "plain"),
        ("", ""),
        ("a=b", "a=b"),
        ("=1", "'=1"),
        ("-5", "'-5"),
        (-5, -5),  # numbers are numbers, not text a spreadsheet evaluates
        (None, None),
        (200, 200),
    ],
)
def test_escape_cell(value: object, expected: object) -> None:
    assert escape_cell(value) == expected


def test_csv_cells_are_in_column_order() -> None:
    row = make_row(3, Status.ERROR, error_msg="@SUM(A1)", http_status=None)
    cells = csv_cells(row)
    assert len(cells) == len(COLUMNS)
    assert cells[COLUMNS.index("function")] == "fn-3"
    assert cells[COLUMNS.index("error_msg")] == "'@SUM(A1)"
    assert cells[COLUMNS.index("http_status")] is None
    assert cells[COLUMNS.index("status")] == "error"


def test_output_is_utf8() -> None:
    data = render([make_row(0, Status.ERROR, error_msg="中文 ünïcode")])
    assert "中文 ünïcode".encode() in data
