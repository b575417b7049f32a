"""Settings of a run: defaults, overridden by a TOML config, overridden by command-line flags.

Settings never hold a secret: credentials come from the environment or a credentials file, and
`Settings.public()` is what reports and logs show.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from auditor.client import DEFAULT_ENDPOINT
from auditor.errors import ConfigError, UsageError
from auditor.model import Status
from auditor.report.writers import FORMATS

DEFAULT_IAM_ENDPOINT = "https://iam.myhuaweicloud.com"
DEFAULT_FAIL_ON = frozenset(s for s in Status if s is not Status.CONFIGURED)
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}\Z")


@dataclass(frozen=True)
class Settings:
    """Everything that shapes a run except its inputs and credentials."""

    endpoint: str = DEFAULT_ENDPOINT
    endpoints: Mapping[str, str] = field(default_factory=dict)
    iam_endpoint: str = DEFAULT_IAM_ENDPOINT
    iam_endpoints: Mapping[str, str] = field(default_factory=dict)
    credentials: str = ""
    auth_failures: int = 3
    rate: float = 100.0
    concurrency: int = 32
    timeout: float = 10.0
    retries: int = 4
    out: Path = Path("reports")
    formats: tuple[str, ...] = FORMATS
    name: str = ""
    fail_on: frozenset[Status] = DEFAULT_FAIL_ON

    def public(self) -> dict[str, Any]:
        """The settings as plain values for reports and logs (there is no secret in them)."""
        return {
            "endpoint": self.endpoint,
            "endpoints": dict(self.endpoints),
            "iam_endpoint": self.iam_endpoint,
            "iam_endpoints": dict(self.iam_endpoints),
            "credentials_file": self.credentials,
            "auth_failures": self.auth_failures,
            "rate": self.rate,
            "concurrency": self.concurrency,
            "timeout": self.timeout,
            "retries": self.retries,
            "out": str(self.out),
            "formats": list(self.formats),
            "fail_on": sorted(s.value for s in self.fail_on),
        }


KNOWN_KEYS = frozenset(f.name for f in fields(Settings)) | {"format"}


def load_config(path: Path) -> dict[str, Any]:
    """Read a TOML config file; every problem is a `ConfigError` naming the file."""
    try:
        with path.open("rb") as stream:
            data = tomllib.load(stream)
    except FileNotFoundError:
        raise ConfigError(f"config {path}: no such file") from None
    except OSError as exc:
        raise ConfigError(f"config {path}: cannot be read ({exc.strerror or exc})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config {path}: invalid TOML ({exc})") from None
    except UnicodeDecodeError:
        raise ConfigError(f"config {path}: is not UTF-8 text; save it as UTF-8") from None
    unknown = sorted(set(data) - KNOWN_KEYS)
    if unknown:
        raise ConfigError(
            f"config {path}: unknown key {unknown[0]!r} (known: {', '.join(sorted(KNOWN_KEYS))})"
        )
    return data


def resolve_settings(
    config: Mapping[str, Any], flags: Mapping[str, Any], *, config_name: str = "config"
) -> Settings:
    """Merge config values and flags (flags win; a flag of None is 'not given') and validate.

    An error names where the bad value came from: `--rate` for a flag, `<config>: rate` for a key.
    """
    labelled: dict[str, tuple[str, Any]] = {}
    for key, value in config.items():
        labelled[_canonical(key)] = (f"{config_name}: {key}", value)
    for key, value in flags.items():
        if value is not None:
            labelled[_canonical(key)] = ("--" + key.replace("_", "-"), value)
    values: dict[str, Any] = {}
    for key, (label, value) in labelled.items():
        values[key] = _VALIDATORS[key](label, value) if key in _VALIDATORS else value
    return Settings(**values)


def _canonical(key: str) -> str:
    return "formats" if key == "format" else key


def _number(key: str, value: Any, *, low: float, high: float, integer: bool) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise UsageError(f"{key}: expected a number, got {value!r}")
    try:
        number = float(value)
        if integer:
            if number != int(number):
                raise ValueError
            number = int(number)
    except ValueError:
        kind = "a whole number" if integer else "a number"
        raise UsageError(f"{key}: expected {kind}, got {value!r}") from None
    if not low <= number <= high:
        raise UsageError(f"{key}: {number:g} is out of range ({low:g} to {high:g})")
    return number


def _csv_list(key: str, value: Any) -> list[str]:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
        return [v.strip() for v in value]
    raise UsageError(f"{key}: expected a comma-separated list, got {value!r}")


def _formats(key: str, value: Any) -> tuple[str, ...]:
    chosen = _csv_list(key, value)
    bad = [f for f in chosen if f not in FORMATS]
    if bad or not chosen:
        raise UsageError(
            f"{key}: unknown format {bad[0] if bad else ''!r} (choose from {','.join(FORMATS)})"
        )
    return tuple(dict.fromkeys(chosen))


def _fail_on(key: str, value: Any) -> frozenset[Status]:
    chosen = _csv_list(key, value)
    if chosen == ["none"]:
        return frozenset()
    known = {s.value for s in Status}
    bad = [c for c in chosen if c not in known]
    if bad or not chosen:
        raise UsageError(
            f"{key}: unknown status {bad[0] if bad else ''!r} "
            f"(choose from {','.join(s.value for s in Status)}, or none)"
        )
    return frozenset(Status(c) for c in chosen)


def _url(key: str, value: Any) -> str:
    if not isinstance(value, str) or not re.fullmatch(r"https?://[^/\s]+(/\S*)?", value):
        raise UsageError(f"{key}: {value!r} is not an http(s) URL")
    return value.rstrip("/")


def _endpoints(key: str, value: Any) -> dict[str, str]:
    if not isinstance(value, Mapping):
        raise UsageError(f"{key}: expected a table of region = URL")
    return {str(region): _url(f"endpoints.{region}", url) for region, url in value.items()}


def _name(key: str, value: Any) -> str:
    if not isinstance(value, str) or not _NAME.match(value):
        raise UsageError(
            f"{key}: {value!r} must be letters, digits, '.', '_' or '-' (a file name, no path)"
        )
    return value


_VALIDATORS: dict[str, Any] = {
    "endpoint": _url,
    "iam_endpoint": _url,
    "endpoints": _endpoints,
    "iam_endpoints": _endpoints,
    "credentials": lambda k, v: v if isinstance(v, str) else _bad(k, v),
    "auth_failures": lambda k, v: int(_number(k, v, low=1, high=100, integer=True)),
    "rate": lambda k, v: _number(k, v, low=0, high=100_000, integer=False),
    "concurrency": lambda k, v: int(_number(k, v, low=1, high=4096, integer=True)),
    "timeout": lambda k, v: _number(k, v, low=0.1, high=600, integer=False),
    "retries": lambda k, v: int(_number(k, v, low=0, high=20, integer=True)),
    "out": lambda k, v: Path(v) if isinstance(v, str | Path) else _bad(k, v),
    "formats": _formats,
    "fail_on": _fail_on,
    "name": _name,
}


def _bad(key: str, value: Any) -> Any:
    raise UsageError(f"{key}: unexpected value {value!r}")
