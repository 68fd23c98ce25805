"""Idempotency-Key on POST: the same key and body within 24 hours replays the first response.

The record is inserted at the start of the request's own transaction. A concurrent request with
the same key blocks on that row until the first commits, then replays its stored response; if
the first fails, its record rolls back with it and the retry runs afresh.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, cast

import msgspec
from litestar import Request, Response
from sqlalchemy import Table, func, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from factmark.accounts.service import Actor
from factmark.errors import Invalid
from factmark.http.models import IdempotencyRecord

T = TypeVar("T")
MAX_KEY_LENGTH = 255
REPLAYED_HEADER = "Idempotent-Replayed"
TTL = "24 hours"
RECORDS = cast(Table, IdempotencyRecord.__table__)
"""The table itself: Core statements skip the ORM's bookkeeping on every POST."""


async def run_idempotent(
    request: Request[Any, Any, Any],
    session: AsyncSession,
    actor: Actor,
    response_type: type[T],
    produce: Callable[[], Awaitable[Response[T]]],
) -> Response[T]:
    key = request.headers.get("idempotency-key")
    if key is None:
        return await produce()
    if not key or len(key) > MAX_KEY_LENGTH:
        raise Invalid(
            f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} characters.",
            field="Idempotency-Key",
            code="invalid_idempotency_key",
        )
    body = await request.body()
    fingerprint = hashlib.sha256(
        request.method.encode() + b" " + request.url.path.encode() + b"\n" + body
    ).digest()
    # One statement claims the key: a new record, or one older than 24 hours taken over.
    claimed = await session.execute(
        insert(RECORDS)
        .values(
            actor_key=actor.key,
            key=key,
            request_hash=fingerprint,
            method=request.method,
            path=request.url.path,
        )
        .on_conflict_do_update(
            index_elements=[RECORDS.c.actor_key, RECORDS.c.key],
            set_={
                "request_hash": fingerprint,
                "method": request.method,
                "path": request.url.path,
                "status_code": None,
                "response_body": None,
                "response_headers": None,
                "created_at": func.now(),
            },
            where=RECORDS.c.created_at < func.now() - text(f"interval '{TTL}'"),
        )
        .returning(RECORDS.c.key)
    )
    if claimed.first() is None:
        record = await session.scalar(
            select(IdempotencyRecord).where(
                IdempotencyRecord.actor_key == actor.key, IdempotencyRecord.key == key
            )
        )
        assert record is not None
        if record.request_hash != fingerprint:
            raise Invalid(
                "This Idempotency-Key was already used with another request body.",
                field="Idempotency-Key",
                code="idempotency_key_reused",
            )
        assert record.status_code is not None
        assert record.response_body is not None
        headers: dict[str, str] = msgspec.json.decode(record.response_headers or "{}")
        headers[REPLAYED_HEADER] = "true"
        return Response(
            content=msgspec.json.decode(record.response_body, type=response_type),
            status_code=record.status_code,
            headers=headers,
        )
    response = await produce()
    stored_headers = {
        k: v for k, v in response.headers.items() if k.lower() in {"etag", "location"}
    }
    await session.execute(
        update(RECORDS)
        .where(RECORDS.c.actor_key == actor.key, RECORDS.c.key == key)
        .values(
            status_code=response.status_code,
            response_body=msgspec.json.encode(response.content),
            response_headers=msgspec.json.encode(stored_headers).decode(),
        )
    )
    return response
