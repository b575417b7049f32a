"""Tests for auditor/config.py: defaults, TOML config, flags, validation."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from auditor.config import (
    DEFAULT_ENDPOINT,
    DEFAULT_FAIL_ON,
    DEFAULT_IAM_ENDPOINT,
    Settings,
    load_config,
    resolve_settings,
)
from auditor.errors import ConfigError, UsageError
from auditor.model import ProjectScope, Status

NO_FLAGS: dict[str, Any] = {
    "endpoint": None,
    "iam_endpoint": None,
    "rate": None,
    "concurrency": None,
    "timeout": None,
    "retries": None,
    "out": None,
    "format": None,
    "name": None,
    "fail_on": None,
}


def config_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "auditor.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults() -> None:
    settings = resolve_settings({}, NO_FLAGS)
    assert settings == Settings()
    assert settings.endpoint == DEFAULT_ENDPOINT
    assert settings.iam_endpoint == DEFAULT_IAM_ENDPOINT == "https://iam.myhuaweicloud.com"
    assert settings.endpoints == {}
    assert (settings.rate, settings.concurrency, settings.timeout, settings.retries) == (
        100.0,
        32,
        10.0,
        4,
    )
    assert settings.out == Path("reports")
    assert set(settings.formats) == {"xlsx", "csv", "json"}
    assert settings.name == ""
    assert settings.fail_on == DEFAULT_FAIL_ON == frozenset(Status) - {Status.CONFIGURED}


def test_toml_config_is_loaded_and_resolved(tmp_path: Path) -> None:
    path = config_file(
        tmp_path,
        """
endpoint = "http://127.0.0.1:8080"
iam_endpoint = "http://127.0.0.1:8080/"
rate = 25
concurrency = 8
timeout = 2.5
retries = 2
out = "audit-out"
format = ["json", "csv"]
name = "nightly"
fail_on = ["missing_keys", "error"]

[endpoints]
cn-north-4 = "https://fg.cn-north-4.example.com/"
ap-southeast-1 = "http://localhost:9000"
""",
    )
    config = load_config(path)
    assert config["endpoints"] == {
        "cn-north-4": "https://fg.cn-north-4.example.com/",
        "ap-southeast-1": "http://localhost:9000",
    }
    settings = resolve_settings(config, NO_FLAGS)
    assert settings.endpoint == "http://127.0.0.1:8080"
    assert settings.iam_endpoint == "http://127.0.0.1:8080"
    assert settings.endpoints == {
        "cn-north-4": "https://fg.cn-north-4.example.com",
        "ap-southeast-1": "http://localhost:9000",
    }
    assert (settings.rate, settings.concurrency, settings.timeout, settings.retries) == (
        25.0,
        8,
        2.5,
        2,
    )
    assert isinstance(settings.concurrency, int)
    assert isinstance(settings.retries, int)
    assert settings.out == Path("audit-out")
    assert settings.formats == ("json", "csv")
    assert settings.name == "nightly"
    assert settings.fail_on == {Status.MISSING_KEYS, Status.ERROR}


def test_config_may_spell_formats_either_way(tmp_path: Path) -> None:
    config = load_config(config_file(tmp_path, 'formats = "csv"\n'))
    assert resolve_settings(config, {}).formats == ("csv",)


def test_unknown_key_is_a_config_error(tmp_path: Path) -> None:
    path = config_file(tmp_path, "rate = 5\nconcurrence = 3\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(path) in str(caught.value)
    assert "'concurrence'" in str(caught.value)
    assert "concurrency" in str(caught.value)  # the known keys are listed


def test_invalid_toml_is_a_config_error_naming_the_file(tmp_path: Path) -> None:
    path = config_file(tmp_path, "rate = = 5\n")
    with pytest.raises(ConfigError, match="invalid TOML") as caught:
        load_config(path)
    assert str(path) in str(caught.value)


def test_missing_config_file(tmp_path: Path) -> None:
    path = tmp_path / "absent.toml"
    with pytest.raises(ConfigError, match="no such file") as caught:
        load_config(path)
    assert str(path) in str(caught.value)


def test_config_that_is_a_directory(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="is a directory") as caught:
        load_config(tmp_path)
    assert str(tmp_path) in str(caught.value)


def test_config_may_list_projects_for_discovery(tmp_path: Path) -> None:
    path = config_file(
        tmp_path,
        '[[projects]]\nid = "0123456789abcdef0123456789abcdef"\nregion = "cn-north-4"\n'
        '[[projects]]\nid = "fedcba9876543210fedcba9876543210"\nregion = "ap-southeast-1"\n',
    )
    settings = resolve_settings(load_config(path), NO_FLAGS)
    assert settings.projects == (
        ProjectScope("0123456789abcdef0123456789abcdef", "cn-north-4"),
        ProjectScope("fedcba9876543210fedcba9876543210", "ap-southeast-1"),
    )


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('[[projects]]\nid = "short"\nregion = "cn-north-4"\n', "not 32 letters or digits"),
        ('[[projects]]\nid = "0123456789abcdef0123456789abcdef"\n', "not a region name"),
        (
            '[[projects]]\nid = "0123456789abcdef0123456789abcdef"\nregion = "cn-north-4"\n'
            'zone = "a"\n',
            "unknown key 'zone'",
        ),
        ('projects = "all"\n', "expected [[projects]] tables"),
    ],
)
def test_bad_projects_are_one_line_errors(tmp_path: Path, body: str, message: str) -> None:
    path = config_file(tmp_path, body)
    with pytest.raises(UsageError, match=re.escape(message)) as caught:
        resolve_settings(load_config(path), NO_FLAGS, config_name=str(path))
    assert "\n" not in str(caught.value)


def test_flags_override_config() -> None:
    config = {"rate": 5, "concurrency": 4, "format": "json", "name": "cfg", "retries": 1}
    flags = {**NO_FLAGS, "rate": "50", "concurrency": "16", "format": "csv,xlsx", "name": "cli"}
    settings = resolve_settings(config, flags)
    assert settings.rate == 50.0
    assert settings.concurrency == 16
    assert settings.formats == ("csv", "xlsx")
    assert settings.name == "cli"
    assert settings.retries == 1  # not given as a flag: the config's value stands


def test_flag_format_overrides_config_formats() -> None:
    assert resolve_settings({"formats": ["json"]}, {"format": "csv"}).formats == ("csv",)


def test_none_flags_are_ignored() -> None:
    settings = resolve_settings({"timeout": 3}, {**NO_FLAGS, "timeout": None})
    assert settings.timeout == 3.0


def test_repeated_formats_are_kept_once_in_order() -> None:
    assert resolve_settings({}, {"format": "csv, json,csv"}).formats == ("csv", "json")


@pytest.mark.parametrize(
    ("flags", "why"),
    [
        ({"rate": -1}, "rate"),
        ({"rate": "fast"}, "rate: expected a number"),
        ({"rate": True}, "rate"),
        ({"concurrency": 0}, "concurrency: 0 is out of range"),
        ({"concurrency": "1.5"}, "a whole number"),
        ({"retries": 21}, "retries: 21 is out of range"),
        ({"retries": -1}, "retries"),
        ({"timeout": 0}, "timeout"),
        ({"timeout": 601}, "timeout"),
        ({"format": "pdf"}, "unknown format 'pdf'"),
        ({"format": "csv,pdf"}, "unknown format 'pdf'"),
        ({"format": ""}, "--format"),
        ({"fail_on": "missing"}, "unknown status 'missing'"),
        ({"fail_on": "error,none"}, "unknown status 'none'"),
        ({"fail_on": ""}, "--fail-on"),
        ({"endpoint": "functiongraph.example.com"}, "not an http(s) URL"),
        ({"endpoint": "ftp://example.com"}, "not an http(s) URL"),
        ({"iam_endpoint": "https://"}, "--iam-endpoint"),
        ({"endpoints": {"cn-north-4": "nope"}}, "endpoints.cn-north-4"),
        ({"endpoints": "http://x"}, "table of region = URL"),
        ({"name": "reports/run1"}, "--name"),
        ({"name": "../up"}, "--name"),
        ({"name": ""}, "--name"),
        ({"name": "x" * 129}, "--name"),
        ({"out": 5}, "out"),
    ],
)
def test_invalid_values_are_usage_errors(flags: dict[str, Any], why: str) -> None:
    with pytest.raises(UsageError) as caught:
        resolve_settings({}, flags)
    assert why in str(caught.value)


def test_url_with_whitespace_is_rejected() -> None:
    with pytest.raises(UsageError):
        resolve_settings({}, {"endpoint": "http://exa mple.com"})


def test_fractional_concurrency_from_toml_is_rejected() -> None:
    with pytest.raises(UsageError):
        resolve_settings({"concurrency": 2.5}, {})


def test_fail_on_none_is_the_empty_set() -> None:
    assert resolve_settings({}, {"fail_on": "none"}).fail_on == frozenset()


def test_fail_on_list() -> None:
    settings = resolve_settings({}, {"fail_on": "auth_failed, throttled"})
    assert settings.fail_on == {Status.AUTH_FAILED, Status.THROTTLED}


def test_endpoint_may_hold_a_region_placeholder() -> None:
    url = "https://functiongraph.{region}.example.com/"
    assert resolve_settings({}, {"endpoint": url}).endpoint == url.rstrip("/")


def test_boundaries_are_accepted() -> None:
    settings = resolve_settings(
        {}, {"rate": 0, "concurrency": 4096, "retries": 20, "timeout": 0.1, "name": "a.b_c-1"}
    )
    assert (settings.rate, settings.concurrency, settings.retries) == (0.0, 4096, 20)
    assert settings.name == "a.b_c-1"


def test_public_has_no_secrets_and_is_json_serialisable() -> None:
    settings = resolve_settings(
        {"endpoints": {"cn-north-4": "http://127.0.0.1:1"}},
        {"fail_on": "error,missing_keys", "out": "x"},
    )
    public = settings.public()
    text = json.dumps(public)
    assert json.loads(text) == public
    secret_words = ("token", "password", "secret", "sk", "credential", "key", "auth")
    # Where the credentials file is and how many refusals open the breaker are not secrets.
    not_secret = {"credentials_file", "auth_failures"}
    assert not [
        k for k in public if k not in not_secret and any(w in k.lower() for w in secret_words)
    ]
    assert public["fail_on"] == ["error", "missing_keys"]
    assert public["out"] == "x"
    assert public["endpoints"] == {"cn-north-4": "http://127.0.0.1:1"}
    assert public["formats"] == list(settings.formats)


def test_settings_are_frozen() -> None:
    with pytest.raises(AttributeError):
        Settings().rate = 1.0  # type: ignore[misc]
