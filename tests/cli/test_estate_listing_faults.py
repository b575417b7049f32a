"""`--all-projects` when a listing fails, through `auditor.cli.main` with IAM and FunctionGraph
faked by aioresponses at the one HTTP boundary (the emulator's ListFunctions takes no faults).

- a project whose ListFunctions fails on its second page: its discovery is INCOMPLETE, the run
  exits 1, and the functions of the first page are audited all the same;
- the credentials' own account cannot be listed (IAM 403 for `GET /v3/auth/projects`): nothing
  is audited, exit 2, one line on stderr, no traceback, no credential in it.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aioresponses import CallbackResult, aioresponses

from auditor.cli import main

IAM = "http://iam.test"
FG = "http://fg.test"
TOKEN = "PLANTED-LISTING-TOKEN-b71e02-do-not-leak"
SK = "PLANTED-LISTING-SK-0c9d3a77e1"
PASSWORD = "PLANTED-LISTING-PASSWORD-41f8"
DOMAIN_TOKEN = "PLANTED-DOMAIN-TOKEN-7d3e55a0"  # IAM's answer to the password
DOMAIN_ID = "d0" * 16
BIG = "0a" * 16  # cn-north-4: its listing breaks on page 2
SMALL = "0b" * 16  # cn-north-4_ops: one page
MOS_ID = "0c" * 16
FIRST_PAGE = 400  # the client's page size (ListFunctions' largest)
CREDENTIALS = {
    "token": {"AUDITOR_TOKEN": TOKEN},
    "aksk": {"HUAWEICLOUD_SDK_AK": "LISTINGAK0123456789X", "HUAWEICLOUD_SDK_SK": SK},
    "password": {
        "HUAWEICLOUD_USERNAME": "lister",
        "HUAWEICLOUD_PASSWORD": PASSWORD,
        "HUAWEICLOUD_DOMAIN_NAME": "acme",
    },
}
PROJECTS = {
    "projects": [
        {"id": BIG, "name": "cn-north-4", "domain_id": DOMAIN_ID, "enabled": True},
        {"id": SMALL, "name": "cn-north-4_ops", "domain_id": DOMAIN_ID, "enabled": True},
        {"id": MOS_ID, "name": "MOS", "domain_id": DOMAIN_ID, "enabled": True},
    ]
}
TRACING = re.compile(rf"^{re.escape(FG)}/v2/[0-9a-f]{{32}}/fgs/functions/.+/tracing$")


def urn(project: str, number: int) -> str:
    return f"urn:fss:cn-north-4:{project}:function:default:fn-{number:04d}"


def page(project: str, numbers: range, next_marker: int, count: int) -> dict[str, Any]:
    items = [
        {
            "func_urn": urn(project, n),
            "func_name": f"fn-{n:04d}",
            "package": "default",
            "runtime": "Java11",
            "version": "latest",
            "memory_size": 512,
        }
        for n in numbers
    ]
    return {"functions": items, "next_marker": next_marker, "count": count}


def listing_url(project: str, marker: int) -> str:
    return f"{FG}/v2/{project}/fgs/functions?marker={marker}&maxitems={FIRST_PAGE}"


def fake_iam(fake: aioresponses, projects: Callable[..., CallbackResult] | None = None) -> None:
    """IAM of one account, `acme`: its domain, a domain token for a password, and its projects
    (`PROJECTS`, or what the `projects` callback answers)."""
    fake.get(
        f"{IAM}/v3/auth/domains",
        payload={"domains": [{"id": DOMAIN_ID, "name": "acme"}]},
        repeat=True,
    )
    expires = (datetime.now(UTC) + timedelta(hours=24)).strftime("%Y-%m-%dT%H:%M:%S.000000Z")
    fake.post(
        f"{IAM}/v3/auth/tokens?nocatalog=true",
        status=201,
        payload={"token": {"expires_at": expires}},
        headers={"X-Subject-Token": DOMAIN_TOKEN},
        repeat=True,
    )
    if projects is None:
        fake.get(f"{IAM}/v3/auth/projects", payload=PROJECTS, repeat=True)
    else:
        fake.get(f"{IAM}/v3/auth/projects", callback=projects, repeat=True)


def run(
    args: list[str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    env: dict[str, str],
) -> tuple[int, str, str]:
    for variables in CREDENTIALS.values():
        for name in variables:
            monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    code = main(args)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def all_projects(command: str, out: Path) -> list[str]:
    """`command --all-projects` against the fakes; `-o` is the report folder for `audit`, the
    inventory file for `discover`."""
    args = [command, "--all-projects", "--endpoint", FG, "--iam-endpoint", IAM]
    return [*args, "--rate", "0", "--retries", "0", "-o", str(out)]


def asked(fake: aioresponses) -> list[str]:
    return [str(url) for (_, url), calls in fake.requests.items() for _ in calls]


# --- a project listing that fails half way -----------------------------------------------------


def fake_half_listing(fake: aioresponses) -> None:
    fake_iam(fake)
    fake.get(listing_url(BIG, 0), payload=page(BIG, range(FIRST_PAGE), FIRST_PAGE, 650))
    fake.get(
        listing_url(BIG, FIRST_PAGE),
        status=500,
        payload={"error_code": "FSS.0500", "error_msg": "internal error"},
        repeat=True,
    )
    fake.get(listing_url(SMALL, 0), payload=page(SMALL, range(3), 3, 3))
    fake.get(
        TRACING, payload={"tracing_ak": "AKLISTING0123456789Z", "tracing_sk": "******"}, repeat=True
    )


FOUND = {urn(BIG, n) for n in range(FIRST_PAGE)} | {urn(SMALL, n) for n in range(3)}


def test_a_listing_that_fails_on_page_two_is_incomplete_and_its_first_page_is_audited(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    args = [*all_projects("audit", out), "--name", "r", "--no-preflight"]
    with aioresponses() as fake:
        fake_half_listing(fake)
        code, stdout, stderr = run(args, monkeypatch, capsys, CREDENTIALS["token"])
        sent = asked(fake)
    assert code == 1, stderr  # every audited function is configured: the listing is the finding
    assert "Traceback" not in stderr
    report = json.loads((out / "r.json").read_text(encoding="utf-8"))
    rows = report["results"]
    assert sorted(row["urn"] for row in rows) == sorted(FOUND)
    assert {row["status"] for row in rows} == {"configured"}
    assert {row["account"] for row in rows} == {"acme"}

    discovery = report["run"]["discovery"]
    assert discovery["complete"] is False
    projects = {p["project_id"]: p for p in discovery["projects"]}
    assert projects[BIG]["complete"] is False
    assert (projects[BIG]["functions"], projects[BIG]["pages"]) == (FIRST_PAGE, 1)
    assert "HTTP 500" in projects[BIG]["error"] and "FSS.0500" in projects[BIG]["error"]
    assert projects[SMALL]["complete"] is True
    assert MOS_ID not in projects

    assert (
        f"discovery INCOMPLETE: {BIG} cn-north-4 (account acme): {FIRST_PAGE} functions in "
        "1 pages, then HTTP 500" in stdout
    )
    assert f"discovery of {BIG} cn-north-4 is INCOMPLETE" in stderr
    with (out / "r.inventory.csv").open(encoding="utf-8", newline="") as inventory:
        assert {r["func_urn"] for r in csv.DictReader(inventory)} == FOUND
    assert not [url for url in sent if MOS_ID in url]  # MOS is never asked
    assert sent.count(listing_url(BIG, FIRST_PAGE)) == 1  # --retries 0: asked once


def test_discover_exits_1_with_what_the_broken_listing_found(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "inv.csv"
    args = all_projects("discover", target)
    with aioresponses() as fake:
        fake_half_listing(fake)
        code, stdout, stderr = run(args, monkeypatch, capsys, CREDENTIALS["token"])
    assert code == 1, stderr
    assert "Traceback" not in stderr
    assert stdout == ""
    rows = list(csv.DictReader(io.StringIO(target.read_text(encoding="utf-8"), newline="")))
    assert {r["func_urn"] for r in rows} == FOUND
    assert {r["account"] for r in rows} == {"acme"}
    assert f"discovery of {BIG} cn-north-4 is INCOMPLETE" in stderr


# --- the own account cannot be listed ----------------------------------------------------------


def echoing_403(url: Any, **kwargs: Any) -> CallbackResult:
    """IAM's 403 for the projects list, quoting the token it was sent (as a careless proxy
    might): the message shown must not."""
    headers = {k.lower(): v for k, v in (kwargs.get("headers") or {}).items()}
    sent = headers.get("x-auth-token", "")
    message = f"Policy doesn't allow iam:projects:list for token {sent}".rstrip()
    body = {"error": {"code": "IAM.0003", "message": message, "title": "Forbidden"}}
    return CallbackResult(status=403, payload=body)


@pytest.mark.parametrize("command", ["audit", "discover"])
@pytest.mark.parametrize("method", list(CREDENTIALS))
def test_own_account_listing_refused_is_one_line_exit_2(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    command: str,
    method: str,
) -> None:
    out = tmp_path / "out"
    inventory = tmp_path / "inv.csv"
    target = out if command == "audit" else inventory
    args = all_projects(command, target)
    with aioresponses() as fake:
        fake_iam(fake, projects=echoing_403)
        code, stdout, stderr = run(args, monkeypatch, capsys, CREDENTIALS[method])
        sent = asked(fake)
    assert code == 2
    assert stdout == ""
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("auditor: error: --all-projects: ")
    assert "HTTP 403" in lines[0] and "projects" in lines[0]
    if method != "aksk":  # a token was sent, and IAM's message quoting it is blotted out
        assert "for token ****" in lines[0]
    assert "Traceback" not in stderr
    for secret in (TOKEN, SK, PASSWORD, DOMAIN_TOKEN):
        assert secret not in stderr
    assert not [url for url in sent if url.startswith(FG)]  # nothing asked of FunctionGraph
    reports = [p.name for p in out.glob("*") if p.suffix in {".json", ".csv", ".xlsx", ".jsonl"}]
    assert reports == []
    assert not inventory.exists()
