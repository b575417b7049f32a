"""Small real objects for tests: report rows built the way the runner builds them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from auditor.journal import JournalReader
from auditor.model import Row, Status

PROJECT = "0123456789abcdef0123456789abcdef"
MASKED_AK = "AKID****WXYZ"


def make_row(
    n: int = 0,
    status: Status = Status.CONFIGURED,
    project: str = PROJECT,
    region: str = "cn-north-4",
    **changes: Any,
) -> Row:
    """Row `n` of an audit (function `fn-<n>`, input line n + 1); `changes` override columns.

    A `configured` row carries a masked AK, as the runner writes it; other statuses none.
    """
    values: dict[str, Any] = {
        "urn": f"urn:fss:{region}:{project}:function:default:fn-{n}",
        "region": region,
        "project_id": project,
        "package": "default",
        "function": f"fn-{n}",
        "qualifier": "",
        "status": status,
        "http_status": 200,
        "error_code": "",
        "error_msg": "",
        "tracing_ak": MASKED_AK if status is Status.CONFIGURED else "",
        "request_id": f"req-{n}",
        "attempts": 1,
        "elapsed_ms": 12,
        "checked_at": "2024-05-06T07:08:09Z",
        "source": f"in.txt:{n + 1}",
        "occurrences": 1,
    }
    values.update(changes)
    return Row(**values)


@dataclass
class Contents:
    """A journal read whole through `JournalReader`: header, rows by index, lines skipped."""

    header: dict[str, Any]
    rows: dict[int, Row]
    skipped_lines: int


def read_journal(path: Path) -> Contents:
    reader = JournalReader(path)
    rows = {index: row for index, _, row in reader.records()}
    return Contents(reader.header, rows, reader.skipped_lines)
