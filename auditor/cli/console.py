"""What the user sees while a command runs: the progress bar or log lines, and log setup."""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import sys
import time
from typing import Any, TextIO

from auditor.cli.progress import Progress
from auditor.model import Row

EXIT_OK, EXIT_FINDINGS, EXIT_USAGE = 0, 1, 2
EXIT_SIGNAL = {signal.SIGINT: 130, signal.SIGTERM: 143}
LOG = logging.getLogger("auditor")
PROGRESS_LOG_EVERY = 10.0


class Console:
    """Progress: a redrawn bar on a terminal, a log line every 10 s otherwise."""

    def __init__(self, total: int, stream: TextIO, *, quiet: bool) -> None:
        self._stream = stream
        self._quiet = quiet
        self._tty = stream.isatty()
        self._progress = Progress(total, time.monotonic())
        self._last = 0.0
        self._interval = 0.1 if self._tty else PROGRESS_LOG_EVERY

    def on_row(self, row: Row) -> None:
        self._progress.add(row.status)
        now = time.monotonic()
        if not self._quiet and now - self._last >= self._interval:
            self._last = now
            self._show(now)

    def _show(self, now: float) -> None:
        if self._tty:
            self._stream.write("\r" + self._progress.line(now) + "\x1b[K")
            self._stream.flush()
        else:
            LOG.info("progress %s", self._progress.line(now))

    def finish(self) -> None:
        if self._quiet:
            return
        self._show(time.monotonic())
        if self._tty:
            self._stream.write("\n")
            self._stream.flush()


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(quiet: bool, log_format: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if log_format == "json":
        handler.setFormatter(_JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    LOG.handlers[:] = [handler]
    LOG.setLevel(logging.WARNING if quiet else logging.INFO)
    LOG.propagate = False


class SignalStop:
    """While in effect, SIGINT and SIGTERM set `stop` (the run finishes what is in flight and
    writes a partial report) and are remembered in `caught`, the first deciding the exit."""

    def __init__(self, doing: str) -> None:
        self.stop = asyncio.Event()
        self.caught: list[signal.Signals] = []
        self._doing = doing

    def __enter__(self) -> SignalStop:
        loop = asyncio.get_running_loop()
        for signum in EXIT_SIGNAL:
            loop.add_signal_handler(signum, self._on_signal, signum)
        return self

    def __exit__(self, *exc: object) -> None:
        loop = asyncio.get_running_loop()
        for signum in EXIT_SIGNAL:
            loop.remove_signal_handler(signum)

    @property
    def first(self) -> signal.Signals | None:
        return self.caught[0] if self.caught else None

    def _on_signal(self, signum: signal.Signals) -> None:
        if not self.caught:
            LOG.warning(
                "%s: finishing %s in flight, then a partial report", signum.name, self._doing
            )
        self.caught.append(signum)
        self.stop.set()
