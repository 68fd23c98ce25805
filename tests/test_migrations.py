"""The Alembic migrations: up, down and up again on an empty database, and a schema that
matches the models exactly."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection, make_url, text
from sqlalchemy.ext.asyncio import AsyncEngine

from factmark import migrations
from factmark.audit.models import Xid8
from factmark.db import create_engine
from factmark.models import metadata


@pytest.fixture
async def empty_database_url(owner_engine: AsyncEngine) -> AsyncIterator[str]:
    """A new, empty database on the test server; dropped afterwards."""
    name = f"factmark_migrations_{uuid.uuid4().hex[:12]}"
    autocommit = owner_engine.execution_options(isolation_level="AUTOCOMMIT")
    async with autocommit.connect() as conn:
        await conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(owner_engine.url).set(database=name)
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        async with autocommit.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def schema_objects(url: str) -> dict[str, set[str]]:
    engine = create_engine(url, pool_size=1)
    try:
        async with engine.connect() as conn:
            tables = set(
                (
                    await conn.execute(
                        text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
                    )
                ).scalars()
            )
            functions = set(
                (
                    await conn.execute(
                        text(
                            "SELECT proname FROM pg_proc "
                            "WHERE pronamespace = 'public'::regnamespace "
                            "AND proname LIKE 'factmark%'"
                        )
                    )
                ).scalars()
            )
            triggers = set(
                (
                    await conn.execute(text("SELECT tgname FROM pg_trigger WHERE NOT tgisinternal"))
                ).scalars()
            )
            version = None
            if "alembic_version" in tables:
                version = (
                    await conn.execute(text("SELECT version_num FROM alembic_version"))
                ).scalar()
    finally:
        await engine.dispose()
    return {
        "tables": tables - {"alembic_version"},
        "functions": functions,
        "triggers": triggers,
        "version": {version} if version else set(),
    }


async def test_upgrade_downgrade_and_upgrade_again_on_an_empty_database(
    empty_database_url: str,
) -> None:
    migrations.upgrade(empty_database_url)
    first = await schema_objects(empty_database_url)
    expected_tables = {table.name for table in metadata.sorted_tables}
    assert first["tables"] == expected_tables
    assert {
        "factmark_audit_row",
        "factmark_audit_insert_claims",
        "factmark_audit_no_actor",
        "factmark_refuse_change",
    } <= first["functions"]
    assert {"audit_row", "audit_insert", "append_only"} <= first["triggers"]
    assert first["version"]

    migrations.downgrade(empty_database_url, "base")
    emptied = await schema_objects(empty_database_url)
    assert emptied == {"tables": set(), "functions": set(), "triggers": set(), "version": set()}

    migrations.upgrade(empty_database_url)
    assert await schema_objects(empty_database_url) == first


def _include_object(
    obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any
) -> bool:
    # alembic_version is Alembic's own table, not a model.
    return not (type_ == "table" and name == "alembic_version")


def _schema_diff(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(
        connection,
        opts={
            "compare_type": True,
            "compare_server_default": True,
            "include_object": _include_object,
        },
    )
    diff: list[Any] = list(compare_metadata(context, metadata))
    # Autogenerate skips CHECK and EXCLUDE constraints: compare every constraint by name
    # (but NOT NULL, which PostgreSQL 18 lists as constraints too: the columns cover it).
    in_database = {
        (table, name)
        for table, name in connection.execute(
            text(
                "SELECT conrelid::regclass::text, conname FROM pg_constraint "
                "WHERE connamespace = 'public'::regnamespace AND conrelid <> 0 AND contype <> 'n' "
                "AND conrelid::regclass::text <> 'alembic_version'"
            )
        )
    }
    in_models = {
        (table.name, str(constraint.name))
        for table in metadata.sorted_tables
        for constraint in table.constraints
    }
    diff.extend(("constraint only in the database", c) for c in sorted(in_database - in_models))
    diff.extend(("constraint only in the models", c) for c in sorted(in_models - in_database))
    return diff


async def test_the_migrated_schema_matches_the_models_exactly(
    empty_database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    migrations.upgrade(empty_database_url)
    engine = create_engine(empty_database_url, pool_size=1)
    # Reflection must know the audit log's xid8 column type to compare it.
    monkeypatch.setitem(engine.dialect.ischema_names, "xid8", Xid8)
    try:
        async with engine.connect() as conn:
            diff = await conn.run_sync(_schema_diff)
    finally:
        await engine.dispose()
    assert diff == []
