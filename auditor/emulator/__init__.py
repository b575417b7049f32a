"""The emulator wing: a local FunctionGraph for the demo, the integration tests and benchmarks.

The real client runs against it on 127.0.0.1. It is a wing, not a stage: nothing in the audit
pipeline imports it (only `cli.py`, for `auditor demo` and `auditor emulator`), and it imports
nothing of the package but `auditor.urn` and `auditor.errors`.

    fleet.py   the deterministic fleet: `Fleet.generate` draws functions and their `Behaviour`s
    faults.py  `Fault`s real gateways commit, `parse_fault_spec`, and which request gets which
    server.py  the tracing and ListFunctions APIs on aiohttp.web (`create_app`,
               `running_emulator`), `EmulatorConfig`, and the `Stats` it keeps, also served at
               `GET /_emulator/stats` for a measured run in another process

Everything it serves is a pure function of `Fleet.generate`'s arguments and the `EmulatorConfig`.
"""

from auditor.emulator.faults import PLAIN_SK_PREFIX, Answer, Fault, parse_fault_spec
from auditor.emulator.fleet import (
    DEFAULT_MIX,
    MEMORY_SIZES,
    PACKAGES,
    QUALIFIED_SHARE,
    QUALIFIERS,
    REGIONS,
    RUNTIMES,
    Behaviour,
    EmulatedFunction,
    Fleet,
)
from auditor.emulator.server import (
    DEFAULT_TOKEN,
    LAST_MODIFIED,
    MAX_ITEMS,
    EmulatorConfig,
    RunningEmulator,
    Stats,
    create_app,
    running_emulator,
)

__all__ = [
    "DEFAULT_MIX",
    "DEFAULT_TOKEN",
    "LAST_MODIFIED",
    "MAX_ITEMS",
    "MEMORY_SIZES",
    "PACKAGES",
    "PLAIN_SK_PREFIX",
    "QUALIFIED_SHARE",
    "QUALIFIERS",
    "REGIONS",
    "RUNTIMES",
    "Answer",
    "Behaviour",
    "EmulatedFunction",
    "EmulatorConfig",
    "Fault",
    "Fleet",
    "RunningEmulator",
    "Stats",
    "create_app",
    "parse_fault_spec",
    "running_emulator",
]
