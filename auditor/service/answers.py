"""What FunctionGraph's answers mean, as Huawei documents them: the error codes of each kind,
and whether an answer shows the credentials were refused or accepted. Facts of the API, used by
the credential guard and the retry policy (send) and by classification (verdict)."""

from __future__ import annotations

from auditor.model import ErrorKind, Probe

MISSING_KEYS_CODES = frozenset({"FSS.0404"})
NOT_FOUND_CODES = frozenset({"FSS.1051", "FSS.1128", "FSS.1052", "FSS.0410"})
THROTTLE_CODES = frozenset({"APIG.0308", "FSS.0429"})
AUTH_CODES = frozenset({"APIG.0301", "APIG.0307", "FSS.0403", "FSS.0401"})


def is_auth_failure(probe: Probe) -> bool:
    """The answer says the credentials were refused (or none could be had)."""
    if probe.error_kind is ErrorKind.CREDENTIALS:
        return True
    if probe.error_kind is not None:
        return False
    return probe.error_code in AUTH_CODES or probe.http_status in (401, 403)


def credentials_accepted(probe: Probe) -> bool:
    """The answer shows the credentials passed: a 2xx, or a 4xx about something else."""
    status = probe.http_status
    if status is None or probe.error_kind is not None or is_auth_failure(probe):
        return False
    return 200 <= status < 300 or (400 <= status < 500 and status != 429)
