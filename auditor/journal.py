"""The journal: one JSON line per finished target, appended as results arrive.

The first line is a header naming the run and a fingerprint of its inputs; each further line is
a result row plus its target index. Lines are flushed and fsync'ed in small batches, so a crash
loses at most the last batch. Rows hold no secret (the AK is already masked), so neither does
the journal.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

from auditor.model import Row, Target
from auditor.rows import to_record

JOURNAL_VERSION = 1


def fingerprint(targets: Sequence[Target]) -> str:
    """A digest of the distinct input entries, in order: two runs over one input set match."""
    digest = hashlib.sha256()
    for target in targets:
        digest.update(target.urn.encode("utf-8", "surrogateescape"))
        digest.update(b"\n")
    return digest.hexdigest()


class Journal:
    """Appends result lines to `<out>/<name>.journal.jsonl`; use as a context manager."""

    def __init__(
        self,
        path: Path,
        header: dict[str, Any],
        *,
        batch_rows: int = 256,
        batch_seconds: float = 0.5,
    ) -> None:
        self.path = path
        self._batch_rows = batch_rows
        self._batch_seconds = batch_seconds
        self._stream: IO[str] = path.open("a", encoding="utf-8")
        self._unsynced = 0
        self._last_sync = time.monotonic()
        self._write({"journal": JOURNAL_VERSION, **header})
        self.sync()

    def record(self, index: int, row: Row) -> None:
        """Append one finished target; synced to disk every few rows or fraction of a second."""
        self._write({"i": index, **to_record(row)})
        self._unsynced += 1
        if (
            self._unsynced >= self._batch_rows
            or time.monotonic() - self._last_sync >= self._batch_seconds
        ):
            self.sync()

    def sync(self) -> None:
        """Make everything written so far survive a crash."""
        self._stream.flush()
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
        self._stream.write(json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n")
