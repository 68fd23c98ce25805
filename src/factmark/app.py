"""create_app(settings) -> Litestar: the one place where the app is assembled."""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from litestar import Litestar, Response, get
from litestar.config.compression import CompressionConfig
from litestar.config.cors import CORSConfig
from litestar.datastructures import State
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import ScalarRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from factmark import __version__
from factmark.accounts.controller import AuthController, TokenController, WorkspaceController
from factmark.annotations.controller import CONTROLLERS as ANNOTATION_CONTROLLERS
from factmark.audit.controller import AuditController
from factmark.audit.sealer import start_sealer, stop_sealer
from factmark.db import create_engine, create_sessionmaker, resolve_database
from factmark.documents.controller import DocumentController, WorkspaceDocumentsController
from factmark.exports.controller import ExportController
from factmark.http.dependencies import (
    provide_actor,
    provide_db,
    provide_db_session,
    provide_read_session,
)
from factmark.http.health import HealthController, metrics
from factmark.http.metrics import RequestMetrics
from factmark.http.openapi import FactmarkOpenAPIConfig, StrictStructSchemaPlugin
from factmark.http.prechecks import check_request
from factmark.http.problems import EXCEPTION_HANDLERS
from factmark.http.ratelimit import RateLimiter
from factmark.http.requests import RequestContextMiddleware, configure_logging
from factmark.settings import Settings
from factmark.transaction import request_db_opener

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Database:
    """Live database handles. Tests pass their own, bound to a rolled-back transaction."""

    engine: AsyncEngine
    sessionmaker: async_sessionmaker[Any]
    read_sessionmaker: async_sessionmaker[Any] | None = None
    owned: bool = True


def connect(settings: Settings) -> Database:
    urls, _ = resolve_database(settings)
    engine = create_engine(urls.app, pool_size=settings.db_pool_size)
    read = None
    if urls.replica:
        read = create_sessionmaker(create_engine(urls.replica, pool_size=settings.db_pool_size))
    return Database(engine=engine, sessionmaker=create_sessionmaker(engine), read_sessionmaker=read)


def _attach(state: State, db: Database) -> None:
    state.engine = db.engine
    state.rate_limiter = RateLimiter(db.engine)
    state.sessionmaker = db.sessionmaker
    state.open_request_db = request_db_opener(db.sessionmaker)
    state.read_sessionmaker = db.read_sessionmaker


@get("/docs", include_in_schema=False)
async def docs_redirect() -> Response[None]:
    return Response(None, status_code=307, headers={"Location": "/schema/scalar"})


def _openapi(settings: Settings) -> OpenAPIConfig:
    return FactmarkOpenAPIConfig(
        title="factmark",
        version=__version__,
        description=(
            "Fact-checking API: documents, span-anchored claims, verdicts, evidence, audit "
            "history and verified-claim exports. Errors are RFC 9457 problem details. "
            "Spans count Unicode code points unless offsetUnit=utf16."
        ),
        path="/schema",
        render_plugins=[ScalarRenderPlugin(path="/scalar")],
        components=Components(
            security_schemes={
                "BearerToken": SecurityScheme(
                    type="http",
                    scheme="bearer",
                    description="An opaque token from POST /api/v1/auth/login or the CLI.",
                )
            }
        ),
        security=[{"BearerToken": []}],
        use_handler_docstrings=False,
        create_examples=False,
    )


def create_app(settings: Settings | None = None, database: Database | None = None) -> Litestar:
    settings = settings or Settings.from_env()
    configure_logging(settings.log_level, settings.log_format)
    db = database

    state = State({"settings": settings})
    if db is not None:
        _attach(state, db)

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncGenerator[None, None]:
        nonlocal db
        sealer = None
        if db is None:
            db = connect(settings)
            _attach(app.state, db)
            # Seal audit events in the background (one sealer at a time across processes).
            sealer = start_sealer(db.sessionmaker, settings)
            app.state.audit_sessionmaker = db.sessionmaker  # lets verify use parallel sessions
        limiter: RateLimiter = app.state.rate_limiter
        limiter.start()
        try:
            yield
        finally:
            try:
                await limiter.stop()
            finally:
                await stop_sealer(sealer)
                if db.owned:
                    await db.engine.dispose()

    app = Litestar(
        route_handlers=[
            HealthController,
            AuthController,
            WorkspaceController,
            TokenController,
            WorkspaceDocumentsController,
            DocumentController,
            ExportController,
            *ANNOTATION_CONTROLLERS,
            AuditController,
            metrics,
            docs_redirect,
        ],
        dependencies={
            "db": Provide(provide_db),
            "db_session": Provide(provide_db_session),
            "read_session": Provide(provide_read_session),
            "actor": Provide(provide_actor),
        },
        exception_handlers=EXCEPTION_HANDLERS,  # type: ignore[arg-type]
        before_request=check_request,
        middleware=[RequestMetrics],
        openapi_config=_openapi(settings),
        plugins=[StrictStructSchemaPlugin()],
        cors_config=CORSConfig(
            allow_origins=list(settings.cors_origins),
            expose_headers=["ETag", "Link", "X-Request-ID", "Retry-After", "Location"],
            allow_headers=[
                "Authorization",
                "Content-Type",
                "If-Match",
                "Idempotency-Key",
                "X-Request-ID",
                "X-Change-Reason",
            ],
        )
        if settings.cors_origins
        else None,
        compression_config=CompressionConfig(
            backend="gzip",
            minimum_size=1024,
            # Level 9 (the default) spends ~6 ms of CPU on a 330 KB review screen; level 3
            # ~1.1 ms, for a body ~20% larger (bench/README.md, the review screen).
            gzip_compress_level=3,
            # Exports compress their own stream, at a level that keeps up with the database.
            exclude_opt_key="skip_compression",
        ),
        request_max_body_size=settings.max_body_bytes,
        lifespan=[lifespan],
        state=state,
        logging_config=None,
        debug=False,
    )
    # Outermost, so that unknown routes (404, 405) and CORS preflights get a request id and an
    # access log line too: Litestar's own middleware only wraps matched routes.
    app.asgi_handler = RequestContextMiddleware(
        app.asgi_handler, timeout_seconds=settings.request_timeout_seconds
    )
    return app
