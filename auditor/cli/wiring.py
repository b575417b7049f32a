"""Build the real things the core is handed: settings from flags and config, the credential
source, the HTTP session and client, and discovery over them."""

from __future__ import annotations

import argparse
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp

from auditor.cli.console import LOG
from auditor.config import Settings, load_config, pair_scopes, resolve_settings
from auditor.model import ProjectScope
from auditor.send.breaker import CredentialGuard
from auditor.send.discovery import Discoverer
from auditor.send.retry import RetryPolicy
from auditor.send.runner import Runner
from auditor.send.throttle import Throttles
from auditor.service.client import TracingClient
from auditor.service.credential_sources import (
    CredentialSource,
    choose_credentials,
    load_credentials_file,
)
from auditor.source.listing import Listing

CONNECTION_FLAGS = (
    "endpoint",
    "iam_endpoint",
    "rate",
    "concurrency",
    "timeout",
    "retries",
    "throttle_deadline",
    "credentials",
    "auth_failures",
)


def settings_from(args: argparse.Namespace, **more: Any) -> Settings:
    """The run's settings: defaults, then the `-c` config, then the flags given."""
    config = load_config(Path(args.config)) if getattr(args, "config", None) else {}
    flags = {key: getattr(args, key, None) for key in CONNECTION_FLAGS}
    # With --all-projects, --region narrows the listed projects instead of pairing.
    regions = [] if getattr(args, "all_projects", False) else getattr(args, "region", [])
    scopes = pair_scopes(getattr(args, "project", []), regions)
    flags |= {"projects": scopes or None, "only_supported": getattr(args, "only_supported", None)}
    return resolve_settings(
        config, flags | more, config_name=str(getattr(args, "config", None) or "config")
    )


def credential_source(env: Mapping[str, str], settings: Settings) -> CredentialSource:
    """The credentials the environment or the credentials file offer (a usage error if none)."""
    file = None
    if settings.credentials:
        file = load_credentials_file(Path(settings.credentials))
        if file.warning:
            LOG.warning("%s", file.warning)
    return choose_credentials(env, settings, file)


@asynccontextmanager
async def api_client(
    settings: Settings, source: CredentialSource, regions: Mapping[str, str]
) -> AsyncIterator[TracingClient]:
    """A client over a fresh session; `regions` maps each project id to its region."""
    connector = aiohttp.TCPConnector(limit=settings.concurrency, ttl_dns_cache=300)
    async with aiohttp.ClientSession(connector=connector) as session:
        yield TracingClient(
            session,
            source.build(session, regions),
            endpoint=settings.endpoint,
            endpoints=settings.endpoints,
            timeout=settings.timeout,
        )


def runner_for(
    client: TracingClient, settings: Settings, *, expected_aks: frozenset[str] | None = None
) -> Runner:
    """The worker pool and its policies as the settings say: the `--rate` ceiling and the rate
    controller, retries and the throttle deadline, the credential guard."""
    return Runner(
        client,
        Throttles(settings.rate or None),
        concurrency=settings.concurrency,
        policy=RetryPolicy(retries=settings.retries, throttle_deadline=settings.throttle_deadline),
        guard=CredentialGuard(settings.auth_failures),
        expected_aks=expected_aks,
    )


async def discover(
    settings: Settings, source: CredentialSource, scopes: Sequence[ProjectScope]
) -> list[Listing]:
    """List every scope's functions under the settings' rate, retries and credentials."""
    regions = {scope.project_id: scope.region for scope in scopes}
    async with api_client(settings, source, regions) as client:
        conduct = runner_for(client, settings)
        discoverer = Discoverer(client, conduct.throttles, conduct.policy, guard=conduct.guard)
        return await discoverer.discover(scopes)


def log_listings(listings: Sequence[Listing]) -> None:
    """One line per project: what was found, or why the listing is incomplete."""
    for listing in listings:
        scope = listing.scope
        found = f"{len(listing.functions)} functions in {listing.pages} pages"
        if listing.complete:
            LOG.info("discovered %s %s: %s", scope.project_id, scope.region, found)
        else:
            LOG.error(
                "discovery of %s %s is INCOMPLETE (%s so far): %s",
                scope.project_id,
                scope.region,
                found,
                listing.error,
            )
