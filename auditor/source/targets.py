"""`Targets`: the distinct input entries of a run, kept compact enough for a million of them.

A `Target` object per entry costs about 460 bytes (the dataclass, its parsed `FunctionUrn`, the
function name and the `source` text). `Targets` keeps only the URN string per entry; the rest
lives in parallel arrays of small numbers, or in dicts for the rare entries that differ from the
common case (invalid, duplicated, or an unusual source). Each URN is checked once, when it is
added, and its region and project noted then (`place`). A `Target` is rebuilt on demand, its
URN parsed again, so it compares equal to the one the entry would have been.

Callers that only need the URNs, the invalid entries, the places or the regions should use the
accessors (`urn`, `urns`, `invalid_indices`, `place`, `regions`, ...): they never build a
`Target`.
"""

from __future__ import annotations

import hashlib
from array import array
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import overload

from auditor.errors import InvalidUrn
from auditor.model import Target
from auditor.source.urn import VALID_URN, parse_urn

_MAX_URN_LENGTH = 512  # as `parse_urn`
_DIGITS = "0123456789"
_MAX_LINE_DIGITS = 9  # below 2**32, so a line number fits the 'I' array
_MAX_NAMES = 0xFFFF  # name indices fit the 'H' array; more inputs than that fall back to text
# The runtime, memory size and account of an entry from a plain URN list: none known.
_PLAIN: tuple[str, int | None, str] = ("", None, "")
Profile = tuple[str, int | None, str]  # runtime, memory size (MB), account
Place = tuple[str, str]  # region, project id
_NOWHERE: Place = ("", "")  # the place of an entry that is not a URN


def fingerprint(urns: Iterable[str]) -> str:
    """A digest of the distinct input entries (their text), in order: two runs over one input
    set match (the journal's header; the history store's scope)."""
    digest = hashlib.sha256()
    for urn in urns:
        digest.update(urn.encode("utf-8", "surrogateescape"))
        digest.update(b"\n")
    return digest.hexdigest()


class Targets(Sequence[Target]):
    """The distinct entries of a run, in first-seen order, as a sequence of `Target`.

    `targets[i]` builds the `Target` (parsing its URN again, ~3 µs); iterate or index freely
    for a few, but use the accessors to scan a million. Negative indices and slices behave as
    a list's; a slice is a `list[Target]`. `add`, `add_line` and `add_occurrences` are for
    the reader that builds the set; a `Targets` handed to an audit is not changed any more.
    """

    __slots__ = (
        "_fingerprint",
        "_invalid",
        "_line_at",
        "_name_at",
        "_name_index",
        "_names",
        "_occurrences",
        "_odd_sources",
        "_place_at",
        "_place_index",
        "_places",
        "_profile_at",
        "_profile_index",
        "_profiles",
        "_urns",
    )

    def __init__(self) -> None:
        self._urns: list[str] = []
        # The source `file:line` as (index into `_names`, line): `_names` holds the text before
        # the line number, `file:` or `file[Sheet]:` or `file:item `.
        self._names: list[str] = []
        self._name_index: dict[str, int] = {}
        self._name_at = array("H")
        self._line_at = array("I")
        self._odd_sources: dict[int, str] = {}  # a source not ending in a plain line number
        self._occurrences: dict[int, int] = {}  # only entries seen more than once
        self._invalid: dict[int, str] = {}  # index -> why it is not a URN (maybe "")
        # Runtime, memory size and account come with discovery listings only: an index into
        # the few distinct (runtime, memory_size, account) triples, made when the first entry
        # has one.
        self._profiles: list[Profile] = [_PLAIN]
        self._profile_index: dict[Profile, int] = {_PLAIN: 0}
        self._profile_at: array[int] | None = None
        # Each entry's region and project, noted when its URN is checked: an index into the
        # few distinct places, in first-seen order (0: not a URN).
        self._places: list[Place] = [_NOWHERE]
        self._place_index: dict[Place, int] = {_NOWHERE: 0}
        self._place_at = array("I")
        self._fingerprint = ""  # `fingerprint(urns)`, once asked (the set no longer changes)

    @classmethod
    def of(cls, targets: Iterable[Target]) -> Targets:
        """A `Targets` holding `targets` as given (no merging): `list(Targets.of(ts)) == ts`.

        A valid target's `parsed` must be `parse_urn(urn)`: it is rebuilt from the URN (a
        `parsed` that is another URN is a ValueError). A target with `parsed` None is kept as
        invalid, whatever its reason, even none.
        """
        if isinstance(targets, Targets):
            return targets
        made = cls()
        for target in targets:
            parsed = target.parsed
            place = 0
            if parsed is not None:
                if str(parsed) != target.urn:
                    raise ValueError(f"target {target.urn!r} has parsed {parsed}, not its URN")
                place = made._place_number(parsed.region, parsed.project_id)
            reason = None if parsed is not None else target.invalid_reason
            profile = (target.runtime, target.memory_size, target.account)
            made._append_source_text(target.urn, target.source, reason, place, profile)
            if target.occurrences != 1:
                made._occurrences[len(made._urns) - 1] = target.occurrences
        return made

    # --- building -----------------------------------------------------------------------------

    def add(
        self,
        urn: str,
        source: str,
        problem: str = "",
        runtime: str = "",
        memory_size: int | None = None,
        account: str = "",
    ) -> None:
        """Append a new distinct entry found at `source`, checking that it is a URN.

        An entry with a `problem`, or that is not a URN, is kept as invalid with that reason
        (and without runtime, memory size or account, which would describe nothing).
        """
        reason, place = (problem, 0) if problem else self._check(urn)
        profile = _PLAIN if reason is not None else (runtime, memory_size, account)
        self._append_source_text(urn, source, reason, place, profile)

    def add_line(self, urn: str, name: str, line: int) -> None:
        """`add(urn, f"{name}{line}")`, without making that text: for a plain URN list."""
        reason, place = self._check(urn)
        self._append(urn, name, line, None, reason, place, _PLAIN)

    def add_occurrences(self, extra: Mapping[str, int]) -> None:
        """Count `extra[urn]` more occurrences of each of those URNs (one pass over all)."""
        if not extra:
            return
        for index, urn in enumerate(self._urns):
            more = extra.get(urn)
            if more:
                self._occurrences[index] = self._occurrences.get(index, 1) + more

    def _check(self, urn: str) -> tuple[str | None, int]:
        """`(None, its place's number)` when `urn` is a valid URN, else `(why it is not, 0)`:
        the one time a run parses the entry's URN before asking about it."""
        match = VALID_URN.match(urn) if len(urn) <= _MAX_URN_LENGTH else None
        if match is not None:
            return None, self._place_number(*match.group("region", "project"))
        try:
            parsed = parse_urn(urn)
        except InvalidUrn as exc:
            return str(exc), 0
        return None, self._place_number(parsed.region, parsed.project_id)

    def _place_number(self, region: str, project: str) -> int:
        """The index of `(region, project)` in `_places`, added if new."""
        number = self._place_index.get((region, project))
        if number is None:
            number = self._place_index[region, project] = len(self._places)
            self._places.append((region, project))
        return number

    def _append(
        self,
        urn: str,
        name: str,
        line: int | None,
        source: str | None,
        reason: str | None,
        place: int,
        profile: Profile,
    ) -> None:
        """Append an entry whose source is `name` then `line` (`source` when that is not
        its text: `line` is None then); `reason` None for a valid one, whose `place` is its
        region and project's number. The common case, a known name and a plain line number,
        is the fast path: this runs a million times."""
        index = len(self._urns)
        self._urns.append(urn)
        self._place_at.append(place)
        name_at = None if line is None else self._name_number(name)
        if name_at is None or line is None:
            self._odd_sources[index] = f"{name}{line}" if source is None else source
            name_at = line = 0
        self._name_at.append(name_at)
        self._line_at.append(line)
        if reason is not None:
            self._invalid[index] = reason
        if self._profile_at is not None or profile != _PLAIN:
            self._append_profile(index, profile)

    def _append_source_text(
        self, urn: str, source: str, reason: str | None, place: int, profile: Profile
    ) -> None:
        """`_append` of an entry whose source is given as text: split before its number."""
        name = source.rstrip(_DIGITS)
        line = _line_number(source[len(name) :])
        self._append(urn, name, line, source, reason, place, profile)

    def _name_number(self, name: str) -> int | None:
        """The index of `name` in `_names`, added if new; None when the table is full."""
        number = self._name_index.get(name)
        if number is None and len(self._names) < _MAX_NAMES:
            number = self._name_index[name] = len(self._names)
            self._names.append(name)
        return number

    def _append_profile(self, index: int, profile: Profile) -> None:
        if self._profile_at is None:
            self._profile_at = array("I", bytes(4 * index))  # every earlier entry is plain
        at = self._profile_index.get(profile)
        if at is None:
            at = self._profile_index[profile] = len(self._profiles)
            self._profiles.append(profile)
        self._profile_at.append(at)

    # --- the sequence -------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._urns)

    @overload
    def __getitem__(self, index: int) -> Target: ...

    @overload
    def __getitem__(self, index: slice) -> list[Target]: ...

    def __getitem__(self, index: int | slice) -> Target | list[Target]:
        if isinstance(index, slice):
            return [self._target(i) for i in range(*index.indices(len(self._urns)))]
        return self._target(self._position(index))

    def __iter__(self) -> Iterator[Target]:
        for index in range(len(self._urns)):
            yield self._target(index)

    def __eq__(self, other: object) -> bool:
        """Equal when every entry would build the same `Target` (none is built to tell)."""
        if not isinstance(other, Targets):
            return NotImplemented
        return (
            self._urns == other._urns
            and self._invalid == other._invalid
            and self._occurrences == other._occurrences
            and all(
                self.source(i) == other.source(i) and self._profile(i) == other._profile(i)
                for i in range(len(self._urns))
            )
        )

    __hash__ = None  # type: ignore[assignment]  # it grows while an input is read

    def __repr__(self) -> str:
        return (
            f"Targets({len(self)} entries, {self.invalid_count} invalid, "
            f"{self.duplicates} duplicates merged)"
        )

    def _target(self, index: int) -> Target:
        urn = self._urns[index]
        reason = self._invalid.get(index) if self._invalid else None
        runtime, memory_size, account = self._profile(index)
        return Target(
            urn,
            parse_urn(urn) if reason is None else None,
            self.source(index),
            self._occurrences.get(index, 1),
            reason or "",
            runtime,
            memory_size,
            account,
        )

    def _position(self, index: int) -> int:
        """`index` as a non-negative position, as a list would read it."""
        size = len(self._urns)
        position = index + size if index < 0 else index
        if not 0 <= position < size:
            raise IndexError("Targets index out of range")
        return position

    def _profile(self, index: int) -> Profile:
        if self._profile_at is None:
            return _PLAIN
        return self._profiles[self._profile_at[index]]

    # --- cheap accessors: none builds a Target ------------------------------------------------

    @property
    def urns(self) -> Sequence[str]:
        """Every entry's text, in order. The list itself, not a copy: do not change it."""
        return self._urns

    def fingerprint(self) -> str:
        """`fingerprint(self.urns)`, computed once: the journal and the history store both
        name the input set by it."""
        if not self._fingerprint:
            self._fingerprint = fingerprint(self._urns)
        return self._fingerprint

    def urn(self, index: int) -> str:
        """The text of entry `index`."""
        return self._urns[index]

    def source(self, index: int) -> str:
        """Where entry `index` first appeared (`file:line`)."""
        index = self._position(index)
        if self._odd_sources:
            odd = self._odd_sources.get(index)
            if odd is not None:
                return odd
        return f"{self._names[self._name_at[index]]}{self._line_at[index]}"

    def occurrences(self, index: int) -> int:
        """How often entry `index` appeared in all inputs."""
        return self._occurrences.get(self._position(index), 1)

    def runtime(self, index: int) -> str:
        """The runtime discovery reported for entry `index`; empty when not known."""
        return self._profile(self._position(index))[0]

    def memory_size(self, index: int) -> int | None:
        """The memory size (MB) discovery reported for entry `index`; None when not known."""
        return self._profile(self._position(index))[1]

    def account(self, index: int) -> str:
        """The account discovery listed entry `index` in; empty when not known."""
        return self._profile(self._position(index))[2]

    def is_invalid(self, index: int) -> bool:
        """Whether entry `index` is not a URN (an `invalid_urn` row)."""
        return self._position(index) in self._invalid

    def invalid_reason(self, index: int) -> str:
        """Why entry `index` is not a URN; empty for a valid one."""
        return self._invalid.get(self._position(index), "")

    def invalid_indices(self) -> list[int]:
        """The positions of the invalid entries, ascending."""
        return sorted(self._invalid)

    @property
    def invalid_count(self) -> int:
        """How many entries are not URNs."""
        return len(self._invalid)

    @property
    def duplicates(self) -> int:
        """How many entries were merged into an earlier identical one."""
        return sum(self._occurrences.values()) - len(self._occurrences)

    def place(self, index: int) -> Place:
        """`(region, project id)` of entry `index`, as its URN names them; `("", "")` for an
        entry that is not a URN."""
        return self._places[self._place_at[self._position(index)]]

    def regions(self) -> dict[str, str]:
        """Project id -> the region of its first valid URN (a copy: change it at will)."""
        regions: dict[str, str] = {}
        for region, project in self._places[1:]:
            regions.setdefault(project, region)
        return regions

    def region_names(self) -> set[str]:
        """Every region some valid URN is in (a project's URNs may span several)."""
        return {region for region, _ in self._places[1:]}

    def subset(self, indices: Iterable[int]) -> Targets:
        """A new `Targets` of the entries at `indices`, in that order (e.g. those to keep)."""
        made = Targets()
        for index in indices:
            position = self._position(index)
            urn = self._urns[position]
            reason = self._invalid.get(position)
            place = made._place_number(*self.place(position)) if reason is None else 0
            made._append_source_text(
                urn, self.source(position), reason, place, self._profile(position)
            )
            occurrences = self._occurrences.get(position, 1)
            if occurrences != 1:
                made._occurrences[len(made._urns) - 1] = occurrences
        return made


def _line_number(digits: str) -> int | None:
    """The line number `digits` spells, if writing it back gives `digits` and it fits."""
    if not digits or len(digits) > _MAX_LINE_DIGITS or (digits[0] == "0" and digits != "0"):
        return None
    return int(digits)
