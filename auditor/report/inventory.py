"""Render a discovered inventory (what `auditor discover` found) as text, CSV or JSON.

Every format can be read back by `auditor audit`: text is one URN per line, CSV has a
`func_urn` column (with `runtime`, `memory_size` and `account`), JSON is shaped like a
ListFunctions answer.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from typing import BinaryIO

from auditor.report.csv_render import escape_cell
from auditor.source.listing import LISTING_FIELDS, ListedFunction, Listing

INVENTORY_FORMATS: tuple[str, ...] = ("txt", "csv", "json")
INVENTORY_COLUMNS: tuple[str, ...] = (*LISTING_FIELDS, "tracing_supported", "account")
INVENTORY_SUFFIXES = {".txt": "txt", ".lst": "txt", ".csv": "csv", ".json": "json"}


def inventory_format(name: str | None, chosen: str | None) -> str:
    """The format for an output name: `--format` if given, else by suffix, else text."""
    if chosen:
        return "txt" if chosen == "text" else chosen
    if name:
        for suffix, fmt in INVENTORY_SUFFIXES.items():
            if name.lower().endswith(suffix):
                return fmt
    return "txt"


def render_inventory(
    listings: Sequence[Listing],
    functions: Sequence[ListedFunction],
    fmt: str,
    stream: BinaryIO,
) -> None:
    """Write `functions` (the listings' functions, maybe filtered) to `stream` as `fmt`."""
    text = io.TextIOWrapper(stream, encoding="utf-8", newline="", write_through=False)
    account_of = {
        function.func_urn: listing.scope.account
        for listing in listings
        if listing.scope.account
        for function in listing.functions
    }
    try:
        if fmt == "csv":
            writer = csv.writer(text, lineterminator="\r\n")
            writer.writerow(INVENTORY_COLUMNS)
            for function in functions:
                record = function.record() | {"account": account_of.get(function.func_urn, "")}
                writer.writerow(
                    escape_cell("" if record[c] is None else record[c]) for c in INVENTORY_COLUMNS
                )
        elif fmt == "json":
            document = {
                "functions": [
                    f.record() | {"account": account_of.get(f.func_urn, "")} for f in functions
                ],
                "count": len(functions),
                "projects": [listing.summary() for listing in listings],
            }
            json.dump(document, text, ensure_ascii=False, indent=1)
            text.write("\n")
        else:
            for function in functions:
                text.write(function.func_urn + "\n")
        text.flush()
    finally:
        text.detach()
