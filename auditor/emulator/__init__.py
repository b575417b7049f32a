"""The emulator wing: a local FunctionGraph for the demo, the integration tests and benchmarks.

The real client runs against it on 127.0.0.1. It is a wing, not a stage: nothing in the audit
pipeline imports it (only `auditor/cli/`, for `auditor demo` and `auditor emulator`), and it imports
nothing of the package but `auditor.source.urn`, `auditor.errors` and `auditor.service.signer`.

    fleet.py   the deterministic fleet: `Fleet.generate` draws functions and their `Behaviour`s,
               and drifts them by `generation` (what changed: `Fleet.drift`, a `Drift`)
    faults.py  `Fault`s real gateways commit, `parse_fault_spec`, and which request gets which
               (`pick_function_faults` for a seeded share of the fleet)
    ratelimit.py  the gateway's sliding 1 s window per user or project, its limit following
                  a schedule (`RateLimit`, `parse_schedule`)
    config.py  `EmulatorConfig` and the well-known credentials it accepts (`DEFAULT_TOKEN`, ...)
               and the APM keys it lists (`DEFAULT_APM_AK`, `DEFAULT_APM_SK`)
    estate.py  an estate of accounts (`Estate.generate`): their projects (a default one per
               region, sub-projects, `MOS`) and the agencies that trust the home account
    access_keys.py  the gateway's AK/SK side: permanent and temporary keys, signature checks,
                    locks
    auth.py    FunctionGraph's credential checks: tokens, AK/SK signatures, AK locks, accounts;
               and who a request to IAM comes from
    iam.py     IAM's `POST /v3/auth/tokens`: project- (or domain-) scoped tokens for a user's
               password
    agency.py  IAM's agencies: `assume_role` tokens and temporary keys in another account
    iam_listing.py  IAM's `GET /v3/auth/projects`, `/v3/projects` and `/v3/auth/domains`
    iam_routes.py   each IAM route, from request to answer
    tracing.py each function's tracing settings: the GET's answer, UpdateTracing's changes
               (`TracingSettings`)
    apm.py     the APM service's key listing, `GET /v1/apm2/access-keys`
    stats.py   the `Stats` the server keeps, also served at `GET /_emulator/stats` for a
               measured run in another process
    server.py  the APIs on aiohttp.web (`create_app`, `running_emulator`)
    child.py   the emulator as a child process on a free port (`start_child`), for tests,
               benchmarks and `auditor demo`

Everything it serves is a pure function of `Fleet.generate`'s arguments (with an estate,
`Estate.generate`'s), the `EmulatorConfig`, the UpdateTracing requests it has accepted and the
credentials IAM has granted.
"""

from auditor.emulator.config import (
    DEFAULT_AK,
    DEFAULT_APM_AK,
    DEFAULT_APM_SK,
    DEFAULT_DOMAIN,
    DEFAULT_PASSWORD,
    DEFAULT_SK,
    DEFAULT_TOKEN,
    DEFAULT_USER,
    EmulatorConfig,
)
from auditor.emulator.estate import (
    DEFAULT_AGENCY,
    DEFAULT_SUBPROJECTS,
    MOS,
    Account,
    Estate,
    Project,
    region_of,
)
from auditor.emulator.faults import (
    PLAIN_SK_PREFIX,
    Answer,
    Fault,
    parse_fault_spec,
    pick_function_faults,
)
from auditor.emulator.fleet import (
    ADDED_SHARE,
    DEFAULT_MIX,
    FIXED_SHARE,
    MEMORY_SIZES,
    PACKAGES,
    QUALIFIED_SHARE,
    QUALIFIERS,
    REGIONS,
    REGRESSED_SHARE,
    REMOVED_SHARE,
    RUNTIMES,
    Behaviour,
    Drift,
    EmulatedFunction,
    Fleet,
)
from auditor.emulator.ratelimit import RateLimit, RateSchedule, parse_schedule
from auditor.emulator.server import (
    LAST_MODIFIED,
    MAX_ITEMS,
    RunningEmulator,
    create_app,
    running_emulator,
)
from auditor.emulator.stats import Stats

__all__ = [
    "ADDED_SHARE",
    "DEFAULT_AGENCY",
    "DEFAULT_AK",
    "DEFAULT_APM_AK",
    "DEFAULT_APM_SK",
    "DEFAULT_DOMAIN",
    "DEFAULT_MIX",
    "DEFAULT_PASSWORD",
    "DEFAULT_SK",
    "DEFAULT_SUBPROJECTS",
    "DEFAULT_TOKEN",
    "DEFAULT_USER",
    "FIXED_SHARE",
    "LAST_MODIFIED",
    "MAX_ITEMS",
    "MEMORY_SIZES",
    "MOS",
    "PACKAGES",
    "PLAIN_SK_PREFIX",
    "QUALIFIED_SHARE",
    "QUALIFIERS",
    "REGIONS",
    "REGRESSED_SHARE",
    "REMOVED_SHARE",
    "RUNTIMES",
    "Account",
    "Answer",
    "Behaviour",
    "Drift",
    "EmulatedFunction",
    "EmulatorConfig",
    "Estate",
    "Fault",
    "Fleet",
    "Project",
    "RateLimit",
    "RateSchedule",
    "RunningEmulator",
    "Stats",
    "create_app",
    "parse_fault_spec",
    "parse_schedule",
    "pick_function_faults",
    "region_of",
    "running_emulator",
]
