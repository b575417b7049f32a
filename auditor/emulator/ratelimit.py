"""The gateway's rate limit: a sliding 1 s window per scope, its limit following a schedule.

Huawei's API gateway limits each *user* per second, across every project the user's
credentials reach (429 `APIG.0308` "policy user over ratelimit, limit:N, time:1 second"), and
does not publish N. The emulator plays such a gateway: `RateLimit` keeps one exact window per
scope key (the credential presented, or the project in the path for the older per-project scope)
and admits a request while fewer than the limit in force were admitted in the last second.

The limit may change during a run, as a gateway's does under load: a `RateSchedule` is a list of
phases `(start second, limit)`, `None` meaning no limit, counted from a start the server picks
(the first rate-limited request after it starts or after its stats are reset). Requests admitted
during an unlimited phase still fill the window, so a limit that comes back meets them.
"""

from __future__ import annotations

import bisect
import math
from collections import deque
from collections.abc import Iterable

RateSchedule = tuple[tuple[float, int | None], ...]

SCOPES = ("user", "project")
UNLIMITED = "none"

_SCHEDULE_FORMAT = (
    "expected SECONDS:LIMIT,... such as 0:100,20:30,40:none (from second 0 allow 100/s, from 20 "
    f"allow 30/s, from 40 no limit), LIMIT a whole number >= 1 or {UNLIMITED}"
)


def check_schedule(schedule: Iterable[Iterable[object]]) -> RateSchedule:
    """`schedule` as a `RateSchedule`, or `ValueError` with a one-line reason.

    The phases must start at second 0 with strictly ascending start times; each limit is a
    whole number >= 1, or None for a phase without a limit. An empty schedule is no limit.
    """
    try:
        phases = [(start, limit) for start, limit in schedule]
    except (TypeError, ValueError):
        raise ValueError("expected (seconds, limit) pairs") from None
    checked: list[tuple[float, int | None]] = []
    for start, limit in phases:
        if (
            isinstance(start, bool)
            or not isinstance(start, int | float)
            or not math.isfinite(start)
        ):
            raise ValueError(f"{start!r} is not a number of seconds")
        if limit is not None and (
            isinstance(limit, bool) or not isinstance(limit, int) or limit < 1
        ):
            raise ValueError(f"limit {limit!r} must be a whole number >= 1, or None for no limit")
        if not checked and start != 0:
            raise ValueError(f"the first phase must start at second 0, not {start:g}")
        if checked and start <= checked[-1][0]:
            raise ValueError(f"phase starts must ascend ({checked[-1][0]:g} then {start:g})")
        checked.append((float(start), limit))
    return tuple(checked)


def parse_schedule(text: str) -> RateSchedule:
    """Parse `0:100,20:30,40:none` into a checked `RateSchedule`; `ValueError` if malformed."""
    phases: list[tuple[float, int | None]] = []
    for part in text.split(","):
        start, sep, limit = part.partition(":")
        try:
            seconds = float(start)
            allowed = None if limit.strip().lower() == UNLIMITED else int(limit)
        except ValueError:
            sep = ""
        if not sep:
            raise ValueError(f"bad schedule {text!r}: {_SCHEDULE_FORMAT}")
        phases.append((seconds, allowed))
    return check_schedule(phases)


def describe(schedule: RateSchedule, scope: str) -> str:
    """One line for people, e.g. `rate limit per user: 100/s, from 20 s 30/s, from 40 s none
    (seconds from the first limited request)`."""
    if not schedule:
        return "rate limit: none"
    phases = ", ".join(
        f"{'' if start == 0 else f'from {start:g} s '}{'none' if limit is None else f'{limit}/s'}"
        for start, limit in schedule
    )
    clock = " (seconds from the first limited request)" if len(schedule) > 1 else ""
    return f"rate limit per {scope}: {phases}{clock}"


class RateLimit:
    """An exact sliding 1 s window per scope key; the limit in force follows `schedule`.

    Only admitted requests count: a client that keeps knocking while throttled does not push
    its own window further out. Times are the loop clock's, in seconds.
    """

    def __init__(self, schedule: RateSchedule) -> None:
        if not schedule:
            raise ValueError("a RateLimit needs at least one phase")
        self._starts = [start for start, _ in schedule]
        self._limits = [limit for _, limit in schedule]
        self._windows: dict[str, deque[float]] = {}  # key -> times admitted in the last second

    def limit_at(self, elapsed: float) -> int | None:
        """The limit in force `elapsed` seconds after the schedule's start (None: no limit)."""
        phase = max(0, bisect.bisect_right(self._starts, elapsed) - 1)
        return self._limits[phase]

    def admit(self, key: str, now: float, elapsed: float) -> bool:
        """Whether a request of `key` at `now` (`elapsed` into the schedule) may pass."""
        window = self._windows.setdefault(key, deque())
        while window and window[0] <= now - 1.0:
            window.popleft()
        limit = self.limit_at(elapsed)
        if limit is not None and len(window) >= limit:
            return False
        window.append(now)
        return True
