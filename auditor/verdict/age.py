"""Finding age: since when a function has been seen, and since when it has been failing.

The history store keeps one `Standing` per URN: when an audit first saw it, its last verdict
and, while that verdict is a finding, when the current finding opened. A run's row is marked
from the standing the store had before the run (`age_of`), and the store then keeps the
standing that the row leaves behind (`standing_after`).

Only verdicts move the clock. A verdict is an answer about the function itself: `configured`,
`unexpected_keys`, `missing_keys`, `function_not_found` (and `invalid_urn`, which is the
same answer every time). `auth_failed`, `throttled` and `error` say nothing about the keys:
they neither open, close nor re-date a finding (AWS Config's `INSUFFICIENT_DATA` rule), so a
function that errors in the middle of a month-long finding is still failing since the start
of that month. A function absent from a partial run keeps its standing as it was.

Times are the reports' text (`2026-12-06T07:02:16Z`, UTC, to the second); `days_failing`
counts whole days of 24 hours from `failing_since` to the row's `checked_at`.
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass
from datetime import UTC, datetime

from auditor.model import Row, Status

NOT_VERDICTS = frozenset({Status.AUTH_FAILED, Status.THROTTLED, Status.ERROR})
VERDICTS = frozenset(Status) - NOT_VERDICTS
SLA_DAYS = 14  # "N findings open longer than 14 days": the Summary's line


@dataclass(frozen=True, slots=True)
class Standing:
    """What the store knows of one URN between runs."""

    first_seen: str  # when an audit first saw it
    verdict: Status | None  # its last verdict; None when it never had one (only errors)
    failing_since: str  # when its current finding opened; "" when its last verdict passed
    status: Status  # its last status, verdict or not (the timeline records changes of this)


@dataclass(frozen=True, slots=True)
class Age:
    """A row's age columns."""

    first_seen: str
    failing_since: str
    days_failing: int | None


def is_finding(status: Status) -> bool:
    """A verdict that is not `configured`: what opens (or continues) a finding."""
    return status in VERDICTS and status is not Status.CONFIGURED


def age_of(before: Standing | None, row: Row, when: str) -> Age:
    """The age columns of `row` given the URN's standing before this run (None: never seen).

    `when` is the time of the check: the row's `checked_at`, or for a row that was never sent
    (`invalid_urn`) the run's start."""
    first_seen = before.first_seen if before is not None else when
    previous_since = before.failing_since if before is not None else ""
    if row.status in NOT_VERDICTS:
        failing_since = previous_since
    elif row.status is Status.CONFIGURED:
        failing_since = ""
    else:
        failing_since = previous_since or when
    return Age(first_seen, failing_since, days_between(failing_since, when))


def standing_after(before: Standing | None, row: Row, age: Age) -> Standing:
    """The standing the store keeps once `row` (with its `age`) is recorded."""
    verdict = row.status if row.status in VERDICTS else (before.verdict if before else None)
    return Standing(age.first_seen, verdict, age.failing_since, row.status)


def is_aged(row: Row) -> bool:
    """A finding no exemption covers, open longer than `SLA_DAYS` whole days: what the
    Summary's "N findings open longer than 14 days" counts."""
    days = row.days_failing
    return days is not None and days > SLA_DAYS and is_finding(row.status) and not row.exempt


def days_between(since: str, until: str) -> int | None:
    """Whole days from `since` to `until` (report times); None when `since` is empty."""
    if not since or not until:
        return None
    seconds = (parse_time(until) - parse_time(since)).total_seconds()
    return max(0, int(seconds // 86400))


def parse_time(text: str) -> datetime:
    """A report time (`2026-12-06T07:02:16Z`) as an aware UTC datetime."""
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


_CODES: tuple[Status, ...] = tuple(Status)
_CODE_OF = {status: code for code, status in enumerate(_CODES)}
_CODE_OF_VALUE = {status.value: code for code, status in enumerate(_CODES)}
_NONE = -1


class Standings:
    """The standings of a run's targets before the run, by target index, in four flat arrays
    (18 bytes a target): a million targets' standings cost 18 MB, not the 300 MB of a dict of
    `Standing` objects keyed by URN."""

    __slots__ = ("_failing_since", "_first_seen", "_status", "_texts", "_verdict")

    def __init__(self, size: int) -> None:
        self._first_seen = array("q", [_NONE]) * size  # epoch seconds
        self._failing_since = array("q", [_NONE]) * size
        self._verdict = array("b", [_NONE]) * size  # index into `_CODES`
        self._status = array("b", [_NONE]) * size  # _NONE: never seen
        self._texts: dict[int, str] = {}  # epoch -> report time, shared by the rows of a second

    def __len__(self) -> int:
        return len(self._status)

    def has(self, index: int) -> bool:
        """Whether the store had seen target `index` before."""
        return self._status[index] != _NONE

    def known(self) -> int:
        """How many targets the store has seen before."""
        return len(self._status) - self._status.count(_NONE)

    def set(self, index: int, standing: Standing) -> None:
        self._first_seen[index] = _epoch(standing.first_seen)
        self._failing_since[index] = _epoch(standing.failing_since)
        verdict = standing.verdict
        self._verdict[index] = _CODE_OF[verdict] if verdict is not None else _NONE
        self._status[index] = _CODE_OF[standing.status]

    def get(self, index: int) -> Standing | None:
        status = self._status[index]
        if status == _NONE:
            return None
        verdict = self._verdict[index]
        return Standing(
            first_seen=self._text(self._first_seen[index]),
            verdict=_CODES[verdict] if verdict != _NONE else None,
            failing_since=self._text(self._failing_since[index]),
            status=_CODES[status],
        )

    def differs(self, index: int, status: str, first_seen: str, failing_since: str) -> bool:
        """Whether a row (its status value and age columns) leaves target `index` with
        another standing than it had: cheaper than building both standings. The same status
        means the same last verdict, so the verdict needs no comparing."""
        code = self._status[index]
        if code == _NONE or code != _CODE_OF_VALUE[status]:
            return True
        return (
            self._text(self._first_seen[index]) != first_seen
            or self._text(self._failing_since[index]) != failing_since
        )

    def _text(self, epoch: int) -> str:
        if epoch == _NONE:
            return ""
        text = self._texts.get(epoch)
        if text is None:
            text = datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            if len(self._texts) < 100_000:
                self._texts[epoch] = text
        return text


def _epoch(text: str) -> int:
    return int(parse_time(text).timestamp()) if text else _NONE
