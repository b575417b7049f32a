"""The XLSX row limit, exactly at the edge (auditor/report/xlsx_render.py).

Excel holds 1,048,576 rows a sheet: the header and 1,048,575 data rows. Measured when the
renderer was chosen: pandas with xlsxwriter silently drops the last row at the limit, and
openpyxl write_only writes a file Excel cannot open. So the edge is rendered for real, with the
real limit (not a lowered `rows_per_sheet`), once, with one row more than a sheet holds: that
checks both sides of the edge in one file (`Results` holds exactly the maximum and ends on the
last row Excel has, `Results 2` holds the one row left over).

The sheets are verified through the zip: the sheet XML is streamed once and every `<row r=…>`
counted, so a million rows are checked without building a million row objects. openpyxl, the
independent reader, opens the workbook and reads the sheets' first rows and the small overflow
sheet (cheap in read-only mode: it stops at the rows asked for).

Rows are built cheaply: one lean row object repeated, and two fully filled rows (the last row
of `Results` and the row on `Results 2`) whose every cell is checked. Slow (one render of a
million rows): `pytest -m slow`.
"""

from __future__ import annotations

import codecs
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
ROWS = LIMIT + 1  # one more than a sheet holds: both sides of the edge in one file
LAST_COLUMN = "AA"  # the 27th column, days_failing
assert len(COLUMNS) == 27

MAIN = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
ROW_START = re.compile(r'<row r="(\d+)"')

# Only the URN and the status (and the three numbers) are set: a million of these render
# several times faster than full rows, and the edge does not depend on the cells.
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
        "days_failing": None,
    }
)


def full_row(n: int, name: str) -> Row:
    """A row with every column filled, so every cell of its sheet row can be checked."""
    return replace(
        make_row(n, function=name, request_id=f"req-{name}"),
        urn=f"urn:fss:cn-north-4:0123456789abcdef0123456789abcdef:function:default:{name}",
        runtime="Java11",
        memory_size=512,
        tracing_supported=True,
        change="unchanged",
        exempt=True,
        exempt_reason=f"reason for {name}",
        first_seen="2026-11-01T08:00:00Z",
        failing_since="2026-11-02T08:00:00Z",
        days_failing=n % 40,
    )


def cell_values(row: Row) -> tuple[Any, ...]:
    """What a reader finds in the row's cells: an empty string is no cell at all."""
    return tuple(None if (v := getattr(row, name)) == "" else v for name in COLUMNS)


@dataclass(frozen=True)
class Rendered:
    path: Path
    edge: Row  # the last row of `Results`: on row 1,048,576, the last row Excel has
    last: Row  # the row past the limit: the only data row of `Results 2`
    render_s: float


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rendered]:
    edge = full_row(LIMIT - 1, "the-edge-row")
    last = full_row(ROWS - 1, "the-last-row")
    rows = [LEAN] * (LIMIT - 1) + [edge, last]  # one object, a million references: about 8 MB
    assert len(rows) == ROWS
    document = ReportDocument(rows, summarize(rows), {"complete": True})
    path = tmp_path_factory.mktemp("limits") / "edge.xlsx"
    started = time.perf_counter()
    with path.open("wb") as stream:
        render_xlsx(document, stream)  # the default rows_per_sheet: the real limit
    yield Rendered(path, edge, last, time.perf_counter() - started)
    path.unlink()


def sheet_parts(path: Path) -> dict[str, str]:
    """Sheet name -> its part in the zip, in workbook order, from the workbook and its
    relationships."""
    with zipfile.ZipFile(path) as book:
        workbook = ET.fromstring(book.read("xl/workbook.xml"))
        rels = ET.fromstring(book.read("xl/_rels/workbook.xml.rels"))
    rel = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}id"
    targets = {r.get("Id"): r.get("Target") for r in rels}
    return {
        str(s.get("name")): "xl/" + str(targets[s.get(rel)]).removeprefix("/xl/")
        for s in workbook.iter(f"{MAIN}sheet")
    }


@dataclass(frozen=True)
class SheetScan:
    """One streamed pass over a sheet's XML."""

    rows: int  # `<row>` elements, numbered 1, 2, 3… without a gap (checked while scanning)
    head: str  # the first characters of the part
    tail: str  # the last characters of the part


def scan_sheet(book: zipfile.ZipFile, part: str, keep: int = 16384) -> SheetScan:
    """Stream a sheet part (hundreds of MB for a million rows) once: count its rows, checking
    each is numbered one more than the one before, and keep its head and tail. Reading the
    part to its end also checks its CRC."""
    count = 0
    head, tail, pending = "", "", ""
    decoder = codecs.getincrementaldecoder("utf-8")()

    def count_rows(text: str) -> None:
        nonlocal count
        for number in ROW_START.findall(text):
            count += 1
            assert int(number) == count, f"{part}: row {number} where row {count} was due"

    with book.open(part) as stream:
        while chunk := stream.read(1 << 22):
            text = decoder.decode(chunk)
            if len(head) < keep:
                head = (head + text)[:keep]
            tail = (tail + text)[-keep:]
            text = pending + text
            cut = max(text.rfind("<"), 0)  # a tag cut off by the chunk's end starts there
            count_rows(text[:cut])
            pending = text[cut:]
    count_rows(pending + decoder.decode(b"", final=True))
    return SheetScan(count, head, tail)


def _column_index(letters: str) -> int:
    """`A` -> 0, `Z` -> 25, `AA` -> 26."""
    index = 0
    for letter in letters:
        index = index * 26 + ord(letter) - ord("A") + 1
    return index - 1


def row_values(xml: str, number: int) -> tuple[Any, ...]:
    """The values of row `number` found in `xml` (a head or a tail of a sheet), by column:
    inline strings, booleans and numbers, as constant-memory xlsxwriter writes them."""
    match = re.search(rf'<row r="{number}"[^>]*>.*?</row>', xml, re.DOTALL)
    assert match, f"row {number} is not in the text scanned"
    element = ET.fromstring(match.group(0).replace("<row ", f'<row xmlns="{MAIN[1:-1]}" ', 1))
    values: list[Any] = [None] * len(COLUMNS)
    for cell in element.iter(f"{MAIN}c"):
        column = re.sub(r"\d", "", cell.get("r", ""))
        assert 1 <= len(column) <= 2, column
        kind, v = cell.get("t"), cell.findtext(f"{MAIN}v")
        if kind == "inlineStr":
            value: Any = "".join(t.text or "" for t in cell.iter(f"{MAIN}t"))
        elif kind == "b":
            value = v == "1"
        else:
            assert kind is None and v is not None, ET.tostring(cell)  # no shared strings
            value = int(v) if re.fullmatch(r"-?\d+", v) else float(v)
        values[_column_index(column)] = value
    return tuple(values)


def dimension(head: str) -> str:
    match = re.search(r'<dimension ref="([A-Z0-9:]+)"/>', head)
    assert match, head[:300]
    return match.group(1)


@pytest.fixture(scope="module")
def scans(rendered: Rendered) -> dict[str, SheetScan]:
    """The streamed sheets (every sheet but the Summary), each scanned once."""
    parts = sheet_parts(rendered.path)
    with zipfile.ZipFile(rendered.path) as book:
        return {name: scan_sheet(book, part) for name, part in parts.items() if name != "Summary"}


def test_the_edge(rendered: Rendered, scans: dict[str, SheetScan], record_property: Any) -> None:
    record_property("render_s", round(rendered.render_s, 1))
    print(f"\n{ROWS:,} rows: rendered in {rendered.render_s:.1f} s")
    assert list(sheet_parts(rendered.path)) == ["Summary", "Results", "Results 2"]
    assert list(scans) == ["Results", "Results 2"]
    results, more = scans["Results"], scans["Results 2"]

    # Results: the header, then exactly the maximum, the last on the last row Excel has.
    assert results.rows == EXCEL_MAX_ROWS == LIMIT + 1
    assert row_values(results.head, 1) == COLUMNS
    assert row_values(results.head, 2)[COLUMNS.index("urn")] == LEAN.urn
    assert row_values(results.head, 2) == cell_values(LEAN)
    assert row_values(results.tail, LIMIT) == cell_values(LEAN)
    assert row_values(results.tail, EXCEL_MAX_ROWS) == cell_values(rendered.edge)  # whole

    # Results 2: the header and the one row left over, whole.
    assert more.rows == 2
    assert row_values(more.head, 1) == COLUMNS
    assert row_values(more.head, 2) == cell_values(rendered.last)
    assert (results.rows - 1) + (more.rows - 1) == ROWS


def test_openpyxl_reads_the_sheets_and_the_rows_at_their_ends(rendered: Rendered) -> None:
    """The independent reader agrees with the scan: sheet names, header, first rows, and the
    overflow sheet whole. (Read-only mode streams, and stops at `max_row`.)"""
    book = openpyxl.load_workbook(rendered.path, read_only=True)
    try:
        assert book.sheetnames == ["Summary", "Results", "Results 2"]
        head = list(book["Results"].iter_rows(max_row=2, values_only=True))
        more = book["Results 2"]
        more.reset_dimensions()  # the declared dimension is not trusted here
        overflow = list(more.iter_rows(values_only=True))
    finally:
        book.close()

    def padded(values: tuple[Any, ...]) -> tuple[Any, ...]:
        # A row read without a dimension ends at its last written cell.
        return tuple(values) + (None,) * (len(COLUMNS) - len(values))

    assert list(head[0]) == list(COLUMNS)
    assert padded(head[1]) == cell_values(LEAN)
    assert list(overflow[0]) == list(COLUMNS)
    assert [padded(row) for row in overflow[1:]] == [cell_values(rendered.last)]


def test_the_file_is_a_sound_zip_with_true_dimensions(
    rendered: Rendered, scans: dict[str, SheetScan]
) -> None:
    parts = sheet_parts(rendered.path)
    data_rows = {"Results": LIMIT, "Results 2": ROWS - LIMIT}
    with zipfile.ZipFile(rendered.path) as book:
        assert book.testzip() is None
        for name in book.namelist():
            if name.endswith((".xml", ".rels")) and name not in parts.values():
                ET.fromstring(book.read(name))  # every small part parses
        for sheet, part in parts.items():
            if sheet == "Summary":
                text = book.read(part)
                root = ET.fromstring(text)
                cells = [c.get("r", "") for c in root.iter() if c.tag.endswith("}c")]
                rows = [int(re.sub(r"[A-Z]", "", c)) for c in cells]
                columns = [re.sub(r"\d", "", c) for c in cells]
                widest = max(columns, key=lambda c: (len(c), c))
                assert dimension(text.decode()) == f"A1:{widest}{max(rows)}"
                continue
            head, tail = scans[sheet].head, scans[sheet].tail
            # The declared dimension and filter must match the rows that are really there,
            # which the scan counted one by one.
            last_row = data_rows[sheet] + 1
            assert scans[sheet].rows == last_row
            assert dimension(head) == f"A1:{LAST_COLUMN}{last_row}"
            assert f'<autoFilter ref="A1:{LAST_COLUMN}{last_row}"/>' in tail
            assert tail.rstrip().endswith("</worksheet>")
            final_row = re.findall(r'<row r="(\d+)"', tail)
            assert final_row and int(final_row[-1]) == last_row
