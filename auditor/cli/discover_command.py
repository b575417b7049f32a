"""`auditor discover`: list every function of projects via ListFunctions, without auditing."""

from __future__ import annotations

import argparse
import asyncio
import functools
import sys
from collections.abc import Mapping
from pathlib import Path

from auditor.cli.console import EXIT_FINDINGS, EXIT_OK
from auditor.cli.estate import discover_estate
from auditor.cli.wiring import credential_source, discover, log_listings, settings_from
from auditor.errors import UsageError
from auditor.model import tracing_supported
from auditor.report.inventory import INVENTORY_SUFFIXES, inventory_format, render_inventory
from auditor.report.writers import write_atomically
from auditor.source.listing import ListedFunction, Listing

NO_SCOPES = (
    "no projects to discover: give --project ID --region R (repeatable), "
    "or list [[projects]] with id and region in a config (-c)"
)


def discover_command(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    settings = settings_from(args)
    if not settings.projects and not args.all_projects:
        raise UsageError(NO_SCOPES)
    if (args.exclude_project or args.shard) and not args.all_projects:
        raise UsageError("--exclude-project and --shard go with --all-projects")
    fmt = inventory_format(args.output, args.format)
    if args.output:
        _check_output(Path(args.output), args.format)
    unreached = False
    if args.all_projects:
        _, estate, listings = discover_estate(settings, env, args)
        unreached = bool(estate.unreached)
    else:
        source = credential_source(env, settings)
        listings = asyncio.run(discover(settings, source, settings.projects))
        log_listings(listings)
    functions = kept_functions(listings, only_supported=settings.only_supported)
    render = functools.partial(render_inventory, listings, functions, fmt)
    if args.output:
        try:
            write_atomically(Path(args.output), render)
        except OSError as exc:
            raise UsageError(f"-o {args.output}: {exc.strerror or exc}") from None
    else:
        render(sys.stdout.buffer)
        sys.stdout.buffer.flush()
    if not args.quiet:
        found = sum(len(listing.functions) for listing in listings)
        shown = f", {len(functions)} with tracing support" if settings.only_supported else ""
        where = f" -> {args.output}" if args.output else ""
        print(
            f"discovered {found} functions in {len(listings)} projects{shown}{where}",
            file=sys.stderr,
        )
    complete = all(listing.complete for listing in listings) and not unreached
    return EXIT_OK if complete else EXIT_FINDINGS


def _check_output(path: Path, chosen: str | None) -> None:
    """Refuse an output that cannot be written, or whose suffix promises another format,
    before a single request is sent."""
    suffix = path.suffix.lower()
    if not chosen and suffix and suffix not in INVENTORY_SUFFIXES:
        raise UsageError(f"-o {path}: write .txt, .csv or .json (or name the format with --format)")
    if path.is_dir():
        raise UsageError(f"-o {path}: is a directory; name a file")
    if not path.parent.is_dir():
        raise UsageError(f"-o {path}: folder {path.parent} does not exist")


def kept_functions(listings: list[Listing], *, only_supported: bool) -> list[ListedFunction]:
    """Every listed function, or with `only_supported` those Huawei documents tracing for."""
    functions = [f for listing in listings for f in listing.functions]
    if only_supported:
        functions = [f for f in functions if tracing_supported(f.runtime, f.memory_size)]
    return functions
