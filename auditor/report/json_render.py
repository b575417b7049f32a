"""Render the JSON report, streaming one row at a time (no giant string in memory)."""

from __future__ import annotations

import json
from typing import BinaryIO

from auditor import __version__
from auditor.report.tables import ReportDocument
from auditor.rows import to_record

SCHEMA_VERSION = 1


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
    separator = b"\n    "
    for row in document.rows:
        stream.write(separator + json.dumps(to_record(row), ensure_ascii=False).encode())
        separator = b",\n    "
    stream.write(b"\n  ]\n}\n")
