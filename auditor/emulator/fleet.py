"""The deterministic fleet the emulator serves: functions, their behaviours and their keys.

`Fleet.generate` draws every function from a seed, so a test, the demo and a benchmark that pass
the same arguments see the same URNs, behaviours and tracing AKs. Nothing here speaks HTTP.

A fleet also changes between runs, as a real one does between weekly audits: generation 0 is the
fleet drawn from the seed, and each generation g >= 1 is generation g - 1 changed by one seeded
step (chained, so an audit of generation g - 1 as the baseline of one of generation g sees exactly
that step). `Fleet.drift` records what the last step did, so tests know the expected changes
without the auditor's diff code. A step's counts are exact (`round()`, half to even), never
per-function coin flips; the four sets are disjoint:

- removed:   `REMOVED_SHARE` of the listed (not DELETED) functions vanish: ListFunctions leaves
             them out and the tracing API answers 404 FSS.1051, as for any unknown function;
- fixed:     `FIXED_SHARE` of the remaining MISSING_KEYS and EMPTY_AK functions become CONFIGURED;
- regressed: `REGRESSED_SHARE` of the remaining CONFIGURED functions become MISSING_KEYS;
- added:     `ADDED_SHARE` of the listed count (before removal) of new functions, named
             `fn-g{g}-NNNNNN` (generation 0's are `fn-NNNNNN`), round-robin over the same projects
             x regions, drawn like generation 0's from the mix without DELETED (a new function
             exists; DELETED stands for a stale inventory entry).
"""

from __future__ import annotations

import hashlib
import itertools
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from auditor.errors import InvalidUrn
from auditor.source.urn import FunctionUrn, parse_urn

REGIONS: tuple[str, ...] = ("cn-north-4", "ap-southeast-1")
PACKAGES: tuple[str, ...] = ("default", "payments", "etl")
RUNTIMES: tuple[str, ...] = ("Python3.9", "Java11", "Node.js16.17", "Go1.x")
MEMORY_SIZES: tuple[int, ...] = (128, 256, 512, 1024)
QUALIFIERS: tuple[str, ...] = ("latest", "!prod", "v2")
QUALIFIED_SHARE = 0.05
# One generation's drift (see the module docstring).
REMOVED_SHARE = 0.03
FIXED_SHARE = 0.05
REGRESSED_SHARE = 0.04
ADDED_SHARE = 0.04
_AK_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


class Behaviour(StrEnum):
    """How the tracing API answers for one function."""

    CONFIGURED = "configured"  # 200 with a tracing AK
    MISSING_KEYS = "missing_keys"  # 404 FSS.0404
    EMPTY_AK = "empty_ak"  # 200 with "tracing_ak": ""
    DELETED = "deleted"  # in the exported inventory, gone from the service: 404 FSS.1051
    SERVER_ERROR = "server_error"  # 500 FSS.0500, every time


DEFAULT_MIX: dict[str, float] = {
    "configured": 0.76,
    "missing_keys": 0.14,
    "empty_ak": 0.02,
    "deleted": 0.05,
    "server_error": 0.03,
}

_EXPECTED_STATUS: dict[Behaviour, str] = {
    Behaviour.CONFIGURED: "configured",
    Behaviour.MISSING_KEYS: "missing_keys",
    Behaviour.EMPTY_AK: "missing_keys",
    Behaviour.DELETED: "function_not_found",
    Behaviour.SERVER_ERROR: "error",
}


def derived_key(kind: str, seed: int, name: str, length: int) -> str:
    """A `length`-character key of uppercase letters and digits, stable per kind, seed and name."""
    digest = hashlib.sha256(f"{kind}:{seed}:{name}".encode()).digest()
    return "".join(_AK_ALPHABET[b % len(_AK_ALPHABET)] for b in digest[:length])


@dataclass(frozen=True, slots=True)
class EmulatedFunction:
    """One function of the fleet. `urn` is the inventory form and may carry a qualifier."""

    urn: FunctionUrn
    behaviour: Behaviour
    runtime: str
    memory_size: int


@dataclass(frozen=True, slots=True)
class Drift:
    """What one generation changed from the one before, as inventory URNs (`str(function.urn)`,
    which may carry a qualifier, as `Fleet.urns` gives them). Empty for generation 0."""

    added: frozenset[str] = frozenset()
    removed: frozenset[str] = frozenset()
    fixed: frozenset[str] = frozenset()
    regressed: frozenset[str] = frozenset()


def _step_seed(seed: int, step: int) -> int:
    return int.from_bytes(hashlib.sha256(f"drift:{seed}:{step}".encode()).digest()[:8])


def _draw(
    rng: random.Random,
    behaviours: Sequence[Behaviour],
    cum_weights: Sequence[float],
    cell: tuple[str, str],
    name: str,
) -> EmulatedFunction:
    """One function drawn from `rng`; the order of draws is part of every seed's fleet."""
    project_id, region = cell
    behaviour = rng.choices(behaviours, cum_weights=cum_weights)[0]
    package = rng.choice(PACKAGES)
    runtime = rng.choice(RUNTIMES)
    memory = rng.choice(MEMORY_SIZES)
    qualifier = rng.choice(QUALIFIERS) if rng.random() < QUALIFIED_SHARE else ""
    urn = FunctionUrn(region, project_id, package, name, qualifier)
    return EmulatedFunction(urn, behaviour, runtime, memory)


def _checked_cells(cells: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    """`cells` as a list, or `ValueError` naming the first pair no URN could carry."""
    checked = list(cells)
    if not checked:
        raise ValueError("cells: need at least one (project id, region) pair")
    for project_id, region in checked:
        try:
            parse_urn(f"urn:fss:{region}:{project_id}:function:default:fn")
        except InvalidUrn as exc:
            raise ValueError(f"cells: ({project_id!r}, {region!r}): {exc}") from None
    if len(set(checked)) != len(checked):
        raise ValueError("cells: a (project id, region) pair is given twice")
    return checked


class Fleet:
    """The functions the emulator knows, in a stable order; build one with `Fleet.generate`."""

    def __init__(
        self,
        functions: Sequence[EmulatedFunction],
        project_ids: Sequence[str],
        seed: int = 0,
        *,
        generation: int = 0,
        drift: Drift | None = None,
        _index: dict[str, EmulatedFunction] | None = None,
    ) -> None:
        self.functions: tuple[EmulatedFunction, ...] = tuple(functions)
        self.project_ids: tuple[str, ...] = tuple(project_ids)
        self.seed = seed
        self.generation = generation
        self.drift = drift or Drift()
        self._by_unqualified = (
            {f.urn.unqualified: f for f in self.functions} if _index is None else _index
        )

    @classmethod
    def generate(
        cls,
        functions: int,
        seed: int = 0,
        projects: int = 3,
        regions: Sequence[str] = REGIONS,
        mix: Mapping[str, float] | None = None,
        generation: int = 0,
        *,
        cells: Sequence[tuple[str, str]] | None = None,
    ) -> Fleet:
        """A fleet of `functions` spread round-robin over `projects` x `regions`, as it is after
        `generation` drift steps (0: as drawn; see the module docstring).

        Behaviours are drawn by `mix` weights (keys are `Behaviour` values); the same
        arguments always give the same fleet. `cells`, `(project id, region)` pairs, replace
        `projects` x `regions` when given: an estate's projects each serve one region, and
        their ids are the estate's (`auditor.emulator.estate.Estate.fleet`).
        """
        if functions < 0 or projects < 1 or not regions or generation < 0:
            raise ValueError(
                "need functions >= 0, projects >= 1, at least one region and generation >= 0"
            )
        if cells is not None:
            cells = _checked_cells(cells)
        weights = dict(DEFAULT_MIX if mix is None else mix)
        unknown = set(weights) - set(Behaviour)
        if unknown:
            raise ValueError(f"unknown behaviours in mix: {sorted(unknown)}")
        if any(w < 0 for w in weights.values()) or sum(weights.values()) <= 0:
            raise ValueError("mix weights must be >= 0 and not all zero")
        behaviours = [Behaviour(b) for b in weights]
        cum_weights = list(itertools.accumulate(weights.values()))
        if cells is None:
            project_ids = tuple(
                hashlib.sha256(f"project:{seed}:{i}".encode()).hexdigest()[:32]
                for i in range(projects)
            )
            cells = [(p, r) for p in project_ids for r in regions]
        else:
            project_ids = tuple(dict.fromkeys(project_id for project_id, _ in cells))
        rng = random.Random(seed)
        drawn = [
            _draw(rng, behaviours, cum_weights, cells[i % len(cells)], f"fn-{i:06d}")
            for i in range(functions)
        ]
        fleet = cls(drawn, project_ids, seed)
        # A new function exists, so it is never DELETED (a stale inventory entry).
        new_weights = {b: w for b, w in zip(behaviours, weights.values(), strict=True)}
        new_weights.pop(Behaviour.DELETED, None)
        for step in range(1, generation + 1):
            fleet = fleet._drifted(step, cells, new_weights)
        return fleet

    def _drifted(
        self, step: int, cells: Sequence[tuple[str, str]], weights: Mapping[Behaviour, float]
    ) -> Fleet:
        """This fleet after drift step `step`: a new `Fleet`, this one unchanged."""
        rng = random.Random(_step_seed(self.seed, step))
        functions = self.functions
        listed = [i for i, f in enumerate(functions) if f.behaviour is not Behaviour.DELETED]
        removed = set(rng.sample(listed, round(REMOVED_SHARE * len(listed))))
        missing = (Behaviour.MISSING_KEYS, Behaviour.EMPTY_AK)
        fixable = [i for i in listed if functions[i].behaviour in missing and i not in removed]
        fixed = set(rng.sample(fixable, round(FIXED_SHARE * len(fixable))))
        configured = [
            i for i in listed if functions[i].behaviour is Behaviour.CONFIGURED and i not in removed
        ]
        regressed = set(rng.sample(configured, round(REGRESSED_SHARE * len(configured))))
        added_count = round(ADDED_SHARE * len(listed)) if sum(weights.values()) > 0 else 0
        behaviours = list(weights)
        cum_weights = list(itertools.accumulate(weights.values()))
        added = [
            _draw(rng, behaviours, cum_weights, cells[j % len(cells)], f"fn-g{step}-{j:06d}")
            for j in range(added_count)
        ]
        changed = {i: Behaviour.CONFIGURED for i in fixed}
        changed.update((i, Behaviour.MISSING_KEYS) for i in regressed)
        # Patching a copy of the index is much cheaper than rebuilding it from every URN.
        index = self._by_unqualified.copy()
        for i in removed:
            del index[functions[i].urn.unqualified]
        for i, behaviour in changed.items():
            old = functions[i]
            index[old.urn.unqualified] = EmulatedFunction(
                old.urn, behaviour, old.runtime, old.memory_size
            )
        index.update((f.urn.unqualified, f) for f in added)
        survivors = [
            f if i not in changed else index[f.urn.unqualified]
            for i, f in enumerate(functions)
            if i not in removed
        ]
        drift = Drift(
            added=frozenset(str(f.urn) for f in added),
            removed=frozenset(str(functions[i].urn) for i in removed),
            fixed=frozenset(str(functions[i].urn) for i in fixed),
            regressed=frozenset(str(functions[i].urn) for i in regressed),
        )
        return Fleet(
            survivors + added,
            self.project_ids,
            self.seed,
            generation=step,
            drift=drift,
            _index=index,
        )

    def urns(self) -> list[str]:
        """Every function's inventory URN (DELETED ones included), in generation order."""
        return [str(f.urn) for f in self.functions]

    def expected_status(self, urn: str) -> str:
        """The status a correct auditor reports for `urn` with valid credentials, unthrottled."""
        try:
            parsed = parse_urn(urn)
        except InvalidUrn:
            return "invalid_urn"
        function = self.lookup(parsed.unqualified)
        return "function_not_found" if function is None else _EXPECTED_STATUS[function.behaviour]

    def lookup(self, unqualified_urn: str) -> EmulatedFunction | None:
        """The function behind an unqualified URN, or None if the fleet has no such function."""
        return self._by_unqualified.get(unqualified_urn)

    def tracing_ak(self, function: EmulatedFunction) -> str:
        """The 20-character AK the API reports for a CONFIGURED function (stable per seed).

        Capitals and digits only, so never the emulator's APM key (`DEFAULT_APM_AK` is lower
        case): until a function is updated, its AK is one a key policy does not expect."""
        return derived_key("ak", self.seed, function.urn.unqualified, 20)

    def __len__(self) -> int:
        return len(self.functions)
