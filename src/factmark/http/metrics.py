"""Per-route request metrics for Prometheus, under the names Litestar's plugin gives them.

``litestar_requests_total``, ``litestar_request_duration_seconds``,
``litestar_requests_in_progress`` and ``litestar_requests_error_total`` (status 500 and above),
labelled by method, route template (``/api/v1/documents/{document_id}/claims``), status
code and app name, so that dashboards made for Litestar's ``PrometheusMiddleware`` read them
unchanged.

Litestar's middleware builds a ``Request`` and label dictionaries, and asks prometheus_client
for each metric's child by its label values, four times per request. Here the children are
looked up once per route and status and kept: bench/README.md (the fifth session) has the
cost per request before and after.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from litestar.types import ASGIApp, Message, Receive, Scope, Send
from prometheus_client import Counter, Gauge, Histogram

APP_NAME = "factmark"
LABELS = ("method", "path", "status_code", "app_name")

REQUESTS = Counter("litestar_requests_total", "Total requests", LABELS)
DURATION = Histogram("litestar_request_duration_seconds", "Request duration, in seconds", LABELS)
IN_PROGRESS = Gauge(
    "litestar_requests_in_progress",
    "Total requests currently in progress",
    LABELS,
    multiprocess_mode="livesum",
)
ERRORS = Counter("litestar_requests_error_total", "Total errors in requests", LABELS)

_MAX_SERIES = 10_000
"""Children kept per kind and instance. Litestar makes one instance per route handler, so the
keys vary only by method and status; the bound is a guard, not a limit met in practice."""


class RequestMetrics:
    """ASGI middleware (inside Litestar's router, where the route template is known)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._in_progress: dict[tuple[str, str], Any] = {}
        self._done: dict[tuple[str, str, int], tuple[Any, Any, Any | None]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":  # type: ignore[comparison-overlap]
            await self.app(scope, receive, send)
            return
        method: str = scope["method"]  # type: ignore[typeddict-item]
        path: str = scope.get("path_template") or scope["path"]
        in_progress = self._in_progress.get((method, path))
        if in_progress is None:
            # Litestar labels the gauge with status 200 (the status is not known yet): kept so.
            in_progress = IN_PROGRESS.labels(method, path, "200", APP_NAME)
            if len(self._in_progress) < _MAX_SERIES:
                self._in_progress[(method, path)] = in_progress
        status = 500
        finished = 0.0

        async def send_and_time(message: Message) -> None:
            nonlocal status, finished
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body":
                finished = time.perf_counter()
            await send(message)

        started = time.perf_counter()
        in_progress.inc()
        try:
            await self.app(scope, receive, send_and_time)
        except asyncio.CancelledError:
            # Cancelled before any response: the request timeout (factmark.http.requests),
            # which answers 503 itself. Counted as what the client gets, not as a 500.
            if not finished and status == 500:
                status = 503
            raise
        finally:
            in_progress.dec()
            count, duration, errors = self._children(method, path, status)
            count.inc()
            duration.observe((finished or time.perf_counter()) - started)
            if errors is not None:
                errors.inc()

    def _children(self, method: str, path: str, status: int) -> tuple[Any, Any, Any | None]:
        key = (method, path, status)
        children = self._done.get(key)
        if children is None:
            code = str(status)
            children = (
                REQUESTS.labels(method, path, code, APP_NAME),
                DURATION.labels(method, path, code, APP_NAME),
                ERRORS.labels(method, path, code, APP_NAME) if status >= 500 else None,
            )
            if len(self._done) < _MAX_SERIES:
                self._done[key] = children
        return children
