"""The discovered inventory as text, CSV and JSON, each read back by `auditor audit`'s reader."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest

from auditor.model import ProjectScope
from auditor.report.inventory import INVENTORY_COLUMNS, inventory_format, render_inventory
from auditor.source.inputs import read_inputs
from auditor.source.listing import LISTING_FIELDS, ListedFunction, Listing

PROJECT = "0123456789abcdef0123456789abcdef"
REGION = "cn-north-4"
SCOPE = ProjectScope(PROJECT, REGION)


def function(
    n: int, runtime: str = "Java11", memory: int | None = 512, **more: Any
) -> ListedFunction:
    values: dict[str, Any] = {
        "func_urn": f"urn:fss:{REGION}:{PROJECT}:function:default:fn-{n}",
        "func_name": f"fn-{n}",
        "package": "default",
        "runtime": runtime,
        "version": "latest",
        "memory_size": memory,
        "last_modified": "2024-05-06 07:08:09",
    }
    values.update(more)
    return ListedFunction(**values)


FUNCTIONS = [
    function(0),
    function(1, "Python3.9", 1024),
    function(2, "Java17", 256),
    function(3, "Go1.x", None),
    function(4, "Node.js16.17", 128),
]
LISTINGS = [Listing(SCOPE, list(FUNCTIONS), pages=1, requests=1, reported_count=5)]


def rendered(fmt: str, functions: list[ListedFunction] = FUNCTIONS) -> bytes:
    stream = io.BytesIO()
    render_inventory(LISTINGS, functions, fmt, stream)
    return stream.getvalue()


def read_back(tmp_path: Path, fmt: str, suffix: str) -> dict[str, tuple[str, int | None]]:
    path = tmp_path / f"inventory{suffix}"
    path.write_bytes(rendered(fmt))
    inputs = read_inputs([str(path)])
    assert all(t.parsed is not None for t in inputs.targets)
    return {t.urn: (t.runtime, t.memory_size) for t in inputs.targets}


def test_text_is_one_urn_per_line() -> None:
    assert rendered("txt").decode().splitlines() == [f.func_urn for f in FUNCTIONS]


@pytest.mark.parametrize("suffix", [".txt", ".lst", ""])
def test_text_reads_back_as_the_same_urns_without_runtimes(tmp_path: Path, suffix: str) -> None:
    back = read_back(tmp_path, "txt", suffix)
    assert list(back) == [f.func_urn for f in FUNCTIONS]
    assert set(back.values()) == {("", None)}


def test_csv_has_every_listing_column_then_tracing_supported() -> None:
    rows = list(csv.reader(io.StringIO(rendered("csv").decode(), newline="")))
    header = [*LISTING_FIELDS, "tracing_supported", "account"]
    assert rows[0] == header == list(INVENTORY_COLUMNS)
    assert len(rows) == 1 + len(FUNCTIONS)
    by_name = {row[1]: dict(zip(rows[0], row, strict=True)) for row in rows[1:]}
    assert by_name["fn-0"]["memory_size"] == "512"
    assert by_name["fn-0"]["tracing_supported"] == "True"
    assert by_name["fn-2"]["tracing_supported"] == "False"  # Java, but under 512 MB
    assert by_name["fn-3"]["memory_size"] == ""  # unknown, not "None"
    assert rendered("csv").endswith(b"\r\n")


@pytest.mark.parametrize("suffix", [".csv", ""])
def test_csv_reads_back_with_runtime_and_memory_size(tmp_path: Path, suffix: str) -> None:
    back = read_back(tmp_path, "csv", suffix)
    assert back == {f.func_urn: (f.runtime, f.memory_size) for f in FUNCTIONS}


def test_json_is_a_listfunctions_shaped_document() -> None:
    document = json.loads(rendered("json"))
    assert document["count"] == len(FUNCTIONS)
    assert [f["func_urn"] for f in document["functions"]] == [f.func_urn for f in FUNCTIONS]
    first = {**FUNCTIONS[0].record(), "tracing_supported": True, "account": ""}
    assert document["functions"][0] == first
    assert document["functions"][3]["memory_size"] is None
    (project,) = document["projects"]
    assert project == {
        "project_id": PROJECT,
        "region": REGION,
        "account": "",
        "functions": 5,
        "pages": 1,
        "requests": 1,
        "count": 5,
        "complete": True,
        "error": "",
    }


@pytest.mark.parametrize("suffix", [".json", ""])
def test_json_reads_back_with_runtime_and_memory_size(tmp_path: Path, suffix: str) -> None:
    back = read_back(tmp_path, "json", suffix)
    assert back == {f.func_urn: (f.runtime, f.memory_size) for f in FUNCTIONS}


def test_a_filtered_list_renders_only_those_functions() -> None:
    kept = [f for f in FUNCTIONS if f.record()["tracing_supported"]]
    assert rendered("txt", kept).decode().split() == [FUNCTIONS[0].func_urn]
    document = json.loads(rendered("json", kept))
    assert document["count"] == 1
    assert document["projects"][0]["functions"] == 5  # the listing, not the filter


@pytest.mark.parametrize("fmt", ["txt", "csv", "json"])
def test_an_empty_inventory(fmt: str) -> None:
    data = rendered(fmt, [])
    if fmt == "json":
        assert json.loads(data)["functions"] == []
    elif fmt == "csv":
        assert data.decode().splitlines() == [",".join(INVENTORY_COLUMNS)]
    else:
        assert data == b""


def test_csv_escapes_cells_a_spreadsheet_would_evaluate(tmp_path: Path) -> None:
    hostile = function(
        9,
        runtime='=HYPERLINK("http://x")',
        func_name="+1+1",
        package="@SUM(A1)",
        version="-2",
        last_modified="\t=1",
    )
    rows = list(csv.reader(io.StringIO(rendered("csv", [hostile]).decode(), newline="")))
    record = dict(zip(rows[0], rows[1], strict=True))
    for column in ("runtime", "func_name", "package", "version", "last_modified"):
        assert record[column].startswith("'"), column
    assert record["func_urn"] == hostile.func_urn  # a URN starts with "urn:", left as it is
    assert record["memory_size"] == "512"


def test_unicode_survives_every_format(tmp_path: Path) -> None:
    named = function(7, func_name="函数-é")
    assert json.loads(rendered("json", [named]))["functions"][0]["func_name"] == "函数-é"
    assert "函数-é" in rendered("csv", [named]).decode("utf-8")


def test_render_leaves_the_stream_open() -> None:
    stream = io.BytesIO()
    render_inventory(LISTINGS, FUNCTIONS, "csv", stream)
    assert not stream.closed
    stream.write(b"more")


@pytest.mark.parametrize(
    ("name", "chosen", "expected"),
    [
        ("out.csv", None, "csv"),
        ("OUT.CSV", None, "csv"),
        ("out.json", None, "json"),
        ("out.txt", None, "txt"),
        ("out.lst", None, "txt"),
        ("out", None, "txt"),
        ("out.data", None, "txt"),
        (None, None, "txt"),  # stdout
        (None, "csv", "csv"),
        (None, "json", "json"),
        (None, "text", "txt"),
        ("out.csv", "json", "json"),  # --format wins over the suffix
        ("out.json", "text", "txt"),
    ],
)
def test_inventory_format_by_suffix_and_by_flag(
    name: str | None, chosen: str | None, expected: str
) -> None:
    assert inventory_format(name, chosen) == expected
