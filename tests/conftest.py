"""Shared fixtures: one real `auditor emulator` process on 127.0.0.1 for the session, and CLI
runners (tests that use them start processes: mark them `e2e`); a fresh database for each
history store test, on SQLite and on the PostgreSQL server `AUDITOR_TEST_POSTGRES` names."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import aioresponses.core
import psycopg
import pytest
from psycopg import sql

from auditor.emulator import REGIONS, Fleet
from auditor.emulator.child import EmulatorChild, read_stats, start_child


def _make_aioresponses_work_with_aiohttp_3_14() -> None:
    """aiohttp 3.14 (a security release) made `ClientResponse(stream_writer=...)` required and
    aioresponses 0.7.9 does not pass it (pnuckowski/aioresponses#289, open). Faked responses
    are complete before they are built, so a writer that has sent 0 bytes is the truth."""
    import inspect

    if "stream_writer" not in inspect.signature(aiohttp.ClientResponse.__init__).parameters:
        return

    class _SentWriter:
        output_size = 0

    class _CompatibleResponse(aiohttp.ClientResponse):
        def __init__(self, *args: object, **kwargs: object) -> None:
            kwargs.setdefault("stream_writer", _SentWriter())
            super().__init__(*args, **kwargs)  # type: ignore[arg-type]

    aioresponses.core.ClientResponse = _CompatibleResponse  # type: ignore[misc]


_make_aioresponses_work_with_aiohttp_3_14()


@dataclass(frozen=True)
class EmulatorProcess:
    url: str
    urns_file: Path
    fleet: Fleet
    token: str


def start_emulator(
    tmp: Path,
    *,
    functions: int,
    seed: int,
    token: str = "emulator-token",
    extra: tuple[str, ...] = (),
    generation: int = 0,
    projects: int = 3,
    regions: tuple[str, ...] = REGIONS,
) -> tuple[EmulatorChild, EmulatorProcess]:
    """`auditor emulator` in a child process, and what a test needs to know of it."""
    fleet_args = ("--generation", str(generation), "--projects", str(projects))
    fleet_args += ("--regions", ",".join(regions))
    child = start_child(
        tmp, functions=functions, seed=seed, args=("--token", token, *fleet_args, *extra)
    )
    fleet = Fleet.generate(
        functions, seed=seed, projects=projects, regions=regions, generation=generation
    )
    return child, EmulatorProcess(child.url, child.urns_file, fleet, token)


def emulator_stats(emulator: EmulatorProcess, *, reset: bool = False) -> dict[str, Any]:
    """What the emulator process saw (`GET /_emulator/stats`), or clear it first (`reset`)."""
    return read_stats(emulator.url, reset=reset)


@pytest.fixture(scope="session")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorProcess]:
    """One emulator process with a 600-function fleet (seed 11, the default flags), started
    once and shared by every end-to-end test that can share it. A test that needs other
    emulator flags (faults, latency, a refused project) or counts the emulator's requests
    starts its own with `start_emulator`, so what it sees is its own doing."""
    child, info = start_emulator(tmp_path_factory.mktemp("emulator"), functions=600, seed=11)
    yield info
    child.stop()


def run_cli(
    *args: str, env: dict[str, str] | None = None, stdin: str | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run `python -m auditor ARGS` as a new process, as a user or a scheduler would."""
    full_env = {
        k: v for k, v in os.environ.items() if not k.startswith(("AUDITOR_", "HUAWEICLOUD_"))
    }
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "auditor", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=full_env,
        timeout=timeout,
    )


NO_POSTGRES = "no PostgreSQL server: set AUDITOR_TEST_POSTGRES (bash .ci/postgres start)"


@contextmanager
def fresh_postgres_database(server_url: str) -> Iterator[str]:
    """A new, empty database on the server at `server_url` (a `postgresql://` URL whose role
    may create databases), as a URL that differs only in its database; dropped on exit, even
    with connections still open to it."""
    name = f"auditor_test_{uuid.uuid4().hex}"
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield urlsplit(server_url)._replace(path=f"/{name}").geturl()
    finally:
        with psycopg.connect(server_url, autocommit=True) as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def postgres_server_url() -> str:
    """The test server's URL from `AUDITOR_TEST_POSTGRES`. Without it the calling test is
    skipped, unless `AUDITOR_REQUIRE_POSTGRES=1` (`.ci/run` sets it): then it fails, so CI
    never passes with PostgreSQL untested."""
    server_url = os.environ.get("AUDITOR_TEST_POSTGRES")
    if server_url:
        return server_url
    if os.environ.get("AUDITOR_REQUIRE_POSTGRES") == "1":
        pytest.fail(f"AUDITOR_REQUIRE_POSTGRES=1 but {NO_POSTGRES}", pytrace=False)
    pytest.skip(NO_POSTGRES)


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database of the test's own on the server `AUDITOR_TEST_POSTGRES`
    names (`bash .ci/postgres start` prints it), dropped afterwards; skipped without a server
    (failed with `AUDITOR_REQUIRE_POSTGRES=1`, see `postgres_server_url`)."""
    with fresh_postgres_database(postgres_server_url()) as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"], ids=["sqlite", "postgresql"])
def history_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Where a history store test keeps its history, once per backend: a SQLite file in the
    test's temp dir, and a fresh PostgreSQL database (`postgres_url`). The `postgresql` variant
    needs a server: it skips without one (see `postgres_url`)."""
    if request.param == "sqlite":
        return str(tmp_path / "history.sqlite")
    url: str = request.getfixturevalue("postgres_url")
    return url
