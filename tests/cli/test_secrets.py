"""Secrets never leak: planted through every path, searched for in every output.

Paths: the token in the environment, AK/SK and a security token, a password (right and wrong:
an IAM failure), a credentials file, and an unmasked tracing SK in API answers. Outputs: every
report file, the journal, stdout and stderr (text and JSON logs), and `--help`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from auditor.emulator import (
    DEFAULT_AK,
    DEFAULT_DOMAIN,
    DEFAULT_PASSWORD,
    DEFAULT_SK,
    DEFAULT_USER,
    PLAIN_SK_PREFIX,
)
from tests.conftest import EmulatorProcess, run_cli, start_emulator

pytestmark = pytest.mark.e2e  # emulator processes; the CLI as a subprocess

TOKEN = "PLANTED-TOKEN-4c1d9e-do-not-leak"
WRONG_SK = "PLANTED-WRONG-SK-7a2b"
SECURITY_TOKEN = "PLANTED-SECURITY-TOKEN-e81f"
WRONG_PASSWORD = "PLANTED-WRONG-PASSWORD-33aa"
FILE_TOKEN = "PLANTED-FILE-TOKEN-90cd"
SECRETS = (
    TOKEN,
    DEFAULT_SK,
    WRONG_SK,
    SECURITY_TOKEN,
    DEFAULT_PASSWORD,
    WRONG_PASSWORD,
    FILE_TOKEN,
    PLAIN_SK_PREFIX,
)


@pytest.fixture(scope="module")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorProcess]:
    process, info = start_emulator(
        tmp_path_factory.mktemp("secrets"),
        functions=120,
        seed=41,
        token=TOKEN,
        extra=("--fault", "plain_sk=0.3", "--fault", "html_502=0.05"),
    )
    yield info
    process.stop()


def assert_nothing_leaks(out: Path, *texts: str) -> None:
    outputs = {f"text {i}": text for i, text in enumerate(texts)}
    for path in out.rglob("*"):
        if path.is_file():
            outputs[path.name] = path.read_bytes().decode("latin-1")
    assert len(outputs) > len(texts), "no output files were written"
    for name, text in outputs.items():
        for secret in SECRETS:
            assert secret not in text, f"{secret!r} leaked into {name}"


def credentials_file(tmp_path: Path, project: str) -> Path:
    path = tmp_path / "credentials.toml"
    path.write_text(f'[tokens]\n"{project}" = "{FILE_TOKEN}"\n')
    os.chmod(path, 0o600)
    return path


CASES = {
    "token": ({"AUDITOR_TOKEN": TOKEN}, ()),
    "aksk": ({"HUAWEICLOUD_SDK_AK": DEFAULT_AK, "HUAWEICLOUD_SDK_SK": DEFAULT_SK}, ()),
    "aksk-wrong": ({"HUAWEICLOUD_SDK_AK": DEFAULT_AK, "HUAWEICLOUD_SDK_SK": WRONG_SK}, ()),
    "aksk-security-token": (
        {
            "HUAWEICLOUD_SDK_AK": DEFAULT_AK,
            "HUAWEICLOUD_SDK_SK": DEFAULT_SK,
            "HUAWEICLOUD_SDK_SECURITY_TOKEN": SECURITY_TOKEN,
        },
        (),
    ),
    "password": (
        {
            "HUAWEICLOUD_USERNAME": DEFAULT_USER,
            "HUAWEICLOUD_PASSWORD": DEFAULT_PASSWORD,
            "HUAWEICLOUD_DOMAIN_NAME": DEFAULT_DOMAIN,
        },
        (),
    ),
    "password-wrong": (
        {
            "HUAWEICLOUD_USERNAME": DEFAULT_USER,
            "HUAWEICLOUD_PASSWORD": WRONG_PASSWORD,
            "HUAWEICLOUD_DOMAIN_NAME": DEFAULT_DOMAIN,
        },
        (),
    ),
    "file": ({"AUDITOR_TOKEN": TOKEN}, ("file",)),
}


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("log_format", ["text", "json"])
def test_no_secret_in_any_output(
    emulator: EmulatorProcess, tmp_path: Path, case: str, log_format: str
) -> None:
    env, extras = CASES[case]
    args = [
        "audit",
        str(emulator.urns_file),
        "--endpoint",
        emulator.url,
        "--iam-endpoint",
        emulator.url,
        "-o",
        str(tmp_path / "out"),
        "--name",
        "r",
        "--rate",
        "0",
        "--retries",
        "0",
        "--log-format",
        log_format,
    ]
    if "file" in extras:
        args += ["--credentials", str(credentials_file(tmp_path, emulator.fleet.project_ids[0]))]
    result = run_cli(*args, env=env)
    assert result.returncode in (0, 1), result.stderr
    assert_nothing_leaks(tmp_path / "out", result.stdout, result.stderr)
    if case.endswith("wrong"):
        assert "auth_failed" in result.stdout


def test_no_secret_in_help_or_usage_errors(tmp_path: Path) -> None:
    env = {
        "AUDITOR_TOKEN": TOKEN,
        "HUAWEICLOUD_SDK_SK": WRONG_SK,
        "HUAWEICLOUD_PASSWORD": WRONG_PASSWORD,
    }
    texts = []
    for args in (
        ["--help"],
        ["audit", "--help"],
        ["audit", str(tmp_path / "none.txt")],
        ["audit", "-"],
    ):
        result = run_cli(*args, env=env, stdin="")
        texts += [result.stdout, result.stderr]
    broken = tmp_path / "broken.toml"
    broken.write_text(f'[tokens\n"p" = "{FILE_TOKEN}"\n')
    urns = tmp_path / "u.txt"
    urns.write_text("urn:fss:cn-north-4:0123456789abcdef0123456789abcdef:function:default:f\n")
    result = run_cli("audit", str(urns), "--credentials", str(broken), env=env)
    assert result.returncode == 2
    texts += [result.stdout, result.stderr]
    out = tmp_path / "out"  # the planted inputs above hold secrets by design: not scanned
    out.mkdir()
    (out / "placeholder").write_text("")
    assert_nothing_leaks(out, *texts)


@pytest.fixture(scope="module")
def listing_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorProcess]:
    """An emulator of its own: the audit tests' wrong access keys count towards the gateway's
    lock of the key (five failures in a row), which would refuse the right key here."""
    process, info = start_emulator(
        tmp_path_factory.mktemp("secrets-listing"),
        functions=120,
        seed=43,
        token=TOKEN,
        extra=("--fault", "plain_sk=0.3"),
    )
    yield info
    process.stop()


@pytest.mark.parametrize("case", list(CASES))
def test_no_secret_in_discovery_or_its_outputs(
    listing_emulator: EmulatorProcess, tmp_path: Path, case: str
) -> None:
    """`audit --discover` (ListFunctions pages, the inventory, run.discovery) and `discover`
    to a file, under every credential method, right and wrong."""
    emulator = listing_emulator
    env, extras = CASES[case]
    scope: list[str] = []
    for project in emulator.fleet.project_ids:
        scope += ["--project", project]
    scope += ["--region", "cn-north-4"]
    common = ["--endpoint", emulator.url, "--iam-endpoint", emulator.url, "--retries", "0"]
    if "file" in extras:
        common += ["--credentials", str(credentials_file(tmp_path, emulator.fleet.project_ids[0]))]
    out = tmp_path / "out"
    audit = run_cli(
        "audit",
        "--discover",
        *scope,
        *common,
        "-o",
        str(out),
        "--name",
        "d",
        "--rate",
        "0",
        env=env,
    )
    refused = case.endswith(("wrong", "security-token"))  # the emulator knows no such token
    # Every listing refused: nothing to audit, one line and exit 2 (the inventory is written).
    assert audit.returncode == (2 if refused else 1), audit.stderr
    assert (out / "d.inventory.csv").exists()
    listing = run_cli("discover", *scope, *common, "-o", str(out / "fleet.json"), env=env)
    assert listing.returncode in (0, 1), listing.stderr
    assert (out / "fleet.json").exists()
    if refused:
        assert "nothing to audit: the listing of every project failed" in audit.stderr
        assert listing.returncode == 1
    texts = (audit.stdout, audit.stderr, listing.stdout, listing.stderr)
    assert_nothing_leaks(out, *texts)
