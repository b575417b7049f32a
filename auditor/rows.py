"""Build result rows, and turn them into plain records and back (for JSON and the journal)."""

from __future__ import annotations

import json
import operator
from datetime import UTC, datetime
from typing import Any

from auditor.model import (
    COLUMNS,
    Outcome,
    Probe,
    Row,
    Status,
    Target,
    mask_ak,
    tracing_supported,
)


def result_row(
    target: Target,
    probe: Probe,
    outcome: Outcome,
    *,
    attempts: int,
    elapsed_ms: float,
    checked_at: datetime,
) -> Row:
    """The row for an audited target. Only the masked AK survives; the SK was never here."""
    urn = target.parsed
    assert urn is not None, "only valid targets are audited"
    return Row(
        urn=target.urn,
        region=urn.region,
        project_id=urn.project_id,
        package=urn.package,
        function=urn.name,
        qualifier=urn.qualifier,
        status=outcome.status,
        http_status=probe.http_status,
        error_code=outcome.error_code,
        error_msg=outcome.error_msg,
        tracing_ak=mask_ak(probe.tracing_ak) if outcome.status is Status.CONFIGURED else "",
        request_id=probe.request_id,
        attempts=attempts,
        elapsed_ms=round(elapsed_ms),
        checked_at=format_time(checked_at),
        source=target.source,
        occurrences=target.occurrences,
        runtime=target.runtime,
        memory_size=target.memory_size,
        tracing_supported=tracing_supported(target.runtime, target.memory_size),
    )


def invalid_row(target: Target) -> Row:
    """The row for an entry that is not a URN: never sent, status `invalid_urn`."""
    return Row(
        urn=target.urn,
        region="",
        project_id="",
        package="",
        function="",
        qualifier="",
        status=Status.INVALID_URN,
        http_status=None,
        error_code="",
        error_msg=target.invalid_reason,
        tracing_ak="",
        request_id="",
        attempts=0,
        elapsed_ms=0,
        checked_at="",
        source=target.source,
        occurrences=target.occurrences,
    )


def utc_now() -> datetime:
    """The current time in UTC: the default clock of a run."""
    return datetime.now(UTC)


def format_time(moment: datetime) -> str:
    """UTC ISO-8601 with a `Z`, to the second: the format of every time in the reports."""
    if moment.tzinfo is not None and moment.tzinfo is not UTC:
        moment = moment.astimezone(UTC)
    global _last_formatted
    second = moment.replace(microsecond=0)
    # Every row of a run asks this; thousands a second share one answer, so strftime runs
    # once a second rather than once a row.
    cached, text = _last_formatted
    if second != cached:
        text = second.strftime("%Y-%m-%dT%H:%M:%SZ")
        _last_formatted = second, text
    return text


_last_formatted: tuple[datetime | None, str] = (None, "")  # the second last formatted, its text


# Every row is turned into a record twice (journal line, JSON report): one C-level attrgetter
# call and `dict(zip())` cost a third of a comprehension of 23 `getattr`s.
_VALUES = operator.attrgetter(*COLUMNS)


def to_record(row: Row) -> dict[str, Any]:
    """A JSON-ready dict of the row, keys in column order."""
    record = dict(zip(COLUMNS, _VALUES(row), strict=True))
    record["status"] = row.status.value
    return record


# One encoder for the journal's lines and the JSON report's rows: compact and ASCII, so a
# report row is a journal line without its target index, and can be copied from it. ASCII
# escapes also keep U+2028 and friends out of the raw lines. (`json.dumps` with options would
# build a new encoder per call.)
_ROW_ENCODER = json.JSONEncoder(separators=(",", ":"), check_circular=False)


def row_json(row: Row) -> str:
    """The row as one compact JSON object."""
    return _ROW_ENCODER.encode(to_record(row))


_NULLABLE = frozenset({"http_status", "memory_size", "tracing_supported"})


def from_record(record: dict[str, Any]) -> Row:
    """Rebuild a row from `to_record`'s output (a journal line or a JSON report row)."""
    values: dict[str, Any] = {name: record.get(name) for name in COLUMNS}
    values["status"] = Status(values["status"])
    for name in ("attempts", "elapsed_ms", "occurrences"):
        values[name] = int(values[name] or 0)
    values["exempt"] = bool(values["exempt"])
    for name in COLUMNS:
        if values[name] is None and name not in _NULLABLE:
            values[name] = ""
    return Row(**values)
