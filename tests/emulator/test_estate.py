"""The estate: accounts and their projects drawn from a seed, the names Huawei Cloud gives them
(a region's default project, `<region>_<suffix>` sub-projects, `MOS`), the agencies that trust
the home account, and a fleet spread over every project but `MOS`.

The helpers here (`serve_estate`, `call`, `signed`, `password_token`, ...) serve an estate on
127.0.0.1 and speak to it; test_iam_listing, test_agency and
test_estate_server share them.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest
import yarl

from auditor.emulator import (
    DEFAULT_AGENCY,
    DEFAULT_AK,
    DEFAULT_DOMAIN,
    DEFAULT_PASSWORD,
    DEFAULT_SK,
    DEFAULT_USER,
    MOS,
    REGIONS,
    EmulatorConfig,
    Estate,
    Fleet,
    RunningEmulator,
    region_of,
    running_emulator,
)
from auditor.emulator.auth import WallClock, utc_now
from auditor.emulator.estate import account_name
from auditor.service.signer import sign

ESTATE = Estate.generate(3, seed=4, refusing={"emulator-domain-3"})
HOME, TRUSTING, REFUSING = ESTATE.accounts
ESTATE_FLEET = ESTATE.fleet(120, seed=4)
HEX32 = re.compile(r"[0-9a-f]{32}")

EstateScenario = Callable[[RunningEmulator, aiohttp.ClientSession], Awaitable[None]]


def serve_estate(
    scenario: EstateScenario,
    *,
    config: EmulatorConfig | None = None,
    wall_clock: WallClock = utc_now,
) -> None:
    """Run `scenario` against a fresh emulator playing `ESTATE` and a client."""

    async def main() -> None:
        async with (
            running_emulator(
                ESTATE_FLEET, config, estate=ESTATE, wall_clock=wall_clock
            ) as emulator,
            aiohttp.ClientSession() as session,
        ):
            await scenario(emulator, session)

    asyncio.run(main())


def project_of(account: Any, name: str) -> str:
    """The id of `account`'s project called `name`."""
    project = account.project_named(name)
    assert project is not None
    return str(project.id)


async def call(
    session: aiohttp.ClientSession,
    method: str,
    url: yarl.URL | str,
    headers: dict[str, str] | None = None,
    body: Any = None,
) -> tuple[int, Any, aiohttp.ClientResponse]:
    """One request, its body as JSON (None if it has none or is not JSON)."""
    data = body if body is None or isinstance(body, bytes) else json.dumps(body).encode()
    async with session.request(method, url, headers=headers or {}, data=data) as response:
        raw = await response.read()
        try:
            parsed = json.loads(raw) if raw else None
        except ValueError:
            parsed = None
        return response.status, parsed, response


def signed(
    url: yarl.URL | str,
    *,
    method: str = "GET",
    body: bytes = b"",
    ak: str = DEFAULT_AK,
    sk: str = DEFAULT_SK,
    project_id: str | None = None,
    domain_id: str | None = None,
    security_token: str | None = None,
    moment: datetime | None = None,
) -> dict[str, str]:
    """The headers of a request signed as the official SDKs sign it (IAM calls add
    `X-Domain-Id`, as Huawei's SDKs do for global services)."""
    base = {"Content-Type": "application/json"}
    if domain_id is not None:
        base["X-Domain-Id"] = domain_id
    added = sign(
        ak=ak,
        sk=sk,
        method=method,
        url=str(url),
        headers=base,
        body=body,
        moment=moment or datetime.now(UTC),
        project_id=project_id,
        security_token=security_token,
    )
    return {**base, **added.headers}


def password_body(scope: dict[str, Any], domain: str = DEFAULT_DOMAIN) -> dict[str, Any]:
    user = {"name": DEFAULT_USER, "password": DEFAULT_PASSWORD, "domain": {"name": domain}}
    identity = {"methods": ["password"], "password": {"user": user}}
    return {"auth": {"identity": identity, "scope": scope}}


async def password_token(
    session: aiohttp.ClientSession, emulator: RunningEmulator, scope: dict[str, Any]
) -> str:
    """The home user's token for `scope` (`{"project": {"id": ...}}` or `{"domain": ...}`)."""
    url = f"{emulator.url}/v3/auth/tokens?nocatalog=true"
    status, body, response = await call(session, "POST", url, body=password_body(scope))
    assert status == 201, body
    return response.headers["X-Subject-Token"]


async def domain_token(session: aiohttp.ClientSession, emulator: RunningEmulator) -> str:
    return await password_token(session, emulator, {"domain": {"name": DEFAULT_DOMAIN}})


def assume_role_body(
    account: Any = TRUSTING,
    scope: dict[str, Any] | None = None,
    *,
    agency: str = DEFAULT_AGENCY,
    by_id: bool = False,
    duration: Any = None,
) -> dict[str, Any]:
    """An `assume_role` identity for `account`'s agency; `scope` None leaves the scope out
    (as temporary key requests do)."""
    assume: dict[str, Any] = {"agency_name": agency}
    assume["domain_id" if by_id else "domain_name"] = account.domain_id if by_id else account.name
    if duration is not None:
        assume["duration_seconds"] = duration
    auth: dict[str, Any] = {"identity": {"methods": ["assume_role"], "assume_role": assume}}
    if scope is not None:
        auth["scope"] = scope
    return {"auth": auth}


@pytest.mark.parametrize(
    ("name", "region"),
    [
        ("cn-north-4", "cn-north-4"),
        ("cn-north-4_ops", "cn-north-4"),
        ("ap-southeast-1_team_a", "ap-southeast-1"),
        (MOS, None),
    ],
)
def test_a_project_name_tells_its_region(name: str, region: str | None) -> None:
    assert region_of(name) == region


def test_accounts_are_named_and_the_first_is_home() -> None:
    assert [a.name for a in ESTATE.accounts] == [
        DEFAULT_DOMAIN,
        "emulator-domain-2",
        "emulator-domain-3",
    ]
    assert ESTATE.home is ESTATE.accounts[0]
    assert account_name(0) == DEFAULT_DOMAIN
    assert all(HEX32.fullmatch(a.domain_id) for a in ESTATE.accounts)
    assert len({a.domain_id for a in ESTATE.accounts}) == 3


def test_each_account_has_a_project_per_region_its_subprojects_and_mos() -> None:
    for account in ESTATE.accounts:
        names = [p.name for p in account.projects]
        assert names == [
            "cn-north-4",
            "cn-north-4_ops",
            "ap-southeast-1",
            "ap-southeast-1_ops",
            MOS,
        ]
        by_name = {p.name: p for p in account.projects}
        assert all(p.domain_id == account.domain_id for p in account.projects)
        assert all(HEX32.fullmatch(p.id) for p in account.projects)
        # Default projects and MOS hang from the account, a sub-project from its region's project.
        for region in REGIONS:
            assert by_name[region].parent_id == account.domain_id
            assert by_name[f"{region}_ops"].parent_id == by_name[region].id
            assert by_name[f"{region}_ops"].region == region
        assert by_name[MOS].parent_id == account.domain_id
        assert by_name[MOS].region is None
        assert account.project_named("cn-north-4_ops") is by_name["cn-north-4_ops"]
        assert account.project_named("eu-west-0") is None


def test_agencies_trust_the_home_account_unless_refusing() -> None:
    home, trusting, refusing = ESTATE.accounts
    assert (home.agency_name, home.trusts_home) == (None, False)
    assert (trusting.agency_name, trusting.trusts_home) == (DEFAULT_AGENCY, True)
    assert (refusing.agency_name, refusing.trusts_home) == (DEFAULT_AGENCY, False)


def test_lookups_by_id_name_and_project() -> None:
    other = ESTATE.accounts[1]
    assert ESTATE.account(domain_id=other.domain_id) is other
    assert ESTATE.account(name=other.name) is other
    assert ESTATE.account(name="nobody") is None
    assert ESTATE.account() is None
    project = other.projects[1]
    assert ESTATE.project(project.id) is project
    assert ESTATE.account_of(project.id) is other
    assert ESTATE.account_of("0" * 32) is None
    assert ESTATE.mos_ids == {a.project_named(MOS).id for a in ESTATE.accounts}  # type: ignore[union-attr]
    assert ESTATE.project_names()[project.id] == project.name


def test_same_seed_same_estate_other_seed_other_ids() -> None:
    again = Estate.generate(3, seed=4, refusing={"emulator-domain-3"})
    assert again.accounts == ESTATE.accounts
    other = Estate.generate(3, seed=5)
    assert {p.id for a in other.accounts for p in a.projects}.isdisjoint(
        p.id for a in ESTATE.accounts for p in a.projects
    )
    assert [a.name for a in other.accounts] == [a.name for a in ESTATE.accounts]
    # Another estate's projects never collide with the single-account fleet's.
    assert set(Fleet.generate(10, seed=4).project_ids).isdisjoint(ESTATE.project_names())


def test_the_fleet_lives_in_every_project_but_mos_evenly() -> None:
    fleet = ESTATE.fleet(120, seed=4)
    assert len(fleet) == 120
    cells = Counter((f.urn.project_id, f.urn.region) for f in fleet.functions)
    expected = {(p.id, p.region) for a in ESTATE.accounts for p in a.projects if p.name != MOS}
    assert set(cells) == expected
    assert set(cells.values()) == {10}  # 120 over 3 accounts x 4 projects
    assert not ESTATE.mos_ids & set(fleet.project_ids)
    # The URN's region is its project's region, sub-projects included.
    for function in fleet.functions:
        project = ESTATE.project(function.urn.project_id)
        assert project is not None and project.region == function.urn.region
    assert fleet.project_ids == tuple(p for p, _ in ESTATE.cells())
    assert ESTATE.fleet(120, seed=4).urns() == fleet.urns()


def test_a_drifting_estate_fleet_stays_in_its_cells() -> None:
    fleet = ESTATE.fleet(400, seed=4, generation=2)
    assert fleet.drift.added
    cells = set(ESTATE.cells())
    assert all((f.urn.project_id, f.urn.region) in cells for f in fleet.functions)


def test_subprojects_and_regions_are_chosen() -> None:
    estate = Estate.generate(1, regions=("eu-west-0",), subprojects=("a", "b-2"))
    assert [p.name for p in estate.home.projects] == [
        "eu-west-0",
        "eu-west-0_a",
        "eu-west-0_b-2",
        MOS,
    ]
    bare = Estate.generate(2, subprojects=())
    assert [p.name for p in bare.accounts[1].projects] == [*REGIONS, MOS]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"accounts": 0}, "accounts: 0 must be >= 1"),
        ({"accounts": 2, "regions": ()}, "regions: need at least one"),
        ({"accounts": 2, "regions": ("cn-north-4", "cn-north-4")}, "each once"),
        ({"accounts": 2, "regions": ("cn_north",)}, "not a region name"),
        ({"accounts": 2, "subprojects": ("ops", "ops")}, "each suffix once"),
        ({"accounts": 2, "subprojects": ("a b",)}, "'a b' is not a suffix"),
        ({"accounts": 2, "agency_name": " "}, "agency_name must not be empty"),
        ({"accounts": 2, "refusing": {DEFAULT_DOMAIN}}, "is not another account"),
        ({"accounts": 2, "refusing": {"emulator-domain-9"}}, "emulator-domain-9 is not"),
    ],
)
def test_bad_estates_are_refused_with_a_reason(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        Estate.generate(**kwargs)  # type: ignore[arg-type]


def test_fleet_cells_are_checked() -> None:
    with pytest.raises(ValueError, match="cells: need at least one"):
        Fleet.generate(5, cells=[])
    with pytest.raises(ValueError, match="cells: \\('short', 'cn-north-4'\\)"):
        Fleet.generate(5, cells=[("short", "cn-north-4")])
    cell = ("a" * 32, "cn-north-4")
    with pytest.raises(ValueError, match="given twice"):
        Fleet.generate(5, cells=[cell, cell])
