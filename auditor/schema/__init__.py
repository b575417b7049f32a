"""The JSON Schema (draft 2020-12) of the JSON report, shipped with the package.

`report.schema.json` describes exactly what `auditor.report.json_render` writes for a run of
`auditor.audit` (or a report rebuilt by `auditor.report.rebuild`); the test suite validates
every JSON report it produces against it, so the schema and the writer cannot drift apart unnoticed.
Consumers validate with any draft 2020-12 validator, e.g. `jsonschema`:

    jsonschema.Draft202012Validator(load_report_schema()).validate(report)
"""

from __future__ import annotations

import json
from importlib.resources import files
from typing import Any

REPORT_SCHEMA = "report.schema.json"


def load_report_schema() -> dict[str, Any]:
    """The JSON report's schema as a fresh dict (callers may change their copy)."""
    text = files(__name__).joinpath(REPORT_SCHEMA).read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema
