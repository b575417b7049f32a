"""The command line: the only package that reads argv and the environment, prints, or exits.

Each command is a short wrapper in its own module: it builds the real session, client,
throttles and credentials, hands them to the library, and turns `AuditorError`s into one-line
messages and exit codes.

parser.py             the argument parser of every command
console.py            printing, logging and the exit codes
progress.py           the progress bar on a terminal
wiring.py             settings, credentials, session, client and throttles from argv and env
estate.py             `--all-projects` and `[[accounts]]`: projects listed, credentials that
                      reach each one, `--shard`
audit_command.py      `auditor audit`        demo_command.py      `auditor demo`
discover_command.py   `auditor discover`     report_command.py    `auditor report`
diff_command.py       `auditor diff`         history_command.py   `auditor history`
fix_command.py        `auditor fix`          emulator_command.py  `auditor emulator`
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Sequence

from auditor.cli.audit_command import audit_command
from auditor.cli.console import EXIT_OK, EXIT_SIGNAL, EXIT_USAGE, configure_logging
from auditor.cli.demo_command import demo_command
from auditor.cli.diff_command import diff_command
from auditor.cli.discover_command import discover_command
from auditor.cli.emulator_command import emulator_command
from auditor.cli.fix_command import fix_command
from auditor.cli.history_command import history_command
from auditor.cli.parser import build_parser
from auditor.cli.report_command import report_command
from auditor.errors import AuditorError

__all__ = ["build_parser", "main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code."""
    args = build_parser().parse_args(argv)
    configure_logging(args.quiet, args.log_format)
    try:
        if args.command == "audit":
            return audit_command(args, os.environ)
        if args.command == "discover":
            return discover_command(args, os.environ)
        if args.command == "diff":
            return diff_command(args)
        if args.command == "demo":
            return demo_command(args)
        if args.command == "report":
            return report_command(args)
        if args.command == "history":
            return history_command(args)
        if args.command == "fix":
            return fix_command(args, os.environ, sys.stdin)
        return emulator_command(args)
    except AuditorError as exc:
        print(f"auditor: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return EXIT_SIGNAL[signal.SIGINT]
    except BrokenPipeError:
        # The reader went away (`auditor discover | head`): stop quietly, like other tools.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_OK
