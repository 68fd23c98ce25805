"""Login and the token lifecycle: issue, use, expire, revoke; tokens stored only as hashes."""

from __future__ import annotations

import dataclasses
import secrets
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import text, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from factmark.accounts.models import ApiToken
from factmark.app import Database, create_app
from factmark.settings import Settings
from tests.conftest import World

PASSWORD = "correct horse battery"  # conftest.make_user's password


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def login(client: httpx.AsyncClient, email: str, password: str = PASSWORD) -> httpx.Response:
    return await client.post("/api/v1/auth/login", json={"email": email, "password": password})


async def test_login_returns_a_token_that_identifies_the_caller(
    client: httpx.AsyncClient, world: World
) -> None:
    response = await login(client, "Editor@Acme.test")
    assert response.status_code == 201, response.text
    issued = response.json()
    assert issued["token"].startswith("fm_")
    assert issued["expiresAt"] is not None  # login tokens expire (token_ttl_days)

    me = await client.get("/api/v1/me", headers=bearer(issued["token"]))
    assert me.status_code == 200, me.text
    body = me.json()
    assert body["email"] == "editor@acme.test"
    assert body["kind"] == "user"
    assert body["workspaces"] == [
        {
            "workspaceId": str(world.workspace_id),
            "slug": "acme",
            "name": "Acme",
            "role": "editor",
        }
    ]


async def test_login_with_wrong_password_returns_401_problem(
    client: httpx.AsyncClient, world: World
) -> None:
    response = await login(client, "editor@acme.test", "wrong password")
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "invalid_credentials"
    assert "www-authenticate" in response.headers


async def test_login_with_unknown_email_returns_the_same_401(
    client: httpx.AsyncClient, world: World
) -> None:
    response = await login(client, "ghost@acme.test")
    assert response.status_code == 401
    assert response.json()["code"] == "invalid_credentials"


async def test_requests_without_or_with_a_bad_token_get_401(
    client: httpx.AsyncClient, world: World
) -> None:
    assert (await client.get("/api/v1/me")).status_code == 401
    unknown = await client.get("/api/v1/me", headers=bearer("fm_" + "x" * 43))
    assert unknown.status_code == 401
    assert unknown.json()["code"] == "invalid_token"
    basic = await client.get("/api/v1/me", headers={"Authorization": "Basic Zm9vOmJhcg=="})
    assert basic.status_code == 401
    assert basic.headers["content-type"] == "application/problem+json"


async def test_expired_token_gets_401(
    client: httpx.AsyncClient, world: World, session: AsyncSession
) -> None:
    token = (await login(client, "viewer@acme.test")).json()
    assert (await client.get("/api/v1/me", headers=bearer(token["token"]))).status_code == 200
    await session.execute(
        update(ApiToken)
        .where(ApiToken.id == uuid.UUID(token["id"]))
        .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
    )
    await session.commit()

    response = await client.get("/api/v1/me", headers=bearer(token["token"]))
    assert response.status_code == 401
    assert response.json()["code"] == "token_expired"


async def test_revoked_token_gets_401_and_other_tokens_keep_working(
    client: httpx.AsyncClient, world: World
) -> None:
    first = (await login(client, "viewer@acme.test")).json()
    second = (await login(client, "viewer@acme.test")).json()

    revoked = await client.delete(f"/api/v1/tokens/{first['id']}", headers=bearer(second["token"]))
    assert revoked.status_code == 204, revoked.text

    response = await client.get("/api/v1/me", headers=bearer(first["token"]))
    assert response.status_code == 401
    assert response.json()["code"] == "token_revoked"
    assert (await client.get("/api/v1/me", headers=bearer(second["token"]))).status_code == 200

    listed = await client.get("/api/v1/tokens", headers=bearer(second["token"]))
    by_id = {t["id"]: t for t in listed.json()["items"]}
    assert by_id[first["id"]]["revokedAt"] is not None
    assert by_id[second["id"]]["revokedAt"] is None
    assert all("token" not in t for t in listed.json()["items"])


async def test_a_token_can_revoke_itself(client: httpx.AsyncClient, world: World) -> None:
    token = (await login(client, "viewer@acme.test")).json()
    response = await client.delete(f"/api/v1/tokens/{token['id']}", headers=bearer(token["token"]))
    assert response.status_code == 204
    assert (await client.get("/api/v1/me", headers=bearer(token["token"]))).status_code == 401


async def test_another_users_token_cannot_be_revoked(
    client: httpx.AsyncClient, world: World
) -> None:
    victim = (await login(client, "viewer@acme.test")).json()
    response = await client.delete(f"/api/v1/tokens/{victim['id']}", headers=world["admin"].headers)
    assert response.status_code == 404
    assert (await client.get("/api/v1/me", headers=bearer(victim["token"]))).status_code == 200


async def test_personal_token_created_through_the_api_works_and_is_listed(
    client: httpx.AsyncClient, world: World
) -> None:
    created = await client.post(
        "/api/v1/tokens",
        json={"name": "laptop", "expiresInDays": 7},
        headers=world["reviewer"].headers,
    )
    assert created.status_code == 201, created.text
    issued = created.json()
    assert issued["name"] == "laptop"
    assert (await client.get("/api/v1/me", headers=bearer(issued["token"]))).status_code == 200
    listed = (await client.get("/api/v1/tokens", headers=world["reviewer"].headers)).json()
    assert issued["id"] in {t["id"] for t in listed["items"]}


async def test_tokens_are_stored_only_as_hashes(
    client: httpx.AsyncClient, world: World, session: AsyncSession
) -> None:
    issued = [(await login(client, "editor@acme.test")).json()]
    created = await client.post(
        "/api/v1/tokens", json={"name": "script"}, headers=world["editor"].headers
    )
    issued.append(created.json())
    service = await client.post(
        "/api/v1/workspaces/acme/tokens",
        json={"name": "exporter", "role": "viewer"},
        headers=world["admin"].headers,
    )
    issued.append(service.json())
    tokens_table = "\n".join(
        (await session.execute(text("SELECT t::text FROM api_tokens t"))).scalars()
    )
    audit = "\n".join(
        (
            await session.execute(
                text(
                    "SELECT coalesce(before::text, '') || coalesce(after::text, '') "
                    "FROM audit_events"
                )
            )
        ).scalars()
    )
    for token in issued:
        plaintext = token["token"]
        secret = plaintext[len("fm_") :]
        assert secret not in tokens_table
        assert secret not in audit
        assert plaintext[10:30] not in tokens_table
    # ... and the audit trail recorded the token rows without their hash.
    token_events = (
        await session.execute(
            text("SELECT after FROM audit_events WHERE entity_type = 'token' AND after IS NOT NULL")
        )
    ).scalars()
    afters = list(token_events)
    assert afters
    assert all("token_hash" not in after for after in afters)


@pytest.fixture
async def strict_client(
    settings: Settings, engine: AsyncEngine, sessionmaker: async_sessionmaker[AsyncSession]
) -> AsyncIterator[httpx.AsyncClient]:
    """A client of an app that allows only three login attempts per email and window."""
    strict = dataclasses.replace(settings, login_rate_limit=3, rate_limit_window_seconds=3600)
    app = create_app(strict, Database(engine=engine, sessionmaker=sessionmaker, owned=False))
    # Its own client address, so that the per-address login window is fresh too.
    address = f"10.{secrets.randbelow(256)}.{secrets.randbelow(256)}.{secrets.randbelow(256)}"
    transport = httpx.ASGITransport(app=app, client=(address, 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


async def test_login_is_rate_limited_per_email_with_retry_after(
    strict_client: httpx.AsyncClient, world: World
) -> None:
    # Windows are counted in their own committed transactions: a fresh email keeps runs apart.
    email = f"rate-{uuid.uuid4().hex}@acme.test"
    statuses = [(await login(strict_client, email, "whatever")).status_code for _ in range(3)]
    assert statuses == [401, 401, 401]
    response = await login(strict_client, email, "whatever")
    assert response.status_code == 429
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "rate_limited"
    assert 1 <= int(response.headers["retry-after"]) <= 3600
    # Even the right password is refused while the window lasts.
    blocked = await login(strict_client, email)
    assert blocked.status_code == 429
