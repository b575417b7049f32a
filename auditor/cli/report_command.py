"""`auditor report`: rebuild reports from a journal or a JSON report, without the API."""

from __future__ import annotations

import argparse
from pathlib import Path

from auditor.cli.console import EXIT_OK, LOG
from auditor.config import resolve_settings
from auditor.errors import UsageError
from auditor.report.merge import merge_sources
from auditor.report.rebuild import rebuild_reports
from auditor.report.writers import write_reports


def report_command(args: argparse.Namespace) -> int:
    settings = resolve_settings({}, {"format": args.format, "name": args.name})
    out = Path(args.out) if args.out else None
    if args.merge:
        return _merge(args, settings.formats, settings.name)
    if len(args.sources) > 1:
        raise UsageError("several sources: give --merge to merge an estate's shards into one")
    path = Path(args.sources[0])
    try:
        source, paths = rebuild_reports(
            path, settings.formats, out_dir=out, name=settings.name or None
        )
    except OSError as exc:
        where = out or path.parent
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


def _merge(args: argparse.Namespace, formats: tuple[str, ...], name: str) -> int:
    """`auditor report --merge SHARD.json...`: one consolidated report."""
    document, warnings = merge_sources([Path(source) for source in args.sources])
    for warning in warnings:
        LOG.warning("%s", warning)
    out = Path(args.out) if args.out else Path(args.sources[0]).parent
    base = name or "merged-" + Path(args.sources[0]).stem
    sources = {Path(source).resolve() for source in args.sources}
    if any((out / f"{base}.{fmt}").resolve() in sources for fmt in formats):
        raise UsageError(f"--name {base} would overwrite a source; give another --name or -o")
    try:
        paths = write_reports(document, out, base, formats)
    except OSError as exc:
        raise UsageError(f"cannot write reports to {out}: {exc.strerror or exc}") from None
    if not args.quiet:
        for path in paths:
            print(path)
    return EXIT_OK
