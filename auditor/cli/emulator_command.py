"""`auditor emulator`: serve the FunctionGraph + IAM emulator on 127.0.0.1 until stopped."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

from auditor.cli.console import EXIT_OK, EXIT_SIGNAL
from auditor.errors import UsageError


def emulator_command(args: argparse.Namespace) -> int:
    from auditor.emulator import (
        DEFAULT_AK,
        DEFAULT_DOMAIN,
        DEFAULT_PASSWORD,
        DEFAULT_SK,
        DEFAULT_TOKEN,
        DEFAULT_USER,
        EmulatorConfig,
        Fleet,
        parse_fault_spec,
        running_emulator,
    )

    if not 0 <= args.port <= 65535:
        raise UsageError(f"--port: {args.port} is not a port number")
    try:
        faults = dict(parse_fault_spec(spec) for spec in args.fault)
    except ValueError as exc:
        raise UsageError(f"--fault: {exc}") from None
    regions = tuple(r.strip() for r in args.regions.split(",") if r.strip())
    try:
        fleet = Fleet.generate(
            args.functions,
            seed=args.seed,
            projects=args.projects,
            regions=regions,
            generation=args.generation,
        )
    except ValueError as exc:
        raise UsageError(f"emulator: {exc}") from None
    if args.urns_out:
        try:
            Path(args.urns_out).write_text("\n".join(fleet.urns()) + "\n", encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"--urns-out {args.urns_out}: {exc.strerror or exc}") from None
    try:
        config = EmulatorConfig(
            token=args.token or DEFAULT_TOKEN,
            latency_ms=tuple(args.latency_ms) if args.latency_ms else (0.0, 0.0),
            rate_limit=args.rate_limit,
            faults=faults,
            fault_seed=args.fault_seed,
            retry_after_s=args.retry_after,
            reject_projects=frozenset(args.reject_project),
            token_lifetime_requests=args.token_lifetime_requests,
        )
    except ValueError as exc:
        raise UsageError(f"emulator: {exc}") from None

    # Even a test server's custom token is not echoed; only the well-known default is.
    shown_token = DEFAULT_TOKEN if config.token == DEFAULT_TOKEN else "<your --token>"

    async def serve() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in EXIT_SIGNAL:
            loop.add_signal_handler(signum, stop.set)
        try:
            async with running_emulator(fleet, config, port=args.port) as server:
                url = server.url
                print(
                    f"emulator: {len(fleet)} functions, projects {', '.join(fleet.project_ids)}\n"
                    f"serving {url} (Ctrl-C to stop); audit it with one of:\n"
                    f"  AUDITOR_TOKEN={shown_token} auditor audit URNS.txt --endpoint {url}\n"
                    f"  HUAWEICLOUD_SDK_AK={DEFAULT_AK} HUAWEICLOUD_SDK_SK={DEFAULT_SK} "
                    f"auditor audit URNS.txt --endpoint {url}\n"
                    f"  HUAWEICLOUD_USERNAME={DEFAULT_USER} "
                    f"HUAWEICLOUD_PASSWORD={DEFAULT_PASSWORD} "
                    f"HUAWEICLOUD_DOMAIN_NAME={DEFAULT_DOMAIN} "
                    f"auditor audit URNS.txt --endpoint {url} --iam-endpoint {url}",
                    flush=True,
                )
                await stop.wait()
        except OSError as exc:
            raise UsageError(f"--port {args.port}: {exc.strerror or exc}") from None

    asyncio.run(serve())
    return EXIT_OK
