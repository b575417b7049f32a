"""The XLSX `Trend` sheet: the scope's recent runs from the history store, this one last,
with the compliance percentage and the count of each status per run, and native line charts
of both, so ops see at a glance whether coverage improves week after week."""

from __future__ import annotations

import xlsxwriter

from auditor.report.tables import ReportDocument, trend_frame
from auditor.report.xlsx_styles import STATUS_COLOURS, Styles, print_setup

SHEET = "Trend"
_CHART_COLUMN_GAP = 1


def write_trend(book: xlsxwriter.Workbook, styles: Styles, document: ReportDocument) -> None:
    """Add the Trend sheet when the run has a history (nothing otherwise)."""
    if not document.trend:
        return
    frame = trend_frame(document.trend)
    sheet = book.add_worksheet(SHEET)
    print_setup(sheet, pages_wide=1)
    header = list(frame.columns)
    sheet.write_row(0, 0, header, styles.header)
    sheet.freeze_panes(1, 0)
    widths = [len(name) + 2 for name in header]
    for row, record in enumerate(frame.itertuples(index=False), start=1):
        for column, value in enumerate(record):
            name = header[column]
            if name == "compliance":
                if value is not None and value == value:  # NaN: no function existed
                    sheet.write_number(row, column, float(value) / 100, styles.percent)
            elif isinstance(value, str):
                sheet.write_string(row, column, value)
                widths[column] = max(widths[column], len(value) + 2)
            else:
                sheet.write_number(row, column, int(value), styles.count)
    for column, width in enumerate(widths):
        sheet.set_column(column, column, min(width, 40))
    last = len(frame)
    at = header.index("compliance")
    compliance = book.add_chart({"type": "line"})
    compliance.add_series(
        {
            "name": "compliance",
            "categories": [SHEET, 1, 0, last, 0],
            "values": [SHEET, 1, at, last, at],
            "marker": {"type": "circle"},
            "line": {"color": STATUS_COLOURS.get("configured", "#2E7D32")},
        }
    )
    compliance.set_title({"name": "Compliance (configured ÷ existing functions)"})
    compliance.set_y_axis({"num_format": "0%", "min": 0, "max": 1})
    compliance.set_legend({"none": True})
    anchor = len(header) + _CHART_COLUMN_GAP
    sheet.insert_chart(1, anchor, compliance, {"x_scale": 1.4})
    counts = book.add_chart({"type": "line"})
    for column, status in enumerate(header):
        if column <= at:
            continue
        counts.add_series(
            {
                "name": status,
                "categories": [SHEET, 1, 0, last, 0],
                "values": [SHEET, 1, column, last, column],
                "marker": {"type": "circle"},
                "line": {"color": STATUS_COLOURS.get(status, "#999999")},
            }
        )
    counts.set_title({"name": "Functions by status"})
    counts.set_y_axis({"num_format": "#,##0"})
    sheet.insert_chart(17, anchor, counts, {"x_scale": 1.4})
