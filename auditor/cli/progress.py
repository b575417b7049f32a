"""Progress and summary text for the console: pure formatting, the CLI does the writing."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from auditor.report.tables import STATUS_ORDER, Summary


@dataclass
class Progress:
    """Counts of a run in progress; `line()` renders them for a terminal or a log."""

    total: int
    started: float
    done: int = 0
    by_status: Counter[str] = field(default_factory=Counter)

    def add(self, status: str) -> None:
        self.done += 1
        self.by_status[status] += 1

    def line(self, now: float, *, bar_width: int = 24) -> str:
        elapsed = max(now - self.started, 1e-9)
        rate = self.done / elapsed
        eta = _duration((self.total - self.done) / rate) if rate > 0 else "?"
        share = self.done / self.total if self.total else 1.0
        filled = int(share * bar_width)
        counts = " ".join(
            f"{s.value} {self.by_status[s.value]}" for s in STATUS_ORDER if self.by_status[s.value]
        )
        return (
            f"[{'#' * filled}{'.' * (bar_width - filled)}] {self.done}/{self.total} "
            f"{share:4.0%} {rate:,.0f}/s ETA {eta}  {counts}"
        )


def _duration(seconds: float) -> str:
    seconds = int(seconds + 0.5)
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def summary_table(summary: Summary, paths: Sequence[str] = ()) -> str:
    """The closing summary: counts and shares by status, then the report files."""
    lines = [f"{'status':<20} {'count':>9} {'share':>7}"]
    for status, count in summary.by_status.items():
        share = count / summary.total if summary.total else 0.0
        lines.append(f"{status:<20} {count:>9,} {share:>7.1%}")
    lines.append(f"{'total':<20} {summary.total:>9,}")
    if paths:
        lines.append("")
        lines.append("reports:")
        lines.extend(f"  {path}" for path in paths)
    return "\n".join(lines)


def throttling_lines(throttling: Mapping[str, Any]) -> list[str]:
    """What the rate controller learned, for the console: one line per credential scope and
    endpoint that was throttled, and the `--rate` to use next time."""
    lines = []
    for scope in throttling.get("scopes", ()):
        if not scope["responses_429"]:
            continue
        found = scope["limit_found"]
        learned = f"; it allowed about {found:g} req/s" if found is not None else ""
        lines.append(
            f"throttling: {scope['scope']} at {scope['endpoint']}: {scope['responses_429']} of"
            f" {scope['requests']} requests answered 429, {scope['rate_cuts']} rate cuts"
            f"{learned}; requests waited {scope['throttle_wait_s']:.0f} s after a 429"
        )
    suggested = throttling.get("suggested_rate")
    if suggested is not None and suggested != throttling.get("ceiling"):
        lines.append(
            f"throttling: next time, --rate {suggested} starts at the rate the gateway allowed"
            " (the controller still adapts under it)"
        )
    return lines
