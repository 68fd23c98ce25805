"""A request's database access: one pooled connection, one transaction, two ways in.

Most handlers use the ORM through an ``AsyncSession``. The paths every request or every busy
write takes (authentication, creating a claim) send their statements straight to asyncpg: one
statement through the session costs ~0.2 ms of CPU, against ~0.03 ms for a prepared asyncpg
call (bench/README.md, claim creation). Both run on the same connection and in the same
transaction, so the audit context set by one is seen by the triggers the other fires, and one
commit or rollback covers both.

The session is opened only when a handler asks for it, joined to the transaction
(``join_transaction_mode="rollback_only"``: its flushes go into the transaction, and only
:class:`RequestDb` commits).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

import asyncpg
from litestar.exceptions import HTTPException
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    AsyncTransaction,
    async_sessionmaker,
)

from factmark.errors import DomainError

log = logging.getLogger(__name__)

_REQUEST_DB = "factmark.request_db"


class RequestDb:
    """One connection, in a transaction begun when the request starts."""

    __slots__ = ("_conn", "_done", "_savepoint", "_session", "driver")

    def __init__(
        self,
        conn: AsyncConnection,
        driver: asyncpg.Connection[Any],
        savepoint: AsyncTransaction | None = None,
    ) -> None:
        self._conn = conn
        self._savepoint = savepoint
        self._session: AsyncSession | None = None
        self._done = False
        self.driver = driver
        """The asyncpg connection, already inside the request's transaction."""

    @classmethod
    async def begin(cls, engine: AsyncEngine) -> RequestDb:
        """A connection from the engine's pool, and a transaction of its own.

        BEGIN doubles as the check a pre-ping would make: a pooled connection that fails it
        (the server went away since, and asyncpg has not noticed yet) is discarded and one
        other connection tried, so that a restart of the server costs no request an error.
        """
        for attempt in (1, 2):
            conn = await engine.connect()
            try:
                return cls(conn, await _begin_on(conn))
            except Exception:
                await conn.invalidate()
                await conn.close()
                if attempt == 2:
                    raise
            except BaseException:  # cancelled in the middle of BEGIN: discard it
                await asyncio.shield(_discard(conn))
                raise
        raise AssertionError("unreachable")

    @classmethod
    async def within(cls, conn: AsyncConnection) -> RequestDb:
        """A savepoint on a connection someone else holds in a transaction (the tests': each
        request commits or rolls back its savepoint, and the test rolls back the rest)."""
        savepoint = await conn.begin_nested()
        fairy = await conn.get_raw_connection()
        driver = fairy.driver_connection
        assert driver is not None
        assert driver.is_in_transaction()
        return cls(conn, driver, savepoint)

    @property
    def session(self) -> AsyncSession:
        """The ORM session of this request, on the same connection and transaction."""
        if self._session is None:
            self._session = AsyncSession(
                bind=self._conn,
                join_transaction_mode="rollback_only",
                expire_on_commit=False,
                autoflush=True,
                info={_REQUEST_DB: self},
            )
        return self._session

    async def commit(self) -> None:
        """Flush what the session holds, commit, and give the connection back."""
        if self._done:
            return
        self._done = True
        try:
            if self._session is not None:
                await self._session.flush()
            if self._savepoint is not None:
                await self._savepoint.commit()
            else:
                await self._conn.commit()
        except BaseException as failure:
            await self._end(failure)
            raise
        await self._end(None)

    async def rollback(self, failure: BaseException | None = None) -> None:
        """Undo everything and give the connection back (safe to call more than once).

        ``failure``, what made the request fail: unless it is one that leaves the connection
        as clean as it was (a refusal of the API, an error the server reported), the connection
        is discarded rather than given to the next request.
        """
        if self._done:
            return
        self._done = True
        await self._end(failure if failure is not None else _ROLLBACK)

    async def _end(self, failure: BaseException | None) -> None:
        # Shielded: a request cancelled (a timeout, the client gone, a task group winding
        # down) must still give its connection back, or discard it, in full.
        await asyncio.shield(self._finish(failure))

    async def _finish(self, failure: BaseException | None) -> None:
        reusable = failure is None or _reusable_after(failure)
        try:
            if self._session is not None:
                await self._session.close()
            if failure is not None and reusable:
                if self._savepoint is not None:
                    await self._savepoint.rollback()
                else:
                    await self._conn.rollback()
        except Exception:
            log.debug("rollback failed; discarding the connection", exc_info=True)
            reusable = False
        if self._savepoint is not None:  # the tests' connection: only the savepoint is ours
            if not reusable:
                with contextlib.suppress(Exception):
                    await self._savepoint.rollback()
            return
        if reusable:
            await self._conn.close()  # back to the pool
        else:
            await _discard(self._conn)


async def _begin_on(conn: AsyncConnection) -> asyncpg.Connection[Any]:
    await conn.begin()
    fairy = await conn.get_raw_connection()
    # SQLAlchemy's asyncpg adapter begins the server's transaction lazily, before the first
    # statement *it* sends. Begin it now, through the adapter, so that it also tracks the
    # transaction (and commits or rolls it back with the connection), and statements sent to
    # the driver directly run inside it from the first one.
    await fairy.dbapi_connection._start_transaction()  # type: ignore[union-attr]
    driver = fairy.driver_connection
    assert driver is not None
    assert driver.is_in_transaction()
    return driver


async def _discard(conn: AsyncConnection) -> None:
    await conn.invalidate()
    await conn.close()


class _Rollback(Exception):
    """The request ended without committing, for no fault of the connection."""


_ROLLBACK = _Rollback()


def _reusable_after(failure: BaseException) -> bool:
    """Whether the connection is as clean as before after ``failure`` (then rolled back).

    SQLAlchemy discards a connection itself when a statement it sent fails in a way that may
    have broken it; the statements sent to asyncpg directly need the same care. Known to leave
    it clean: a refusal of the API (raised before or between statements) and an error the
    server reported for a statement. Anything else (a cancelled request in the middle of a
    statement, a lost server, a bug) discards the connection.
    """
    if isinstance(failure, BaseExceptionGroup):
        return all(_reusable_after(e) for e in failure.exceptions)
    if isinstance(failure, asyncpg.PostgresError):
        return not isinstance(
            failure, asyncpg.PostgresConnectionError | asyncpg.exceptions.AdminShutdownError
        )
    return isinstance(
        failure, _Rollback | DomainError | HTTPException | SQLAlchemyError
    ) and not isinstance(failure, DBAPIError)


async def driver_of(session: AsyncSession) -> asyncpg.Connection[Any]:
    """The asyncpg connection under an ORM session, inside the session's transaction, for the
    statements shared by the fast paths. Pending ORM changes are flushed first, so that those
    statements see them."""
    await session.flush()
    db = session.info.get(_REQUEST_DB)
    if isinstance(db, RequestDb):
        return db.driver
    # A session of its own (the CLI, the seed): make it begin its transaction, then go under.
    conn = await session.connection()
    fairy = await conn.get_raw_connection()
    driver = fairy.driver_connection
    assert driver is not None
    if not driver.is_in_transaction():
        await conn.exec_driver_sql("SELECT 1")
    return driver


def request_db_opener(
    sessionmaker: async_sessionmaker[Any],
) -> Callable[[], Awaitable[RequestDb]]:
    """How requests get their RequestDb: from the pool of the engine the app's sessions are
    bound to, or, where they are bound to one connection (the tests), on that connection."""
    bind = sessionmaker.kw.get("bind")
    if isinstance(bind, AsyncConnection):
        return partial(RequestDb.within, bind)
    if not isinstance(bind, AsyncEngine):
        raise TypeError("the sessionmaker must be bound to an engine or a connection")
    return partial(RequestDb.begin, bind)
