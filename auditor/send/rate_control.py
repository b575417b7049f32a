"""Find the rate a gateway really allows: a pure controller over our own sends and answers.

Huawei publishes no per-user limits, so the rate has to be learned. The anchor is botocore's
adaptive mode: cut the rate on a throttle, then grow back along a cubic curve
`C·(t - K)³ + W_max` that flattens out at the rate of the last throttle and then probes past
it. Three things make this controller better on an API gateway's sliding 1-second window:

- **It knows the window.** Every send is stamped with how many of our requests were in the
  second before it (`window`, not counting those answered 429, which the gateway did not
  admit either). An accepted request proves the limit is at least its window count; a 429 on
  a window count above every recently accepted one is the limit speaking. So the cut goes to
  what was proved (`W_max` = the highest accepted window count), not to 0.7 × a guess.
- **It tells noise from the limit.** A 429 on a window count that has just been accepted
  (a function-level `FSS.0429`, a blip) is not explained by our rate: it delays that one
  request and changes nothing else. Only when 429s stop being rare (a fifth of the last
  second's answers) does the controller believe the limit fell, and cut to what the gateway
  accepted in the last second.
- **It holds the learned limit.** After a cut the curve returns to `W_max` and stays on it
  for a while (longer each time the same limit is found again, up to `MAX_HOLD_S`) before it
  probes above, so a steady limit costs a handful of 429s a minute, while a raised limit is
  still found within seconds.

The controller never decides anything about time by itself: every call passes `now` (the
loop clock), so tests drive it with a fake clock. `Throttle` (`auditor.send.throttle`) paces
requests at `rate` and keeps the window under it; the hard ceiling (`--rate`) is never
exceeded whatever the controller says.
"""

from __future__ import annotations

import bisect
import heapq
import itertools
import math
from dataclasses import dataclass

HISTORY_S = 3.0  # sends and answers are remembered this long
GROW_EVERY_S = 0.025  # the rate follows its curve in steps this far apart
BETA = 0.9  # after a throttle the rate drops to this share of the proven limit ...
BETA_AGAIN = 0.97  # ... or this share, when a probe found the same limit again
CUBIC_C = 0.4  # botocore's scale of the cubic curve, in requests/s per s³ ...
CUBIC_SCALE = 10.0  # ... for a limit this high; higher limits scale it (a share per s³)
HOLD_S = 1.0  # the first hold on a learned limit before probing above it
MAX_HOLD_S = 3.0  # the longest hold, after the same limit was found again and again
SAME_LIMIT = 0.05  # limits within 5 % of each other are "the same limit again"
EVIDENCE_S = 5  # accepted window counts prove the limit for this many seconds
LIMIT_FELL_SHARE = 0.2  # this share of 429s among the last second's answers: the limit fell
LIMIT_FELL_MIN = 3  # ... and at least this many 429s (and this share of the rate) ...
LIMIT_FELL_HELD = 0.5  # ... while at least this share of the proven limit is in the window
ALL_REFUSED_SENT = 20  # this many of ours refused in 1 s, none admitted: the gateway refuses all
MIN_LIMIT_EVIDENCE = 5  # fewer of ours in the gateway's window cannot show where its limit is
MIN_RATE = 0.5  # requests per second: the rate never goes below this
GROWTH_OVER_MEASURED = 2.0  # the rate never grows past this many times what was really sent


@dataclass(frozen=True, slots=True)
class Ticket:
    """One request let go: when, and its place in the order of sending."""

    sent_at: float
    number: int


@dataclass
class RateReport:
    """What the controller learned, for the summary and `run.throttling`."""

    ceiling: float | None
    rate: float | None  # the rate in force at the end (None: never limited)
    limit_found: float | None  # the highest rate the gateway was seen to accept, if it throttled
    responses_429: int
    rate_cuts: int
    unexplained_429: int  # 429s not explained by our rate (a function-level answer, a blip)
    sent: int
    peak_rate: int  # the most of our requests in any 1 s (our own count)


class _Times:
    """Loop times in ascending order (appended in order, or inserted), kept for
    `HISTORY_S`: how many fall in a span is two binary searches."""

    def __init__(self) -> None:
        self._times: list[float] = []
        self._start = 0  # times before this index are older than the history

    def append(self, t: float) -> None:
        self._times.append(t)

    def insert(self, t: float) -> None:
        bisect.insort(self._times, t, lo=self._start)

    def count(self, low: float, high: float) -> int:
        """How many times `t` with `low <= t < high`."""
        times, start = self._times, self._start
        return bisect.bisect_left(times, high, lo=start) - bisect.bisect_left(times, low, lo=start)

    def nth_from(self, low: float, n: int) -> float:
        """The `n`-th (from 0) time at or after `low`; the last one if there are fewer."""
        times = self._times
        index = bisect.bisect_left(times, low, lo=self._start) + n
        return times[min(index, len(times) - 1)]

    def forget_before(self, t: float) -> None:
        times = self._times
        self._start = bisect.bisect_left(times, t, lo=self._start)
        if self._start > 1024 and self._start * 2 > len(times):
            del times[: self._start]
            self._start = 0


@dataclass(frozen=True, slots=True)
class _Curve:
    """The cubic the rate follows after a cut: back to `w_max` (the limit found) by `k`
    seconds after the cut, held there for `hold` seconds, then probing above it."""

    w_max: float
    k: float
    c: float
    hold: float
    cut_at: float  # 429s of requests sent before this belong to this cut

    def target(self, now: float) -> float:
        t = now - self.cut_at
        if t < self.k:
            return self.w_max + self.c * (t - self.k) ** 3
        if t < self.k + self.hold:
            return self.w_max
        return self.w_max + self.c * (t - self.k - self.hold) ** 3


_NO_CURVE = _Curve(0.0, 0.0, CUBIC_C, 0.0, -math.inf)


class RateController:
    """The rate one credential scope may send to one endpoint at, learned from its answers."""

    def __init__(self, ceiling: float | None) -> None:
        self.ceiling = ceiling
        self.rate: float | None = ceiling  # None: no ceiling and never throttled
        self._sent = _Times()  # every request let go
        self._refused_sent = _Times()  # when the requests answered 429 were let go
        self._ok_at = _Times()  # when answers the gateway let through arrived
        self._refused_at = _Times()  # when 429 answers arrived
        # Per second of sending: the two highest counts of ours the gateway admitted in the
        # second up to an accepted request.
        self._evidence = [(-1, 0, 0)] * EVIDENCE_S
        self._curve = _NO_CURVE
        self._not_a_limit, self._not_a_limit_at = 0, -math.inf  # a level 429s proved wrong
        self._suspect: tuple[float, int] | None = None  # (sent_at, held) of a lone 429
        self._cut_by = -math.inf  # when the request whose 429 made the last cut was sent
        self._before_cut: tuple[float | None, _Curve] = (ceiling, _NO_CURVE)
        self._grown_at = -math.inf
        self._forgot_at = -math.inf
        self.last_progress = -math.inf  # when the gateway last accepted one of ours
        self.first_sent = math.inf
        self.responses_429 = self.rate_cuts = self.unexplained_429 = self.sent = 0
        self.peak_rate = 0
        self.limit_found: float | None = None
        self.refusing = False  # the gateway's last word to this scope was a 429
        # Accepted requests prove how many of ours the gateway admits in a second, but only
        # once every request sent before them has been answered: until then a 429 still on
        # its way (answers come back out of order) would make the count too high.
        self._numbers = itertools.count()
        self._first_open = 0  # every request numbered below this has been answered
        self._answered_ahead: set[int] = set()
        self._unsettled: list[tuple[int, float]] = []  # accepted: (number, sent_at), a heap

    # --- what the gateway's window holds ------------------------------------------------------

    def admitted_before(self, t: float) -> int:
        """Our requests in the second before `t` that the gateway admitted (as far as their
        answers are known): what its sliding window held of ours."""
        low = t - 1.0
        return self._sent.count(low, t) - self._refused_sent.count(low, t)

    def room_at(self, now: float) -> float:
        """When our requests admitted in the second before will be fewer than the learned
        rate (now, if they are already): when the oldest that are too many leave the
        gateway's window."""
        if self.rate is None:
            return now
        excess = self.admitted_before(now + 1e-9) - max(1, math.floor(self.rate)) + 1
        if excess <= 0:
            return now
        # The excess-th oldest send of the last second leaves the window one second after it
        # went (refused ones among them make this early; the caller looks again then).
        return self._sent.nth_from(now - 1.0, excess - 1) + 1.0 + 1e-6

    # --- sending ------------------------------------------------------------------------------

    def sent_now(self, now: float) -> Ticket:
        """One request goes now."""
        self._sent.append(now)
        self.sent += 1
        if self.first_sent == math.inf:
            self.first_sent = now
        if now - self._forgot_at >= 1.0:
            self._forget(now)
        return Ticket(now, next(self._numbers))

    def _forget(self, now: float) -> None:
        self.peak_rate = max(self.peak_rate, self._sent.count(now - 1.0, now + 1e-9))
        horizon = now - HISTORY_S
        for times in (self._sent, self._refused_sent, self._ok_at, self._refused_at):
            times.forget_before(horizon)
        self._forgot_at = now

    # --- answers ------------------------------------------------------------------------------

    def accepted(self, ticket: Ticket, now: float) -> None:
        """The gateway let `ticket`'s request through (whatever the function's answer)."""
        self._ok_at.append(now)
        self.last_progress = now
        self.refusing = False
        if self.responses_429:
            # Evidence of the limit is worth its cost only once the gateway has throttled.
            heapq.heappush(self._unsettled, (ticket.number, ticket.sent_at))
        self._answered(ticket)
        if self.rate_cuts:
            self._grow(now)

    def lost(self, ticket: Ticket) -> None:
        """`ticket`'s request got no answer from the gateway (a timeout, a reset)."""
        self.refusing = False
        self._answered(ticket)

    def _answered(self, ticket: Ticket) -> None:
        number = ticket.number
        if number != self._first_open:
            self._answered_ahead.add(number)
            return
        ahead = self._answered_ahead
        number += 1
        while number in ahead:
            ahead.discard(number)
            number += 1
        self._first_open = number
        unsettled = self._unsettled
        while unsettled and unsettled[0][0] < number:
            self._settle(heapq.heappop(unsettled)[1])

    def _settle(self, sent_at: float) -> None:
        """Every request sent before this accepted one has its answer: how many of ours the
        gateway had admitted in the second before it is now known exactly."""
        admitted = self.admitted_before(sent_at) + 1  # with itself
        second = math.floor(sent_at)
        slot = second % EVIDENCE_S
        held_second, best, runner_up = self._evidence[slot]
        if held_second != second:
            self._evidence[slot] = (second, admitted, 0)
        elif admitted > best:
            self._evidence[slot] = (second, admitted, best)
        elif admitted > runner_up:
            self._evidence[slot] = (second, best, admitted)
        suspect = self._suspect
        if suspect is not None and sent_at > suspect[0] and admitted > suspect[1]:
            self._suspect = None  # that 429 was a blip: the gateway admits more than that
            self.unexplained_429 += 1
        curve = self._curve
        if self._cut_by < sent_at < curve.cut_at and admitted > curve.w_max:
            self.unexplained_429 += 1
            self._undo_cut()

    def _undo_cut(self) -> None:
        """A request sent after the 429 that made the last cut, and before the cut, was
        admitted with more of ours in the second before it than the cut said the gateway
        allows: that 429 was not about our rate (say, a blip while the rate was still ramping
        up). The cut is taken back."""
        self.rate, self._curve = self._before_cut
        self.limit_found = self._curve.w_max if self._curve is not _NO_CURVE else None
        self._cut_by = -math.inf
        self.rate_cuts -= 1

    def throttled(self, ticket: Ticket, now: float) -> bool:
        """The gateway answered 429 to `ticket`'s request. True if the rate was cut for it."""
        self._refused_at.append(now)
        self._refused_sent.insert(ticket.sent_at)  # the gateway did not admit it
        self.responses_429 += 1
        self.refusing = True
        self._answered(ticket)
        if ticket.sent_at < self._curve.cut_at:
            return False  # sent before the last cut took effect: that cut answered it already
        held = self.admitted_before(ticket.sent_at)
        refused = self._refused_at.count(now - 1.0, now + 1e-9)
        answers = refused + self._ok_at.count(now - 1.0, now + 1e-9)
        proven = self._proven(now)
        # Many answers refused, and more than a blip, while we still send a good part of what
        # the gateway accepted lately: the limit is well below our rate. (A few functions
        # that keep answering 429 at the end of a run, with little else sent, are not that;
        # a gateway that refuses everything, admitting nothing of ours, is.)
        if answers == refused:
            # Nothing admitted in the last second: if we sent plenty, the gateway refuses all.
            sent = self._sent.count(ticket.sent_at - 1.0, ticket.sent_at)
            if sent >= ALL_REFUSED_SENT:
                held = sent
        limit_fell = (
            refused >= max(LIMIT_FELL_MIN, LIMIT_FELL_SHARE * (self.rate or 0))
            and refused >= LIMIT_FELL_SHARE * answers
            and held >= max(MIN_LIMIT_EVIDENCE, LIMIT_FELL_HELD * proven)
        )
        # A window as full as any the gateway accepted lately: our rate is at its limit.
        bar = max(MIN_LIMIT_EVIDENCE, proven)
        if now - self._not_a_limit_at < EVIDENCE_S:
            bar = max(bar, self._not_a_limit + 1)
        if not (held >= bar or limit_fell):
            # The gateway admitted a request with more of ours before it moments ago (or
            # there are too few of ours to tell): this 429 is not about our rate.
            self.unexplained_429 += 1
            curve = self._curve
            if self.rate_cuts and held < curve.w_max * (1 - SAME_LIMIT) - 1:
                # And the last cut said the gateway allows w_max, yet refuses well below it:
                # that cut was made by a 429 like this one, not by the limit.
                self._not_a_limit, self._not_a_limit_at = math.ceil(curve.w_max), now
                self._undo_cut()
            return False
        if not (limit_fell or self.rate_cuts):
            suspect = self._suspect
            if suspect is None or ticket.sent_at - suspect[0] > 1.0:
                # Before any limit was found, one 429 at the top could still be a blip: the
                # next answers tell. If a request sent after it is admitted with more of ours
                # before it, it was.
                self._suspect = (ticket.sent_at, held)
                return False
            self._suspect = None
        limit = held
        if limit_fell:
            # What the gateway accepted in the last second is what it allows now; older
            # evidence of a higher limit no longer holds.
            limit = min(held, answers - refused)
            self._evidence = [(s, min(a, limit), min(b, limit)) for s, a, b in self._evidence]
        self._cut(float(max(1, limit)), now, ticket.sent_at)
        return True

    def _proven(self, now: float) -> int:
        """The most of our requests the gateway admitted in 1 s over the last few seconds,
        not counting the single highest count: one request that reached the gateway a little
        earlier or later than it left here can make a count one too high."""
        second = math.floor(now)
        counts = sorted(
            (c for held, *pair in self._evidence if second - held < EVIDENCE_S for c in pair),
            reverse=True,
        )
        return counts[1] if len(counts) > 1 else 0

    def _cut(self, limit: float, now: float, sent_at: float) -> None:
        self._before_cut = (self.rate, self._curve)
        self._cut_by = sent_at
        last = self._curve
        again = last is not _NO_CURVE and abs(limit - last.w_max) <= SAME_LIMIT * limit
        hold = min(MAX_HOLD_S, last.hold * 2) if again else HOLD_S
        # The same limit found again by a probe: it is known well, so the cut is gentle.
        start = max(MIN_RATE, (BETA_AGAIN if again else BETA) * limit)
        if self.ceiling is not None:
            start = min(start, self.ceiling)
        c = CUBIC_C * max(1.0, limit / CUBIC_SCALE)
        k = ((limit - start) / c) ** (1 / 3) if limit > start else 0.0
        self._curve = _Curve(limit, k, c, hold, now)
        self.limit_found = limit
        self.rate = start
        self._grown_at = now
        self.rate_cuts += 1

    def _grow(self, now: float) -> None:
        if now - self._grown_at < GROW_EVERY_S:
            return
        self._grown_at = now
        target = self._curve.target(now)
        assert self.rate is not None
        if target > self.rate and self._refused_at.count(now - 1.0, now + 1e-9):
            # 429s in the last second that made no cut (a blip, or the limit not yet proven)
            # are still a reason not to press harder.
            return
        if target > self.rate:
            # Never far beyond what was really sent: a pool that cannot fill the rate must not
            # talk the controller into a rate it never tried.
            measured = self._sent.count(now - 1.0, now + 1e-9)
            target = min(target, max(self.rate, GROWTH_OVER_MEASURED * measured))
        if self.ceiling is not None:
            target = min(target, self.ceiling)
        self.rate = max(MIN_RATE, target)

    def stalled_for(self, now: float) -> float:
        """Seconds since the gateway last accepted one of our requests (or since the first)."""
        since = self.last_progress if self.last_progress > -math.inf else self.first_sent
        return max(0.0, now - since) if since != math.inf else 0.0

    def report(self) -> RateReport:
        return RateReport(
            ceiling=self.ceiling,
            rate=None if self.rate is None else round(self.rate, 2),
            limit_found=self.limit_found,
            responses_429=self.responses_429,
            rate_cuts=self.rate_cuts,
            unexplained_429=self.unexplained_429,
            sent=self.sent,
            peak_rate=self.peak_rate,
        )
