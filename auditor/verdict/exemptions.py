"""Exemptions (`--exemptions FILE`): findings that are known and accepted until a date.

The file is TOML, one `[[exemption]]` table per entry::

    [[exemption]]
    urn = "urn:fss:cn-north-4:0123...:function:legacy:*"   # an exact URN or a glob
    reason = "retired in Q1"                                # required
    owner = "team-payments"                                 # optional
    expires = 2027-03-31                                    # optional; holds through that day

A finding (any status but `configured`) whose URN, or the same URN without its version or
alias, matches the first entry that has not expired is marked `exempt` with that entry's
reason; it keeps its status. Globs are `fnmatch` patterns (`*`, `?`, `[...]`), case-sensitive.
Expired entries never apply: they are listed, with the findings they would still cover, so
someone renews or removes them; entries that matched nothing are listed as unused.
"""

from __future__ import annotations

import fnmatch
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from pathlib import Path
from typing import Any

from auditor.errors import ConfigError, read_toml
from auditor.model import Row, Status

_KEYS = ("urn", "reason", "owner", "expires")
_GLOB_CHARS = frozenset("*?[")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_DATE_RULE = "'expires' must be a date like 2027-03-31"


@dataclass(frozen=True)
class Exemption:
    """One `[[exemption]]` entry; `number` is its 1-based position in the file."""

    pattern: str
    reason: str
    owner: str
    expires: date | None
    number: int

    def expired(self, today: date) -> bool:
        """True from the day after `expires`: an exemption holds through its last day."""
        return self.expires is not None and today > self.expires

    def describe(self) -> str:
        """The reason as a report shows it: `reason (owner: X; until 2027-03-31)`."""
        details = []
        if self.owner:
            details.append(f"owner: {self.owner}")
        if self.expires is not None:
            details.append(f"until {self.expires.isoformat()}")
        return f"{self.reason} ({'; '.join(details)})" if details else self.reason

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: `urn` (the pattern), `reason`, `owner` ("" if none), `expires`
        (`YYYY-MM-DD` or None)."""
        return {
            "urn": self.pattern,
            "reason": self.reason,
            "owner": self.owner,
            "expires": self.expires.isoformat() if self.expires else None,
        }


@dataclass(frozen=True)
class Exemptions:
    """The entries of an exemptions file, in file order."""

    source: str
    entries: tuple[Exemption, ...]


@dataclass(frozen=True)
class ExemptionReport:
    """What the exemptions did to a run.

    `by_entry` counts the findings each entry exempted (every entry number, zeros included);
    `expired` pairs each expired entry with the findings it would still cover (findings no
    entry exempted, whose first matching expired entry it is); `unused` lists the entries in
    force that matched no finding.
    """

    source: str
    exempt_rows: int
    by_entry: dict[int, int]
    expired: list[tuple[Exemption, int]]
    unused: list[Exemption]

    def as_run_dict(self) -> dict[str, Any]:
        """The JSON report's `run.exemptions`."""
        return {
            "source": self.source,
            "exempt_rows": self.exempt_rows,
            "expired": [{**entry.as_dict(), "would_match": count} for entry, count in self.expired],
            "unused": [entry.as_dict() for entry in self.unused],
        }


# -- matching --------------------------------------------------------------------------------


class ExemptionCounter:
    """Applies exemptions one row at a time and counts what they did, so a run's rows can be
    marked as they arrive (in any order) without being held.

    A row is a finding when its status is not `configured`. It is tried as written and, unless
    it is an `invalid_urn` row, without its version or alias; the first entry (in file order)
    in force that matches either wins. Its status is kept.
    """

    def __init__(self, exemptions: Exemptions, today: date) -> None:
        self._exemptions = exemptions
        self._in_force = [e for e in exemptions.entries if not e.expired(today)]
        self._expired = [e for e in exemptions.entries if e.expired(today)]
        self._active, self._lapsed = _Matcher(self._in_force), _Matcher(self._expired)
        self._by_entry = dict.fromkeys((e.number for e in exemptions.entries), 0)
        self._would_match = dict.fromkeys((e.number for e in self._expired), 0)
        self._exempt_rows = 0

    def mark(self, row: Row) -> Row:
        """The row with `exempt` and `exempt_reason` set when an entry covers it; nothing is
        counted."""
        if row.status is Status.CONFIGURED:
            return row
        entry = self._active.first(_names(row))
        return row if entry is None else _exempted(row, entry)

    def add(self, row: Row) -> Row:
        """`mark`, and count what the exemptions did to the row."""
        if row.status is Status.CONFIGURED:
            return row
        names = _names(row)
        entry = self._active.first(names)
        if entry is None:
            lapsed = self._lapsed.first(names)
            if lapsed is not None:
                self._would_match[lapsed.number] += 1
            return row
        self._by_entry[entry.number] += 1
        self._exempt_rows += 1
        return _exempted(row, entry)

    def finish(self) -> ExemptionReport:
        """What the exemptions did to the rows added so far."""
        return ExemptionReport(
            source=self._exemptions.source,
            exempt_rows=self._exempt_rows,
            by_entry=dict(self._by_entry),
            expired=[(e, self._would_match[e.number]) for e in self._expired],
            unused=[e for e in self._in_force if not self._by_entry[e.number]],
        )


def _exempted(row: Row, entry: Exemption) -> Row:
    return replace(row, exempt=True, exempt_reason=entry.describe())


def apply_exemptions(
    rows: Sequence[Row], exemptions: Exemptions, today: date
) -> tuple[list[Row], ExemptionReport]:
    """Mark each finding that an exemption in force covers; return the rows and a report."""
    counter = ExemptionCounter(exemptions, today)
    marked = [counter.add(row) for row in rows]
    return marked, counter.finish()


def unqualified_urn(row: Row) -> str:
    """The row's function URN without version or alias, built from its parts."""
    return f"urn:fss:{row.region}:{row.project_id}:function:{row.package}:{row.function}"


def _names(row: Row) -> tuple[str, ...]:
    if row.status is Status.INVALID_URN or not row.function:
        return (row.urn,)
    bare = unqualified_urn(row)
    return (row.urn,) if bare == row.urn else (row.urn, bare)


def is_glob(pattern: str) -> bool:
    """Whether `pattern` holds a glob character (`*`, `?`, `[`); else it is an exact URN."""
    return not _GLOB_CHARS.isdisjoint(pattern)


def _compile(pattern: str) -> re.Pattern[str]:
    """Compile a regular expression (one place, so tests can count compilations)."""
    return re.compile(pattern)


class _Matcher:
    """The first of some entries (lowest number) that matches any of a few names.

    A million rows against a hundred entries must stay fast, so no name is tried against every
    entry. Exact URNs are a dict. A glob with a colon-separated part free of wildcards (`pkg0`
    in `urn:fss:*:P:function:pkg0:*`) can only match a name that has that part too, so it is
    filed under the part fewest globs share, and a name is tried only against the globs filed
    under its own parts (usually none). The other globs (`*`, `urn:fss:cn-*`, brackets) are
    joined into one alternation of capturing groups in entry order: the regex engine tries the
    branches in order, so the group that matched is the first of them that matches.
    """

    def __init__(self, entries: Iterable[Exemption]) -> None:
        self._exact: dict[str, Exemption] = {}
        filed: list[tuple[Exemption, list[str]]] = []
        self._others: list[Exemption] = []
        for entry in entries:
            if not is_glob(entry.pattern):
                self._exact.setdefault(entry.pattern, entry)
            elif parts := _literal_parts(entry.pattern):
                filed.append((entry, parts))
            else:
                self._others.append(entry)
        sharing = Counter(part for _, parts in filed for part in set(parts))
        self._by_part: dict[str, list[tuple[Exemption, re.Pattern[str]]]] = {}
        for entry, parts in filed:
            part = min(parts, key=lambda p: (sharing[p], -len(p)))
            regex = _compile(fnmatch.translate(entry.pattern))
            self._by_part.setdefault(part, []).append((entry, regex))
        self._regex = (
            _compile("|".join(f"({fnmatch.translate(e.pattern)})" for e in self._others))
            if self._others
            else None
        )

    def first(self, names: Iterable[str]) -> Exemption | None:
        best: Exemption | None = None
        for name in names:
            best = _earlier(best, self._exact.get(name))
            if self._by_part:
                for part in name.split(":"):
                    for entry, regex in self._by_part.get(part, ()):
                        if best is not None and entry.number > best.number:
                            break  # filed in entry order: the rest come later still
                        if regex.match(name):
                            best = entry
                            break
            if self._regex is not None:
                match = self._regex.match(name)
                if match is not None:
                    best = _earlier(best, self._others[_group_entry(match)])
        return best


# Parts every function URN has: filing a glob under one of them would try it on every name.
_COMMON_PARTS = frozenset({"urn", "fss", "function"})


def _literal_parts(pattern: str) -> list[str]:
    """The colon-separated parts of a glob that hold no wildcard. A name the glob matches has
    each of them as a whole part too, since the colons around them are literal. Brackets may
    hold a colon (`[:-]`), so a glob with one is not split at all."""
    if "[" in pattern:
        return []
    return [
        part
        for part in pattern.split(":")
        if part and part not in _COMMON_PARTS and "*" not in part and "?" not in part
    ]


def _earlier(best: Exemption | None, found: Exemption | None) -> Exemption | None:
    if found is None or (best is not None and best.number < found.number):
        return best
    return found


def _group_entry(match: re.Match[str]) -> int:
    """The index of the glob whose group matched: `lastindex` is the outermost group that
    closed last, and translated globs hold no capturing groups of their own."""
    assert match.lastindex is not None
    return match.lastindex - 1


# -- reading the file ------------------------------------------------------------------------


def load_exemptions(path: Path) -> Exemptions:
    """Read an exemptions TOML file.

    Every problem is a `ConfigError` with one line naming the file and, for an entry, its
    number. Values are never quoted back (a misplaced secret must not reach a log).
    """
    data = read_toml(str(path), path, kind="exemptions TOML file")
    unknown = [key for key in data if key != "exemption"]
    if unknown:
        raise ConfigError(
            f"{path}: unknown key {_name(unknown[0])}; the file holds [[exemption]] tables only"
        )
    tables = data.get("exemption")
    if tables is None or tables == []:
        raise ConfigError(
            f"{path}: no exemptions; add [[exemption]] tables with urn and reason, "
            "or leave --exemptions out"
        )
    if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
        raise ConfigError(f"{path}: 'exemption' must be [[exemption]] tables")
    entries = tuple(_entry(path, number, table) for number, table in enumerate(tables, 1))
    return Exemptions(source=str(path), entries=entries)


def _entry(path: Path, number: int, table: Mapping[str, Any]) -> Exemption:
    where = f"{path}: exemption {number}"
    for key in table:
        if key not in _KEYS:
            raise ConfigError(f"{where}: unknown key {_name(key)} (allowed: {', '.join(_KEYS)})")
    pattern = _text(where, table, "urn", required=True)
    reason = _text(where, table, "reason", required=True)
    owner = _text(where, table, "owner", required=False)
    return Exemption(
        pattern=pattern,
        reason=reason,
        owner=owner,
        expires=_expires(where, table.get("expires")),
        number=number,
    )


def _text(where: str, table: Mapping[str, Any], key: str, *, required: bool) -> str:
    value = table.get(key)
    if value is None:
        if required:
            raise ConfigError(f"{where}: '{key}' is required")
        return ""
    if not isinstance(value, str):
        raise ConfigError(f"{where}: '{key}' must be a string, not {_kind(value)}")
    value = value.strip()
    if not value:
        if required:
            raise ConfigError(f"{where}: '{key}' must not be empty")
        return ""
    if "\n" in value or "\r" in value:
        raise ConfigError(f"{where}: '{key}' must be one line")
    return value


def _expires(where: str, value: Any) -> date | None:
    if value is None:
        return None
    if isinstance(value, datetime):  # a date-time: the day alone is wanted
        raise ConfigError(f"{where}: {_DATE_RULE}, without a time")
    if isinstance(value, date):
        return value
    if isinstance(value, str) and _DATE.fullmatch(value.strip()):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise ConfigError(f"{where}: {_DATE_RULE}")


def _kind(value: Any) -> str:
    names = {bool: "a boolean", int: "an integer", float: "a number", list: "a list"}
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, date):
        return "a date"
    return names.get(type(value), "another type")


def _name(key: str) -> str:
    """A key name as a message quotes it, cut short (a key is not a value, but be brief)."""
    return repr(key if len(key) <= 40 else key[:40] + "…")
