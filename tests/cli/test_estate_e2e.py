"""`--all-projects` over a whole estate, as a user runs it: the credentials' own account and the
config's `[[accounts]]` (reached through their IAM agencies) against an emulated estate on
127.0.0.1, for every credential method.

One emulator process plays 3 accounts x 4 projects (2 regions x (default + ops)) + MOS each,
the third account's agency refusing; the CLI runs as a new process. The issue's done-when (all
three accounts trusting) and the secrets check run `auditor.cli.main` in this process against an
in-process emulator on a real loopback port, so that every token and temporary key the emulator
issues can be read from its memory and searched for in every output.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import json
import sqlite3
import threading
import zipfile
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from auditor.cli import main
from auditor.emulator import (
    DEFAULT_AK,
    DEFAULT_APM_AK,
    DEFAULT_APM_SK,
    DEFAULT_DOMAIN,
    DEFAULT_PASSWORD,
    DEFAULT_SK,
    DEFAULT_TOKEN,
    DEFAULT_USER,
    REGIONS,
    Behaviour,
    EmulatorConfig,
    Estate,
    Fleet,
    RunningEmulator,
    running_emulator,
)
from auditor.emulator.access_keys import AccessKey, AccessKeys
from auditor.emulator.auth import CredentialCheck
from auditor.emulator.child import EmulatorChild, read_stats, start_child
from auditor.source.urn import parse_urn
from tests.conftest import run_cli

pytestmark = pytest.mark.e2e  # an emulator process and one in this process; the CLI as a process

SEED, FUNCTIONS = 2, 600  # seed 2 leaves every one of 3 shards at least 2 projects
REFUSING = "emulator-domain-3"
ESTATE = Estate.generate(3, seed=SEED, refusing={REFUSING})
FLEET = ESTATE.fleet(FUNCTIONS, seed=SEED)  # what `auditor emulator --accounts 3` serves
HOME, TEAM_B, TEAM_C = ESTATE.accounts
# The report's name of each account: the own account by its domain name (IAM's answer), the
# others by the config's `name`.
REPORT_NAME = {HOME.name: HOME.name, TEAM_B.name: "team-b", TEAM_C.name: "team-c"}

TOKEN = {"AUDITOR_TOKEN": DEFAULT_TOKEN}
AKSK = {"HUAWEICLOUD_SDK_AK": DEFAULT_AK, "HUAWEICLOUD_SDK_SK": DEFAULT_SK}
PASSWORD = {
    "HUAWEICLOUD_USERNAME": DEFAULT_USER,
    "HUAWEICLOUD_PASSWORD": DEFAULT_PASSWORD,
    "HUAWEICLOUD_DOMAIN_NAME": DEFAULT_DOMAIN,
}
METHODS = {"token": TOKEN, "aksk": AKSK, "password": PASSWORD}
# Fast and deterministic: no ceiling, and a 500 is final at once (SERVER_ERROR is every time).
FAST = ("--rate", "0", "--retries", "0")


def estate_config(path: Path, url: str) -> Path:
    """The config a user writes: the endpoints and the two other accounts by domain name."""
    path.write_text(
        f'endpoint = "{url}"\n'
        f'iam_endpoint = "{url}"\n'
        "[[accounts]]\n"
        f'domain_name = "{TEAM_B.name}"\n'
        'agency_name = "emulator-agency"\n'
        'name = "team-b"\n'
        "[[accounts]]\n"
        f'domain_name = "{TEAM_C.name}"\n'
        'agency_name = "emulator-agency"\n'
        'name = "team-c"\n',
        encoding="utf-8",
    )
    return path


def project_ids(estate: Estate, *domains: str) -> set[str]:
    """Every project of these accounts that has functions (all but MOS)."""
    return {
        p.id
        for account in estate.accounts
        if account.name in domains
        for p in account.projects
        if p.region is not None
    }


def report_names(estate: Estate, names: dict[str, str]) -> dict[str, str]:
    """The report's account name of every project, by id."""
    return {p.id: names[a.name] for a in estate.accounts for p in a.projects}


def listed(fleet: Fleet, projects: set[str]) -> dict[str, Any]:
    """What ListFunctions lists in `projects`, by unqualified URN: every function but the DELETED
    ones (stale inventory entries the service no longer has)."""
    return {
        f.urn.unqualified: f
        for f in fleet.functions
        if f.urn.project_id in projects and f.behaviour is not Behaviour.DELETED
    }


REACHED = project_ids(ESTATE, HOME.name, TEAM_B.name)
PROJECT_ACCOUNT = report_names(ESTATE, REPORT_NAME)


# --- the emulator process ---------------------------------------------------------------------


@dataclass(frozen=True)
class EstateEmulator:
    url: str
    child: EmulatorChild
    config: Path

    def stats(self, *, reset: bool = False) -> dict[str, Any]:
        return read_stats(self.url, reset=reset)


@contextlib.contextmanager
def estate_emulator(tmp: Path) -> Iterator[EstateEmulator]:
    """`auditor emulator --accounts 3 --refusing-account emulator-domain-3`, and its config."""
    child = start_child(
        tmp,
        functions=FUNCTIONS,
        seed=SEED,
        args=("--accounts", "3", "--refusing-account", REFUSING, "--regions", ",".join(REGIONS)),
    )
    try:
        yield EstateEmulator(child.url, child, estate_config(tmp / "estate.toml", child.url))
    finally:
        child.stop()


@pytest.fixture(scope="module")
def estate(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EstateEmulator]:
    """The estate's emulator, shared by the tests of this module that change nothing."""
    with estate_emulator(tmp_path_factory.mktemp("estate")) as emulator:
        yield emulator


def emulator_urns(emulator: EstateEmulator, projects: set[str]) -> set[str]:
    """The emulator's own `--urns-out` list, unqualified, of `projects`, without the functions
    ListFunctions does not list (DELETED)."""
    urns = emulator.child.urns_file.read_text(encoding="utf-8").split()
    assert urns == FLEET.urns(), "the emulator serves another fleet than the test's model"
    unqualified = {parse_urn(u).unqualified for u in urns}
    return {
        u
        for u in unqualified
        if parse_urn(u).project_id in projects
        and FLEET.lookup(u).behaviour is not Behaviour.DELETED
    }


def cli(emulator: EstateEmulator, *args: str, env: dict[str, str]) -> tuple[int, str, str]:
    result = run_cli(*args, "-c", str(emulator.config), env=env, timeout=60)
    assert "Traceback" not in result.stderr, result.stderr
    return result.returncode, result.stdout, result.stderr


def inventory(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"), newline="")))


def discover_rows(
    emulator: EstateEmulator, tmp_path: Path, *args: str, name: str = "inv.csv"
) -> tuple[int, list[dict[str, str]], str]:
    target = tmp_path / name
    code, _, err = cli(emulator, "discover", "--all-projects", "-o", str(target), *args, env=TOKEN)
    return code, inventory(target) if target.exists() else [], err


# --- audit --all-projects, every credential method ---------------------------------------------


@pytest.mark.parametrize("method", list(METHODS))
def test_audit_all_projects_audits_own_and_trusting_accounts_once_and_names_the_refusal(
    estate: EstateEmulator, tmp_path: Path, method: str
) -> None:
    estate.stats(reset=True)
    out = tmp_path / "out"
    code, stdout, stderr = cli(
        estate, "audit", "--all-projects", "-o", str(out), "--name", "r", *FAST, env=METHODS[method]
    )
    assert code == 1, stderr
    report = json.loads((out / "r.json").read_text(encoding="utf-8"))
    rows = report["results"]

    expected = emulator_urns(estate, REACHED)
    assert expected == set(listed(FLEET, REACHED))
    times = Counter(row["urn"] for row in rows)
    assert set(times) == expected
    assert {urn for urn, n in times.items() if n != 1} == set()
    for row in rows:
        urn = parse_urn(row["urn"])
        assert row["region"] == urn.region, row
        assert row["project_id"] == urn.project_id, row
        assert row["account"] == PROJECT_ACCOUNT[urn.project_id], row
        assert row["status"] == FLEET.expected_status(row["urn"]), row
    assert not project_ids(ESTATE, TEAM_C.name) & {row["project_id"] for row in rows}

    accounts = {a["name"]: a for a in report["run"]["accounts"]}
    assert {n: (a["kind"], a["status"]) for n, a in accounts.items()} == {
        HOME.name: ("own", "listed"),
        "team-b": ("agency", "listed"),
        "team-c": ("agency", "refused"),
    }
    assert set(accounts[HOME.name]["projects_audited"]) == project_ids(ESTATE, HOME.name)
    assert set(accounts["team-b"]["projects_audited"]) == project_ids(ESTATE, TEAM_B.name)
    assert accounts["team-c"]["projects_audited"] == []
    assert "emulator-agency" in accounts["team-c"]["error"]
    for name in (HOME.name, "team-b"):
        assert accounts[name]["projects_listed"] == 5  # 4 and MOS
        assert accounts[name]["projects_skipped"] == [
            {"project": "MOS", "reason": "the built-in billing project MOS"}
        ]
    assert report["run"]["shard"] is None
    by_account = report["summary"]["by_account"]
    assert set(by_account) == {HOME.name, "team-b"}
    assert sum(sum(statuses.values()) for statuses in by_account.values()) == len(rows)

    assert "account team-c NOT AUDITED (refused): agency emulator-agency refused" in stdout
    assert "account team-b: 4 projects audited of 5 listed" in stdout

    seen = estate.stats()["estate"]
    assert seen["mos_requests"] == 0
    assert REFUSING not in seen["by_account"]
    assert seen["agency_refusals"].get(REFUSING, 0) >= 1
    # Listing, discovery and the audit each have a session of their own, and share what IAM
    # gave: one set of temporary keys, or one agency token per project and one for the domain.
    if method == "aksk":
        assert seen["temporary_keys_issued"] == {TEAM_B.name: 1}
        assert seen["agency_tokens_issued"] == {}
    else:
        team_b_projects = len(project_ids(ESTATE, TEAM_B.name))
        assert seen["agency_tokens_issued"] == {TEAM_B.name: team_b_projects + 1}
        assert seen["temporary_keys_issued"] == {}
    if method == "password":  # the own account: a domain token and a token per project, once
        assert seen["domain_tokens_issued"][HOME.name] == 1
        own = project_ids(ESTATE, HOME.name)
        assert {p: n for p, n in estate.stats()["tokens_issued"].items() if p in own} == {
            p: 1 for p in own
        }


# --- discover --all-projects: the inventory, --region, --exclude-project, --shard --------------


def test_discover_all_projects_writes_the_account_column(
    estate: EstateEmulator, tmp_path: Path
) -> None:
    code, rows, err = discover_rows(estate, tmp_path)
    assert code == 1, err  # team-c was not listed
    assert "account team-c NOT AUDITED (refused)" in err
    assert Counter(r["func_urn"] for r in rows) == Counter(set(listed(FLEET, REACHED)))
    for row in rows:
        assert row["account"] == PROJECT_ACCOUNT[parse_urn(row["func_urn"]).project_id], row
    assert {r["account"] for r in rows} == {HOME.name, "team-b"}


def test_region_narrows_every_account_to_that_region(
    estate: EstateEmulator, tmp_path: Path
) -> None:
    code, rows, err = discover_rows(estate, tmp_path, "--region", "cn-north-4")
    assert code == 1, err
    in_region = {p for p in REACHED if ESTATE.project(p).region == "cn-north-4"}
    assert len(in_region) == 4  # cn-north-4 and cn-north-4_ops in each reached account
    assert {r["func_urn"] for r in rows} == set(listed(FLEET, in_region))
    assert {parse_urn(r["func_urn"]).region for r in rows} == {"cn-north-4"}
    assert f"account {HOME.name}: 2 projects audited of 5 listed" in err
    assert "account team-b: 2 projects audited of 5 listed" in err


def test_exclude_project_skips_that_one_project(estate: EstateEmulator, tmp_path: Path) -> None:
    excluded = TEAM_B.project_named("ap-southeast-1_ops")
    assert excluded is not None
    code, rows, err = discover_rows(estate, tmp_path, "--exclude-project", excluded.id)
    assert code == 1, err
    assert {r["func_urn"] for r in rows} == set(listed(FLEET, REACHED - {excluded.id}))
    assert "account team-b: 3 projects audited of 5 listed" in err
    assert f"account {HOME.name}: 4 projects audited of 5 listed" in err


def test_shards_partition_the_projects(estate: EstateEmulator, tmp_path: Path) -> None:
    shards: list[set[str]] = []
    projects: list[set[str]] = []
    for k in (1, 2, 3):
        code, rows, err = discover_rows(
            estate, tmp_path, "--shard", f"{k}/3", name=f"shard-{k}.csv"
        )
        assert code == 1, err
        urns = [r["func_urn"] for r in rows]
        assert len(urns) == len(set(urns))
        shards.append(set(urns))
        projects.append({parse_urn(u).project_id for u in urns})
    assert all(projects), "every share has projects (seed chosen so)"
    assert set().union(*shards) == set(listed(FLEET, REACHED))
    assert set().union(*projects) == REACHED
    for i in range(3):
        for j in range(i + 1, 3):
            assert not shards[i] & shards[j], (i + 1, j + 1)
            assert not projects[i] & projects[j], (i + 1, j + 1)


# --- auditor fix over an estate report: each account through its own agency -------------------


@pytest.fixture
def fresh_estate(tmp_path: Path) -> Iterator[EstateEmulator]:
    """The same estate, in a process of its own: a fix changes what the emulator serves."""
    with estate_emulator(tmp_path) as emulator:
        yield emulator


@pytest.mark.parametrize("method", ["token", "aksk"])
def test_fix_of_an_estate_report_reaches_each_account_through_its_agency(
    fresh_estate: EstateEmulator, tmp_path: Path, method: str
) -> None:
    env = METHODS[method]
    out = tmp_path / "out"
    code, _, err = cli(
        fresh_estate, "audit", "--all-projects", "-o", str(out), "--name", "before", *FAST, env=env
    )
    assert code == 1, err
    before = json.loads((out / "before.json").read_text(encoding="utf-8"))["results"]
    missing = Counter(r["account"] for r in before if r["status"] == "missing_keys")
    assert set(missing) == {HOME.name, "team-b"}  # both accounts have something to fix
    fresh_estate.stats(reset=True)

    keys = {"AUDITOR_APM_AK": DEFAULT_APM_AK, "AUDITOR_APM_SK": DEFAULT_APM_SK}
    code, stdout, err = cli(
        fresh_estate,
        "fix",
        str(out / "before.json"),
        "--apply",
        "--yes",
        *FAST,
        env={**env, **keys},
    )
    total = sum(missing.values())
    assert code == 0, stdout + err
    assert f"fix: fixed {total} (of {total} planned)" in stdout
    seen = fresh_estate.stats()
    assert seen["updates"] == total
    issued = seen["estate"]["temporary_keys_issued" if method == "aksk" else "agency_tokens_issued"]
    assert issued.get(TEAM_B.name, 0) >= 1  # team-b's functions were fixed as team-b

    code, _, err = cli(
        fresh_estate, "audit", "--all-projects", "-o", str(out), "--name", "after", *FAST, env=env
    )
    after = json.loads((out / "after.json").read_text(encoding="utf-8"))["results"]
    assert not [r["urn"] for r in after if r["status"] == "missing_keys"]
    configured = Counter(r["account"] for r in after if r["status"] == "configured")
    was = Counter(r["account"] for r in before if r["status"] == "configured")
    assert configured == was + missing
    for text in (DEFAULT_APM_SK,):
        assert text not in stdout + err
        assert text not in (out / "before.fix.json").read_text(encoding="utf-8")
        assert text not in (out / "before.fix.journal.jsonl").read_text(encoding="utf-8")


# --- in this process: every account trusting, and the secrets the emulator issued -------------

HOME_TOKEN = "PLANTED-HOME-TOKEN-5e0a1c77-do-not-leak"  # the in-process emulator's token
TRUSTING_SEED = 5
TRUSTING = Estate.generate(3, seed=TRUSTING_SEED)  # every agency trusts the home account
TRUSTING_FLEET = TRUSTING.fleet(FUNCTIONS, seed=TRUSTING_SEED)
T_HOME, T_B, T_C = TRUSTING.accounts
TRUSTING_NAME = {T_HOME.name: T_HOME.name, T_B.name: "team-b", T_C.name: "team-c"}
IN_PROCESS = {
    "token": {"AUDITOR_TOKEN": HOME_TOKEN},
    "aksk": AKSK,
    "password": PASSWORD,
}


@dataclass
class IssuedSecrets:
    """Every credential the emulator handed out, as its IAM and agencies stored them."""

    tokens: list[str] = field(default_factory=list)
    temporary: list[tuple[str, str, str]] = field(default_factory=list)  # access, secret, token

    def all(self) -> list[str]:
        return [*self.tokens, *(part for keys in self.temporary for part in keys)]


@contextlib.contextmanager
def emulator_in_a_thread(
    estate: Estate, fleet: Fleet, config: EmulatorConfig
) -> Iterator[RunningEmulator]:
    """`running_emulator` on 127.0.0.1 in a thread of its own (its own event loop), so that
    `auditor.cli.main` can run its own `asyncio.run`s in this one."""
    started = threading.Event()
    box: dict[str, Any] = {}

    async def serve() -> None:
        try:
            async with running_emulator(fleet, config, estate=estate) as server:
                box["server"], box["stop"] = server, asyncio.Event()
                box["loop"] = asyncio.get_running_loop()
                started.set()
                await box["stop"].wait()
        except BaseException as exc:  # seen by the test, not lost in the thread
            box["error"] = exc
            started.set()

    thread = threading.Thread(target=asyncio.run, args=(serve(),), daemon=True)
    thread.start()
    assert started.wait(30), "the in-process emulator did not start"
    if "error" in box:
        raise box["error"]
    try:
        yield box["server"]
    finally:
        box["loop"].call_soon_threadsafe(box["stop"].set)
        thread.join(30)


def spy_on_issued_secrets(patch: pytest.MonkeyPatch, issued: IssuedSecrets) -> None:
    """Record each token IAM remembers and each temporary key an agency grants, as they are
    stored (the emulator keeps them only in its credential check's memory)."""
    remember: Callable[..., None] = CredentialCheck.remember
    grant: Callable[..., None] = AccessKeys.grant

    def remembering(self: CredentialCheck, token: str, *args: Any, **kwargs: Any) -> None:
        issued.tokens.append(token)
        remember(self, token, *args, **kwargs)

    def granting(self: AccessKeys, access_key: str, key: AccessKey) -> None:
        assert key.security_token is not None
        issued.temporary.append((access_key, key.secret, key.security_token))
        grant(self, access_key, key)

    patch.setattr(CredentialCheck, "remember", remembering)
    patch.setattr(AccessKeys, "grant", granting)


@dataclass
class InProcessRun:
    code: int
    stdout: str
    stderr: str
    out: Path
    issued: IssuedSecrets
    stats: dict[str, Any]


@pytest.fixture(scope="module", params=list(IN_PROCESS))
def trusting_run(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> InProcessRun:
    """`auditor audit --all-projects -c estate.toml` (both other accounts trusting), once per
    credential method, in this process against an in-process emulator."""
    method = request.param
    tmp = tmp_path_factory.mktemp(f"trusting-{method}")
    issued = IssuedSecrets()
    stdout, stderr = io.StringIO(), io.StringIO()
    with pytest.MonkeyPatch.context() as patch:
        spy_on_issued_secrets(patch, issued)
        for name in {*TOKEN, *AKSK, *PASSWORD}:
            patch.delenv(name, raising=False)
        for name, value in IN_PROCESS[method].items():
            patch.setenv(name, value)
        config = EmulatorConfig(token=HOME_TOKEN)
        with emulator_in_a_thread(TRUSTING, TRUSTING_FLEET, config) as server:
            config_file = estate_config(tmp / "estate.toml", server.url)
            out = tmp / "out"
            args = ["audit", "--all-projects", "-c", str(config_file), "-o", str(out)]
            args += ["--name", "r", *FAST, "--log-format", "json"]
            with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
                code = main(args)
            stats = server.stats.summary()
    return InProcessRun(code, stdout.getvalue(), stderr.getvalue(), out, issued, stats)


def test_done_when_three_trusting_accounts_of_four_projects_audit_every_function_once(
    trusting_run: InProcessRun,
) -> None:
    run = trusting_run
    assert run.code == 1, run.stderr  # missing keys and 500s are findings
    report = json.loads((run.out / "r.json").read_text(encoding="utf-8"))
    rows = report["results"]
    every_project = project_ids(TRUSTING, *TRUSTING_NAME)
    assert len(every_project) == 12  # 3 accounts x 4 projects
    names = report_names(TRUSTING, TRUSTING_NAME)
    times = Counter(row["urn"] for row in rows)
    assert set(times) == set(listed(TRUSTING_FLEET, every_project))
    assert set(times.values()) == {1}
    for row in rows:
        urn = parse_urn(row["urn"])
        assert (row["region"], row["account"]) == (urn.region, names[urn.project_id]), row
        assert row["status"] == TRUSTING_FLEET.expected_status(row["urn"]), row
    assert {a["name"]: a["status"] for a in report["run"]["accounts"]} == {
        T_HOME.name: "listed",
        "team-b": "listed",
        "team-c": "listed",
    }
    assert set(report["summary"]["by_account"]) == {T_HOME.name, "team-b", "team-c"}
    assert "NOT AUDITED" not in run.stdout
    assert run.stats["estate"]["mos_requests"] == 0
    assert run.stats["estate"]["agency_refusals"] == {}


def texts_of_every_output(run: InProcessRun) -> dict[str, str]:
    """stdout, stderr, and every file the run wrote: the JSON/CSV reports, the journal and the
    inventory as text, the XLSX's every part unzipped, the history store's every text value of
    every table (and its files' raw bytes)."""
    outputs = {"stdout": run.stdout, "stderr": run.stderr}
    for path in sorted(run.out.iterdir()):
        outputs[path.name] = path.read_bytes().decode("latin-1")
    with zipfile.ZipFile(run.out / "r.xlsx") as book:
        for part in book.namelist():
            outputs[f"r.xlsx:{part}"] = book.read(part).decode("utf-8", "replace")
    with contextlib.closing(sqlite3.connect(run.out / "history.sqlite")) as db:
        tables = [t for (t,) in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        assert tables
        for table in tables:
            values = [
                value.decode("latin-1") if isinstance(value, bytes) else value
                for record in db.execute(f'SELECT * FROM "{table}"')
                for value in record
                if isinstance(value, str | bytes)
            ]
            outputs[f"history.sqlite:{table}"] = "\n".join(values)
    return outputs


def test_no_issued_or_home_secret_in_any_output(trusting_run: InProcessRun) -> None:
    run = trusting_run
    issued = run.issued
    # Not vacuous: the run did get the agencies' credentials it should hide.
    if run.stats["estate"]["temporary_keys_issued"]:
        assert issued.temporary, "temporary keys were issued but not seen"
    else:
        assert run.stats["estate"]["agency_tokens_issued"]
    assert issued.all()
    outputs = texts_of_every_output(run)
    expected_files = {"r.json", "r.csv", "r.xlsx", "r.journal.jsonl", "r.inventory.csv"}
    assert expected_files | {"history.sqlite"} <= set(outputs)
    secrets = [*issued.all(), HOME_TOKEN, DEFAULT_SK, DEFAULT_PASSWORD]
    leaks = [
        (secret[:12] + "...", where)
        for where, text in outputs.items()
        for secret in secrets
        if secret in text
    ]
    assert leaks == []
