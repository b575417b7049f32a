"""The journal: one JSON line per finished target, appended as results arrive.

The first line is a header naming the run and a fingerprint of its inputs; each further line is
a result row plus its target index (`i`); a resumed run adds a `resumed_at` marker line. Lines
reach the OS at once, or (in an audit, `defer` given) the lines of one event-loop turn together
at the start of the next turn, so a killed process loses only the requests it had in flight and
the answers of its last few milliseconds (which `--resume` asks again); fsync runs in small
batches, so a machine crash loses at most the last batch.
Rows hold no secret (the AK is already masked), so neither does the journal.
"""

from __future__ import annotations

import json
import os
import time
from array import array
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, BinaryIO

from auditor.errors import InputError, reading
from auditor.model import Row
from auditor.verdict.rows import from_record, row_json

JOURNAL_VERSION = 1
# One encoder for every line (`json.dumps` with options builds one per call). ASCII escapes are
# faster to write than UTF-8 here, and keep U+2028 and friends out of the raw lines.
_ENCODER = json.JSONEncoder(separators=(",", ":"))


class Journal:
    """Appends result lines to a journal file; use as a context manager.

    A new journal starts with `header`; `resume=True` continues an existing one after its last
    whole line (a torn last line from a crash is cut off) with a `resumed_at` marker.
    """

    def __init__(
        self,
        path: Path,
        header: dict[str, Any],
        *,
        resume: bool = False,
        batch_rows: int = 1024,
        batch_seconds: float = 0.5,
        defer: Callable[[Callable[[], None]], object] | None = None,
    ) -> None:
        self.path = path
        self._batch_rows = batch_rows
        self._batch_seconds = batch_seconds
        # `defer(flush)` runs `flush` soon (an event loop's `call_soon`): the lines recorded
        # until then go to the OS in one write(2), not one each. Without it, each line at once.
        self._defer = defer
        self._pending: list[str] = []
        self._failed: OSError | None = None  # a deferred write that failed, raised on next use
        # A resumed journal's last line torn by a crash is cut off: one line lost, and said.
        self.torn_lines = 1 if resume and _cut_torn_tail(path) else 0
        # Unbuffered: lines go to the OS in one write(2) each time, with no buffer to flush.
        self._stream = path.open("ab" if resume else "wb", buffering=0)
        self._position = self._stream.seek(0, os.SEEK_END)
        self.opened_at = self._position  # lines from here on were written by this run
        self._unsynced = 0
        self._last_sync = time.monotonic()
        if resume:
            self._write({"resumed_at": header.get("started_at", "")})
        else:
            self._write({"journal": JOURNAL_VERSION, **header})
        self.sync()

    def record(self, index: int, row: Row) -> int:
        """Append one finished target; return the line's offset in the file (where
        `JournalRows` reads it back). Synced to disk every few rows or fraction of a second."""
        if self._failed is not None:
            raise self._failed
        # `{"i": index, **record}` without a second dict: the record's own braces are reused.
        line = f'{{"i":{index:d},{row_json(row)[1:]}\n'
        offset = self._position
        self._position += len(line)  # ASCII: as many bytes as characters
        self._unsynced += 1
        if self._defer is None:
            self._write_out(line)
            self._sync_if_due()
        else:
            if not self._pending:
                self._defer(self._flush)
            self._pending.append(line)
            if len(self._pending) >= self._batch_rows:
                self._flush()  # a turn that records many rows (a resume) holds a batch at most
        return offset

    def sync(self) -> None:
        """Make everything written so far survive a machine crash."""
        os.fsync(self._stream.fileno())
        self._unsynced = 0
        self._last_sync = time.monotonic()

    def close(self) -> None:
        if not self._stream.closed:
            try:
                self._flush()
                if self._failed is not None:
                    raise self._failed
                self.sync()
            finally:
                self._stream.close()

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _flush(self) -> None:
        """Write the deferred lines (a no-op once closed, or when there are none)."""
        if not self._pending or self._stream.closed:
            return
        lines = "".join(self._pending)
        self._pending.clear()
        try:
            self._write_out(lines)
            self._sync_if_due()
        except OSError as exc:  # raised from the next record() or close(), not lost in a callback
            self._failed = exc

    def _sync_if_due(self) -> None:
        if (
            self._unsynced >= self._batch_rows
            or time.monotonic() - self._last_sync >= self._batch_seconds
        ):
            self.sync()

    def _write(self, record: dict[str, Any]) -> None:
        line = _ENCODER.encode(record) + "\n"
        self._position += len(line)  # ASCII: as many bytes as characters
        self._write_out(line)

    def _write_out(self, text: str) -> None:
        data = memoryview(text.encode("ascii"))
        while data:
            data = data[self._stream.write(data) :]  # a regular file takes all, but be sure


class JournalReader:
    """A journal's header (read and checked when opened) and its rows, one at a time, with
    the offset of each line: a million-row journal is never held whole."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.skipped_lines = 0
        with _open(path) as stream:
            header = _load(stream.readline().decode("utf-8", "replace"))
        if header is None or "journal" not in header:
            raise InputError(f"{path}: not an auditor journal (no header line)")
        self.header: dict[str, Any] = header

    def records(self) -> Iterator[tuple[int, int, Row]]:
        """`(target index, line offset, row)` of each result line, in file order; a torn or
        unreadable line is skipped and counted in `skipped_lines`."""
        self.skipped_lines = 0
        with _open(self.path) as stream:
            offset = len(stream.readline())
            for line in stream:
                at, offset = offset, offset + len(line)
                if not line.endswith(b"\n"):
                    # Torn by a crash: a resumed journal is cut here, so this line is not kept.
                    self.skipped_lines += 1
                    continue
                found = self._row_of(line)
                if found is not None:
                    yield found[0], at, found[1]

    def latest_rows(self, urns: Sequence[str], end: int) -> Iterator[tuple[int, Row]]:
        """`(target index, row)` of each target's last line before offset `end` whose URN is
        the target's (`urns[i]` is target i's): what a resume takes from an earlier run.

        Each line is decoded once, read from the end back a block at a time (a target
        journaled again by an earlier resume: its later line wins, and the earlier one is
        passed over); a block's rows come in file order, so a reader of their new lines in
        target order seeks forward. Unreadable lines are counted in `skipped_lines`."""
        self.skipped_lines = 0
        taken = bytearray(len(urns))
        with _open(self.path) as stream:
            body = len(stream.readline())  # the header
            for lines in _blocks_back(stream, body, end):
                chosen: list[tuple[int, Row]] = []
                for line in reversed(lines):
                    found = self._row_of(line)
                    if found is None:
                        continue
                    index, row = found
                    if 0 <= index < len(urns) and not taken[index] and row.urn == urns[index]:
                        taken[index] = 1
                        chosen.append(found)
                yield from reversed(chosen)

    def _row_of(self, line: bytes) -> tuple[int, Row] | None:
        """The target index and row of a result line; None for a `resumed_at` marker, and for
        an unreadable line, which is counted in `skipped_lines`."""
        record = _load(line.decode("utf-8", "replace"))
        if record is None or ("i" not in record and "resumed_at" not in record):
            self.skipped_lines += 1
            return None
        if "i" not in record:
            return None
        try:
            return int(record["i"]), from_record(record)
        except (KeyError, TypeError, ValueError):
            self.skipped_lines += 1
            return None


def _blocks_back(stream: BinaryIO, start: int, end: int) -> Iterator[list[bytes]]:
    """The whole lines between offsets `start` and `end` (each a line's start), a block of
    them at a time from the end back; each block's lines in file order, without newlines."""
    position, carry = end, b""
    while position > start:
        begin = max(start, position - _READ_BUFFER)
        stream.seek(begin)
        data = stream.read(position - begin) + carry
        position = begin
        carry = b""
        if position > start:
            # The block starts inside a line that began before it: that part waits for the rest.
            cut = data.find(b"\n") + 1 or len(data)
            carry, data = data[:cut], data[cut:]
        if data:
            yield data[:-1].split(b"\n")


def _open(path: Path) -> BinaryIO:
    """Open a journal for reading; a missing or unreadable file is an `InputError`."""
    with reading(str(path), InputError, directory="is a directory, not a journal"):
        return path.open("rb", buffering=_READ_BUFFER)


_READ_BUFFER = 1 << 20


class JournalRows:
    """A run's rows in target order, read back from its journal at the offsets the run noted
    (`offsets[i]` is target i's line, or -1 when it has none): the rows of a million-URN run
    are written into the reports without being held in memory.

    Each iteration reads the file afresh. Lines this run wrote (from `raw_from` on) hold the
    report's row, marks and all: `json_lines` copies them rather than decode and re-encode.
    """

    def __init__(self, path: Path, offsets: array[int], *, raw_from: int | None = None) -> None:
        self.path = path
        self._offsets = offsets
        self._raw_from = raw_from
        self._count = sum(1 for offset in offsets if offset >= 0)

    def __len__(self) -> int:
        return self._count

    def __iter__(self) -> Iterator[Row]:
        for _, line in self._lines():
            yield from_record(json.loads(line))

    def records(self) -> Iterator[tuple[int, dict[str, Any]]]:
        """`(target index, record)` of each placed row, in target order: the row as the JSON
        report's object (`to_record`), for readers that need no `Row`."""
        offsets = (index for index, offset in enumerate(self._offsets) if offset >= 0)
        loads = json.loads
        for index, (_, line) in zip(offsets, self._lines(), strict=True):
            yield index, loads(line.decode("utf-8"))

    def indexed(self) -> Iterator[tuple[int, Row]]:
        """`(target index, row)` of each placed row, in target order."""
        rows = iter(self)
        for index, offset in enumerate(self._offsets):
            if offset >= 0:
                yield index, next(rows)

    def json_lines(self) -> Iterator[bytes]:
        """Each row as the JSON report writes it (compact, one object, no newline)."""
        raw_from = self._raw_from
        for offset, line in self._lines():
            if raw_from is not None and offset >= raw_from:
                # `{"i":N,"urn":...}\n` -> `{"urn":...}`: N is a number, so its comma is first.
                yield b"{" + line[line.index(b",") + 1 :].rstrip(b"\n")
            else:
                yield row_json(from_record(json.loads(line))).encode()

    def _lines(self) -> Iterator[tuple[int, bytes]]:
        """`(offset, line)` of each placed row, in target order."""
        # Rows finish out of order, but never far from it: most seeks stay inside the buffer.
        with _open(self.path) as stream:
            for offset in self._offsets:
                if offset >= 0:
                    stream.seek(offset)
                    yield offset, stream.readline()


def _load(line: str) -> dict[str, Any] | None:
    try:
        record = json.loads(line)
    except ValueError:
        return None
    return record if isinstance(record, dict) else None


def _cut_torn_tail(path: Path) -> bool:
    """Cut a last line that has no newline (a write torn by a crash) so appends start clean;
    True when there was one."""
    with path.open("rb+") as stream:
        size = stream.seek(0, os.SEEK_END)
        if size == 0:
            return False
        stream.seek(size - 1)
        if stream.read(1) == b"\n":
            return False
        chunk = 64 * 1024
        position = size
        while position > 0:
            start = max(0, position - chunk)
            stream.seek(start)
            data = stream.read(position - start)
            cut = data.rfind(b"\n")
            if cut >= 0:
                stream.truncate(start + cut + 1)
                return True
            position = start
        stream.truncate(0)
        return True
