"""No report, journal or row carries a full tracing AK, and the tracing SK never gets that far;
no agency token, temporary key or security token of the estate shows anywhere."""

from __future__ import annotations

import asyncio
import io
import logging
import re
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import openpyxl
import pytest
from aioresponses import aioresponses

from auditor.errors import AuditorError
from auditor.model import Probe, Row, Status, Target, mask_ak
from auditor.report.csv_render import render_csv
from auditor.report.json_render import render_json
from auditor.report.tables import ReportDocument, summarize
from auditor.report.xlsx_render import render_xlsx
from auditor.service.agency import Account, TemporaryKeys, fetch_temporary_keys, reach_account
from auditor.service.auth import IamToken, KeyPair, StaticToken
from auditor.service.client import TracingClient
from auditor.service.iam import IamAnswer, IamApi
from auditor.service.identity import KeyIdentity, TokenIdentity
from auditor.service.projects import list_projects
from auditor.source.urn import parse_urn
from auditor.store.journal import Journal
from auditor.verdict.classify import classify
from auditor.verdict.rows import result_row
from tests.factories import Sleeps, WallClock

PROJECT = "0123456789abcdef0123456789abcdef"
URN = f"urn:fss:cn-north-4:{PROJECT}:function:default:fn-1"
FULL_AK = "HPUAQ7X2LONGACCESSKEY0123456789ZZ9W"
FULL_SK = "SKplantedUNMASKEDsecret0123456789abcdefXYZ"
TOKEN = "MIIToken-secret-for-this-test-only"
CHECKED = datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)


def row_from(probe: Probe, urn: str = URN) -> Row:
    target = Target(urn, parse_urn(urn), "in.txt:1")
    return result_row(
        target, probe, classify(probe), attempts=1, elapsed_ms=probe.elapsed_ms, checked_at=CHECKED
    )


def outputs(rows: list[Row], tmp_path: Path) -> Iterator[tuple[str, bytes]]:
    """Every report format, and the journal, as bytes (the XLSX unzipped part by part)."""
    document = ReportDocument(rows, summarize(rows), {"complete": True})
    for name, render in (("json", render_json), ("csv", render_csv)):
        stream = io.BytesIO()
        render(document, stream)
        yield name, stream.getvalue()
    stream = io.BytesIO()
    render_xlsx(document, stream)
    with zipfile.ZipFile(io.BytesIO(stream.getvalue())) as book:
        for part in book.namelist():
            yield f"xlsx:{part}", book.read(part)
    journal = tmp_path / "run.journal.jsonl"
    with Journal(journal, {"name": "run"}) as writer:
        for index, row in enumerate(rows):
            writer.record(index, row)
    yield "journal", journal.read_bytes()


def xlsx_values(rows: list[Row]) -> list[Any]:
    stream = io.BytesIO()
    render_xlsx(ReportDocument(rows, summarize(rows)), stream)
    book = openpyxl.load_workbook(io.BytesIO(stream.getvalue()))
    return [
        value
        for sheet in book.worksheets
        for line in sheet.iter_rows(values_only=True)
        for value in line
        if value is not None
    ]


def test_a_configured_row_holds_only_the_masked_ak() -> None:
    row = row_from(Probe(200, tracing_ak=FULL_AK))
    assert row.status is Status.CONFIGURED
    assert row.tracing_ak == mask_ak(FULL_AK)
    assert row.tracing_ak.startswith(FULL_AK[:4])
    assert row.tracing_ak.endswith(FULL_AK[-4:])
    assert FULL_AK not in repr(row)
    assert FULL_AK[4:-4] not in repr(row)


def test_reports_and_journal_hold_only_the_masked_ak(tmp_path: Path) -> None:
    rows = [row_from(Probe(200, tracing_ak=FULL_AK)), row_from(Probe(200, tracing_ak=FULL_AK))]
    masked = mask_ak(FULL_AK).encode()
    found_masked = []
    for name, data in outputs(rows, tmp_path):
        assert FULL_AK.encode() not in data, name
        assert FULL_AK[4:-4].encode() not in data, name  # not even the hidden middle
        if masked in data:
            found_masked.append(name)
    assert {"json", "csv", "journal"} <= set(found_masked)
    assert any(name.startswith("xlsx:") for name in found_masked)


def test_xlsx_cell_values_hold_only_the_masked_ak() -> None:
    values = xlsx_values([row_from(Probe(200, tracing_ak=FULL_AK))])
    assert mask_ak(FULL_AK) in values
    assert not [v for v in values if isinstance(v, str) and FULL_AK[4:-4] in v]


@pytest.mark.parametrize(
    "probe",
    [
        Probe(404, error_code="FSS.0404", tracing_ak=FULL_AK),
        Probe(500, tracing_ak=FULL_AK),
        Probe(429, tracing_ak=FULL_AK),
    ],
)
def test_a_row_that_is_not_configured_holds_no_ak_at_all(probe: Probe) -> None:
    row = row_from(probe)
    assert row.status is not Status.CONFIGURED
    assert row.tracing_ak == ""


def test_from_the_wire_to_every_output_no_sk_no_full_ak_no_token(tmp_path: Path) -> None:
    with aioresponses() as fake:
        fake.get(
            re.compile(r".*"),
            status=200,
            payload={"tracing_ak": FULL_AK, "tracing_sk": FULL_SK},
        )

        async def main() -> Probe:
            async with aiohttp.ClientSession() as session:
                client = TracingClient(session, StaticToken(TOKEN))
                return await client.probe(parse_urn(URN))

        probe = asyncio.run(main())
    assert FULL_SK not in repr(probe)
    rows = [row_from(probe)]
    assert rows[0].status is Status.CONFIGURED
    for name, data in outputs(rows, tmp_path):
        for secret in (FULL_SK, FULL_AK, TOKEN):
            assert secret.encode() not in data, (name, secret)


# --- the estate: agency tokens, temporary keys and security tokens -------------------------

HOME_TOKEN = "MIIplanted-home-token-7a1f"
AGENCY_TOKEN = "MIIplanted-agency-token-3c9e"
TEMP_AK = "PLANTEDTEMPAK000042"
TEMP_SK = "planted-temporary-secret-key-5d2b"
SECURITY_TOKEN = "planted-security-token-8e4a"
HOME_SK = "planted-home-secret-key-1b6c"
PLANTED = (HOME_TOKEN, AGENCY_TOKEN, TEMP_AK, TEMP_SK, SECURITY_TOKEN, HOME_SK)
IAM = "https://iam.example.test"


def _estate_run() -> list[str]:
    """Every path of the estate with planted secrets: listings through agency tokens and
    temporary keys, FunctionGraph requests with both, and IAM refusals that echo what they
    were sent. Returns the repr, str and message of everything a caller could show."""
    listed = {"projects": [{"id": PROJECT, "name": "cn-north-4", "enabled": True}]}
    echo = f"echo {HOME_TOKEN} {AGENCY_TOKEN} {SECURITY_TOKEN}"
    shown: list[str] = []
    with aioresponses() as fake:
        tokens = f"{IAM}/v3/auth/tokens?nocatalog=true"
        keys = f"{IAM}/v3.0/OS-CREDENTIAL/securitytokens"
        projects = f"{IAM}/v3/auth/projects"
        token_answer = {
            "status": 201,
            "headers": {"X-Subject-Token": AGENCY_TOKEN},
            "payload": {"token": {"expires_at": "2099-01-01T00:00:00Z"}},
        }
        keys_answer = {
            "status": 201,
            "payload": {
                "credential": {
                    "access": TEMP_AK,
                    "secret": TEMP_SK,
                    "securitytoken": SECURITY_TOKEN,
                    "expires_at": "2099-01-01T00:00:00Z",
                }
            },
        }
        fake.post(tokens, **token_answer, repeat=True)
        fake.post(keys, **keys_answer)
        fake.get(projects, payload=listed)  # through the agency token
        fake.get(projects, payload=listed)  # through the temporary keys
        fake.get(projects, status=403, payload={"error": {"code": "IAM.1", "message": echo}})
        fake.get(projects, status=400, payload={"error": {"code": "IAM.2", "message": echo}})
        fake.post(keys, status=403, payload={"error": {"code": "IAM.3", "message": echo}})
        fake.get(re.compile(r"https://functiongraph.*"), payload={"tracing_ak": "A"}, repeat=True)

        async def main() -> None:
            async with aiohttp.ClientSession() as session:
                api = IamApi(session, endpoint=IAM, retries=0, sleep=Sleeps())
                acme = Account("auditor", domain_name="acme")
                beta = Account("auditor", domain_id="b" * 32, name="beta")
                home_keys = KeyIdentity(
                    KeyPair("HOMEAK", HOME_SK), now=WallClock(), domain_id="a" * 32
                )
                by_token = reach_account(api, TokenIdentity(HOME_TOKEN), acme, now=WallClock())
                by_keys = reach_account(api, home_keys, beta, now=WallClock())
                found = [
                    *await list_projects(api, by_token.identity),
                    *await list_projects(api, by_keys.identity),
                ]
                for access in (by_token, by_keys):
                    client = TracingClient(session, access.credentials)
                    probe = await client.probe(parse_urn(URN))
                    assert probe.http_status == 200
                    shown.extend([repr(access), repr(probe), access.credentials.method])
                    shown.extend([repr(access.identity), str(access.identity), probe.credential])
                for access in (by_token, by_keys):
                    try:
                        await list_projects(api, access.identity)
                    except AuditorError as exc:
                        shown.extend([str(exc), repr(exc)])
                try:
                    await fetch_temporary_keys(api, home_keys, acme)
                except AuditorError as exc:
                    shown.extend([str(exc), repr(exc)])
                shown.extend(repr(p) for p in found)

        asyncio.run(main())
    return shown


def test_no_estate_secret_in_any_repr_message_or_log(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    shown = _estate_run()
    assert any("agency auditor refused" in text for text in shown)  # the refusals were seen
    assert any("****" in text for text in shown)  # and IAM's echo was blotted out
    for text in [*shown, caplog.text]:
        for secret in PLANTED:
            assert secret not in text, (secret, text)


def test_the_estates_secret_holders_show_none_in_their_repr() -> None:
    holders = [
        TemporaryKeys(TEMP_AK, TEMP_SK, SECURITY_TOKEN, CHECKED),
        IamToken(AGENCY_TOKEN, CHECKED),
        IamAnswer(201, {"X-Subject-Token": AGENCY_TOKEN}, {"credential": {"secret": TEMP_SK}}),
    ]
    for holder in holders:
        for text in (repr(holder), str(holder)):
            for secret in PLANTED:
                assert secret not in text, (secret, text)
