"""The XLSX row limit, exactly at the edge (auditor/report/xlsx_render.py).

Excel holds 1,048,576 rows a sheet: the header and 1,048,575 data rows. Measured when the
renderer was chosen: pandas with xlsxwriter silently drops the last row at the limit, and
openpyxl write_only writes a file Excel cannot open. So the edge is rendered for real, with the
real limit (not a lowered `rows_per_sheet`), and read back with openpyxl in read-only mode.

Rows are built cheaply: one lean row object repeated, and a fully filled last row whose values
are checked. Slow (each case renders and reads a million rows): `pytest -m slow`.
"""

from __future__ import annotations

import re
import time
import xml.etree.ElementTree as ET
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from auditor.model import COLUMNS, Row, Status
from auditor.report.tables import ReportDocument, summarize
from auditor.report.xlsx_render import EXCEL_MAX_ROWS, render_xlsx
from tests.factories import make_row

pytestmark = pytest.mark.slow

LIMIT = EXCEL_MAX_ROWS - 1  # data rows a sheet holds under its header: 1,048,575
LAST_COLUMN = "W"  # the 23rd column, exempt_reason
assert len(COLUMNS) == 23

# Only the URN and the status (and the three numbers) are set: a million of these render and
# read back several times faster than full rows, and the edge does not depend on the cells.
LEAN = Row(
    **{
        **{name: "" for name in COLUMNS},
        "urn": "urn:fss:cn-north-4:0123456789abcdef0123456789abcdef:function:default:fn",
        "status": Status.CONFIGURED,
        "http_status": None,
        "attempts": 1,
        "elapsed_ms": 12,
        "occurrences": 1,
        "memory_size": None,
        "tracing_supported": None,
        "exempt": False,
    }
)


@dataclass(frozen=True)
class Rendered:
    path: Path
    rows: int
    last: Row
    render_s: float


def build(count: int, tmp: Path) -> Rendered:
    last = replace(
        make_row(count - 1, function="the-last-row", request_id="req-the-last-row"),
        urn=f"urn:fss:cn-north-4:0123456789abcdef0123456789abcdef:function:default:the-last-row-{count}",
    )
    rows = [LEAN] * (count - 1) + [last]  # one object, a million references: about 8 MB
    document = ReportDocument(rows, summarize(rows), {"complete": True})
    path = tmp / f"edge-{count}.xlsx"
    started = time.perf_counter()
    with path.open("wb") as stream:
        render_xlsx(document, stream)  # the default rows_per_sheet: the real limit
    return Rendered(path, count, last, time.perf_counter() - started)


@pytest.fixture(scope="module", params=[LIMIT, LIMIT + 1], ids=["1048575-rows", "1048576-rows"])
def rendered(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Rendered]:
    result = build(request.param, tmp_path_factory.mktemp("limits"))
    yield result
    result.path.unlink()


@dataclass(frozen=True)
class SheetContents:
    data_rows: int
    last_values: tuple[Any, ...]
    first_values: tuple[Any, ...]


def read_sheet(book: Any, name: str) -> SheetContents:
    """Every row of a sheet, streamed; the dimension the file declares is not trusted here."""
    sheet = book[name]
    sheet.reset_dimensions()
    rows = sheet.iter_rows(values_only=True)
    assert list(next(rows)) == list(COLUMNS)
    count, first, last = 0, (), ()
    for values in rows:
        count += 1
        # With the dimension reset, a row ends at its last written cell: trailing empty
        # columns (no exemption reason) come back as nothing, so pad them as None.
        padded = tuple(values) + (None,) * (len(COLUMNS) - len(values))
        if count == 1:
            first = padded
        last = padded
    return SheetContents(count, last, first)


def sheet_parts(path: Path) -> dict[str, str]:
    """Sheet name -> its part in the zip, from the workbook and its relationships."""
    with zipfile.ZipFile(path) as book:
        workbook = ET.fromstring(book.read("xl/workbook.xml"))
        rels = ET.fromstring(book.read("xl/_rels/workbook.xml.rels"))
    main = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
    rel = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}id"
    targets = {r.get("Id"): r.get("Target") for r in rels}
    return {
        str(s.get("name")): "xl/" + str(targets[s.get(rel)]).removeprefix("/xl/")
        for s in workbook.iter(f"{main}sheet")
    }


def head_and_tail(book: zipfile.ZipFile, part: str, size: int = 4096) -> tuple[str, str]:
    """The first and last `size` characters of a part, streamed (the sheet is ~100 MB)."""
    with book.open(part) as stream:
        head = stream.read(size)
        tail = head
        while chunk := stream.read(1 << 20):
            tail = (tail + chunk)[-size:]
    return head.decode(), tail.decode()


def dimension(head: str) -> str:
    match = re.search(r'<dimension ref="([A-Z0-9:]+)"/>', head)
    assert match, head[:300]
    return match.group(1)


def test_the_edge(rendered: Rendered, record_property: Any) -> None:
    expected_sheets = (
        ["Summary", "Results"]
        if rendered.rows == LIMIT
        else [
            "Summary",
            "Results",
            "Results 2",
        ]
    )
    started = time.perf_counter()
    book = openpyxl.load_workbook(rendered.path, read_only=True)
    try:
        assert book.sheetnames == expected_sheets
        results = read_sheet(book, "Results")
        more = read_sheet(book, "Results 2") if "Results 2" in book.sheetnames else None
    finally:
        book.close()
    read_s = time.perf_counter() - started
    record_property("render_s", round(rendered.render_s, 1))
    record_property("read_s", round(read_s, 1))
    print(
        f"\n{rendered.rows:,} rows: rendered in {rendered.render_s:.1f} s, read in {read_s:.1f} s"
    )

    expected_last = tuple(getattr(rendered.last, name) for name in COLUMNS)
    expected_last = tuple(None if v == "" else v for v in expected_last)
    assert results.first_values[COLUMNS.index("urn")] == LEAN.urn
    assert results.data_rows == LIMIT
    if rendered.rows == LIMIT:
        # The last row sits on the last row Excel has, whole.
        assert results.last_values == expected_last
        assert more is None
    else:
        assert results.last_values[COLUMNS.index("urn")] == LEAN.urn
        assert more is not None
        assert more.data_rows == 1
        assert more.last_values == expected_last
    assert (results.data_rows + (more.data_rows if more else 0)) == rendered.rows


def test_the_file_is_a_sound_zip_with_true_dimensions(rendered: Rendered) -> None:
    parts = sheet_parts(rendered.path)
    data_rows = {"Results": min(rendered.rows, LIMIT), "Results 2": rendered.rows - LIMIT}
    with zipfile.ZipFile(rendered.path) as book:
        assert book.testzip() is None
        for name in book.namelist():
            if name.endswith((".xml", ".rels")) and name not in parts.values():
                ET.fromstring(book.read(name))  # every small part parses
        for sheet, part in parts.items():
            head, tail = head_and_tail(book, part)
            if sheet == "Summary":
                root = ET.fromstring(book.read(part))
                cells = [c.get("r", "") for c in root.iter() if c.tag.endswith("}c")]
                rows = [int(re.sub(r"[A-Z]", "", c)) for c in cells]
                columns = [re.sub(r"\d", "", c) for c in cells]
                widest = max(columns, key=lambda c: (len(c), c))
                assert dimension(head) == f"A1:{widest}{max(rows)}"
                continue
            # The streamed sheets are parsed whole by openpyxl in test_the_edge; here the
            # declared dimension and filter must match the rows that are really there.
            last_row = data_rows[sheet] + 1
            assert dimension(head) == f"A1:{LAST_COLUMN}{last_row}"
            assert f'<autoFilter ref="A1:{LAST_COLUMN}{last_row}"/>' in tail
            assert tail.rstrip().endswith("</worksheet>")
            final_row = re.findall(r'<row r="(\d+)"', tail)
            assert final_row and int(final_row[-1]) == last_row
