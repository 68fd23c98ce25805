"""Fixtures of the audit tests: databases of their own for tests that need real commits
(sealing, concurrent writers, tampering as a superuser), copied from a migrated template."""

from __future__ import annotations

import base64
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from factmark.accounts import service as accounts
from factmark.accounts.models import Membership, Role
from factmark.audit.signing import encode_private_key
from factmark.db import DatabaseUrls, create_engine, create_sessionmaker
from factmark.settings import Settings
from tests import databases

TEMPLATE = "factmark_audit_template"


@pytest.fixture(scope="session")
async def audit_template(database_urls: DatabaseUrls) -> AsyncIterator[str]:
    """A migrated database that the per-test databases are copied from (fast)."""
    yield await databases.create_template(database_urls, TEMPLATE)
    await databases.admin_sql(database_urls, f"DROP DATABASE IF EXISTS {TEMPLATE} WITH (FORCE)")


@dataclass
class OwnDatabase:
    """A database of the test's own, with real commits: as the app role and as its owner."""

    name: str
    urls: DatabaseUrls
    app: AsyncEngine
    owner: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]

    async def scalar(self, sql: str, **params: Any) -> Any:
        async with self.owner.connect() as conn:
            return (await conn.execute(text(sql), params)).scalar()


@pytest.fixture
async def own_database(
    database_urls: DatabaseUrls, audit_template: str
) -> AsyncIterator[OwnDatabase]:
    name = f"factmark_audit_{uuid.uuid4().hex[:12]}"
    await databases.admin_sql(database_urls, f"CREATE DATABASE {name} TEMPLATE {audit_template}")
    urls = DatabaseUrls(
        app=databases.with_database(database_urls.app, name),
        owner=databases.with_database(database_urls.owner, name),
    )
    app = create_engine(urls.app, pool_size=6)
    owner = create_engine(urls.owner, pool_size=2)
    try:
        yield OwnDatabase(name, urls, app, owner, create_sessionmaker(app))
    finally:
        await app.dispose()
        await owner.dispose()
        await databases.admin_sql(database_urls, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture
def signing_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture
def own_settings(
    settings: Settings, own_database: OwnDatabase, signing_key: Ed25519PrivateKey, tmp_path: Path
) -> Settings:
    return replace(
        settings,
        database_url=own_database.urls.app,
        data_dir=tmp_path,
        audit_signing_key=encode_private_key(signing_key),
        sealer_interval_seconds=0.05,
        migrate_on_start=False,
        seed_on_start=False,
    )


@dataclass
class Seeded:
    workspace_id: uuid.UUID
    admin_token: str


async def seed_workspace(db: OwnDatabase) -> Seeded:
    """A workspace with an admin who has a token, committed in ``db``."""
    async with db.sessionmaker() as session, session.begin():
        system = accounts.system_actor("tests")
        await accounts.set_audit_context(session, system)
        workspace = await accounts.create_workspace(session, system, name="Acme", slug="acme")
        user = await accounts.create_user(session, email="admin@acme.test", password=None)
        session.add(Membership(workspace_id=workspace.id, user_id=user.id, role=Role.ADMIN))
        await session.flush()
        token, _ = await accounts.create_token_for_user(session, user, name="test")
        return Seeded(workspace_id=workspace.id, admin_token=token)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()
