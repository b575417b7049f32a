"""`auditor report`: rebuild reports from a journal or a JSON report, without the API."""

from __future__ import annotations

import argparse
from pathlib import Path

from auditor.cli.console import EXIT_OK, LOG
from auditor.config import resolve_settings
from auditor.errors import UsageError
from auditor.report.rebuild import rebuild_reports


def report_command(args: argparse.Namespace) -> int:
    settings = resolve_settings({}, {"format": args.format, "name": args.name})
    out = Path(args.out) if args.out else None
    try:
        source, paths = rebuild_reports(
            Path(args.source), settings.formats, out_dir=out, name=settings.name or None
        )
    except OSError as exc:
        where = out or Path(args.source).parent
        raise UsageError(f"cannot write reports to {where}: {exc.strerror or exc}") from None
    run = source.document.run
    if not run.get("complete", True):
        missing = run.get("not_audited_count", len(run.get("not_audited") or ()))
        LOG.warning(
            "partial report (%s not audited): to finish the run, repeat the audit with "
            "--resume and its journal",
            missing,
        )
    if not args.quiet:
        for path in paths:
            print(path)
    return EXIT_OK
