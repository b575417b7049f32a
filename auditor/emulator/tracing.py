"""The tracing settings the emulator keeps per function: what the tracing GET answers, and how
UpdateTracing (the PUT) changes it.

Each function starts with the answer its `Behaviour` gives (`Fleet.tracing_ak` for a CONFIGURED
one). A PUT with an AK and an SK configures it: from then on the GET answers 200 with that AK and
the SK masked. A PUT with empty values, or `{}` as Terraform sends, turns tracing off: the GET
then answers 404 FSS.0404, as for a function without keys. Settings are keyed by unqualified URN
(a qualified URN reads and changes its function's) and last as long as the emulator; a stats
reset keeps them.

The PUT's errors, as documented: 400 FSS.0400 for a body that is not `{"tracing_ak": str,
"tracing_sk": str}` with both keys or neither (checked first; the message never repeats a value
sent, so an SK cannot leak back), 400 FSS.1128 "function[x] not existed" for a function the
service does not have (DELETED, removed by drift, of another project, or no URN at all), and
500 FSS.0500 for a SERVER_ERROR function, which fails every request.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from auditor.emulator.faults import Answer, error_body
from auditor.emulator.fleet import Behaviour, EmulatedFunction, Fleet
from auditor.source.urn import FunctionUrn

MASKED_SK = "******"
NOT_FOUND: Answer = (404, error_body("FSS.1051", "Not found the function"))
NO_KEYS: Answer = (404, error_body("FSS.0404", "can not find tracing aksk"))
SERVER_ERROR: Answer = (500, error_body("FSS.0500", "internal error"))
UPDATED: Answer = (200, b"")

_BODY_SHAPE = 'expected a JSON object {"tracing_ak": "...", "tracing_sk": "..."}'
_NOT_AN_OBJECT = f"invalid request body: {_BODY_SHAPE}"
_NOT_STRINGS = "invalid request body: tracing_ak and tracing_sk must be strings"
_NOT_A_PAIR = (
    "invalid request body: give tracing_ak and tracing_sk together "
    "(both empty, or neither, turns tracing off)"
)


def _configured(ak: str) -> Answer:
    return 200, json.dumps({"tracing_ak": ak, "tracing_sk": MASKED_SK}).encode()


def behaviour_answer(fleet: Fleet, function: EmulatedFunction) -> Answer:
    """The tracing GET's answer for `function` as the fleet drew it, before any update."""
    match function.behaviour:
        case Behaviour.CONFIGURED:
            return _configured(fleet.tracing_ak(function))
        case Behaviour.EMPTY_AK:
            return 200, json.dumps({"tracing_ak": "", "tracing_sk": ""}).encode()
        case Behaviour.MISSING_KEYS:
            return NO_KEYS
        case Behaviour.DELETED:
            return NOT_FOUND
        case Behaviour.SERVER_ERROR:
            return SERVER_ERROR


def not_existed(raw_urn: str) -> Answer:
    """400 FSS.1128, naming the URN as the path gave it."""
    return 400, error_body("FSS.1128", f"function[{raw_urn}] not existed")


@dataclass(frozen=True, slots=True, repr=False)
class TracingKeys:
    """The keys a PUT sets; both empty turns tracing off. The repr never shows the SK."""

    ak: str
    sk: str

    @property
    def turns_off(self) -> bool:
        return not self.ak

    def __repr__(self) -> str:
        return f"TracingKeys(ak={self.ak!r}, sk=****)"


def parse_update(body: bytes) -> TracingKeys | Answer:
    """The keys an UpdateTracing body sets, or its 400 FSS.0400 answer."""
    try:
        document = json.loads(body)
    except (UnicodeDecodeError, ValueError):
        document = None
    if not isinstance(document, dict):
        return 400, error_body("FSS.0400", _NOT_AN_OBJECT)
    ak, sk = document.get("tracing_ak", ""), document.get("tracing_sk", "")
    if not (isinstance(ak, str) and isinstance(sk, str)):
        return 400, error_body("FSS.0400", _NOT_STRINGS)
    if bool(ak) != bool(sk):
        return 400, error_body("FSS.0400", _NOT_A_PAIR)
    return TracingKeys(ak, sk)


class TracingSettings:
    """Every function's tracing answer, changed by updates for the emulator's life."""

    def __init__(self, fleet: Fleet) -> None:
        self._fleet = fleet
        self._answers = {f.urn.unqualified: behaviour_answer(fleet, f) for f in fleet.functions}

    def answer(self, urn: FunctionUrn | None, raw_urn: str, project_id: str) -> Answer:
        """The tracing GET's answer: 400 FSS.1128 for no URN or another project's, 404 FSS.1051
        for a function the fleet does not have."""
        if urn is None or urn.project_id != project_id:
            return not_existed(raw_urn)
        return self._answers.get(urn.unqualified, NOT_FOUND)

    def update(self, urn: FunctionUrn | None, raw_urn: str, project_id: str, body: bytes) -> Answer:
        """UpdateTracing's answer, applying the body's keys when it is 200 (`UPDATED`)."""
        keys = parse_update(body)
        if not isinstance(keys, TracingKeys):
            return keys
        if urn is None or urn.project_id != project_id:
            return not_existed(raw_urn)
        function = self._fleet.lookup(urn.unqualified)
        if function is None or function.behaviour is Behaviour.DELETED:
            return not_existed(raw_urn)
        if function.behaviour is Behaviour.SERVER_ERROR:
            return SERVER_ERROR
        self._answers[urn.unqualified] = NO_KEYS if keys.turns_off else _configured(keys.ak)
        return UPDATED
