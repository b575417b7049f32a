"""Render the JSON report, streaming one row at a time (no giant string in memory)."""

from __future__ import annotations

import json
from typing import BinaryIO

from auditor import __version__
from auditor.report.tables import ReportDocument
from auditor.rows import to_record

SCHEMA_VERSION = 1
# One encoder for every row: `json.dumps` with options builds a new encoder per call. Its
# output is `json.dumps(record, ensure_ascii=False)`'s; rows are flat, so no circular check.
_ROW_ENCODER = json.JSONEncoder(ensure_ascii=False, check_circular=False)
_BATCH_ROWS = 512  # rows joined into one write


def render_json(document: ReportDocument, stream: BinaryIO) -> None:
    """Write `{"schema_version", "tool", "run", "summary", "results": [...]}` to `stream`."""
    head = {
        "schema_version": SCHEMA_VERSION,
        "tool": {"name": "auditor", "version": __version__},
        "run": document.run,
        "summary": document.summary.as_dict(),
    }
    text = json.dumps(head, ensure_ascii=False, indent=2)
    stream.write(text[: text.rindex("}")].rstrip().encode() + b',\n  "results": [')
    encode = _ROW_ENCODER.encode
    separator = "\n    "
    batch: list[str] = []
    for row in document.rows:
        batch.append(encode(to_record(row)))
        if len(batch) >= _BATCH_ROWS:
            stream.write((separator + ",\n    ".join(batch)).encode())
            batch.clear()
            separator = ",\n    "
    if batch:
        stream.write((separator + ",\n    ".join(batch)).encode())
    stream.write(b"\n  ]\n}\n")
