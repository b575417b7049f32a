"""IAM's HTTP side: each IAM route of the emulator, from an aiohttp request to its answer.

`IamRoutes.tokens` serves `POST /v3/auth/tokens` (`iam.Iam`'s password tokens, or, with an
estate, `agency.Agencies`' agency tokens for the `assume_role` method); with an estate,
`IamRoutes.estate_routes` adds the listing calls (`iam_listing`) and temporary keys
(`POST /v3.0/OS-CREDENTIAL/securitytokens`). Each call is counted in `Stats` here; the server
adds what every answer gets (its request id, latency, its status counted).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping

from aiohttp import web

from auditor.emulator.agency import Agencies
from auditor.emulator.auth import Caller, CredentialCheck, WallClock
from auditor.emulator.config import EmulatorConfig
from auditor.emulator.estate import Estate
from auditor.emulator.faults import Answer
from auditor.emulator.iam import Iam, identity_methods
from auditor.emulator.iam_listing import IamListing
from auditor.emulator.stats import Stats

IamCall = Callable[[web.Request], Awaitable[tuple[Answer, dict[str, str]]]]


class IamRoutes:
    """The IAM calls one emulator serves; `now` is the loop clock (for access key locks)."""

    def __init__(
        self,
        config: EmulatorConfig,
        stats: Stats,
        credentials: CredentialCheck,
        project_names: Mapping[str, str],
        *,
        wall_clock: WallClock,
        now: Callable[[], float],
        estate: Estate | None = None,
    ) -> None:
        self._stats = stats
        self._credentials = credentials
        self._now = now
        self._iam = Iam(config, project_names, credentials, stats, wall_clock, estate=estate)
        self._agencies = (
            Agencies(config, estate, credentials, stats, wall_clock) if estate is not None else None
        )
        self._listing = IamListing(estate) if estate is not None else None

    def estate_routes(self) -> list[tuple[str, str, IamCall]]:
        """`(method, path, call)` of the routes only an estate has; none without one."""
        if self._listing is None:
            return []
        return [
            ("GET", "/v3/auth/projects", self._auth_projects),
            ("GET", "/v3/projects", self._projects),
            ("GET", "/v3/auth/domains", self._auth_domains),
            ("POST", "/v3.0/OS-CREDENTIAL/securitytokens", self._security_tokens),
        ]

    async def tokens(self, request: web.Request) -> tuple[Answer, dict[str, str]]:
        """`POST /v3/auth/tokens`: a password token, or an agency token (estate only)."""
        self._stats.requests += 1
        self._stats.iam_requests += 1
        catalog = request.query.get("nocatalog", "").lower() != "true"
        body = await request.read()
        if self._agencies is None or "assume_role" not in identity_methods(body):
            return self._iam.issue(body, catalog=catalog)
        # Only a token may assume a role here; temporary keys may also be asked with a signature.
        caller = await self._caller(request, token_only=True)
        return self._agencies.token(body, caller, catalog=catalog)

    async def _caller(self, request: web.Request, *, token_only: bool = False) -> Caller | Answer:
        return self._credentials.iam_caller(
            method=request.method,
            url=str(request.url),
            headers=request.headers,
            body=await request.read(),
            now=self._now(),
            token_only=token_only,
        )

    async def _listed(
        self, request: web.Request, answer_for: Callable[[Caller, str], Answer]
    ) -> tuple[Answer, dict[str, str]]:
        """One listing call: counted, its caller judged, then `answer_for(caller, origin)`."""
        self._stats.requests += 1
        self._stats.iam_listing_requests[request.path] += 1
        caller = await self._caller(request)
        if not isinstance(caller, Caller):
            return caller, {}
        return answer_for(caller, f"{request.scheme}://{request.host}"), {}

    async def _auth_projects(self, request: web.Request) -> tuple[Answer, dict[str, str]]:
        assert self._listing is not None  # the route exists with an estate only
        return await self._listed(request, self._listing.auth_projects)

    async def _projects(self, request: web.Request) -> tuple[Answer, dict[str, str]]:
        listing = self._listing
        assert listing is not None
        return await self._listed(
            request, lambda caller, origin: listing.projects(caller, request.query, origin)
        )

    async def _auth_domains(self, request: web.Request) -> tuple[Answer, dict[str, str]]:
        assert self._listing is not None
        return await self._listed(request, self._listing.auth_domains)

    async def _security_tokens(self, request: web.Request) -> tuple[Answer, dict[str, str]]:
        assert self._agencies is not None
        self._stats.requests += 1
        self._stats.security_token_requests += 1
        body = await request.read()
        return self._agencies.temporary_keys(body, await self._caller(request)), {}
