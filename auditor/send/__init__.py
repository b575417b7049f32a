"""Stage 3, sending: how requests go out, at what rate, how often, and how many at once.

throttle.py      the `--rate` ceiling per endpoint and the learned rate per credential scope
rate_control.py  the rate controller: finds the gateway's limit (pure, on the loop clock)
retry.py         when to ask again, and how long to wait (pure)
breaker.py       the credential guard: probation, refusals and the breaker per scope
request.py       the one request path (`ask_once`, `ask`, `guarded`) under all of the above
runner.py        `Runner`: the bounded worker pool over the targets
discovery.py     `Discoverer`: every project's ListFunctions pages, through the same path
"""

from auditor.send.breaker import CredentialGuard
from auditor.send.discovery import Discoverer
from auditor.send.request import Request, RunTally, ask, ask_once
from auditor.send.retry import RetryPolicy
from auditor.send.runner import Runner
from auditor.send.throttle import Throttles

__all__ = [
    "CredentialGuard",
    "Discoverer",
    "Request",
    "RetryPolicy",
    "RunTally",
    "Runner",
    "Throttles",
    "ask",
    "ask_once",
]
