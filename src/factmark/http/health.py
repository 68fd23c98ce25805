"""Liveness and readiness probes."""

from __future__ import annotations

import asyncio

import msgspec
from litestar import Controller, Response, get
from litestar.datastructures import State
from sqlalchemy import text

from factmark.http.problems import public_problems
from factmark.schemas import Schema


class Health(Schema):
    status: str
    database: str | None = None


class HealthController(Controller):
    path = "/health"
    tags = ["Operations"]
    include_in_schema = True

    @get(
        "/live",
        operation_id="live",
        summary="The process is up",
        security=[],
        responses=public_problems(),
    )
    async def live(self) -> Health:
        return Health(status="ok")

    @get(
        "/ready",
        operation_id="ready",
        summary="The database answers; 503 problem details otherwise",
        security=[],
        responses=public_problems(503),
    )
    async def ready(self, state: State) -> Response[Health]:
        try:
            async with asyncio.timeout(3):
                async with state.engine.connect() as conn:
                    await conn.execute(text("SELECT 1"))
        except Exception:
            body = {
                "type": "https://factmark.dev/problems/database_unavailable",
                "title": "Service unavailable",
                "status": 503,
                "code": "database_unavailable",
                "detail": "The database does not answer.",
                "instance": "/health/ready",
            }
            return Response(
                msgspec.json.encode(body),  # type: ignore[arg-type]
                status_code=503,
                media_type="application/problem+json",
                headers={"Retry-After": "2"},
            )
        return Response(Health(status="ok", database="ok"))
