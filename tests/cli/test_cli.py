"""The command line in-process: usage errors, exit codes, and secrets kept out of every output.

HTTP is faked with aioresponses at the one boundary; the real-server paths are in
test_integration.py.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from aioresponses import aioresponses

from auditor.cli import main
from auditor.config import Settings
from auditor.errors import UsageError
from auditor.service.credential_sources import choose_credentials

PROJECT = "0123456789abcdef0123456789abcdef"
URN = f"urn:fss:cn-north-4:{PROJECT}:function:default:fn-1"
TRACING = re.compile(r"^http://api\.test/v2/.*/tracing$")

TOKEN = "TOKEN-3f9c2-NEVER-PRINT-ME"
PLAIN_SK = "SK-PLAINTEXT-7d1e0-NEVER-STORE"
FULL_AK = "AKFULLVALUE0123456789ABCDEF"


def run_main(args: list[str], monkeypatch: pytest.MonkeyPatch, **env: str) -> int:
    for name in (
        "AUDITOR_TOKEN",
        "HUAWEICLOUD_SDK_AK",
        "HUAWEICLOUD_SDK_SK",
        "HUAWEICLOUD_USERNAME",
    ):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return main(args)


def urn_file(tmp_path: Path, *lines: str) -> str:
    path = tmp_path / "urns.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return str(path)


def test_one_line_error_and_exit_2_for_usage_problems(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    good = urn_file(tmp_path, URN)
    cases = [
        ["audit", str(tmp_path / "missing.txt")],
        ["audit", str(tmp_path)],
        ["audit", good, "--format", "pdf"],
        ["audit", good, "--fail-on", "nope"],
        ["audit", good, "--rate", "-1"],
        ["audit", good, "--concurrency", "0"],
        ["audit", good, "-c", str(tmp_path / "nope.toml")],
        ["audit"],
    ]
    for args in cases:
        code = run_main([*args, "-o", str(tmp_path / "out")], monkeypatch, AUDITOR_TOKEN=TOKEN)
        err = capsys.readouterr().err
        assert code == 2, args
        assert err.startswith("auditor: error: "), (args, err)
        assert err.count("\n") == 1 and "Traceback" not in err, (args, err)
    assert not (tmp_path / "out").exists()


def test_argparse_errors_are_one_line_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["audit", "--rate", "fast"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "invalid float value" in err


def test_no_credentials_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code = run_main(["audit", urn_file(tmp_path, URN)], monkeypatch)
    assert code == 2
    assert "set AUDITOR_TOKEN" in capsys.readouterr().err


def test_credential_precedence_and_incomplete_sets() -> None:
    settings = Settings()
    everything = {
        "AUDITOR_TOKEN": " t ",
        "HUAWEICLOUD_SDK_AK": "ak",
        "HUAWEICLOUD_SDK_SK": "sk",
        "HUAWEICLOUD_USERNAME": "u",
        "HUAWEICLOUD_PASSWORD": "p",
        "HUAWEICLOUD_DOMAIN_NAME": "d",
    }
    assert choose_credentials(everything, settings).method.startswith("token")
    del everything["AUDITOR_TOKEN"]
    assert choose_credentials(everything, settings).method.startswith("AK/SK")
    del everything["HUAWEICLOUD_SDK_AK"], everything["HUAWEICLOUD_SDK_SK"]
    assert choose_credentials(everything, settings).method.startswith("IAM password")
    with pytest.raises(UsageError, match="HUAWEICLOUD_SDK_SK"):
        choose_credentials({"HUAWEICLOUD_SDK_AK": "ak"}, settings)
    with pytest.raises(UsageError, match="HUAWEICLOUD_DOMAIN_NAME"):
        choose_credentials({"HUAWEICLOUD_USERNAME": "u", "HUAWEICLOUD_PASSWORD": "p"}, settings)


def test_only_invalid_entries_need_no_credentials(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    code = run_main(
        ["audit", urn_file(tmp_path, "garbage"), "-o", str(tmp_path), "--name", "r", "-q"],
        monkeypatch,
    )
    assert code == 1
    rows = json.loads((tmp_path / "r.json").read_text())["results"]
    assert [r["status"] for r in rows] == ["invalid_urn"]


@pytest.mark.parametrize(
    ("status", "body", "expected", "code"),
    [
        (200, {"tracing_ak": FULL_AK, "tracing_sk": "******"}, "configured", 0),
        (
            404,
            {"error_code": "FSS.0404", "error_msg": "can not find tracing aksk"},
            "missing_keys",
            1,
        ),
        (
            404,
            {"error_code": "FSS.1051", "error_msg": "Not found the function"},
            "function_not_found",
            1,
        ),
        (403, {"error_code": "FSS.0403", "error_msg": "invalid token"}, "auth_failed", 1),
    ],
)
def test_exit_code_follows_findings(
    status: int,
    body: dict[str, str],
    expected: str,
    code: int,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    args = [
        "audit",
        urn_file(tmp_path, URN),
        "--endpoint",
        "http://api.test",
        "-o",
        str(tmp_path),
        "--name",
        "r",
        "-q",
        "--rate",
        "0",
    ]
    with aioresponses() as mocked:
        mocked.get("http://api.test/", status=404, repeat=True)  # the reachability pre-flight
        mocked.get(TRACING, status=status, payload=body)
        assert run_main(args, monkeypatch, AUDITOR_TOKEN=TOKEN) == code
    row = json.loads((tmp_path / "r.json").read_text())["results"][0]
    assert row["status"] == expected


def test_secrets_never_reach_any_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Plant a token (env), an unmasked tracing SK and a full AK (API answer); scan everything."""
    others = [URN.replace("fn-1", f"fn-{i}") for i in range(2, 6)]
    out = tmp_path / "out"
    args = [
        "audit",
        urn_file(tmp_path, URN, *others),
        "--endpoint",
        "http://api.test",
        "-o",
        str(out),
        "--name",
        "r",
        "--rate",
        "0",
        "--retries",
        "1",
        "--log-format",
        "json",
    ]
    with aioresponses() as mocked:
        mocked.get("http://api.test/", status=404, repeat=True)  # the reachability pre-flight
        mocked.get(TRACING, status=200, payload={"tracing_ak": FULL_AK, "tracing_sk": PLAIN_SK})
        mocked.get(
            TRACING,
            status=500,
            body=f"<html>{PLAIN_SK} {TOKEN}</html>",
            repeat=True,
            content_type="text/html",
        )
        code = run_main(args, monkeypatch, AUDITOR_TOKEN=TOKEN)
    captured = capsys.readouterr()
    assert code == 1
    outputs = {"stdout": captured.out, "stderr": captured.err}
    for path in out.iterdir():
        outputs[path.name] = path.read_bytes().decode("latin-1")
    assert {"r.json", "r.csv", "r.xlsx", "r.journal.jsonl"} <= set(outputs)
    import zipfile

    with zipfile.ZipFile(out / "r.xlsx") as book:
        outputs["xlsx-xml"] = "".join(book.read(n).decode("utf-8") for n in book.namelist())
    for name, text in outputs.items():
        for secret in (TOKEN, PLAIN_SK, FULL_AK):
            assert secret not in text, f"{secret} leaked into {name}"
    rows = json.loads((out / "r.json").read_text())["results"]
    assert rows[0]["tracing_ak"] == "AKFU****CDEF"
    assert "non-JSON body" in rows[1]["error_msg"]
