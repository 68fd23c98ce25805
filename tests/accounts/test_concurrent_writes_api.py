"""Concurrent requests that race for the same unique value: one wins, the others get 409, never
a 500. Real commits, so on a database of their own."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import make_url, text
from sqlalchemy.ext.asyncio import AsyncEngine

from factmark import migrations
from factmark.accounts import service as accounts
from factmark.app import Database, create_app
from factmark.db import DatabaseUrls, create_engine, create_sessionmaker
from factmark.settings import Settings

RACERS = 6


@pytest.fixture
async def committing_client(
    owner_engine: AsyncEngine, database_urls: DatabaseUrls, settings: Settings
) -> AsyncIterator[tuple[httpx.AsyncClient, dict[str, str]]]:
    """A client of an app on a fresh migrated database whose requests really commit, and the
    headers of a user with no workspace yet."""
    name = f"factmark_race_{uuid.uuid4().hex[:12]}"
    autocommit = owner_engine.execution_options(isolation_level="AUTOCOMMIT")
    async with autocommit.connect() as conn:
        await conn.execute(text(f'CREATE DATABASE "{name}"'))

    def on(url: str) -> str:
        return make_url(url).set(database=name).render_as_string(hide_password=False)

    engine = create_engine(on(database_urls.app), pool_size=RACERS)
    try:
        migrations.upgrade(on(database_urls.owner))
        async with create_sessionmaker(engine)() as session, session.begin():
            await accounts.set_audit_context(session, accounts.system_actor("tests"))
            user = await accounts.create_user(session, email="racer@example.com", password="pw")
            await accounts.create_user(session, email="joiner@example.com", password="pw")
            token, _ = await accounts.create_token_for_user(session, user, name="test")
        app = create_app(
            settings.with_database(on(database_urls.app)),
            Database(engine=engine, sessionmaker=create_sessionmaker(engine), owned=False),
        )
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client, {"Authorization": f"Bearer {token}"}
    finally:
        await engine.dispose()
        async with autocommit.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def test_racing_workspace_creations_with_one_slug_give_one_201_and_409s(
    committing_client: tuple[httpx.AsyncClient, dict[str, str]],
) -> None:
    client, headers = committing_client
    responses = await asyncio.gather(
        *(
            client.post(
                "/api/v1/workspaces", json={"name": f"Desk {n}", "slug": "desk"}, headers=headers
            )
            for n in range(RACERS)
        )
    )
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201] + [409] * (RACERS - 1), [r.text for r in responses]
    assert all(
        r.headers["content-type"] == "application/problem+json"
        for r in responses
        if r.status_code == 409
    )
    listed = await client.get("/api/v1/workspaces", headers=headers)
    assert [w["slug"] for w in listed.json()["items"]] == ["desk"]


async def test_racing_member_additions_of_one_user_give_one_201_and_409s(
    committing_client: tuple[httpx.AsyncClient, dict[str, str]],
) -> None:
    client, headers = committing_client
    created = await client.post(
        "/api/v1/workspaces", json={"name": "Desk", "slug": "desk"}, headers=headers
    )
    assert created.status_code == 201
    responses = await asyncio.gather(
        *(
            client.post(
                "/api/v1/workspaces/desk/members",
                json={"email": "joiner@example.com", "role": "viewer"},
                headers=headers,
            )
            for _ in range(RACERS)
        )
    )
    assert sorted(r.status_code for r in responses) == [201] + [409] * (RACERS - 1)
    assert {r.json()["code"] for r in responses if r.status_code == 409} == {"already_member"}
    members = await client.get("/api/v1/workspaces/desk/members", headers=headers)
    assert sorted(m["email"] for m in members.json()["items"]) == [
        "joiner@example.com",
        "racer@example.com",
    ]
