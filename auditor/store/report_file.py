"""The one reader of auditor's JSON report, and its layout, for everything that reads a
report back: `--baseline`, `auditor diff`, `auditor report` and `auditor history import`.

`auditor.report.json_render` writes the head indented, then a `"results": [` line, then one
compact row per line: a million-row report is read a row at a time. A report in any other
layout (compact, re-indented by a tool) is read whole. Either way the head is checked once,
here: a journal given instead of a report, a file that is not an auditor report, another
`schema_version`, each is a one-line `InputError` naming the file.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TextIO, TypeVar

from auditor.errors import InputError, reading
from auditor.verdict.baseline import Baseline, baseline_from

SCHEMA_VERSION = 1  # the JSON report's version: written and read
RESULTS_LINE = '"results": ['  # in auditor's layout, the rows follow one per line
BASELINE_HINT = "give the <name>.json report of an earlier auditor run"
_MAX_HEAD_LINES = 100_000  # auditor's head is a few hundred lines; past this, not its layout

T = TypeVar("T")
Consumer = Callable[[dict[str, Any], Iterator[Any]], T]


def read_report(path: Path, where: str, hint: str, consume: Consumer[T]) -> T:
    """`consume(head, records)` over the report at `path`: its checked head and its result
    records one at a time. `where` starts every message (`--baseline FILE`), `hint` ends it."""
    if path.name.endswith(".jsonl"):
        raise InputError(journal_message(where, path))
    with reading(where, InputError, hint=hint), path.open("r", encoding="utf-8-sig") as stream:
        streamed = _stream(where, path, stream)
        if streamed is not None:
            head, records = streamed
            _check_head(where, path, hint, head)
            try:
                return consume(head, records)
            except _Layout:
                pass  # the head looked like auditor's, the rows did not
    with reading(where, InputError, hint=hint), path.open("r", encoding="utf-8-sig") as stream:
        report = _whole(where, hint, stream)
    if not isinstance(report, dict):
        raise InputError(f"{where}: not an auditor JSON report (not a JSON object); {hint}")
    if "journal" in report:
        raise InputError(journal_message(where, path))
    results = report.get("results")
    if not isinstance(results, list):
        raise InputError(f"{where}: not an auditor JSON report (no results list); {hint}")
    _check_head(where, path, hint, report)
    return consume(report, iter(results))


def load_baseline(path: Path, label: str = "--baseline") -> Baseline:
    """Read the JSON report of an earlier run as a baseline.

    Every problem is an `InputError` with one line naming the file (`<label> FILE: ...`):
    missing, a directory, not UTF-8, not JSON, a journal instead of a report, not an auditor
    report, another schema_version, a row without a URN or with an unknown status. A URN listed
    twice keeps its first row.
    """
    where = f"{label} {path}"

    def build(head: dict[str, Any], records: Iterator[Any]) -> Baseline:
        return baseline_from(str(path), head, records, where)

    return read_report(path, where, BASELINE_HINT, build)


def journal_message(where: str, path: Path) -> str:
    name = path.name.removesuffix(".jsonl").removesuffix(".journal")
    return (
        f"{where}: is a run journal, not a report; pass the JSON report ({name}.json), "
        f"or rebuild one with: auditor report {path} --format json"
    )


def _check_head(where: str, path: Path, hint: str, head: dict[str, Any]) -> None:
    if "journal" in head:
        raise InputError(journal_message(where, path))
    if "schema_version" not in head or not isinstance(head.get("run"), dict):
        raise InputError(f"{where}: not an auditor JSON report (no schema_version and run); {hint}")
    version = head.get("schema_version")
    if version != SCHEMA_VERSION:
        shown = repr(version) if isinstance(version, int | float) else "unknown"
        raise InputError(
            f"{where}: JSON report schema_version {shown} is not supported "
            f"(this auditor reads {SCHEMA_VERSION})"
        )


def _whole(where: str, hint: str, stream: TextIO) -> Any:
    try:
        return json.load(stream)
    except json.JSONDecodeError as exc:
        raise InputError(
            f"{where}: not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno}); {hint}"
        ) from None
    except RecursionError:
        raise InputError(f"{where}: not an auditor JSON report (nested too deeply)") from None


def _stream(where: str, path: Path, stream: TextIO) -> tuple[dict[str, Any], Iterator[Any]] | None:
    """The report's head and its rows one at a time, when it has auditor's own layout; None
    for any other layout, which is then read whole."""
    head_lines: list[str] = []
    for line in stream:
        if line.strip() == RESULTS_LINE:
            break
        head_lines.append(line)
        if len(head_lines) == 1:
            if _is_journal_header(line):
                raise InputError(journal_message(where, path))
            if not line.lstrip().startswith("{"):
                return None
        if len(head_lines) > _MAX_HEAD_LINES:
            return None
    else:
        return None
    try:
        head = json.loads("".join(head_lines) + '"results": []}')
    except (ValueError, RecursionError):
        return None
    if not isinstance(head, dict):
        return None
    return head, _rows(stream)


def _is_journal_header(line: str) -> bool:
    try:
        record = json.loads(line)
    except (ValueError, RecursionError):
        return False
    return isinstance(record, dict) and "journal" in record and "results" not in record


class _Layout(Exception):
    """The rows are not one per line after all: read the file whole instead."""


def _rows(stream: TextIO) -> Iterator[Any]:
    for line in stream:
        text = line.strip()
        if text == "]":
            return
        try:
            yield json.loads(text.removesuffix(","))
        except ValueError:
            raise _Layout from None
    raise _Layout
