"""Streaming: the first bytes leave before the last batch is read."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import msgspec
from prometheus_client import REGISTRY
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from factmark.app import Database, create_app
from factmark.settings import Settings
from tests.conftest import World
from tests.exports.conftest import Desk

CLAIMS = 2500


def batches_read() -> float:
    value = REGISTRY.get_sample_value("factmark_export_batches_total")
    return value or 0.0


async def many_verified_claims(session: AsyncSession, desk: Desk, count: int) -> None:
    doc = await desk.document()
    rating = await desk.rating("false")
    await session.execute(
        text(
            """
            WITH ids AS (
                SELECT gen_random_uuid() AS claim_id, gen_random_uuid() AS verdict_id, i
                FROM generate_series(1, :count) AS i
            ), claims AS (
                INSERT INTO claims (id, workspace_id, document_id, statement, status,
                    approved_verdict_id, verified_at, tags, updated_at)
                SELECT claim_id, :ws, :doc, 'Claim number ' || i, 'verified', verdict_id,
                    now(), ARRAY['bulk']::varchar[], now() + i * interval '1 second'
                FROM ids
                RETURNING id
            )
            INSERT INTO verdicts (id, workspace_id, claim_id, document_id, rating_id, summary,
                state, approved_by, approved_at, created_by)
            SELECT verdict_id, :ws, claim_id, :doc, :rating, 'Not so.', 'approved', :editor,
                now(), :reviewer
            FROM ids
            """
        ),
        {
            "count": count,
            "ws": desk.workspace_id,
            "doc": doc.id,
            "rating": rating.id,
            "editor": desk.editor_id,
            "reviewer": desk.reviewer_id,
        },
    )
    await session.commit()


async def test_first_bytes_leave_before_the_last_batch_is_read(
    settings: Settings,
    engine: AsyncEngine,
    sessionmaker: async_sessionmaker[AsyncSession],
    session: AsyncSession,
    world: World,
    desk: Desk,
) -> None:
    await many_verified_claims(session, desk, CLAIMS)
    app = create_app(settings, Database(engine=engine, sessionmaker=sessionmaker, owned=False))
    events: list[dict[str, Any]] = []
    batches_at_first_body: float | None = None
    before = batches_read()

    requested = False
    finished = asyncio.Event()

    async def receive() -> dict[str, Any]:
        nonlocal requested
        if not requested:
            requested = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await finished.wait()  # a client that stays connected until the end
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        nonlocal batches_at_first_body
        body = message["type"] == "http.response.body" and message.get("body")
        if body and batches_at_first_body is None:
            batches_at_first_body = batches_read() - before
        events.append(message)
        if message["type"] == "http.response.body" and not message.get("more_body"):
            finished.set()

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/api/v1/workspaces/acme/exports/claims",
        "raw_path": b"/api/v1/workspaces/acme/exports/claims",
        "query_string": b"format=ndjson",
        "headers": [(b"authorization", world["viewer"].headers["Authorization"].encode())],
        "server": ("testserver", 80),
        "client": ("127.0.0.1", 123),
        "root_path": "",
    }
    await app(scope, receive, send)  # type: ignore[arg-type]

    assert events[0]["type"] == "http.response.start"
    assert events[0]["status"] == 200
    total = batches_read() - before
    assert total == 3  # 1000 + 1000 + 500 claims
    # The client had its first bytes before the last batch was read (the reader asks for the
    # next batch while the previous one is sent, so the second may be on its way).
    assert batches_at_first_body is not None
    assert 1 <= batches_at_first_body < total
    chunks = [m["body"] for m in events if m["type"] == "http.response.body" and m.get("body")]
    assert len(chunks) >= 4  # three batches and the trailer
    first_batch = chunks[0].splitlines()
    assert len(first_batch) == 1000
    lines = b"".join(chunks).splitlines()
    assert len(lines) == CLAIMS + 1
    assert msgspec.json.decode(lines[-1])["records"] == CLAIMS


async def test_a_client_that_disconnects_mid_stream_leaves_the_connection_usable(
    settings: Settings,
    engine: AsyncEngine,
    sessionmaker: async_sessionmaker[AsyncSession],
    session: AsyncSession,
    world: World,
    desk: Desk,
) -> None:
    await many_verified_claims(session, desk, CLAIMS)
    app = create_app(settings, Database(engine=engine, sessionmaker=sessionmaker, owned=False))
    gone = asyncio.Event()
    bodies: list[bytes] = []
    requested = False

    async def receive() -> dict[str, Any]:
        nonlocal requested
        if not requested:
            requested = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await gone.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.body" and message.get("body"):
            bodies.append(message["body"])
            gone.set()  # the client hangs up after the first chunk

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/api/v1/workspaces/acme/exports/claims",
        "raw_path": b"/api/v1/workspaces/acme/exports/claims",
        "query_string": b"format=ndjson",
        "headers": [(b"authorization", world["viewer"].headers["Authorization"].encode())],
        "server": ("testserver", 80),
        "client": ("127.0.0.1", 123),
        "root_path": "",
    }
    before = batches_read()
    await app(scope, receive, send)  # type: ignore[arg-type]
    assert 1 <= len(bodies) < 4
    assert batches_read() - before < 3  # the export stopped: the last batch was never read
    # The connection the export read on is free again: a new export runs to the end.
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as client:
        response = await client.get(
            "/api/v1/workspaces/acme/exports/claims?format=ndjson",
            headers=world["viewer"].headers,
        )
    assert response.status_code == 200
    assert msgspec.json.decode(response.content.splitlines()[-1])["records"] == CLAIMS
