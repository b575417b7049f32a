"""The XLSX of an estate audit (`--all-projects`): the Summary names every account, the one
whose agency refused included (it has no rows), and breaks functions down by account; and the
Trend sheet of a run with a history."""

from __future__ import annotations

import io
from dataclasses import replace
from typing import Any

import openpyxl

from auditor.model import Status
from auditor.report.tables import ReportDocument, summarize
from auditor.report.xlsx_render import render_xlsx
from auditor.report.xlsx_styles import BAD
from tests.factories import make_row

OTHER = "fedcba9876543210fedcba9876543210"
ROWS = [
    replace(make_row(0), account="home"),
    replace(make_row(1, Status.MISSING_KEYS), account="home"),
    replace(make_row(2, project=OTHER), account="team-b"),
]
ACCOUNTS = [
    {"name": "home", "kind": "own", "agency": "", "status": "listed", "error": "",
     "projects_listed": 3, "projects_audited": ["p1"], "projects_skipped": []},
    {"name": "team-b", "kind": "agency", "agency": "auditor", "status": "listed", "error": "",
     "projects_listed": 2, "projects_audited": ["p2"], "projects_skipped": []},
    {"name": "team-c", "kind": "agency", "agency": "auditor", "status": "refused",
     "error": "account team-c: agency auditor refused (HTTP 403)", "projects_listed": 0,
     "projects_audited": [], "projects_skipped": []},
]  # fmt: skip


def summary_rows(document: ReportDocument) -> tuple[list[tuple[Any, ...]], Any]:
    stream = io.BytesIO()
    render_xlsx(document, stream)
    book = openpyxl.load_workbook(io.BytesIO(stream.getvalue()))
    sheet = book["Summary"]
    return list(sheet.iter_rows(values_only=True)), book


def section(rows: list[tuple[Any, ...]], title: str) -> list[tuple[Any, ...]]:
    start = next(i for i, row in enumerate(rows) if row[0] == title)
    body = []
    for row in rows[start + 2 :]:
        if row[0] is None:
            break
        body.append(row)
    return body


def test_the_summary_names_every_account_the_refused_one_too() -> None:
    run = {"complete": True, "accounts": ACCOUNTS}
    rows, book = summary_rows(ReportDocument(ROWS, summarize(ROWS), run))
    accounts = section(rows, "Accounts")
    assert [(r[0], r[2], r[3], r[4]) for r in accounts] == [
        ("home", "listed", 3, 1),
        ("team-b", "listed", 2, 1),
        ("team-c", "refused", 0, 0),
    ]
    assert "refused" in accounts[2][5]
    sheet = book["Summary"]
    start = next(i for i, row in enumerate(rows) if row[0] == "Accounts")
    refused = sheet.cell(start + 5, 3)  # 1-based: title, header, then the third account
    assert refused.value == "refused"
    assert refused.fill.fgColor.rgb.endswith(BAD.lstrip("#").upper())
    by_account = section(rows, "Functions by account and status")
    start = next(i for i, row in enumerate(rows) if row[0] == "Functions by account and status")
    header = rows[start + 1]
    total = header.index("total")
    assert [(r[0], r[total]) for r in by_account] == [("home", 2), ("team-b", 1)]
    projects = section(rows, "Functions by account and project")
    assert [(r[0], r[2]) for r in projects] == [("home", 2), ("team-b", 1)]


def test_a_run_without_accounts_has_no_account_tables() -> None:
    plain = [replace(row, account="") for row in ROWS]
    rows, _ = summary_rows(ReportDocument(plain, summarize(plain), {"complete": True}))
    titles = {row[0] for row in rows}
    assert "Accounts" not in titles
    assert "Functions by account and status" not in titles


def test_the_trend_sheet_lists_the_runs_oldest_first_with_compliance() -> None:
    trend = [
        {"name": "r1", "started_at": "2026-12-01T00:00:00Z", "complete": True, "total": 4,
         "compliance": 50.0, "by_status": {"configured": 2, "missing_keys": 2}},
        {"name": "r2", "started_at": "2026-12-02T00:00:00Z", "complete": False, "total": 4,
         "compliance": None, "by_status": {"configured": 3, "error": 1}},
    ]  # fmt: skip
    document = ReportDocument(ROWS, summarize(ROWS), {"complete": True}, trend=trend)
    _, book = summary_rows(document)
    assert book.sheetnames[:2] == ["Summary", "Trend"]
    table = list(book["Trend"].iter_rows(values_only=True))
    assert table[0] == (
        "started_at", "name", "complete", "total", "compliance",
        "configured", "missing_keys", "error",
    )  # fmt: skip
    assert table[1] == ("2026-12-01T00:00:00Z", "r1", "yes", 4, 0.5, 2, 2, 0)
    assert table[2][:5] == ("2026-12-02T00:00:00Z", "r2", "no", 4, None)
    assert len(book["Trend"]._charts) == 2  # compliance, and counts by status
