"""Pure summaries of result rows (auditor/report/tables.py)."""

from __future__ import annotations

import pytest

from auditor.model import Row, Status, Target
from auditor.report.tables import (
    STATUS_ORDER,
    ReportDocument,
    crosstab_frame,
    status_frame,
    summarize,
)
from auditor.rows import invalid_row
from tests.factories import make_row

P1 = "11111111111111111111111111111111"
P2 = "22222222222222222222222222222222"


def bad(text: str) -> Row:
    return invalid_row(Target(text, None, "in.txt:9", invalid_reason="not a URN"))


ROWS = [
    make_row(0, Status.ERROR, P2, "ap-southeast-1"),
    make_row(0, Status.CONFIGURED, P1),
    bad("garbage"),
    make_row(0, Status.MISSING_KEYS, P1),
    make_row(0, Status.CONFIGURED, P2, "ap-southeast-1"),
    make_row(0, Status.CONFIGURED, P1),
    bad("more garbage"),
    make_row(0, Status.THROTTLED, P1, "ap-southeast-1"),
]


def test_status_order_is_the_enum_order() -> None:
    assert tuple(Status) == STATUS_ORDER
    assert [s.value for s in STATUS_ORDER] == [
        "configured",
        "missing_keys",
        "function_not_found",
        "auth_failed",
        "throttled",
        "error",
        "invalid_urn",
    ]


def test_summarize_counts_by_status_in_enum_order() -> None:
    summary = summarize(ROWS)
    assert summary.total == len(ROWS)
    assert list(summary.by_status.items()) == [
        ("configured", 3),
        ("missing_keys", 1),
        ("throttled", 1),
        ("error", 1),
        ("invalid_urn", 2),
    ]
    assert all(type(key) is str for key in summary.by_status)


def test_summarize_by_project_and_region_with_invalid_rows_apart() -> None:
    summary = summarize(ROWS)
    assert summary.by_project == {
        "(invalid)": {"invalid_urn": 2},
        P1: {"configured": 2, "missing_keys": 1, "throttled": 1},
        P2: {"configured": 1, "error": 1},
    }
    assert summary.by_region == {
        "(invalid)": {"invalid_urn": 2},
        "ap-southeast-1": {"configured": 1, "throttled": 1, "error": 1},
        "cn-north-4": {"configured": 2, "missing_keys": 1},
    }
    for nested in (summary.by_project, summary.by_region):
        assert list(nested) == sorted(nested)
        for counts in nested.values():
            order = [s.value for s in STATUS_ORDER]
            assert list(counts) == sorted(counts, key=order.index)


def test_summary_totals_add_up() -> None:
    summary = summarize(ROWS)
    assert sum(summary.by_status.values()) == summary.total
    for nested in (summary.by_project, summary.by_region):
        assert sum(sum(c.values()) for c in nested.values()) == summary.total


def test_summarize_takes_any_iterable_and_nothing() -> None:
    assert summarize(iter(ROWS)) == summarize(ROWS)
    empty = summarize([])
    assert (empty.total, empty.by_status, empty.by_project, empty.by_region) == (0, {}, {}, {})


def test_as_dict() -> None:
    summary = summarize(ROWS)
    assert summary.as_dict() == {
        "total": summary.total,
        "by_status": summary.by_status,
        "by_project": summary.by_project,
        "by_region": summary.by_region,
    }
    assert list(summary.as_dict()) == ["total", "by_status", "by_project", "by_region"]


def test_status_frame() -> None:
    frame = status_frame(summarize(ROWS))
    assert list(frame.columns) == ["status", "count", "share"]
    assert list(frame["status"]) == [
        "configured",
        "missing_keys",
        "throttled",
        "error",
        "invalid_urn",
    ]
    assert list(frame["count"]) == [3, 1, 1, 1, 2]
    assert list(frame["share"]) == pytest.approx([3 / 8, 1 / 8, 1 / 8, 1 / 8, 2 / 8])
    assert status_frame(summarize([])).empty


def test_crosstab_frame_columns_and_totals() -> None:
    summary = summarize(ROWS)
    frame = crosstab_frame(summary.by_region, "region")
    assert list(frame.columns) == [
        "region",
        "configured",
        "missing_keys",
        "throttled",
        "error",
        "invalid_urn",
        "total",
    ]
    assert list(frame["region"]) == ["(invalid)", "ap-southeast-1", "cn-north-4"]
    by_region = frame.set_index("region")
    assert by_region.loc["cn-north-4"].to_dict() == {
        "configured": 2,
        "missing_keys": 1,
        "throttled": 0,
        "error": 0,
        "invalid_urn": 0,
        "total": 3,
    }
    assert list(frame["total"]) == [2, 3, 3]
    status_columns = frame.columns[1:-1]
    assert (frame[status_columns].sum(axis=1) == frame["total"]).all()


def test_crosstab_frame_of_nothing_has_its_columns() -> None:
    frame = crosstab_frame({}, "project_id")
    assert frame.empty
    assert list(frame.columns) == ["project_id", "total"]


def test_report_document_defaults() -> None:
    document = ReportDocument(ROWS, summarize(ROWS))
    assert document.run == {}
    assert document.rows is ROWS
