"""Tests for auditor/classify.py: every status, every error kind, and totality."""

from __future__ import annotations

import itertools

import pytest

from auditor.model import ErrorKind, Outcome, Probe, Status
from auditor.verdict.classify import (
    AUTH_CODES,
    MISSING_KEYS_CODES,
    NOT_FOUND_CODES,
    THROTTLE_CODES,
    classify,
)

AK = "HPUAEXAMPLEACCESSKEY"


def test_200_with_an_ak_is_configured() -> None:
    outcome = classify(Probe(200, tracing_ak=AK))
    assert outcome == Outcome(Status.CONFIGURED)


@pytest.mark.parametrize("ak", ["", None])
def test_200_with_an_empty_or_absent_ak_is_missing_keys(ak: str | None) -> None:
    outcome = classify(Probe(200, tracing_ak=ak))
    assert outcome.status is Status.MISSING_KEYS
    assert outcome.error_code == ""
    assert "empty or absent tracing_ak" in outcome.error_msg


def test_404_fss_0404_is_missing_keys() -> None:
    outcome = classify(Probe(404, error_code="FSS.0404", error_msg="can not find tracing aksk"))
    assert outcome == Outcome(Status.MISSING_KEYS, "FSS.0404", "can not find tracing aksk")


@pytest.mark.parametrize("status", [404, 400])
@pytest.mark.parametrize("code", ["FSS.1051", "FSS.1128"])
def test_missing_function_codes_are_function_not_found(status: int, code: str) -> None:
    outcome = classify(Probe(status, error_code=code, error_msg="Not found the function"))
    assert outcome == Outcome(Status.FUNCTION_NOT_FOUND, code, "Not found the function")


@pytest.mark.parametrize(
    ("status", "code", "msg"),
    [
        (401, "APIG.0301", "Incorrect IAM authentication information"),
        (401, "APIG.0307", "The token must be updated"),
        (403, "FSS.0403", "invalid token"),
        (401, "FSS.0401", "unauthorized"),
    ],
)
def test_auth_codes_are_auth_failed(status: int, code: str, msg: str) -> None:
    assert classify(Probe(status, error_code=code, error_msg=msg)) == Outcome(
        Status.AUTH_FAILED, code, msg
    )


@pytest.mark.parametrize("status", [401, 403])
def test_bare_401_and_403_are_auth_failed_with_the_status_in_the_message(status: int) -> None:
    outcome = classify(Probe(status))
    assert outcome.status is Status.AUTH_FAILED
    assert outcome.error_msg == f"HTTP {status}"


@pytest.mark.parametrize("code", ["APIG.0308", "FSS.0429"])
def test_throttling_codes_are_throttled(code: str) -> None:
    outcome = classify(Probe(429, error_code=code, error_msg="too many requests"))
    assert outcome == Outcome(Status.THROTTLED, code, "too many requests")


def test_bare_429_is_throttled_with_an_explaining_message() -> None:
    outcome = classify(Probe(429))
    assert outcome.status is Status.THROTTLED
    assert "429" in outcome.error_msg
    assert "nothing of these credentials accepted" in outcome.error_msg


def test_500_fss_0500_is_an_error_naming_status_and_code() -> None:
    outcome = classify(Probe(500, error_code="FSS.0500", error_msg="internal error"))
    assert outcome.status is Status.ERROR
    assert outcome.error_code == "FSS.0500"
    assert "HTTP 500" in outcome.error_msg
    assert "FSS.0500: internal error" in outcome.error_msg


@pytest.mark.parametrize("status", [502, 503, 504])
def test_5xx_without_a_code_is_an_error_mentioning_the_status(status: int) -> None:
    outcome = classify(Probe(status))
    assert outcome.status is Status.ERROR
    assert outcome.error_code == ""
    assert f"server error HTTP {status}" in outcome.error_msg
    assert "no error code" in outcome.error_msg


def test_5xx_with_a_message_but_no_code_has_no_dangling_colon() -> None:
    msg = "HTTP 502 with a non-JSON body (text/html, 153 bytes)"
    outcome = classify(Probe(502, error_msg=msg))
    assert outcome.status is Status.ERROR
    assert msg in outcome.error_msg
    assert "(: " not in outcome.error_msg


def test_404_apig_0101_wrong_endpoint_is_an_error_not_function_not_found() -> None:
    outcome = classify(Probe(404, error_code="APIG.0101", error_msg="The API does not exist"))
    assert outcome.status is Status.ERROR
    assert outcome.error_code == "APIG.0101"
    assert "unexpected HTTP 404" in outcome.error_msg
    assert "APIG.0101" in outcome.error_msg


def test_bare_404_is_an_error_not_a_finding() -> None:
    outcome = classify(Probe(404))
    assert outcome.status is Status.ERROR
    assert outcome.error_msg == "unexpected HTTP 404 (no error code in the body)"


def test_unexpected_status_is_an_error() -> None:
    outcome = classify(Probe(418, error_code="TEA.0001", error_msg="I'm a teapot"))
    assert outcome.status is Status.ERROR
    assert "unexpected HTTP 418" in outcome.error_msg
    assert "TEA.0001: I'm a teapot" in outcome.error_msg


@pytest.mark.parametrize(
    ("kind", "text"),
    [
        (ErrorKind.TIMEOUT, "request timed out"),
        (ErrorKind.CONNECTION, "connection failed"),
        (ErrorKind.BAD_BODY, "unreadable response body"),
    ],
)
def test_error_kinds_are_errors_with_a_message(kind: ErrorKind, text: str) -> None:
    bare = classify(Probe(None, kind))
    assert bare == Outcome(Status.ERROR, "", text)
    detailed = classify(Probe(None, kind, error_msg="after 10 s"))
    assert detailed == Outcome(Status.ERROR, "", f"{text}: after 10 s")


def test_an_error_kind_beats_a_200_with_an_ak() -> None:
    # A 200 whose body could not be read is not evidence of configured keys.
    outcome = classify(Probe(200, ErrorKind.BAD_BODY, tracing_ak=AK))
    assert outcome.status is Status.ERROR


@pytest.mark.parametrize(
    ("status", "code", "expected"),
    [
        (404, "FSS.0404", Status.MISSING_KEYS),
        (200, "FSS.0404", Status.MISSING_KEYS),
        (500, "FSS.1051", Status.FUNCTION_NOT_FOUND),
        (403, "FSS.1051", Status.FUNCTION_NOT_FOUND),
        (404, "FSS.1051", Status.FUNCTION_NOT_FOUND),
        (401, "FSS.0404", Status.MISSING_KEYS),
        (403, "APIG.0308", Status.THROTTLED),
        (500, "FSS.0429", Status.THROTTLED),
        (500, "FSS.0403", Status.AUTH_FAILED),
        (200, "APIG.0301", Status.AUTH_FAILED),
        (429, "FSS.1051", Status.FUNCTION_NOT_FOUND),
        (429, "FSS.0404", Status.MISSING_KEYS),
    ],
)
def test_error_code_takes_precedence_over_status(status: int, code: str, expected: Status) -> None:
    assert classify(Probe(status, error_code=code, tracing_ak=AK)).status is expected


def test_auth_code_beats_a_429_status() -> None:
    assert classify(Probe(429, error_code="FSS.0403")).status is Status.AUTH_FAILED


def test_code_sets_are_disjoint() -> None:
    sets = [MISSING_KEYS_CODES, NOT_FOUND_CODES, THROTTLE_CODES, AUTH_CODES]
    for left, right in itertools.combinations(sets, 2):
        assert not left & right


STATUSES = [None, 100, 200, 201, 204, 301, 400, 401, 403, 404, 409, 418, 429, 500, 502, 503, 599]
KINDS = [None, *ErrorKind]
CODES = ["", "FSS.0404", "FSS.1051", "APIG.0308", "APIG.0301", "FSS.0500", "APIG.0101", "X.1"]


@pytest.mark.parametrize("kind", KINDS)
def test_classify_is_total(kind: ErrorKind | None) -> None:
    seen = set()
    for status, code, ak, msg in itertools.product(STATUSES, CODES, [None, "", AK], ["", "m"]):
        outcome = classify(Probe(status, kind, code, msg, ak))
        assert isinstance(outcome, Outcome)
        assert isinstance(outcome.status, Status)
        assert outcome.status is not Status.INVALID_URN
        if outcome.status is Status.CONFIGURED:
            assert (status, kind, bool(ak)) == (200, None, True)
        else:
            assert outcome.error_code or outcome.error_msg, (status, kind, code, ak, msg)
        seen.add(outcome.status)
    if kind is None:
        # Without a key policy nothing is unexpected_keys (see the policy tests below).
        assert seen == set(Status) - {Status.INVALID_URN, Status.UNEXPECTED_KEYS}
    elif kind is ErrorKind.CREDENTIALS:
        assert seen == {Status.AUTH_FAILED}  # nothing could be sent: no credential
    elif kind is ErrorKind.GATEWAY_REFUSING:
        assert seen == {Status.THROTTLED}  # nothing sent: the gateway refused it all along
    else:
        assert seen == {Status.ERROR}


def test_classify_is_pure() -> None:
    probe = Probe(404, error_code="FSS.0404", error_msg="x")
    assert classify(probe) == classify(probe)
    assert probe == Probe(404, error_code="FSS.0404", error_msg="x")


# --- the APM key policy (expected_tracing_aks) ------------------------------------------------

POLICY = frozenset({"APMKEYEXPECTED0001", "APMKEYEXPECTED0002"})


def test_an_expected_ak_is_configured() -> None:
    outcome = classify(Probe(200, tracing_ak="APMKEYEXPECTED0002"), POLICY)
    assert outcome.status is Status.CONFIGURED


def test_any_other_ak_is_unexpected_keys_and_the_message_never_quotes_it() -> None:
    outcome = classify(Probe(200, tracing_ak="SOMEOTHERTEAMSKEY99"), POLICY)
    assert outcome.status is Status.UNEXPECTED_KEYS
    assert "SOMEOTHERTEAMSKEY99" not in outcome.error_msg
    assert "expected_tracing_aks" in outcome.error_msg


@pytest.mark.parametrize(
    "probe", [Probe(200, tracing_ak=""), Probe(200), Probe(404, error_code="FSS.0404")]
)
def test_the_policy_does_not_turn_missing_keys_into_anything_else(probe: Probe) -> None:
    assert classify(probe, POLICY).status is Status.MISSING_KEYS


def test_without_a_policy_any_ak_is_configured() -> None:
    assert classify(Probe(200, tracing_ak="SOMEOTHERTEAMSKEY99")).status is Status.CONFIGURED
