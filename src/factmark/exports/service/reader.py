"""The export reader: the claims of one export, read in batches from one snapshot, on a session
of its own, through one server-side cursor whose query returns each record as JSON (see
queries.py)."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, NamedTuple

import msgspec
from prometheus_client import Counter
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from factmark.exports.service import queries
from factmark.exports.service.start import ExportStart, setting

BATCH_SIZE = 1000
"""Claims read per FETCH: large enough that per-fetch costs vanish, small enough for flat memory."""
CHANGED_LIMIT = 50_000
"""More changed claims than this since a watermark, and an incremental export resends all."""
CURSOR = "factmark_export"
"""The reader's cursor: one at a time per transaction, closed when read (or with the
transaction); one name, so that its statements are prepared once per connection."""

BATCHES_READ = Counter(
    "factmark_export_batches", "Batches of claims exports have read from the database."
)
ITEMS_READ = Counter(
    "factmark_export_items", "Claims read by exports, as records or tombstones.", ["kind"]
)

_NIL = uuid.UUID(int=0)


class ExportRow(NamedTuple):
    """One claim of an export: its record as UTF-8 JSON (a schemas.ClaimRecord), or None for
    a tombstone: the claim left the exported set."""

    id: uuid.UUID
    record: bytes | None


@dataclass(frozen=True, slots=True)
class WorkspaceInfo:
    id: uuid.UUID
    slug: str
    name: str
    organisation_name: str | None
    organisation_url: str | None
    claim_url_template: str | None


def _normal(value: Decimal | None) -> Decimal | None:
    return value.normalize() if value is not None else None


class ExportReader:
    """Claims of one export, read in batches inside one snapshot. Use ``open_reader``."""

    def __init__(self, conn: Any, start: ExportStart, batch_size: int) -> None:
        self._conn = conn
        self.start = start
        self.batch_size = batch_size
        self.workspace: WorkspaceInfo
        self._args: tuple[Any, ...] = ()
        self.records = 0
        self.tombstones = 0
        self._pending: asyncio.Task[Sequence[Any]] | None = None
        self._cursor_open = False

    @property
    def items_read(self) -> int:
        return self.records + self.tombstones

    @property
    def query_args(self) -> tuple[Any, ...]:
        """The values this export binds to $1 to $12 of the record queries (see queries.py)."""
        return self._args

    async def _load(self) -> None:
        ws_id = self.start.workspace_id
        row = await self._conn.fetchrow(queries.WORKSPACE, ws_id)
        settings = msgspec.json.decode(row["settings"]) if row["settings"] else {}
        self.workspace = WorkspaceInfo(
            id=row["id"],
            slug=row["slug"],
            name=row["name"],
            organisation_name=setting(settings, "organisation_name"),
            organisation_url=setting(settings, "organisation_url"),
            claim_url_template=setting(settings, "claim_url_template"),
        )
        ratings = await self._conn.fetch(queries.RATINGS, ws_id)
        scale = [r["value"] for r in ratings if r["value"] is not None and r["deleted_at"] is None]
        f = self.start.filters
        rating_ids = [r["id"] for r in ratings if r["key"] in set(f.ratings)]
        if f.ratings and not rating_ids:
            rating_ids = [_NIL]  # no rating has these keys: nothing matches
        self._args = (
            ws_id,
            list(f.statuses),
            f.verified_since,
            f.updated_since,
            rating_ids or None,
            list(f.tags) or None,
            [c.lower() for c in f.claimants] or None,
            list(f.document_ids) or None,
            self.workspace.claim_url_template,
            self.start.base_url,
            _normal(max(scale)) if scale else None,
            _normal(min(scale)) if scale else None,
        )

    def permalink(self, claim_id: uuid.UUID) -> str:
        """The claim's URL as its record gives it (for tombstones, which have no record)."""
        template = self.workspace.claim_url_template
        if template:
            return template.replace("{id}", str(claim_id))
        return f"{self.start.base_url}/api/v1/claims/{claim_id}"

    async def count(self) -> int | None:
        """How many records a full export holds (None for an incremental one)."""
        if self.start.since_seq is not None:
            return None
        return int(await self._conn.fetchval(queries.COUNT, *self._args[:8]))

    async def batches(self) -> AsyncIterator[list[ExportRow]]:
        """Records (and, when incremental, tombstones) in batches, in a stable order."""
        since = self.start.since_seq
        if since is None:
            async for batch in self._cursor(queries.FULL):
                yield batch
            return
        ws_id = self.start.workspace_id
        if await self._conn.fetchval(queries.TOUCHES_ALL, ws_id, since):
            async for batch in self._resend_all(since):
                yield batch
            return
        changed = await self._conn.fetch(queries.CHANGED_IDS, ws_id, since, CHANGED_LIMIT + 1)
        if len(changed) > CHANGED_LIMIT:
            async for batch in self._resend_all(since):
                yield batch
            return
        ids = [r["id"] for r in changed]
        for i in range(0, len(ids), self.batch_size):
            chunk = ids[i : i + self.batch_size]
            rows = await self._conn.fetch(queries.CHANGED_BATCH, *self._args, chunk)
            BATCHES_READ.inc()
            batch = [ExportRow(r["id"], r["record"]) for r in rows]
            # Purged claims have no row any more: tombstones too.
            found = {r["id"] for r in rows}
            batch.extend(ExportRow(cid, None) for cid in chunk if cid not in found)
            batch.sort(key=lambda row: row.id)
            yield self._counted(batch)

    async def _cursor(self, sql: str) -> AsyncIterator[list[ExportRow]]:
        """Every row of ``sql`` through one server-side cursor, ``batch_size`` rows per FETCH:
        PostgreSQL plans and starts the query once and keeps its place between batches (a
        keyset query per batch was planned again each time and, behind a filter such as
        ``verifiedSince``, walked the claims before the first match again). The cursor is
        planned for a fast start (``cursor_tuple_fraction``), so the first batch comes before
        the last row is read. The next FETCH is sent before this batch is handed on, so
        PostgreSQL reads it while the caller sends the previous one."""
        await self._conn.execute(f"DECLARE {CURSOR} NO SCROLL CURSOR FOR {sql}", *self._args)
        self._cursor_open = True
        fetch_sql = f"FETCH FORWARD {self.batch_size} FROM {CURSOR}"

        def fetch() -> asyncio.Task[Sequence[Any]]:
            self._pending = asyncio.ensure_future(self._conn.fetch(fetch_sql))
            return self._pending

        pending: asyncio.Task[Sequence[Any]] | None = fetch()
        while pending is not None:
            rows = await pending
            pending = self._pending = None
            BATCHES_READ.inc()
            if not rows:
                break
            if len(rows) == self.batch_size:
                pending = fetch()
            yield self._counted(list(map(ExportRow._make, rows)))  # (id, record)
        await self._close_cursor()

    async def _close_cursor(self) -> None:
        if self._cursor_open:
            self._cursor_open = False
            await self._conn.execute(f"CLOSE {CURSOR}")

    async def close(self) -> None:
        """When the consumer stopped early, let the batch already asked for finish (one query,
        not cancelled: a cancelled statement would abort the transaction under a test's or a
        caller's savepoint), then close the cursor, so that the connection is idle and clean
        when it is handed back."""
        if self._pending is not None:
            with contextlib.suppress(Exception):
                await self._pending
            self._pending = None
        with contextlib.suppress(Exception):
            await self._close_cursor()

    async def _resend_all(self, since: int) -> AsyncIterator[list[ExportRow]]:
        async for batch in self._cursor(queries.ALL):
            yield batch
        after = _NIL
        while True:
            purged = await self._conn.fetch(
                queries.PURGED_IDS, self.start.workspace_id, since, after, self.batch_size
            )
            if not purged:
                return
            BATCHES_READ.inc()
            after = purged[-1]["entity_id"]
            # A purged claim no longer has a row, so it was not in the batches above.
            yield self._counted([ExportRow(r["entity_id"], None) for r in purged])

    def _counted(self, batch: list[ExportRow]) -> list[ExportRow]:
        records = sum(row.record is not None for row in batch)
        self.records += records
        self.tombstones += len(batch) - records
        ITEMS_READ.labels("record").inc(records)
        ITEMS_READ.labels("tombstone").inc(len(batch) - records)
        return batch


@asynccontextmanager
async def open_reader(
    sessionmaker: async_sessionmaker[AsyncSession],
    start: ExportStart,
    *,
    batch_size: int | None = None,
) -> AsyncIterator[ExportReader]:
    """A reader on its own session, in one REPEATABLE READ, READ ONLY transaction, so that
    every batch sees the same snapshot. (A session bound to a connection that is already in a
    transaction, as in the tests, reads in that transaction.)"""
    async with sessionmaker() as session:
        options: dict[str, Any] = {}
        if isinstance(session.bind, AsyncEngine):
            options = {"isolation_level": "REPEATABLE READ", "postgresql_readonly": True}
        connection = await session.connection(execution_options=options)
        # Begins the transaction the raw queries then share. The queries are planned for
        # their values (the cursor's query always is, once, when it is declared; the
        # incremental batches each time): a generic plan cannot drop the unset filters, and
        # is twenty times slower here, for a planning cost of about a millisecond a query.
        await connection.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))
        raw = await connection.get_raw_connection()
        reader = ExportReader(raw.driver_connection, start, batch_size or BATCH_SIZE)
        try:
            await reader._load()
            yield reader
        finally:
            await reader.close()
            await session.rollback()
