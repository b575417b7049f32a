"""Tests for auditor/urn.py: parsing and validating function URNs."""

from __future__ import annotations

import pytest

from auditor.errors import AuditorError, InvalidUrn
from auditor.source.urn import FunctionUrn, parse_urn

PROJECT = "0123456789abcdefABCDEF0123456789"
BASE = f"urn:fss:cn-north-4:{PROJECT}:function:default:my-func_1"


@pytest.mark.parametrize(
    ("text", "qualifier"),
    [
        (BASE, ""),
        (f"{BASE}:latest", "latest"),
        (f"{BASE}:v2", "v2"),
        (f"{BASE}:1.0", "1.0"),
        (f"{BASE}:!prod", "!prod"),
        (f"{BASE}:!blue_green-2", "!blue_green-2"),
    ],
)
def test_valid_urns_parse_into_their_parts(text: str, qualifier: str) -> None:
    urn = parse_urn(text)
    assert urn == FunctionUrn("cn-north-4", PROJECT, "default", "my-func_1", qualifier)
    assert urn.unqualified == BASE
    assert str(urn) == text


def test_other_regions_and_names_are_accepted() -> None:
    urn = parse_urn(f"urn:fss:ap-southeast-1:{'9' * 32}:function:pkg_A:Fn-9")
    assert (urn.region, urn.project_id, urn.package, urn.name) == (
        "ap-southeast-1",
        "9" * 32,
        "pkg_A",
        "Fn-9",
    )


def test_unqualified_drops_version_and_alias_but_str_keeps_it() -> None:
    versioned = parse_urn(f"{BASE}:v2")
    aliased = parse_urn(f"{BASE}:!prod")
    assert versioned.unqualified == aliased.unqualified == BASE
    assert str(versioned).endswith(":v2")
    assert str(aliased).endswith(":!prod")


def test_str_without_qualifier_has_no_trailing_colon() -> None:
    assert str(FunctionUrn("cn-north-4", PROJECT, "default", "f")) == (
        f"urn:fss:cn-north-4:{PROJECT}:function:default:f"
    )


def test_function_urn_is_frozen_and_hashable() -> None:
    urn = parse_urn(BASE)
    with pytest.raises(AttributeError):
        urn.name = "other"  # type: ignore[misc]
    assert {urn, parse_urn(BASE)} == {urn}


@pytest.mark.parametrize(
    ("text", "why"),
    [
        pytest.param("", "empty", id="empty"),
        pytest.param("x" * 513, "longer than 512", id="too-long"),
        pytest.param("not a urn at all", "not a function URN", id="not-a-urn"),
        pytest.param(
            f"arn:fss:cn-north-4:{PROJECT}:function:default:f", "not a function URN", id="arn"
        ),
        pytest.param(
            f"urn:obs:cn-north-4:{PROJECT}:function:default:f", "not a function URN", id="service"
        ),
        pytest.param(f"urn:fss:cn-north-4:{PROJECT}:function:f", "not a function URN", id="short"),
        pytest.param(
            f"urn:fss:cn-north-4:{PROJECT}:trigger:default:f",
            "resource type is 'trigger'",
            id="type",
        ),
        pytest.param(
            f"urn:fss:CN-NORTH-4:{PROJECT}:function:default:f",
            "region 'CN-NORTH-4'",
            id="region-upper",
        ),
        pytest.param(
            f"urn:fss:cnnorth4:{PROJECT}:function:default:f",
            "region 'cnnorth4'",
            id="region-no-dash",
        ),
        pytest.param(f"urn:fss::{PROJECT}:function:default:f", "region ''", id="region-empty"),
        pytest.param(
            f"urn:fss:cn-north-4:{PROJECT[:31]}:function:default:f",
            "32 letters or digits",
            id="pid-31",
        ),
        pytest.param(
            f"urn:fss:cn-north-4:{PROJECT}a:function:default:f", "32 letters or digits", id="pid-33"
        ),
        pytest.param(
            f"urn:fss:cn-north-4:{PROJECT[:31]}-:function:default:f",
            "32 letters or digits",
            id="pid-dash",
        ),
        pytest.param(
            f"urn:fss:cn-north-4:{PROJECT}:function:de.fault:f",
            "package 'de.fault'",
            id="package-dot",
        ),
        pytest.param(f"urn:fss:cn-north-4:{PROJECT}:function::f", "package ''", id="package-empty"),
        pytest.param(
            f"urn:fss:cn-north-4:{PROJECT}:function:default:my func",
            "function name 'my func'",
            id="name-space",
        ),
        pytest.param(
            f"urn:fss:cn-north-4:{PROJECT}:function:default:f/g",
            "function name 'f/g'",
            id="name-slash",
        ),
        pytest.param(
            f"urn:fss:cn-north-4:{PROJECT}:function:default:{'n' * 129}",
            "function name",
            id="name-129",
        ),
        pytest.param(f"{BASE}:v1:extra", "too many ':'-separated parts (9", id="too-many-parts"),
        pytest.param(f"{BASE}:", "qualifier ''", id="qualifier-empty"),
        pytest.param(f"{BASE}:v 1", "qualifier 'v 1'", id="qualifier-space"),
        pytest.param(f"{BASE}:!a.b", "qualifier '!a.b'", id="alias-dot"),
        pytest.param(f"{BASE}:!", "qualifier '!'", id="alias-empty"),
        pytest.param(f"{BASE}:{'9' * 65}", "neither a version nor '!alias'", id="version-65"),
        pytest.param(f"{BASE}\n", "function name", id="trailing-newline"),
    ],
)
def test_invalid_urns_raise_a_message_saying_why(text: str, why: str) -> None:
    with pytest.raises(InvalidUrn) as caught:
        parse_urn(text)
    assert why in str(caught.value)
    assert "\n" not in str(caught.value)


def _urn_of_length(length: int) -> str:
    # Only the region has no length limit of its own, so it pads the URN to `length`.
    fixed = f"urn:fss:cn-:{PROJECT}:function:{'p' * 128}:{'n' * 128}"
    return fixed.replace("cn-", "cn-" + "x" * (length - len(fixed)), 1)


def test_length_limit_is_512_characters() -> None:
    assert len(parse_urn(_urn_of_length(512)).region) == 512 - 308
    with pytest.raises(InvalidUrn, match="longer than 512 characters"):
        parse_urn(_urn_of_length(513))


def test_invalid_urn_is_an_auditor_error() -> None:
    assert issubclass(InvalidUrn, AuditorError)
