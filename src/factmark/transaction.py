"""A request's database access: one pooled connection, one transaction, two ways in.

Most handlers use the ORM through an ``AsyncSession``. The paths every request or every busy
write takes (authentication, creating a claim) send their statements straight to asyncpg: one
statement through the session costs ~0.2 ms of CPU, against ~0.03 ms for a prepared asyncpg
call (bench/README.md, claim creation). Both run on the same connection and in the same
transaction, so the audit context set by one is seen by the triggers the other fires, and one
commit or rollback covers both.

The connection is taken from the pool at the first statement, as the pool's own record of it
(no SQLAlchemy ``Connection`` around it: that costs ~0.1 ms of CPU per request in checkout,
begin, commit and return, a twentieth of a claim creation's). A ``Connection`` and the session
are built only when a handler asks for the session, joined to the transaction
(``join_transaction_mode="rollback_only"``: its flushes go into the transaction, and only
:class:`RequestDb` commits).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from functools import partial
from typing import Any

import asyncpg
from litestar.exceptions import HTTPException
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    AsyncTransaction,
    async_sessionmaker,
)
from sqlalchemy.pool import PoolProxiedConnection
from sqlalchemy.util import greenlet_spawn

from factmark.errors import DomainError

log = logging.getLogger(__name__)

_REQUEST_DB = "factmark.request_db"


class RequestDb:
    """A request's connection and transaction, taken from the pool at first use.

    Nothing is checked out until a statement needs it: a request refused before (no token, a
    rate limit) holds no connection, and the rate limiter, which syncs through connections of
    its own from the same pool, never runs while its request holds one (else a burst of
    requests could hold every connection and wait for one more).
    """

    __slots__ = (
        "_conn",
        "_done",
        "_driver",
        "_engine",
        "_fairy",
        "_lock",
        "_savepoint",
        "_session",
    )

    def __init__(self, engine: AsyncEngine | None, conn: AsyncConnection | None = None) -> None:
        self._engine = engine
        self._conn = conn
        self._fairy: PoolProxiedConnection | None = None
        self._savepoint: AsyncTransaction | None = None
        self._session: AsyncSession | None = None
        self._driver: asyncpg.Connection[Any] | None = None
        self._lock = asyncio.Lock()
        self._done = False

    @classmethod
    def from_pool(cls, engine: AsyncEngine) -> RequestDb:
        """A connection from the engine's pool, with a transaction of its own."""
        return cls(engine)

    @classmethod
    def within(cls, conn: AsyncConnection) -> RequestDb:
        """A savepoint on a connection someone else holds in a transaction (the tests': each
        request commits or rolls back its savepoint, and the test rolls back the rest)."""
        return cls(None, conn)

    async def driver(self) -> asyncpg.Connection[Any]:
        """The asyncpg connection, inside the request's transaction (begun now if need be)."""
        if self._done:
            raise RuntimeError("this request's database access has ended")
        if self._driver is not None:
            return self._driver
        async with self._lock:  # dependencies may ask at once (Litestar's task groups)
            if self._driver is None:
                if self._engine is not None:
                    self._fairy, self._driver = await _checkout(self._engine)
                else:
                    assert self._conn is not None
                    self._savepoint = await self._conn.begin_nested()
                    fairy = await self._conn.get_raw_connection()
                    driver = fairy.driver_connection
                    assert driver is not None
                    self._driver = driver
        return self._driver

    async def session(self) -> AsyncSession:
        """The ORM session of this request, on the same connection and transaction."""
        await self.driver()
        if self._session is None:
            async with self._lock:  # one session, however many ask at once
                if self._session is None:
                    self._session = await self._new_session()
        return self._session

    async def _new_session(self) -> AsyncSession:
        if self._conn is None:
            # Wrap the pooled connection, already in its transaction: SQLAlchemy's begin is
            # bookkeeping only (its asyncpg adapter sees the transaction begun).
            assert self._engine is not None
            assert self._fairy is not None
            sync_conn = Connection(self._engine.sync_engine, connection=self._fairy)
            self._conn = AsyncConnection(self._engine, sync_conn)
            await self._conn.begin()
        return AsyncSession(
            bind=self._conn,
            join_transaction_mode="rollback_only",
            expire_on_commit=False,
            autoflush=True,
            info={_REQUEST_DB: self},
        )

    async def commit(self) -> None:
        """Flush what the session holds, commit, and give the connection back."""
        async with self._lock:  # after a checkout still under way, if any
            if self._done:
                return
            self._done = True
        if self._driver is None:
            return  # no statement was sent
        try:
            if self._session is not None:
                await self._session.flush()
            if not self._driver.is_in_transaction():
                # Something ended the transaction early (a rollback after a failed flush that a
                # handler went past): what followed ran outside it. Refuse to report success.
                raise RuntimeError("the request's transaction ended before its commit")
            await self._end_transaction(commit=True)
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
        async with self._lock:  # after a checkout still under way, if any
            if self._done:
                return
            self._done = True
        if self._driver is None:
            return
        await self._end(failure if failure is not None else _ROLLBACK)

    async def _end_transaction(self, *, commit: bool) -> None:
        """Commit or roll back through whatever holds the transaction: the tests' savepoint,
        the SQLAlchemy connection built for a session, or the pool's connection alone."""
        if self._savepoint is not None:
            await (self._savepoint.commit() if commit else self._savepoint.rollback())
        elif self._conn is not None:
            await (self._conn.commit() if commit else self._conn.rollback())
        else:
            await _end_adapter_transaction(self._fairy, commit=commit)

    async def __aenter__(self) -> RequestDb:
        return self

    async def __aexit__(self, kind: object, failure: BaseException | None, tb: object) -> None:
        """Commit when the block succeeds, else roll back (see ``rollback``) and let it raise."""
        if failure is None:
            await self.commit()
        else:
            await self.rollback(failure)

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
                await self._end_transaction(commit=False)
        except Exception:
            log.debug("rollback failed; discarding the connection", exc_info=True)
            reusable = False
        if self._savepoint is not None:  # the tests' connection: only the savepoint is ours
            if not reusable:
                with contextlib.suppress(Exception):
                    await self._savepoint.rollback()
            return
        if self._conn is not None:
            if reusable:
                await self._conn.close()  # back to the pool
            else:
                await self._conn.invalidate()
                await self._conn.close()
            return
        assert self._fairy is not None
        await _give_back(self._fairy, reusable=reusable)


async def _checkout(engine: AsyncEngine) -> tuple[PoolProxiedConnection, asyncpg.Connection[Any]]:
    """A pooled connection in a new transaction.

    BEGIN doubles as the check a pre-ping would make: a pooled connection that fails it (the
    server went away since, and asyncpg has not noticed yet) is discarded and one other
    connection tried, so that a restart of the server costs no request an error.
    """
    for attempt in (1, 2):
        fairy = await engine.raw_connection()
        try:
            return fairy, await _begin_on(fairy)
        except Exception:
            await _give_back(fairy, reusable=False)
            if attempt == 2:
                raise
        except BaseException:  # cancelled in the middle of BEGIN: discard it
            await asyncio.shield(_give_back(fairy, reusable=False))
            raise
    raise AssertionError("unreachable")


async def _begin_on(fairy: PoolProxiedConnection) -> asyncpg.Connection[Any]:
    # SQLAlchemy's asyncpg adapter begins the server's transaction lazily, before the first
    # statement *it* sends. Begin it now, through the adapter, so that it also tracks the
    # transaction (and commits or rolls it back with a Connection built on it later), and
    # statements sent to the driver directly run inside it from the first one.
    await _adapter(fairy)._start_transaction()
    driver = fairy.driver_connection
    assert driver is not None
    assert driver.is_in_transaction()
    return driver


def _adapter(fairy: PoolProxiedConnection | None) -> Any:
    """SQLAlchemy's asyncpg adapter under a pooled connection."""
    assert fairy is not None
    assert fairy.dbapi_connection is not None
    return fairy.dbapi_connection


async def _end_adapter_transaction(fairy: PoolProxiedConnection | None, *, commit: bool) -> None:
    """Commit or roll back the transaction ``_begin_on`` began, as the adapter would (it forgets
    the transaction whether or not that succeeds, so that the pool's reset finds none)."""
    adapter = _adapter(fairy)
    transaction = adapter._transaction
    if transaction is None:
        return
    adapter._transaction = None
    await (transaction.commit() if commit else transaction.rollback())


async def _give_back(fairy: PoolProxiedConnection, *, reusable: bool) -> None:
    """Return the connection to the pool, or close it and let the pool open a new one."""
    await greenlet_spawn(fairy.close if reusable else fairy.invalidate)


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
        return await db.driver()
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
) -> Callable[[], RequestDb]:
    """How requests get their RequestDb: from the pool of the engine the app's sessions are
    bound to, or, where they are bound to one connection (the tests), on that connection."""
    bind = sessionmaker.kw.get("bind")
    if isinstance(bind, AsyncConnection):
        return partial(RequestDb.within, bind)
    if not isinstance(bind, AsyncEngine):
        raise TypeError("the sessionmaker must be bound to an engine or a connection")
    return partial(RequestDb.from_pool, bind)
