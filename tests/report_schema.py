"""Validate a JSON report against the schema the package ships (auditor/schema)."""

from __future__ import annotations

from functools import cache
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match

from auditor.schema import load_report_schema


@cache
def report_validator() -> Draft202012Validator:
    """One validator for the whole session: building it compiles the schema's references."""
    schema = load_report_schema()
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


def schema_errors(report: Any) -> list[str]:
    """Every way `report` breaks the schema, each as `path: message` (empty when valid)."""
    errors = sorted(report_validator().iter_errors(report), key=lambda e: [*map(str, e.path)])
    return [_describe(e) for e in errors]


def _describe(error: ValidationError) -> str:
    # "is not valid under any of the given schemas" (oneOf) says little: name the closest miss.
    if error.context:
        error = best_match(error.context) or error
    return f"{'/'.join(map(str, error.absolute_path)) or '(top)'}: {error.message}"


def validate_report(report: Any) -> None:
    """Fail the test with every schema violation of `report`, not just the first."""
    errors = schema_errors(report)
    assert not errors, "JSON report breaks report.schema.json:\n" + "\n".join(errors[:20])
