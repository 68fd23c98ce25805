"""Alembic environment: runs migrations over asyncpg as the schema owner.

The URL comes from ``config.attributes["url"]`` when factmark runs migrations itself, else from
``DATABASE_MIGRATION_URL``/``DATABASE_URL``, else an embedded PostgreSQL is started in the data
directory, exactly as ``factmark serve`` would.
"""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from factmark.models import metadata
from factmark.settings import Settings

config = context.config
target_metadata = metadata


def _url() -> str:
    url = config.attributes.get("url")
    if isinstance(url, str):
        return url
    from factmark.db import resolve_database

    urls, _ = resolve_database(Settings.from_env())
    return urls.owner


def _include_object(
    obj: object, name: str | None, type_: str, reflected: bool, compare_to: object
) -> bool:
    # Tables that only migrations manage (none today) would be excluded here.
    return True


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        compare_type=True,
        include_object=_include_object,
        transaction_per_migration=True,
    )
    with context.begin_transaction():
        # Migrations change rows too (data migrations): the audit triggers record them as the
        # system actor "migration".
        connection.execute(
            text(
                "SELECT set_config('factmark.actor', "
                '\'{"kind": "system", "id": "migration", "name": "migration"}\', false)'
            )
        )
        context.run_migrations()


async def _run_online() -> None:
    engine = create_async_engine(_url())
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run)
            await connection.commit()
    finally:
        await engine.dispose()


if context.is_offline_mode():
    context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    asyncio.run(_run_online())
