"""Dependencies every controller uses: the request's database session and the caller."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

from litestar import Request
from litestar.datastructures import State
from litestar.di import NamedDependency
from sqlalchemy.ext.asyncio import AsyncSession

from factmark.accounts.service import Actor, authenticate, set_audit_context
from factmark.errors import Unauthenticated
from factmark.http.requests import request_id_of
from factmark.transaction import RequestDb

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


async def provide_db(state: State) -> AsyncGenerator[RequestDb, None]:
    """One connection and one transaction per request: committed when the handler succeeds,
    rolled back when it raises, so a failed request leaves nothing behind."""
    db: RequestDb = state.open_request_db()
    async with db:
        yield db


async def provide_db_session(db: NamedDependency[RequestDb]) -> AsyncSession:
    """The request's ORM session, in the request's transaction."""
    return await db.session()


async def provide_read_session(
    state: State, db_session: NamedDependency[AsyncSession]
) -> AsyncGenerator[AsyncSession, None]:
    """A session for reads that may lag (lists, search, exports): the replica when one is
    configured, else the request's own session."""
    if state.read_sessionmaker is None:
        yield db_session
        return
    async with state.read_sessionmaker() as session:
        try:
            yield session
        finally:
            await session.rollback()


def bearer_token(request: Request[Any, Any, Any]) -> str | None:
    header = request.headers.get("authorization")
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise Unauthenticated("Use Authorization: Bearer <token>.", code="invalid_authorization")
    return value.strip()


async def provide_actor(
    request: Request[Any, Any, Any], db: NamedDependency[RequestDb], state: State
) -> Actor:
    """The authenticated caller; for writes, also the audit context of the transaction."""
    settings = state.settings
    try:
        token = bearer_token(request)
        if token is None:
            raise Unauthenticated("This endpoint needs a bearer token.", code="unauthenticated")
        await state.rate_limiter.hit(
            f"token:{token[:16]}",
            settings.api_rate_limit,
            settings.rate_limit_window_seconds,
        )
        actor = await authenticate(await db.driver(), token)
        request.scope.setdefault("state", {})["actor_id"] = actor.key
        if request.method not in SAFE_METHODS:
            await set_audit_context(
                await db.driver(),
                actor,
                request_id=request_id_of(request.scope),
                idempotency_key=request.headers.get("idempotency-key"),
                reason=request.headers.get("x-change-reason"),
            )
    except BaseException as failure:
        # Litestar cleans up generator dependencies only once all of them are resolved: when
        # this one raises (401, 429, database down), nothing gives the request's connection
        # back, and where dependencies resolve in a task group (routes with read_session) it
        # stayed checked out until the garbage collector found it. Give it back now.
        await db.rollback(failure)
        raise
    return actor
