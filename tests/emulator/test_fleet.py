"""The fleet: `Fleet.generate` is deterministic, spreads functions evenly, knows the answers, and
drifts by generation with exactly the changes `Fleet.drift` records."""

from __future__ import annotations

import re
from collections import Counter

import pytest

from auditor.emulator import (
    ADDED_SHARE,
    FIXED_SHARE,
    REGIONS,
    REGRESSED_SHARE,
    REMOVED_SHARE,
    Behaviour,
    Drift,
    EmulatedFunction,
    Fleet,
)
from auditor.source.urn import parse_urn

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


# --- generations -------------------------------------------------------------------------------

MISSING = (Behaviour.MISSING_KEYS, Behaviour.EMPTY_AK)
GEN0 = Fleet.generate(3000, seed=1, projects=3, regions=("cn-north-4",))
GEN1 = Fleet.generate(3000, seed=1, projects=3, regions=("cn-north-4",), generation=1)


def by_urn(fleet: Fleet) -> dict[str, EmulatedFunction]:
    return {str(f.urn): f for f in fleet.functions}


def test_generation_0_is_the_fleet_drawn_from_the_seed() -> None:
    # Pinned: the demo, the benchmarks and every recorded run depend on these.
    assert FLEET.generation == 0
    assert FLEET.drift == Drift()
    assert FLEET.project_ids[0] == "14d7658d1311070c5037510a4ebebc0d"
    pinned = [
        (
            "urn:fss:cn-north-4:14d7658d1311070c5037510a4ebebc0d:function:default:fn-000000",
            Behaviour.CONFIGURED,
            "Go1.x",
            128,
        ),
        (
            "urn:fss:ap-southeast-1:14d7658d1311070c5037510a4ebebc0d:function:payments:fn-000001:!prod",
            Behaviour.CONFIGURED,
            "Python3.9",
            256,
        ),
    ]
    assert [(str(f.urn), f.behaviour, f.runtime, f.memory_size) for f in FLEET.functions[:2]] == (
        pinned
    )
    assert [FLEET.functions[i].behaviour for i in (8, 10, 15, 17)] == [
        Behaviour.DELETED,
        Behaviour.MISSING_KEYS,
        Behaviour.DELETED,
        Behaviour.MISSING_KEYS,
    ]
    assert Fleet.generate(300, seed=7, generation=0).functions == FLEET.functions


def test_a_generation_is_deterministic_and_seeded() -> None:
    again = Fleet.generate(3000, seed=1, projects=3, regions=("cn-north-4",), generation=1)
    assert again.functions == GEN1.functions
    assert again.drift == GEN1.drift
    assert GEN1.generation == 1
    assert GEN1.project_ids == GEN0.project_ids
    other = Fleet.generate(3000, seed=2, projects=3, regions=("cn-north-4",), generation=1)
    assert other.drift.removed != GEN1.drift.removed
    with pytest.raises(ValueError, match="generation"):
        Fleet.generate(10, generation=-1)


def test_drift_counts_are_exact_shares() -> None:
    listed = [f for f in GEN0.functions if f.behaviour is not Behaviour.DELETED]
    drift = GEN1.drift
    removed = {str(f.urn) for f in listed} & drift.removed
    fixable = [f for f in listed if f.behaviour in MISSING and str(f.urn) not in removed]
    configured = [
        f for f in listed if f.behaviour is Behaviour.CONFIGURED and str(f.urn) not in removed
    ]
    assert len(drift.removed) == round(REMOVED_SHARE * len(listed)) == 87
    assert len(drift.fixed) == round(FIXED_SHARE * len(fixable)) == 25
    assert len(drift.regressed) == round(REGRESSED_SHARE * len(configured)) == 89
    assert len(drift.added) == round(ADDED_SHARE * len(listed)) == 115
    assert len(GEN1) == len(GEN0) - 87 + 115


def test_drift_sets_are_disjoint_and_describe_the_change() -> None:
    drift = GEN1.drift
    sets = [drift.added, drift.removed, drift.fixed, drift.regressed]
    assert sum(len(s) for s in sets) == len(frozenset().union(*sets))
    before, after = by_urn(GEN0), by_urn(GEN1)
    assert drift.removed <= set(before) and not drift.removed & set(after)
    assert all(before[u].behaviour is not Behaviour.DELETED for u in drift.removed)
    assert all(GEN1.expected_status(u) == "function_not_found" for u in drift.removed)
    assert all(GEN1.lookup(parse_urn(u).unqualified) is None for u in drift.removed)
    assert all(before[u].behaviour in MISSING for u in drift.fixed)
    assert all(after[u].behaviour is Behaviour.CONFIGURED for u in drift.fixed)
    assert all(before[u].behaviour is Behaviour.CONFIGURED for u in drift.regressed)
    assert all(after[u].behaviour is Behaviour.MISSING_KEYS for u in drift.regressed)
    assert not drift.added & set(before)
    assert set(after) == (set(before) - drift.removed) | drift.added
    # Everything else is exactly as it was, in the same order, new functions last.
    untouched = set(before) - drift.removed - drift.fixed - drift.regressed
    assert all(after[u] == before[u] for u in untouched)
    kept = [str(f.urn) for f in GEN1.functions[: len(GEN1) - len(drift.added)]]
    assert kept == [u for u in GEN0.urns() if u not in drift.removed]


def test_added_functions_are_new_names_spread_over_the_cells() -> None:
    added = [f for f in GEN1.functions if str(f.urn) in GEN1.drift.added]
    names = [f.urn.name for f in added]
    assert len(set(names)) == len(names) == 115
    assert all(re.fullmatch(r"fn-g1-\d{6}", n) for n in names)
    assert not set(names) & {f.urn.name for f in GEN0.functions}
    cells = Counter(f.urn.project_id for f in added)
    assert set(cells) == set(GEN0.project_ids) and max(cells.values()) - min(cells.values()) <= 1
    assert {f.urn.region for f in added} == {"cn-north-4"}
    assert Behaviour.DELETED not in {f.behaviour for f in added}
    assert len({f.behaviour for f in added}) > 1 and len({f.runtime for f in added}) > 1
    assert all(GEN1.lookup(f.urn.unqualified) is f for f in added)


def test_generations_chain() -> None:
    gen2 = Fleet.generate(3000, seed=1, projects=3, regions=("cn-north-4",), generation=2)
    before, after = by_urn(GEN1), by_urn(gen2)
    drift = gen2.drift
    assert gen2.generation == 2
    assert set(after) == (set(before) - drift.removed) | drift.added
    assert drift.removed <= set(before)
    assert all(before[u].behaviour in MISSING for u in drift.fixed)
    assert all(re.fullmatch(r"fn-g2-\d{6}", after[u].urn.name) for u in drift.added)
    assert drift != GEN1.drift


def test_a_fleet_with_nothing_listed_does_not_drift() -> None:
    gone = Fleet.generate(50, mix={"deleted": 1.0}, generation=3)
    assert gone.functions == Fleet.generate(50, mix={"deleted": 1.0}).functions
    assert gone.drift == Drift()
    assert Fleet.generate(0, generation=2).functions == ()
