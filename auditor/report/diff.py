"""`auditor diff`: compare two JSON reports without calling the API.

The later report's rows get their `change` against the earlier one (and, if exemptions are
given, their `exempt` flag afresh), exactly as `audit --baseline` would have marked them.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path

from auditor.errors import InputError
from auditor.model import Change, Status
from auditor.report.rebuild import load_source
from auditor.report.tables import ReportDocument
from auditor.store.report_file import load_baseline
from auditor.verdict.baseline import Comparison
from auditor.verdict.exemptions import ExemptionReport, Exemptions
from auditor.verdict.marking import Criteria, mark_rows


@dataclass(frozen=True)
class DiffResult:
    """The later report, marked, and what marking it found."""

    name: str
    document: ReportDocument
    comparison: Comparison
    exemptions: ExemptionReport | None
    failing: int


def diff_reports(
    old: Path,
    new: Path,
    *,
    exemptions: Exemptions | None = None,
    today: date | None = None,
    fail_on: frozenset[Status] = frozenset(),
    fail_on_changes: frozenset[Change] = frozenset({Change.REGRESSED}),
) -> DiffResult:
    """Mark `new`'s rows against `old`; nothing is sent anywhere."""
    baseline = load_baseline(old, label="diff OLD")
    later = load_source(new)
    if later.kind != "report":
        raise InputError(f"{new}: is a journal; give the <name>.json report of the later run")
    rows = list(later.document.rows)
    if exemptions is not None:
        # The later run's own exemptions give way to the ones given now.
        rows = [replace(r, exempt=False, exempt_reason="") if r.exempt else r for r in rows]
    rows, verdict = mark_rows(rows, Criteria(baseline, exemptions, today), fail_on, fail_on_changes)
    comparison, exempted, summary = verdict.comparison, verdict.exemptions, verdict.summary
    assert comparison is not None  # a baseline was given
    run = dict(later.document.run)
    run["changes"] = comparison.as_run_dict()
    if exempted is not None:
        run["exemptions"] = exempted.as_run_dict()
    if exempted is None and "exemptions" in run:
        summary = replace(summary, exempt=sum(1 for r in rows if r.exempt))
    document = ReportDocument(rows, summary, run, comparison, exempted)
    return DiffResult(later.name, document, comparison, exempted, verdict.failing)
