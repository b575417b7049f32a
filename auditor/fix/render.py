"""The plan's CSV and the fix report, rendered (pure: data in, bytes out; `report.writers`
writes them). The fix report is in the house style of the audit's: JSON for machines, CSV with
formula-looking cells escaped, XLSX with a Summary sheet and a Results sheet (header frozen,
autofilter, fitted widths, outcome colours)."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
from collections import Counter
from collections.abc import Sequence
from typing import Any, BinaryIO

from auditor import __version__
from auditor.fix.apply import FixOutcome, FixResult
from auditor.fix.plan import FixPlan
from auditor.report.csv_render import escape_cell

PLAN_COLUMNS = ("urn", "region", "project_id", "package", "function", "status")
RESULT_COLUMNS = tuple(f.name for f in dataclasses.fields(FixResult))
FIX_FORMATS = ("xlsx", "csv", "json")
_COLOURS = {
    FixOutcome.FIXED: "#C6EFCE",
    FixOutcome.FAILED: "#FFC7CE",
    FixOutcome.NOT_FOUND: "#D9D9D9",
}


def render_plan_csv(plan: FixPlan, stream: BinaryIO) -> None:
    text = io.TextIOWrapper(stream, encoding="utf-8", newline="", write_through=True)
    writer = csv.writer(text)
    writer.writerow(PLAN_COLUMNS)
    for item in plan.items:
        urn = item.parsed
        cells = (item.urn, urn.region, urn.project_id, urn.package, urn.name, item.status.value)
        writer.writerow([escape_cell(cell) for cell in cells])
    text.detach()


def summarize_results(results: Sequence[FixResult]) -> dict[str, Any]:
    """Counts by outcome, and by project × outcome."""
    by_outcome = Counter(r.outcome.value for r in results)
    by_project: dict[str, Counter[str]] = {}
    for r in results:
        by_project.setdefault(r.project_id, Counter())[r.outcome.value] += 1
    return {
        "total": len(results),
        "by_outcome": {o.value: by_outcome[o.value] for o in FixOutcome if by_outcome[o.value]},
        "by_project": {p: dict(sorted(c.items())) for p, c in sorted(by_project.items())},
    }


def render_fix_json(results: Sequence[FixResult], run: dict[str, Any], stream: BinaryIO) -> None:
    document = {
        "schema_version": 1,
        "tool": {"name": "auditor", "version": __version__},
        "kind": "fix",
        "run": run,
        "summary": summarize_results(results),
        "results": [_record(r) for r in results],
    }
    stream.write(json.dumps(document, indent=2, ensure_ascii=True).encode() + b"\n")


def render_fix_csv(results: Sequence[FixResult], run: dict[str, Any], stream: BinaryIO) -> None:
    text = io.TextIOWrapper(stream, encoding="utf-8", newline="", write_through=True)
    writer = csv.writer(text)
    writer.writerow(RESULT_COLUMNS)
    for result in results:
        writer.writerow([escape_cell(_cell(v)) for v in _record(result).values()])
    text.detach()


def render_fix_xlsx(results: Sequence[FixResult], run: dict[str, Any], stream: BinaryIO) -> None:
    import xlsxwriter

    book = xlsxwriter.Workbook(stream, {"in_memory": True})
    bold = book.add_format({"bold": True})
    header = book.add_format({"bold": True, "bg_color": "#D9E1F2", "border": 1})
    colours = {o: book.add_format({"bg_color": c}) for o, c in _COLOURS.items()}
    summary = summarize_results(results)
    sheet = book.add_worksheet("Summary")
    sheet.set_column(0, 0, 40)
    sheet.set_column(1, 4, 14)
    sheet.write_string(0, 0, "auditor fix", bold)
    row = 2
    facts = [
        ("Source report", str(run.get("source", ""))),
        ("Started", str(run.get("started_at", ""))),
        ("Finished", str(run.get("finished_at", ""))),
        ("Complete", "yes" if run.get("complete") else "NO (interrupted)"),
        ("Planned", str(run.get("planned", ""))),
        ("APM access key (masked)", str(run.get("apm_ak", ""))),
    ]
    for label, value in facts:
        sheet.write_string(row, 0, label, bold)
        sheet.write_string(row, 1, value)
        row += 1
    row += 1
    sheet.write_row(row, 0, ["outcome", "functions"], header)
    for outcome, count in summary["by_outcome"].items():
        row += 1
        sheet.write_string(row, 0, outcome, colours[FixOutcome(outcome)])
        sheet.write_number(row, 1, count)
    row += 2
    outcomes = [o.value for o in FixOutcome]
    sheet.write_row(row, 0, ["project", *outcomes], header)
    for project, counts in summary["by_project"].items():
        row += 1
        sheet.write_string(row, 0, project)
        for column, outcome in enumerate(outcomes, start=1):
            sheet.write_number(row, column, counts.get(outcome, 0))
    table = book.add_worksheet("Results")
    table.write_row(0, 0, list(RESULT_COLUMNS), header)
    widths = [len(name) for name in RESULT_COLUMNS]
    outcome_column = RESULT_COLUMNS.index("outcome")
    for number, result in enumerate(results, start=1):
        for column, value in enumerate(_record(result).values()):
            cell = _cell(value)
            style = colours[result.outcome] if column == outcome_column else None
            if isinstance(cell, int):
                table.write_number(number, column, cell, style)
            else:
                table.write_string(number, column, str(cell), style)
            widths[column] = max(widths[column], min(60, len(str(cell))))
    for column, width in enumerate(widths):
        table.set_column(column, column, width + 2)
    table.freeze_panes(1, 0)
    table.autofilter(0, 0, max(1, len(results)), len(RESULT_COLUMNS) - 1)
    book.close()


FIX_RENDERERS = {"json": render_fix_json, "csv": render_fix_csv, "xlsx": render_fix_xlsx}


def _record(result: FixResult) -> dict[str, Any]:
    record = dataclasses.asdict(result)
    record["outcome"] = result.outcome.value
    return record


def _cell(value: object) -> object:
    return "" if value is None else value
