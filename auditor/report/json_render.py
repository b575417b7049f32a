"""Render the JSON report, streaming one row at a time (no giant string in memory)."""

from __future__ import annotations

import json
from typing import BinaryIO

from auditor import __version__
from auditor.report.tables import ReportDocument
from auditor.store.report_file import RESULTS_LINE, SCHEMA_VERSION

_BATCH_ROWS = 512  # rows joined into one write


def render_json(document: ReportDocument, stream: BinaryIO) -> None:
    """Write `{"schema_version", "tool", "run", "summary", "results": [...]}` to `stream`:
    the head indented, then one compact row per line (`auditor.store.report_file` reads a report
    back a row at a time thanks to that layout)."""
    head = {
        "schema_version": SCHEMA_VERSION,
        "tool": {"name": "auditor", "version": __version__},
        "run": document.run,
        "summary": document.summary.as_dict(),
    }
    text = json.dumps(head, ensure_ascii=False, indent=2)
    stream.write(text[: text.rindex("}")].rstrip().encode() + f",\n  {RESULTS_LINE}".encode())
    separator = b"\n    "
    batch: list[bytes] = []
    for line in document.json_rows():
        batch.append(line)
        if len(batch) >= _BATCH_ROWS:
            stream.write(separator + b",\n    ".join(batch))
            batch.clear()
            separator = b",\n    "
    if batch:
        stream.write(separator + b",\n    ".join(batch))
    stream.write(b"\n  ]\n}\n")
