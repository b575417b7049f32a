"""Settings of a run: defaults, overridden by a TOML config, overridden by command-line flags.

Settings never hold a secret: credentials come from the environment or a credentials file, and
`Settings.public()` is what reports and logs show.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from auditor.accounts import Account, parse_accounts
from auditor.errors import ConfigError, UsageError, read_toml
from auditor.model import Change, ProjectScope, Status, mask_ak

DEFAULT_ENDPOINT = "https://functiongraph.{region}.myhuaweicloud.com"
DEFAULT_IAM_ENDPOINT = "https://iam.myhuaweicloud.com"
FORMATS: tuple[str, ...] = ("xlsx", "csv", "json")  # the reports a run writes, by default all
DEFAULT_FAIL_ON = frozenset(s for s in Status if s is not Status.CONFIGURED)
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}\Z")
_PROJECT_ID = re.compile(r"[A-Za-z0-9]{32}\Z")
_REGION = re.compile(r"[a-z]{2,}(?:-[a-z0-9]+)+\Z")
# Changes against a baseline that `--fail-on` may name besides statuses.
FAIL_ON_CHANGES = (Change.REGRESSED, Change.NEW, Change.GONE)


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
    throttle_deadline: float = 300.0
    out: Path = Path("reports")
    formats: tuple[str, ...] = FORMATS
    name: str = ""
    fail_on: frozenset[Status] = DEFAULT_FAIL_ON
    fail_on_changes: frozenset[Change] = frozenset()
    projects: tuple[ProjectScope, ...] = ()  # to discover (`[[projects]]`, --project/--region)
    only_supported: bool = False
    baseline: str = ""
    exemptions: str = ""
    # The APM key policy: tracing AKs a configured function may have (any other is
    # `unexpected_keys`). AKs are identifiers, not secrets, but only masked ones are written.
    expected_tracing_aks: frozenset[str] | None = None
    # The history store: "" is `<out>/history.sqlite`; a path, `sqlite:///…` or
    # `postgresql://…`; None (`--no-history`, `history = false`) records nothing.
    history: str | None = ""
    fail_on_age: int | None = None  # days: only findings open this long fail the run
    # Other accounts reached through IAM agencies with `--all-projects` (`[[accounts]]`).
    accounts: tuple[Account, ...] = ()

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
            "throttle_deadline": self.throttle_deadline,
            "out": str(self.out),
            "formats": list(self.formats),
            "fail_on": sorted(s.value for s in self.fail_on)
            + sorted(c.value for c in self.fail_on_changes),
            "projects": [f"{p.project_id} {p.region}" for p in self.projects],
            "only_supported": self.only_supported,
            "baseline": self.baseline,
            "exemptions": self.exemptions,
            "expected_tracing_aks": (
                None
                if self.expected_tracing_aks is None
                else sorted(mask_ak(ak) for ak in self.expected_tracing_aks)
            ),
            "history": None if self.history is None else without_password(self.history),
            "fail_on_age": self.fail_on_age,
            "accounts": [
                {"name": a.name, "agency": a.agency_name, "regions": list(a.regions)}
                for a in self.accounts
            ],
        }


KNOWN_KEYS = frozenset(f.name for f in fields(Settings)) - {"fail_on_changes"} | {"format"}


def load_config(path: Path) -> dict[str, Any]:
    """Read a TOML config file; every problem is a `ConfigError` naming the file."""
    data = read_toml(f"config {path}", path)
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
    if "fail_on" in values:
        values["fail_on"], values["fail_on_changes"] = values["fail_on"]
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


def _fail_on(key: str, value: Any) -> tuple[frozenset[Status], frozenset[Change]]:
    """Statuses, and changes against a baseline (`regressed`, `new`, `gone`), that fail a run."""
    chosen = _csv_list(key, value)
    if chosen == ["none"]:
        return frozenset(), frozenset()
    statuses = {s.value for s in Status}
    changes = {c.value for c in FAIL_ON_CHANGES}
    bad = [c for c in chosen if c not in statuses | changes]
    if bad or not chosen:
        raise UsageError(
            f"{key}: unknown status {bad[0] if bad else ''!r} (choose from "
            f"{','.join(s.value for s in Status)}, with a baseline "
            f"{','.join(c.value for c in FAIL_ON_CHANGES)}, or none)"
        )
    return (
        frozenset(Status(c) for c in chosen if c in statuses),
        frozenset(Change(c) for c in chosen if c in changes),
    )


def _projects(key: str, value: Any) -> tuple[ProjectScope, ...]:
    """`[[projects]]` tables of `id` and `region` (or ProjectScopes the flags built)."""
    if not isinstance(value, list | tuple) or not value:
        raise UsageError(f"{key}: expected [[projects]] tables with id and region")
    scopes: list[ProjectScope] = []
    for number, item in enumerate(value, start=1):
        project_id: Any
        region: Any
        if isinstance(item, ProjectScope):
            project_id, region = item.project_id, item.region
        elif isinstance(item, Mapping):
            extra = sorted(set(item) - {"id", "region"})
            if extra:
                raise UsageError(f"{key} {number}: unknown key {extra[0]!r} (known: id, region)")
            project_id, region = item.get("id"), item.get("region")
        else:
            raise UsageError(f"{key} {number}: expected a table with id and region")
        scopes.append(_scope(f"{key} {number}", project_id, region))
    return tuple(dict.fromkeys(scopes))


def _scope(key: str, project_id: Any, region: Any) -> ProjectScope:
    if not isinstance(project_id, str) or not _PROJECT_ID.match(project_id):
        raise UsageError(f"{key}: project id {project_id!r} is not 32 letters or digits")
    if not isinstance(region, str) or not _REGION.match(region):
        raise UsageError(f"{key}: region {region!r} is not a region name like cn-north-4")
    return ProjectScope(project_id, region)


def pair_scopes(projects: list[str], regions: list[str]) -> list[ProjectScope]:
    """`--project`/`--region` flags as scopes: paired in order, or one region for them all."""
    if not projects:
        if regions:
            raise UsageError("--region given without --project")
        return []
    if len(regions) == 1:
        regions = regions * len(projects)
    if len(regions) != len(projects):
        raise UsageError(
            f"--project given {len(projects)} times but --region {len(regions)} times: give "
            "one --region for all projects, or one after each --project"
        )
    return [_scope(f"--project {p}", p, r) for p, r in zip(projects, regions, strict=True)]


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
    "throttle_deadline": lambda k, v: _number(k, v, low=1, high=86_400, integer=False),
    "out": lambda k, v: Path(v) if isinstance(v, str | Path) else _bad(k, v),
    "formats": _formats,
    "fail_on": _fail_on,
    "name": _name,
    "projects": _projects,
    "only_supported": lambda k, v: v if isinstance(v, bool) else _bad(k, v),
    "baseline": lambda k, v: v if isinstance(v, str) else _bad(k, v),
    "exemptions": lambda k, v: v if isinstance(v, str) else _bad(k, v),
    "expected_tracing_aks": lambda k, v: _access_keys(k, v),
    "history": lambda k, v: _history(k, v),
    "fail_on_age": lambda k, v: int(_number(k, v, low=0, high=36_500, integer=True)),
    "accounts": lambda k, v: parse_accounts(v, k),
}


def _history(key: str, value: Any) -> str | None:
    if value is False:
        return None  # `history = false` in a config: record nothing
    if not isinstance(value, str):
        raise UsageError(f"{key}: expected a path, sqlite:///PATH or postgresql://…, or false")
    return value.strip()


def without_password(url: str) -> str:
    """A store URL fit to print or record: a PostgreSQL URL's password masked, whether it is
    in the user part or a `password=` parameter."""
    if not url.startswith(("postgresql://", "postgres://")):
        return url
    parts = urlsplit(url)
    if parts.password is not None:
        netloc = f"{parts.username}:***@{parts.hostname or ''}"
        if parts.port:
            netloc += f":{parts.port}"
        parts = parts._replace(netloc=netloc)
    if "password=" in parts.query.lower():
        query = "&".join(
            "password=***" if item.lower().startswith("password=") else item
            for item in parts.query.split("&")
        )
        parts = parts._replace(query=query)
    return urlunsplit(parts)


def _access_keys(key: str, value: Any) -> frozenset[str]:
    if not isinstance(value, list) or not value:
        raise UsageError(f"{key}: expected a non-empty list of APM access keys")
    keys = []
    for number, item in enumerate(value, start=1):
        if not isinstance(item, str) or not item.strip() or any(c.isspace() for c in item.strip()):
            raise UsageError(f"{key}: item {number} is not an access key (a string, no spaces)")
        keys.append(item.strip())
    return frozenset(keys)


def _bad(key: str, value: Any) -> Any:
    raise UsageError(f"{key}: unexpected value {value!r}")
