"""`<name>.fix.journal.jsonl`: a header line, then one line per finished function, each synced
to disk before the next function's PUT can depend on it. `--resume` reads it back and skips
every function it already holds, so a crash never sends a function's PUT again once its result
is written. A torn last line (a crash mid-write) is ignored and cut off on resume."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from auditor.errors import InputError, UsageError, reading
from auditor.fix.apply import FixOutcome, FixResult
from auditor.fix.plan import PlannedFix

SUFFIX = ".fix.journal.jsonl"


def plan_fingerprint(items: Sequence[PlannedFix]) -> str:
    """Identifies a plan: the same report, statuses and narrowing give the same one."""
    digest = hashlib.sha256()
    for item in items:
        digest.update(item.urn.encode() + b"\n")
    return digest.hexdigest()


class FixJournal:
    """Appends results; `resume` continues an existing journal after its last whole line."""

    def __init__(self, path: Path, header: dict[str, Any], *, resume: bool = False) -> None:
        self.path = path
        self._stream: IO[bytes]
        if resume:
            self._stream = path.open("r+b")
            self._stream.seek(_whole_lines_end(path))
            self._stream.truncate()
        else:
            self._stream = path.open("xb")
            self._write({"fix_journal": 1, **header})

    def record(self, result: FixResult) -> None:
        self._write(dataclasses.asdict(result))

    def _write(self, document: dict[str, Any]) -> None:
        self._stream.write(json.dumps(document, ensure_ascii=True).encode() + b"\n")
        self._stream.flush()
        os.fsync(self._stream.fileno())

    def close(self) -> None:
        self._stream.close()

    def __enter__(self) -> FixJournal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass(frozen=True)
class FixJournalContents:
    """A fix journal read back: its header and its results, in the order written."""

    header: dict[str, Any]
    results: list[FixResult]


def read_fix_journal(path: Path) -> FixJournalContents:
    """Read a fix journal; `InputError` naming the file if it is not one."""
    with reading(str(path), InputError, hint=f"give a <name>{SUFFIX} written by auditor fix"):
        lines = list(_whole_lines(path))
    if not lines:
        raise InputError(f"{path}: empty; give a <name>{SUFFIX} written by auditor fix")
    try:
        header = json.loads(lines[0])
        if not isinstance(header, dict) or header.get("fix_journal") != 1:
            raise ValueError
        results = [_result(json.loads(line)) for line in lines[1:]]
    except (ValueError, TypeError, KeyError):
        raise InputError(f"{path}: not a fix journal written by auditor fix") from None
    return FixJournalContents(header, results)


def check_resumable(contents: FixJournalContents, path: Path, fingerprint: str) -> None:
    if contents.header.get("fingerprint") != fingerprint:
        raise UsageError(
            f"--resume {path}: the journal is for another plan "
            f"({contents.header.get('planned', '?')} functions); give the same report and "
            "options as the interrupted fix, or run without --resume"
        )


def _result(record: dict[str, Any]) -> FixResult:
    fields = {f.name for f in dataclasses.fields(FixResult)}
    values = {key: record[key] for key in fields}
    values["outcome"] = FixOutcome(values["outcome"])
    return FixResult(**values)


def _whole_lines(path: Path) -> Iterator[bytes]:
    with path.open("rb") as stream:
        for line in stream:
            if line.endswith(b"\n"):
                yield line


def _whole_lines_end(path: Path) -> int:
    end = 0
    for line in _whole_lines(path):
        end += len(line)
    return end
