"""The XLSX report's Changes and Exemptions sheets.

Changes (with `--baseline`): one line per URN that is not `unchanged`, regressions first, then
fixes, new and gone URNs, each group in report order; the change cell coloured. Past the row
limit it goes on in `Changes 2`, `Changes 3`, …

Exemptions (with `--exemptions`): the entries that need someone's attention, expired ones (with
the findings they would still cover) then unused ones. No sheet when there are none.

Both are written whole, top to bottom, before the Results sheets are made, as constant-memory
mode requires.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import xlsxwriter

from auditor.model import Change, Status
from auditor.report.tables import ReportDocument
from auditor.report.xlsx_styles import Styles, print_setup, text_width
from auditor.verdict.baseline import ChangeEntry, Comparison
from auditor.verdict.exemptions import Exemption, ExemptionReport

CHANGES_SHEET = "Changes"
EXEMPTIONS_SHEET = "Exemptions"
CHANGE_COLUMNS = ("change", "urn", "previous_status", "status", "region", "project_id")
CHANGE_ORDER = (Change.REGRESSED, Change.FIXED, Change.NEW, Change.GONE)
EXEMPTION_COLUMNS = ("state", "entry", "urn", "reason", "owner", "expires", "would_match")
_WIDTH_SAMPLE = 5000
_FILTER_BUTTON = 2.5
_MAX_WIDTH = {"urn": 100, "reason": 60}


def write_changes(
    book: xlsxwriter.Workbook, styles: Styles, document: ReportDocument, rows_per_sheet: int
) -> None:
    """Add the Changes sheet(s) when the document has a comparison."""
    comparison = document.comparison
    if comparison is None:
        return
    ordered = _ordered(comparison)
    widths = _widths(CHANGE_COLUMNS, [_change_cells(e) for e in ordered[:_WIDTH_SAMPLE]])
    widths[0] = max(widths[0], *(text_width(c) for c in CHANGE_ORDER))
    sheet_count = max(1, -(-len(ordered) // rows_per_sheet))
    for number in range(sheet_count):
        name = CHANGES_SHEET if number == 0 else f"{CHANGES_SHEET} {number + 1}"
        chunk = ordered[number * rows_per_sheet : (number + 1) * rows_per_sheet]
        sheet = _sheet(book, styles, name, CHANGE_COLUMNS, widths)
        for row, entry in enumerate(chunk, start=1):
            sheet.write_string(row, 0, entry.change.value, styles.change[entry.change])
            for column, value in enumerate(_change_cells(entry)[1:], start=1):
                if not value:
                    continue
                style = styles.status.get(value) if column in (2, 3) else None
                sheet.write_string(row, column, value, style)
        sheet.autofilter(0, 0, max(len(chunk), 1), len(CHANGE_COLUMNS) - 1)


def write_exemptions(book: xlsxwriter.Workbook, styles: Styles, document: ReportDocument) -> None:
    """Add the Exemptions sheet when exemptions expired or went unused; else nothing."""
    report = document.exemptions
    if report is None or not (report.expired or report.unused):
        return
    records = _exemption_records(report)
    widths = _widths(EXEMPTION_COLUMNS, [[str(v) for v in r] for r in records])
    sheet = _sheet(book, styles, EXEMPTIONS_SHEET, EXEMPTION_COLUMNS, widths)
    for row, record in enumerate(records, start=1):
        state = str(record[0])
        sheet.write_string(row, 0, state, styles.bad if state == "expired" else styles.note)
        for column, value in enumerate(record[1:], start=1):
            if isinstance(value, int):
                sheet.write_number(row, column, value)
            elif value:
                sheet.write_string(row, column, value)
    sheet.autofilter(0, 0, len(records), len(EXEMPTION_COLUMNS) - 1)


def _ordered(comparison: Comparison) -> list[ChangeEntry]:
    """Entries grouped in `CHANGE_ORDER`, each group in the comparison's order."""
    groups: dict[Change, list[ChangeEntry]] = {change: [] for change in CHANGE_ORDER}
    for entry in comparison.entries:
        group = groups.get(entry.change)
        if group is not None:
            group.append(entry)
    return [entry for change in CHANGE_ORDER for entry in groups[change]]


def _change_cells(entry: ChangeEntry) -> list[str]:
    return [
        entry.change.value,
        entry.urn,
        _status(entry.previous),
        _status(entry.current),
        entry.region,
        entry.project_id,
    ]


def _status(status: Status | None) -> str:
    return status.value if status is not None else ""


def _exemption_records(report: ExemptionReport) -> list[list[Any]]:
    def record(state: str, entry: Exemption, would_match: int | str) -> list[Any]:
        expires = entry.expires.isoformat() if entry.expires else ""
        return [state, entry.number, entry.pattern, entry.reason, entry.owner, expires, would_match]

    return [
        *(record("expired", entry, count) for entry, count in report.expired),
        *(record("unused", entry, "") for entry in report.unused),
    ]


def _sheet(
    book: xlsxwriter.Workbook,
    styles: Styles,
    name: str,
    columns: Sequence[str],
    widths: Sequence[float],
) -> Any:
    sheet = book.add_worksheet(name)
    for column, width in enumerate(widths):
        sheet.set_column(column, column, width)
    sheet.freeze_panes(1, 0)
    sheet.write_row(0, 0, list(columns), styles.header)
    print_setup(sheet, pages_wide=1)
    sheet.repeat_rows(0)
    sheet.hide_gridlines(0)
    return sheet


def _widths(columns: Sequence[str], sample: Sequence[Sequence[str]]) -> list[float]:
    """Widths fitted to the bold header with its filter button and to a sample of cells,
    capped so one long URN cannot push the other columns out of view."""
    widths = [text_width(name, bold=True) + _FILTER_BUTTON for name in columns]
    for cells in sample:
        for column, value in enumerate(cells):
            if value:
                widths[column] = max(widths[column], text_width(value))
    return [min(w, _MAX_WIDTH.get(n, 40)) for n, w in zip(columns, widths, strict=True)]
