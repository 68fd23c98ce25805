"""The connection pool: a connection the server closed is replaced at checkout, without the
round trips of a pre-ping."""

from __future__ import annotations

import asyncio

from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncEngine

from factmark.db import DatabaseUrls, create_engine


async def test_a_pooled_connection_the_server_closed_is_replaced_at_checkout(
    database_urls: DatabaseUrls, owner_engine: AsyncEngine
) -> None:
    engine = create_engine(database_urls.app, pool_size=1)
    statements: list[str] = []
    event.listen(
        engine.sync_engine,
        "before_cursor_execute",
        lambda _conn, _cursor, statement, *_: statements.append(statement),
    )
    try:
        async with engine.connect() as conn:
            first = await conn.scalar(text("SELECT pg_backend_pid()"))
        async with owner_engine.connect() as owner:
            assert await owner.scalar(text("SELECT pg_terminate_backend(:pid)"), {"pid": first})
        await asyncio.sleep(0.5)  # the client reads the server's goodbye
        async with engine.connect() as conn:
            second = await conn.scalar(text("SELECT pg_backend_pid()"))
        assert second != first
        assert statements == ["SELECT pg_backend_pid()"] * 2  # no ping before either
    finally:
        await engine.dispose()
