"""Render the XLSX report with xlsxwriter in constant-memory mode (rows stream to disk).

Sheets: Summary (run facts, counts by status with a native chart, project × status and
region × status tables), Results (every row), then one sheet per non-`configured` status that
has rows. A sheet holds at most 1,048,575 data rows under its header; past that the rows go on
in `Results 2`, `Results 3`, …
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, BinaryIO

import pandas as pd
import xlsxwriter

from auditor.model import COLUMNS, Row, Status
from auditor.report.tables import ReportDocument, crosstab_frame, status_frame

EXCEL_MAX_ROWS = 1_048_576
STATUS_COLOURS: dict[str, str] = {
    Status.CONFIGURED: "#C6EFCE",
    Status.MISSING_KEYS: "#FFEB9C",
    Status.FUNCTION_NOT_FOUND: "#D9D9D9",
    Status.AUTH_FAILED: "#FFC7CE",
    Status.THROTTLED: "#E4DFEC",
    Status.ERROR: "#F8CBAD",
    Status.INVALID_URN: "#DDEBF7",
}
_WIDTH_SAMPLE = 5000
_MAX_WIDTH = {"urn": 100, "error_msg": 60, "source": 40}
_STATUS_COLUMN = COLUMNS.index("status")


def render_xlsx(
    document: ReportDocument, stream: BinaryIO, *, rows_per_sheet: int = EXCEL_MAX_ROWS - 1
) -> None:
    """Write the workbook to `stream`. `rows_per_sheet` is lowered only by tests."""
    # No string is ever turned into a formula or number: text from inputs, settings and API
    # answers stays text (formula injection).
    book = xlsxwriter.Workbook(
        stream,
        {"constant_memory": True, "strings_to_numbers": False, "strings_to_formulas": False},
    )
    styles = _Styles(book)
    _write_summary(book, styles, document)
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


class _Styles:
    """The workbook's formats, made once."""

    def __init__(self, book: xlsxwriter.Workbook) -> None:
        self.title = book.add_format({"bold": True, "font_size": 14})
        self.heading = book.add_format({"bold": True, "font_size": 11, "bottom": 1})
        self.header = book.add_format(
            {"bold": True, "bg_color": "#1F4E78", "font_color": "#FFFFFF", "border": 1}
        )
        self.label = book.add_format({"bold": True})
        self.percent = book.add_format({"num_format": "0.0%"})
        self.status = {
            status: book.add_format({"bg_color": colour})
            for status, colour in STATUS_COLOURS.items()
        }


class _SheetSeries:
    """`<name>`, `<name> 2`, `<name> 3`… holding `rows_per_sheet` rows each.

    All sheets are made up front from the known row count, so they stand side by side in the
    workbook; rows then stream into them in order (constant-memory mode writes row by row).
    """

    def __init__(
        self,
        book: xlsxwriter.Workbook,
        styles: _Styles,
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
            else:
                sheet.write_number(row, column, value)

    def _finish_sheet(self) -> None:
        self._sheets[self._current].autofilter(0, 0, max(self._row, 1), len(COLUMNS) - 1)

    def finish(self) -> None:
        self._finish_sheet()


def _column_widths(rows: Sequence[Row]) -> list[float]:
    """Widths fitted to the header and a sample of rows, capped so long text wraps into view."""
    widths = [len(name) + 2 for name in COLUMNS]
    for row in rows[:_WIDTH_SAMPLE]:
        for column, name in enumerate(COLUMNS):
            value = getattr(row, name)
            if value is not None:
                widths[column] = max(widths[column], len(str(value)) + 2)
    return [min(w, _MAX_WIDTH.get(n, 30)) for n, w in zip(COLUMNS, widths, strict=True)]


def _write_summary(book: xlsxwriter.Workbook, styles: _Styles, document: ReportDocument) -> None:
    sheet = book.add_worksheet("Summary")
    sheet.set_column(0, 0, 36)
    sheet.set_column(1, 12, 16)
    sheet.write_string(0, 0, "FunctionGraph tracing audit", styles.title)
    row = 2
    for label, value in _run_facts(document.run, document.summary.total):
        sheet.write_string(row, 0, label, styles.label)
        sheet.write(row, 1, value)
        row += 1
    row += 1
    sheet.write_string(row, 0, "Functions by status", styles.heading)
    row += 1
    frame = status_frame(document.summary)
    sheet.write_row(row, 0, ["status", "count", "share"], styles.header)
    first = row + 1
    for status, count, share in frame.itertuples(index=False):
        row += 1
        sheet.write_string(row, 0, str(status), styles.status[str(status)])
        sheet.write_number(row, 1, int(count))
        sheet.write_number(row, 2, float(share), styles.percent)
    if len(frame):
        _status_chart(book, sheet, list(frame["status"]), first, row)
    for title, nested, label in (
        ("Functions by project and status", document.summary.by_project, "project_id"),
        ("Functions by region and status", document.summary.by_region, "region"),
    ):
        row = _write_crosstab(sheet, styles, row + 2, title, nested, label)


def _run_facts(run: Mapping[str, Any], total: int) -> list[tuple[str, Any]]:
    settings = run.get("settings", {})
    facts: list[tuple[str, Any]] = [
        ("Started (UTC)", run.get("started_at", "")),
        ("Finished (UTC)", run.get("finished_at", "")),
        ("Duration (s)", run.get("duration_s", "")),
        ("Complete", "yes" if run.get("complete") else "NO: partial report"),
        ("Functions in report", total),
        ("Inputs", ", ".join(i.get("name", "") for i in run.get("inputs", []))),
    ]
    facts += [(f"Setting: {key}", _cell(value)) for key, value in settings.items()]
    return facts


def _cell(value: Any) -> Any:
    if isinstance(value, bool) or value is None:
        return str(value).lower()
    if isinstance(value, int | float | str):
        return value
    if isinstance(value, list | tuple):
        return ", ".join(map(str, value))
    return str(value)


def _status_chart(
    book: xlsxwriter.Workbook, sheet: Any, statuses: Sequence[str], first: int, last: int
) -> None:
    chart = book.add_chart({"type": "column"})
    chart.add_series(
        {
            "name": "Functions",
            "categories": ["Summary", first, 0, last, 0],
            "values": ["Summary", first, 1, last, 1],
            "points": [{"fill": {"color": STATUS_COLOURS.get(s, "#999999")}} for s in statuses],
            "data_labels": {"value": True},
        }
    )
    chart.set_title({"name": "Functions by status"})
    chart.set_legend({"none": True})
    sheet.insert_chart(2, 4, chart, {"x_scale": 1.3, "y_scale": 1.2})


def _write_crosstab(
    sheet: Any,
    styles: _Styles,
    row: int,
    title: str,
    nested: Mapping[str, Mapping[str, int]],
    label: str,
) -> int:
    sheet.write_string(row, 0, title, styles.heading)
    frame: pd.DataFrame = crosstab_frame(nested, label)
    row += 1
    sheet.write_row(row, 0, list(frame.columns), styles.header)
    for record in frame.itertuples(index=False):
        row += 1
        sheet.write_string(row, 0, str(record[0]))
        for column, value in enumerate(record[1:], start=1):
            sheet.write_number(row, column, int(value))
    return row
