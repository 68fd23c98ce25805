"""Fixed-window rate limits counted in PostgreSQL, so every server process shares them.

Writing every request's hit to PostgreSQL in a transaction of its own cost about as much as
the rest of a simple read (four round trips and a commit). So each process counts the hits of
a key itself and adds them to the shared row in one statement when the last sync is older than
``sync_seconds`` or when its count comes near the limit; from there on it syncs every hit, so
that the decisions around the limit are taken on the shared count. Another process's hits
reach this one within ``sync_seconds``: a key shared by several processes may get up to that
long of their traffic past the limit. Login limits (``exact=True``) sync every hit.
"""

from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncEngine

from factmark.errors import RateLimited
from factmark.transaction import RequestDb

SYNC_SECONDS = 1.0
"""How stale this process's view of another process's hits may be."""

HEADROOM = 0.1
"""Within this fraction of the limit (at least one hit), every hit is synced."""

MAX_KEYS = 100_000
"""Keys remembered at once; past this, those of finished windows are forgotten (and, when the
current window alone holds half as many, its earliest keys with their unsynced hits)."""


@dataclass(slots=True)
class _Window:
    start: int
    shared: int = 0
    """The shared count at the last sync, this process's synced hits included."""
    pending: int = 0
    """Hits counted here and not yet added to the shared count."""
    synced_at: float = 0.0


class RateLimiter:
    """The rate limits of one server process, shared with the others through PostgreSQL."""

    def __init__(self, engine: AsyncEngine, *, sync_seconds: float = SYNC_SECONDS) -> None:
        self._engine = engine
        self._sync_seconds = sync_seconds
        self._windows: dict[str, _Window] = {}

    async def hit(self, key: str, limit: int, window_seconds: int, *, exact: bool = False) -> None:
        """Count one request for ``key``; raise RateLimited with Retry-After past ``limit``.

        Refused and failed requests count too.
        """
        key = key[:300]
        now = time.time()
        start = math.floor(now / window_seconds) * window_seconds
        window = self._window(key, start)
        window.pending += 1
        headroom = max(1, math.ceil(limit * HEADROOM))
        if (
            exact
            or now - window.synced_at >= self._sync_seconds
            or window.shared + window.pending >= limit - headroom
        ):
            await self._sync(key, window, now)
        if window.shared + window.pending > limit:
            retry_after = max(1, math.ceil(start + window_seconds - now))
            raise RateLimited(
                f"Rate limit of {limit} requests per {window_seconds} s exceeded; retry later.",
                headers={"Retry-After": str(retry_after)},
            )

    def _window(self, key: str, start: int) -> _Window:
        window = self._windows.get(key)
        if window is None or window.start != start:
            if len(self._windows) >= MAX_KEYS:
                live = {k: w for k, w in self._windows.items() if w.start >= start}
                if len(live) >= MAX_KEYS // 2:  # that many keys in one window: forget the
                    live = dict(list(live.items())[-(MAX_KEYS // 4) :])  # earliest ones
                self._windows = live
            window = self._windows[key] = _Window(start)
        return window

    async def _sync(self, key: str, window: _Window, now: float) -> None:
        """Add the pending hits to the shared row and learn the shared count."""
        delta, window.pending = window.pending, 0
        window.synced_at = now  # concurrent hits of this key wait for the next sync
        try:
            shared = await _add(self._engine, key, window.start, delta)
        except BaseException:
            window.pending += delta
            window.synced_at = 0.0
            raise
        window.shared = max(window.shared, shared)


ADD_HITS = """
    INSERT INTO rate_limit_windows (key, window_start, hits) VALUES ($1, $2, $3)
    ON CONFLICT (key, window_start) DO UPDATE SET hits = rate_limit_windows.hits + $3
    RETURNING hits
"""

FORGET_OLD_WINDOWS = "DELETE FROM rate_limit_windows WHERE window_start < now() - interval '1 hour'"


async def _add(engine: AsyncEngine, key: str, start: int, hits: int) -> int:
    """Add ``hits`` to the shared count of ``key`` in the window from ``start``; its new total.

    Its own short transaction, so that the count stays when the request fails; prepared
    asyncpg statements on a pooled connection, as the requests' own (factmark.transaction).
    """
    async with RequestDb.from_pool(engine) as db:
        driver = await db.driver()
        total = int(
            await driver.fetchval(ADD_HITS, key, datetime.fromtimestamp(start, tz=UTC), hits)
        )
        if random.random() < 0.01:  # noqa: S311 - housekeeping, not security
            await driver.execute(FORGET_OLD_WINDOWS)
    return total
