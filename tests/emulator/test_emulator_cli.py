"""`auditor emulator`'s flags as the `EmulatorConfig` they make, and their one-line errors.

No server is started: `emulator_config` builds the config the command would serve, and every
bad argument fails before the command would serve.
"""

from __future__ import annotations

from collections import Counter

import aiohttp
import pytest

from auditor.cli import build_parser, main
from auditor.cli.emulator_command import emulator_config
from auditor.emulator import EmulatorConfig, Fault, Fleet, RunningEmulator, pick_function_faults
from auditor.errors import UsageError
from tests.emulator.test_emulator_server import fetch_raw, serve, tracing_url

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
