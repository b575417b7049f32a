"""Turn a probe into an outcome: a pure function over a small, ordered rule table.

The error code decides before the HTTP status does (DESIGN.md): a 404 can mean "no APM keys"
(`FSS.0404`), "no such function" (`FSS.1051`) or "wrong endpoint" (`APIG.0101`), and only the
code tells them apart.
"""

from __future__ import annotations

from auditor.model import ErrorKind, Outcome, Probe, Status
from auditor.service.answers import (
    AUTH_CODES,
    MISSING_KEYS_CODES,
    NOT_FOUND_CODES,
    THROTTLE_CODES,
    credentials_accepted,
    is_auth_failure,
)

__all__ = [
    "AUTH_CODES",
    "MISSING_KEYS_CODES",
    "NOT_FOUND_CODES",
    "THROTTLE_CODES",
    "classify",
    "credentials_accepted",
    "is_auth_failure",
]

_ERROR_KIND_TEXT = {
    ErrorKind.TIMEOUT: "request timed out",
    ErrorKind.CONNECTION: "connection failed",
    ErrorKind.BAD_BODY: "unreadable response body",
    ErrorKind.CREDENTIALS: "no credentials",
    ErrorKind.GATEWAY_REFUSING: "not sent",
}


def classify(probe: Probe, expected_aks: frozenset[str] | None = None) -> Outcome:
    """Classify one (final) probe. Total: every probe gets exactly one status.

    With `expected_aks` (the APM key policy), a 200 whose AK is not one of them is
    `unexpected_keys`: the full AK is compared here, in memory, and never written."""
    code, msg = probe.error_code, probe.error_msg
    if probe.error_kind is ErrorKind.CREDENTIALS:
        return Outcome(Status.AUTH_FAILED, code, msg or "no credentials for this project")
    if probe.error_kind is ErrorKind.GATEWAY_REFUSING:
        return Outcome(Status.THROTTLED, code, msg or "not sent: the gateway kept answering 429")
    if probe.error_kind is not None:
        what = _ERROR_KIND_TEXT[probe.error_kind]
        return Outcome(Status.ERROR, code, f"{what}: {msg}" if msg else what)
    if code in MISSING_KEYS_CODES:
        return Outcome(Status.MISSING_KEYS, code, msg)
    if code in NOT_FOUND_CODES:
        return Outcome(Status.FUNCTION_NOT_FOUND, code, msg)
    if code in AUTH_CODES:
        return Outcome(Status.AUTH_FAILED, code, msg or f"HTTP {probe.http_status}")
    if code in THROTTLE_CODES or probe.http_status == 429:
        return Outcome(
            Status.THROTTLED,
            code,
            msg or "still throttled (HTTP 429): nothing of these credentials accepted for too long",
        )
    if probe.http_status in (401, 403):
        return Outcome(Status.AUTH_FAILED, code, msg or f"HTTP {probe.http_status}")
    if probe.http_status == 200:
        if probe.tracing_ak:
            if expected_aks is not None and probe.tracing_ak not in expected_aks:
                return Outcome(
                    Status.UNEXPECTED_KEYS, "", "tracing AK is not one of expected_tracing_aks"
                )
            return Outcome(Status.CONFIGURED)
        return Outcome(Status.MISSING_KEYS, "", "200 with an empty or absent tracing_ak")
    detail = ": ".join(part for part in (code, msg) if part) or "no error code in the body"
    if probe.http_status is not None and probe.http_status >= 500:
        return Outcome(Status.ERROR, code, f"server error HTTP {probe.http_status} ({detail})")
    return Outcome(Status.ERROR, code, f"unexpected HTTP {probe.http_status} ({detail})")
