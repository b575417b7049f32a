"""Faults: the ways real gateways misbehave, injected into the emulator's tracing answers.

A `Fault` replaces (or delays, or drops) the answer a function would normally get: throttles,
5xx bursts, HTML error pages, dropped connections, stalls, broken bodies, unmasked secrets.
`FaultPlan` decides which request gets which fault, per function or as a seeded share of every
request (`pick_function_faults` draws the functions for a seeded share of a fleet); the server
then answers with `canned_faults`, `plain_sk_answer` or `reset_connection`.

The wire helpers both this module and the server need (`Answer`, `error_body`, `iam_error`,
`APIG_THROTTLED`) live here, because a gateway throttle is also a fault.
"""

from __future__ import annotations

import contextlib
import json
import math
import random
import socket
import struct
from collections import Counter
from collections.abc import Mapping, Sequence
from enum import StrEnum

from aiohttp import web

from auditor.emulator.fleet import derived_key

PLAIN_SK_PREFIX = "PLAIN-SK-"  # every SK `Fault.PLAIN_SK` leaks starts with it: grep for it
JSON_TYPE = "application/json"

Answer = tuple[int, bytes]  # status and pre-encoded body (JSON unless said otherwise)


def error_body(code: str, msg: str) -> bytes:
    """A Huawei Cloud error body: `{"error_code": ..., "error_msg": ...}`, encoded."""
    return json.dumps({"error_code": code, "error_msg": msg}).encode()


def iam_error(status: int, title: str, message: str) -> Answer:
    """An IAM error answer: `{"error": {"code": status, "message": ..., "title": ...}}`, IAM's
    own shape (its gateway's refusals, such as a bad signature, are `error_body`'s)."""
    body = {"error": {"code": status, "message": message, "title": title}}
    return status, json.dumps(body).encode()


APIG_THROTTLED: Answer = (429, error_body("APIG.0308", "The request is throttled."))
_FSS_THROTTLED = error_body("FSS.0429", "Too many requests, please retry later.")
_BAD_GATEWAY_PAGE = (
    b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    b"<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n"
    b"</body>\r\n</html>\r\n"
)
_GARBAGE = b"OK: tracing settings follow\n<not json>\n"


class Fault(StrEnum):
    """A misbehaviour injected into tracing answers, after throttling and authentication."""

    APIG_429 = "apig_429"  # 429 APIG.0308 from the gateway, no Retry-After
    FSS_429 = "fss_429"  # 429 FSS.0429 from the service, no Retry-After
    FSS_429_RETRY_AFTER = "fss_429_retry_after"  # the same with Retry-After: ceil(retry_after_s)
    SERVER_503 = "server_503"  # 503 FSS.0503
    HTML_502 = "html_502"  # 502 with an HTML gateway page, as a proxy in front would send
    RESET = "reset"  # the connection is reset (TCP RST) without an answer
    SLOW = "slow"  # the normal answer, but only after slow_s seconds
    EMPTY_200 = "empty_200"  # 200 with an empty body
    GARBAGE_200 = "garbage_200"  # 200 with a text/plain body that is not JSON
    PLAIN_SK = "plain_sk"  # 200 with the SK unmasked: an auditor must never keep it


def parse_fault_spec(text: str, unit: str = "PROBABILITY") -> tuple[Fault, float]:
    """Parse `NAME=PROBABILITY` (e.g. `html_502=0.05`) into a fault and its share from 0 to 1
    (of requests, or of functions: `unit` names it in the message).

    Raises `ValueError` with a one-line message that lists the valid names.
    """
    name, sep, value = text.partition("=")
    try:
        fault: Fault | None = Fault(name.strip().lower())
        probability = float(value)
    except ValueError:
        fault, probability = None, math.nan
    if not sep or fault is None or not 0.0 <= probability <= 1.0:
        raise ValueError(
            f"bad fault {text!r}: expected NAME={unit} with {unit} from 0 to 1 "
            f"and NAME one of {', '.join(Fault)}"
        )
    return fault, probability


def pick_function_faults(
    urns: Sequence[str], shares: Mapping[Fault, float], seed: int
) -> dict[str, Fault]:
    """Give each fault its share of `urns` (unqualified), drawn from `seed`: disjoint sets of
    exact sizes (the shares' running sums times `len(urns)`, rounded), the same every time.

    For `EmulatorConfig.function_faults`. `ValueError` if the shares add up to more than 1.
    """
    if not all(0.0 <= share <= 1.0 for share in shares.values()):
        raise ValueError("function faults: each share must be from 0 to 1")
    if sum(shares.values()) > 1.0 + 1e-9:
        raise ValueError("function faults: the shares must add up to at most 1")
    distinct = list(dict.fromkeys(urns))
    # Its own stream, so the per-run draws of the same --fault-seed are not the same numbers.
    shuffled = random.Random(f"function-faults:{seed}").sample(distinct, len(distinct))
    picked: dict[str, Fault] = {}
    taken, running = 0, 0.0
    for fault in Fault:  # declaration order, so equal shares pick equal functions
        running += shares.get(fault, 0.0)
        end = min(len(shuffled), round(running * len(shuffled)))
        picked.update((urn, fault) for urn in shuffled[taken:end])
        taken = max(taken, end)
    return picked


class FaultPlan:
    """Which fault, if any, each authenticated tracing request gets; one plan per server.

    A function's own fault (`function_faults`, keyed by unqualified URN) comes first, for its
    first `times` requests or for ever when `times` is None. Otherwise one draw from
    `random.Random(seed)` per request picks at most one of the per-run `faults`, each with its
    probability, so the same arguments and the same request order give the same faults.
    """

    def __init__(
        self,
        faults: Mapping[Fault, float],
        seed: int,
        function_faults: Mapping[str, Fault],
        times: int | None,
    ) -> None:
        # Declaration order, not mapping order, so equal configs draw equal faults.
        self._run_faults = [(f, faults[f]) for f in Fault if faults.get(f, 0.0) > 0.0]
        self._rng = random.Random(seed)
        self._function_faults = dict(function_faults)
        self._times = times
        self._faulted: Counter[str] = Counter()  # per-function faults injected so far, per URN

    def fault_for(self, unqualified: str) -> Fault | None:
        """The fault for the next request to `unqualified` ("" if the URN did not parse)."""
        return self._function_fault(unqualified) or self._run_fault()

    def _function_fault(self, unqualified: str) -> Fault | None:
        fault = self._function_faults.get(unqualified)
        if fault is None or (self._times is not None and self._faulted[unqualified] >= self._times):
            return None
        self._faulted[unqualified] += 1
        return fault

    def _run_fault(self) -> Fault | None:
        if not self._run_faults:
            return None
        # One draw per request; the faults take adjacent slices of [0, 1).
        draw = self._rng.random()
        for fault, probability in self._run_faults:
            if draw < probability:
                return fault
            draw -= probability
        return None


# A canned answer: status, body, content type and extra headers.
Canned = tuple[int, bytes, str, Mapping[str, str]]


def canned_faults(retry_after_s: float) -> dict[Fault, Canned]:
    """The faults whose answer does not depend on the function."""
    retry_after = {"Retry-After": str(math.ceil(retry_after_s))}
    return {
        Fault.APIG_429: (*APIG_THROTTLED, JSON_TYPE, {}),
        Fault.FSS_429: (429, _FSS_THROTTLED, JSON_TYPE, {}),
        Fault.FSS_429_RETRY_AFTER: (429, _FSS_THROTTLED, JSON_TYPE, retry_after),
        Fault.SERVER_503: (503, error_body("FSS.0503", "service unavailable"), JSON_TYPE, {}),
        Fault.HTML_502: (502, _BAD_GATEWAY_PAGE, "text/html", {}),
        Fault.EMPTY_200: (200, b"", JSON_TYPE, {}),
        Fault.GARBAGE_200: (200, _GARBAGE, "text/plain", {}),
    }


def plain_sk_answer(seed: int, name: str) -> Answer:
    """`Fault.PLAIN_SK`'s 200: an AK and an unmasked SK, both stable per fleet seed and `name`."""
    leaked = {
        "tracing_ak": derived_key("ak", seed, name, 20),
        "tracing_sk": PLAIN_SK_PREFIX + derived_key("sk", seed, name, 24),
    }
    return 200, json.dumps(leaked).encode()


def reset_connection(request: web.Request) -> None:
    """Drop the connection with a TCP RST, so the client sees 'connection reset by peer'."""
    transport = request.transport
    if transport is None:
        return
    sock = transport.get_extra_info("socket")
    if sock is not None:
        # Linger 0 makes close() send RST instead of FIN; without it the client sees a clean EOF.
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()
