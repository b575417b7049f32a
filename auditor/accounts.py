"""The other accounts of an estate, as the config names them (`[[accounts]]`).

Each entry names an account (`domain_name` or `domain_id`), the agency there that trusts the
credentials' own account (`agency_name`), a `name` for reports (by default the domain name or
id) and, optionally, the `regions` to audit there. How an account is reached is
`auditor.service.agency`'s business; this module only reads and checks the entries.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from auditor.errors import UsageError

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}\Z")
# A region name as the config accepts one: letters, then dash-separated parts (cn-north-4).
_REGION = re.compile(r"[a-z]{2,}(?:-[a-z0-9]+)+\Z")
_ACCOUNT_KEYS = ("domain_name", "domain_id", "agency_name", "name", "regions")


@dataclass(frozen=True, slots=True)
class Account:
    """One `[[accounts]]` entry: the account (by `domain_name` or `domain_id`), the agency
    there that trusts ours, a `name` for reports (by default the domain name or id), and the
    regions to audit there (empty: every region)."""

    agency_name: str
    domain_name: str = ""
    domain_id: str = ""
    name: str = ""
    regions: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        if bool(self.domain_name) == bool(self.domain_id):
            raise ValueError("an account is named by domain_name or domain_id, not both")
        if not self.name:
            object.__setattr__(self, "name", self.domain_name or self.domain_id)

    def assume_role(self) -> dict[str, str]:
        """The `assume_role` identity IAM's agency calls take (without `duration_seconds`)."""
        if self.domain_id:
            return {"domain_id": self.domain_id, "agency_name": self.agency_name}
        return {"domain_name": self.domain_name, "agency_name": self.agency_name}

    def domain_scope(self) -> dict[str, Any]:
        """The scope of a token for the whole account (what IAM's listing calls take)."""
        if self.domain_id:
            return {"domain": {"id": self.domain_id}}
        return {"domain": {"name": self.domain_name}}

    def regions_within(self, chosen: Collection[str] | None) -> frozenset[str] | None:
        """The regions to audit in this account, given the run's (`--region`; None: all): the
        intersection with the account's own, None when neither narrows."""
        if not self.regions:
            return None if chosen is None else frozenset(chosen)
        if chosen is None:
            return frozenset(self.regions)
        return frozenset(self.regions) & frozenset(chosen)


def parse_accounts(value: Any, key: str = "accounts") -> tuple[Account, ...]:
    """The `[[accounts]]` tables of a config, validated; `UsageError` names the entry and the
    key at fault (`key` is the label: `estate.toml: accounts`). Names must be unique: they
    tell the accounts apart in reports and rate scopes."""
    if not isinstance(value, list | tuple) or not value:
        raise UsageError(f"{key}: expected [[accounts]] tables with domain_name or domain_id")
    accounts: list[Account] = []
    for number, item in enumerate(value, start=1):
        where = f"{key} {number}"
        if isinstance(item, Account):
            accounts.append(item)
            continue
        if not isinstance(item, Mapping):
            raise UsageError(f"{where}: expected a table with domain_name or domain_id")
        extra = sorted(set(item) - set(_ACCOUNT_KEYS))
        if extra:
            raise UsageError(
                f"{where}: unknown key {extra[0]!r} (known: {', '.join(_ACCOUNT_KEYS)})"
            )
        accounts.append(_account(where, item))
    names = [account.name for account in accounts]
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        raise UsageError(f"{key}: the name {twice[0]!r} is used twice; give each account a name")
    return tuple(accounts)


def _account(where: str, item: Mapping[str, Any]) -> Account:
    values: dict[str, str] = {}
    for name in ("domain_name", "domain_id", "agency_name", "name"):
        text = item.get(name, "")
        if not isinstance(text, str):
            raise UsageError(f"{where}: {name} must be a string, not {text!r}")
        values[name] = text.strip()
    if bool(values["domain_name"]) == bool(values["domain_id"]):
        raise UsageError(f"{where}: give domain_name or domain_id (one of them)")
    if not values["agency_name"]:
        raise UsageError(f"{where}: agency_name is missing (the agency that trusts this account)")
    if values["name"] and not _NAME.match(values["name"]):
        raise UsageError(
            f"{where}: name {values['name']!r} must be letters, digits, '.', '_' or '-'"
        )
    regions = item.get("regions", [])
    if isinstance(regions, str):
        regions = [part.strip() for part in regions.split(",") if part.strip()]
    if not isinstance(regions, list) or not all(
        isinstance(r, str) and _REGION.match(r) for r in regions
    ):
        raise UsageError(f"{where}: regions must be a list of region names like cn-north-4")
    return Account(
        agency_name=values["agency_name"],
        domain_name=values["domain_name"],
        domain_id=values["domain_id"],
        name=values["name"],
        regions=tuple(dict.fromkeys(regions)),
    )
