"""The JSON report (auditor/report/json_render.py): valid, versioned, every row in order."""

from __future__ import annotations

import io
import json
from typing import Any

from auditor import __version__
from auditor.model import COLUMNS, Row, Status, Target
from auditor.report.json_render import SCHEMA_VERSION, render_json
from auditor.report.tables import ReportDocument, summarize
from auditor.rows import invalid_row, to_record
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
