"""Fixed-window rate limits counted in PostgreSQL, so every server process shares them.

Writing every request's hit to PostgreSQL in a transaction of its own cost about as much as
the rest of a simple read (four round trips and a commit). So each process counts the hits of
its keys itself, and a background task adds them to the shared rows every ``sync_seconds``, all
keys in one statement, learning the shared counts back. A request does not wait for that,
unless its key's count comes near the limit: from there on every hit is synced at once, so that
the decisions around the limit are taken on the shared count. Another process's hits reach
this one within about twice ``sync_seconds`` (its flush, then this one's): a key shared by
several processes may get up to that long of their traffic past the limit. Login limits
(``exact=True``) sync every hit.

Syncing in the request itself, once a second per key and process, meant up to 64 transactions
a second for 32 busy tokens on two processes, each holding up a request until its commit; the
background flush makes that two a second (bench/README.md). An app served without its lifespan
(which starts the flush) shares its counts only near the limit.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import random
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncEngine

from factmark.errors import RateLimited
from factmark.transaction import RequestDb

log = logging.getLogger(__name__)

SYNC_SECONDS = 1.0
"""How often each process adds its hits to the shared counts (and learns the others')."""

HEADROOM = 0.1
"""Within this fraction of the limit (at least one hit), every hit is synced."""

STOP_SECONDS = 5.0
"""How long stopping waits for the last flush before giving its hits up."""

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
    in_flight: int = 0
    """Hits being added to the shared count by a sync or a flush not finished yet."""

    @property
    def count(self) -> int:
        """The count decisions are taken on: the shared one and this process's hits since."""
        return self.shared + self.in_flight + self.pending


class RateLimiter:
    """The rate limits of one server process, shared with the others through PostgreSQL.

    ``start`` runs the background flush (the app's lifespan does); ``flush`` is one flush.
    """

    def __init__(self, engine: AsyncEngine, *, sync_seconds: float = SYNC_SECONDS) -> None:
        if sync_seconds <= 0:
            raise ValueError("sync_seconds must be positive")
        self._engine = engine
        self._sync_seconds = sync_seconds
        self._windows: dict[str, _Window] = {}
        self._flusher: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()

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
        if exact or window.count >= limit - headroom:
            await self._sync(key, window)
        if window.count > limit:
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

    async def _sync(self, key: str, window: _Window) -> None:
        """Add one key's pending hits to its shared row now and learn the shared count."""
        delta = _take(window)
        try:
            shared = await _add(self._engine, key, window.start, delta)
        except BaseException:
            _give_back(window, delta)
            raise
        _added(window, delta, shared)

    async def flush(self) -> None:
        """Add every key's pending hits to the shared rows in one statement, and learn the
        shared counts. Hits that fail to be added stay pending for the next flush."""
        batch = sorted(
            ((key, window) for key, window in self._windows.items() if window.pending),
            key=lambda item: item[0],  # one lock order for every process: no deadlocks
        )
        if not batch:
            return
        deltas = [_take(window) for _, window in batch]
        try:
            totals = await _add_many(
                self._engine,
                [key for key, _ in batch],
                [window.start for _, window in batch],
                deltas,
            )
        except BaseException:
            for (_, window), delta in zip(batch, deltas, strict=True):
                _give_back(window, delta)
            raise
        for (_, window), delta, total in zip(batch, deltas, totals, strict=True):
            _added(window, delta, total)
        if random.random() < 0.01:  # noqa: S311 - housekeeping, not security
            await _forget_old_windows(self._engine)

    def start(self) -> None:
        """Flush every ``sync_seconds`` in the background until ``stop``."""
        if self._flusher is None:
            self._stopping = asyncio.Event()
            self._flusher = asyncio.create_task(self._flush_forever(), name="rate-limit-flush")

    async def stop(self) -> None:
        """Stop the background flush after one last flush of what is pending. A flush under
        way is let finish rather than cut off (cut off after its commit, its hits would be
        added again); past ``STOP_SECONDS`` the last hits are given up."""
        flusher, self._flusher = self._flusher, None
        if flusher is None:
            await self._flush_logged()
            return
        self._stopping.set()
        try:
            async with asyncio.timeout(STOP_SECONDS):
                await asyncio.shield(flusher)
        except TimeoutError:
            flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await flusher
            log.warning("gave up storing the last rate-limit hits after %s s", STOP_SECONDS)

    async def _flush_forever(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._sync_seconds):
                    await self._stopping.wait()
            last = self._stopping.is_set()  # hits counted during this flush need one more
            await self._flush_logged()
            if last:
                return

    async def _flush_logged(self) -> None:
        try:
            await self.flush()
        except Exception:  # the database away: the hits stay pending for the next flush
            log.warning("could not store rate-limit hits", exc_info=True)


def _take(window: _Window) -> int:
    """The pending hits, now in flight (still counted in the decisions)."""
    delta, window.pending = window.pending, 0
    window.in_flight += delta
    return delta


def _give_back(window: _Window, delta: int) -> None:
    window.in_flight -= delta
    window.pending += delta


def _added(window: _Window, delta: int, total: int) -> None:
    window.in_flight -= delta
    window.shared = max(window.shared, total)


ADD_MANY_HITS = """
    INSERT INTO rate_limit_windows AS w (key, window_start, hits)
    SELECT * FROM unnest($1::text[], $2::timestamptz[], $3::int[])
    ON CONFLICT (key, window_start) DO UPDATE SET hits = w.hits + excluded.hits
    RETURNING w.key, w.hits
"""

FORGET_OLD_WINDOWS = "DELETE FROM rate_limit_windows WHERE window_start < now() - interval '1 hour'"


async def _add(engine: AsyncEngine, key: str, start: int, hits: int) -> int:
    """Add ``hits`` to the shared count of ``key`` in the window from ``start``; its new total.
    A request's own sync, near its limit."""
    (total,) = await _store(engine, [key], [start], [hits])
    return total


async def _add_many(
    engine: AsyncEngine, keys: list[str], starts: list[int], hits: list[int]
) -> list[int]:
    """A flush: ``_add`` for many keys (each once, in sorted order); their new totals, in the
    same order."""
    return await _store(engine, keys, starts, hits)


async def _store(
    engine: AsyncEngine, keys: list[str], starts: list[int], hits: list[int]
) -> list[int]:
    """One statement in a short transaction of its own, so that the counts stay when a request
    fails; prepared asyncpg statements on a pooled connection, as the requests' own
    (factmark.transaction)."""
    async with RequestDb.from_pool(engine) as db:
        driver = await db.driver()
        rows = await driver.fetch(ADD_MANY_HITS, keys, [_time(s) for s in starts], hits)
    totals = {row["key"]: int(row["hits"]) for row in rows}
    return [totals[key] for key in keys]


async def _forget_old_windows(engine: AsyncEngine) -> None:
    """Delete the windows of an hour ago: housekeeping, in a transaction of its own (a scan of
    the table, not to be made while holding a flush's rows) and after the flush's counts are
    settled, so that its failure is only logged."""
    try:
        async with RequestDb.from_pool(engine) as db:
            await (await db.driver()).execute(FORGET_OLD_WINDOWS)
    except Exception:
        log.warning("could not forget old rate-limit windows", exc_info=True)


def _time(start: int) -> datetime:
    return datetime.fromtimestamp(start, tz=UTC)
