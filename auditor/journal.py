"""The journal: one JSON line per finished target, appended as results arrive.

The first line is a header naming the run and a fingerprint of its inputs; each further line is
a result row plus its target index (`i`); a resumed run adds a `resumed_at` marker line. Each
line is handed to the OS as soon as it is written, so a killed process loses only the requests
it had in flight; fsync runs in small batches, so a machine crash loses at most the last batch.
Rows hold no secret (the AK is already masked), so neither does the journal.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from auditor.errors import InputError
from auditor.model import Row, Target
from auditor.rows import from_record, to_record

JOURNAL_VERSION = 1
# One encoder for every line (`json.dumps` with options builds one per call). ASCII escapes are
# faster to write than UTF-8 here, and keep U+2028 and friends out of the raw lines.
_ENCODER = json.JSONEncoder(separators=(",", ":"))


def fingerprint(targets: Sequence[Target]) -> str:
    """A digest of the distinct input entries, in order: two runs over one input set match."""
    digest = hashlib.sha256()
    for target in targets:
        digest.update(target.urn.encode("utf-8", "surrogateescape"))
        digest.update(b"\n")
    return digest.hexdigest()


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
    ) -> None:
        self.path = path
        self._batch_rows = batch_rows
        self._batch_seconds = batch_seconds
        if resume:
            _cut_torn_tail(path)
        # Unbuffered: each line goes to the OS in one write(2), with no buffer layer to flush.
        self._stream = path.open("ab" if resume else "wb", buffering=0)
        self._unsynced = 0
        self._last_sync = time.monotonic()
        if resume:
            self._write({"resumed_at": header.get("started_at", "")})
        else:
            self._write({"journal": JOURNAL_VERSION, **header})
        self.sync()

    def record(self, index: int, row: Row) -> None:
        """Append one finished target; synced to disk every few rows or fraction of a second."""
        # `{"i": index, **record}` without a second dict: the record's own braces are reused.
        line = f'{{"i":{index:d},{_ENCODER.encode(to_record(row))[1:]}\n'
        self._write_line(line)
        self._unsynced += 1
        if (
            self._unsynced >= self._batch_rows
            or time.monotonic() - self._last_sync >= self._batch_seconds
        ):
            self.sync()

    def sync(self) -> None:
        """Make everything written so far survive a machine crash."""
        os.fsync(self._stream.fileno())
        self._unsynced = 0
        self._last_sync = time.monotonic()

    def close(self) -> None:
        if not self._stream.closed:
            self.sync()
            self._stream.close()

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _write(self, record: dict[str, Any]) -> None:
        self._write_line(_ENCODER.encode(record) + "\n")

    def _write_line(self, line: str) -> None:
        # A write(2) per line, cheap next to an HTTP request, is what makes a `kill -9` lose
        # only the requests in flight.
        data = memoryview(line.encode("ascii"))
        while data:
            data = data[self._stream.write(data) :]  # a regular file takes all, but be sure


@dataclass
class JournalContents:
    """A journal read back: its header, the rows by target index, and what was skipped."""

    header: dict[str, Any]
    rows: dict[int, Row] = field(default_factory=dict)
    skipped_lines: int = 0


def read_journal(path: Path) -> JournalContents:
    """Read a journal; a torn or unreadable line is skipped (and counted), never fatal."""
    try:
        with path.open("r", encoding="utf-8", errors="replace") as stream:
            first = stream.readline()
            header = _load(first)
            if header is None or "journal" not in header:
                raise InputError(f"{path}: not an auditor journal (no header line)")
            contents = JournalContents(header)
            for line in stream:
                record = _load(line)
                if record is None or ("i" not in record and "resumed_at" not in record):
                    contents.skipped_lines += 1
                elif "i" in record:
                    try:
                        contents.rows[int(record["i"])] = from_record(record)
                    except (KeyError, TypeError, ValueError):
                        contents.skipped_lines += 1
    except FileNotFoundError:
        raise InputError(f"{path}: no such journal") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    return contents


def _load(line: str) -> dict[str, Any] | None:
    try:
        record = json.loads(line)
    except ValueError:
        return None
    return record if isinstance(record, dict) else None


def _cut_torn_tail(path: Path) -> None:
    """Cut a last line that has no newline (a write torn by a crash) so appends start clean."""
    with path.open("rb+") as stream:
        size = stream.seek(0, os.SEEK_END)
        if size == 0:
            return
        stream.seek(size - 1)
        if stream.read(1) == b"\n":
            return
        chunk = 64 * 1024
        position = size
        while position > 0:
            start = max(0, position - chunk)
            stream.seek(start)
            data = stream.read(position - start)
            cut = data.rfind(b"\n")
            if cut >= 0:
                stream.truncate(start + cut + 1)
                return
            position = start
        stream.truncate(0)
