"""Build result rows, and turn them into plain records and back (for JSON and the journal)."""

from __future__ import annotations

import json
import operator
from datetime import UTC, datetime
from typing import Any

from auditor.model import (
    COLUMNS,
    STATUS_OF,
    Outcome,
    Probe,
    Row,
    Status,
    Target,
    mask_ak,
    tracing_supported,
)

_WITH_AK = frozenset({Status.CONFIGURED, Status.UNEXPECTED_KEYS})  # the AK is shown masked


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
        account=target.account,
        package=urn.package,
        function=urn.name,
        qualifier=urn.qualifier,
        status=outcome.status,
        http_status=probe.http_status,
        error_code=outcome.error_code,
        error_msg=outcome.error_msg,
        tracing_ak=mask_ak(probe.tracing_ak) if outcome.status in _WITH_AK else "",
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
        account="",
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


# The journal's lines and the JSON report's rows are one encoding: compact and ASCII, so a
# report row is a journal line without its target index, and can be copied from it. ASCII
# escapes also keep U+2028 and friends out of the raw lines. Every row of a run is encoded
# once, so the object is laid out from a template with each value encoded by its type (half
# the cost of `json.JSONEncoder` on a 23-key dict); anything unexpected goes to the encoder.
_ENCODER = json.JSONEncoder(separators=(",", ":"), check_circular=False)
_ROW_TEMPLATE = "{" + ",".join(f"{_ENCODER.encode(name)}:%s" for name in COLUMNS) + "}"
_STATUS_JSON = {status: _ENCODER.encode(status.value) for status in Status}
_string_json: Any = json.encoder.encode_basestring_ascii


def _value_json(value: Any) -> str:
    kind = type(value)
    if kind is str:
        text: str = _string_json(value)
        return text
    if value is None:
        return "null"
    if kind is bool:
        return "true" if value else "false"
    if kind is int:
        return int.__repr__(value)
    if kind is Status:
        return _STATUS_JSON[value]
    return _ENCODER.encode(value)


def row_json(row: Row) -> str:
    """The row as one compact JSON object, keys in column order (`to_record`'s)."""
    return _ROW_TEMPLATE % tuple(map(_value_json, _VALUES(row)))


_NULLABLE = frozenset({"http_status", "memory_size", "tracing_supported", "days_failing"})


_INTEGERS = tuple(COLUMNS.index(name) for name in ("attempts", "elapsed_ms", "occurrences"))
_TEXTS = tuple(i for i, name in enumerate(COLUMNS) if name not in _NULLABLE)
_STATUS_AT = COLUMNS.index("status")
_EXEMPT_AT = COLUMNS.index("exempt")


def from_record(record: dict[str, Any]) -> Row:
    """Rebuild a row from `to_record`'s output (a journal line or a JSON report row).

    Every report is written from rows read back this way, a million at a time: positional
    values and index loops, not a dict of keyword arguments."""
    get = record.get
    values: list[Any] = [get(name) for name in COLUMNS]
    status = values[_STATUS_AT]
    values[_STATUS_AT] = STATUS_OF.get(status) or Status(status)  # ValueError if unknown
    for at in _INTEGERS:
        value = values[at]
        if type(value) is not int:
            values[at] = int(value or 0)
    values[_EXEMPT_AT] = bool(values[_EXEMPT_AT])
    for at in _TEXTS:
        if values[at] is None:
            values[at] = ""
    return Row(*values)
