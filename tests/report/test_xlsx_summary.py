"""The XLSX Summary sheet and page setup (auditor/report/xlsx_summary.py, xlsx_styles.py), and
the pure run facts behind them (auditor/report/tables.py), read back with openpyxl."""

from __future__ import annotations

import io
import math
import re
import zipfile
from typing import Any

import openpyxl
import pytest
from openpyxl.worksheet.worksheet import Worksheet

from auditor.model import COLUMNS, Status
from auditor.report.tables import (
    HIDDEN,
    THROTTLING_COLUMNS,
    ReportDocument,
    completeness,
    flatten_settings,
    summarize,
    throttling_frame,
)
from auditor.report.xlsx_render import render_xlsx
from auditor.report.xlsx_styles import BAD, GOOD, STATUS_COLOURS, text_width
from tests.factories import make_row

P1 = "0123456789abcdef0123456789abcdef"
P2 = "fedcba9876543210fedcba9876543210"
CN = "https://functiongraph.cn-north-4.myhuaweicloud.com"
AP = "https://functiongraph.ap-southeast-1.myhuaweicloud.com"
CYCLE = (Status.CONFIGURED, Status.AUTH_FAILED, Status.MISSING_KEYS)
ROWS = [make_row(n, CYCLE[n % 3], (P1, P2)[n % 2]) for n in range(12)]
SETTINGS: dict[str, Any] = {
    "endpoint": "https://functiongraph.{region}.myhuaweicloud.com",
    "endpoints": {},
    "iam_endpoint": "https://iam.myhuaweicloud.com",
    "iam_endpoints": {"cn-north-4": "https://iam.cn-north-4.myhuaweicloud.com"},
    "credentials_file": "",
    "auth_failures": 3,
    "rate": 50.0,
    "concurrency": 32,
    "timeout": 10.0,
    "retries": 4,
    "out": "reports",
    "formats": ["xlsx", "csv", "json"],
    "fail_on": ["auth_failed", "missing_keys"],
    "credentials": "AK/SK (HUAWEICLOUD_SDK_AK, HUAWEICLOUD_SDK_SK)",
}
RUN: dict[str, Any] = {
    "started_at": "2026-11-23T03:00:00Z",
    "finished_at": "2026-11-23T03:41:07Z",
    "duration_s": 2467.25,
    "complete": False,
    "settings": SETTINGS,
    "inputs": [
        {"name": "prod.txt", "format": "text", "entries": 10},
        {"name": "extra.csv", "format": "csv", "entries": 7},
    ],
    "duplicates_merged": 2,
    "requests": 31,
    "preflight": {P1: "ok", P2: "refused: APIG.0301 Incorrect IAM authentication information"},
    "credential_breakers": [f"project {P2}"],
    "skipped_for_credentials": 3,
    "throttling": {
        "ceiling": 50.0,
        "throttle_deadline_s": 300.0,
        "scopes": [
            {
                "scope": "access key",
                "endpoint": CN,
                "requests": 900,
                "responses_429": 41,
                "rate_cuts": 7,
                "unexplained_429": 3,
                "limit_found": 25.0,
                "rate_at_end": 24.5,
                "peak_rate": 50,
                "paced_wait_s": 12.5,
                "throttle_wait_s": 140.25,
            },
            {
                "scope": "access key",
                "endpoint": AP,
                "requests": 120,
                "responses_429": 0,
                "rate_cuts": 0,
                "unexplained_429": 0,
                "limit_found": None,
                "rate_at_end": 50.0,
                "peak_rate": 49,
                "paced_wait_s": 0.0,
                "throttle_wait_s": 0.0,
            },
        ],
        "suggested_rate": 25,
    },
    "resumed": {
        "journal": "reports/weekly.journal.jsonl",
        "first_started_at": "2026-11-23T02:00:00Z",
        "rows_reused": 8,
        "lines_skipped": 1,
    },
    "journal": "reports/weekly.journal.jsonl",
    "not_audited": ["urn:a", "urn:b", "urn:c"],
}


def render(run: dict[str, Any], rows: list[Any] = ROWS) -> bytes:
    stream = io.BytesIO()
    render_xlsx(ReportDocument(rows, summarize(rows), run), stream)
    return stream.getvalue()


def summary_sheet(data: bytes) -> Worksheet:
    return openpyxl.load_workbook(io.BytesIO(data))["Summary"]


def first_column(sheet: Worksheet) -> list[Any]:
    return [sheet.cell(r, 1).value for r in range(1, sheet.max_row + 1)]


def facts(sheet: Worksheet) -> dict[str, Any]:
    """Column A label -> column B value, for every row that has a label."""
    return {
        sheet.cell(r, 1).value: sheet.cell(r, 2).value
        for r in range(1, sheet.max_row + 1)
        if sheet.cell(r, 1).value is not None
    }


def fact_cell(sheet: Worksheet, label: str) -> Any:
    return sheet.cell(first_column(sheet).index(label) + 1, 2)


def section(sheet: Worksheet, title: str) -> list[tuple[Any, ...]]:
    """The rows under a section heading, up to the first blank row."""
    return rows_from(sheet, first_column(sheet).index(title) + 2)


def table(sheet: Worksheet, *header: str) -> list[tuple[Any, ...]]:
    """The table whose header row starts with `header`, without the header."""
    for number, line in enumerate(sheet.iter_rows(values_only=True), start=1):
        if line[: len(header)] == header:
            return [r[: len(header)] for r in rows_from(sheet, number + 1)]
    raise AssertionError(f"no table {header}")


def rows_from(sheet: Worksheet, start: int) -> list[tuple[Any, ...]]:
    rows = []
    for line in sheet.iter_rows(min_row=start, values_only=True):
        if all(v is None for v in line):
            break
        rows.append(tuple(line))
    return rows


def fill(cell: Any) -> str:
    return str(cell.fill.fgColor.rgb)


def argb(colour: str) -> str:
    return "FF" + colour.lstrip("#").upper()


# -- the run facts ---------------------------------------------------------------------------


def test_title_and_subtitle_say_what_the_report_is() -> None:
    sheet = summary_sheet(render(RUN))
    assert sheet["A1"].value == "FunctionGraph tracing audit"
    subtitle = sheet["A2"].value
    assert "12 functions" in subtitle
    assert "8 not configured" in subtitle
    assert "PARTIAL" in subtitle
    assert "2026-11-23T03:00:00Z" in subtitle
    complete = summary_sheet(render({**RUN, "complete": True, "not_audited": []}))
    assert "complete" in complete["A2"].value
    assert "PARTIAL" not in complete["A2"].value


def test_run_facts() -> None:
    sheet = summary_sheet(render(RUN))
    found = facts(sheet)
    assert found["Started (UTC)"] == "2026-11-23T03:00:00Z"
    assert found["Finished (UTC)"] == "2026-11-23T03:41:07Z"
    assert found["Duration (s)"] == pytest.approx(2467.25)
    assert found["Complete"] == "NO: partial report"
    assert found["Functions in report"] == 12
    assert found["Not audited (listed in the JSON report)"] == 3
    assert found["Requests sent"] == 31
    assert found["Duplicate entries merged"] == 2
    assert found["Inputs"] == "prod.txt, extra.csv"
    assert found["Input entries"] == 17
    assert found["Journal"] == "reports/weekly.journal.jsonl"
    assert found["Tool"].startswith("auditor ")
    assert fill(fact_cell(sheet, "Complete")) == argb(BAD)


def test_completeness_is_a_percentage_of_the_input_urns() -> None:
    sheet = summary_sheet(render(RUN))
    cell = fact_cell(sheet, "Completeness")
    assert cell.value == pytest.approx(0.8)  # 12 rows of 12 + 3 not audited
    assert cell.number_format == "0.0%"
    done = summary_sheet(render({**RUN, "complete": True, "not_audited": []}))
    assert fact_cell(done, "Completeness").value == 1.0
    assert fill(fact_cell(done, "Complete")) == argb(GOOD)
    assert "Not audited (listed in the JSON report)" not in facts(done)


def test_completeness_never_rounds_a_missing_urn_up_to_100_percent() -> None:
    assert completeness(999_999, 1) == 0.999
    assert completeness(1_048_575, 1) == 0.999
    assert completeness(2, 1) == 0.666
    assert completeness(5, 0) == 1.0
    assert completeness(0, 0) == 1.0
    assert completeness(0, 4) == 0.0


def test_resumed_from_the_journal() -> None:
    found = facts(summary_sheet(render(RUN)))
    assert found["Resumed from"] == "reports/weekly.journal.jsonl"
    assert found["First started (UTC)"] == "2026-11-23T02:00:00Z"
    assert found["Rows taken from the journal"] == 8
    assert found["Journal lines skipped"] == 1
    fresh = facts(summary_sheet(render({**RUN, "resumed": None})))
    assert "Resumed from" not in fresh


# -- statuses, chart and breakdowns ----------------------------------------------------------


def test_status_table_is_coloured_and_totalled() -> None:
    sheet = summary_sheet(render(RUN))
    rows = section(sheet, "Functions by status")
    assert rows[0][:3] == ("status", "count", "share")
    assert [r[:2] for r in rows[1:]] == [
        ("configured", 4),
        ("missing_keys", 4),
        ("auth_failed", 4),
        ("total", 12),
    ]
    start = first_column(sheet).index("Functions by status") + 3
    for offset, status in enumerate(("configured", "missing_keys", "auth_failed")):
        assert fill(sheet.cell(start + offset, 1)) == argb(STATUS_COLOURS[status])
        assert sheet.cell(start + offset, 3).number_format == "0.0%"


def test_the_chart_plots_the_status_table_beside_it_not_over_a_table() -> None:
    data = render(RUN)
    with zipfile.ZipFile(io.BytesIO(data)) as book:
        chart = book.read("xl/charts/chart1.xml").decode()
        drawing = book.read("xl/drawings/drawing1.xml").decode()
    sheet = summary_sheet(data)
    header = first_column(sheet).index("Functions by status") + 1  # 0-based row of the header
    assert f"<c:f>Summary!$A${header + 2}:$A${header + 4}</c:f>" in chart
    assert f"<c:f>Summary!$B${header + 2}:$B${header + 4}</c:f>" in chart
    # One bar colour per status, as in the table.
    for status in ("configured", "missing_keys", "auth_failed"):
        assert STATUS_COLOURS[status].lstrip("#").upper() in chart
    top, bottom = (int(r) for r in re.findall(r"<xdr:row>(\d+)</xdr:row>", drawing))
    left = int(re.findall(r"<xdr:col>(\d+)</xdr:col>", drawing)[0])
    assert top == header
    assert left >= 3  # right of the status, count, share columns
    next_section = first_column(sheet).index("Functions by project and status")
    assert next_section > bottom


def test_project_and_region_breakdowns() -> None:
    sheet = summary_sheet(render(RUN))
    projects = section(sheet, "Functions by project and status")
    assert projects[0][:5] == ("project_id", "configured", "missing_keys", "auth_failed", "total")
    assert projects[1][:5] == (P1, 2, 2, 2, 6)
    assert projects[2][:5] == (P2, 2, 2, 2, 6)
    regions = section(sheet, "Functions by region and status")
    assert regions[1][:5] == ("cn-north-4", 4, 4, 4, 12)


# -- credentials and throttling --------------------------------------------------------------


def test_credentials_section() -> None:
    sheet = summary_sheet(render(RUN))
    found = facts(sheet)
    assert found["Credential method"] == "AK/SK (HUAWEICLOUD_SDK_AK, HUAWEICLOUD_SDK_SK)"
    assert found["Pre-flight check"] == "1 of 2 projects ok"
    assert fill(fact_cell(sheet, "Pre-flight check")) == argb(BAD)
    assert found["Stopped after repeated refusals"] == f"project {P2}"
    assert found["URNs skipped for credentials"] == 3
    assert table(sheet, "project_id", "pre-flight verdict") == [
        (P1, "ok"),
        (P2, "refused: APIG.0301 Incorrect IAM authentication information"),
    ]
    row_of = {sheet.cell(r, 1).value: r for r in range(1, sheet.max_row + 1)}
    assert fill(sheet.cell(row_of[P1], 2)) == argb(GOOD)
    assert fill(sheet.cell(row_of[P2], 2)) == argb(BAD)


def test_no_preflight_and_no_breakers_read_plainly() -> None:
    run = {**RUN, "preflight": None, "credential_breakers": [], "skipped_for_credentials": 0}
    found = facts(summary_sheet(render(run)))
    assert found["Pre-flight check"] == "not run"
    assert found["Stopped after repeated refusals"] == "none"
    assert found["URNs skipped for credentials"] == 0
    assert "pre-flight verdict" not in str(found)


THROTTLING_HEADER = (
    "credential scope",
    "endpoint",
    "requests",
    "429 answers",
    "rate cuts",
    "429s not from the rate",
    "limit found (req/s)",
    "rate at the end (req/s)",
    "waits after 429 (s)",
)
# `run.throttling` as reports before the rate controller wrote it: per endpoint, with pauses.
OLD_THROTTLING = {
    "responses_429": {CN: 41},
    "pauses": {CN: 7},
    "effective_rate": {CN: 25.0, AP: 50.0},
}


def test_throttling_per_scope_and_endpoint() -> None:
    sheet = summary_sheet(render(RUN))
    found = facts(sheet)
    assert found["Rate ceiling (--rate, requests/s per endpoint)"] == 50
    assert found["429 answers"] == 41
    assert found["Rate cuts after a 429"] == 7
    assert found["Next run: --rate"] == 25
    # In the order the run first used each scope and endpoint; nothing learned reads "n/a".
    assert table(sheet, *THROTTLING_HEADER) == [
        ("access key", CN, 900, 41, 7, 3, 25, 24.5, 140.25),
        ("access key", AP, 120, 0, 0, 0, "n/a", 50, 0),
    ]
    row = first_column(sheet).index("access key") + 1
    for column in (7, 8, 9):  # rates and waits with a decimal, counts without
        assert sheet.cell(row, column).number_format == "#,##0.0"
    assert sheet.cell(row, 3).number_format != "#,##0.0"


def test_no_rate_limit_and_no_throttling() -> None:
    unthrottled = {
        "scope": "token",
        "endpoint": CN,
        "requests": 12,
        "responses_429": 0,
        "rate_cuts": 0,
        "unexplained_429": 0,
        "limit_found": None,
        "rate_at_end": None,  # no ceiling and never throttled: never paced
        "peak_rate": 12,
        "paced_wait_s": 0.0,
        "throttle_wait_s": 0.0,
    }
    throttling = {
        "ceiling": None,
        "throttle_deadline_s": 300.0,
        "scopes": [unthrottled],
        "suggested_rate": None,
    }
    run = {**RUN, "settings": {**SETTINGS, "rate": 0.0}, "throttling": throttling}
    sheet = summary_sheet(render(run))
    found = facts(sheet)
    assert found["Rate ceiling (--rate, requests/s per endpoint)"] == "none"
    assert found["429 answers"] == 0
    assert found["Rate cuts after a 429"] == 0
    assert "Next run: --rate" not in found  # nothing was learned to suggest
    assert table(sheet, *THROTTLING_HEADER) == [("token", CN, 12, 0, 0, 0, "n/a", "n/a", 0)]
    empty = {**throttling, "scopes": []}
    found = facts(summary_sheet(render({**run, "throttling": empty})))
    assert found["429 answers"] == 0
    assert "credential scope" not in found  # no table without a scope


def test_throttling_of_a_report_before_the_rate_controller() -> None:
    run = {**RUN, "throttling": OLD_THROTTLING}
    sheet = summary_sheet(render(run))
    found = facts(sheet)
    assert found["Rate ceiling (--rate, requests/s per endpoint)"] == 50  # from the settings
    assert found["429 answers"] == 41
    assert found["Rate cuts after a 429"] == 0
    assert "Next run: --rate" not in found
    assert [r[1:] for r in table(sheet, *THROTTLING_HEADER)] == [
        (AP, 0, 0, 0, 0, "n/a", 50, "n/a"),
        (CN, 0, 41, 0, 0, "n/a", 25, "n/a"),
    ]
    no_limit = {**run, "settings": {**SETTINGS, "rate": 0.0}}
    no_limit["throttling"] = {"responses_429": {}, "pauses": {}, "effective_rate": {}}
    found = facts(summary_sheet(render(no_limit)))
    assert found["Rate ceiling (--rate, requests/s per endpoint)"] == "none"
    assert found["429 answers"] == 0
    assert "credential scope" not in found


def test_throttling_frame() -> None:
    frame = throttling_frame(RUN["throttling"])
    assert list(frame.columns) == THROTTLING_COLUMNS
    records = frame.to_dict("records")
    assert records[0] == {
        "scope": "access key",
        "endpoint": CN,
        "requests": 900,
        "responses_429": 41,
        "rate_cuts": 7,
        "unexplained_429": 3,
        "limit_found": 25.0,
        "rate_at_end": 24.5,
        "throttle_wait_s": 140.25,
    }
    assert math.isnan(records[1]["limit_found"])
    assert records[1]["rate_at_end"] == 50.0
    assert throttling_frame({}).empty
    assert throttling_frame({"scopes": []}).empty


def test_throttling_frame_reads_a_report_before_the_rate_controller() -> None:
    frame = throttling_frame(OLD_THROTTLING)
    assert list(frame.columns) == THROTTLING_COLUMNS
    assert list(frame["endpoint"]) == [AP, CN]
    assert list(frame["scope"]) == ["", ""]
    assert list(frame["responses_429"]) == [0, 41]
    assert list(frame["rate_at_end"]) == [50.0, 25.0]
    for column in ("requests", "rate_cuts", "unexplained_429"):
        assert list(frame[column]) == [0, 0]
    for column in ("limit_found", "throttle_wait_s"):
        assert frame[column].isna().all()
    unpaced = throttling_frame({"responses_429": {CN: 2}})
    assert unpaced["responses_429"][0] == 2
    assert math.isnan(unpaced["rate_at_end"][0])


# -- settings, changes, exemptions -----------------------------------------------------------


def test_settings_are_flattened_for_reading() -> None:
    found = facts(summary_sheet(render(RUN)))
    assert found["Setting: endpoint"] == "https://functiongraph.{region}.myhuaweicloud.com"
    assert found["Setting: endpoints"] == "none"
    assert found["Setting: iam_endpoints.cn-north-4"] == "https://iam.cn-north-4.myhuaweicloud.com"
    assert found["Setting: credentials_file"] == "none"
    assert found["Setting: formats"] == "xlsx, csv, json"
    assert found["Setting: fail_on"] == "auth_failed, missing_keys"
    assert found["Setting: rate"] == 50
    # The method is shown once, under Credentials.
    assert "Setting: credentials" not in found


def test_flatten_settings() -> None:
    assert flatten_settings(
        {
            "a": {"x": 1, "y": {"z": [1, 2]}},
            "b": [],
            "c": None,
            "d": True,
            "e": ("p", "q"),
            "f": 2.5,
        }
    ) == [
        ("a.x", 1),
        ("a.y.z", "1, 2"),
        ("b", "none"),
        ("c", "none"),
        ("d", "yes"),
        ("e", "p, q"),
        ("f", 2.5),
    ]


SECRET = "MIIplanted-secret-value-0123456789"


def test_a_setting_named_like_a_secret_is_never_shown() -> None:
    settings = {
        **SETTINGS,
        "token": SECRET,
        "password": SECRET,
        "sk": SECRET,
        "security_token": SECRET,
        "nested": {"client_secret": SECRET},
    }
    data = render({**RUN, "settings": settings})
    found = facts(summary_sheet(data))
    for key in ("token", "password", "sk", "security_token", "nested.client_secret"):
        assert found[f"Setting: {key}"] == HIDDEN
    with zipfile.ZipFile(io.BytesIO(data)) as book:
        for part in book.namelist():
            assert SECRET.encode() not in book.read(part), part


def test_changes_and_exemptions_appear_when_the_run_has_them() -> None:
    # Shapes as `Comparison.as_run_dict()` and `ExemptionReport.as_run_dict()` write them
    # (tests/report/test_xlsx_changes.py has the full sections); record tables put the URN last.
    legacy = "urn:fss:cn-north-4:x:function:default:legacy"
    run = {
        **RUN,
        "changes": {"baseline": "reports/last-week.json", "counts": {"regressed": 3, "fixed": 5}},
        "exemptions": {"expired": [{"urn": legacy, "reason": "retired in Q1"}]},
    }
    sheet = summary_sheet(render(run))
    changes = section(sheet, "Changes since the baseline")
    assert [r[:2] for r in changes] == [
        ("baseline", "reports/last-week.json"),
        ("counts.regressed", 3),
        ("counts.fixed", 5),
    ]
    exemptions = section(sheet, "Exemptions")
    assert exemptions[0][:2] == ("expired", 1)
    assert exemptions[1][:2] == ("reason", "urn")
    assert exemptions[2][:2] == ("retired in Q1", legacy)
    plain = first_column(summary_sheet(render(RUN)))
    assert "Changes since the baseline" not in plain
    assert "Exemptions" not in plain


def test_an_empty_run_still_has_a_readable_summary() -> None:
    sheet = summary_sheet(render({}, rows=[]))
    found = facts(sheet)
    assert found["Functions in report"] == 0
    assert found["Completeness"] == 1.0
    assert found["Complete"] == "NO: partial report"  # nothing says the run finished
    for absent in ("Credentials", "Throttling", "Settings", "Started (UTC)", "Requests sent"):
        assert absent not in found


def test_summary_values_are_never_formulas_or_links() -> None:
    run = {
        **RUN,
        "preflight": {P1: "=cmd|' /C calc'!A0"},
        "settings": {**SETTINGS, "out": "@SUM(1+1)", "endpoint": "https://evil.example/x"},
    }
    data = render(run)
    with zipfile.ZipFile(io.BytesIO(data)) as book:
        sheet_xml = book.read("xl/worksheets/sheet1.xml").decode()
        assert "<f>" not in sheet_xml
        assert "<hyperlink" not in sheet_xml
    found = facts(summary_sheet(data))
    assert found["Setting: out"] == "@SUM(1+1)"


# -- widths and paper ------------------------------------------------------------------------


def test_results_columns_fit_their_text() -> None:
    long_urn = f"urn:fss:ap-southeast-1:{P1}:function:payments:a-rather-long-function-name:!prod"
    rows = [make_row(0, urn=long_urn), make_row(1, Status.FUNCTION_NOT_FOUND)]
    sheet = openpyxl.load_workbook(io.BytesIO(render(RUN, rows)))["Results"]

    def width(name: str) -> float:
        letter = sheet.cell(1, COLUMNS.index(name) + 1).column_letter
        return float(sheet.column_dimensions[letter].width)

    assert width("urn") >= text_width(long_urn)
    assert width("project_id") >= text_width(P1)
    # Every status fits, even one that first appears past the rows sampled for widths.
    assert width("status") >= text_width("function_not_found")
    assert width("tracing_ak") >= text_width("tracing_ak", bold=True)
    assert width("urn") <= 100


def test_text_width_follows_the_font() -> None:
    assert text_width("iiiiiiiiii") < text_width("0000000000") < text_width("WWWWWWWWWW")
    assert text_width("header", bold=True) > text_width("header")


def test_pages_print_landscape_with_the_header_on_every_page() -> None:
    book = openpyxl.load_workbook(io.BytesIO(render(RUN)))
    summary = book["Summary"]
    assert summary.page_setup.orientation == "landscape"
    assert summary.sheet_properties.pageSetUpPr.fitToPage
    assert summary.page_setup.fitToHeight == 0
    # The overview stands alone on page one; the breakdowns start page two.
    breaks = [b.id for b in summary.row_breaks.brk]
    assert breaks == [first_column(summary).index("Functions by project and status") - 1]
    for name in ("Results", "auth_failed", "missing_keys"):
        sheet = book[name]
        assert sheet.page_setup.orientation == "landscape"
        assert sheet.page_setup.fitToWidth == 2
        assert sheet.page_setup.fitToHeight == 0
        assert sheet.print_title_rows == "$1:$1"
        assert sheet.print_options.gridLines
        assert "&A" in str(sheet.oddFooter.left.text)


def test_a_report_rebuilt_from_a_journal() -> None:
    run = {
        "started_at": "2026-11-23T03:00:00Z",
        "complete": False,
        "targets": 15,
        "not_audited_count": 3,
        "journal": "reports/weekly.journal.jsonl",
        "lines_skipped": 1,
        "rebuilt_from": "reports/weekly.journal.jsonl",
    }
    found = facts(summary_sheet(render(run)))
    assert found["Not audited"] == 3
    assert found["Completeness"] == pytest.approx(0.8)
    assert found["Journal lines skipped"] == 1
    assert found["Rebuilt from (auditor report)"] == "reports/weekly.journal.jsonl"
