"""`auditor emulator`: serve the FunctionGraph + IAM emulator on 127.0.0.1 until stopped."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path
from typing import TYPE_CHECKING

from auditor.cli.console import EXIT_OK, EXIT_SIGNAL
from auditor.errors import UsageError

if TYPE_CHECKING:
    from auditor.emulator import EmulatorConfig, Estate, Fault, Fleet, RateSchedule


def emulator_command(args: argparse.Namespace) -> int:
    from auditor.emulator import (
        DEFAULT_AK,
        DEFAULT_DOMAIN,
        DEFAULT_PASSWORD,
        DEFAULT_SK,
        DEFAULT_TOKEN,
        DEFAULT_USER,
        Fleet,
        running_emulator,
    )
    from auditor.emulator.ratelimit import describe

    if not 0 <= args.port <= 65535:
        raise UsageError(f"--port: {args.port} is not a port number")
    regions = tuple(r.strip() for r in args.regions.split(",") if r.strip())
    estate = emulator_estate(args, regions)
    try:
        if estate is not None:
            fleet = estate.fleet(args.functions, seed=args.seed, generation=args.generation)
        else:
            fleet = Fleet.generate(
                args.functions,
                seed=args.seed,
                projects=3 if args.projects is None else args.projects,
                regions=regions,
                generation=args.generation,
            )
    except ValueError as exc:
        raise UsageError(f"emulator: {exc}") from None
    config = emulator_config(args, fleet)
    if args.urns_out:
        try:
            Path(args.urns_out).write_text("\n".join(fleet.urns()) + "\n", encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"--urns-out {args.urns_out}: {exc.strerror or exc}") from None

    # Even a test server's custom token is not echoed; only the well-known default is.
    shown_token = DEFAULT_TOKEN if config.token == DEFAULT_TOKEN else "<your --token>"
    apm_ak, apm_sk = next(iter(config.apm_keys.items()))

    async def serve() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in EXIT_SIGNAL:
            loop.add_signal_handler(signum, stop.set)
        try:
            async with running_emulator(fleet, config, port=args.port, estate=estate) as server:
                url = server.url
                served = (
                    f"projects {', '.join(fleet.project_ids)}"
                    if estate is None
                    else describe_estate(estate)
                )
                print(
                    f"emulator: {len(fleet)} functions, {served}\n"
                    f"serving {url} (Ctrl-C to stop); audit it with one of:\n"
                    f"  AUDITOR_TOKEN={shown_token} auditor audit URNS.txt --endpoint {url}\n"
                    f"  HUAWEICLOUD_SDK_AK={DEFAULT_AK} HUAWEICLOUD_SDK_SK={DEFAULT_SK} "
                    f"auditor audit URNS.txt --endpoint {url}\n"
                    f"  HUAWEICLOUD_USERNAME={DEFAULT_USER} "
                    f"HUAWEICLOUD_PASSWORD={DEFAULT_PASSWORD} "
                    f"HUAWEICLOUD_DOMAIN_NAME={DEFAULT_DOMAIN} "
                    f"auditor audit URNS.txt --endpoint {url} --iam-endpoint {url}\n"
                    f"APM keys for auditor fix: AUDITOR_APM_AK={apm_ak} AUDITOR_APM_SK={apm_sk}\n"
                    f"{describe(config.limit_schedule, config.rate_limit_scope)}",
                    flush=True,
                )
                await stop.wait()
        except OSError as exc:
            raise UsageError(f"--port {args.port}: {exc.strerror or exc}") from None

    asyncio.run(serve())
    return EXIT_OK


def emulator_estate(args: argparse.Namespace, regions: tuple[str, ...]) -> Estate | None:
    """The `Estate` the `emulator` command's estate flags ask for (None without `--accounts`);
    `UsageError` (one line) for flags that do not make one."""
    from auditor.emulator import DEFAULT_AGENCY, DEFAULT_SUBPROJECTS, Estate

    if args.accounts is None:
        given = [
            flag
            for flag, value in (
                ("--subprojects", args.subprojects),
                ("--agency", args.agency),
                ("--refusing-account", args.refusing_account),
            )
            if value
        ]
        if given:
            raise UsageError(f"{given[0]}: it shapes an estate; add --accounts N")
        return None
    if args.projects is not None:
        raise UsageError(
            "--projects: an estate's projects are its regions and --subprojects; drop --projects"
        )
    subprojects = DEFAULT_SUBPROJECTS
    if args.subprojects is not None:
        subprojects = tuple(s.strip() for s in args.subprojects.split(",") if s.strip())
    try:
        return Estate.generate(
            args.accounts,
            seed=args.seed,
            regions=regions,
            subprojects=subprojects,
            agency_name=DEFAULT_AGENCY if args.agency is None else args.agency,
            refusing=frozenset(args.refusing_account),
        )
    except ValueError as exc:
        raise UsageError(f"emulator: {exc}") from None


def describe_estate(estate: Estate) -> str:
    """The estate in a few lines for people: its accounts, their ids and agencies (no secret:
    an agency's name is not one)."""
    home = estate.home
    names = ", ".join(p.name for p in home.projects)
    lines = [f"{len(estate.accounts)} accounts, each with projects {names}"]
    lines.append(f"  {home.name} {home.domain_id}: the home account, the credentials below")
    for account in estate.accounts[1:]:
        verdict = "trusts" if account.trusts_home else "refuses"
        lines.append(
            f"  {account.name} {account.domain_id}: its agency {account.agency_name} "
            f"{verdict} the home account"
        )
    lines.append("the home account's credentials work in its own projects only")
    return "\n".join(lines)


def emulator_config(args: argparse.Namespace, fleet: Fleet) -> EmulatorConfig:
    """The `EmulatorConfig` the `emulator` command's arguments ask for, serving `fleet`;
    `UsageError` (one line) for arguments that do not make one."""
    from auditor.emulator import DEFAULT_TOKEN, EmulatorConfig, parse_fault_spec

    try:
        faults = dict(parse_fault_spec(spec) for spec in args.fault)
    except ValueError as exc:
        raise UsageError(f"--fault: {exc}") from None
    try:
        return EmulatorConfig(
            token=args.token or DEFAULT_TOKEN,
            latency_ms=tuple(args.latency_ms) if args.latency_ms else (0.0, 0.0),
            rate_limit_schedule=_rate_limit_schedule(args),
            rate_limit_scope=args.rate_limit_scope,
            faults=faults,
            fault_seed=args.fault_seed,
            function_faults=_function_faults(args, fleet),
            fault_times=args.fault_times,
            retry_after_s=args.retry_after,
            reject_projects=frozenset(args.reject_project),
            token_lifetime_requests=args.token_lifetime_requests,
            mask_apm_sks=args.mask_apm_sk,
        )
    except ValueError as exc:
        raise UsageError(f"emulator: {exc}") from None


def _rate_limit_schedule(args: argparse.Namespace) -> RateSchedule:
    """`--rate-limit N` (the schedule `0:N`) or `--rate-limit-schedule`, checked; () for none."""
    from auditor.emulator import parse_schedule

    if args.rate_limit is not None and args.rate_limit_schedule is not None:
        raise UsageError(
            "--rate-limit and --rate-limit-schedule: give one (--rate-limit N is the same as "
            "--rate-limit-schedule 0:N)"
        )
    if args.rate_limit is not None:
        if args.rate_limit < 1:
            raise UsageError(f"--rate-limit: {args.rate_limit} must be >= 1 (omit it for none)")
        return ((0.0, args.rate_limit),)
    if args.rate_limit_schedule is None:
        return ()
    try:
        return parse_schedule(args.rate_limit_schedule)
    except ValueError as exc:
        raise UsageError(f"--rate-limit-schedule: {exc}") from None


def _function_faults(args: argparse.Namespace, fleet: Fleet) -> dict[str, Fault]:
    """`--function-fault NAME=SHARE ...`: that share of the fleet's functions, by --fault-seed."""
    from auditor.emulator import parse_fault_spec, pick_function_faults

    if args.fault_times is not None and not args.function_fault:
        raise UsageError("--fault-times: it counts --function-fault faults; add --function-fault")
    if args.fault_times is not None and args.fault_times < 0:
        raise UsageError(f"--fault-times: {args.fault_times} must be >= 0")
    try:
        shares = dict(parse_fault_spec(spec, "SHARE") for spec in args.function_fault)
        urns = [function.urn.unqualified for function in fleet.functions]
        return pick_function_faults(urns, shares, args.fault_seed)
    except ValueError as exc:
        raise UsageError(f"--function-fault: {exc}") from None
