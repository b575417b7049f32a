"""Render the CSV report: UTF-8, a header row, RFC 4180 quoting, formula-safe cells."""

from __future__ import annotations

import csv
import io
from typing import BinaryIO

from auditor.model import COLUMNS, Row
from auditor.report.tables import ReportDocument

# A spreadsheet runs a cell that starts with one of these as a formula (CSV injection).
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def escape_cell(value: object) -> object:
    """Neutralise a text cell that a spreadsheet would evaluate, by prefixing a `'`."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def csv_cells(row: Row) -> list[object]:
    """The row's cells in column order, escaped; a missing HTTP status is an empty cell."""
    return [escape_cell(getattr(row, name)) for name in COLUMNS]


def render_csv(document: ReportDocument, stream: BinaryIO) -> None:
    """Write the header and one line per row to `stream`."""
    text = io.TextIOWrapper(stream, encoding="utf-8", newline="", write_through=False)
    try:
        writer = csv.writer(text, lineterminator="\r\n")
        writer.writerow(COLUMNS)
        writer.writerows(csv_cells(row) for row in document.rows)
        text.flush()
    finally:
        text.detach()
