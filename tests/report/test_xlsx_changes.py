"""The XLSX Changes and Exemptions sheets (auditor/report/xlsx_changes.py), and how the Summary
shows a comparison and an exemption report, read back with openpyxl."""

from __future__ import annotations

import io
from datetime import date
from typing import Any

import openpyxl
from openpyxl.worksheet.worksheet import Worksheet

from auditor.model import Row, Status
from auditor.report.tables import ReportDocument, summarize
from auditor.report.xlsx_changes import CHANGE_COLUMNS, EXEMPTION_COLUMNS
from auditor.report.xlsx_render import render_xlsx
from auditor.report.xlsx_styles import BAD, CHANGE_COLOURS, STATUS_COLOURS
from auditor.verdict.baseline import Baseline, Comparison, compare
from auditor.verdict.exemptions import Exemption, ExemptionReport, Exemptions, apply_exemptions
from tests.factories import PROJECT, make_row

C, M, NF, E = Status.CONFIGURED, Status.MISSING_KEYS, Status.FUNCTION_NOT_FOUND, Status.ERROR
P2 = "22222222222222222222222222222222"


def urn(n: int) -> str:
    return make_row(n).urn


# This run: 0 unchanged, 1 new, 2 regressed, 3 fixed, 4 gone (not found), 5 regressed;
# the baseline also had 7 and 8, not audited now.
ROWS = [make_row(0, C), make_row(1, M), make_row(2, E), make_row(3, C), make_row(4, NF)]
ROWS.append(make_row(5, M, P2, region="ap-southeast-1"))
BASELINE = Baseline(
    "reports/last-week.json",
    "2026-11-16T03:00:00Z",
    {
        urn(0): C,
        urn(2): C,
        urn(3): M,
        urn(4): M,
        ROWS[5].urn: C,
        urn(7): E,
        urn(8): C,
    },
    {urn(7): ("cn-north-4", PROJECT), urn(8): ("cn-north-4", PROJECT)},
)


def render(
    rows: list[Row],
    comparison: Comparison | None = None,
    exemptions: ExemptionReport | None = None,
    run: dict[str, Any] | None = None,
    **options: Any,
) -> openpyxl.Workbook:
    document = ReportDocument(
        rows, summarize(rows), run or {"complete": True}, comparison, exemptions
    )
    stream = io.BytesIO()
    render_xlsx(document, stream, **options)
    return openpyxl.load_workbook(io.BytesIO(stream.getvalue()))


def compared() -> tuple[list[Row], Comparison]:
    return compare(BASELINE, ROWS)


def data_rows(sheet: Worksheet) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in sheet.iter_rows(min_row=2, values_only=True)]


def argb(colour: str) -> str:
    return "FF" + colour.lstrip("#").upper()


# -- Changes ---------------------------------------------------------------------------------


def test_the_changes_sheet_comes_right_after_the_summary() -> None:
    rows, comparison = compared()
    book = render(rows, comparison)
    assert book.sheetnames == [
        "Summary",
        "Changes",
        "Results",
        "missing_keys",
        "function_not_found",
        "error",
    ]


def test_no_comparison_no_changes_sheet() -> None:
    assert "Changes" not in render(ROWS).sheetnames


def test_header_frozen_and_filtered() -> None:
    rows, comparison = compared()
    sheet = render(rows, comparison)["Changes"]
    assert next(sheet.iter_rows(max_row=1, values_only=True)) == CHANGE_COLUMNS
    assert CHANGE_COLUMNS == ("change", "urn", "previous_status", "status", "region", "project_id")
    assert sheet.freeze_panes == "A2"
    assert sheet.auto_filter.ref == "A1:F8"


def test_regressions_first_then_fixed_new_gone_each_in_report_order() -> None:
    rows, comparison = compared()
    sheet = render(rows, comparison)["Changes"]
    assert data_rows(sheet) == [
        ("regressed", urn(2), "configured", "error", "cn-north-4", PROJECT),
        ("regressed", ROWS[5].urn, "configured", "missing_keys", "ap-southeast-1", P2),
        ("fixed", urn(3), "missing_keys", "configured", "cn-north-4", PROJECT),
        ("new", urn(1), None, "missing_keys", "cn-north-4", PROJECT),
        ("gone", urn(4), "missing_keys", "function_not_found", "cn-north-4", PROJECT),
        ("gone", urn(7), "error", None, "cn-north-4", PROJECT),
        ("gone", urn(8), "configured", None, "cn-north-4", PROJECT),
    ]
    # Unchanged URNs are not listed.
    assert urn(0) not in [r[1] for r in data_rows(sheet)]


def test_change_and_status_cells_are_coloured() -> None:
    rows, comparison = compared()
    sheet = render(rows, comparison)["Changes"]
    expected = {"regressed": "FFC7CE", "fixed": "C6EFCE", "new": "DDEBF7", "gone": "D9D9D9"}
    assert {k: CHANGE_COLOURS[k].lstrip("#") for k in expected} == expected
    assert CHANGE_COLOURS["regressed"] == BAD
    for number in range(2, sheet.max_row + 1):
        change = sheet.cell(number, 1)
        assert change.fill.fgColor.rgb == argb(CHANGE_COLOURS[change.value])
        for column in (3, 4):
            cell = sheet.cell(number, column)
            if cell.value:
                assert cell.fill.fgColor.rgb == argb(STATUS_COLOURS[cell.value])
    assert sheet.cell(2, 2).fill.fgColor.rgb != argb(BAD)  # the URN itself is plain


def test_nothing_changed_still_has_a_changes_sheet_with_its_header() -> None:
    rows, comparison = compare(Baseline("old.json", "", {urn(0): C}, {}), [make_row(0, C)])
    sheet = render(rows, comparison)["Changes"]
    assert data_rows(sheet) == []
    assert sheet.cell(1, 1).value == "change"


def test_changes_spill_onto_further_sheets() -> None:
    rows = [make_row(n, M) for n in range(12)]
    rows, comparison = compare(Baseline("old.json", "", {}, {}), rows)
    book = render(rows, comparison, rows_per_sheet=5)
    assert book.sheetnames[:4] == ["Summary", "Changes", "Changes 2", "Changes 3"]
    urns = [r[1] for name in ("Changes", "Changes 2", "Changes 3") for r in data_rows(book[name])]
    assert urns == [r.urn for r in rows]
    assert book["Changes 3"].auto_filter.ref == "A1:F3"


def test_the_results_sheet_carries_each_rows_change() -> None:
    rows, comparison = compared()
    sheet = render(rows, comparison)["Results"]
    header = next(sheet.iter_rows(max_row=1, values_only=True))
    changes = [r[header.index("change")] for r in data_rows(sheet)]
    assert changes == ["unchanged", "new", "regressed", "fixed", "gone", "regressed"]


# -- the Summary's view of the comparison ------------------------------------------------------


def first_column(sheet: Worksheet) -> list[Any]:
    return [sheet.cell(r, 1).value for r in range(1, sheet.max_row + 1)]


def facts(sheet: Worksheet) -> dict[str, Any]:
    return {
        sheet.cell(r, 1).value: sheet.cell(r, 2).value
        for r in range(1, sheet.max_row + 1)
        if sheet.cell(r, 1).value is not None
    }


def test_the_summary_shows_counts_and_a_short_list_of_gone_urns() -> None:
    gone = {make_row(n).urn: M for n in range(100, 135)}
    places = {u: ("cn-north-4", PROJECT) for u in gone}
    rows, comparison = compare(Baseline("old.json", "2026-11-16T03:00:00Z", gone, places), ROWS)
    book = render(rows, comparison, run={"complete": True, "changes": comparison.as_run_dict()})
    sheet = book["Summary"]
    found = facts(sheet)
    assert found["baseline"] == "old.json"
    assert found["baseline_started_at"] == "2026-11-16T03:00:00Z"
    assert found["counts.new"] == 6
    assert found["counts.gone"] == 35
    assert found["counts.unchanged"] == 0
    assert found["gone"] == 35
    # The URN goes last, where it runs on to the right (it names its region and project).
    start = first_column(sheet).index("gone") + 2
    assert [sheet.cell(start, c).value for c in (1, 2, 3)] == ["previous_status", "urn", None]
    listed = [
        (sheet.cell(r, 1).value, sheet.cell(r, 2).value) for r in range(start + 1, start + 21)
    ]
    assert listed == [("missing_keys", u) for u in list(gone)[:20]]
    assert sheet.cell(start + 21, 1).value == "… and 15 more (see the Changes sheet)"


def test_a_rebuilt_report_points_to_the_json_for_the_full_list() -> None:
    gone = {make_row(n).urn: M for n in range(100, 125)}
    _, comparison = compare(Baseline("old.json", "", gone, {}), [])
    book = render([], run={"complete": True, "changes": comparison.as_run_dict()})
    assert "… and 5 more (see the JSON report)" in first_column(book["Summary"])


def test_a_short_gone_list_is_shown_whole_and_an_empty_one_reads_none() -> None:
    rows, comparison = compared()
    book = render(rows, comparison, run={"complete": True, "changes": comparison.as_run_dict()})
    sheet = book["Summary"]
    assert urn(8) in [sheet.cell(r, 2).value for r in range(1, sheet.max_row + 1)]
    assert not any(str(v).startswith("… and") for v in first_column(sheet) if v)
    rows, comparison = compare(Baseline("old.json", "", {}, {}), ROWS)
    book = render(rows, comparison, run={"complete": True, "changes": comparison.as_run_dict()})
    assert facts(book["Summary"])["gone"] == "none"


# -- Exemptions ------------------------------------------------------------------------------

BASE = f"urn:fss:cn-north-4:{PROJECT}:function:default"
TODAY = date(2026, 11, 23)
ENTRIES = (
    Exemption(f"{BASE}:fn-1", "legacy", "ops", None, 1),
    Exemption(f"{BASE}:fn-2*", "batch", "data", date(2026, 10, 1), 2),
    Exemption("urn:fss:eu-west-0:*", "typo", "", date(2027, 3, 31), 3),
)


def exempted(rows: list[Row] = ROWS) -> tuple[list[Row], ExemptionReport]:
    return apply_exemptions(rows, Exemptions("exemptions.toml", ENTRIES), TODAY)


def test_the_exemptions_sheet_lists_expired_then_unused_entries() -> None:
    rows, report = exempted()
    rows, comparison = compare(BASELINE, rows)
    book = render(rows, comparison, report)
    assert book.sheetnames[:4] == ["Summary", "Changes", "Exemptions", "Results"]
    sheet = book["Exemptions"]
    assert next(sheet.iter_rows(max_row=1, values_only=True)) == EXEMPTION_COLUMNS
    assert data_rows(sheet) == [
        ("expired", 2, f"{BASE}:fn-2*", "batch", "data", "2026-10-01", 1),
        ("unused", 3, "urn:fss:eu-west-0:*", "typo", None, "2027-03-31", None),
    ]
    assert sheet.freeze_panes == "A2"
    assert sheet.auto_filter.ref == "A1:G3"
    assert sheet.cell(2, 1).fill.fgColor.rgb == argb(BAD)


def test_no_expired_and_no_unused_entries_no_exemptions_sheet() -> None:
    rows, report = apply_exemptions(ROWS, Exemptions("exemptions.toml", ENTRIES[:1]), TODAY)
    assert report.exempt_rows == 1
    assert render(rows, exemptions=report).sheetnames[:2] == ["Summary", "Results"]


def test_exempt_rows_carry_their_reason_in_results() -> None:
    rows, report = exempted()
    sheet = render(rows, exemptions=report)["Results"]
    header = next(sheet.iter_rows(max_row=1, values_only=True))
    reasons = [r[header.index("exempt_reason")] for r in data_rows(sheet)]
    assert reasons == [None, "legacy (owner: ops)", None, None, None, None]


def test_the_summary_lists_expired_and_unused_exemptions() -> None:
    rows, report = exempted()
    run = {"complete": True, "exemptions": report.as_run_dict()}
    sheet = render(rows, exemptions=report, run=run)["Summary"]
    found = facts(sheet)
    assert found["source"] == "exemptions.toml"
    assert found["exempt_rows"] == 1
    assert found["expired"] == 1
    assert found["unused"] == 1
    expired = first_column(sheet).index("expired") + 2
    assert [c.value for c in sheet[expired]][:5] == [
        "expires",
        "would_match",
        "owner",
        "reason",
        "urn",
    ]
    assert [c.value for c in sheet[expired + 1]][:5] == [
        "2026-10-01",
        1,
        "data",
        "batch",
        f"{BASE}:fn-2*",
    ]
    unused = first_column(sheet).index("unused") + 2
    assert [c.value for c in sheet[unused]][:4] == ["expires", "owner", "reason", "urn"]
    assert [c.value for c in sheet[unused + 1]][:4] == [
        "2027-03-31",
        "none",
        "typo",
        "urn:fss:eu-west-0:*",
    ]
