"""Time each report format on synthetic rows, next to bare streaming XLSX writers.

The baselines write the same cells as the Results sheet and the per-status sheets of the
auditor's workbook, with no styles, summary or chart: the least a streaming writer can do.
"""

from __future__ import annotations

import functools
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from auditor.model import COLUMNS, Row, Status
from auditor.report.tables import ReportDocument, summarize
from auditor.report.writers import write_reports

_MIX = (
    [Status.CONFIGURED] * 76
    + [Status.MISSING_KEYS] * 16
    + [Status.FUNCTION_NOT_FOUND] * 5
    + [Status.ERROR] * 3
)
_PROJECTS = ("b7d33cdfe61772ca181d71a4bbf280fb", "d2b84f3bde6fbdb330a8937bf2cff653")
_REGIONS = ("cn-north-4", "ap-southeast-1")


def synthetic_rows(count: int) -> list[Row]:
    """`count` plausible rows with the emulator's status mix."""
    rows = []
    for i in range(count):
        status = _MIX[(i * 37) % len(_MIX)]
        project, region = _PROJECTS[i % 2], _REGIONS[(i // 2) % 2]
        name = f"fn-{i:07d}"
        found = status is not Status.FUNCTION_NOT_FOUND
        rows.append(
            Row(
                urn=f"urn:fss:{region}:{project}:function:default:{name}",
                region=region,
                project_id=project,
                account="",
                package="default",
                function=name,
                qualifier="",
                status=status,
                http_status=200 if status is Status.CONFIGURED else (500 if found else 404),
                error_code="" if status is Status.CONFIGURED else "FSS.0404",
                error_msg="" if status is Status.CONFIGURED else "can not find tracing aksk",
                tracing_ak="ABCD****WXYZ" if status is Status.CONFIGURED else "",
                request_id=f"{i:032x}",
                attempts=1,
                elapsed_ms=12,
                checked_at="2024-01-01T00:00:00Z",
                source=f"urns.txt:{i + 1}",
                occurrences=1,
            )
        )
    return rows


def document_for(rows: list[Row]) -> ReportDocument:
    """A report document like `run_audit` builds."""
    run: dict[str, Any] = {
        "started_at": "2024-01-01T00:00:00Z",
        "finished_at": "2024-01-01T00:10:00Z",
        "duration_s": 600.0,
        "complete": True,
        "settings": {"rate": 0, "concurrency": 64, "credentials": "token"},
        "inputs": [{"name": "urns.txt", "format": "txt", "entries": len(rows)}],
        "duplicates_merged": 0,
        "requests": len(rows),
        "preflight": None,
        "credential_breakers": [],
        "skipped_for_credentials": 0,
        "throttling": {"responses_429": {}, "pauses": {}, "effective_rate": {}},
        "resumed": None,
        "journal": "bench.journal.jsonl",
        "not_audited": [],
    }
    return ReportDocument(rows, summarize(rows), run)


def _timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def xlsxwriter_bare(rows: list[Row], path: Path) -> None:
    """xlsxwriter in constant-memory mode, the same cells, nothing else."""
    import xlsxwriter

    book = xlsxwriter.Workbook(str(path), {"constant_memory": True})
    results = book.add_worksheet("Results")
    by_status: dict[Status, Any] = {
        s: book.add_worksheet(s.value) for s in Status if s is not Status.CONFIGURED
    }
    lines: dict[Status, int] = dict.fromkeys(by_status, 0)
    results.write_row(0, 0, COLUMNS)
    for sheet in by_status.values():
        sheet.write_row(0, 0, COLUMNS)
    for n, row in enumerate(rows, start=1):
        cells = [getattr(row, name) for name in COLUMNS]
        results.write_row(n, 0, cells)
        sheet = by_status.get(row.status)
        if sheet is not None:
            lines[row.status] += 1
            sheet.write_row(lines[row.status], 0, cells)
    book.close()


def openpyxl_write_only(rows: list[Row], path: Path) -> None:
    """openpyxl's streaming (write-only) mode, the same cells, nothing else."""
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    results = book.create_sheet("Results")
    by_status: dict[Status, Any] = {
        s: book.create_sheet(s.value) for s in Status if s is not Status.CONFIGURED
    }
    results.append(COLUMNS)
    for sheet in by_status.values():
        sheet.append(COLUMNS)
    for row in rows:
        cells = [getattr(row, name) for name in COLUMNS]
        results.append(cells)
        sheet = by_status.get(row.status)
        if sheet is not None:
            sheet.append(cells)
    book.save(path)


def time_reports(count: int, *, baselines: tuple[str, ...]) -> dict[str, float]:
    """Seconds to write each format (through `write_reports`: temp file, fsync, rename) for
    `count` rows, and seconds for each named baseline XLSX writer."""
    rows = synthetic_rows(count)
    document = document_for(rows)
    times: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="auditor-bench-") as folder:
        out = Path(folder)
        for fmt in ("json", "csv", "xlsx"):
            times[fmt] = _timed(functools.partial(write_reports, document, out, "bench", [fmt]))
            times[f"{fmt}_mib"] = os.path.getsize(out / f"bench.{fmt}") / 2**20
        writers = {"xlsxwriter": xlsxwriter_bare, "openpyxl": openpyxl_write_only}
        for name in baselines:
            target = out / f"{name}.xlsx"
            times[f"baseline_{name}"] = _timed(functools.partial(writers[name], rows, target))
    return times
