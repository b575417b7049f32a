"""IAM's listing calls, as the emulator serves them for an estate: which projects and which
account the caller's credentials see.

- `GET /v3/auth/projects` (any valid token of the account, or a signature, `X-Domain-Id` if sent;
  no paging) → `{"links": {"self"}, "projects": [PROJECT, ...]}`, every project of the caller's
  account, `MOS` included, as Huawei's answer does.
- `GET /v3/projects?name=&parent_id=&domain_id=&enabled=&page=&per_page=` (a domain-scoped
  token or a signature; a project-scoped token is 403) → the same objects filtered, `page`
  (from 1) and `per_page` (1 to 5000) together or neither, `links` with `self`, `previous` and
  `next` (null at either end).
- `GET /v3/auth/domains` (as `/v3/auth/projects`) → `{"links": {"self"}, "domains": [{"id",
  "name", "enabled", "description", "links"}]}`, the caller's own account.

A PROJECT is `{"id", "name", "domain_id", "parent_id", "enabled", "is_domain", "description",
"links": {"self"}}`: a region's default project and `MOS` have the account as parent, a
sub-project its region's default project. Who the caller is, `auth.Caller`, is decided before.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from auditor.emulator.auth import Caller
from auditor.emulator.estate import Estate, Project
from auditor.emulator.faults import Answer, iam_error

MAX_PER_PAGE = 5000

NOT_DOMAIN_SCOPED = iam_error(
    403,
    "Forbidden",
    "You are not authorized to perform the requested action: listing projects takes a "
    "domain-scoped token.",
)
BAD_PAGING = iam_error(
    400,
    "Bad Request",
    f"Invalid page or per_page: give both, page >= 1 and per_page from 1 to {MAX_PER_PAGE}.",
)


def _project(project: Project, origin: str) -> dict[str, Any]:
    return {
        "id": project.id,
        "name": project.name,
        "domain_id": project.domain_id,
        "parent_id": project.parent_id,
        "enabled": True,
        "is_domain": False,
        "description": "",
        "links": {"self": f"{origin}/v3/projects/{project.id}"},
    }


class IamListing:
    """The listing calls over one estate. `origin` (`http://host:port`) makes the links."""

    def __init__(self, estate: Estate) -> None:
        self._estate = estate

    def _projects(self, caller: Caller) -> tuple[Project, ...]:
        account = self._estate.account(domain_id=caller.domain_id)
        return account.projects if account is not None else ()

    def auth_projects(self, caller: Caller, origin: str) -> Answer:
        """`GET /v3/auth/projects`: every project of the caller's account."""
        projects = [_project(p, origin) for p in self._projects(caller)]
        links = {"self": f"{origin}/v3/auth/projects"}
        return 200, json.dumps({"links": links, "projects": projects}).encode()

    def auth_domains(self, caller: Caller, origin: str) -> Answer:
        """`GET /v3/auth/domains`: the caller's account."""
        account = self._estate.account(domain_id=caller.domain_id)
        domains = [
            {
                "id": account.domain_id,
                "name": account.name,
                "enabled": True,
                "description": "",
                "links": {"self": f"{origin}/v3/domains/{account.domain_id}"},
            }
            for account in ([account] if account is not None else [])
        ]
        links = {"self": f"{origin}/v3/auth/domains"}
        return 200, json.dumps({"links": links, "domains": domains}).encode()

    def projects(self, caller: Caller, query: Mapping[str, str], origin: str) -> Answer:
        """`GET /v3/projects`: the caller's account's projects that match the query's filters,
        one page of them when it asks for pages."""
        if not caller.domain_scoped:
            return NOT_DOMAIN_SCOPED
        paging = _paging(query)
        if paging is None:
            return BAD_PAGING
        filters = {k: query[k] for k in ("name", "parent_id", "domain_id") if k in query}
        enabled = query.get("enabled", "true").lower() != "false"
        matching = [
            p
            for p in self._projects(caller)
            if enabled
            and query.get("is_domain", "false").lower() != "true"
            and all(getattr(p, key) == value for key, value in filters.items())
        ]
        base = f"{origin}/v3/projects"
        links: dict[str, str | None] = {"self": _url(base, query), "previous": None, "next": None}
        if paging != (0, 0):
            page, per_page = paging
            if page > 1:
                links["previous"] = _url(base, {**query, "page": str(page - 1)})
            if page * per_page < len(matching):
                links["next"] = _url(base, {**query, "page": str(page + 1)})
            matching = matching[(page - 1) * per_page : page * per_page]
        projects = [_project(p, origin) for p in matching]
        return 200, json.dumps({"links": links, "projects": projects}).encode()


def _paging(query: Mapping[str, str]) -> tuple[int, int] | None:
    """`(page, per_page)`, `(0, 0)` for no paging, None for paging IAM refuses."""
    if "page" not in query and "per_page" not in query:
        return 0, 0
    try:
        page, per_page = int(query["page"]), int(query["per_page"])
    except (KeyError, ValueError):
        return None
    return (page, per_page) if page >= 1 and 1 <= per_page <= MAX_PER_PAGE else None


def _url(base: str, query: Mapping[str, str]) -> str:
    return f"{base}?{urlencode(dict(query))}" if query else base
