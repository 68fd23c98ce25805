"""Rate limits counted per process and shared through PostgreSQL: two RateLimiter objects on one
database stand for two server processes."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from factmark.app import Database, create_app
from factmark.errors import RateLimited
from factmark.http import ratelimit
from factmark.http.ratelimit import RateLimiter
from factmark.settings import Settings
from tests.conftest import serving

WINDOW = 3600


def _key() -> str:
    return f"test:{uuid.uuid4().hex}"


async def _shared(engine: AsyncEngine, key: str) -> int:
    async with engine.connect() as conn:
        hits = await conn.scalar(
            text("SELECT coalesce(sum(hits), 0) FROM rate_limit_windows WHERE key = :key"),
            {"key": key},
        )
    return int(hits)


async def _shared_within(engine: AsyncEngine, key: str, expected: int, seconds: float = 30) -> int:
    """The shared count once it reaches ``expected`` (a background flush brings it), or as it
    stands after ``seconds``."""
    deadline = asyncio.get_running_loop().time() + seconds
    while (hits := await _shared(engine, key)) != expected:
        if asyncio.get_running_loop().time() > deadline:
            break
        await asyncio.sleep(0.02)
    return hits


def _hold_flushes(monkeypatch: pytest.MonkeyPatch) -> tuple[asyncio.Event, asyncio.Event]:
    """Make each flush, once begun, wait for the returned ``release`` before it writes; the
    returned ``entered`` is set when one has begun."""
    real, entered, release = ratelimit._add_many, asyncio.Event(), asyncio.Event()

    async def held(*args: object, **kwargs: object) -> list[int]:
        entered.set()
        await release.wait()
        return await real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(ratelimit, "_add_many", held)
    return entered, release


async def _allowed(limiter: RateLimiter, key: str, limit: int, tries: int) -> int:
    allowed = 0
    for _ in range(tries):
        try:
            await limiter.hit(key, limit, WINDOW)
        except RateLimited:
            continue
        allowed += 1
    return allowed


async def test_far_from_the_limit_hits_are_counted_in_process_and_flushed_in_one_statement(
    engine: AsyncEngine,
) -> None:
    key, other, limiter = _key(), _key(), RateLimiter(engine, sync_seconds=3600)
    assert await _allowed(limiter, key, 1000, 50) == 50
    assert await _allowed(limiter, other, 1000, 7) == 7
    assert await _shared(engine, key) == 0  # no request waited for the database
    await limiter.flush()
    assert await _shared(engine, key) == 50
    assert await _shared(engine, other) == 7
    await limiter.flush()  # nothing pending: nothing added twice
    assert await _shared(engine, key) == 50


async def test_near_the_limit_every_hit_is_synced_and_the_limit_is_exact(
    engine: AsyncEngine,
) -> None:
    key, limiter = _key(), RateLimiter(engine, sync_seconds=3600)
    assert await _allowed(limiter, key, 20, 30) == 20
    assert await _shared(engine, key) == 30  # refused hits count too
    with pytest.raises(RateLimited) as refused:
        await limiter.hit(key, 20, WINDOW)
    assert 1 <= int(refused.value.headers["Retry-After"]) <= WINDOW


async def test_processes_share_one_count_once_their_hits_are_flushed(engine: AsyncEngine) -> None:
    key = _key()
    first, second = RateLimiter(engine, sync_seconds=3600), RateLimiter(engine, sync_seconds=3600)
    assert await _allowed(first, key, 10, 6) == 6
    await first.flush()
    assert await _allowed(second, key, 10, 1) == 1
    await second.flush()  # learns the first's six
    assert await _allowed(second, key, 10, 6) == 3  # 10 in all, near the limit synced hit by hit
    assert await _shared(engine, key) == 13  # refused hits count too
    # The first's view is stale until its next flush: up to one interval past the limit.
    assert await _allowed(first, key, 10, 1) == 1
    await first.flush()
    assert await _allowed(first, key, 10, 1) == 0
    assert await _shared(engine, key) == 15


async def test_a_processs_hits_reach_the_others_by_its_background_flush(
    engine: AsyncEngine,
) -> None:
    key = _key()
    busy, other = RateLimiter(engine, sync_seconds=0.05), RateLimiter(engine, sync_seconds=3600)
    busy.start()
    try:
        assert await _allowed(busy, key, 100, 10) == 10
        assert await _shared_within(engine, key, 10) == 10  # no request of busy's synced them
    finally:
        await busy.stop()
    await other.hit(key, 100, WINDOW)
    await other.flush()
    assert await _allowed(other, key, 100, 100) == 89


async def test_stopping_flushes_the_hits_still_pending(engine: AsyncEngine) -> None:
    key, limiter = _key(), RateLimiter(engine, sync_seconds=3600)
    limiter.start()
    try:
        assert await _allowed(limiter, key, 1000, 5) == 5
    finally:
        await limiter.stop()
    assert await _shared(engine, key) == 5


async def test_stopping_during_a_flush_also_stores_the_hits_counted_meanwhile(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    key, limiter = _key(), RateLimiter(engine, sync_seconds=0.01)
    entered, release = _hold_flushes(monkeypatch)
    limiter.start()
    assert await _allowed(limiter, key, 1000, 3) == 3
    await asyncio.wait_for(entered.wait(), 30)  # a flush of the three is under way
    stopping = asyncio.create_task(limiter.stop())
    assert await _allowed(limiter, key, 1000, 2) == 2  # counted while it runs
    release.set()
    await stopping
    assert await _shared(engine, key) == 5


async def test_hits_in_flight_still_count_so_the_limit_stays_exact(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While a flush is under way its hits are neither pending nor shared yet: they must still
    count, or a process could pass the limit by what that flush carries."""
    key, limiter = _key(), RateLimiter(engine, sync_seconds=3600)
    entered, release = _hold_flushes(monkeypatch)
    assert await _allowed(limiter, key, 20, 15) == 15
    flushing = asyncio.create_task(limiter.flush())
    await asyncio.wait_for(entered.wait(), 30)
    assert await _allowed(limiter, key, 20, 10) == 5  # near the limit with the 15 in flight
    release.set()
    await flushing
    assert await _shared(engine, key) == 25
    with pytest.raises(RateLimited):
        await limiter.hit(key, 20, WINDOW)


def test_the_flush_interval_must_be_positive(engine: AsyncEngine) -> None:
    with pytest.raises(ValueError, match="sync_seconds"):
        RateLimiter(engine, sync_seconds=0)


async def test_a_failed_flush_keeps_its_hits_for_the_next(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    key, limiter = _key(), RateLimiter(engine, sync_seconds=3600)
    assert await _allowed(limiter, key, 1000, 4) == 4
    real = ratelimit._add_many

    async def down(*args: object, **kwargs: object) -> list[int]:
        raise ConnectionError("the database is away")

    monkeypatch.setattr(ratelimit, "_add_many", down)
    with pytest.raises(ConnectionError):
        await limiter.flush()
    assert await _shared(engine, key) == 0
    monkeypatch.setattr(ratelimit, "_add_many", real)
    assert await _allowed(limiter, key, 1000, 1) == 1
    await limiter.flush()
    assert await _shared(engine, key) == 5


async def test_a_failed_clean_up_after_a_flush_does_not_count_its_hits_twice(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    key, limiter = _key(), RateLimiter(engine, sync_seconds=3600)
    monkeypatch.setattr(ratelimit.random, "random", lambda: 0.0)  # clean up after every flush
    monkeypatch.setattr(ratelimit, "FORGET_OLD_WINDOWS", "SELECT 1 / 0")
    assert await _allowed(limiter, key, 1000, 4) == 4
    await limiter.flush()  # the clean-up fails after the hits were stored: only logged
    await limiter.flush()
    assert await _shared(engine, key) == 4


async def test_the_background_flush_survives_a_failure(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    key, limiter = _key(), RateLimiter(engine, sync_seconds=0.02)
    real, failures = ratelimit._add_many, []

    async def flaky(*args: object, **kwargs: object) -> list[int]:
        if not failures:
            failures.append(1)
            raise ConnectionError("the database is away")
        return await real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(ratelimit, "_add_many", flaky)
    limiter.start()
    try:
        assert await _allowed(limiter, key, 1000, 3) == 3
        assert await _shared_within(engine, key, 3) == 3
    finally:
        await limiter.stop()
    assert failures == [1]
    assert await _shared(engine, key) == 3


async def test_exact_limits_sync_every_hit(engine: AsyncEngine) -> None:
    key, limiter = _key(), RateLimiter(engine, sync_seconds=3600)
    for _ in range(5):
        await limiter.hit(key, 1000, WINDOW, exact=True)
    assert await _shared(engine, key) == 5


async def test_the_keys_remembered_stay_bounded_when_one_window_has_very_many(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ratelimit, "MAX_KEYS", 8)
    limiter = RateLimiter(engine, sync_seconds=3600)
    keys = [_key() for _ in range(40)]
    for key in keys:
        await limiter.hit(key, 1000, WINDOW)
        assert len(limiter._windows) <= 8
    assert keys[-1] in limiter._windows  # the latest are kept, the earliest forgotten
    assert keys[0] not in limiter._windows


async def test_the_app_flushes_its_requests_hits_in_the_background(
    settings: Settings,
    engine: AsyncEngine,
    sessionmaker: async_sessionmaker[AsyncSession],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The app's lifespan runs the flush: a request's hit reaches PostgreSQL within about a
    second without the request waiting for it (the hit is counted before the token is
    checked, so a made-up token will do)."""

    async def inline(*args: object) -> int:
        raise AssertionError("a request far from its limit synced its hit itself")

    monkeypatch.setattr(ratelimit, "_add", inline)
    app = create_app(settings, Database(engine=engine, sessionmaker=sessionmaker, owned=False))
    token = f"fm_{uuid.uuid4().hex}"
    key = f"token:{token[:16]}"
    async with serving(app) as client:
        refused = await client.get(
            "/api/v1/workspaces", headers={"Authorization": f"Bearer {token}"}
        )
        assert refused.status_code == 401
        assert await _shared_within(engine, key, 1) == 1
        assert app.state.rate_limiter._flusher is not None
    assert app.state.rate_limiter._flusher is None  # stopped with the app
