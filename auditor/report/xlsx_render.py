"""Render the XLSX report with xlsxwriter in constant-memory mode (rows stream to disk).

Sheets: Summary (run facts, counts by status with a native chart, project × status and
region × status tables, credentials, throttling, settings), Trend when the history store has
the scope's earlier runs (`xlsx_trend`), Changes and Exemptions when the run
has them (`xlsx_changes`), Results (every row), then one sheet per non-`configured` status that
has rows. A sheet holds at most 1,048,575 data rows under its header; past that the rows go
on in `Results 2`, `Results 3`, …

Constant-memory mode writes each row when the next one starts, so every sheet is written
strictly top to bottom; the Summary is laid out in that order too.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from typing import Any, BinaryIO

import xlsxwriter

from auditor.model import COLUMNS, Row, Status
from auditor.report.tables import ReportDocument
from auditor.report.xlsx_changes import write_changes, write_exemptions
from auditor.report.xlsx_styles import STATUS_COLOURS, Styles, print_setup, text_width
from auditor.report.xlsx_summary import write_summary
from auditor.report.xlsx_trend import write_trend

__all__ = ["EXCEL_MAX_ROWS", "STATUS_COLOURS", "render_xlsx"]

EXCEL_MAX_ROWS = 1_048_576
_WIDTH_SAMPLE = 5000
_MAX_WIDTH = {"urn": 100, "error_msg": 60, "source": 40}
_STATUS_COLUMN = COLUMNS.index("status")
_FILTER_BUTTON = 2.5  # the autofilter arrow sits over the right end of each header cell


def render_xlsx(
    document: ReportDocument, stream: BinaryIO, *, rows_per_sheet: int = EXCEL_MAX_ROWS - 1
) -> None:
    """Write the workbook to `stream`. `rows_per_sheet` is lowered only by tests."""
    # No string is ever turned into a formula, number or link: text from inputs, settings and
    # API answers stays text (formula injection; and a URL in an error message is not a link).
    book = xlsxwriter.Workbook(
        stream,
        {
            "constant_memory": True,
            "strings_to_numbers": False,
            "strings_to_formulas": False,
            "strings_to_urls": False,
        },
    )
    styles = Styles(book)
    write_summary(book, styles, document)
    write_trend(book, styles, document)
    write_changes(book, styles, document, rows_per_sheet)
    write_exemptions(book, styles, document)
    widths = _column_widths(document.rows)
    summary = document.summary
    results = _SheetSeries(book, styles, "Results", widths, rows_per_sheet, summary.total)
    by_status = {
        status: _SheetSeries(book, styles, status, widths, rows_per_sheet, count)
        for status, count in summary.by_status.items()
        if status != Status.CONFIGURED
    }
    for row in document.rows:
        cells = [getattr(row, name) for name in COLUMNS]
        results.append(cells, row.status)
        series = by_status.get(row.status)
        if series is not None:
            series.append(cells, row.status)
    results.finish()
    for series in by_status.values():
        series.finish()
    book.close()


class _SheetSeries:
    """`<name>`, `<name> 2`, `<name> 3`… holding `rows_per_sheet` rows each.

    All sheets are made up front from the known row count, so they stand side by side in the
    workbook; rows then stream into them in order (constant-memory mode writes row by row).
    """

    def __init__(
        self,
        book: xlsxwriter.Workbook,
        styles: Styles,
        name: str,
        widths: Sequence[float],
        rows_per_sheet: int,
        total_rows: int,
    ) -> None:
        self._styles, self._limit = styles, rows_per_sheet
        count = max(1, -(-total_rows // rows_per_sheet))
        self._sheets = [
            self._new_sheet(book, name if n == 1 else f"{name} {n}", widths)
            for n in range(1, count + 1)
        ]
        self._current = 0
        self._row = 0

    def _new_sheet(self, book: xlsxwriter.Workbook, name: str, widths: Sequence[float]) -> Any:
        sheet = book.add_worksheet(name[:31])
        for column, width in enumerate(widths):
            sheet.set_column(column, column, width)
        sheet.freeze_panes(1, 0)
        sheet.write_row(0, 0, COLUMNS, self._styles.header)
        # On paper: landscape, the header on every page, grid lines, and the columns over two
        # pages side by side (one page would shrink the text out of reading size).
        print_setup(sheet, pages_wide=2)
        sheet.repeat_rows(0)
        sheet.hide_gridlines(0)
        sheet.print_across()
        return sheet

    def append(self, cells: list[Any], status: str) -> None:
        if self._row >= self._limit:
            self._finish_sheet()
            self._current += 1
            self._row = 0
        self._row += 1
        sheet, row = self._sheets[self._current], self._row
        for column, value in enumerate(cells):
            if value is None or value == "":
                continue
            if column == _STATUS_COLUMN:
                sheet.write_string(row, column, value, self._styles.status[status])
            elif isinstance(value, str):
                sheet.write_string(row, column, value)
            elif isinstance(value, bool):
                sheet.write_boolean(row, column, value)
            else:
                sheet.write_number(row, column, value)

    def _finish_sheet(self) -> None:
        self._sheets[self._current].autofilter(0, 0, max(self._row, 1), len(COLUMNS) - 1)

    def finish(self) -> None:
        self._finish_sheet()


def _column_widths(rows: Iterable[Row]) -> list[float]:
    """Widths fitted to the header (bold, with its filter button) and a sample of rows, capped
    so one long text cannot push the other columns out of view (the cell keeps all of it)."""
    widths = [text_width(name, bold=True) + _FILTER_BUTTON for name in COLUMNS]
    # Every status fits, including those first seen past the sample.
    widths[_STATUS_COLUMN] = max(widths[_STATUS_COLUMN], *(text_width(s) for s in Status))
    for row in itertools.islice(rows, _WIDTH_SAMPLE):
        for column, name in enumerate(COLUMNS):
            value = getattr(row, name)
            if value is not None and value != "":
                widths[column] = max(widths[column], text_width(str(value)))
    return [min(w, _MAX_WIDTH.get(n, 40)) for n, w in zip(COLUMNS, widths, strict=True)]
