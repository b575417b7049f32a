"""A cursor down an XLSX sheet: headings, label/value facts, notes and tables, each written
below the previous one, with column A and the columns after it fitted to what they hold.

`SheetCursor` holds the sheet, the row it has reached and the column widths; a sheet's sections
(the Summary's, in xlsx_summary.py) are written with its building blocks. Free-form sections show
a value of whatever shape the run gives: name: value lines, and tables of the first `_LISTED`
records with a note pointing to the full list.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from auditor.report.tables import flatten_settings, plain_value
from auditor.report.xlsx_styles import Styles, text_width

_LABEL_WIDTH = (30, 60)  # column A fits its longest label or key within these bounds
_COLUMN_WIDTH = (12, 26)  # and the others their table headers and numbers within these
_LISTED = 20  # records a section lists before pointing to the full list (a sheet, the JSON)


class SheetCursor:
    """A cursor down the sheet: each section writes below the previous one. A sheet subclasses
    it and writes its sections with the underscored building blocks below."""

    def __init__(self, sheet: Any, styles: Styles) -> None:
        self.sheet, self.styles = sheet, styles
        self.row = 0
        self.label_width: float = _LABEL_WIDTH[0]
        self.column_width: float = _COLUMN_WIDTH[0]
        self.last_column = 2

    # -- building blocks ---------------------------------------------------------------------

    def _fit(self, column: int, text: Any, *, bold: bool = False) -> None:
        wanted = text_width(str(text), bold=bold)
        if column == 0:
            self.label_width = max(self.label_width, min(wanted, _LABEL_WIDTH[1]))
        else:
            self.column_width = max(self.column_width, min(wanted, _COLUMN_WIDTH[1]))
            self.last_column = max(self.last_column, column)

    def _heading(self, title: str, span: int = 3) -> None:
        self.row += 1
        self.sheet.write_string(self.row, 0, title, self.styles.heading)
        for column in range(1, span):
            self.sheet.write_blank(self.row, column, None, self.styles.heading)
        self.row += 1

    def _fact(self, label: str, value: Any, style: Any = None) -> None:
        """A label in column A, its value in B (a long value runs on over the empty cells)."""
        self._fit(0, label, bold=True)
        self.sheet.write_string(self.row, 0, label, self.styles.label)
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.sheet.write_string(self.row, 1, str(plain_value(value)), style or self.styles.text)
        elif isinstance(value, float) and math.isnan(value):
            self.sheet.write_string(self.row, 1, "n/a", self.styles.text)
        else:
            number_style = self.styles.integer if isinstance(value, int) else self.styles.decimal
            self.sheet.write_number(self.row, 1, value, style or number_style)
        self.row += 1

    def _note(self, text: str) -> None:
        self.sheet.write_string(self.row, 0, text, self.styles.note)
        self.row += 1

    def _table(
        self,
        header: Sequence[str],
        records: Sequence[Sequence[Any]],
        styles: Sequence[Any] | None = None,
    ) -> None:
        """A header row and records; numbers are counts unless `styles` says otherwise. Text
        after column A wraps, except in the last column, where it runs on to the right."""
        self._header(header)
        last = len(header) - 1
        for record in records:
            self.row += 1
            for column, value in enumerate(record):
                style = styles[column] if styles and styles[column] is not None else None
                if isinstance(value, str):
                    if column == 0:
                        self._fit(column, value)
                    elif column < last and style is None:
                        style = self.styles.wrap
                    self.sheet.write_string(self.row, column, value, style)
                elif isinstance(value, float) and math.isnan(value):
                    self.sheet.write_string(self.row, column, "n/a", style)
                else:
                    self.sheet.write_number(self.row, column, value, style or self.styles.count)
        self.row += 1

    def _header(self, header: Sequence[str]) -> None:
        self.sheet.write_row(self.row, 0, list(header), self.styles.header)
        for column, name in enumerate(header):
            self._fit(column, name, bold=True)

    # -- free-form sections ------------------------------------------------------------------

    def _free_form(
        self,
        title: str,
        value: Any,
        full_list: str = "the JSON report",
        columns: Sequence[str] = (),
    ) -> None:
        """A section of whatever shape the run gives: name: value lines, and tables of records
        (the first `_LISTED`, then a note pointing to `full_list` for the rest) showing
        `columns` in that order when given, else every key."""
        if not value:
            return
        self._heading(title)
        if isinstance(value, Mapping):
            after_table = False
            for key, item in value.items():
                if after_table:
                    self.row += 1  # a blank line between a table and what follows
                after_table = _is_records(item)
                if after_table:
                    self._fact(str(key), len(item))
                    self._records(item, full_list, columns)
                else:
                    for label, plain in flatten_settings({key: item}):
                        self._fact(label, plain)
        elif _is_records(value):
            self._records(value, full_list, columns)
        elif isinstance(value, list):
            for item in value:
                self._note(str(plain_value(item)))
        else:
            self._fact(title, value)

    def _records(
        self, records: Sequence[Mapping[str, Any]], full_list: str, columns: Sequence[str]
    ) -> None:
        keys = list(dict.fromkeys(k for record in records[:_LISTED] for k in record))
        header = [c for c in columns if c in keys] if columns else keys
        shown = [[plain_value(r.get(k)) for k in header] for r in records[:_LISTED]]
        self._table([str(h) for h in header], shown)
        if len(records) > _LISTED:
            self._note(f"… and {len(records) - _LISTED:,} more (see {full_list})")


def _is_records(value: Any) -> bool:
    """A non-empty list of mappings: shown as a table."""
    return isinstance(value, list) and bool(value) and all(isinstance(v, Mapping) for v in value)
