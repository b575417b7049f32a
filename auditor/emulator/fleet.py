"""The deterministic fleet the emulator serves: functions, their behaviours and their keys.

`Fleet.generate` draws every function from a seed, so a test, the demo and a benchmark that pass
the same arguments see the same URNs, behaviours and tracing AKs. Nothing here speaks HTTP.
"""

from __future__ import annotations

import hashlib
import itertools
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from auditor.errors import InvalidUrn
from auditor.urn import FunctionUrn, parse_urn

REGIONS: tuple[str, ...] = ("cn-north-4", "ap-southeast-1")
PACKAGES: tuple[str, ...] = ("default", "payments", "etl")
RUNTIMES: tuple[str, ...] = ("Python3.9", "Java11", "Node.js16.17", "Go1.x")
MEMORY_SIZES: tuple[int, ...] = (128, 256, 512, 1024)
QUALIFIERS: tuple[str, ...] = ("latest", "!prod", "v2")
QUALIFIED_SHARE = 0.05
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


class Fleet:
    """The functions the emulator knows, in a stable order; build one with `Fleet.generate`."""

    def __init__(
        self, functions: Sequence[EmulatedFunction], project_ids: Sequence[str], seed: int = 0
    ) -> None:
        self.functions: tuple[EmulatedFunction, ...] = tuple(functions)
        self.project_ids: tuple[str, ...] = tuple(project_ids)
        self.seed = seed
        self._by_unqualified = {f.urn.unqualified: f for f in self.functions}

    @classmethod
    def generate(
        cls,
        functions: int,
        seed: int = 0,
        projects: int = 3,
        regions: Sequence[str] = REGIONS,
        mix: Mapping[str, float] | None = None,
    ) -> Fleet:
        """A fleet of `functions` spread round-robin over `projects` x `regions`.

        Behaviours are drawn by `mix` weights (keys are `Behaviour` values); the same
        arguments always give the same fleet.
        """
        if functions < 0 or projects < 1 or not regions:
            raise ValueError("need functions >= 0, projects >= 1 and at least one region")
        weights = dict(DEFAULT_MIX if mix is None else mix)
        unknown = set(weights) - set(Behaviour)
        if unknown:
            raise ValueError(f"unknown behaviours in mix: {sorted(unknown)}")
        if any(w < 0 for w in weights.values()) or sum(weights.values()) <= 0:
            raise ValueError("mix weights must be >= 0 and not all zero")
        behaviours = [Behaviour(b) for b in weights]
        cum_weights = list(itertools.accumulate(weights.values()))
        project_ids = tuple(
            hashlib.sha256(f"project:{seed}:{i}".encode()).hexdigest()[:32] for i in range(projects)
        )
        cells = [(p, r) for p in project_ids for r in regions]
        rng = random.Random(seed)
        fleet = []
        for i in range(functions):
            project_id, region = cells[i % len(cells)]
            behaviour = rng.choices(behaviours, cum_weights=cum_weights)[0]
            package = rng.choice(PACKAGES)
            runtime = rng.choice(RUNTIMES)
            memory = rng.choice(MEMORY_SIZES)
            qualifier = rng.choice(QUALIFIERS) if rng.random() < QUALIFIED_SHARE else ""
            urn = FunctionUrn(region, project_id, package, f"fn-{i:06d}", qualifier)
            fleet.append(EmulatedFunction(urn, behaviour, runtime, memory))
        return cls(fleet, project_ids, seed)

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
        """The 20-character AK the API reports for a CONFIGURED function (stable per seed)."""
        return derived_key("ak", self.seed, function.urn.unqualified, 20)

    def __len__(self) -> int:
        return len(self.functions)
