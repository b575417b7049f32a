"""IAM's listing calls on an emulated estate: `GET /v3/auth/projects`, `/v3/projects` (paged)
and `/v3/auth/domains`, with tokens and with AK/SK signatures carrying `X-Domain-Id`; and the
single-account emulator, which has none of them."""

from __future__ import annotations

from collections import Counter

import aiohttp
import pytest
import yarl

from auditor.emulator import DEFAULT_TOKEN, MOS, RunningEmulator
from auditor.emulator.iam_listing import MAX_PER_PAGE
from tests.emulator.test_estate import (
    HOME,
    TRUSTING,
    call,
    domain_token,
    password_body,
    password_token,
    project_of,
    serve_estate,
    signed,
)
from tests.emulator.test_server import serve

UNAUTHENTICATED = {
    "error": {
        "code": 401,
        "message": "The request you have made requires authentication.",
        "title": "Unauthorized",
    }
}


def listed(body: dict[str, list[dict[str, object]]]) -> list[str]:
    return [str(p["name"]) for p in body["projects"]]


def test_auth_projects_lists_every_project_of_the_account_mos_included() -> None:
    async def scenario(emulator: RunningEmulator, session: aiohttp.ClientSession) -> None:
        token = await domain_token(session, emulator)
        url = f"{emulator.url}/v3/auth/projects"
        status, body, _ = await call(session, "GET", url, {"X-Auth-Token": token})
        assert status == 200
        assert listed(body) == [p.name for p in HOME.projects]
        assert MOS in listed(body)
        first = body["projects"][0]
        assert first == {
            "id": HOME.projects[0].id,
            "name": "cn-north-4",
            "domain_id": HOME.domain_id,
            "parent_id": HOME.domain_id,
            "enabled": True,
            "is_domain": False,
            "description": "",
            "links": {"self": f"{emulator.url}/v3/projects/{HOME.projects[0].id}"},
        }
        ops = next(p for p in body["projects"] if p["name"] == "cn-north-4_ops")
        assert ops["parent_id"] == first["id"]
        assert body["links"] == {"self": url}
        assert emulator.stats.iam_listing_requests == Counter({"/v3/auth/projects": 1})

    serve_estate(scenario)


def test_auth_projects_and_domains_take_any_token_of_the_account() -> None:
    async def scenario(emulator: RunningEmulator, session: aiohttp.ClientSession) -> None:
        project_id = project_of(HOME, "ap-southeast-1_ops")
        scoped = await password_token(session, emulator, {"project": {"id": project_id}})
        for token in (scoped, DEFAULT_TOKEN):
            headers = {"X-Auth-Token": token}
            status, body, _ = await call(
                session, "GET", f"{emulator.url}/v3/auth/projects", headers
            )
            assert (status, listed(body)) == (200, [p.name for p in HOME.projects])
            status, body, _ = await call(session, "GET", f"{emulator.url}/v3/auth/domains", headers)
            assert status == 200
            assert body["domains"] == [
                {
                    "id": HOME.domain_id,
                    "name": HOME.name,
                    "enabled": True,
                    "description": "",
                    "links": {"self": f"{emulator.url}/v3/domains/{HOME.domain_id}"},
                }
            ]
        # /v3/projects wants a domain-wide credential: a project's token is not one.
        status, body, _ = await call(
            session, "GET", f"{emulator.url}/v3/projects", {"X-Auth-Token": scoped}
        )
        assert (status, body["error"]["code"], body["error"]["title"]) == (403, 403, "Forbidden")
        assert "domain-scoped" in body["error"]["message"]

    serve_estate(scenario)


def test_projects_filters_by_name_and_pages() -> None:
    async def scenario(emulator: RunningEmulator, session: aiohttp.ClientSession) -> None:
        headers = {"X-Auth-Token": await domain_token(session, emulator)}
        base = f"{emulator.url}/v3/projects"
        status, body, _ = await call(session, "GET", base, headers)
        assert (status, listed(body)) == (200, [p.name for p in HOME.projects])
        assert body["links"] == {"self": base, "previous": None, "next": None}
        status, body, _ = await call(session, "GET", f"{base}?name=cn-north-4_ops", headers)
        assert listed(body) == ["cn-north-4_ops"]
        status, body, _ = await call(session, "GET", f"{base}?name=MOS", headers)
        assert [p["id"] for p in body["projects"]] == [project_of(HOME, MOS)]
        root = HOME.projects[0]
        status, body, _ = await call(session, "GET", f"{base}?parent_id={root.id}", headers)
        assert listed(body) == ["cn-north-4_ops"]
        status, body, _ = await call(
            session, "GET", f"{base}?domain_id={TRUSTING.domain_id}", headers
        )
        assert listed(body) == []
        pages = []
        for page in (1, 2, 3, 4):
            status, body, _ = await call(session, "GET", f"{base}?page={page}&per_page=2", headers)
            assert status == 200
            pages.append(listed(body))
            if page == 1:
                assert body["links"]["previous"] is None
                assert body["links"]["next"] == f"{base}?page=2&per_page=2"
            if page == 3:
                assert body["links"]["previous"] == f"{base}?page=2&per_page=2"
                assert body["links"]["next"] is None
        assert pages[:3] == [
            ["cn-north-4", "cn-north-4_ops"],
            ["ap-southeast-1", "ap-southeast-1_ops"],
            [MOS],
        ]
        assert pages[3] == []
        status, body, _ = await call(
            session, "GET", f"{base}?page=1&per_page={MAX_PER_PAGE}", headers
        )
        assert len(body["projects"]) == len(HOME.projects)

    serve_estate(scenario)


@pytest.mark.parametrize(
    "query",
    [
        "page=1",
        "per_page=2",
        "page=0&per_page=2",
        f"page=1&per_page={MAX_PER_PAGE + 1}",
        "page=x&per_page=1",
    ],
)
def test_projects_refuses_paging_iam_would_not_take(query: str) -> None:
    async def scenario(emulator: RunningEmulator, session: aiohttp.ClientSession) -> None:
        headers = {"X-Auth-Token": DEFAULT_TOKEN}
        status, body, _ = await call(session, "GET", f"{emulator.url}/v3/projects?{query}", headers)
        assert (status, body["error"]["code"]) == (400, 400)
        assert "per_page" in body["error"]["message"]

    serve_estate(scenario)


def test_signed_listing_takes_the_keys_account_from_x_domain_id_or_the_key() -> None:
    async def scenario(emulator: RunningEmulator, session: aiohttp.ClientSession) -> None:
        for path in ("/v3/auth/projects", "/v3/projects?name=cn-north-4", "/v3/auth/domains"):
            url = yarl.URL(emulator.url + path)
            status, body, _ = await call(session, "GET", url, signed(url, domain_id=HOME.domain_id))
            assert status == 200, path
        # Without X-Domain-Id, as Huawei's SDKs ask for the domain id: the key's own account.
        url = yarl.URL(f"{emulator.url}/v3/auth/domains")
        status, body, _ = await call(session, "GET", url, signed(url))
        assert (status, [d["id"] for d in body["domains"]]) == (200, [HOME.domain_id])
        url = yarl.URL(f"{emulator.url}/v3/auth/projects")
        for _ in range(2):
            headers = signed(url, domain_id=TRUSTING.domain_id)
            status, body, _ = await call(session, "GET", url, headers)
            assert (status, body["error_code"]) == (401, "APIG.0301")
            assert "x-domain-id" in body["error_msg"]
        status, body, _ = await call(
            session, "GET", url, signed(url, domain_id=HOME.domain_id, sk="wrong")
        )
        assert (status, body["error_msg"]) == (
            401,
            "Incorrect IAM authentication information: verify aksk signature fail",
        )
        stats = emulator.stats
        assert stats.iam_auth_failures == 3
        assert stats.iam_listing_requests == Counter(
            {"/v3/auth/projects": 4, "/v3/projects": 1, "/v3/auth/domains": 2}
        )
        assert stats.requests == 7

    serve_estate(scenario)


def test_listing_without_valid_credentials_is_401_in_iams_shape() -> None:
    async def scenario(emulator: RunningEmulator, session: aiohttp.ClientSession) -> None:
        url = f"{emulator.url}/v3/auth/projects"
        for headers in ({}, {"X-Auth-Token": "not-a-token"}):
            status, body, _ = await call(session, "GET", url, headers)
            assert (status, body) == (401, UNAUTHENTICATED)
        assert emulator.stats.iam_auth_failures == 2

    serve_estate(scenario)


def test_the_single_account_emulator_has_no_listing_and_no_domain_tokens() -> None:
    async def scenario(emulator: RunningEmulator, session: aiohttp.ClientSession) -> None:
        headers = {"X-Auth-Token": DEFAULT_TOKEN}
        for path in ("/v3/auth/projects", "/v3/projects", "/v3/auth/domains"):
            status, body, _ = await call(session, "GET", emulator.url + path, headers)
            assert (status, body["error_code"]) == (404, "APIG.0101")
        url = f"{emulator.url}/v3.0/OS-CREDENTIAL/securitytokens"
        assert (await call(session, "POST", url, headers, body={}))[0] == 404
        scope = {"domain": {"name": "emulator-domain"}}
        status, body, _ = await call(
            session, "POST", f"{emulator.url}/v3/auth/tokens", body=password_body(scope)
        )
        assert (status, body["error"]["code"]) == (400, 400)
        async with session.get(emulator.url + "/_emulator/stats") as response:
            summary = await response.json()
        assert "estate" not in summary
        assert emulator.stats.estate_served is False

    serve(scenario)
