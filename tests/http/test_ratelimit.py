"""Rate limits counted per process and shared through PostgreSQL: two RateLimiter objects on one
database stand for two server processes."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from factmark.errors import RateLimited
from factmark.http import ratelimit
from factmark.http.ratelimit import RateLimiter

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


async def _allowed(limiter: RateLimiter, key: str, limit: int, tries: int) -> int:
    allowed = 0
    for _ in range(tries):
        try:
            await limiter.hit(key, limit, WINDOW)
        except RateLimited:
            continue
        allowed += 1
    return allowed


async def test_far_from_the_limit_hits_are_counted_in_process_and_synced_in_one_statement(
    engine: AsyncEngine,
) -> None:
    key, limiter = _key(), RateLimiter(engine, sync_seconds=3600)
    assert await _allowed(limiter, key, 1000, 50) == 50
    assert await _shared(engine, key) == 1  # only the first hit synced, the rest are pending


async def test_near_the_limit_every_hit_is_synced_and_the_limit_is_exact(
    engine: AsyncEngine,
) -> None:
    key, limiter = _key(), RateLimiter(engine, sync_seconds=3600)
    assert await _allowed(limiter, key, 20, 30) == 20
    assert await _shared(engine, key) == 30  # refused hits count too
    with pytest.raises(RateLimited) as refused:
        await limiter.hit(key, 20, WINDOW)
    assert 1 <= int(refused.value.headers["Retry-After"]) <= WINDOW


async def test_processes_share_one_count_once_their_hits_are_synced(engine: AsyncEngine) -> None:
    key = _key()
    first, second = RateLimiter(engine, sync_seconds=0), RateLimiter(engine, sync_seconds=0)
    assert await _allowed(first, key, 10, 6) == 6
    assert await _allowed(second, key, 10, 6) == 4
    assert await _allowed(first, key, 10, 1) == 0


async def test_a_quiet_process_delays_its_hits_by_at_most_the_sync_interval(
    engine: AsyncEngine,
) -> None:
    key = _key()
    busy, other = RateLimiter(engine, sync_seconds=3600), RateLimiter(engine, sync_seconds=0)
    assert await _allowed(busy, key, 100, 10) == 10
    assert await _shared(engine, key) == 1  # nine hits still pending in the busy process
    busy._sync_seconds = 0  # the interval has passed: its next hit brings them all
    await busy.hit(key, 100, WINDOW)
    assert await _shared(engine, key) == 11
    assert await _allowed(other, key, 100, 100) == 89


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
