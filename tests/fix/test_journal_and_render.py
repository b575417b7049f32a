"""The fix journal (append, torn lines, resume) and the fix report's renderers."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from pathlib import Path

import pytest

from auditor.errors import InputError, UsageError
from auditor.fix.apply import FixOutcome, FixResult
from auditor.fix.journal import (
    FixJournal,
    check_resumable,
    plan_fingerprint,
    read_fix_journal,
)
from auditor.fix.plan import plan_fixes
from auditor.fix.render import (
    RESULT_COLUMNS,
    render_fix_csv,
    render_fix_json,
    render_fix_xlsx,
    render_plan_csv,
)
from auditor.model import Status
from tests.factories import make_row

P = "0123456789abcdef0123456789abcdef"


def result(name: str, outcome: FixOutcome = FixOutcome.FIXED, msg: str = "") -> FixResult:
    return FixResult(
        urn=f"urn:fss:cn-north-4:{P}:function:default:{name}",
        region="cn-north-4",
        project_id=P,
        package="default",
        function=name,
        status="missing_keys",
        outcome=outcome,
        http_status=200,
        error_code="",
        error_msg=msg,
        tracing_ak="APMA****0001" if outcome is FixOutcome.FIXED else "",
        request_id="r",
        attempts=2,
        checked_at="2026-12-06T05:00:00Z",
    )


def test_the_journal_reads_back_what_was_written_and_skips_a_torn_line(tmp_path: Path) -> None:
    path = tmp_path / "x.fix.journal.jsonl"
    with FixJournal(path, {"name": "x", "fingerprint": "f", "planned": 3}) as journal:
        journal.record(result("a"))
        journal.record(result("b", FixOutcome.FAILED, "UpdateTracing: HTTP 500"))
    with path.open("ab") as stream:
        stream.write(b'{"urn": "torn')  # a crash mid-line
    contents = read_fix_journal(path)
    assert contents.header["fingerprint"] == "f"
    assert [r.function for r in contents.results] == ["a", "b"]
    assert contents.results[1].outcome is FixOutcome.FAILED
    with FixJournal(path, {}, resume=True) as journal:  # the torn line is cut off
        journal.record(result("c"))
    assert [r.function for r in read_fix_journal(path).results] == ["a", "b", "c"]


def test_a_journal_for_another_plan_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "x.fix.journal.jsonl"
    FixJournal(path, {"fingerprint": "one plan", "planned": 2}).close()
    with pytest.raises(UsageError, match="another plan"):
        check_resumable(read_fix_journal(path), path, "another")


def test_a_file_that_is_not_a_fix_journal_is_an_input_error(tmp_path: Path) -> None:
    path = tmp_path / "audit.journal.jsonl"
    path.write_text('{"journal": 1}\n')
    with pytest.raises(InputError, match="not a fix journal"):
        read_fix_journal(path)


def test_plan_fingerprint_follows_the_planned_urns() -> None:
    rows = [
        make_row(urn=f"urn:fss:cn-north-4:{P}:function:default:{n}", status=Status.MISSING_KEYS)
        for n in "ab"
    ]
    one, two = plan_fixes(rows), plan_fixes(rows[:1])
    assert plan_fingerprint(one.items) == plan_fingerprint(plan_fixes(rows).items)
    assert plan_fingerprint(one.items) != plan_fingerprint(two.items)


def test_the_plan_csv_lists_each_planned_function() -> None:
    rows = [make_row(urn=f"urn:fss:cn-north-4:{P}:function:default:a", status=Status.MISSING_KEYS)]
    stream = io.BytesIO()
    render_plan_csv(plan_fixes(rows), stream)
    lines = list(csv.reader(io.StringIO(stream.getvalue().decode())))
    assert lines == [
        ["urn", "region", "project_id", "package", "function", "status"],
        [rows[0].urn, "cn-north-4", P, "default", "a", "missing_keys"],
    ]


RESULTS = [result("a"), result("b", FixOutcome.NOT_FOUND, "UpdateTracing: =cmd")]
RUN = {"source": "r.json", "complete": True, "planned": 2, "apm_ak": "APMA****0001"}


def test_json_report_counts_outcomes_per_project() -> None:
    stream = io.BytesIO()
    render_fix_json(RESULTS, RUN, stream)
    document = json.loads(stream.getvalue())
    assert document["kind"] == "fix"
    assert document["summary"] == {
        "total": 2,
        "by_outcome": {"fixed": 1, "not_found": 1},
        "by_project": {P: {"fixed": 1, "not_found": 1}},
    }
    assert list(document["results"][0]) == list(RESULT_COLUMNS)
    assert document["results"][1]["outcome"] == "not_found"


def test_csv_report_escapes_formula_cells() -> None:
    stream = io.BytesIO()
    render_fix_csv(RESULTS, RUN, stream)
    lines = list(csv.reader(io.StringIO(stream.getvalue().decode())))
    assert lines[0] == list(RESULT_COLUMNS)
    assert lines[2][RESULT_COLUMNS.index("error_msg")] == "UpdateTracing: =cmd"  # not leading
    assert len(lines) == 3


def test_xlsx_report_has_a_summary_and_a_results_sheet() -> None:
    stream = io.BytesIO()
    render_fix_xlsx(RESULTS, RUN, stream)
    with zipfile.ZipFile(io.BytesIO(stream.getvalue())) as book:
        workbook = book.read("xl/workbook.xml").decode()
        assert 'name="Summary"' in workbook and 'name="Results"' in workbook
        strings = book.read("xl/sharedStrings.xml").decode()
    assert "fixed" in strings and "not_found" in strings
