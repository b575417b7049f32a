"""Read URN lists: text, CSV, XLSX and JSON files, or stdin, into distinct audit targets.

Parsers take binary file objects and the format is sniffed when the name does not say it. An
entry that is not a URN becomes a target with `invalid_reason` set (an `invalid_urn` row later);
only an input that cannot be read at all raises `InputError`. Duplicates across all inputs merge
into one target that remembers where the entry first appeared and how often it appeared.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import BinaryIO

from auditor.errors import InputError, InvalidUrn
from auditor.model import Target
from auditor.urn import parse_urn

URN_COLUMNS = ("urn", "func_urn", "function_urn")
FORMATS = ("txt", "csv", "xlsx", "json")
_SUFFIXES = {".txt": "txt", ".lst": "txt", ".csv": "csv", ".xlsx": "xlsx", ".json": "json"}
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


@dataclass(frozen=True, slots=True)
class InputSummary:
    """What one input contributed, for the report's `run.inputs`."""

    name: str
    format: str
    entries: int


@dataclass(frozen=True, slots=True)
class InputSet:
    """All targets of a run in first-seen order, and a summary per input."""

    targets: list[Target]
    inputs: list[InputSummary]

    @property
    def duplicates(self) -> int:
        """How many entries were merged into an earlier identical one."""
        return sum(t.occurrences - 1 for t in self.targets)


def read_inputs(
    names: Sequence[str],
    stdin: BinaryIO | None = None,
    extra: Iterable[tuple[str, str, Iterable[Entry]]] = (),
) -> InputSet:
    """Read every input (`-` is stdin) and merge their entries into distinct targets.

    `extra` adds entries already in memory as further inputs, `(name, format, entries)`
    each, after the files: a discovery listing, for instance.
    """
    merged = _Merger()
    summaries = []
    for name in names:
        if name == "-":
            if stdin is None:
                raise InputError("'-' given but no standard input is available")
            fmt, entries = _stream_entries(stdin, "stdin")
        else:
            fmt, entries = _parse_path(Path(name))
        count = merged.add_all(entries)
        summaries.append(InputSummary(name, fmt, count))
    for name, fmt, more in extra:
        summaries.append(InputSummary(name, fmt, merged.add_all(more)))
    return InputSet(merged.targets(), summaries)


def from_lines(lines: Iterable[str], label: str) -> InputSet:
    """An input set from entries already in memory (one per item), e.g. a generated fleet."""
    merged = _Merger()
    count = merged.add_all(
        Entry(line.strip(), f"{label}:{number}")
        for number, line in enumerate(lines, start=1)
        if line.strip()
    )
    return InputSet(merged.targets(), [InputSummary(label, "list", count)])


def parse_stream(stream: BinaryIO, label: str, fmt: str | None = None) -> tuple[str, list[Entry]]:
    """Parse one input; `fmt` comes from the file name, or is sniffed from the content."""
    fmt, entries = _stream_entries(stream, label, fmt)
    return fmt, list(entries)


def _stream_entries(
    stream: BinaryIO, label: str, fmt: str | None = None
) -> tuple[str, Iterator[Entry]]:
    """`parse_stream`, with the entries made as they are consumed: a million-line input is
    merged entry by entry, never held as a list of entries (nor its raw bytes beside its text)."""
    data = stream.read()
    fmt = fmt or sniff_format(data)
    if fmt == "xlsx":
        return fmt, iter(list(_xlsx_entries(data, label)))  # read errors surface here, now
    text = _decode(data, label)
    del data
    if fmt == "json":
        return fmt, _json_entries(text, label)
    if fmt == "csv":
        return fmt, _csv_entries(text, label)
    return fmt, _text_entries(text, label)


def sniff_format(data: bytes) -> str:
    """Guess the format of an input whose name does not tell it."""
    if data.startswith(b"PK\x03\x04"):
        return "xlsx"
    head = data.lstrip(b"\xef\xbb\xbf \t\r\n")[:1]
    if head in (b"[", b"{"):
        return "json"
    # The first line that is neither blank nor a comment decides between CSV and text.
    for line in data.lstrip(b"\xef\xbb\xbf").splitlines():
        line = line.strip()
        if not line or line.startswith(b"#"):
            continue
        if b"," in line or line.lower().strip(b'"') in {c.encode() for c in URN_COLUMNS}:
            return "csv"
        return "txt"
    return "txt"


def _parse_path(path: Path) -> tuple[str, Iterator[Entry]]:
    label = str(path)
    if path.is_dir():
        raise InputError(f"{label}: is a directory, not a URN list")
    try:
        with path.open("rb") as stream:
            fmt, entries = _stream_entries(stream, label, _SUFFIXES.get(path.suffix.lower()))
    except FileNotFoundError:
        raise InputError(f"{label}: no such file") from None
    except PermissionError:
        raise InputError(f"{label}: permission denied") from None
    except OSError as exc:
        raise InputError(f"{label}: cannot be read ({exc.strerror or exc})") from None
    return fmt, entries


def _decode(data: bytes, label: str) -> str:
    if b"\x00" in data[:8192]:
        raise InputError(f"{label}: looks like a binary file, not a URN list")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(
            f"{label}: is not UTF-8 text (bad byte at offset {exc.start}); save it as UTF-8"
        ) from None


def _text_entries(text: str, label: str) -> Iterator[Entry]:
    for number, line in enumerate(_lines(text), start=1):
        entry = line.split("#", 1)[0].strip()
        if entry:
            yield Entry(entry, f"{label}:{number}")


def _lines(text: str, piece: int = 1 << 20) -> Iterator[str]:
    """`text.splitlines()`, a piece at a time: a million-line list is never built. Pieces end
    just after a line feed, so no line (nor a CR LF pair) is ever cut in two."""
    start = 0
    while start < len(text):
        end = text.find("\n", start + piece)
        end = len(text) if end < 0 else end + 1
        yield from text[start:end].splitlines()
        start = end


def _csv_entries(text: str, label: str) -> Iterator[Entry]:
    reader = csv.reader(io.StringIO(text, newline=""))
    rows = ((reader.line_num, row) for row in reader)
    yield from _table_entries(rows, label)


def _xlsx_entries(data: bytes, label: str) -> Iterator[Entry]:
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
    """Entries of a CSV or sheet: the URN column by name, else the only column. `runtime`
    and `memory_size` columns (as `auditor discover` writes them) are carried along."""
    column: int | None = None
    runtime_at: int | None = None
    memory_at: int | None = None
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
                continue
        value = cells[column] if column < len(cells) else ""
        if value:
            runtime = _cell(cells, runtime_at)
            yield Entry(
                value, f"{label}:{number}", "", runtime, memory_size_of(_cell(cells, memory_at))
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


def _json_entries(text: str, label: str) -> Iterator[Entry]:
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
                yield Entry(
                    value.strip(), where, "", runtime, memory_size_of(item.get("memory_size"))
                )
            else:
                yield Entry(_shown(json.dumps(item)), where, "object has no func_urn/urn field")
        else:
            kind = _JSON_TYPES.get(type(item), type(item).__name__)
            yield Entry(_shown(json.dumps(item)), where, f"a JSON {kind}, not a URN string")


def _shown(text: str) -> str:
    return text if len(text) <= _MAX_SHOWN else text[: _MAX_SHOWN - 1] + "…"


class _Merger:
    """Merges entries into distinct targets, keeping the first place each appeared."""

    def __init__(self) -> None:
        # The targets themselves, by entry text: nothing per entry is held twice. A duplicate
        # (rare) replaces its target with one counting it.
        self._seen: dict[str, Target] = {}

    def add_all(self, entries: Iterable[Entry]) -> int:
        count = 0
        seen = self._seen
        for entry in entries:
            count += 1
            text = entry.text
            target = seen.get(text)
            if target is not None:
                seen[text] = replace(target, occurrences=target.occurrences + 1)
            elif entry.problem:
                seen[text] = Target(text, None, entry.where, 1, entry.problem)
            else:
                try:
                    parsed = parse_urn(text)
                except InvalidUrn as exc:
                    seen[text] = Target(text, None, entry.where, 1, str(exc))
                else:
                    seen[text] = Target(
                        text, parsed, entry.where, 1, "", entry.runtime, entry.memory_size
                    )
        return count

    def targets(self) -> list[Target]:
        return list(self._seen.values())
