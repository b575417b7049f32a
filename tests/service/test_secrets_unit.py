"""No report, journal or row carries a full tracing AK, and the tracing SK never gets that far."""

from __future__ import annotations

import asyncio
import io
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

from auditor.model import Probe, Row, Status, Target, mask_ak
from auditor.report.csv_render import render_csv
from auditor.report.json_render import render_json
from auditor.report.tables import ReportDocument, summarize
from auditor.report.xlsx_render import render_xlsx
from auditor.service.auth import StaticToken
from auditor.service.client import TracingClient
from auditor.source.urn import parse_urn
from auditor.store.journal import Journal
from auditor.verdict.classify import classify
from auditor.verdict.rows import result_row

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
