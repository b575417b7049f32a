"""The XLSX report's Summary sheet: what ran, what it found, and how the run went.

Sections, top to bottom: the run (times, completeness, requests, inputs, resume), functions by
status with a native chart beside the table, project × status and region × status, credentials
(method, pre-flight verdicts, breakers), throttling per endpoint, changes and exemptions when the
run has them, and the settings. Every value comes from the report's `run` facts, which hold no
secret; a setting named like one is shown as `(hidden)` all the same. The sections are written
with the building blocks (headings, facts, tables, free-form sections) of xlsx_cursor.py.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd
import xlsxwriter

from auditor import __version__
from auditor.model import Status
from auditor.report.tables import (
    ReportDocument,
    completeness,
    crosstab_frame,
    flatten_settings,
    status_frame,
    throttling_frame,
)
from auditor.report.xlsx_cursor import SheetCursor
from auditor.report.xlsx_styles import STATUS_COLOURS, Styles, print_setup
from auditor.verdict.age import SLA_DAYS

SHEET = "Summary"
_CHART_ROWS = 16  # rows the status chart covers (288 px at 20 px a row, and a margin)
_CHART_COLUMN = 3  # D: beside the status, count, share table


def write_summary(book: xlsxwriter.Workbook, styles: Styles, document: ReportDocument) -> None:
    """Add the Summary sheet to `book` (it must be the first sheet written)."""
    _Summary(book, styles, document).write()


class _Summary(SheetCursor):
    """The Summary sheet's sections, each written below the previous one."""

    def __init__(self, book: xlsxwriter.Workbook, styles: Styles, document: ReportDocument) -> None:
        super().__init__(book.add_worksheet(SHEET), styles)
        self.book, self.document = book, document
        self.run: Mapping[str, Any] = document.run

    def write(self) -> None:
        self._title()
        self._run_facts()
        self._statuses()
        summary = self.document.summary
        # On paper the first page is the overview (facts, statuses, chart); the breakdowns and
        # the run's details start on the next.
        self.sheet.set_h_pagebreaks([self.row])
        self._crosstab("Functions by project and status", summary.by_project, "project_id")
        self._crosstab("Functions by region and status", summary.by_region, "region")
        self._accounts()
        if summary.by_account is not None:
            self._crosstab("Functions by account and status", summary.by_account, "account")
            self._account_projects(summary.by_account_project or {})
        self._credentials()
        self._throttling()
        self._free_form("Discovery", self.run.get("discovery"), "the JSON report", ())
        # Record tables put the URN last, where it runs on to the right instead of being cut
        # (a URN names its region and project, so the gone list needs no columns for them).
        document = self.document
        self._free_form(
            "Changes since the baseline",
            self.run.get("changes"),
            "the Changes sheet" if document.comparison is not None else "the JSON report",
            ("previous_status", "urn"),
        )
        self._free_form(
            "Exemptions",
            self.run.get("exemptions"),
            "the Exemptions sheet" if document.exemptions is not None else "the JSON report",
            ("expires", "would_match", "owner", "reason", "urn"),
        )
        self._settings()
        # Column A holds labels and keys; the columns after it share one width fitted to the
        # table headers, so the tables stacked below each other line up. Text in them (a
        # verdict, a setting) runs on to the right or wraps; it does not widen every column.
        self.sheet.set_column(0, 0, self.label_width)
        self.sheet.set_column(1, self.last_column, self.column_width)
        self.sheet.hide_gridlines(2)
        print_setup(self.sheet, pages_wide=1)

    # -- sections ----------------------------------------------------------------------------

    def _title(self) -> None:
        summary = self.document.summary
        configured = summary.by_status.get(Status.CONFIGURED, 0)
        self.sheet.set_row(0, 24)
        self.sheet.write_string(0, 0, "FunctionGraph tracing audit", self.styles.title)
        parts = [
            f"{summary.total:,} functions",
            f"{summary.total - configured:,} not configured",
        ]
        if summary.exempt:
            parts.append(f"{summary.exempt:,} of them exempt")
        if summary.changes is not None:
            parts.append(f"{summary.changes.get('regressed', 0):,} regressed since the baseline")
        if summary.aged is not None:
            parts.append(f"{summary.aged:,} findings open longer than {SLA_DAYS} days")
        parts.append("complete" if self.run.get("complete") else "PARTIAL: the run was interrupted")
        if self.run.get("started_at"):
            parts.append(f"started {self.run['started_at']} UTC")
        self.sheet.write_string(1, 0, " · ".join(parts), self.styles.subtitle)
        self.row = 2

    def _run_facts(self) -> None:
        run, total = self.run, self.document.summary.total
        # A report rebuilt from a journal knows only how many URNs are missing, not which.
        not_audited = run.get("not_audited_count") or len(run.get("not_audited") or ())
        self._heading("Run")
        for key, label in (
            ("started_at", "Started (UTC)"),
            ("finished_at", "Finished (UTC)"),
            ("duration_s", "Duration (s)"),
        ):
            if key in run:
                self._fact(label, run[key])
        complete = bool(run.get("complete"))
        self._fact(
            "Complete",
            "yes" if complete else "NO: partial report",
            self.styles.good if complete else self.styles.bad,
        )
        self._fact("Completeness", completeness(total, not_audited), self.styles.percent_fact)
        self._fact("Functions in report", total)
        aged = self.document.summary.aged
        if aged is not None:
            self._fact(
                f"Findings open longer than {SLA_DAYS} days",
                aged,
                self.styles.bad if aged else self.styles.good,
            )
        history = run.get("history")
        if history:
            self._fact("History store", history.get("store", ""))
            self._fact("Scope", history.get("scope_label", ""))
        if not_audited:
            listed = " (listed in the JSON report)" if run.get("not_audited") else ""
            self._fact(f"Not audited{listed}", not_audited, self.styles.bad)
        if "requests" in run:
            self._fact("Requests sent", run["requests"])
        if "duplicates_merged" in run:
            self._fact("Duplicate entries merged", run["duplicates_merged"])
        inputs = run.get("inputs", [])
        self._fact("Inputs", ", ".join(str(i.get("name", "")) for i in inputs))
        if inputs and all(isinstance(i.get("entries"), int) for i in inputs):
            self._fact("Input entries", sum(i["entries"] for i in inputs))
        resumed = run.get("resumed")
        if resumed:
            self._fact("Resumed from", resumed.get("journal", ""))
            self._fact("First started (UTC)", resumed.get("first_started_at", ""))
            self._fact("Rows taken from the journal", resumed.get("rows_reused", 0))
            if resumed.get("lines_skipped"):
                self._fact("Journal lines skipped", resumed["lines_skipped"])
        if run.get("journal"):
            self._fact("Journal", run["journal"])
        if run.get("lines_skipped"):
            self._fact("Journal lines skipped", run["lines_skipped"])
        if run.get("rebuilt_from"):
            self._fact("Rebuilt from (auditor report)", run["rebuilt_from"])
        self._fact("Tool", f"auditor {__version__}")

    def _statuses(self) -> None:
        frame = status_frame(self.document.summary)
        self._heading("Functions by status")
        top = self.row
        records = [(str(s), int(c), float(f)) for s, c, f in frame.itertuples(index=False)]
        styles = self.styles
        self.sheet.write_row(self.row, 0, ["status", "count", "share"], styles.header)
        for status, count, share in records:
            self.row += 1
            self.sheet.write_string(self.row, 0, status, styles.status[status])
            self.sheet.write_number(self.row, 1, count, styles.count)
            self.sheet.write_number(self.row, 2, share, styles.percent)
        if records:
            self.row += 1
            self.sheet.write_string(self.row, 0, "total", styles.label)
            self.sheet.write_number(self.row, 1, self.document.summary.total, styles.count)
            self._chart([r[0] for r in records], top + 1, top + len(records))
            self.row = max(self.row, top + _CHART_ROWS)
        self.row += 1

    def _chart(self, statuses: Sequence[str], first: int, last: int) -> None:
        chart = self.book.add_chart({"type": "column"})
        chart.add_series(
            {
                "name": "Functions",
                "categories": [SHEET, first, 0, last, 0],
                "values": [SHEET, first, 1, last, 1],
                "points": [{"fill": {"color": STATUS_COLOURS.get(s, "#999999")}} for s in statuses],
                "border": {"color": "#7F7F7F"},
                "data_labels": {"value": True, "num_format": "#,##0"},
            }
        )
        chart.set_title({"name": "Functions by status", "name_font": {"size": 12}})
        chart.set_legend({"none": True})
        chart.set_y_axis({"num_format": "#,##0", "major_gridlines": {"visible": True}})
        chart.set_x_axis({"num_font": {"rotation": -30}})
        self.sheet.insert_chart(
            first - 1, _CHART_COLUMN, chart, {"x_offset": 24, "x_scale": 1.25, "y_scale": 1.0}
        )

    def _accounts(self) -> None:
        """`--all-projects`: each account, whether it was reached, and what was audited there
        (an account whose agency refused has no rows, so only this table names it)."""
        accounts = self.run.get("accounts")
        if not accounts:
            return
        self._heading("Accounts", span=6)
        styles = self.styles
        records = [
            (
                str(a.get("name", "")),
                str(a.get("kind", "")),
                str(a.get("status", "")),
                int(a.get("projects_listed", 0)),
                len(a.get("projects_audited", [])),
                str(a.get("error", "")),
            )
            for a in accounts
        ]
        header = ["account", "kind", "status", "projects listed", "projects audited", "error"]
        self._table(header, records)
        for offset, record in enumerate(records):
            if record[2] != "listed":
                row = self.row - len(records) + offset
                self.sheet.write_string(row, 2, record[2], styles.bad)

    def _account_projects(self, nested: Mapping[str, Mapping[str, int]]) -> None:
        """Functions by account and project: one line per project, under its account."""
        self._heading("Functions by account and project")
        records = [
            (account, project, count)
            for account, projects in nested.items()
            for project, count in projects.items()
        ]
        self._table(["account", "project_id", "functions"], records)

    def _crosstab(self, title: str, nested: Mapping[str, Mapping[str, int]], label: str) -> None:
        frame: pd.DataFrame = crosstab_frame(nested, label)
        self._heading(title, span=len(frame.columns))
        records = [(str(r[0]), *(int(v) for v in r[1:])) for r in frame.itertuples(index=False)]
        self._table(list(frame.columns), records)

    def _credentials(self) -> None:
        run = self.run
        keys = ("preflight", "credential_breakers", "skipped_for_credentials")
        method = run.get("settings", {}).get("credentials")
        if method is None and not any(k in run for k in keys):
            return
        self._heading("Credentials")
        if method is not None:
            self._fact("Credential method", method)
        if "preflight" in run:
            verdicts: Mapping[str, str] = run["preflight"] or {}
            refused = sum(v != "ok" for v in verdicts.values())
            if not verdicts:
                self._fact("Pre-flight check", "not run")
            else:
                self._fact(
                    "Pre-flight check",
                    f"{len(verdicts) - refused} of {len(verdicts)} projects ok",
                    self.styles.bad if refused else self.styles.good,
                )
        if "credential_breakers" in run:
            breakers = run["credential_breakers"] or []
            self._fact(
                "Stopped after repeated refusals",
                ", ".join(breakers) if breakers else "none",
                self.styles.bad if breakers else None,
            )
        if "skipped_for_credentials" in run:
            self._fact("URNs skipped for credentials", run["skipped_for_credentials"])
        if run.get("preflight"):
            self.row += 1
            self._header(["project_id", "pre-flight verdict"])
            for project, verdict in run["preflight"].items():
                self.row += 1
                style = self.styles.good if verdict == "ok" else self.styles.bad
                self._fit(0, project)
                self.sheet.write_string(self.row, 0, str(project))
                self.sheet.write_string(self.row, 1, str(verdict), style)
            self.row += 1

    def _throttling(self) -> None:
        throttling = self.run.get("throttling")
        if throttling is None:
            return
        frame = throttling_frame(throttling)
        self._heading("Throttling", span=4)
        ceiling = throttling.get("ceiling", self.run.get("settings", {}).get("rate"))
        self._fact("Rate ceiling (--rate, requests/s per endpoint)", ceiling or "none")
        self._fact("429 answers", int(frame["responses_429"].sum()))
        self._fact("Rate cuts after a 429", int(frame["rate_cuts"].sum()))
        suggested = throttling.get("suggested_rate")
        if suggested is not None:
            self._fact("Next run: --rate", suggested)
        if len(frame):
            self.row += 1
            records = [tuple(r) for r in frame.itertuples(index=False)]
            self._table(
                [
                    "credential scope",
                    "endpoint",
                    "requests",
                    "429 answers",
                    "rate cuts",
                    "429s not from the rate",
                    "limit found (req/s)",
                    "rate at the end (req/s)",
                    "waits after 429 (s)",
                ],
                records,
                [None, None, None, None, None, None, *(self.styles.rate,) * 3],
            )

    def _settings(self) -> None:
        settings = {k: v for k, v in self.run.get("settings", {}).items() if k != "credentials"}
        if not settings:
            return
        self._heading("Settings")
        for key, value in flatten_settings(settings):
            self._fact(f"Setting: {key}", value)
