"""`auditor emulator`'s flags as the `EmulatorConfig` (and `Estate`) they make, and their
one-line errors.

No server is started (but by the one `e2e` test): `emulator_config` and `emulator_estate` build
what the command would serve, and every bad argument fails before the command would serve.
"""

from __future__ import annotations

import json
import urllib.request
from collections import Counter
from pathlib import Path

import aiohttp
import pytest

from auditor.cli import build_parser, main
from auditor.cli.emulator_command import describe_estate, emulator_config, emulator_estate
from auditor.emulator import (
    DEFAULT_AGENCY,
    DEFAULT_TOKEN,
    EmulatorConfig,
    Estate,
    Fault,
    Fleet,
    RunningEmulator,
    pick_function_faults,
)
from auditor.emulator.child import start_child
from auditor.errors import UsageError
from tests.emulator.test_server import fetch_raw, serve, tracing_url

FLEET = Fleet.generate(200, seed=5)
URNS = [f.urn.unqualified for f in FLEET.functions]


def config_of(*flags: str) -> EmulatorConfig:
    return emulator_config(build_parser().parse_args(["emulator", *flags]), FLEET)


# --- rate limit flags --------------------------------------------------------------------------


def test_rate_limit_flags_make_the_config() -> None:
    default = config_of()
    assert (default.limit_schedule, default.rate_limit_scope) == ((), "user")
    fixed = config_of("--rate-limit", "60")
    assert fixed.limit_schedule == ((0.0, 60),)
    stepped = config_of(
        "--rate-limit-schedule", "0:100,20:30,40:none", "--rate-limit-scope", "project"
    )
    assert stepped.rate_limit_schedule == ((0.0, 100), (20.0, 30), (40.0, None))
    assert stepped.rate_limit_scope == "project"


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (
            ["--rate-limit", "5", "--rate-limit-schedule", "0:5"],
            "--rate-limit and --rate-limit-schedule: give one",
        ),
        (["--rate-limit", "0"], "--rate-limit: 0 must be >= 1"),
        (["--rate-limit-schedule", "5:10"], "--rate-limit-schedule: the first phase must start"),
        (["--rate-limit-schedule", "0:0"], "--rate-limit-schedule: limit 0 must be"),
        (["--rate-limit-schedule", "0:10,20:5,10:3"], "phase starts must ascend (20 then 10)"),
        (["--rate-limit-schedule", "0=10"], "--rate-limit-schedule: bad schedule '0=10'"),
        (["--fault-times", "2"], "--fault-times: it counts --function-fault faults"),
        (["--function-fault", "fss_429=0.1", "--fault-times", "-1"], "--fault-times: -1 must"),
        (["--function-fault", "fss_429=2"], "--function-fault: bad fault 'fss_429=2': expected"),
        (["--function-fault", "teapot=0.1"], "NAME=SHARE with SHARE from 0 to 1"),
        (
            ["--function-fault", "fss_429=0.7", "--function-fault", "reset=0.4"],
            "--function-fault: function faults: the shares must add up to at most 1",
        ),
    ],
)
def test_bad_flags_are_one_line_usage_errors_before_serving(
    flags: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(UsageError) as caught:
        config_of(*flags)
    assert message in str(caught.value)
    # The command itself: exit 2 with that one line, and nothing served.
    assert main(["emulator", "--functions", "5", "--port", "0", *flags]) == 2
    out, err = capsys.readouterr()
    assert (out, err.count("\n")) == ("", 1)
    assert err.startswith("auditor: error: ") and message in err


def test_an_unknown_scope_is_an_argparse_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["emulator", "--rate-limit-scope", "tenant"])
    assert caught.value.code == 2
    assert "invalid choice: 'tenant'" in capsys.readouterr().err


# --- per-function faults -----------------------------------------------------------------------


def test_function_fault_picks_a_seeded_share_of_the_fleet() -> None:
    config = config_of("--function-fault", "fss_429=0.05", "--fault-times", "2")
    assert config.fault_times == 2
    assert Counter(config.function_faults.values()) == Counter({Fault.FSS_429: 10})
    assert set(config.function_faults) <= set(URNS)
    again = config_of("--function-fault", "fss_429=0.05", "--fault-times", "2")
    assert again.function_faults == config.function_faults
    reseeded = config_of("--function-fault", "fss_429=0.05", "--fault-seed", "1")
    assert set(reseeded.function_faults) != set(config.function_faults)
    assert reseeded.fault_times is None  # every request, for ever


def test_function_faults_get_disjoint_exact_shares() -> None:
    picked = pick_function_faults(URNS, {Fault.HTML_502: 0.1, Fault.FSS_429: 0.05}, seed=3)
    assert Counter(picked.values()) == Counter({Fault.FSS_429: 10, Fault.HTML_502: 20})
    # Running sums, rounded: the shares of three functions are one each, never four in all.
    thirds = pick_function_faults(URNS[:3], {Fault.RESET: 0.5, Fault.SLOW: 0.5}, seed=0)
    assert len(thirds) == 3
    everything = pick_function_faults([*URNS, *URNS], {Fault.RESET: 1.0}, seed=0)
    assert set(everything) == set(URNS)  # duplicates are one function
    assert pick_function_faults(URNS, {}, seed=0) == {}
    with pytest.raises(ValueError, match="from 0 to 1"):
        pick_function_faults(URNS, {Fault.RESET: -0.1}, seed=0)


def test_picked_functions_answer_429_twice_then_normally() -> None:
    config = config_of("--function-fault", "fss_429=0.05", "--fault-times", "2")
    faulted = [f for f in FLEET.functions if f.urn.unqualified in config.function_faults]
    other = next(f for f in FLEET.functions if f.urn.unqualified not in config.function_faults)

    async def scenario(emulator: RunningEmulator, session: aiohttp.ClientSession) -> None:
        for function in faulted:
            url = tracing_url(emulator, str(function.urn))
            answers = [(await fetch_raw(session, url))[0] for _ in range(3)]
            assert answers[:2] == [429, 429] and answers[2] != 429, function
        url = tracing_url(emulator, str(other.urn))
        assert (await fetch_raw(session, url))[0] != 429
        assert emulator.stats.by_fault == Counter({"fss_429": 2 * len(faulted)})

    serve(scenario, fleet=FLEET, config=config)


# --- the estate --------------------------------------------------------------------------------


def estate_of(*flags: str) -> Estate | None:
    args = build_parser().parse_args(["emulator", *flags])
    return emulator_estate(args, ("cn-north-4", "ap-southeast-1"))


def test_without_accounts_there_is_no_estate() -> None:
    assert estate_of() is None
    assert estate_of("--projects", "5") is None


def test_estate_flags_make_the_estate() -> None:
    estate = estate_of(
        "--accounts", "3", "--subprojects", "ops,dev", "--agency", "audit-agency",
        "--refusing-account", "emulator-domain-3", "--seed", "9",
    )  # fmt: skip
    assert estate is not None
    assert [a.name for a in estate.accounts] == [
        "emulator-domain",
        "emulator-domain-2",
        "emulator-domain-3",
    ]
    assert [p.name for p in estate.home.projects] == [
        "cn-north-4", "cn-north-4_ops", "cn-north-4_dev",
        "ap-southeast-1", "ap-southeast-1_ops", "ap-southeast-1_dev", "MOS",
    ]  # fmt: skip
    assert [(a.agency_name, a.trusts_home) for a in estate.accounts[1:]] == [
        ("audit-agency", True),
        ("audit-agency", False),
    ]
    assert estate.accounts == Estate.generate(
        3, seed=9, subprojects=("ops", "dev"), agency_name="audit-agency",
        refusing={"emulator-domain-3"},
    ).accounts  # fmt: skip
    default = estate_of("--accounts", "2")
    assert default is not None
    assert [p.name for p in default.accounts[1].projects] == [
        "cn-north-4", "cn-north-4_ops", "ap-southeast-1", "ap-southeast-1_ops", "MOS",
    ]  # fmt: skip
    assert default.accounts[1].agency_name == DEFAULT_AGENCY
    bare = estate_of("--accounts", "1", "--subprojects", "")
    assert bare is not None and [p.name for p in bare.home.projects] == [
        "cn-north-4",
        "ap-southeast-1",
        "MOS",
    ]


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--subprojects", "ops"], "--subprojects: it shapes an estate; add --accounts N"),
        (["--agency", "a"], "--agency: it shapes an estate; add --accounts N"),
        (["--refusing-account", "x"], "--refusing-account: it shapes an estate"),
        (["--accounts", "2", "--projects", "3"], "--projects: an estate's projects are"),
        (["--accounts", "0"], "emulator: accounts: 0 must be >= 1"),
        (["--accounts", "2", "--refusing-account", "emulator-domain-3"], "is not another account"),
        (["--accounts", "2", "--subprojects", "a b"], "'a b' is not a suffix"),
    ],
)
def test_bad_estate_flags_are_one_line_usage_errors(
    flags: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(UsageError) as caught:
        estate_of(*flags)
    assert message in str(caught.value)
    assert main(["emulator", "--functions", "5", "--port", "0", *flags]) == 2
    out, err = capsys.readouterr()
    assert (out, err.count("\n")) == ("", 1)
    assert message in err


def test_the_estate_is_described_by_account_and_agency() -> None:
    estate = estate_of("--accounts", "3", "--refusing-account", "emulator-domain-3")
    assert estate is not None
    lines = describe_estate(estate).splitlines()
    assert lines[0] == (
        "3 accounts, each with projects cn-north-4, cn-north-4_ops, ap-southeast-1, "
        "ap-southeast-1_ops, MOS"
    )
    assert lines[1].startswith(f"  emulator-domain {estate.home.domain_id}: the home account")
    assert lines[2].endswith("its agency emulator-agency trusts the home account")
    assert lines[3].endswith("its agency emulator-agency refuses the home account")


@pytest.mark.e2e
def test_the_emulator_command_serves_an_estate(tmp_path: Path) -> None:
    child = start_child(
        tmp_path,
        functions=60,
        seed=3,
        args=("--accounts", "2", "--refusing-account", "emulator-domain-2"),
    )
    try:
        request = urllib.request.Request(
            f"{child.url}/v3/auth/projects", headers={"X-Auth-Token": DEFAULT_TOKEN}
        )
        with urllib.request.urlopen(request, timeout=10) as answer:
            projects = json.load(answer)["projects"]
        stats = child.stats()
        log = child.log_file.read_text(encoding="utf-8")
    finally:
        child.stop()
    estate = Estate.generate(2, seed=3, refusing={"emulator-domain-2"})
    assert [p["id"] for p in projects] == [p.id for p in estate.home.projects]
    assert stats["estate"]["iam_listing_requests"] == {"/v3/auth/projects": 1}
    assert stats["estate"]["mos_requests"] == 0
    assert "emulator: 60 functions, 2 accounts, each with projects" in log
    assert "its agency emulator-agency refuses the home account" in log
    urns = child.urns_file.read_text(encoding="utf-8").split()
    fleet = estate.fleet(60, seed=3)
    assert urns == fleet.urns()
