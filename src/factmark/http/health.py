"""Liveness and readiness probes, and Prometheus metrics."""

from __future__ import annotations

import asyncio
import os

import msgspec
from litestar import Controller, Response, get
from litestar.datastructures import State
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest, multiprocess
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from sqlalchemy import text

from factmark.http.openapi import PublicOperation
from factmark.http.problems import public_problems
from factmark.schemas import Schema


class Health(Schema, omit_defaults=True):
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
        operation_class=PublicOperation,
        responses=public_problems(),
    )
    async def live(self) -> Health:
        return Health(status="ok")

    @get(
        "/ready",
        operation_id="ready",
        summary="The database answers; 503 problem details otherwise",
        security=[],
        operation_class=PublicOperation,
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


@get(
    "/metrics",
    operation_id="metrics",
    summary="Prometheus metrics in the text exposition format",
    description=(
        "Request counts and durations per route (litestar_requests_total, ...). With several "
        "worker processes, set PROMETHEUS_MULTIPROC_DIR so that every worker is counted."
    ),
    tags=["Operations"],
    security=[],
    operation_class=PublicOperation,
    media_type="text/plain",
    sync_to_thread=False,
)
def metrics() -> Response[bytes]:
    registry = REGISTRY
    if "PROMETHEUS_MULTIPROC_DIR" in os.environ or "prometheus_multiproc_dir" in os.environ:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
