"""`auditor diff OLD.json NEW.json`: what changed between two audits, without the API."""

from __future__ import annotations

import argparse
from datetime import datetime
from pathlib import Path

from auditor.cli.console import EXIT_FINDINGS, EXIT_OK
from auditor.config import resolve_settings
from auditor.errors import UsageError
from auditor.model import Change
from auditor.report.diff import DiffResult, diff_reports
from auditor.report.writers import write_reports
from auditor.verdict.exemptions import load_exemptions

SHOWN = 20  # changed URNs listed on the console per kind; the reports list them all


def diff_command(args: argparse.Namespace) -> int:
    settings = resolve_settings(
        {}, {"format": args.format, "name": args.name, "fail_on": args.fail_on or "regressed"}
    )
    exemptions = load_exemptions(Path(args.exemptions)) if args.exemptions else None
    old, new = Path(args.old), Path(args.new)
    result = diff_reports(
        old,
        new,
        exemptions=exemptions,
        today=datetime.now().date(),
        fail_on=settings.fail_on,
        fail_on_changes=settings.fail_on_changes,
    )
    out = Path(args.out) if args.out else new.parent
    name = settings.name or f"{result.name}-diff"
    for fmt in settings.formats:
        target = out / f"{name}.{fmt}"
        if target.exists() and any(target.samefile(p) for p in (old, new) if p.exists()):
            raise UsageError(f"{target} is one of the reports compared; give another --name")
    try:
        paths = write_reports(result.document, out, name, settings.formats)
    except OSError as exc:
        raise UsageError(f"cannot write reports to {out}: {exc.strerror or exc}") from None
    if not args.quiet:
        for line in diff_lines(result):
            print(line)
        print("\nreports:")
        for path in paths:
            print(f"  {path}")
    return EXIT_FINDINGS if result.failing else EXIT_OK


def diff_lines(result: DiffResult) -> list[str]:
    """The counts of each change, then the URNs of each change but `unchanged`."""
    comparison = result.comparison
    lines = [f"changes since {comparison.baseline} ({comparison.baseline_started_at or '?'}):"]
    lines += [f"  {change:<10} {count:>9,}" for change, count in comparison.counts.items()]
    for change in (Change.REGRESSED, Change.FIXED, Change.NEW, Change.GONE):
        entries = [e for e in comparison.entries if e.change is change]
        if not entries:
            continue
        lines.append(f"\n{change.value}:")
        for entry in entries[:SHOWN]:
            was = entry.previous.value if entry.previous else "-"
            now = entry.current.value if entry.current else "-"
            lines.append(f"  {entry.urn}  {was} -> {now}")
        if len(entries) > SHOWN:
            lines.append(f"  ... and {len(entries) - SHOWN} more (see the reports)")
    if result.exemptions is not None:
        lines.append(f"\nexempt: {result.exemptions.exempt_rows} findings")
    return lines
