"""`--all-projects`: the estate's projects, listed by IAM, account by account, and the
credentials that reach each of them.

The credentials' own account is listed with its own identity; each `[[accounts]]` entry through
its agency (agency tokens, or temporary keys for AK/SK). An account that cannot be listed (its
agency refuses, IAM fails) is reported and the others carry on; when the own account cannot be
listed, nothing is audited (exit 2). `--shard K/N` keeps a stable share of the projects, so
several processes (a Kubernetes Indexed Job) split one estate.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from auditor.accounts import Account
from auditor.cli.console import LOG
from auditor.cli.wiring import credential_source, discover, log_listings
from auditor.config import Settings
from auditor.errors import AgencyRefused, IamError, UsageError
from auditor.model import ProjectScope, utc_now
from auditor.service.agency import reach_account
from auditor.service.auth import Credentials, CredentialsByProject
from auditor.service.credential_sources import CredentialSource
from auditor.service.expiring import Shelves
from auditor.service.iam import IamApi
from auditor.service.identity import Identity
from auditor.service.projects import (
    ProjectSelection,
    account_name,
    list_projects,
    select_projects,
)
from auditor.source.listing import Listing

_SHARD = re.compile(r"(\d+)/(\d+)\Z")


@dataclass(frozen=True)
class Shard:
    """`--shard K/N`: this process audits the projects whose stable hash falls in share K."""

    index: int  # 1..count
    count: int

    def keeps(self, project_id: str) -> bool:
        digest = hashlib.sha256(project_id.encode()).digest()
        return int.from_bytes(digest[:8], "big") % self.count == self.index - 1

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def parse_shard(text: str | None) -> Shard | None:
    """`K/N` with 1 <= K <= N (Kubernetes' JOB_COMPLETION_INDEX is 0-based: pass index + 1)."""
    if not text:
        return None
    matched = _SHARD.match(text.strip())
    if matched is None:
        raise UsageError(f"--shard {text}: expected K/N, e.g. 2/3 (this is share 2 of 3)")
    index, count = int(matched.group(1)), int(matched.group(2))
    if not 1 <= index <= count:
        raise UsageError(f"--shard {text}: K must be 1 to N")
    return Shard(index, count)


@dataclass
class AccountListing:
    """What listing one account came to (`run.accounts` in the JSON report)."""

    name: str
    kind: str  # "own" or "agency"
    agency: str = ""
    status: str = "listed"  # "listed", "refused" (its agency), "failed" (IAM)
    error: str = ""
    projects_listed: int = 0
    projects: list[str] = field(default_factory=list)  # ids audited (this shard's)
    skipped: list[dict[str, str]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "agency": self.agency,
            "status": self.status,
            "error": self.error,
            "projects_listed": self.projects_listed,
            "projects_audited": list(self.projects),
            "projects_skipped": list(self.skipped),
        }


@dataclass
class Estate:
    """The projects to audit (with their account's name) and how each account went."""

    scopes: list[ProjectScope]
    accounts: list[AccountListing]
    routes: dict[str, Account]  # project id -> the other account it belongs to
    shard: Shard | None = None
    # The agency tokens or temporary keys the listing fetched, for discovery and the audit.
    shelves: Shelves = field(default_factory=Shelves)

    @property
    def unreached(self) -> list[AccountListing]:
        return [account for account in self.accounts if account.status != "listed"]

    def run_facts(self) -> list[dict[str, Any]]:
        return [account.as_dict() for account in self.accounts]


def iam_api(session: aiohttp.ClientSession, settings: Settings) -> IamApi:
    """The estate's IAM calls over `session`, at the settings' IAM endpoint and timeout."""
    return IamApi(session, endpoint=settings.iam_endpoint, timeout=settings.timeout)


async def list_estate(
    settings: Settings,
    source: CredentialSource,
    *,
    regions: Collection[str] | None,
    excluded: Collection[str],
    shard: Shard | None = None,
) -> Estate:
    """List the own account's projects and each `[[accounts]]` entry's (concurrently)."""
    if source.identity is None:
        raise UsageError(
            "--all-projects lists projects with IAM: it needs AUDITOR_TOKEN, "
            "HUAWEICLOUD_SDK_AK/SK or a HUAWEICLOUD_USERNAME/PASSWORD, not a credentials "
            "file's tokens alone"
        )
    wanted = frozenset(regions) if regions else None
    timeout = aiohttp.ClientTimeout(total=None)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        api = iam_api(session, settings)
        home = source.identity(session)
        try:
            name = await account_name(api, home)
            listed = await list_projects(api, home)
        except IamError as exc:
            raise UsageError(f"--all-projects: {exc}") from None
        own = AccountListing(name, "own", projects_listed=len(listed))
        estate = Estate([], [own], {}, shard)
        shelves = estate.shelves
        _take(estate, own, select_projects(listed, regions=wanted, exclude=excluded), None)
        others = await asyncio.gather(
            *(
                _list_account(api, home, account, wanted, excluded, shelves)
                for account in settings.accounts
            )
        )
        for account, (listing, selection) in zip(settings.accounts, others, strict=True):
            estate.accounts.append(listing)
            if selection is not None:
                _take(estate, listing, selection, account)
    return estate


async def _list_account(
    api: IamApi,
    home: Identity,
    account: Account,
    regions: frozenset[str] | None,
    excluded: Collection[str],
    shelves: Shelves,
) -> tuple[AccountListing, ProjectSelection | None]:
    listing = AccountListing(account.name, "agency", agency=account.agency_name)
    access = reach_account(api, home, account, now=utc_now, shelves=shelves)
    try:
        listed = await list_projects(api, access.identity)
    except AgencyRefused as exc:
        listing.status, listing.error = "refused", str(exc)
        return listing, None
    except IamError as exc:
        listing.status, listing.error = "failed", str(exc)
        return listing, None
    listing.projects_listed = len(listed)
    within = account.regions_within(regions)
    return listing, select_projects(listed, regions=within, exclude=excluded)


def _take(
    estate: Estate,
    listing: AccountListing,
    selection: ProjectSelection,
    account: Account | None,
) -> None:
    listing.skipped = [
        {"project": skipped.project.name, "reason": str(skipped.reason)}
        for skipped in selection.skipped
    ]
    for project in selection.chosen:
        if estate.shard is not None and not estate.shard.keeps(project.id):
            continue
        listing.projects.append(project.id)
        estate.scopes.append(ProjectScope(project.id, project.region, listing.name))
        if account is not None:
            estate.routes[project.id] = account


def estate_source(
    source: CredentialSource,
    settings: Settings,
    routes: Mapping[str, Account],
    shelves: Shelves | None = None,
) -> CredentialSource:
    """Credentials for an estate's projects: each other account's (through its agency, its own
    rate scope) for the projects `routes` gives it, the own account's for the others. Every
    session built from it (discovery's, the audit's) shares what `shelves` holds and what
    they fetch."""
    if not routes:
        return source
    identity = source.identity
    if identity is None:
        raise UsageError(
            "other accounts are reached through IAM agencies: that needs AUDITOR_TOKEN, "
            "HUAWEICLOUD_SDK_AK/SK or a HUAWEICLOUD_USERNAME/PASSWORD, not a credentials "
            "file's tokens alone"
        )
    kept = shelves if shelves is not None else Shelves()

    def build(session: aiohttp.ClientSession, regions: Mapping[str, str]) -> Credentials:
        own = source.build(session, regions)
        api = iam_api(session, settings)
        home = identity(session)
        reached = {}
        by_project: dict[str, Credentials] = {}
        for project_id, account in routes.items():
            if account.name not in reached:
                reached[account.name] = reach_account(api, home, account, now=utc_now, shelves=kept)
            by_project[project_id] = reached[account.name].credentials
        return CredentialsByProject(by_project, own)

    return CredentialSource(source.method, build, identity)


def estate_lines(accounts: Sequence[dict[str, Any]]) -> list[str]:
    """Console lines: each account's projects, and the accounts that could not be reached."""
    lines = []
    for account in accounts:
        if account["status"] == "listed":
            lines.append(
                f"account {account['name']}: {len(account['projects_audited'])} projects "
                f"audited of {account['projects_listed']} listed"
            )
        else:
            error = str(account["error"]).removeprefix(f"account {account['name']}: ")
            lines.append(f"account {account['name']} NOT AUDITED ({account['status']}): {error}")
    return lines


def discover_estate(
    settings: Settings, env: Mapping[str, str], args: argparse.Namespace
) -> tuple[CredentialSource, Estate, list[Listing]]:
    """`--all-projects`: list the estate, then every chosen project's functions. Returns the
    credentials that reach every project, the estate and the listings."""
    if settings.projects:
        raise UsageError("--all-projects lists the projects itself: drop --project")
    source = credential_source(env, settings)
    estate = asyncio.run(
        list_estate(
            settings,
            source,
            regions=args.region or None,
            excluded=args.exclude_project,
            shard=parse_shard(args.shard),
        )
    )
    for line in estate_lines(estate.run_facts()):
        LOG.info("%s", line)
    if not estate.scopes:
        shard = f" in shard {estate.shard}" if estate.shard else ""
        raise UsageError(
            f"--all-projects: no project to audit{shard} (every listed project was skipped or "
            "no account could be listed; see the lines above)"
        )
    source = estate_source(source, settings, estate.routes, estate.shelves)
    listings = asyncio.run(discover(settings, source, estate.scopes))
    log_listings(listings)
    return source, estate, listings
