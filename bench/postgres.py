"""The benchmark's PostgreSQL: an embedded server in a temporary directory, or a given server,
with a database of its own created, migrated and (unless kept) dropped afterwards."""

from __future__ import annotations

import secrets
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from factmark import migrations
from factmark.db import APP_ROLE, EmbeddedPostgres
from factmark.settings import normalise_database_url


@dataclass(frozen=True, slots=True)
class BenchDatabase:
    name: str
    owner_url: str
    """SQLAlchemy URL of the superuser: migrations, loading, triggers on and off."""
    app_url: str
    """SQLAlchemy URL of the restricted role the API uses in production."""
    app_role_note: str | None
    """Set when the API could not connect as the app role and runs as the owner instead."""
    server_version: str
    settings: dict[str, str]
    embedded: bool

    @property
    def owner_dsn(self) -> str:
        return asyncpg_dsn(self.owner_url)

    @property
    def app_dsn(self) -> str:
        return asyncpg_dsn(self.app_url)


def asyncpg_dsn(url: str) -> str:
    """A SQLAlchemy ``postgresql+asyncpg://`` URL as asyncpg itself takes it."""
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


def with_database(url: str, database: str, user: str | None = None) -> str:
    parts = urlsplit(url)
    netloc = parts.netloc
    if user is not None:
        host = netloc.rsplit("@", 1)[-1]
        netloc = f"{user}@{host}"
    return urlunsplit((parts.scheme, netloc, "/" + database, parts.query, parts.fragment))


async def _exists(conn: asyncpg.Connection, name: str) -> bool:
    return bool(await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name))


async def _prepare(admin_url: str, name: str, *, reuse: bool) -> bool:
    """Create the database (dropping a stale one unless reused); True when it already existed."""
    conn = await asyncpg.connect(asyncpg_dsn(admin_url))
    try:
        exists = await _exists(conn, name)
        if exists and not reuse:
            await conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
            exists = False
        if not exists:
            await conn.execute(f'CREATE DATABASE "{name}"')
        await conn.execute(
            "DO $$ BEGIN "
            f"IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{APP_ROLE}') THEN "
            f"CREATE ROLE {APP_ROLE} LOGIN; ELSE ALTER ROLE {APP_ROLE} LOGIN; END IF; END $$"
        )
        return exists
    finally:
        await conn.close()


async def _describe(owner_url: str) -> tuple[str, dict[str, str]]:
    conn = await asyncpg.connect(asyncpg_dsn(owner_url))
    try:
        version = str(await conn.fetchval("SHOW server_version"))
        names = (
            "shared_buffers",
            "work_mem",
            "max_connections",
            "synchronous_commit",
            "fsync",
            "jit",
        )
        settings = {n: str(await conn.fetchval(f"SHOW {n}")) for n in names}
        return version, settings
    finally:
        await conn.close()


async def _app_url(owner_url: str, name: str) -> tuple[str, str | None]:
    """The app role's URL on the same server; it needs trust (or peer) authentication."""
    candidate = with_database(owner_url, name, user=APP_ROLE)
    try:
        conn = await asyncpg.connect(asyncpg_dsn(candidate))
    except (OSError, asyncpg.PostgresError) as exc:
        note = (
            f"could not connect as {APP_ROLE} ({type(exc).__name__}); the API ran as the owner "
            "role, which skips the app role's privilege checks"
        )
        return with_database(owner_url, name), note
    await conn.close()
    return candidate, None


async def drop_database(admin_url: str, name: str) -> None:
    conn = await asyncpg.connect(asyncpg_dsn(admin_url))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


@contextmanager
def postgres_server(database_url: str | None, pgdata: Path | None) -> Iterator[tuple[str, bool]]:
    """The superuser URL of a server: the given one, or an embedded server started here."""
    if database_url:
        yield normalise_database_url(database_url), False
        return
    temporary = pgdata is None
    root = Path(tempfile.mkdtemp(prefix="factmark-bench-")) if pgdata is None else pgdata
    embedded = EmbeddedPostgres(root / "pgdata" if temporary else root, cleanup="stop")
    try:
        yield embedded.url("postgres"), True
    finally:
        embedded.stop()
        if temporary:
            shutil.rmtree(root, ignore_errors=True)


async def create_bench_database(
    admin_url: str, scale: str, *, embedded: bool, reuse: bool
) -> tuple[BenchDatabase, bool]:
    """Create and migrate the bench database; True when a reused one already existed."""
    name = f"factmark_bench_{scale}" if reuse else f"factmark_bench_{scale}_{secrets.token_hex(3)}"
    existed = await _prepare(admin_url, name, reuse=reuse)
    owner_url = with_database(admin_url, name)
    migrations.upgrade(owner_url)
    app_url, note = await _app_url(owner_url, name)
    version, settings = await _describe(owner_url)
    database = BenchDatabase(
        name=name,
        owner_url=owner_url,
        app_url=app_url,
        app_role_note=note,
        server_version=version,
        settings=settings,
        embedded=embedded,
    )
    return database, existed
