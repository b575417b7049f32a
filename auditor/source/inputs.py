"""Read URN lists: text, CSV, XLSX and JSON files, or stdin, into distinct audit targets.

Parsers take binary file objects and the format is sniffed when the name does not say it. An
entry that is not a URN becomes a target with `invalid_reason` set (an `invalid_urn` row later);
only an input that cannot be read at all raises `InputError`. Duplicates across all inputs merge
into one target that remembers where the entry first appeared and how often it appeared.

Text and CSV inputs are read a chunk at a time and merged entry by entry into a compact
`Targets`: a million-line file is never held whole, as bytes, text or entries. XLSX and JSON
inputs (small in practice) are read whole.
"""

from __future__ import annotations

import codecs
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from auditor.errors import InputError, reading
from auditor.model import Target
from auditor.source.readers import (
    URN_COLUMNS,
    Entry,
    TextEntries,
    csv_entries,
    json_entries,
    memory_size_of,
    xlsx_entries,
)
from auditor.source.targets import Targets

__all__ = ["Entry", "InputSet", "from_lines", "memory_size_of", "parse_stream", "read_inputs"]

FORMATS = ("txt", "csv", "xlsx", "json")
_SUFFIXES = {".txt": "txt", ".lst": "txt", ".csv": "csv", ".xlsx": "xlsx", ".json": "json"}
_BOM = codecs.BOM_UTF8
_BINARY_CHECK = 8192  # a NUL byte in this many first bytes marks a binary file
_HEAD = 1 << 16  # bytes read before the format is decided (at least `_BINARY_CHECK`)
_CHUNK = 1 << 20  # bytes read at a time after the head


@dataclass(frozen=True, slots=True)
class InputSummary:
    """What one input contributed, for the report's `run.inputs`."""

    name: str
    format: str
    entries: int


@dataclass(frozen=True, slots=True, init=False)
class InputSet:
    """All targets of a run in first-seen order, and a summary per input.

    `targets` may be given as any iterable of `Target` (tests and filters build sets by
    hand); it is kept as a compact `Targets`.
    """

    targets: Targets
    inputs: list[InputSummary]

    def __init__(self, targets: Targets | Iterable[Target], inputs: list[InputSummary]) -> None:
        object.__setattr__(self, "targets", Targets.of(targets))
        object.__setattr__(self, "inputs", inputs)

    @property
    def duplicates(self) -> int:
        """How many entries were merged into an earlier identical one."""
        return self.targets.duplicates


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
        with _opened(name, stdin) as (fmt, entries):
            count = merged.add_all(entries)
        summaries.append(InputSummary(name, fmt, count))
    for name, fmt, more in extra:
        summaries.append(InputSummary(name, fmt, merged.add_all(more)))
    return InputSet(merged.finish(), summaries)


def from_lines(lines: Iterable[str], label: str) -> InputSet:
    """An input set from entries already in memory (one per item), e.g. a generated fleet."""
    merged = _Merger()
    numbered = ((number, line.strip()) for number, line in enumerate(lines, start=1))
    count = merged.add_numbered(((n, text) for n, text in numbered if text), f"{label}:")
    return InputSet(merged.finish(), [InputSummary(label, "list", count)])


def parse_stream(stream: BinaryIO, label: str, fmt: str | None = None) -> tuple[str, list[Entry]]:
    """Parse one input; `fmt` comes from the file name, or is sniffed from the content."""
    fmt, entries = _stream_entries(stream, label, fmt)
    return fmt, list(entries)


@contextmanager
def _opened(name: str, stdin: BinaryIO | None) -> Iterator[tuple[str, Iterable[Entry]]]:
    """The format and entries of input `name`, its file open while they are consumed.

    A file that cannot be opened or read, now or while its entries are read, is an
    `InputError` naming it.
    """
    if name == "-":
        if stdin is None:
            raise InputError("'-' given but no standard input is available")
        yield _stream_entries(stdin, "stdin")
        return
    path = Path(name)
    label = str(path)
    if path.is_dir():
        raise InputError(f"{label}: is a directory, not a URN list")
    with reading(label, InputError), path.open("rb") as stream:
        yield _stream_entries(stream, label, _SUFFIXES.get(path.suffix.lower()))


def _stream_entries(
    stream: BinaryIO, label: str, fmt: str | None = None
) -> tuple[str, Iterable[Entry]]:
    """`parse_stream`, with the entries made as they are consumed: a text or CSV input is read
    from `stream` a chunk at a time as they are, so a million-line file is never held whole."""
    head, fmt = _read_head(stream, fmt)
    if fmt == "xlsx":
        data = head + stream.read()
        return fmt, list(xlsx_entries(data, label))  # read errors surface here, now
    if b"\x00" in head[:_BINARY_CHECK]:
        raise InputError(f"{label}: looks like a binary file, not a URN list")
    chunks = _decoded(stream, head, label)
    if fmt == "json":
        return fmt, json_entries("".join(chunks), label)
    if fmt == "csv":
        return fmt, csv_entries(chunks, label)
    return fmt, TextEntries(chunks, label)


def _read_head(stream: BinaryIO, fmt: str | None) -> tuple[bytes, str]:
    """The first bytes of `stream` and its format: at least `_HEAD` bytes (or all), and more
    while the format is still open (a long run of comment lines before the first entry)."""
    head = b""
    size = _HEAD
    while True:
        more = _read_at_most(stream, size)
        head += more
        at_end = len(more) < size
        found = fmt or _sniff(head, complete=at_end)
        if found:
            return head, found
        size = len(head)  # doubling: the head is scanned a bounded number of times


def _read_at_most(stream: BinaryIO, size: int) -> bytes:
    """`size` bytes, fewer only at the end of the stream (a pipe may return less per read)."""
    parts = []
    wanted = size
    while wanted > 0:
        more = stream.read(wanted)
        if not more:
            break
        parts.append(more)
        wanted -= len(more)
    return b"".join(parts)


def sniff_format(data: bytes) -> str:
    """Guess the format of an input whose name does not tell it."""
    return _sniff(data, complete=True) or "txt"


def _sniff(data: bytes, *, complete: bool) -> str | None:
    """`sniff_format` of the first bytes of an input, or None when the bytes after them could
    still change the answer (`complete` is false and no whole line decided it yet)."""
    if data.startswith(b"PK\x03\x04"):
        return "xlsx"
    head = data.lstrip(b"\xef\xbb\xbf \t\r\n")[:1]
    if head in (b"[", b"{"):
        return "json"
    lines = data.lstrip(b"\xef\xbb\xbf").splitlines()
    if not complete and lines and not data.endswith((b"\n", b"\r")):
        lines.pop()  # cut short by the end of what was read
    # The first line that is neither blank nor a comment decides between CSV and text.
    for line in lines:
        line = line.strip()
        if not line or line.startswith(b"#"):
            continue
        if b"," in line or line.lower().strip(b'"') in {c.encode() for c in URN_COLUMNS}:
            return "csv"
        return "txt"
    return "txt" if complete else None


def _decoded(stream: BinaryIO, head: bytes, label: str) -> Iterator[str]:
    """The text of an input a chunk at a time: `head` (read already), then the rest of
    `stream`. A leading BOM is dropped; a byte that is not UTF-8 is an `InputError` that says
    its offset in the file."""
    offset = len(_BOM) if head.startswith(_BOM) else 0  # where `data` starts in the file
    data = head[offset:]
    while data:
        more = stream.read(_CHUNK)
        try:
            # Not final while more follows: a character cut by the chunk's end stays unused.
            text, used = codecs.utf_8_decode(data, "strict", not more)
        except UnicodeDecodeError as exc:
            raise InputError(
                f"{label}: is not UTF-8 text (bad byte at offset {offset + exc.start}); "
                "save it as UTF-8"
            ) from None
        yield text
        offset += used
        data = data[used:] + more


class _Merger:
    """Merges entries into distinct targets, keeping the first place each appeared."""

    def __init__(self) -> None:
        self._targets = Targets()
        # The entries seen so far, only while reading: each key is the string `_targets`
        # holds, so this costs the table alone. A dict of None is smaller than a set, and
        # values that are indices would cost an int object per entry.
        self._seen: dict[str, None] = {}
        self._again: dict[str, int] = {}  # entry text -> occurrences after the first

    def add_all(self, entries: Iterable[Entry]) -> int:
        """Merge `entries`; how many there were, duplicates included."""
        if isinstance(entries, TextEntries):
            return self.add_numbered(entries.numbered(), f"{entries.label}:")
        count = 0
        seen = self._seen
        again = self._again
        add = self._targets.add
        for entry in entries:
            count += 1
            text = entry.text
            if text in seen:
                again[text] = again.get(text, 0) + 1
            else:
                seen[text] = None
                add(
                    text,
                    entry.where,
                    entry.problem,
                    entry.runtime,
                    entry.memory_size,
                    entry.account,
                )
        return count

    def add_numbered(self, numbered: Iterable[tuple[int, str]], name: str) -> int:
        """`add_all` for entries `(number, text)` found at `{name}{number}`: a plain list,
        whose sources are made only when asked for."""
        count = 0
        seen = self._seen
        again = self._again
        add_line = self._targets.add_line
        for number, text in numbered:
            count += 1
            if text in seen:
                again[text] = again.get(text, 0) + 1
            else:
                seen[text] = None
                add_line(text, name, number)
        return count

    def finish(self) -> Targets:
        """The merged targets; the merger's own tables are freed."""
        self._seen = {}
        self._targets.add_occurrences(self._again)
        self._again = {}
        return self._targets
