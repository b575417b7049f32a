"""Rebuild reports from what a run left behind: its journal or its JSON report, no API calls.

A journal (`<name>.journal.jsonl`) holds every finished row by target index, so an interrupted
or crashed run can be reported without being resumed; a JSON report holds its rows and run, so
the XLSX and CSV can be written again (or in other formats) from it. Either way the rows come
back in input order, the summary is computed afresh with `summarize`, and `write_reports` writes
the files, as after an audit.
"""

from __future__ import annotations

import json
from array import array
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from auditor.errors import InputError, UsageError, reading
from auditor.model import Row
from auditor.report.tables import ReportDocument, Summary, summarize
from auditor.report.writers import write_reports
from auditor.store.journal import JournalReader, JournalRows
from auditor.store.report_file import read_report
from auditor.verdict.age import is_aged
from auditor.verdict.rows import from_record

JOURNAL_SUFFIX = ".journal.jsonl"
_HINT = "give a <name>.journal.jsonl journal or a <name>.json report written by auditor"


@dataclass(frozen=True)
class RebuildSource:
    """A journal or JSON report read back: the report it holds and the run's base name."""

    path: Path
    kind: str  # "journal" or "report"
    name: str
    document: ReportDocument


def load_source(path: Path) -> RebuildSource:
    """Read a journal or a JSON report (sniffed from its first line) into a report document.

    Every problem (missing, unreadable, not JSON, not written by auditor) is an `InputError`
    whose message names the file.
    """
    if path.is_dir():
        raise InputError(f"{path}: is a directory; {_HINT}")
    line = _first_line(path)
    first = _json_object(line)
    if path.name.endswith(".jsonl") or "journal" in first:
        return _from_journal(path, JournalReader(path))
    if not line.lstrip("\ufeff \t\r\n").startswith("{"):
        raise InputError(f"{path}: not an auditor journal or JSON report; {_HINT}")
    return _from_report(path)


def rebuild_reports(
    source: Path,
    formats: Sequence[str],
    *,
    out_dir: Path | None = None,
    name: str | None = None,
) -> tuple[RebuildSource, list[Path]]:
    """Write `<out_dir>/<name>.<format>` from `source`; return what was read and the paths.

    `out_dir` defaults to the source's folder and `name` to the source's run name. Writing over
    the source itself is refused, so a JSON report is never lost to its own rebuild.
    """
    loaded = load_source(source)
    out = source.parent if out_dir is None else out_dir
    base = name or loaded.name
    for fmt in formats:
        target = out / f"{base}.{fmt}"
        if target.exists() and target.samefile(source):
            raise UsageError(
                f"{target} is the source being rebuilt from and would be overwritten; "
                "give another --name or -o DIR, or leave json out of --format"
            )
    return loaded, write_reports(loaded.document, out, base, formats)


def _first_line(path: Path) -> str:
    with reading(str(path), InputError, hint=_HINT), path.open("r", encoding="utf-8") as stream:
        return stream.readline()


def _json_object(line: str) -> dict[str, Any]:
    """The line as a JSON object, or {} when it is not one (e.g. an indented report's `{`)."""
    try:
        record = json.loads(line)
    except ValueError:
        return {}
    return record if isinstance(record, dict) else {}


def _from_journal(path: Path, journal: JournalReader) -> RebuildSource:
    header = journal.header
    targets = header.get("targets")
    if isinstance(targets, bool) or not isinstance(targets, int) or targets < 0:
        raise InputError(f"{path}: the journal header has no entry count ('targets'); {_HINT}")
    # Each target's line, read back when the reports are written: a million-row journal is
    # never held whole. The array grows to the highest index seen, not to what the header says.
    offsets: array[int] = array("q")
    lines = 0
    for index, offset, _ in journal.records():
        lines += 1
        if 0 <= index < targets:
            if index >= len(offsets):
                offsets.extend([-1] * (index + 1 - len(offsets)))
            offsets[index] = offset
    rows = JournalRows(path, offsets)
    missing = targets - len(rows)
    started = header.get("started_at")
    run: dict[str, Any] = {
        "started_at": started if isinstance(started, str) else "",
        "complete": missing == 0,
        "targets": targets,
        # The journal has no line for an unfinished entry, so only their number is known.
        "not_audited_count": missing,
        **({"not_audited": []} if missing == 0 else {}),
        "journal": str(path),
        "lines_skipped": journal.skipped_lines + lines - len(rows),
        "rebuilt_from": str(path),
    }
    name = header.get("name")
    if not isinstance(name, str) or not name:
        name = path.name.removesuffix(JOURNAL_SUFFIX).removesuffix(".jsonl")
    return RebuildSource(path, "journal", name, ReportDocument(rows, _summary(rows, run), run))


def _from_report(path: Path) -> RebuildSource:
    def rows_of(head: dict[str, Any], records: Iterator[Any]) -> tuple[dict[str, Any], list[Row]]:
        return head, [_row(path, index, record) for index, record in enumerate(records)]

    head, rows = read_report(path, str(path), _HINT, rows_of)
    run = {**head["run"], "rebuilt_from": str(path)}
    return RebuildSource(path, "report", path.stem, ReportDocument(rows, _summary(rows, run), run))


def _summary(rows: Iterable[Row], run: dict[str, Any]) -> Summary:
    """The rows' summary, with the change counts and exempt count the report's run had."""
    summary = summarize(rows)
    if any(row.first_seen for row in rows):  # aged by the history store
        summary = replace(summary, aged=sum(1 for row in rows if is_aged(row)))
    changes = run.get("changes")
    counts = changes.get("counts") if isinstance(changes, dict) else None
    if isinstance(counts, dict):
        summary = replace(summary, changes={str(k): int(v) for k, v in counts.items()})
    if isinstance(run.get("exemptions"), dict):
        summary = replace(summary, exempt=sum(1 for row in rows if row.exempt))
    return summary


def _row(path: Path, index: int, record: Any) -> Row:
    try:
        if not isinstance(record, dict):
            raise TypeError("not an object")
        return from_record(record)
    except (KeyError, TypeError, ValueError) as exc:
        raise InputError(f"{path}: results[{index}] is not a report row ({exc})") from None
