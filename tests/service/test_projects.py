"""The projects of an account: the name -> region rule and the selection (pure, exhaustive),
and the listing for every credential method, paged or not, with HTTP faked by aioresponses."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import aiohttp
import pytest
from aioresponses import aioresponses

from auditor.config import Settings
from auditor.errors import IamError
from auditor.model import ProjectScope
from auditor.service.auth import KeyPair
from auditor.service.credential_sources import choose_credentials
from auditor.service.iam import IamApi
from auditor.service.identity import KeyIdentity, TokenIdentity
from auditor.service.projects import (
    MAX_PER_PAGE,
    Project,
    ProjectSelection,
    SkippedProject,
    SkipReason,
    list_projects,
    region_of,
    select_projects,
)
from auditor.service.signer import verify
from tests.factories import Sleeps, WallClock, sent_requests

IAM = "https://iam.example.test"
AUTH_PROJECTS = f"{IAM}/v3/auth/projects"
DOMAIN_ID = "0a1b2c3d4e5f60718293a4b5c6d7e8f9"
TOKEN = "MIItoken-projects-secret-0001"
AK = "HPUAPROJECTSACCESSKEY1"
SK = "sk-projects-secret-0123456789abcdef"
T = TypeVar("T")


def pid(n: int) -> str:
    return f"{n:032x}"


def item(n: int, name: str, **extra: Any) -> dict[str, Any]:
    return {"id": pid(n), "name": name, "domain_id": DOMAIN_ID, "parent_id": DOMAIN_ID, **extra}


def project(n: int, name: str, *, enabled: bool = True, account: str = "") -> Project:
    return Project(pid(n), name, region_of(name), DOMAIN_ID, enabled, account)


# --- name -> region ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "region"),
    [
        ("cn-north-4", "cn-north-4"),
        ("ap-southeast-1", "ap-southeast-1"),
        ("la-south-2", "la-south-2"),
        ("cn-north-4_ops", "cn-north-4"),
        ("cn-north-4_ops_team", "cn-north-4"),  # the suffix may hold "_" itself
        ("af-south-1_x", "af-south-1"),
        ("MOS", ""),
        ("mos", ""),
        ("", ""),
        ("_ops", ""),
        ("cn", ""),  # a region has at least two parts
        ("CN-NORTH-4", ""),  # region names are lower case
        ("cn-north-4-", ""),
        ("my project", ""),
        ("cn-north-4 _ops", ""),
    ],
)
def test_the_region_of_a_project_comes_from_its_name(name: str, region: str) -> None:
    assert region_of(name) == region


# --- selection -----------------------------------------------------------------------------

ESTATE = [
    project(1, "cn-north-4"),
    project(2, "cn-north-4_ops"),
    project(3, "MOS"),
    project(4, "ap-southeast-1"),
    project(5, "ap-southeast-1_old", enabled=False),
    project(6, "sandbox"),
    project(7, "la-south-2_test"),
]


def reasons(selection: ProjectSelection) -> dict[str, SkipReason]:
    return {skipped.project.name: skipped.reason for skipped in selection.skipped}


def chosen(selection: ProjectSelection) -> list[str]:
    return [p.name for p in selection.chosen]


def test_every_region_by_default_without_mos_disabled_or_regionless_projects() -> None:
    selection = select_projects(ESTATE)
    assert chosen(selection) == [
        "cn-north-4",
        "cn-north-4_ops",
        "ap-southeast-1",
        "la-south-2_test",
    ]
    assert reasons(selection) == {
        "MOS": SkipReason.BILLING,
        "ap-southeast-1_old": SkipReason.DISABLED,
        "sandbox": SkipReason.NO_REGION,
    }
    assert len(selection.chosen) + len(selection.skipped) == len(ESTATE)  # none lost


def test_regions_narrow_the_selection() -> None:
    selection = select_projects(ESTATE, regions=["cn-north-4", "eu-west-0"])
    assert chosen(selection) == ["cn-north-4", "cn-north-4_ops"]
    assert reasons(selection)["ap-southeast-1"] is SkipReason.OTHER_REGION
    assert reasons(selection)["la-south-2_test"] is SkipReason.OTHER_REGION
    assert reasons(selection)["MOS"] is SkipReason.BILLING  # the first reason wins


def test_no_regions_at_all_selects_nothing_but_none_selects_all() -> None:
    assert chosen(select_projects(ESTATE, regions=[])) == []
    assert len(chosen(select_projects(ESTATE, regions=None))) == 4


def test_exclude_by_id_or_name() -> None:
    selection = select_projects(ESTATE, exclude=[pid(2), "la-south-2_test", "no-such"])
    assert chosen(selection) == ["cn-north-4", "ap-southeast-1"]
    assert reasons(selection)["cn-north-4_ops"] is SkipReason.EXCLUDED
    assert reasons(selection)["la-south-2_test"] is SkipReason.EXCLUDED


def test_a_project_listed_twice_is_audited_once() -> None:
    selection = select_projects([project(1, "cn-north-4"), project(1, "cn-north-4")])
    assert chosen(selection) == ["cn-north-4"]
    assert selection.skipped == (SkippedProject(project(1, "cn-north-4"), SkipReason.DUPLICATE),)


def test_a_selection_gives_discovery_scopes_and_credential_regions() -> None:
    selection = select_projects(ESTATE, regions=["cn-north-4"])
    assert selection.scopes == (
        ProjectScope(pid(1), "cn-north-4"),
        ProjectScope(pid(2), "cn-north-4"),
    )
    assert selection.regions == {pid(1): "cn-north-4", pid(2): "cn-north-4"}


def test_mos_is_skipped_whatever_it_is_called_in_case() -> None:
    assert reasons(select_projects([project(1, "mos")])) == {"mos": SkipReason.BILLING}


# --- listing -------------------------------------------------------------------------------


def listing(
    setup: Callable[[aioresponses], None], work: Callable[[IamApi], Awaitable[T]]
) -> tuple[T | IamError, aioresponses]:
    with aioresponses() as fake:
        setup(fake)

        async def main() -> T | IamError:
            async with aiohttp.ClientSession() as session:
                api = IamApi(session, endpoint=IAM, retries=0, sleep=Sleeps())
                try:
                    return await work(api)
                except IamError as exc:
                    return exc

        return asyncio.run(main()), fake


LISTED = {"projects": [item(1, "cn-north-4"), item(3, "MOS", enabled=True), item(2, "x_y")]}


def test_a_token_lists_the_projects_it_can_access() -> None:
    projects, fake = listing(
        lambda fake: fake.get(AUTH_PROJECTS, payload=LISTED),
        lambda api: list_projects(api, TokenIdentity(TOKEN)),
    )
    assert projects == [project(1, "cn-north-4"), project(3, "MOS"), project(2, "x_y")]
    (sent,) = sent_requests(fake)
    assert sent.headers["X-Auth-Token"] == TOKEN


def test_a_listed_project_without_domain_or_enabled_is_read_leniently() -> None:
    payload = {"projects": [{"id": pid(1), "name": "cn-north-4", "enabled": False}]}
    projects, _ = listing(
        lambda fake: fake.get(AUTH_PROJECTS, payload=payload),
        lambda api: list_projects(api, TokenIdentity(TOKEN, account="acme")),
    )
    assert projects == [Project(pid(1), "cn-north-4", "cn-north-4", "", False, "acme")]


def test_access_keys_list_with_the_account_id_found_first() -> None:
    identity = KeyIdentity(KeyPair(AK, SK), now=WallClock())

    def setup(fake: aioresponses) -> None:
        fake.get(f"{IAM}/v3/auth/domains", payload={"domains": [{"id": DOMAIN_ID, "name": "a"}]})
        fake.get(AUTH_PROJECTS, payload=LISTED)

    projects, fake = listing(setup, lambda api: list_projects(api, identity))
    assert isinstance(projects, list)
    assert [p.id for p in projects] == [pid(1), pid(3), pid(2)]
    domains, listed = sent_requests(fake)
    assert "X-Domain-Id" not in domains.headers
    assert listed.headers["X-Domain-Id"] == DOMAIN_ID
    received = {**listed.headers, "Host": "iam.example.test"}
    assert verify(sk=SK, method="GET", url=AUTH_PROJECTS, headers=received)


def test_a_password_lists_with_a_domain_scoped_token() -> None:
    env = {
        "HUAWEICLOUD_USERNAME": "auditor-bot",
        "HUAWEICLOUD_PASSWORD": "P@ss-projects-secret",
        "HUAWEICLOUD_DOMAIN_NAME": "acme",
    }
    source = choose_credentials(env, Settings(iam_endpoint=IAM))
    assert source.identity is not None
    build = source.identity

    def setup(fake: aioresponses) -> None:
        fake.post(
            f"{IAM}/v3/auth/tokens?nocatalog=true",
            status=201,
            headers={"X-Subject-Token": "MIIdomain-scoped-secret"},
            payload={"token": {"expires_at": "2099-01-01T00:00:00Z"}},
        )
        fake.get(AUTH_PROJECTS, payload=LISTED)

    with aioresponses() as fake:
        setup(fake)

        async def main() -> list[Project]:
            async with aiohttp.ClientSession() as session:
                return await list_projects(IamApi(session, endpoint=IAM), build(session))

        projects = asyncio.run(main())
    assert len(projects) == 3
    token_call, listed = sent_requests(fake)
    assert token_call.body["auth"]["scope"] == {"domain": {"name": "acme"}}
    assert listed.headers["X-Auth-Token"] == "MIIdomain-scoped-secret"


@pytest.mark.parametrize(
    "payload",
    [
        {},
        {"projects": {"id": "x"}},
        {"projects": ["cn-north-4"]},
        {"projects": [{"name": "cn-north-4"}]},
        {"projects": [{"id": "", "name": "cn-north-4"}]},
        {"projects": [{"id": pid(1), "name": None}]},
    ],
)
def test_a_listing_that_cannot_be_read_is_an_error(payload: dict[str, Any]) -> None:
    outcome, _ = listing(
        lambda fake: fake.get(AUTH_PROJECTS, payload=payload),
        lambda api: list_projects(api, TokenIdentity(TOKEN, account="acme")),
    )
    assert isinstance(outcome, IamError)
    assert str(outcome).startswith("account acme: IAM's answer holds")
    assert outcome.account == "acme"


# --- the paged listing ---------------------------------------------------------------------


def page_url(page: int, per_page: int) -> str:
    return f"{IAM}/v3/projects?page={page}&per_page={per_page}"


def paged(
    pages: list[list[dict[str, Any]]], per_page: int, **options: Any
) -> tuple[list[Project] | IamError, list[str]]:
    def setup(fake: aioresponses) -> None:
        for number, items in enumerate(pages, start=1):
            fake.get(page_url(number, per_page), payload={"projects": items, "links": {}})

    identity = TokenIdentity(TOKEN)
    outcome, fake = listing(
        setup, lambda api: list_projects(api, identity, paged=True, per_page=per_page, **options)
    )
    return outcome, [sent.url for sent in sent_requests(fake)]


def names(outcome: list[Project] | IamError) -> list[str]:
    assert isinstance(outcome, list), outcome
    return [p.name for p in outcome]


def test_pages_are_asked_until_a_short_page() -> None:
    pages = [
        [item(1, "cn-north-4"), item(2, "cn-north-4_a")],
        [item(3, "MOS"), item(4, "ap-southeast-1")],
        [item(5, "ap-southeast-1_b")],
    ]
    outcome, urls = paged(pages, per_page=2)
    assert names(outcome) == [
        "cn-north-4",
        "cn-north-4_a",
        "MOS",
        "ap-southeast-1",
        "ap-southeast-1_b",
    ]
    assert urls == [page_url(1, 2), page_url(2, 2), page_url(3, 2)]


def test_a_full_last_page_is_followed_by_one_empty_page() -> None:
    pages = [[item(1, "cn-north-4"), item(2, "cn-north-4_a")], []]
    outcome, urls = paged(pages, per_page=2)
    assert names(outcome) == ["cn-north-4", "cn-north-4_a"]
    assert urls == [page_url(1, 2), page_url(2, 2)]


def test_one_short_page_is_the_whole_listing() -> None:
    outcome, urls = paged([[item(1, "cn-north-4")]], per_page=MAX_PER_PAGE)
    assert names(outcome) == ["cn-north-4"]
    assert urls == [page_url(1, MAX_PER_PAGE)]


def test_an_iam_that_ignores_paging_is_not_asked_forever() -> None:
    same = [item(1, "cn-north-4"), item(2, "cn-north-4_a")]
    outcome, urls = paged([same, same, same], per_page=2)
    assert names(outcome) == ["cn-north-4", "cn-north-4_a"]
    assert urls == [page_url(1, 2), page_url(2, 2)]


def test_overlapping_pages_keep_each_project_once() -> None:
    pages = [
        [item(1, "cn-north-4"), item(2, "cn-north-4_a")],
        [item(2, "cn-north-4_a"), item(3, "la-south-2")],
        [],
    ]
    outcome, _ = paged(pages, per_page=2)
    assert names(outcome) == ["cn-north-4", "cn-north-4_a", "la-south-2"]


def test_a_listing_that_never_ends_is_stopped() -> None:
    pages = [[item(2 * n, "cn-north-4"), item(2 * n + 1, "cn-north-4_x")] for n in range(3)]
    outcome, urls = paged(pages, per_page=2, max_pages=3)
    assert isinstance(outcome, IamError)
    assert "did not end after 3 pages" in str(outcome)
    assert len(urls) == 3


def test_a_failing_page_fails_the_listing() -> None:
    def setup(fake: aioresponses) -> None:
        fake.get(page_url(1, 2), payload={"projects": [item(1, "a-b"), item(2, "a-b_c")]})
        fake.get(page_url(2, 2), status=403, payload={"error": {"code": "IAM.0002"}})

    outcome, _ = listing(
        setup, lambda api: list_projects(api, TokenIdentity(TOKEN), paged=True, per_page=2)
    )
    assert isinstance(outcome, IamError)
    assert "page 2 of the projects list" in str(outcome)
    assert "IAM.0002" in str(outcome)


@pytest.mark.parametrize("per_page", [0, -1, MAX_PER_PAGE + 1])
def test_per_page_is_within_iams_limit(per_page: int) -> None:
    with pytest.raises(ValueError, match="per_page"):
        listing(
            lambda fake: None,
            lambda api: list_projects(api, TokenIdentity(TOKEN), paged=True, per_page=per_page),
        )
