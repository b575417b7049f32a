"""The config's `[[accounts]]` entries: reading, checking, and what each means for IAM."""

from __future__ import annotations

from typing import Any

import pytest

from auditor.accounts import Account, parse_accounts
from auditor.errors import UsageError

THEIR_DOMAIN = "22222222222222222222222222222222"


def test_accounts_from_the_config() -> None:
    accounts = parse_accounts(
        [
            {"domain_name": "acme", "agency_name": "auditor", "regions": ["cn-north-4"]},
            {
                "domain_id": THEIR_DOMAIN,
                "agency_name": "audit",
                "name": "beta",
                "regions": "ap-southeast-1, la-south-2",
            },
        ],
        "estate.toml: accounts",
    )
    assert accounts == (
        Account("auditor", domain_name="acme", name="acme", regions=("cn-north-4",)),
        Account(
            "audit", domain_id=THEIR_DOMAIN, name="beta", regions=("ap-southeast-1", "la-south-2")
        ),
    )
    assert accounts[0].assume_role() == {"domain_name": "acme", "agency_name": "auditor"}
    assert accounts[1].assume_role() == {"domain_id": THEIR_DOMAIN, "agency_name": "audit"}
    assert accounts[0].domain_scope() == {"domain": {"name": "acme"}}
    assert accounts[1].domain_scope() == {"domain": {"id": THEIR_DOMAIN}}


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ([], "expected [[accounts]] tables"),
        ({"domain_name": "a"}, "expected [[accounts]] tables"),
        (["acme"], "accounts 1: expected a table"),
        ([{"agency_name": "x"}], "accounts 1: give domain_name or domain_id"),
        ([{"agency_name": "x", "domain_name": "a", "domain_id": "b"}], "one of them"),
        ([{"domain_name": "a"}], "accounts 1: agency_name is missing"),
        ([{"domain_name": "a", "agency_name": " "}], "agency_name is missing"),
        ([{"domain_name": "a", "agency_name": "x", "region": "r"}], "unknown key 'region'"),
        ([{"domain_name": 5, "agency_name": "x"}], "domain_name must be a string"),
        ([{"domain_name": "a", "agency_name": "x", "name": "a b"}], "name 'a b' must be"),
        ([{"domain_name": "a", "agency_name": "x", "regions": ["North"]}], "regions must be"),
        ([{"domain_name": "a", "agency_name": "x", "regions": 4}], "regions must be"),
        (
            [{"domain_name": "a", "agency_name": "x"}, {"domain_id": "a", "agency_name": "y"}],
            "the name 'a' is used twice",
        ),
    ],
)
def test_bad_accounts_name_the_entry_and_the_key(value: Any, message: str) -> None:
    with pytest.raises(UsageError, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse_accounts(value)


def test_an_account_needs_exactly_one_domain() -> None:
    with pytest.raises(ValueError):
        Account("auditor")
    with pytest.raises(ValueError):
        Account("auditor", domain_name="a", domain_id="b")


@pytest.mark.parametrize(
    ("own", "chosen", "expected"),
    [
        ((), None, None),
        ((), ["a-b"], {"a-b"}),
        (("a-b", "c-d"), None, {"a-b", "c-d"}),
        (("a-b", "c-d"), ["c-d", "e-f"], {"c-d"}),
        (("a-b",), ["e-f"], set()),
    ],
)
def test_the_regions_of_an_account_within_the_runs(
    own: tuple[str, ...], chosen: list[str] | None, expected: set[str] | None
) -> None:
    account = Account("auditor", domain_name="acme", regions=own)
    assert account.regions_within(chosen) == expected
