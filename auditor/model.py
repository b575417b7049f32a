"""The data that flows through an audit: statuses, targets, probes and result rows.

Everything here is a frozen, slotted dataclass or an enum, so a million rows stay compact and
no stage can change what an earlier stage decided.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import UTC, datetime
from enum import StrEnum

from auditor.source.urn import FunctionUrn


class Status(StrEnum):
    """The one status every input URN ends with. The strings are the report's vocabulary."""

    CONFIGURED = "configured"
    UNEXPECTED_KEYS = "unexpected_keys"  # an AK outside `expected_tracing_aks`, when set
    MISSING_KEYS = "missing_keys"
    FUNCTION_NOT_FOUND = "function_not_found"
    AUTH_FAILED = "auth_failed"
    THROTTLED = "throttled"
    ERROR = "error"
    INVALID_URN = "invalid_urn"


# Each status by its string: a dict lookup, where `Status(text)` is many times slower; the
# readers of journals, reports and the store turn a million strings back into statuses.
STATUS_OF: dict[str, Status] = {status.value: status for status in Status}


class Change(StrEnum):
    """How a row compares with the same URN in a baseline report (`--baseline`)."""

    NEW = "new"  # not in the baseline
    FIXED = "fixed"  # not configured then, configured now
    REGRESSED = "regressed"  # configured then; now not (and the function still exists)
    UNCHANGED = "unchanged"  # anything else
    GONE = "gone"  # in the baseline, and now not audited or not found


class ErrorKind(StrEnum):
    """Why a request produced no usable HTTP answer (or an unusable one)."""

    TIMEOUT = "timeout"
    CONNECTION = "connection"
    BAD_BODY = "bad_body"
    CREDENTIALS = "credentials"  # no credential could be had: nothing was sent
    GATEWAY_REFUSING = "gateway_refusing"  # only 429s for the deadline: nothing more was sent


@dataclass(frozen=True, slots=True)
class ProjectScope:
    """One project in one region, to discover: `--project ID --region R` or `[[projects]]`,
    or a project IAM listed (`--all-projects`), with the account it belongs to."""

    project_id: str
    region: str
    account: str = ""


@dataclass(frozen=True, slots=True)
class Target:
    """One distinct input entry: a parsed URN, or the reason it is not one.

    Duplicates across all inputs are merged: `source` is where the entry first appeared
    (`file:line`) and `occurrences` how often it appeared in total.
    """

    urn: str
    parsed: FunctionUrn | None
    source: str
    occurrences: int = 1
    invalid_reason: str = ""
    runtime: str = ""  # from discovery (ListFunctions); empty for a plain URN list
    memory_size: int | None = None  # MB, from discovery
    account: str = ""  # the account discovery listed it in (`--all-projects`); "" otherwise


@dataclass(frozen=True, slots=True)
class Probe:
    """What one HTTP request returned, reduced to what classification needs.

    `tracing_sk` is deliberately absent: the client never keeps it.
    """

    http_status: int | None
    error_kind: ErrorKind | None = None
    error_code: str = ""
    error_msg: str = ""
    tracing_ak: str | None = None
    request_id: str = ""
    retry_after: float | None = None
    elapsed_ms: float = 0.0
    credential: str = ""  # which credential version was used (opaque, never the secret)


@dataclass(frozen=True, slots=True)
class Outcome:
    """The classification of a probe: the status and the message a reader sees."""

    status: Status
    error_code: str = ""
    error_msg: str = ""


@dataclass(frozen=True, slots=True)
class Row:
    """One line of the report; field order is the report's column order (see DESIGN.md)."""

    urn: str
    region: str
    project_id: str
    account: str  # with `--all-projects`: the account's name; empty for a URN list
    package: str
    function: str
    qualifier: str
    status: Status
    http_status: int | None
    error_code: str
    error_msg: str
    tracing_ak: str
    request_id: str
    attempts: int
    elapsed_ms: int
    checked_at: str
    source: str
    occurrences: int
    runtime: str = ""
    memory_size: int | None = None
    tracing_supported: bool | None = None  # None: not known (the row did not come from discovery)
    change: str = ""  # a `Change` value when the run has a baseline
    exempt: bool = False
    exempt_reason: str = ""
    first_seen: str = ""  # with the history store: when a run first saw this URN
    failing_since: str = ""  # start of the current unbroken run of failing verdicts
    days_failing: int | None = None  # whole days from `failing_since` to `checked_at`


COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(Row))


TRACING_MIN_MEMORY_MB = 512


def tracing_supported(runtime: str, memory_size: int | None) -> bool | None:
    """Whether Huawei documents tracing for this function: Java runtimes with at least 512 MB.

    None when the runtime is not known (rows from a plain URN list).
    """
    if not runtime:
        return None
    return runtime.lower().startswith("java") and (memory_size or 0) >= TRACING_MIN_MEMORY_MB


def mask_ak(ak: str | None) -> str:
    """Mask an access key for reports: the first and last four characters survive.

    Keys of sixteen characters or fewer keep only their first two, so a short key is never
    half revealed.
    """
    if not ak:
        return ""
    if len(ak) <= 16:
        return ak[:2] + "****"
    return f"{ak[:4]}****{ak[-4:]}"


def utc_now() -> datetime:
    """The current time in UTC: the default clock of a run."""
    return datetime.now(UTC)
