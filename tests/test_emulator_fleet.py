"""The fleet: `Fleet.generate` is deterministic, spreads functions evenly, and knows the answers."""

from __future__ import annotations

import re
from collections import Counter

import pytest

from auditor.emulator import REGIONS, Behaviour, Fleet

FLEET = Fleet.generate(300, seed=7)


def test_same_seed_same_fleet() -> None:
    again = Fleet.generate(300, seed=7)
    assert again.urns() == FLEET.urns()
    assert again.functions == FLEET.functions
    assert again.project_ids == FLEET.project_ids


def test_other_seed_other_fleet() -> None:
    other = Fleet.generate(300, seed=8)
    assert other.project_ids != FLEET.project_ids
    assert [f.behaviour for f in other.functions] != [f.behaviour for f in FLEET.functions]


def test_functions_spread_round_robin_over_projects_and_regions() -> None:
    assert len(FLEET) == 300
    assert len(FLEET.project_ids) == 3
    assert all(re.fullmatch(r"[0-9a-f]{32}", p) for p in FLEET.project_ids)
    cells = Counter((f.urn.project_id, f.urn.region) for f in FLEET.functions)
    assert set(cells) == {(p, r) for p in FLEET.project_ids for r in REGIONS}
    assert set(cells.values()) == {50}
    assert len(set(FLEET.urns())) == 300


def test_mix_and_qualifiers() -> None:
    fleet = Fleet.generate(4000, seed=1)
    behaviours = Counter(f.behaviour for f in fleet.functions)
    assert set(behaviours) == set(Behaviour)
    assert behaviours[Behaviour.CONFIGURED] > 2500
    qualified = [f for f in fleet.functions if f.urn.qualifier]
    assert 0.02 < len(qualified) / len(fleet) < 0.09
    only_deleted = Fleet.generate(20, mix={"deleted": 1.0})
    assert {f.behaviour for f in only_deleted.functions} == {Behaviour.DELETED}
    with pytest.raises(ValueError, match="unknown behaviours"):
        Fleet.generate(5, mix={"forbidden": 1.0})


def test_expected_status_and_lookup() -> None:
    expected = {
        Behaviour.CONFIGURED: "configured",
        Behaviour.MISSING_KEYS: "missing_keys",
        Behaviour.EMPTY_AK: "missing_keys",
        Behaviour.DELETED: "function_not_found",
        Behaviour.SERVER_ERROR: "error",
    }
    for f in FLEET.functions:
        assert FLEET.expected_status(str(f.urn)) == expected[f.behaviour]
        assert FLEET.lookup(f.urn.unqualified) is f
    unknown = FLEET.functions[0].urn.unqualified.replace("fn-000000", "fn-999999")
    assert FLEET.lookup(unknown) is None
    assert FLEET.expected_status(unknown) == "function_not_found"
    assert FLEET.expected_status("not-a-urn") == "invalid_urn"
