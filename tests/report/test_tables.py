"""Pure summaries of result rows (auditor/report/tables.py)."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator

import pytest

from auditor.model import Row, Status, Target
from auditor.report.tables import (
    STATUS_ORDER,
    ReportDocument,
    SummaryCounter,
    crosstab_frame,
    status_frame,
    summarize,
)
from auditor.verdict.rows import invalid_row, row_json
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
        "unexpected_keys",
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


# --- SummaryCounter ----------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(5))
def test_summary_counter_in_any_order_is_summarize(seed: int) -> None:
    rows = ROWS * 3
    random.Random(seed).shuffle(rows)
    counter = SummaryCounter()
    for row in rows:
        counter.add(row)
    summary = counter.summary()
    assert summary == summarize(ROWS * 3)
    # Key order too, which the reports show: statuses in enum order, places sorted.
    assert list(summary.by_status) == list(summarize(ROWS).by_status)
    assert list(summary.by_project) == sorted(summary.by_project)
    assert summary.total == 3 * len(ROWS)


def test_summary_counter_of_nothing_and_counting_on() -> None:
    counter = SummaryCounter()
    assert counter.summary() == summarize([])
    counter.add(ROWS[0])
    assert counter.summary() == summarize(ROWS[:1])
    counter.add(ROWS[1])
    assert counter.summary() == summarize(ROWS[:2])  # a summary does not end the counting


# --- ReportDocument.json_rows ------------------------------------------------------------------


def test_json_rows_of_a_list_are_each_rows_compact_ascii_json() -> None:
    rows = [*ROWS, make_row(9, Status.ERROR, error_msg="función 函数 \u2028", http_status=None)]
    document = ReportDocument(rows, summarize(rows))
    lines = list(document.json_rows())
    assert lines == [row_json(row).encode() for row in rows]
    assert list(document.json_rows()) == lines  # one pass per report: the rows stay
    for line in lines:
        assert line.isascii()
        assert b"\n" not in line
        assert b'", "' not in line and b'": ' not in line  # compact separators
    assert b"funci\\u00f3n \\u51fd\\u6570 \\u2028" in lines[-1]
    assert json.loads(lines[-1])["error_msg"] == "función 函数 \u2028"


class Encoded:
    """Rows that come with their JSON lines already made (as `JournalRows` does)."""

    def __init__(self, rows: list[Row]) -> None:
        self.rows = rows

    def __iter__(self) -> Iterator[Row]:
        return iter(self.rows)

    def json_lines(self) -> Iterator[bytes]:
        return (b'{"encoded":%d}' % n for n in range(len(self.rows)))


class Plain:
    """Rows that can be iterated many times, and nothing else."""

    def __init__(self, rows: list[Row]) -> None:
        self.rows = rows

    def __iter__(self) -> Iterator[Row]:
        return iter(self.rows)


def test_json_rows_come_from_the_rows_own_json_lines_when_they_offer_them() -> None:
    document = ReportDocument(Encoded(ROWS[:3]), summarize(ROWS[:3]))
    assert list(document.json_rows()) == [b'{"encoded":0}', b'{"encoded":1}', b'{"encoded":2}']
    assert list(document.rows) == ROWS[:3]


def test_rows_may_be_any_reiterable() -> None:
    document = ReportDocument(Plain(ROWS), summarize(ROWS))
    expected = [row_json(row).encode() for row in ROWS]
    assert list(document.json_rows()) == expected
    assert list(document.json_rows()) == expected
    assert list(document.rows) == ROWS
