"""Resource limits: body size (413), page size caps, full-text query length, rate limits per
token with Retry-After (429), and the request timeout (503), each on every operation it applies
to where the OpenAPI document says which those are."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import replace

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from factmark.app import Database, create_app
from factmark.db import DatabaseUrls, create_engine
from factmark.settings import Settings
from tests.conftest import World
from tests.reliability import live
from tests.reliability.conftest import record_figures
from tests.reliability.openapi_ops import operations
from tests.reliability.valid_requests import url_of

RATE_LIMIT = 5
BODY_LIMIT = 64 * 1024


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return replace(settings, max_body_bytes=BODY_LIMIT)


@pytest.fixture
async def limited_client(
    settings: Settings, engine: AsyncEngine, sessionmaker: async_sessionmaker[AsyncSession]
) -> AsyncIterator[httpx.AsyncClient]:
    """A client of an app allowing each token RATE_LIMIT requests a minute."""
    app = create_app(
        replace(settings, api_rate_limit=RATE_LIMIT),
        Database(engine=engine, sessionmaker=sessionmaker, owned=False),
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


def _problem(response: httpx.Response, status: int, code: str | None = None) -> dict[str, object]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, object] = response.json()
    assert body["status"] == status
    if code is not None:
        assert body["code"] == code
    return body


def _with_query(name: str) -> list[str]:
    return [
        op.operation_id
        for op in operations()
        if any(p["in"] == "query" and p["name"] == name for p in op.operation.get("parameters", []))
    ]


async def test_a_body_over_the_limit_is_413_whether_its_length_is_declared_or_not(
    client: httpx.AsyncClient, world: World
) -> None:
    big = b'{"title": "T", "text": "' + b"x" * BODY_LIMIT + b'"}'
    declared = await client.post(
        "/api/v1/workspaces/acme/documents",
        content=big,
        headers={**world["editor"].headers, "Content-Type": "application/json"},
    )
    _problem(declared, 413, "payload_too_large")

    async def chunks() -> object:
        for start in range(0, len(big), 8192):
            yield big[start : start + 8192]

    streamed = await client.post(
        "/api/v1/workspaces/acme/documents",
        content=chunks(),  # type: ignore[arg-type]
        headers={**world["editor"].headers, "Content-Type": "application/json"},
    )
    _problem(streamed, 413, "payload_too_large")
    just_under = await client.post(
        "/api/v1/workspaces/acme/documents",
        json={"title": "T", "text": "x" * (BODY_LIMIT - 200)},
        headers=world["editor"].headers,
    )
    assert just_under.status_code == 201, just_under.text


async def test_page_size_is_capped_at_200_and_queries_at_500_characters(
    client: httpx.AsyncClient, world: World, resources: dict[str, str]
) -> None:
    headers = world["admin"].headers
    for op in operations():
        if op.operation_id not in _with_query("limit"):
            continue
        url = url_of(op, resources)
        for limit in (0, 201, 10_000, -1):
            _problem(await client.get(url, params={"limit": limit}, headers=headers), 422)
        response = await client.get(url, params={"limit": 200}, headers=headers)
        assert response.status_code == 200, (op.operation_id, response.text)
    for op in operations():
        if op.operation_id not in _with_query("q"):
            continue
        url = url_of(op, resources)
        refused = await client.get(url, params={"q": "budget " * 72}, headers=headers)
        body = _problem(refused, 422)
        assert [e["field"] for e in body["errors"]] == ["q"]  # type: ignore[attr-defined]
        accepted = await client.get(url, params={"q": "b" * 500}, headers=headers)
        assert accepted.status_code == 200, (op.operation_id, accepted.text)


def test_limits_apply_to_the_list_and_search_operations() -> None:
    assert {"listDocuments", "listClaims", "listWorkspaceAuditEvents"} <= set(_with_query("limit"))
    assert {"listDocuments", "listClaims"} <= set(_with_query("q"))


async def test_each_token_is_rate_limited_on_its_own_with_retry_after(
    limited_client: httpx.AsyncClient, world: World
) -> None:
    client = limited_client
    editor = world["editor"].headers
    statuses = [(await client.get("/api/v1/me", headers=editor)).status_code for _ in range(7)]
    assert statuses == [200] * RATE_LIMIT + [429, 429]
    limited = await client.get("/api/v1/workspaces/acme/claims", headers=editor)
    _problem(limited, 429, "rate_limited")
    assert 1 <= int(limited.headers["retry-after"]) <= 60
    # Another token of another user is counted apart, and so is every other token.
    assert (await client.get("/api/v1/me", headers=world["viewer"].headers)).status_code == 200
    # A write refused for the limit changes nothing.
    refused = await client.post(
        "/api/v1/workspaces/acme/documents", json={"title": "T", "text": "x"}, headers=editor
    )
    _problem(refused, 429, "rate_limited")
    record_figures("rate limit", requestsAllowed=RATE_LIMIT, thenStatus=429)


async def test_a_request_running_past_the_timeout_is_answered_503_and_writes_nothing(
    own_db: DatabaseUrls,
    seeded: live.SeededWorld,
    server_factory: Callable[..., live.LiveServer],
) -> None:
    """An honest slow request: another transaction holds the claim's row lock, so the PATCH
    (SELECT ... FOR UPDATE) waits past FACTMARK_REQUEST_TIMEOUT_SECONDS=1."""
    server = server_factory(FACTMARK_REQUEST_TIMEOUT_SECONDS="1")
    async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as client:
        editor = seeded.headers("editor")
        claims = await client.get("/api/v1/workspaces/demo/claims", headers=editor)
        claim = claims.json()["items"][0]
        engine = create_engine(own_db.owner, pool_size=1)
        try:
            async with engine.connect() as holder:
                await holder.execute(
                    text("SELECT 1 FROM claims WHERE id = CAST(:id AS uuid) FOR UPDATE"),
                    {"id": claim["id"]},
                )
                started = asyncio.get_running_loop().time()
                slow = await client.patch(
                    f"/api/v1/claims/{claim['id']}",
                    json={"statement": "Written after the timeout?"},
                    headers={**editor, "If-Match": f'"{claim["version"]}"'},
                )
                waited = asyncio.get_running_loop().time() - started
                await holder.rollback()
        finally:
            await engine.dispose()
        _problem(slow, 503, "request_timeout")
        assert slow.headers["retry-after"] == "1"
        assert 1 <= waited < 5
        after = await client.get(f"/api/v1/claims/{claim['id']}", headers=editor)
        assert after.json()["version"] == claim["version"]
        assert after.json()["statement"] == claim["statement"]
        # The server goes on: the next request on the same row is served at once.
        again = await client.patch(
            f"/api/v1/claims/{claim['id']}",
            json={"statement": "Written now."},
            headers={**editor, "If-Match": f'"{claim["version"]}"'},
        )
        assert again.status_code == 200, again.text
    record_figures("request timeout", timeoutSeconds=1, answeredAfterSeconds=round(waited, 2))
