"""Tests for auditor/rows.py and auditor/model.py: masking, result rows, records."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime, timedelta, timezone

import pytest

from auditor.model import COLUMNS, Outcome, Probe, Row, Status, Target, mask_ak, utc_now
from auditor.source.urn import parse_urn
from auditor.verdict.rows import (
    format_time,
    from_record,
    invalid_row,
    result_row,
    to_record,
)

P = "0123456789abcdef0123456789abcdef"
URN = f"urn:fss:cn-north-4:{P}:function:default:orders:!prod"
AK = "HPUAEXAMPLE1234WXYZ"
WHEN = datetime(2024, 5, 6, 7, 8, 9, 987654, tzinfo=UTC)
DESIGN_COLUMNS = [  # DESIGN.md: the original sixteen, `account` right after `project_id`
    "urn",
    "region",
    "project_id",
    "account",
    "package",
    "function",
    "qualifier",
    "status",
    "http_status",
    "error_code",
    "error_msg",
    "tracing_ak",
    "request_id",
    "attempts",
    "elapsed_ms",
    "checked_at",
    "source",
]


def target(urn: str = URN, source: str = "in.txt:3", occurrences: int = 2) -> Target:
    return Target(urn, parse_urn(urn), source, occurrences)


def audited(status: Status, ak: str | None = AK, http_status: int | None = 200) -> Row:
    probe = Probe(http_status, tracing_ak=ak, request_id="req-1", elapsed_ms=1.0)
    return result_row(
        target(), probe, Outcome(status, "C.1", "m"), attempts=3, elapsed_ms=1234.6, checked_at=WHEN
    )


# --- mask_ak ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ak", "masked"),
    [
        (None, ""),
        ("", ""),
        ("A", "A****"),
        ("ABCDEFGHIJKL", "AB****"),
        ("ABCDEFGHIJKLMNOPQRST", "ABCD****QRST"),
        ("HPUAEXAMPLE1234WXYZ", "HPUA****WXYZ"),
    ],
)
def test_mask_ak(ak: str | None, masked: str) -> None:
    assert mask_ak(ak) == masked


def _key(length: int) -> str:
    return "".join(chr(ord("A") + i % 26) for i in range(length))


@pytest.mark.parametrize("length", range(1, 41))
def test_mask_ak_never_reveals_the_middle(length: int) -> None:
    ak = _key(length)
    masked = mask_ak(ak)
    assert "****" in masked
    assert len(masked) - 4 <= 8
    assert masked.startswith(ak[:2])
    if length > 8:
        assert ak[4:-4] not in masked


@pytest.mark.parametrize("length", range(1, 41))
def test_mask_ak_shows_less_than_half_of_a_key(length: int) -> None:
    shown = len(mask_ak(_key(length))) - 4
    assert shown < length / 2 or shown <= 2


# --- result_row -------------------------------------------------------------------------------


def test_result_row_for_a_configured_function() -> None:
    row = audited(Status.CONFIGURED)
    assert row == Row(
        urn=URN,
        region="cn-north-4",
        project_id=P,
        account="",
        package="default",
        function="orders",
        qualifier="!prod",
        status=Status.CONFIGURED,
        http_status=200,
        error_code="C.1",
        error_msg="m",
        tracing_ak="HPUA****WXYZ",
        request_id="req-1",
        attempts=3,
        elapsed_ms=1235,
        checked_at="2024-05-06T07:08:09Z",
        source="in.txt:3",
        occurrences=2,
    )
    assert AK not in repr(row)


@pytest.mark.parametrize(
    "status", [s for s in Status if s not in (Status.CONFIGURED, Status.UNEXPECTED_KEYS)]
)
def test_result_row_keeps_no_ak_unless_configured(status: Status) -> None:
    row = audited(status)
    assert row.tracing_ak == ""
    assert row.status is status


def test_an_unexpected_ak_is_shown_masked_like_a_configured_one() -> None:
    row = audited(Status.UNEXPECTED_KEYS)
    assert row.tracing_ak == mask_ak(AK)
    assert AK not in repr(row)


def test_result_row_of_an_unparsed_target_is_refused() -> None:
    with pytest.raises(AssertionError):
        result_row(
            Target("bad", None, "x:1", 1, "nope"),
            Probe(200),
            Outcome(Status.CONFIGURED),
            attempts=1,
            elapsed_ms=0,
            checked_at=WHEN,
        )


def test_invalid_row() -> None:
    row = invalid_row(Target("garbage", None, "list.csv:7", 3, "not a function URN: ..."))
    assert row.status is Status.INVALID_URN
    assert row.urn == "garbage"
    assert row.error_msg == "not a function URN: ..."
    assert (row.source, row.occurrences) == ("list.csv:7", 3)
    assert (row.http_status, row.attempts, row.elapsed_ms) == (None, 0, 0)
    assert row.region == row.project_id == row.package == row.function == row.qualifier == ""
    assert row.tracing_ak == row.request_id == row.checked_at == row.error_code == ""


# --- time -------------------------------------------------------------------------------------


def test_format_time_is_utc_to_the_second() -> None:
    assert format_time(WHEN) == "2024-05-06T07:08:09Z"


def test_utc_now_is_aware_utc() -> None:
    now = utc_now()
    assert now.utcoffset() == timedelta(0)
    assert abs((datetime.now(UTC) - now).total_seconds()) < 5


def test_format_time_converts_an_aware_time_to_utc() -> None:
    beijing = datetime(2024, 5, 6, 15, 8, 9, tzinfo=timezone(timedelta(hours=8)))
    assert format_time(beijing) == "2024-05-06T07:08:09Z"


# --- records ----------------------------------------------------------------------------------


def test_columns_follow_design_order() -> None:
    assert list(COLUMNS[: len(DESIGN_COLUMNS)]) == DESIGN_COLUMNS
    assert tuple(f.name for f in dataclasses.fields(Row)) == COLUMNS


def test_to_record_is_json_ready_in_column_order() -> None:
    record = to_record(audited(Status.CONFIGURED))
    assert tuple(record) == COLUMNS
    assert type(record["status"]) is str
    assert record["status"] == "configured"
    assert json.loads(json.dumps(record)) == record


@pytest.mark.parametrize(
    "row",
    [
        audited(Status.CONFIGURED),
        audited(Status.ERROR, http_status=None),
        audited(Status.THROTTLED, http_status=429),
        invalid_row(Target("garbage", None, "x:1", 1, "why")),
    ],
    ids=lambda row: row.status.value,
)
def test_records_round_trip_through_json(row: Row) -> None:
    again = from_record(json.loads(json.dumps(to_record(row))))
    assert again == row
    assert again.status is row.status


def test_from_record_fills_missing_and_null_fields() -> None:
    row = from_record({"urn": "u", "status": "error", "attempts": None, "error_msg": None})
    assert row.status is Status.ERROR
    assert (row.attempts, row.elapsed_ms, row.occurrences) == (0, 0, 0)
    assert row.http_status is None
    assert row.error_msg == row.source == row.tracing_ak == ""


def test_from_record_rejects_an_unknown_status() -> None:
    with pytest.raises(ValueError):
        from_record({"urn": "u", "status": "fine"})
