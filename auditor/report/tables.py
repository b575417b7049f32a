"""Pure tables of the run for the renderers: counts by status, project and region (from
`auditor.verdict.summary`), the settings flattened for reading, throttling per scope.

The summary types are re-exported here for the renderers."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from auditor.model import Row
from auditor.verdict.baseline import Comparison
from auditor.verdict.exemptions import ExemptionReport
from auditor.verdict.rows import row_json
from auditor.verdict.summary import STATUS_ORDER, Summary, SummaryCounter, summarize

__all__ = [
    "STATUS_ORDER",
    "EncodedRows",
    "ReportDocument",
    "Summary",
    "SummaryCounter",
    "summarize",
]

if TYPE_CHECKING:  # pandas loads only when a table is built (XLSX), not for a JSON-only run
    import pandas as pd


@runtime_checkable
class EncodedRows(Protocol):
    """Rows that also come already encoded for the JSON report (`auditor.store.journal.JournalRows`
    reads them from the journal, where they were written as the report writes them)."""

    def __iter__(self) -> Iterator[Row]: ...

    def json_lines(self) -> Iterator[bytes]: ...


@dataclass(frozen=True)
class ReportDocument:
    """Everything a renderer needs: the rows in input order, their summary and the run facts;
    with `--baseline` the comparison, with `--exemptions` what the exemptions did.

    `rows` may be iterated more than once (one pass per report): a list, or rows read back
    from a journal as each pass goes."""

    rows: Iterable[Row]
    summary: Summary
    run: dict[str, Any] = field(default_factory=dict)
    comparison: Comparison | None = None
    exemptions: ExemptionReport | None = None
    # With the history store: the scope's recent runs and this one, oldest first (each with
    # name, started_at, complete, total, compliance, by_status), for the Trend sheet.
    trend: list[dict[str, Any]] | None = None

    def json_rows(self) -> Iterator[bytes]:
        """Each row as the JSON report writes it."""
        if isinstance(self.rows, EncodedRows):
            return self.rows.json_lines()
        return (row_json(row).encode() for row in self.rows)


def status_frame(summary: Summary) -> pd.DataFrame:
    """One row per status with its count and share of the total."""
    import pandas as pd

    frame = pd.DataFrame(
        {"status": list(summary.by_status), "count": list(summary.by_status.values())}
    )
    frame["share"] = frame["count"] / summary.total if summary.total else 0.0
    return frame


def crosstab_frame(nested: Mapping[str, Mapping[str, int]], label: str) -> pd.DataFrame:
    """A `label` × status table of counts with a total column, statuses in report order."""
    present = [s.value for s in STATUS_ORDER if any(s.value in c for c in nested.values())]
    records = [
        {label: key, **{s: counts.get(s, 0) for s in present}, "total": sum(counts.values())}
        for key, counts in nested.items()
    ]
    import pandas as pd

    return pd.DataFrame.from_records(records, columns=[label, *present, "total"])


# A setting whose name says it is a secret is never shown, even if one is added by mistake:
# settings hold none today (credentials come from the environment), and must not start to.
_SECRET_NAME = re.compile(r"token|password|passwd|secret|security|(^|_)sk$", re.IGNORECASE)
HIDDEN = "(hidden)"


def completeness(rows: int, not_audited: int) -> float:
    """The share of input URNs that have a row, rounded down to 0.1 % so a run that missed
    one URN in a million never reads 100 %. A run with nothing to audit is complete."""
    wanted = rows + not_audited
    if not wanted:
        return 1.0
    return math.floor(rows / wanted * 1000) / 1000


def flatten_settings(settings: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """Settings as `(name, value)` lines a reader can scan: a table becomes one line per entry
    (`endpoints.cn-north-4`), a list a comma-separated string, nothing `none`."""
    lines: list[tuple[str, Any]] = []
    for key, value in settings.items():
        if _SECRET_NAME.search(str(key)):
            lines.append((str(key), HIDDEN))
        elif isinstance(value, Mapping) and value:
            lines += [(f"{key}.{k}", v) for k, v in flatten_settings(value)]
        else:
            lines.append((str(key), plain_value(value)))
    return lines


def plain_value(value: Any) -> Any:
    """A number stays a number; everything else becomes readable text."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float):
        return value
    if value is None or (isinstance(value, str | Mapping | list | tuple) and not value):
        return "none"
    if isinstance(value, list | tuple):
        return ", ".join(str(plain_value(v)) for v in value)
    if isinstance(value, Mapping):
        return ", ".join(f"{k}: {plain_value(v)}" for k, v in value.items())
    return str(value)


THROTTLING_COLUMNS = [
    "scope",
    "endpoint",
    "requests",
    "responses_429",
    "rate_cuts",
    "unexplained_429",
    "limit_found",
    "rate_at_end",
    "throttle_wait_s",
]


def throttling_frame(throttling: Mapping[str, Any]) -> pd.DataFrame:
    """One row per credential scope and endpoint: requests, 429 answers, rate cuts, the limit
    found and the rate in force at the end (`run.throttling`); NaN where nothing was learned.
    A report written before the rate controller (429s and rates per endpoint) reads too."""
    import pandas as pd

    scopes = throttling.get("scopes")
    if scopes is None:
        answers = throttling.get("responses_429", {})
        rates = throttling.get("effective_rate", {})
        scopes = [
            {
                "scope": "",
                "endpoint": endpoint,
                "responses_429": answers.get(endpoint, 0),
                "rate_at_end": rates.get(endpoint),
            }
            for endpoint in sorted({*answers, *rates})
        ]
    frame = pd.DataFrame.from_records(list(scopes), columns=THROTTLING_COLUMNS)
    for column in ("requests", "responses_429", "rate_cuts", "unexplained_429"):
        frame[column] = frame[column].fillna(0).astype(int)
    for column in ("limit_found", "rate_at_end", "throttle_wait_s"):
        frame[column] = frame[column].astype(float)
    return frame


TREND_COLUMNS = ["started_at", "name", "complete", "total", "compliance"]


def trend_frame(trend: list[dict[str, Any]]) -> pd.DataFrame:
    """One row per run of the scope, oldest first: when, which, complete or not, the total,
    the compliance percentage and the count of each status any of the runs had."""
    import pandas as pd

    present = [s.value for s in STATUS_ORDER if any(s.value in r["by_status"] for r in trend)]
    records = [
        {
            **{column: run.get(column) for column in TREND_COLUMNS},
            **{status: run["by_status"].get(status, 0) for status in present},
        }
        for run in trend
    ]
    frame = pd.DataFrame.from_records(records, columns=[*TREND_COLUMNS, *present])
    frame["complete"] = frame["complete"].map(lambda done: "yes" if done else "no")
    return frame
