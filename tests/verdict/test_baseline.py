"""Comparing a run with a baseline report (auditor/baseline.py): the change rules, `compare`,
and reading a baseline, whose every problem is one line naming the file."""

from __future__ import annotations

import io
import json
import random
from array import array
from pathlib import Path
from typing import Any

import pytest

from auditor.errors import InputError
from auditor.model import Change, Row, Status, Target
from auditor.report.json_render import render_json
from auditor.report.tables import ReportDocument, summarize
from auditor.store import report_file as report_file_module
from auditor.store.journal import Journal, JournalRows
from auditor.store.report_file import load_baseline
from auditor.verdict.baseline import (
    Baseline,
    ChangeCounter,
    ChangeEntry,
    change_of,
    compare,
)
from auditor.verdict.rows import invalid_row, to_record
from tests.factories import PROJECT, make_row

C, M, NF, AF, T, E, IU = (
    Status.CONFIGURED,
    Status.MISSING_KEYS,
    Status.FUNCTION_NOT_FOUND,
    Status.AUTH_FAILED,
    Status.THROTTLED,
    Status.ERROR,
    Status.INVALID_URN,
)
P2 = "22222222222222222222222222222222"

# -- change_of -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("previous", "current", "change"),
    [
        (None, C, Change.NEW),
        (None, M, Change.NEW),
        (None, IU, Change.NEW),
        (C, None, Change.GONE),
        (M, None, Change.GONE),
        (C, NF, Change.GONE),
        (M, NF, Change.GONE),
        (E, NF, Change.GONE),
        (NF, NF, Change.UNCHANGED),
        (M, C, Change.FIXED),
        (E, C, Change.FIXED),
        (AF, C, Change.FIXED),
        (NF, C, Change.FIXED),  # deleted, then back and configured
        (C, M, Change.REGRESSED),
        (C, E, Change.REGRESSED),  # fails closed: an error cannot confirm the keys
        (C, AF, Change.REGRESSED),
        (C, T, Change.REGRESSED),
        (C, IU, Change.REGRESSED),
        (C, C, Change.UNCHANGED),
        (M, M, Change.UNCHANGED),
        (M, E, Change.UNCHANGED),
        (E, M, Change.UNCHANGED),
        (AF, T, Change.UNCHANGED),
        (NF, M, Change.UNCHANGED),
        (IU, IU, Change.UNCHANGED),
    ],
)
def test_change_of(previous: Status | None, current: Status | None, change: Change) -> None:
    assert change_of(previous, current) is change


@pytest.mark.parametrize("previous", [None, *Status])
@pytest.mark.parametrize("current", [None, *Status])
def test_change_rules_hold_for_every_pair(previous: Status | None, current: Status | None) -> None:
    change = change_of(previous, current)
    assert (change is Change.NEW) == (previous is None)
    if previous is None:
        return
    gone = current is None or (current is NF and previous is not NF)
    assert (change is Change.GONE) == gone
    assert (change is Change.FIXED) == (not gone and previous is not C and current is C)
    assert (change is Change.REGRESSED) == (not gone and previous is C and current is not C)


def test_the_docstring_states_every_rule() -> None:
    doc = change_of.__doc__ or ""
    for word in ("new", "gone", "fixed", "regressed", "unchanged", "function_not_found"):
        assert f"`{word}`" in doc


# -- compare ---------------------------------------------------------------------------------


def make_baseline(
    statuses: dict[str, Status], places: dict[str, tuple[str, str]] | None = None
) -> Baseline:
    return Baseline("old.json", "2024-05-01T00:00:00Z", statuses, places or {})


def urn(n: int, project: str = PROJECT, region: str = "cn-north-4") -> str:
    return make_row(n, project=project, region=region).urn


def test_compare_sets_each_rows_change_and_counts_every_category() -> None:
    rows = [
        make_row(0, C),  # unchanged
        make_row(1, C),  # fixed
        make_row(2, E),  # regressed
        make_row(3, NF),  # gone (deleted)
        make_row(4, M),  # new
        make_row(5, E),  # unchanged (missing_keys then)
    ]
    base = make_baseline(
        {urn(0): C, urn(1): M, urn(2): C, urn(3): C, urn(5): M, urn(9): M, urn(8): C},
        {urn(9): ("ap-southeast-1", P2), urn(8): ("cn-north-4", PROJECT)},
    )
    marked, comparison = compare(base, rows)
    assert [r.change for r in marked] == [
        "unchanged",
        "fixed",
        "regressed",
        "gone",
        "new",
        "unchanged",
    ]
    # Nothing else about a row changes; the input is left alone.
    assert [r.status for r in marked] == [r.status for r in rows]
    assert all(r.change == "" for r in rows)
    assert comparison.counts == {
        "new": 1,
        "fixed": 1,
        "regressed": 1,
        "unchanged": 2,
        "gone": 3,
    }
    assert list(comparison.counts) == [c.value for c in Change]
    assert comparison.baseline == "old.json"
    assert comparison.baseline_started_at == "2024-05-01T00:00:00Z"
    # Current rows in order, then URNs this run did not audit, in baseline order.
    assert comparison.entries == [
        ChangeEntry(urn(1), Change.FIXED, M, C, "cn-north-4", PROJECT),
        ChangeEntry(urn(2), Change.REGRESSED, C, E, "cn-north-4", PROJECT),
        ChangeEntry(urn(3), Change.GONE, C, NF, "cn-north-4", PROJECT),
        ChangeEntry(urn(4), Change.NEW, None, M, "cn-north-4", PROJECT),
        ChangeEntry(urn(9), Change.GONE, M, None, "ap-southeast-1", P2),
        ChangeEntry(urn(8), Change.GONE, C, None, "cn-north-4", PROJECT),
    ]


def test_counts_include_zeros() -> None:
    _, comparison = compare(make_baseline({}), [])
    assert comparison.counts == dict.fromkeys([c.value for c in Change], 0)
    assert comparison.entries == []


def test_first_run_against_an_empty_baseline_is_all_new() -> None:
    rows = [make_row(n, C if n % 2 else M) for n in range(4)]
    marked, comparison = compare(make_baseline({}), rows)
    assert {r.change for r in marked} == {"new"}
    assert comparison.counts["new"] == 4


def test_urns_match_by_exact_text() -> None:
    versioned = make_row(0, M, urn=urn(0) + ":latest", qualifier="latest")
    marked, comparison = compare(make_baseline({urn(0): C}), [versioned])
    assert marked[0].change == "new"
    assert comparison.counts["gone"] == 1
    upper = make_row(1, M, urn=urn(1).upper())
    marked, _ = compare(make_baseline({urn(1): M}), [upper])
    assert marked[0].change == "new"


def test_invalid_urn_rows_compare_by_their_text() -> None:
    row = invalid_row(Target("not a urn", None, "in.txt:1", invalid_reason="not a URN"))
    marked, comparison = compare(make_baseline({"not a urn": IU, "gone text": IU}), [row])
    assert marked[0].change == "unchanged"
    gone = comparison.entries[0]
    assert (gone.urn, gone.change, gone.region, gone.project_id) == ("gone text", "gone", "", "")


def test_a_urn_in_two_rows_is_counted_and_listed_once() -> None:
    rows = [make_row(0, M), make_row(0, M, source="b.txt:1")]
    marked, comparison = compare(make_baseline({urn(0): C}), rows)
    assert [r.change for r in marked] == ["regressed", "regressed"]
    assert comparison.counts["regressed"] == 1
    assert len(comparison.entries) == 1


def test_no_duplicate_entries_when_urns_are_distinct() -> None:
    rows = [make_row(n, E) for n in range(50)]
    base = make_baseline({urn(n): C for n in range(60)})
    _, comparison = compare(base, rows)
    urns = [e.urn for e in comparison.entries]
    assert len(urns) == len(set(urns)) == 60
    assert comparison.counts["regressed"] == 50
    assert comparison.counts["gone"] == 10


def test_as_run_dict_is_json_ready_and_lists_the_gone() -> None:
    base = make_baseline(
        {urn(0): C, urn(1): M, urn(2): E}, {urn(1): ("cn-north-4", PROJECT), urn(2): ("", "")}
    )
    _, comparison = compare(base, [make_row(0, NF)])
    run = comparison.as_run_dict()
    assert json.loads(json.dumps(run)) == run
    assert run == {
        "baseline": "old.json",
        "baseline_started_at": "2024-05-01T00:00:00Z",
        "counts": {"new": 0, "fixed": 0, "regressed": 0, "unchanged": 0, "gone": 3},
        "gone": [
            {
                "urn": urn(0),
                "region": "cn-north-4",
                "project_id": PROJECT,
                "previous_status": "configured",
            },
            {
                "urn": urn(1),
                "region": "cn-north-4",
                "project_id": PROJECT,
                "previous_status": "missing_keys",
            },
            {"urn": urn(2), "region": "", "project_id": "", "previous_status": "error"},
        ],
    }


# -- ChangeCounter ---------------------------------------------------------------------------

COUNTED_ROWS = [make_row(n, [C, M, E, NF][n % 4]) for n in range(30)]
COUNTED_BASE = make_baseline(
    {urn(n): [C, M][n % 3 % 2] for n in range(0, 40, 3)},
    {urn(n): ("cn-north-4", PROJECT) for n in range(0, 40, 3)},
)


@pytest.mark.parametrize("seed", range(5))
def test_change_counter_in_any_order_compares_as_in_order(seed: int) -> None:
    order = list(enumerate(COUNTED_ROWS))
    random.Random(seed).shuffle(order)
    counter = ChangeCounter(COUNTED_BASE)
    marked = {index: counter.add(index, row) for index, row in order}
    comparison = counter.finish()
    expected_rows, expected = compare(COUNTED_BASE, COUNTED_ROWS)
    assert [marked[index] for index in range(len(COUNTED_ROWS))] == expected_rows
    assert comparison == expected
    # This run's entries in index order, then the gone URNs in baseline order.
    ours = [e.urn for e in comparison.entries if e.current is not None]
    assert ours == [r.urn for r in expected_rows if r.change != "unchanged"]
    gone = [e.urn for e in comparison.entries if e.current is None]
    assert gone == [u for u in COUNTED_BASE.statuses if u not in {r.urn for r in COUNTED_ROWS}]
    assert all(e.current is not None for e in comparison.entries[: len(ours)])


def test_change_counter_mark_counts_nothing_and_agrees_with_add() -> None:
    counter = ChangeCounter(COUNTED_BASE)
    marked = [counter.mark(row) for row in COUNTED_ROWS]
    untouched = counter.finish()
    assert untouched.counts["gone"] == len(COUNTED_BASE.statuses)  # no row was counted
    assert sum(untouched.counts.values()) == len(COUNTED_BASE.statuses)
    verdict = [counter.add(index, row) for index, row in enumerate(COUNTED_ROWS)]
    assert marked == verdict
    assert [counter.mark(row) for row in COUNTED_ROWS] == verdict
    assert counter.finish() == compare(COUNTED_BASE, COUNTED_ROWS)[1]


# -- load_baseline ---------------------------------------------------------------------------


def report_bytes(rows: list[Row], run: dict[str, Any] | None = None) -> bytes:
    stream = io.BytesIO()
    run = {"started_at": "2024-05-01T00:00:00Z", "complete": True} if run is None else run
    render_json(ReportDocument(rows, summarize(rows), run), stream)
    return stream.getvalue()


BASE_ROWS = [
    make_row(0, C),
    make_row(1, M, P2, region="ap-southeast-1"),
    invalid_row(Target("junk", None, "in.txt:3", invalid_reason="not a URN")),
    make_row(3, NF),
]


def check(baseline: Baseline, path: Path) -> None:
    assert baseline.source == str(path)
    assert baseline.started_at == "2024-05-01T00:00:00Z"
    other = urn(1, P2, "ap-southeast-1")
    assert dict(baseline.statuses) == {urn(0): C, other: M, "junk": IU, urn(3): NF}
    assert baseline.places[urn(0)] == ("cn-north-4", PROJECT)
    assert baseline.places[other] == ("ap-southeast-1", P2)
    assert baseline.places["junk"] == ("", "")


def test_loads_an_auditor_report_a_row_at_a_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "old.json"
    path.write_bytes(report_bytes(BASE_ROWS))

    def whole(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("auditor's own layout is streamed, never loaded whole")

    monkeypatch.setattr(report_file_module.json, "load", whole)
    check(load_baseline(path), path)


def test_places_are_shared_not_copied_per_urn(tmp_path: Path) -> None:
    path = tmp_path / "old.json"
    path.write_bytes(report_bytes([make_row(n, M) for n in range(20)]))
    places = load_baseline(path).places
    assert len({id(p) for p in places.values()}) == 1


@pytest.mark.parametrize("indent", [None, 4, "\t"])
def test_loads_a_compact_or_reindented_report(tmp_path: Path, indent: Any) -> None:
    report = json.loads(report_bytes(BASE_ROWS))
    path = tmp_path / "old.json"
    path.write_text(json.dumps(report, indent=indent), encoding="utf-8")
    check(load_baseline(path), path)


def test_loads_a_report_with_a_bom_and_crlf(tmp_path: Path) -> None:
    path = tmp_path / "old.json"
    path.write_bytes(b"\xef\xbb\xbf" + report_bytes(BASE_ROWS).replace(b"\n", b"\r\n"))
    check(load_baseline(path), path)


def test_loads_an_older_report_without_the_new_columns(tmp_path: Path) -> None:
    report = json.loads(report_bytes(BASE_ROWS))
    for record in report["results"]:
        for key in ("runtime", "memory_size", "tracing_supported", "change", "exempt"):
            record.pop(key)
        record.pop("exempt_reason")
    path = tmp_path / "old.json"
    path.write_text(json.dumps(report, indent=2), encoding="utf-8")
    check(load_baseline(path), path)


def test_an_empty_report_is_an_empty_baseline(tmp_path: Path) -> None:
    path = tmp_path / "old.json"
    path.write_bytes(report_bytes([], run={}))
    loaded = load_baseline(path)
    assert dict(loaded.statuses) == {}
    assert loaded.started_at == ""


def test_a_urn_listed_twice_keeps_its_first_row(tmp_path: Path) -> None:
    path = tmp_path / "old.json"
    path.write_bytes(report_bytes([make_row(0, C), make_row(0, M)]))
    assert dict(load_baseline(path).statuses) == {urn(0): C}


def auditor_report(results: list[Any], **head: Any) -> str:
    return json.dumps({"schema_version": 1, "run": {}, "summary": {}, **head, "results": results})


SECRET = "MIIplanted-secret-0123456789abcdef"
ROW = to_record(make_row(0))


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "not valid JSON"),
        ("{not json", "not valid JSON"),
        ("[1, 2]", "not an auditor JSON report (not a JSON object)"),
        ('{"urns": []}', "not an auditor JSON report (no results list)"),
        ('{"results": {}}', "not an auditor JSON report (no results list)"),
        ('{"results": []}', "not an auditor JSON report (no schema_version and run)"),
        (auditor_report([], run=[]), "not an auditor JSON report (no schema_version and run)"),
        (auditor_report([], schema_version=2), "schema_version 2 is not supported"),
        (auditor_report([], schema_version=SECRET), "schema_version unknown is not supported"),
        (auditor_report([[1]]), "results[0] is not a report row"),
        (auditor_report([ROW, {**ROW, "urn": ""}]), "results[1] has no urn"),
        (auditor_report([{k: v for k, v in ROW.items() if k != "urn"}]), "results[0] has no urn"),
        (auditor_report([{**ROW, "urn": 7}]), "results[0] has no urn"),
        (
            auditor_report([{k: v for k, v in ROW.items() if k != "status"}]),
            "results[0] has no status",
        ),
        (auditor_report([{**ROW, "status": SECRET}]), "results[0] has an unknown status"),
        (auditor_report([{**ROW, "status": ["x"]}]), "results[0] has an unknown status"),
        ('{"journal": 1, "name": "x"}\n{"i": 0}\n', "is a run journal, not a report"),
        ("[" * 100_000, "not"),
    ],
)
def test_every_problem_is_one_line_naming_the_file(
    tmp_path: Path, content: str, message: str
) -> None:
    path = tmp_path / "old.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(InputError) as raised:
        load_baseline(path)
    text = str(raised.value)
    assert text.startswith(f"--baseline {path}: ")
    assert message in text
    assert "\n" not in text
    assert SECRET not in text
    assert len(text) < 300


def test_a_row_problem_in_auditor_layout_names_the_row(tmp_path: Path) -> None:
    data = report_bytes([make_row(0), make_row(1), make_row(2)])
    path = tmp_path / "old.json"
    path.write_bytes(data.replace(b'"status":"configured"', b'"status":"weird"', 2))
    with pytest.raises(InputError, match=r"results\[0\] has an unknown status"):
        load_baseline(path)


def test_a_truncated_report_is_not_valid_json(tmp_path: Path) -> None:
    data = report_bytes([make_row(n) for n in range(5)])
    path = tmp_path / "old.json"
    path.write_bytes(data[: data.rindex(b"]")])  # killed while writing: no closing lines
    with pytest.raises(InputError, match="not valid JSON"):
        load_baseline(path)


@pytest.mark.parametrize("name", ["run.journal.jsonl", "run.jsonl"])
def test_a_journal_is_refused_by_its_name_with_what_to_pass(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_text('{"journal": 1}\n', encoding="utf-8")
    with pytest.raises(InputError) as raised:
        load_baseline(path)
    text = str(raised.value)
    assert text.startswith(f"--baseline {path}: is a run journal")
    assert "pass the JSON report (run.json)" in text
    assert "auditor report" in text


def test_missing_directory_binary_and_unreadable(tmp_path: Path) -> None:
    cases = {
        tmp_path / "absent.json": "no such file",
        tmp_path: "is a directory",
    }
    binary = tmp_path / "binary.json"
    binary.write_bytes(b"\xff\xfe\x00garbage\x80")
    cases[binary] = "is not UTF-8 text"
    for path, message in cases.items():
        with pytest.raises(InputError) as raised:
            load_baseline(path)
        text = str(raised.value)
        assert text.startswith(f"--baseline {path}: {message}"), text
        assert "\n" not in text


def test_a_baseline_round_trips_through_compare(tmp_path: Path) -> None:
    path = tmp_path / "old.json"
    path.write_bytes(report_bytes([make_row(0, C), make_row(1, M), make_row(2, C)]))
    rows = [make_row(0, E), make_row(1, C), make_row(3, M)]
    marked, comparison = compare(load_baseline(path), rows)
    assert [r.change for r in marked] == ["regressed", "fixed", "new"]
    assert comparison.counts == {"new": 1, "fixed": 1, "regressed": 1, "unchanged": 0, "gone": 1}
    assert comparison.as_run_dict()["gone"][0]["urn"] == urn(2)


def test_a_report_written_from_the_journal_loads_as_a_baseline_streamed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = [*BASE_ROWS, make_row(4, E, error_msg="función 函数 \u2028 ]", http_status=None)]
    journal = tmp_path / "run.journal.jsonl"
    offsets = array("q", [-1]) * len(rows)
    with Journal(journal, {"name": "run"}) as writer:
        for index in (4, 2, 0, 3, 1):
            offsets[index] = writer.record(index, rows[index])
        raw_from = writer.opened_at
    stream = io.BytesIO()
    run = {"started_at": "2024-05-01T00:00:00Z"}
    journal_rows = JournalRows(journal, offsets, raw_from=raw_from)
    render_json(ReportDocument(journal_rows, summarize(rows), run), stream)
    assert stream.getvalue() == report_bytes(rows, run)
    path = tmp_path / "old.json"
    path.write_bytes(stream.getvalue())

    def whole(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a report auditor writes is streamed, never loaded whole")

    monkeypatch.setattr(report_file_module, "_whole", whole)
    loaded = load_baseline(path)
    assert loaded.started_at == "2024-05-01T00:00:00Z"
    assert dict(loaded.statuses) == {row.urn: row.status for row in rows}
    assert loaded.places == {row.urn: (row.region, row.project_id) for row in rows}
