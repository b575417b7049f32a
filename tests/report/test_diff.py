"""Tests for auditor/diff.py: two reports compared offline, as `auditor diff` does."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from auditor.errors import InputError
from auditor.model import Change, Row, Status
from auditor.report.diff import diff_reports
from auditor.report.rebuild import load_source
from auditor.report.tables import ReportDocument, summarize
from auditor.report.writers import write_reports
from auditor.store.journal import Journal
from auditor.verdict.exemptions import Exemption, Exemptions
from tests.factories import make_row
from tests.report_schema import validate_report

S = Status


def report(tmp: Path, name: str, rows: list[Row]) -> Path:
    run = {"started_at": "2024-05-06T07:08:09Z", "complete": True}
    write_reports(ReportDocument(rows, summarize(rows), run), tmp, name, ["json"])
    return tmp / f"{name}.json"


def test_the_later_rows_are_marked_and_regressions_fail(tmp_path: Path) -> None:
    old = report(
        tmp_path, "old", [make_row(0), make_row(1, S.MISSING_KEYS), make_row(2), make_row(3)]
    )
    new = report(
        tmp_path,
        "new",
        [make_row(0, S.MISSING_KEYS), make_row(1), make_row(2), make_row(4)],
    )
    result = diff_reports(old, new)
    assert [r.change for r in result.document.rows] == ["regressed", "fixed", "unchanged", "new"]
    assert result.comparison.counts == {
        "new": 1,
        "fixed": 1,
        "regressed": 1,
        "unchanged": 1,
        "gone": 1,
    }
    assert result.failing == 1  # only the regression, by default
    assert result.document.summary.changes == result.comparison.counts
    assert result.name == "new"


def test_fail_on_names_statuses_and_changes(tmp_path: Path) -> None:
    old = report(tmp_path, "old", [make_row(0), make_row(1)])
    new = report(tmp_path, "new", [make_row(0), make_row(1, S.ERROR)])
    statuses = diff_reports(old, new, fail_on=frozenset({S.ERROR}), fail_on_changes=frozenset())
    assert statuses.failing == 1
    gone = diff_reports(
        old, report(tmp_path, "one", [make_row(0)]), fail_on_changes=frozenset({Change.GONE})
    )
    assert gone.failing == 1


def test_exemptions_given_now_replace_the_later_runs_own(tmp_path: Path) -> None:
    old = report(tmp_path, "old", [make_row(0), make_row(1)])
    earlier_exempt = make_row(1, S.MISSING_KEYS, exempt=True, exempt_reason="old reason")
    new = report(tmp_path, "new", [make_row(0, S.MISSING_KEYS), earlier_exempt])
    entry = Exemption(make_row(0).urn, "accepted risk", "ops", date(2030, 1, 1), 1)
    result = diff_reports(
        old, new, exemptions=Exemptions("ex.toml", (entry,)), today=date(2026, 1, 1)
    )
    marks = [(r.exempt, r.exempt_reason) for r in result.document.rows]
    assert marks == [(True, "accepted risk (owner: ops; until 2030-01-01)"), (False, "")]
    assert result.failing == 1  # row 1 regressed and is no longer exempt
    assert result.document.summary.exempt == 1


def test_a_journal_as_the_later_run_is_refused(tmp_path: Path) -> None:
    old = report(tmp_path, "old", [make_row(0)])
    journal = tmp_path / "new.journal.jsonl"
    with Journal(journal, {"name": "new", "targets": 1}) as writer:
        writer.record(0, make_row(0))
    with pytest.raises(InputError, match="is a journal") as caught:
        diff_reports(old, journal)
    assert "\n" not in str(caught.value)


def test_a_diff_of_a_report_rebuilt_from_a_journal_is_a_valid_report(tmp_path: Path) -> None:
    old = report(tmp_path, "old", [make_row(0), make_row(1)])
    journal = tmp_path / "new.journal.jsonl"
    with Journal(journal, {"name": "new", "targets": 2, "started_at": ""}) as writer:
        writer.record(0, make_row(0, S.MISSING_KEYS))
        writer.record(1, make_row(1))
    rebuilt = load_source(journal)
    write_reports(rebuilt.document, tmp_path, "rebuilt", ["json"])
    result = diff_reports(old, tmp_path / "rebuilt.json")
    write_reports(result.document, tmp_path, "diffed", ["json"])
    document = json.loads((tmp_path / "diffed.json").read_text())
    validate_report(document)
    assert document["summary"]["changes"]["regressed"] == 1
    assert document["run"]["changes"]["baseline"] == str(old)


def test_a_missing_old_report_is_named_as_the_diffs_old_side(tmp_path: Path) -> None:
    new = report(tmp_path, "new", [make_row(0)])
    with pytest.raises(InputError) as caught:
        diff_reports(tmp_path / "missing.json", new)
    assert str(caught.value) == f"diff OLD {tmp_path / 'missing.json'}: no such file"
