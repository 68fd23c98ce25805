"""Idempotency-Key on POST: the same key and body within 24 hours replays the first response.

The record is inserted at the start of the request's own transaction. A concurrent request with
the same key blocks on that row until the first commits, then replays its stored response; if
the first fails, its record rolls back with it and the retry runs afresh.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import asyncpg
import msgspec
from litestar import Request, Response

from factmark.accounts.service import Actor
from factmark.errors import Invalid

T = TypeVar("T")
MAX_KEY_LENGTH = 255
REPLAYED_HEADER = "Idempotent-Replayed"

# Sent on the request's asyncpg connection (see factmark.transaction): every POST with a key
# pays for these, so they skip SQLAlchemy's statement machinery.
CLAIM_KEY = """
    INSERT INTO idempotency_records AS r (actor_key, key, request_hash, method, path)
    VALUES ($1, $2, $3, $4, $5)
    ON CONFLICT (actor_key, key) DO UPDATE
       SET request_hash = excluded.request_hash, method = excluded.method,
           path = excluded.path, status_code = NULL, response_body = NULL,
           response_headers = NULL, created_at = now()
     WHERE r.created_at < now() - interval '24 hours'
    RETURNING true
"""
"""One statement claims the key: a new record, or one older than 24 hours taken over. No row
back: the key is held by a record still valid, whose response is then replayed."""

READ_RECORD = """
    SELECT request_hash, status_code, response_body, response_headers
      FROM idempotency_records WHERE actor_key = $1 AND key = $2
"""

STORE_RESPONSE = """
    UPDATE idempotency_records SET status_code = $3, response_body = $4, response_headers = $5
     WHERE actor_key = $1 AND key = $2
"""


async def run_idempotent(
    request: Request[Any, Any, Any],
    db: asyncpg.Connection[Any],
    actor: Actor,
    response_type: type[T],
    produce: Callable[[], Awaitable[Response[T]]],
) -> Response[T]:
    """Run ``produce`` once per Idempotency-Key; ``db`` is the request's asyncpg connection,
    in the request's transaction (``RequestDb.driver``, or ``driver_of(session)``)."""
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
    path = request.url.path
    fingerprint = hashlib.sha256(request.method.encode() + b" " + path.encode() + b"\n" + body)
    digest = fingerprint.digest()
    claimed = await db.fetchval(CLAIM_KEY, actor.key, key, digest, request.method, path)
    if claimed is None:
        record = await db.fetchrow(READ_RECORD, actor.key, key)
        assert record is not None
        if record["request_hash"] != digest:
            raise Invalid(
                "This Idempotency-Key was already used with another request body.",
                field="Idempotency-Key",
                code="idempotency_key_reused",
            )
        assert record["status_code"] is not None
        assert record["response_body"] is not None
        headers: dict[str, str] = msgspec.json.decode(record["response_headers"] or "{}")
        headers[REPLAYED_HEADER] = "true"
        return Response(
            content=msgspec.json.decode(record["response_body"], type=response_type),
            status_code=record["status_code"],
            headers=headers,
        )
    response = await produce()
    stored_headers = {
        k: v for k, v in response.headers.items() if k.lower() in {"etag", "location"}
    }
    await db.execute(
        STORE_RESPONSE,
        actor.key,
        key,
        response.status_code,
        msgspec.json.encode(response.content),
        msgspec.json.encode(stored_headers).decode(),
    )
    return response
