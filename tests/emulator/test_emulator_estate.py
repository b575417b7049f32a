"""The estate: accounts and their projects drawn from a seed, the names Huawei Cloud gives them
(a region's default project, `<region>_<suffix>` sub-projects, `MOS`), the agencies that trust
the home account, and a fleet spread over every project but `MOS`."""

from __future__ import annotations

import re
from collections import Counter

import pytest

from auditor.emulator import (
    DEFAULT_AGENCY,
    DEFAULT_DOMAIN,
    MOS,
    REGIONS,
    Estate,
    Fleet,
    region_of,
)
from auditor.emulator.estate import account_name

ESTATE = Estate.generate(3, seed=4, refusing={"emulator-domain-3"})
HEX32 = re.compile(r"[0-9a-f]{32}")


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
