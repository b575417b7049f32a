"""The JSON report's schema (auditor/schema/report.schema.json) against real reports.

Every kind of run the tool can have writes a report that must validate: the demo, an audit of
the emulator, one with refused credentials and 429s, an interrupted one, its resumption and a
report rebuilt from a journal. And the schema must refuse what the tool never writes.
"""

from __future__ import annotations

import copy
import json
import signal
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from auditor.emulator import Fleet
from auditor.model import COLUMNS, Status
from auditor.schema import REPORT_SCHEMA, load_report_schema
from tests.conftest import EmulatorProcess, run_cli, start_emulator
from tests.report_schema import report_validator, schema_errors, validate_report
from tests.send.test_resilience import start_audit, wait_for_journal_lines

ROOT = Path(__file__).resolve().parents[2]
FUNCTIONS, SEED = 900, 41
REFUSING = Fleet.generate(FUNCTIONS, seed=SEED).project_ids[2]


def read(path: Path) -> dict[str, Any]:
    report: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return report


def audit_args(emulator: EmulatorProcess, out: Path, *extra: str) -> list[str]:
    return [
        "audit",
        str(emulator.urns_file),
        "--endpoint",
        emulator.url,
        "-o",
        str(out),
        "--name",
        "run",
        "-q",
        *extra,
    ]


@pytest.fixture(scope="module")
def audited(emulator: EmulatorProcess, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A plain audit of the shared 600-function emulator."""
    out = tmp_path_factory.mktemp("plain")
    result = run_cli(
        *audit_args(emulator, out, "--rate", "0", "--retries", "1"),
        env={"AUDITOR_TOKEN": emulator.token},
    )
    assert result.returncode == 1, result.stderr
    return read(out / "run.json")


def refusing_emulator(factory: pytest.TempPathFactory, *extra: str) -> Iterator[EmulatorProcess]:
    process, info = start_emulator(
        factory.mktemp("refusing"),
        functions=FUNCTIONS,
        seed=SEED,
        extra=("--reject-project", REFUSING, *extra),
    )
    yield info
    process.stop()


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorProcess]:
    """One project refuses every credential; a few answers are 429 with `Retry-After: 0`."""
    yield from refusing_emulator(
        tmp_path_factory, "--fault", "fss_429_retry_after=0.03", "--retry-after", "0"
    )


@pytest.fixture(scope="module")
def slow(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorProcess]:
    """One project refuses every credential; 20-40 ms answers, so a run can be interrupted."""
    yield from refusing_emulator(tmp_path_factory, "--latency-ms", "20", "40")


# --- the schema itself ----------------------------------------------------------------------


def test_the_schema_is_draft_2020_12_and_shipped() -> None:
    schema = load_report_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    report_validator()  # checks the schema against the meta-schema
    assert load_report_schema() is not schema  # a fresh copy each time
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert REPORT_SCHEMA in pyproject["tool"]["setuptools"]["package-data"]["auditor.schema"]


def test_rows_have_exactly_the_columns_and_statuses_of_the_model() -> None:
    schema = load_report_schema()
    row = schema["$defs"]["row"]
    assert list(row["properties"]) == list(COLUMNS)
    # Columns added after schema version 1 was published are optional, so older reports
    # still validate; every report auditor writes now has them all.
    added_later = ["account", "first_seen", "failing_since", "days_failing"]
    assert row["required"] == [c for c in COLUMNS if c not in added_later]
    assert row["additionalProperties"] is False
    assert schema["$defs"]["status"]["enum"] == [s.value for s in Status]


# --- real reports validate ------------------------------------------------------------------


@pytest.mark.e2e
def test_demo_report(tmp_path: Path) -> None:
    result = run_cli("demo", "--functions", "300", "-o", str(tmp_path), "-q")
    assert result.returncode == 0, result.stderr
    (path,) = tmp_path.glob("demo-*.json")
    report = read(path)
    validate_report(report)
    assert report["summary"]["by_status"]["invalid_urn"] == 1


@pytest.mark.e2e
def test_audit_report(audited: dict[str, Any]) -> None:
    validate_report(audited)
    assert audited["run"]["complete"] is True


@pytest.mark.e2e
def test_report_with_refused_credentials_and_429s(hostile: EmulatorProcess, tmp_path: Path) -> None:
    result = run_cli(
        *audit_args(hostile, tmp_path, "--rate", "1000", "--retries", "1"),
        env={"AUDITOR_TOKEN": hostile.token},
    )
    assert result.returncode == 1, result.stderr
    report = read(tmp_path / "run.json")
    validate_report(report)
    run = report["run"]
    assert run["credential_breakers"] == [f"project {REFUSING}"]
    assert run["preflight"][REFUSING].startswith("refused")
    assert run["skipped_for_credentials"] > 0
    # What the rate controller saw and learned, per credential scope and endpoint: the one
    # token's requests to the emulator, under the --rate ceiling, with the injected 429s.
    throttling = run["throttling"]
    assert throttling["ceiling"] == 1000
    (scope,) = throttling["scopes"]
    assert (scope["scope"], scope["endpoint"]) == ("token", hostile.url)
    assert scope["responses_429"] > 0 and scope["requests"] > scope["responses_429"]
    assert scope["rate_at_end"] is not None  # paced under the ceiling
    assert "auth_failed" in report["summary"]["by_status"]


@pytest.mark.e2e
def test_interrupted_resumed_and_rebuilt_reports(slow: EmulatorProcess, tmp_path: Path) -> None:
    process = start_audit(slow, tmp_path, "cut")
    journal = tmp_path / "cut.journal.jsonl"
    wait_for_journal_lines(journal, 150)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == 143, stderr
    partial = read(tmp_path / "cut.json")
    validate_report(partial)
    assert partial["run"]["complete"] is False and partial["run"]["not_audited"]

    result = run_cli("report", str(journal), "-o", str(tmp_path / "rebuilt"), "-q")
    assert result.returncode == 0, result.stderr
    rebuilt = read(tmp_path / "rebuilt" / "cut.json")
    validate_report(rebuilt)
    assert rebuilt["run"]["complete"] is False
    assert rebuilt["results"] == partial["results"]
    assert rebuilt["run"]["not_audited_count"] == len(partial["run"]["not_audited"])

    result = run_cli(
        "audit",
        str(slow.urns_file),
        "--endpoint",
        slow.url,
        "--resume",
        str(journal),
        "--rate",
        "0",
        "--retries",
        "1",
        "-q",
        env={"AUDITOR_TOKEN": slow.token},
    )
    assert result.returncode == 1, result.stderr
    resumed = read(tmp_path / "cut.json")
    validate_report(resumed)
    assert resumed["run"]["complete"] is True and resumed["run"]["resumed"]["rows_reused"] > 0


# --- what the tool never writes is refused --------------------------------------------------


def errors_after(report: dict[str, Any], change: Any) -> list[str]:
    broken = copy.deepcopy(report)
    change(broken)
    return schema_errors(broken)


def first_row(report: dict[str, Any], status: str) -> dict[str, Any]:
    row: dict[str, Any] = next(r for r in report["results"] if r["status"] == status)
    return row


REFUSALS: list[tuple[str, Any, str]] = [
    (
        "unknown column",
        lambda r: r["results"][0].update(tracing_sk="******"),
        "Additional properties are not allowed ('tracing_sk'",
    ),
    ("missing column", lambda r: r["results"][0].pop("source"), "'source' is a required"),
    ("bad status", lambda r: r["results"][0].update(status="ok"), "'ok' is not one of"),
    (
        "leaked AK",
        lambda r: first_row(r, "configured").update(tracing_ak="AKIAFULLVALUE0123456789"),
        "does not match",
    ),
    (
        "AK on a row that is not configured",
        lambda r: first_row(r, "missing_keys").update(tracing_ak="AKID****WXYZ"),
        "'' was expected",
    ),
    (
        "configured without an AK",
        lambda r: first_row(r, "configured").update(tracing_ak=""),
        "should be non-empty",
    ),
    (
        "HTTP status as text",
        lambda r: r["results"][0].update(http_status="200"),
        "is not of type 'integer', 'null'",
    ),
    ("negative attempts", lambda r: r["results"][0].update(attempts=-1), "less than the min"),
    ("float elapsed", lambda r: r["results"][0].update(elapsed_ms=1.5), "not of type 'int"),
    (
        "local time",
        lambda r: r["results"][0].update(checked_at="2024-05-06 07:08:09"),
        "results/0/checked_at",
    ),
    (
        "unknown status in the summary",
        lambda r: r["summary"]["by_status"].update(fine=1),
        "'fine' is not one of",
    ),
    (
        "unknown status by project",
        lambda r: next(iter(r["summary"]["by_project"].values())).update(fine=1),
        "'fine' is not one of",
    ),
    ("other schema version", lambda r: r.update(schema_version=2), "1 was expected"),
    ("extra top-level key", lambda r: r.update(extra=1), "Additional properties"),
    ("run without not_audited", lambda r: r["run"].pop("not_audited"), "not_audited"),
    ("throttling as a list", lambda r: r["run"].update(throttling=[]), "run/throttling"),
    (
        "negative 429 count",
        lambda r: r["run"]["throttling"]["scopes"][0].update(responses_429=-1),
        "run/throttling",
    ),
    (
        "throttling scope without the limit found",
        lambda r: r["run"]["throttling"]["scopes"][0].pop("limit_found"),
        "run/throttling",
    ),
    (
        "old and new throttling mixed",
        lambda r: r["run"]["throttling"].update(pauses={}),
        "Additional properties are not allowed ('pauses'",
    ),
]


@pytest.mark.e2e
@pytest.mark.parametrize(("label", "change", "complaint"), REFUSALS, ids=[r[0] for r in REFUSALS])
def test_the_schema_refuses(
    audited: dict[str, Any], label: str, change: Any, complaint: str
) -> None:
    errors = errors_after(audited, change)
    assert errors, label
    assert any(complaint in error for error in errors), errors


# --- run.throttling: the rate controller's shape, and the shape of older reports -----------

SCOPE_ROW: dict[str, Any] = {
    "scope": "access key",
    "endpoint": "https://functiongraph.cn-north-4.myhuaweicloud.com",
    "requests": 900,
    "responses_429": 41,
    "rate_cuts": 7,
    "unexplained_429": 3,
    "limit_found": 25.0,
    "rate_at_end": 24.5,
    "peak_rate": 50,
    "paced_wait_s": 12.5,
    "throttle_wait_s": 140.25,
}
THROTTLING: dict[str, Any] = {
    "ceiling": 50.0,
    "throttle_deadline_s": 300.0,
    "scopes": [SCOPE_ROW],
    "suggested_rate": 25,
}


def throttling_validator() -> Draft202012Validator:
    """The schema of `run.throttling` alone: either shape it accepts."""
    schema = load_report_schema()
    return Draft202012Validator(
        {"$defs": schema["$defs"], "$ref": "#/$defs/auditRun/properties/throttling"}
    )


def throttling_complaints(throttling: Any) -> list[str]:
    """What the schema says of `run.throttling` read as the rate controller writes it (the
    first shape the schema offers), each as `path: message`."""
    complaints = []
    for error in throttling_validator().iter_errors(throttling):
        for sub in error.context or [error]:
            if not sub.relative_schema_path or sub.relative_schema_path[0] == 0:
                complaints.append(f"{'/'.join(map(str, sub.absolute_path))}: {sub.message}")
    return complaints


def test_run_throttling_as_the_rate_controller_writes_it() -> None:
    assert throttling_complaints(THROTTLING) == []
    never_limited = {**SCOPE_ROW, "responses_429": 0, "limit_found": None, "rate_at_end": None}
    unlimited = {"ceiling": None, "scopes": [never_limited], "suggested_rate": None}
    assert throttling_complaints({**THROTTLING, **unlimited}) == []
    assert throttling_complaints({**THROTTLING, "scopes": []}) == []


def test_run_throttling_of_a_report_before_the_rate_controller() -> None:
    url = SCOPE_ROW["endpoint"]
    old = {"responses_429": {url: 41}, "pauses": {url: 7}, "effective_rate": {url: 25.0}}
    validator = throttling_validator()
    assert validator.is_valid(old)
    assert not validator.is_valid({**old, "effective_rate": {url: -1.0}})
    assert not validator.is_valid({k: v for k, v in old.items() if k != "pauses"})
    assert not validator.is_valid({**old, "ceiling": 50.0})  # no mixing of the shapes


def with_scope(**changes: Any) -> dict[str, Any]:
    return {**THROTTLING, "scopes": [{**SCOPE_ROW, **changes}]}


def without_in_scope(key: str) -> dict[str, Any]:
    row = {k: v for k, v in SCOPE_ROW.items() if k != key}
    return {**THROTTLING, "scopes": [row]}


THROTTLING_REFUSALS: list[tuple[str, dict[str, Any], str]] = [
    (
        "negative count",
        with_scope(responses_429=-1),
        "scopes/0/responses_429: -1 is less than the minimum",
    ),
    ("fractional count", with_scope(rate_cuts=1.5), "scopes/0/rate_cuts: 1.5 is not of type"),
    (
        "no limit found",
        without_in_scope("limit_found"),
        "scopes/0: 'limit_found' is a required property",
    ),
    ("no scope", without_in_scope("scope"), "scopes/0: 'scope' is a required property"),
    (
        "pauses per scope",
        with_scope(pauses=7),
        "scopes/0: Additional properties are not allowed ('pauses'",
    ),
    ("zero ceiling", {**THROTTLING, "ceiling": 0}, "ceiling: 0 is less than or equal to"),
    ("fractional suggestion", {**THROTTLING, "suggested_rate": 2.5}, "suggested_rate: 2.5 is not"),
    (
        "old pauses beside the scopes",
        {**THROTTLING, "pauses": {}},
        ": Additional properties are not allowed ('pauses'",
    ),
    (
        "no suggestion",
        {k: v for k, v in THROTTLING.items() if k != "suggested_rate"},
        ": 'suggested_rate' is a required property",
    ),
]


@pytest.mark.parametrize(
    ("label", "throttling", "complaint"),
    THROTTLING_REFUSALS,
    ids=[r[0] for r in THROTTLING_REFUSALS],
)
def test_run_throttling_refuses(label: str, throttling: dict[str, Any], complaint: str) -> None:
    complaints = throttling_complaints(throttling)
    assert any(complaint in c for c in complaints), (label, complaints)


def test_an_invalid_urn_row_is_never_sent() -> None:
    report = {
        "schema_version": 1,
        "tool": {"name": "auditor", "version": "0"},
        "run": {
            "started_at": "",
            "complete": True,
            "targets": 1,
            "not_audited_count": 0,
            "not_audited": [],
            "journal": "j",
            "lines_skipped": 0,
            "rebuilt_from": "j",
        },
        "summary": {"total": 1, "by_status": {"invalid_urn": 1}, "by_project": {}, "by_region": {}},
        "results": [
            dict.fromkeys(COLUMNS, "")
            | {"urn": "x", "status": "invalid_urn", "http_status": None}
            | {"attempts": 0, "elapsed_ms": 0, "occurrences": 1}
            | {"memory_size": None, "tracing_supported": None, "exempt": False}
            | {"days_failing": None}
        ],
    }
    assert schema_errors(report) == []
    sent = copy.deepcopy(report)
    sent["results"][0].update(attempts=1, http_status=404)
    assert len(schema_errors(sent)) == 2
    incomplete = copy.deepcopy(report)
    incomplete["run"].update(complete=False, not_audited_count=3)
    assert schema_errors(incomplete)  # an incomplete journal run cannot list not_audited
    del incomplete["run"]["not_audited"]
    assert schema_errors(incomplete) == []
