"""The projects of an account, and which of them an audit visits.

IAM lists the projects a user can access. Each lives in one region, told by its name: a
region's default project is named after the region (`cn-north-4`), a sub-project
`<region>_<suffix>` (`cn-north-4_ops`) belongs to that region, and `MOS`, IAM's built-in
billing project, belongs to none (FunctionGraph has nothing there: it is never asked).

`list_projects` asks IAM, as any `Identity`: `GET /v3/auth/projects` (no permission needed, no
paging), or `GET /v3/projects?page=&per_page=` (paged, needs IAM read permission).
`select_projects` is pure: it decides which projects an audit visits (enabled, in a region,
in the regions asked for, not excluded) and says why each other one is left out.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from auditor.errors import IamError
from auditor.model import ProjectScope
from auditor.service.iam import IamApi
from auditor.service.identity import Identity

BILLING_PROJECT = "MOS"
MAX_PER_PAGE = 5000  # IAM's limit for `per_page`
MAX_PAGES = 1000  # a listing that pages past this many does not end: it is stopped
# A region name as the config accepts one: letters, then dash-separated parts (cn-north-4).
_REGION = re.compile(r"[a-z]{2,}(?:-[a-z0-9]+)+\Z")


@dataclass(frozen=True, slots=True)
class Project:
    """One project IAM listed: its id, name, region (from the name; "" when the name names
    none), account id (`domain_id`), whether it is enabled, and the account it was listed for
    (its configured name; "" for the credentials' own)."""

    id: str
    name: str
    region: str
    domain_id: str = ""
    enabled: bool = True
    account: str = ""

    @property
    def scope(self) -> ProjectScope:
        """The project as discovery takes it: its id and region."""
        return ProjectScope(self.id, self.region)


class SkipReason(StrEnum):
    """Why a listed project is not audited (the strings are shown to users)."""

    BILLING = "the built-in billing project MOS"
    DISABLED = "disabled"
    NO_REGION = "its name names no region"
    EXCLUDED = "excluded"
    OTHER_REGION = "in a region not selected"
    DUPLICATE = "listed twice"


@dataclass(frozen=True, slots=True)
class SkippedProject:
    """A listed project that is not audited, and why."""

    project: Project
    reason: SkipReason


@dataclass(frozen=True, slots=True)
class ProjectSelection:
    """The projects to audit, in the order listed, and the ones left out with their reason."""

    chosen: tuple[Project, ...]
    skipped: tuple[SkippedProject, ...] = ()

    @property
    def scopes(self) -> tuple[ProjectScope, ...]:
        """The chosen projects as discovery takes them."""
        return tuple(project.scope for project in self.chosen)

    @property
    def regions(self) -> dict[str, str]:
        """The region of each chosen project, by id (what credentials are built with)."""
        return {project.id: project.region for project in self.chosen}


def region_of(name: str) -> str:
    """The region a project belongs to, from its name: `cn-north-4` and `cn-north-4_ops` are
    in cn-north-4; "" for `MOS` and any name that is neither a region nor `<region>_<suffix>`."""
    region, _, _ = name.partition("_")
    return region if _REGION.match(region) else ""


def select_projects(
    projects: Iterable[Project],
    *,
    regions: Collection[str] | None = None,
    exclude: Collection[str] = (),
) -> ProjectSelection:
    """The projects to audit: enabled, in a region, in `regions` (None: in any), and not in
    `exclude` (ids or names); each other project is skipped with its reason.

    An empty `regions` selects nothing: the caller passes None for "every region" (for an
    `[[accounts]]` entry, the intersection of its `regions` and `--region`, see
    `auditor.service.agency.Account.regions_within`).
    """
    chosen: list[Project] = []
    skipped: list[SkippedProject] = []
    seen: set[str] = set()
    excluded = set(exclude)
    wanted = None if regions is None else set(regions)
    for project in projects:
        reason = _skip_reason(project, wanted, excluded, seen)
        if reason is None:
            chosen.append(project)
        else:
            skipped.append(SkippedProject(project, reason))
        seen.add(project.id)
    return ProjectSelection(tuple(chosen), tuple(skipped))


def _skip_reason(
    project: Project, regions: set[str] | None, exclude: set[str], seen: set[str]
) -> SkipReason | None:
    if project.id in seen:
        return SkipReason.DUPLICATE
    if project.name.upper() == BILLING_PROJECT:
        return SkipReason.BILLING
    if not project.enabled:
        return SkipReason.DISABLED
    if not project.region:
        return SkipReason.NO_REGION
    if project.id in exclude or project.name in exclude:
        return SkipReason.EXCLUDED
    if regions is not None and project.region not in regions:
        return SkipReason.OTHER_REGION
    return None


async def list_projects(
    api: IamApi,
    identity: Identity,
    *,
    paged: bool = False,
    per_page: int = MAX_PER_PAGE,
    max_pages: int = MAX_PAGES,
) -> list[Project]:
    """Every project IAM lists for `identity`'s account, in IAM's order, MOS and disabled ones
    included (`select_projects` decides). A signing identity's calls carry `X-Domain-Id`
    (found first with `GET /v3/auth/domains` when not known).

    `GET /v3/auth/projects` by default; with `paged`, `GET /v3/projects` page after page of
    `per_page` (1 to 5000) until a short page, an empty one, or one that brings no project not
    seen before (an IAM that ignores paging). Raises `IamError` (`AgencyRefused` for an agency
    that refuses) when the account cannot be listed.
    """
    account = identity.account
    if not paged:
        answer = await api.call("GET", "/v3/auth/projects", identity, what="the projects list")
        return _projects_of(answer.data, account)
    if not 1 <= per_page <= MAX_PER_PAGE:
        raise ValueError(f"per_page must be 1 to {MAX_PER_PAGE}, not {per_page}")
    listed: dict[str, Project] = {}
    for page in range(1, max_pages + 1):
        answer = await api.call(
            "GET",
            f"/v3/projects?page={page}&per_page={per_page}",
            identity,
            what=f"page {page} of the projects list",
        )
        items = _projects_of(answer.data, account)
        new = [project for project in items if project.id not in listed]
        listed.update((project.id, project) for project in new)
        if len(items) < per_page or not new:
            return list(listed.values())
    message = f"the projects list did not end after {max_pages} pages: check --iam-endpoint"
    raise IamError(f"account {account}: {message}" if account else message, account=account)


def _projects_of(data: dict[str, Any], account: str) -> list[Project]:
    items = data.get("projects")
    if not isinstance(items, list):
        raise _unreadable("holds no list of projects", account)
    projects: list[Project] = []
    for item in items:
        if not isinstance(item, dict):
            raise _unreadable("holds an entry that is not a project", account)
        project_id, name = item.get("id"), item.get("name")
        if not (isinstance(project_id, str) and project_id and isinstance(name, str)):
            raise _unreadable("holds a project without an id or a name", account)
        domain_id = item.get("domain_id")
        enabled = item.get("enabled")
        projects.append(
            Project(
                id=project_id,
                name=name,
                region=region_of(name),
                domain_id=domain_id if isinstance(domain_id, str) else "",
                enabled=enabled if isinstance(enabled, bool) else True,
                account=account,
            )
        )
    return projects


def _unreadable(what: str, account: str) -> IamError:
    message = f"IAM's answer {what}: check that --iam-endpoint points at IAM"
    return IamError(f"account {account}: {message}" if account else message, account=account)


async def account_name(api: IamApi, identity: Identity) -> str:
    """The name of the account `identity` acts in (`GET /v3/auth/domains`), for reports; its
    id when IAM gives no name. Raises `IamError` when IAM cannot say."""
    answer = await api.call(
        "GET", "/v3/auth/domains", identity, what="the account's name", domain=False
    )
    domains = answer.data.get("domains")
    first = domains[0] if isinstance(domains, list) and domains else None
    if isinstance(first, dict):
        name = first.get("name") or first.get("id")
        if isinstance(name, str) and name:
            if isinstance(first.get("id"), str) and not identity.domain_id:
                identity.domain_id = first["id"]
            return name
    raise IamError("IAM's list of domains names no account: check --iam-endpoint")
