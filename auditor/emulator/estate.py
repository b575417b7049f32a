"""The estate the emulator may play instead of one account: accounts, their projects, and the
agencies through which the home account reaches the others.

Huawei Cloud gives every account (a *domain*: an id and a name) a default project per region,
named after the region (`cn-north-4`), and lets it add sub-projects named `<region>_<suffix>`
(`cn-north-4_ops`) that belong to that region; every account also has the built-in billing
project `MOS`, in no region, which FunctionGraph knows nothing of (`region_of`). IAM lists a
default project with the account as its parent, a sub-project with its region's default project.

The first account is the *home* account: the emulator's users, token and access keys are its
own. Every other account has one agency, `agency_name`, that trusts the home account, unless it
is one of the `refusing` accounts: then the agency exists but trusts nobody, as one whose trust
was withdrawn. `Estate.generate` draws every id from a seed; `Estate.fleet` spreads a fleet's
functions over every project but `MOS` (`Fleet.generate`'s `cells`), so each function's URN
carries its project's id and region. Nothing here speaks HTTP.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

from auditor.emulator.config import DEFAULT_DOMAIN
from auditor.emulator.fleet import REGIONS, Fleet

MOS = "MOS"  # the built-in billing project every account has
DEFAULT_AGENCY = "emulator-agency"
DEFAULT_SUBPROJECTS: tuple[str, ...] = ("ops",)
_SUFFIX = re.compile(r"[A-Za-z0-9_-]{1,32}\Z")


def region_of(project_name: str) -> str | None:
    """The region a project of this name serves: the name itself for a region's default project,
    the part before the first `_` for a sub-project, None for `MOS`."""
    if project_name == MOS:
        return None
    return project_name.split("_", 1)[0]


def account_name(index: int) -> str:
    """The domain name of the estate's account `index` (0 is the home account,
    `DEFAULT_DOMAIN`; then `emulator-domain-2`, `emulator-domain-3`, ...)."""
    return DEFAULT_DOMAIN if index == 0 else f"{DEFAULT_DOMAIN}-{index + 1}"


def _hex_id(*parts: object) -> str:
    return hashlib.sha256(":".join(map(str, parts)).encode()).hexdigest()[:32]


@dataclass(frozen=True, slots=True)
class Project:
    """One IAM project: a region's default project, a sub-project, or `MOS`."""

    id: str
    name: str
    domain_id: str
    parent_id: str

    @property
    def region(self) -> str | None:
        """The region it serves (`region_of` its name); None for `MOS`."""
        return region_of(self.name)


@dataclass(frozen=True, slots=True)
class Account:
    """One account of the estate. `agency_name` is None for the home account, which needs no
    agency; `trusts_home` says whether the agency lets the home account in."""

    domain_id: str
    name: str
    projects: tuple[Project, ...]
    agency_name: str | None = None
    trusts_home: bool = False

    def project_named(self, name: str) -> Project | None:
        """This account's project called `name`, or None."""
        return next((p for p in self.projects if p.name == name), None)


def _account(index: int, seed: int, regions: Sequence[str], subprojects: Sequence[str]) -> Account:
    domain_id = _hex_id("domain", seed, index)
    projects: list[Project] = []
    for region in regions:
        default = Project(_hex_id("project", seed, domain_id, region), region, domain_id, domain_id)
        projects.append(default)
        for suffix in subprojects:
            name = f"{region}_{suffix}"
            projects.append(
                Project(_hex_id("project", seed, domain_id, name), name, domain_id, default.id)
            )
    projects.append(Project(_hex_id("project", seed, domain_id, MOS), MOS, domain_id, domain_id))
    return Account(domain_id, account_name(index), tuple(projects))


class Estate:
    """Accounts with their projects and agencies, in a stable order; the first is the home
    account. Build one with `Estate.generate`."""

    def __init__(self, accounts: Sequence[Account]) -> None:
        if not accounts:
            raise ValueError("an estate needs at least one account")
        self.accounts: tuple[Account, ...] = tuple(accounts)
        self.home = self.accounts[0]
        self._by_id = {a.domain_id: a for a in self.accounts}
        self._by_name = {a.name: a for a in self.accounts}
        self._projects = {p.id: p for a in self.accounts for p in a.projects}
        if len(self._by_id) != len(self.accounts) or len(self._by_name) != len(self.accounts):
            raise ValueError("accounts: a domain id or name is used twice")
        if len(self._projects) != sum(len(a.projects) for a in self.accounts):
            raise ValueError("accounts: a project id is used twice")
        self.mos_ids: frozenset[str] = frozenset(
            p.id for p in self._projects.values() if p.name == MOS
        )

    @classmethod
    def generate(
        cls,
        accounts: int,
        *,
        seed: int = 0,
        regions: Sequence[str] = REGIONS,
        subprojects: Sequence[str] = DEFAULT_SUBPROJECTS,
        agency_name: str = DEFAULT_AGENCY,
        refusing: Collection[str] = (),
    ) -> Estate:
        """`accounts` accounts (the first the home account, named `account_name(i)`), each with
        a default project per region, the sub-projects `<region>_<suffix>` for each of
        `subprojects`, and `MOS`; every other account's agency `agency_name` trusts the home
        account unless its domain name is in `refusing`. Ids come from `seed` alone."""
        if accounts < 1:
            raise ValueError(f"accounts: {accounts} must be >= 1")
        regions, subprojects = tuple(regions), tuple(subprojects)
        if not regions or len(set(regions)) != len(regions):
            raise ValueError("regions: need at least one, each once")
        bad = [r for r in regions if "_" in r or r == MOS or not r]
        if bad:
            raise ValueError(f"regions: {bad[0]!r} is not a region name")
        if len(set(subprojects)) != len(subprojects):
            raise ValueError("subprojects: each suffix once")
        bad = [s for s in subprojects if not _SUFFIX.match(s)]
        if bad:
            raise ValueError(
                f"subprojects: {bad[0]!r} is not a suffix (1 to 32 letters, digits, - or _)"
            )
        if not agency_name.strip():
            raise ValueError("agency_name must not be empty")
        drawn = [_account(i, seed, regions, subprojects) for i in range(accounts)]
        names = [a.name for a in drawn]
        strays = sorted(set(refusing) - set(names[1:]))
        if strays:
            raise ValueError(
                f"refusing: {', '.join(strays)} is not another account "
                f"(the others are {', '.join(names[1:]) or 'none'})"
            )
        others = [
            Account(a.domain_id, a.name, a.projects, agency_name, a.name not in refusing)
            for a in drawn[1:]
        ]
        return cls([drawn[0], *others])

    def account(self, *, domain_id: str | None = None, name: str | None = None) -> Account | None:
        """The account with this domain id or name, or None."""
        if domain_id is not None:
            return self._by_id.get(domain_id)
        return self._by_name.get(name) if name is not None else None

    def project(self, project_id: str) -> Project | None:
        """The project with this id, in any account, or None."""
        return self._projects.get(project_id)

    def account_of(self, project_id: str) -> Account | None:
        """The account that owns project `project_id`, or None."""
        project = self._projects.get(project_id)
        return None if project is None else self._by_id[project.domain_id]

    def project_names(self) -> Mapping[str, str]:
        """Every project's name, by id (`MOS` included), for IAM's token answers."""
        return {project_id: p.name for project_id, p in self._projects.items()}

    def cells(self) -> list[tuple[str, str]]:
        """`(project id, region)` of every project but `MOS`, account by account: where a
        fleet's functions live."""
        return [
            (p.id, region)
            for a in self.accounts
            for p in a.projects
            if (region := p.region) is not None
        ]

    def fleet(
        self,
        functions: int,
        *,
        seed: int = 0,
        mix: Mapping[str, float] | None = None,
        generation: int = 0,
    ) -> Fleet:
        """`Fleet.generate` spreading `functions` round-robin over `cells()`: as evenly over
        the accounts as they divide, never in `MOS`."""
        return Fleet.generate(
            functions, seed=seed, mix=mix, generation=generation, cells=self.cells()
        )
