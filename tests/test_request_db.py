"""RequestDb: statements sent to asyncpg directly and through the ORM session share one
transaction, and a connection a failure may have broken never goes back to the pool."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from factmark.db import DatabaseUrls, create_engine
from factmark.errors import NotFound
from factmark.http.models import RateLimitWindow
from factmark.transaction import RequestDb

WINDOW = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
async def engine(database_urls: DatabaseUrls) -> AsyncIterator[AsyncEngine]:
    """A pool of one connection, as the app role: which connection a request gets is known."""
    engine = create_engine(database_urls.app, pool_size=1)
    yield engine
    await engine.dispose()


async def _end(db: RequestDb, outcome: str) -> None:
    """End a request as it succeeded ("commit") or was refused ("rollback")."""
    if outcome == "commit":
        await db.commit()
    else:
        await db.rollback(NotFound("Document not found."))


async def _count(db: RequestDb, key: str) -> int:
    return int(
        await (await db.driver()).fetchval(
            "SELECT count(*) FROM rate_limit_windows WHERE key = $1", key
        )
    )


@pytest.mark.parametrize("outcome", ["commit", "rollback"])
async def test_raw_and_orm_statements_commit_or_roll_back_together(
    engine: AsyncEngine, outcome: str
) -> None:
    key = f"request-db-{uuid.uuid4()}"
    db = RequestDb.from_pool(engine)
    await (await db.driver()).execute(
        "INSERT INTO rate_limit_windows (key, window_start, hits) VALUES ($1, $2, 1)",
        key + "-raw",
        WINDOW,
    )
    session = await db.session()
    session.add(RateLimitWindow(key=key + "-orm", window_start=WINDOW, hits=1))
    await session.flush()
    # Each sees the other's uncommitted row: one transaction.
    assert await _count(db, key + "-orm") == 1
    seen = await session.scalar(
        text("SELECT count(*) FROM rate_limit_windows WHERE key = :k"), {"k": key + "-raw"}
    )
    assert seen == 1
    await _end(db, outcome)
    assert engine.sync_engine.pool.checkedout() == 0  # type: ignore[attr-defined]

    check = RequestDb.from_pool(engine)
    expected = 1 if outcome == "commit" else 0
    assert await _count(check, key + "-raw") == expected
    assert await _count(check, key + "-orm") == expected
    await (await check.driver()).execute(
        "DELETE FROM rate_limit_windows WHERE key LIKE $1", key + "%"
    )
    await check.commit()


@pytest.mark.parametrize("outcome", ["commit", "rollback"])
async def test_a_request_without_a_session_ends_its_transaction_and_gives_the_connection_back(
    engine: AsyncEngine, outcome: str
) -> None:
    """The asyncpg-only path (claim creation, the rate limiter) ends its transaction itself,
    without a SQLAlchemy Connection: the next request gets the same connection, idle, with
    the first one's row committed or gone."""
    key = f"request-db-{uuid.uuid4()}"
    db = RequestDb.from_pool(engine)
    driver = await db.driver()
    pid = await driver.fetchval("SELECT pg_backend_pid()")
    await driver.execute(
        "INSERT INTO rate_limit_windows (key, window_start, hits) VALUES ($1, $2, 1)",
        key,
        WINDOW,
    )
    await _end(db, outcome)
    assert engine.sync_engine.pool.checkedout() == 0  # type: ignore[attr-defined]
    assert not driver.is_in_transaction()

    again = RequestDb.from_pool(engine)
    assert await (await again.driver()).fetchval("SELECT pg_backend_pid()") == pid
    assert await _count(again, key) == (1 if outcome == "commit" else 0)
    await (await again.driver()).execute("DELETE FROM rate_limit_windows WHERE key = $1", key)
    await again.commit()


async def test_a_connection_cancelled_in_the_middle_of_a_statement_is_discarded(
    engine: AsyncEngine,
) -> None:
    """A timeout or a client gone cancels the request while asyncpg waits for the server:
    that connection must not serve the next request."""
    db = RequestDb.from_pool(engine)
    cancelled_pid = await (await db.driver()).fetchval("SELECT pg_backend_pid()")
    task = asyncio.create_task((await db.driver()).fetchval("SELECT pg_sleep(5)"))
    await asyncio.sleep(0.2)
    task.cancel()
    with pytest.raises(asyncio.CancelledError) as raised:
        await task
    await db.rollback(raised.value)
    assert engine.sync_engine.pool.checkedout() == 0  # type: ignore[attr-defined]

    after = RequestDb.from_pool(engine)
    assert await (await after.driver()).fetchval("SELECT pg_backend_pid()") != cancelled_pid
    assert await (await after.driver()).fetchval("SELECT 1") == 1
    await after.commit()


async def test_a_refusal_of_the_api_keeps_the_connection(engine: AsyncEngine) -> None:
    db = RequestDb.from_pool(engine)
    pid = await (await db.driver()).fetchval("SELECT pg_backend_pid()")
    await db.rollback(NotFound("Document not found."))
    again = RequestDb.from_pool(engine)
    assert await (await again.driver()).fetchval("SELECT pg_backend_pid()") == pid
    await again.commit()


async def test_no_connection_is_taken_before_the_first_statement(
    engine: AsyncEngine,
) -> None:
    """A request refused before it needs the database (no token, a rate limit) holds no
    connection, and the rate limiter's own syncs never wait for one while their request holds
    another from the same pool."""
    pool = engine.sync_engine.pool
    unused = RequestDb.from_pool(engine)
    assert pool.checkedout() == 0  # type: ignore[attr-defined]
    await unused.rollback(NotFound("Document not found."))
    await unused.commit()
    assert pool.checkedout() == 0  # type: ignore[attr-defined]

    used = RequestDb.from_pool(engine)
    first, second, again = await asyncio.gather(used.driver(), used.session(), used.session())
    assert pool.checkedout() == 1  # type: ignore[attr-defined]  # one, asked for at once
    assert again is second  # and one session
    assert await first.fetchval("SELECT 1") == 1
    assert (await second.execute(text("SELECT 2"))).scalar() == 2
    await used.commit()
    assert pool.checkedout() == 0  # type: ignore[attr-defined]
    with pytest.raises(RuntimeError):
        await used.driver()
