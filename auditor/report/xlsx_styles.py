"""The XLSX report's look: status colours, cell formats and the page setup for printing."""

from __future__ import annotations

from typing import Any

import xlsxwriter

from auditor.model import Change, Status

STATUS_COLOURS: dict[str, str] = {
    Status.CONFIGURED: "#C6EFCE",
    Status.UNEXPECTED_KEYS: "#F4B084",
    Status.MISSING_KEYS: "#FFEB9C",
    Status.FUNCTION_NOT_FOUND: "#D9D9D9",
    Status.AUTH_FAILED: "#FFC7CE",
    Status.THROTTLED: "#E4DFEC",
    Status.ERROR: "#F8CBAD",
    Status.INVALID_URN: "#DDEBF7",
}
GOOD, BAD = "#C6EFCE", "#FFC7CE"
# The Changes sheet: a regression reads like a failure, a fix like a pass; gone is greyed out
# like a missing function. Unchanged URNs are not listed there.
CHANGE_COLOURS: dict[str, str] = {
    Change.REGRESSED: BAD,
    Change.FIXED: GOOD,
    Change.NEW: "#DDEBF7",
    Change.GONE: "#D9D9D9",
}
HEADER_BLUE = "#1F4E78"
_A4 = 9


class Styles:
    """The workbook's formats, made once (xlsxwriter wants each format added to the book)."""

    def __init__(self, book: xlsxwriter.Workbook) -> None:
        add = book.add_format
        self.title = add({"bold": True, "font_size": 16, "font_color": HEADER_BLUE})
        self.subtitle = add({"italic": True, "font_color": "#595959"})
        self.heading = add({"bold": True, "font_size": 12, "font_color": HEADER_BLUE, "bottom": 2})
        self.header = add(
            {"bold": True, "bg_color": HEADER_BLUE, "font_color": "#FFFFFF", "border": 1}
        )
        self.label = add({"bold": True})
        self.text = add({"align": "left"})
        self.wrap = add({"text_wrap": True, "valign": "top"})
        self.note = add({"italic": True, "font_color": "#595959"})
        # Facts are read down a column: numbers sit on the left like the text around them.
        self.integer = add({"num_format": "#,##0", "align": "left"})
        self.decimal = add({"num_format": "#,##0.0", "align": "left"})
        self.percent = add({"num_format": "0.0%"})
        self.percent_fact = add({"num_format": "0.0%", "align": "left"})
        self.count = add({"num_format": "#,##0"})
        self.rate = add({"num_format": "#,##0.0"})
        self.good = add({"bg_color": GOOD, "align": "left"})
        self.bad = add({"bg_color": BAD, "bold": True, "align": "left"})
        self.status = {
            status: add({"bg_color": colour}) for status, colour in STATUS_COLOURS.items()
        }
        self.change = {
            change: add({"bg_color": colour}) for change, colour in CHANGE_COLOURS.items()
        }


def print_setup(sheet: Any, *, pages_wide: int) -> None:
    """Landscape A4, `pages_wide` pages across and as many down as needed, with narrow margins
    and a footer naming the sheet and the page."""
    sheet.set_landscape()
    sheet.set_paper(_A4)
    sheet.set_margins(left=0.4, right=0.4, top=0.5, bottom=0.6)
    sheet.fit_to_pages(pages_wide, 0)
    sheet.set_footer("&L&A&RPage &P of &N")


# Calibri 11 (the workbook's font) beside its digit `0`, the unit of a column width: these
# characters take about half a digit, these about a fifth more; the rest about one.
_NARROW = str.maketrans("", "", "iljftr.,:;!|'()[] -")
_WIDE = str.maketrans("", "", "ABCDEFGHIJKLMNOPQRSTUVWXYZmw@%#")


def text_width(text: str, *, bold: bool = False) -> float:
    """The column width that shows `text` whole, with a little padding either side."""
    n = len(text)
    narrow = n - len(text.translate(_NARROW))
    wide = n - len(text.translate(_WIDE))
    units = n - 0.45 * narrow + 0.2 * wide
    return round(units * (1.08 if bold else 1.0) + 2, 1)
