"""The APM key listing at the emulator (`GET /v1/apm2/access-keys`): account-wide, authenticated
like FunctionGraph, never rate-limited; and the fleet's AKs are never the APM key.

Against a real emulator on 127.0.0.1 with a real aiohttp client.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from auditor.cli import build_parser
from auditor.cli.emulator_command import emulator_config
from auditor.emulator import (
    DEFAULT_APM_AK,
    DEFAULT_APM_SK,
    DEFAULT_TOKEN,
    Behaviour,
    EmulatorConfig,
    Fleet,
    RunningEmulator,
)
from auditor.emulator.apm import mask_sk
from auditor.emulator.child import start_child
from tests.emulator.test_auth import BAD_SIGNATURE, iam_token, signed
from tests.emulator.test_server import FLEET, serve

PROJECT, OTHER_PROJECT = FLEET.project_ids[0], FLEET.project_ids[1]
SECOND_AK, SECOND_SK = "emulatorapmak0000002", "emulatorapmsecretkey2222222222abcdef"
INVALID_TOKEN = {"error_code": "FSS.0403", "error_msg": "invalid token"}


def listing_url(emulator: RunningEmulator) -> str:
    return emulator.url + "/v1/apm2/access-keys"


async def list_keys(
    session: aiohttp.ClientSession, emulator: RunningEmulator, headers: dict[str, str]
) -> tuple[int, Any]:
    async with session.get(listing_url(emulator), headers=headers) as response:
        assert re.fullmatch(r"[0-9a-f]{32}", response.headers["X-Request-Id"])
        return response.status, await response.json()


def test_the_default_token_lists_the_well_known_key() -> None:
    async def scenario(emulator: RunningEmulator, session: aiohttp.ClientSession) -> None:
        status, body = await list_keys(session, emulator, {"X-Auth-Token": DEFAULT_TOKEN})
        assert status == 200
        assert body == {
            "access_ak_sk_models": [
                {
                    "id": 1,
                    "ak": DEFAULT_APM_AK,
                    "sk": DEFAULT_APM_SK,
                    "status": "enable",
                    "descp": "emulator APM key",
                    "gmt_create": "2024-01-01 00:00:00",
                    "gmt_modify": "2024-01-01 00:00:00",
                    "gmt_create_timestamp": 1704038400000,
                    "gmt_modify_timestamp": 1704038400000,
                    "inner_domain_id": 1,
                }
            ]
        }
        # X-Project-Id is honoured but not needed.
        headers = {"X-Auth-Token": DEFAULT_TOKEN, "X-Project-Id": PROJECT}
        assert (await list_keys(session, emulator, headers))[0] == 200
        assert emulator.stats.apm_requests == 2
        assert not emulator.stats.by_project  # not a FunctionGraph request

    serve(scenario)


def test_signed_requests_list_the_keys_with_or_without_a_project() -> None:
    async def scenario(emulator: RunningEmulator, session: aiohttp.ClientSession) -> None:
        url = listing_url(emulator)
        for project_id in (None, PROJECT):
            status, body = await list_keys(session, emulator, signed(url, project_id=project_id))
            assert status == 200, project_id
            assert body["access_ak_sk_models"][0]["ak"] == DEFAULT_APM_AK
        status, body = await list_keys(session, emulator, signed(url, sk="wrong", project_id=None))
        assert (status, body) == (401, BAD_SIGNATURE)
        assert not emulator.stats.auth_failures_by_project  # no project to count it under

    serve(scenario)


def test_project_scoped_and_iam_tokens_list_the_keys_for_their_own_project() -> None:
    config = EmulatorConfig(project_tokens={PROJECT: "token-for-one"})

    async def scenario(emulator: RunningEmulator, session: aiohttp.ClientSession) -> None:
        token = await iam_token(session, emulator, PROJECT)
        for held in ("token-for-one", token):
            assert (await list_keys(session, emulator, {"X-Auth-Token": held}))[0] == 200
            elsewhere = {"X-Auth-Token": held, "X-Project-Id": OTHER_PROJECT}
            assert await list_keys(session, emulator, elsewhere) == (403, INVALID_TOKEN)
        assert emulator.stats.auth_failures_by_project == Counter({OTHER_PROJECT: 2})

    serve(scenario, config=config)


def test_no_or_bad_credentials_and_refused_projects_are_refused() -> None:
    config = EmulatorConfig(reject_projects=frozenset({OTHER_PROJECT}))

    async def scenario(emulator: RunningEmulator, session: aiohttp.ClientSession) -> None:
        status, body = await list_keys(session, emulator, {})
        assert (status, body["error_code"]) == (401, "APIG.0301")
        assert await list_keys(session, emulator, {"X-Auth-Token": "stale"}) == (403, INVALID_TOKEN)
        refused = {"X-Auth-Token": DEFAULT_TOKEN, "X-Project-Id": OTHER_PROJECT}
        assert await list_keys(session, emulator, refused) == (403, INVALID_TOKEN)
        assert emulator.stats.auth_failures_by_project == Counter({OTHER_PROJECT: 1})
        assert emulator.stats.by_status == Counter({401: 1, 403: 2})
        assert (emulator.stats.requests, emulator.stats.apm_requests) == (3, 3)

    serve(scenario, config=config)


def test_the_listing_is_not_rate_limited() -> None:
    async def scenario(emulator: RunningEmulator, session: aiohttp.ClientSession) -> None:
        headers = {"X-Auth-Token": DEFAULT_TOKEN}
        assert [(await list_keys(session, emulator, headers))[0] for _ in range(3)] == [200] * 3
        async with session.get(emulator.url + "/_emulator/stats") as response:
            summary = await response.json()
        assert (summary["apm_requests"], summary["requests"]) == (3, 3)
        assert summary["tracing_requests"] == 0

    serve(scenario, config=EmulatorConfig(rate_limit=1))


def test_two_keys_are_listed_and_masked_sks_are_never_whole() -> None:
    keys = {DEFAULT_APM_AK: DEFAULT_APM_SK, SECOND_AK: SECOND_SK}
    config = EmulatorConfig(apm_keys=keys, mask_apm_sks=True)

    async def scenario(emulator: RunningEmulator, session: aiohttp.ClientSession) -> None:
        async with session.get(
            listing_url(emulator), headers={"X-Auth-Token": DEFAULT_TOKEN}
        ) as response:
            raw = await response.read()
            models = (await response.json())["access_ak_sk_models"]
        assert [(m["id"], m["ak"], m["sk"]) for m in models] == [
            (1, DEFAULT_APM_AK, "emul******cdef"),
            (2, SECOND_AK, "emul******cdef"),
        ]
        assert DEFAULT_APM_SK.encode() not in raw and SECOND_SK.encode() not in raw

    serve(scenario, config=config)


def test_mask_sk_hides_all_but_the_ends_and_all_of_a_short_key() -> None:
    assert mask_sk(DEFAULT_APM_SK) == "emul******cdef"
    assert mask_sk("short-secret") == "******"


def test_an_account_without_apm_keys_lists_none() -> None:
    async def scenario(emulator: RunningEmulator, session: aiohttp.ClientSession) -> None:
        headers = {"X-Auth-Token": DEFAULT_TOKEN}
        assert await list_keys(session, emulator, headers) == (200, {"access_ak_sk_models": []})

    serve(scenario, config=EmulatorConfig(apm_keys={}))


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        ({"": "sk"}, "must not be empty"),
        ({"ak": ""}, "must not be empty"),
        ({"a": "1", "b": "2", "c": "3"}, "at most 2 key pairs"),
    ],
)
def test_config_checks_the_apm_keys(keys: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        EmulatorConfig(apm_keys=keys)
    assert EmulatorConfig().apm_keys == {DEFAULT_APM_AK: DEFAULT_APM_SK}


@pytest.mark.parametrize("generation", [0, 3])
def test_no_fleet_function_starts_with_the_apm_key(generation: int) -> None:
    """So a policy expecting only the APM key flags every AK the fleet started with."""
    fleet = Fleet.generate(2000, seed=generation, generation=generation)
    aks = {fleet.tracing_ak(f) for f in fleet.functions if f.behaviour is Behaviour.CONFIGURED}
    assert len(aks) > 1000
    assert DEFAULT_APM_AK not in aks
    assert all(re.fullmatch(r"[A-Z0-9]{20}", ak) for ak in aks)
    assert re.search(r"[a-z]", DEFAULT_APM_AK)  # so it never can be one


# --- the emulator command ----------------------------------------------------------------------


def test_mask_apm_sk_flag_makes_the_config() -> None:
    def config_of(*flags: str) -> EmulatorConfig:
        return emulator_config(build_parser().parse_args(["emulator", *flags]), FLEET)

    assert not config_of().mask_apm_sks
    assert config_of("--mask-apm-sk").mask_apm_sks
    assert config_of().apm_keys == {DEFAULT_APM_AK: DEFAULT_APM_SK}


@pytest.mark.e2e
def test_the_command_prints_the_apm_keys_for_auditor_fix(tmp_path: Path) -> None:
    child = start_child(tmp_path, functions=10, seed=1)
    try:
        log = child.log_file.read_text(encoding="utf-8")
    finally:
        child.stop()
    keys = f"AUDITOR_APM_AK={DEFAULT_APM_AK} AUDITOR_APM_SK={DEFAULT_APM_SK}"
    assert f"APM keys for auditor fix: {keys}" in log.splitlines()
