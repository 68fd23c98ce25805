"""Databases of a test's own on the test server, for tests that need real commits: run admin
statements, copy a migrated template, drop what was made."""

from __future__ import annotations

import uuid

from sqlalchemy import text
from sqlalchemy.engine import make_url

from factmark import migrations
from factmark.db import DatabaseUrls, create_engine


def with_database(url: str, name: str) -> str:
    return make_url(url).set(database=name).render_as_string(hide_password=False)


async def admin_sql(urls: DatabaseUrls, sql: str) -> None:
    """Run one statement outside a transaction on the server's ``postgres`` database."""
    engine = create_engine(with_database(urls.owner, "postgres"), pool_size=1)
    try:
        async with engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text(sql))
    finally:
        await engine.dispose()


async def create_template(urls: DatabaseUrls, name: str) -> str:
    """A freshly migrated database that per-test databases are copied from (fast)."""
    await admin_sql(urls, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    await admin_sql(urls, f"CREATE DATABASE {name}")
    migrations.upgrade(with_database(urls.owner, name))
    return name


async def create_database(urls: DatabaseUrls, template: str, prefix: str) -> DatabaseUrls:
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    await admin_sql(urls, f"CREATE DATABASE {name} TEMPLATE {template}")
    return DatabaseUrls(app=with_database(urls.app, name), owner=with_database(urls.owner, name))


async def drop_database(server: DatabaseUrls, db: DatabaseUrls) -> None:
    name = make_url(db.owner).database
    await admin_sql(server, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
