"""The JSON report (auditor/report/json_render.py): valid, versioned, every row in order."""

from __future__ import annotations

import io
import json
import random
from array import array
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from auditor import __version__
from auditor.model import COLUMNS, Row, Status, Target
from auditor.report.json_render import render_json
from auditor.report.tables import ReportDocument, summarize
from auditor.store.journal import Journal, JournalRows
from auditor.store.report_file import SCHEMA_VERSION
from auditor.verdict.rows import invalid_row, to_record
from tests.factories import make_row

RUN: dict[str, Any] = {
    "started_at": "2024-05-06T07:08:00Z",
    "finished_at": "2024-05-06T07:09:00Z",
    "complete": True,
    "settings": {"rate": 10.0, "concurrency": 32, "formats": ["json"]},
    "inputs": [{"name": "fleet.txt", "format": "text", "entries": 3}],
}


ROWS = [
    make_row(0),
    make_row(1, Status.MISSING_KEYS, http_status=404, error_code="FSS.0404"),
    make_row(2, Status.ERROR, http_status=None, error_msg='timed out, "again"\nünïcode ✓'),
    invalid_row(Target("not a urn", None, "in.txt:4", 2, "not a function URN")),
]


def render(rows: list[Row], run: dict[str, Any] | None = None) -> dict[str, Any]:
    stream = io.BytesIO()
    render_json(ReportDocument(rows, summarize(rows), RUN if run is None else run), stream)
    data = stream.getvalue()
    data.decode("utf-8")  # strict UTF-8
    result: dict[str, Any] = json.loads(data)
    return result


def test_top_level_shape() -> None:
    report = render(ROWS)
    assert list(report) == ["schema_version", "tool", "run", "summary", "results"]
    assert report["schema_version"] == SCHEMA_VERSION == 1
    assert report["tool"] == {"name": "auditor", "version": __version__}
    assert report["run"] == RUN


def test_summary() -> None:
    report = render(ROWS)
    assert report["summary"] == summarize(ROWS).as_dict()
    assert report["summary"]["total"] == 4
    assert list(report["summary"]["by_status"]) == [
        "configured",
        "missing_keys",
        "error",
        "invalid_urn",
    ]
    assert report["summary"]["by_project"]["(invalid)"] == {"invalid_urn": 1}


def test_results_in_order_with_every_column() -> None:
    results = render(ROWS)["results"]
    assert len(results) == len(ROWS)
    for record, row in zip(results, ROWS, strict=True):
        assert list(record) == list(COLUMNS)
        assert record == to_record(row)
    assert [r["status"] for r in results] == ["configured", "missing_keys", "error", "invalid_urn"]
    assert results[2]["http_status"] is None
    assert results[2]["error_msg"] == 'timed out, "again"\nünïcode ✓'
    assert results[3]["attempts"] == 0
    assert results[3]["occurrences"] == 2


def test_no_rows_is_still_a_report() -> None:
    report = render([], run={})
    assert report["results"] == []
    assert report["run"] == {}
    assert report["summary"] == {"total": 0, "by_status": {}, "by_project": {}, "by_region": {}}


def test_many_rows() -> None:
    rows = [make_row(n) for n in range(2000)]
    results = render(rows)["results"]
    assert [r["function"] for r in results] == [f"fn-{n}" for n in range(2000)]


def test_run_facts_with_awkward_text_stay_valid() -> None:
    run = {"note": "ends with a brace }", "nested": {"list": [1, "}"]}, "empty": {}}
    assert render(ROWS[:1], run)["run"] == run


# --- the layout: an indented head, one compact row per line ------------------------------------


def render_bytes(rows: Iterable[Row], summary_rows: list[Row], run: dict[str, Any] = RUN) -> bytes:
    stream = io.BytesIO()
    render_json(ReportDocument(rows, summarize(summary_rows), run), stream)
    return stream.getvalue()


def row_lines(data: bytes) -> list[bytes]:
    """The lines between `"results": [` and its `]`."""
    lines = data.split(b"\n")
    start = lines.index(b'  "results": [')
    end = lines.index(b"  ]", start)
    return lines[start + 1 : end]


def test_each_row_is_compact_on_its_own_line() -> None:
    data = render_bytes(ROWS, ROWS)
    assert b'\n  "schema_version": 1,\n' in data  # the head is still indented
    assert data.endswith(b"\n  ]\n}\n")
    lines = row_lines(data)
    assert len(lines) == len(ROWS)
    for n, (line, row) in enumerate(zip(lines, ROWS, strict=True)):
        assert line.startswith(b'    {"urn":')
        text = line.strip()
        if n < len(ROWS) - 1:
            assert text.endswith(b",")
            text = text[:-1]
        assert text.isascii()  # non-ASCII text as \u escapes
        assert b'": ' not in text and b'", "' not in text
        assert json.loads(text) == to_record(row)
    assert b"\\u00fcn\\u00efcode \\u2713" in lines[2]


def test_a_row_on_every_line_across_write_batches() -> None:
    rows = [make_row(n, error_msg="函数" * (n % 3)) for n in range(1100)]
    data = render_bytes(rows, rows)
    lines = row_lines(data)
    assert [json.loads(line.strip().rstrip(b",")) for line in lines] == [
        to_record(row) for row in rows
    ]
    assert json.loads(data)["results"] == [to_record(row) for row in rows]


# --- rows read back from the journal -----------------------------------------------------------


def journal_rows(
    tmp_path: Path,
    rows: list[Row],
    seed: int,
    *,
    resumed: int = 0,
) -> JournalRows:
    """`rows` journaled in a shuffled order, the first `resumed` of that order by an earlier
    run of the journal."""
    path = tmp_path / "run.journal.jsonl"
    order = list(range(len(rows)))
    random.Random(seed).shuffle(order)
    offsets = array("q", [-1]) * len(rows)
    with Journal(path, {"name": "run"}) as journal:
        for index in order[:resumed]:
            offsets[index] = journal.record(index, rows[index])
    with Journal(path, {"name": "run"}, resume=True) as journal:
        for index in order[resumed:]:
            offsets[index] = journal.record(index, rows[index])
        raw_from = journal.opened_at
    return JournalRows(path, offsets, raw_from=raw_from)


AWKWARD = [
    *ROWS,
    make_row(4, Status.ERROR, error_msg="función 函数 \u2028 ]}\n", http_status=None),
    make_row(5, Status.MISSING_KEYS, runtime="Node.js18", memory_size=128),
    make_row(6, tracing_supported=True, source="fleet.csv:7"),
]


@pytest.mark.parametrize("resumed", [0, 3, len(AWKWARD)])
@pytest.mark.parametrize("seed", range(3))
def test_a_journal_backed_report_is_byte_identical(tmp_path: Path, seed: int, resumed: int) -> None:
    from_list = render_bytes(AWKWARD, AWKWARD)
    from_journal = render_bytes(journal_rows(tmp_path, AWKWARD, seed, resumed=resumed), AWKWARD)
    assert from_journal == from_list
    report = json.loads(from_journal)
    assert report["results"] == [to_record(row) for row in AWKWARD]
    assert report["results"][4]["error_msg"] == "función 函数 \u2028 ]}\n"
    assert len(row_lines(from_journal)) == len(AWKWARD)


def test_a_journal_backed_report_of_many_rows_is_byte_identical(tmp_path: Path) -> None:
    rows = [make_row(n, [Status.CONFIGURED, Status.ERROR][n % 2]) for n in range(1300)]
    rows_from_journal = journal_rows(tmp_path, rows, seed=7, resumed=600)
    assert render_bytes(rows_from_journal, rows) == render_bytes(rows, rows)


def marked(row: Row) -> Row:
    if row.status is Status.CONFIGURED:
        return replace(row, change="unchanged")
    return replace(row, change="regressed", exempt=True, exempt_reason="función (until 2099)")


def test_a_journal_backed_report_carries_the_marks_it_journaled(tmp_path: Path) -> None:
    expected = [marked(row) for row in AWKWARD]
    rows = journal_rows(tmp_path, expected, seed=1, resumed=2)
    data = render_bytes(rows, expected)
    assert data == render_bytes(expected, expected)
    results = json.loads(data)["results"]
    assert [r["change"] for r in results] == [row.change for row in expected]
    assert {r["exempt_reason"] for r in results if r["exempt"]} == {"función (until 2099)"}
