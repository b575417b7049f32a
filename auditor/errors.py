"""Every exception `auditor` raises on purpose.

Outcomes of an audit (a 404, a throttled function, a bad row) are *data*, not exceptions.
Exceptions are for bugs and for problems that stop the whole run before anything is audited::

    AuditorError       base: catch this to handle anything the tool raises on purpose
    ├── UsageError     a bad option or option value (exit 2)
    ├── ConfigError    an unreadable or invalid TOML config or credentials file (exit 2)
    ├── InputError     an input that cannot be read or holds no usable column (exit 2)
    ├── HistoryError   the history store cannot be opened, is newer than this auditor, or
    │                  refuses a write (exit 2 before a run; after one, reports stand)
    ├── InvalidUrn     one entry is not a function URN; inputs turn it into an
    │                  `invalid_urn` row, so it never stops a run
    ├── CredentialsUnavailable
    │                  no credential can be had for one project (IAM refused, no token for
    │                  it); the client turns it into an `auth_failed` answer, never a crash
    └── IamError       an IAM call of the estate (listing an account's projects or its domain,
        │              assuming an agency) failed: that account cannot be listed
        └── AgencyRefused
                       an account's agency refused to be assumed (403): the caller reports
                       that account and carries on with the others

Every message says what was wrong and, where it helps, what to do. No message ever contains a
secret: messages are built from file names, option names, URNs, account and agency names, and
IAM's own error message with any credential it echoes blotted out.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


class AuditorError(Exception):
    """Base class of every error `auditor` raises on purpose."""


class UsageError(AuditorError):
    """A command-line option or its value is wrong."""


class ConfigError(AuditorError):
    """A configuration or credentials file cannot be read or is invalid."""


class InputError(AuditorError):
    """An input file cannot be read, or holds nothing that looks like a URN column."""


class HistoryError(AuditorError):
    """The history store (`--history`) cannot be opened, read or written."""


class InvalidUrn(AuditorError):
    """A string is not a valid FunctionGraph function URN; the message says why."""


class CredentialsUnavailable(AuditorError):
    """No credential can be had for a project; the message says why (never the secret).

    `lasting` is False when asking again later may help (IAM throttled or did not answer);
    credential caches remember only lasting refusals, so they never ask IAM again for those.
    """

    def __init__(self, message: str, *, lasting: bool = True) -> None:
        super().__init__(message)
        self.lasting = lasting


class IamError(AuditorError):
    """An IAM call of the estate failed; the message names the call, IAM's answer and what to
    do. `account` names the account it was for ("" for the credentials' own), `status` and
    `code` are IAM's HTTP status and error code (None and "" when IAM did not answer), and
    `transient` says whether the same call may succeed later (throttled, 5xx, no answer)."""

    def __init__(
        self,
        message: str,
        *,
        account: str = "",
        status: int | None = None,
        code: str = "",
        transient: bool = False,
    ) -> None:
        super().__init__(message)
        self.account = account
        self.status = status
        self.code = code
        self.transient = transient


class AgencyRefused(IamError):
    """The agency of `account` refused to be assumed (IAM answered 403 or 404): the agency
    does not exist, does not trust these credentials, or the user may not assume it."""


@contextmanager
def reading(
    where: str,
    error: type[AuditorError] = InputError,
    *,
    hint: str = "",
    directory: str = "is a directory",
) -> Iterator[None]:
    """Turn the ways a file cannot be opened or decoded into one-line `error`s naming `where`
    (`hint` says what to give instead). The one translator of file errors: every reader of a
    user's file goes through it, so each says the same thing the same way."""
    tail = f"; {hint}" if hint else ""
    try:
        yield
    except FileNotFoundError:
        raise error(f"{where}: no such file") from None
    except IsADirectoryError:
        raise error(f"{where}: {directory}{tail}") from None
    except PermissionError:
        raise error(f"{where}: permission denied") from None
    except UnicodeDecodeError:
        raise error(f"{where}: is not UTF-8 text{tail or '; save it as UTF-8'}") from None
    except OSError as exc:
        raise error(f"{where}: cannot be read ({exc.strerror or exc})") from None


def read_toml(
    where: str, path: Path, *, quote_errors: bool = True, kind: str = "TOML file"
) -> dict[str, Any]:
    """A TOML file as a dict; every problem a one-line `ConfigError` naming `where`. With
    `quote_errors=False` the parser's message is left out: it may quote the file's text, and
    a file of secrets must not reach a log."""
    directory = f"is a directory, not a {kind}"
    with reading(where, ConfigError, directory=directory), path.open("rb") as stream:
        try:
            return tomllib.load(stream)
        except tomllib.TOMLDecodeError as exc:
            detail = f" ({exc})" if quote_errors else ""
            raise ConfigError(f"{where}: invalid TOML{detail}") from None
