"""The four input formats, each read into `Entry`s: text (one URN per line, a stream), CSV (a
stream; the `urn`, `func_urn` or `function_urn` column, else the only one), XLSX and JSON (read
whole). A bad row is an entry like any other (it becomes an `invalid_urn` row later); only a
table with no URN column, or JSON that is not a list of URNs, is an `InputError`."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from auditor.errors import InputError

URN_COLUMNS = ("urn", "func_urn", "function_urn")
_MAX_SHOWN = 200
_JSON_TYPES = {type(None): "null", bool: "boolean", int: "number", float: "number", list: "array"}


@dataclass(frozen=True, slots=True)
class Entry:
    """One raw entry and where it was found (`file:line`); `problem` is set for a bad item."""

    text: str
    where: str
    problem: str = ""
    runtime: str = ""  # from a discovery listing (or a CSV/JSON with such columns)
    memory_size: int | None = None
    account: str = ""  # the account a listing found it in (`--all-projects`)


class TextEntries:
    """The entries of a text input, made as they are consumed.

    Iterating gives `Entry` objects; `_Merger` reads `numbered()` instead, which skips making
    an `Entry` and its `file:line` text per line: half the time to read a long list.
    """

    def __init__(self, chunks: Iterable[str], label: str) -> None:
        self.label = label
        self._chunks = chunks

    def __iter__(self) -> Iterator[Entry]:
        label = self.label
        for number, entry in self.numbered():
            yield Entry(entry, f"{label}:{number}")

    def numbered(self) -> Iterator[tuple[int, str]]:
        """(line number, entry) for each line that holds an entry: not blank, not a comment."""
        for number, line in enumerate(lines_of(self._chunks), start=1):
            entry = line.split("#", 1)[0].strip()
            if entry:
                yield number, entry


# What `str.splitlines` ends a line at; of them only CR LF is two characters.
_LINE_BREAKS = frozenset("\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029")


def lines_of(chunks: Iterable[str]) -> Iterator[str]:
    """`"".join(chunks).splitlines()`, without joining them: a line cut by a chunk's end is
    carried into the next, and so is the LF of a CR LF pair cut in two."""
    pending = ""
    after_cr = False
    for chunk in chunks:
        if after_cr and chunk[:1] == "\n":
            chunk = chunk[1:]
            after_cr = False
        if not chunk:
            continue
        text = pending + chunk
        lines = text.splitlines()
        after_cr = text[-1] == "\r"
        pending = "" if text[-1] in _LINE_BREAKS else lines.pop()
        yield from lines
    if pending:
        yield pending


def csv_entries(chunks: Iterator[str], label: str) -> Iterator[Entry]:
    reader = csv.reader(_csv_lines(chunks))
    rows = ((reader.line_num, row) for row in reader)
    try:
        yield from _table_entries(rows, label)
    except (InputError, csv.Error):
        # A byte that is not UTF-8 further on is the error to report, as it was when the
        # whole file was decoded before its first row was read.
        for _ in chunks:
            pass
        raise


# A line as `open(newline="")` reads it, end kept. (`io.StringIO(newline="").readlines()`
# splits alike but first copies each chunk at four bytes a character.)
_CSV_LINE = re.compile(r"[^\r\n]*(?:\r\n?|\n)|[^\r\n]+")


def _csv_lines(chunks: Iterable[str]) -> Iterator[str]:
    """The lines of the text, ends kept, as `open(newline="")` gives them to `csv`: ended by
    LF, CR or CR LF. A line cut by a chunk's end (or after its CR) is carried into the next."""
    pending = ""
    for chunk in chunks:
        if not chunk:
            continue
        lines = _CSV_LINE.findall(pending + chunk)
        pending = "" if lines[-1].endswith("\n") else lines.pop()
        yield from lines
    if pending:
        yield pending


def xlsx_entries(data: bytes, label: str) -> Iterator[Entry]:
    from openpyxl import load_workbook  # imported late: only XLSX inputs pay for it

    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many unrelated types for a damaged file
        raise InputError(f"{label}: is not a readable .xlsx workbook ({exc})") from None
    try:
        sheet = book.worksheets[0]
        rows = (
            (number, ["" if v is None else str(v) for v in values])
            for number, values in enumerate(sheet.iter_rows(values_only=True), start=1)
        )
        yield from _table_entries(rows, f"{label}[{sheet.title}]")
    finally:
        book.close()


def _table_entries(rows: Iterable[tuple[int, list[str]]], label: str) -> Iterator[Entry]:
    """Entries of a CSV or sheet: the URN column by name, else the only column. `runtime`,
    `memory_size` and `account` columns (as `auditor discover` writes them) are carried
    along."""
    column: int | None = None
    runtime_at: int | None = None
    memory_at: int | None = None
    account_at: int | None = None
    for number, row in rows:
        cells = [cell.strip() for cell in row]
        if column is None:
            if not any(cells):
                continue
            column, is_header = _find_urn_column(cells, label)
            if is_header:
                names = [cell.lower() for cell in cells]
                runtime_at = names.index("runtime") if "runtime" in names else None
                memory_at = names.index("memory_size") if "memory_size" in names else None
                account_at = names.index("account") if "account" in names else None
                continue
        value = cells[column] if column < len(cells) else ""
        if value:
            memory_size = memory_size_of(_cell(cells, memory_at))
            yield Entry(
                value,
                f"{label}:{number}",
                "",
                _cell(cells, runtime_at),
                memory_size,
                _cell(cells, account_at),
            )


def _cell(cells: list[str], index: int | None) -> str:
    return cells[index] if index is not None and index < len(cells) else ""


def memory_size_of(value: object) -> int | None:
    """A memory size in MB from a cell or JSON value; None when absent or not a number."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value >= 0 else None
    if isinstance(value, float) and value.is_integer() and value >= 0:
        return int(value)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def _find_urn_column(cells: list[str], label: str) -> tuple[int, bool]:
    names = [cell.lower() for cell in cells]
    for wanted in URN_COLUMNS:
        if wanted in names:
            return names.index(wanted), True
    filled = [i for i, cell in enumerate(cells) if cell]
    if len(filled) == 1:
        index = filled[0]
        return index, not cells[index].lower().startswith("urn:")
    shown = ", ".join(repr(c) for c in cells[:8])
    raise InputError(
        f"{label}: no URN column: name one of {', '.join(URN_COLUMNS)} (header was {shown})"
    )


def json_entries(text: str, label: str) -> Iterator[Entry]:
    try:
        data = json.loads(text) if text.strip() else []
    except json.JSONDecodeError as exc:
        raise InputError(f"{label}: is not valid JSON (line {exc.lineno}: {exc.msg})") from None
    if isinstance(data, dict) and isinstance(data.get("functions"), list):
        data = data["functions"]  # a ListFunctions response
    if not isinstance(data, list):
        raise InputError(
            f"{label}: JSON must be a list of URNs, a list of objects with func_urn/urn, "
            "or a ListFunctions response"
        )
    for index, item in enumerate(data, start=1):
        where = f"{label}:item {index}"
        if isinstance(item, str):
            if item.strip():
                yield Entry(item.strip(), where)
        elif isinstance(item, dict):
            value = next((item[k] for k in URN_COLUMNS if isinstance(item.get(k), str)), None)
            if value is not None:
                runtime = item.get("runtime")
                runtime = runtime.strip() if isinstance(runtime, str) else ""
                account = item.get("account")
                account = account.strip() if isinstance(account, str) else ""
                memory_size = memory_size_of(item.get("memory_size"))
                yield Entry(value.strip(), where, "", runtime, memory_size, account)
            else:
                yield Entry(_shown(json.dumps(item)), where, "object has no func_urn/urn field")
        else:
            kind = _JSON_TYPES.get(type(item), type(item).__name__)
            yield Entry(_shown(json.dumps(item)), where, f"a JSON {kind}, not a URN string")


def _shown(text: str) -> str:
    return text if len(text) <= _MAX_SHOWN else text[: _MAX_SHOWN - 1] + "…"
