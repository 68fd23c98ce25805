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

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


async def provide_db_session(state: State) -> AsyncGenerator[AsyncSession, None]:
    """One session and one transaction per request: committed when the handler succeeds,
    rolled back when it raises, so a failed request leaves nothing behind."""
    async with state.sessionmaker() as session:
        try:
            yield session
        except BaseException:
            await session.rollback()
            raise
        else:
            await session.commit()


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
    request: Request[Any, Any, Any], db_session: NamedDependency[AsyncSession], state: State
) -> Actor:
    """The authenticated caller; for writes, also the audit context of the transaction."""
    token = bearer_token(request)
    if token is None:
        raise Unauthenticated("This endpoint needs a bearer token.", code="unauthenticated")
    settings = state.settings
    try:
        await state.rate_limiter.hit(
            f"token:{token[:16]}",
            settings.api_rate_limit,
            settings.rate_limit_window_seconds,
        )
        actor = await authenticate(db_session, token)
        request.scope.setdefault("state", {})["actor_id"] = actor.key
        if request.method not in SAFE_METHODS:
            await set_audit_context(
                db_session,
                actor,
                request_id=request_id_of(request.scope),
                idempotency_key=request.headers.get("idempotency-key"),
                reason=request.headers.get("x-change-reason"),
            )
    except BaseException:
        # Litestar cleans up generator dependencies only once all of them are resolved: when
        # this one raises (401, 429, database down), nothing closes the request's session, and
        # where dependencies resolve in a task group (routes with read_session) its connection
        # stayed checked out until the garbage collector found it. Give it back now.
        await db_session.close()
        raise
    return actor
