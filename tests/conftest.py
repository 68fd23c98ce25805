"""Test harness: one real PostgreSQL for the run, migrated with Alembic, and one rolled-back
transaction per test that the app under test joins through savepoints."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from argon2 import PasswordHasher, profiles
from litestar import Litestar
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker

from factmark import migrations
from factmark.accounts import service as accounts
from factmark.accounts.models import Membership, Role
from factmark.app import Database, create_app
from factmark.db import APP_ROLE, DatabaseUrls, EmbeddedPostgres, create_engine
from factmark.settings import Settings, normalise_database_url

TEST_DATABASE = "factmark_test"


@dataclass
class TestDatabase:
    urls: DatabaseUrls
    embedded: EmbeddedPostgres | None


@pytest.fixture(scope="session", autouse=True)
def cheap_password_hashing() -> None:
    """Full-strength argon2 costs ~0.1 s per hash: six users per test would dominate the run."""
    accounts.use_password_hasher(PasswordHasher.from_parameters(profiles.CHEAPEST))


@pytest.fixture(scope="session")
def test_database() -> Iterator[TestDatabase]:
    external = os.environ.get("TEST_DATABASE_URL")
    if external:
        url = normalise_database_url(external)
        db = TestDatabase(DatabaseUrls(app=url, owner=url), None)
    else:
        root = Path(tempfile.mkdtemp(prefix="factmark-test-"))
        embedded = EmbeddedPostgres(root / "pgdata", cleanup="delete")
        embedded.ensure_database(TEST_DATABASE)
        db = TestDatabase(
            DatabaseUrls(
                app=embedded.url(TEST_DATABASE, user=APP_ROLE),
                owner=embedded.url(TEST_DATABASE),
            ),
            embedded,
        )
    migrations.upgrade(db.urls.owner)
    yield db
    if db.embedded is not None:
        db.embedded.stop()
        # cleanup="delete" removes pgdata only: remove the temporary directory around it too.
        shutil.rmtree(db.embedded.pgdata.parent, ignore_errors=True)


@pytest.fixture(scope="session")
def database_urls(test_database: TestDatabase) -> DatabaseUrls:
    return test_database.urls


@pytest.fixture(scope="session")
async def engine(database_urls: DatabaseUrls) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_urls.app, pool_size=5)
    yield engine
    await engine.dispose()


@pytest.fixture(scope="session")
async def owner_engine(database_urls: DatabaseUrls) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_urls.owner, pool_size=2)
    yield engine
    await engine.dispose()


@pytest.fixture
async def connection(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    async with engine.connect() as conn:
        transaction = await conn.begin()
        try:
            yield conn
        finally:
            await transaction.rollback()


@pytest.fixture
def sessionmaker(connection: AsyncConnection) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(
        bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
    )


@pytest.fixture
async def session(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> AsyncIterator[AsyncSession]:
    async with sessionmaker() as session:
        yield session


@pytest.fixture
def settings(database_urls: DatabaseUrls) -> Settings:
    return Settings(
        database_url=database_urls.app,
        login_rate_limit=10_000,
        api_rate_limit=1_000_000,
        log_format="console",
        log_level="WARNING",
        max_body_bytes=4 * 1024 * 1024,
        max_document_codepoints=200_000,
    )


def app_client(app: Litestar) -> httpx.AsyncClient:
    """An HTTP client calling ``app`` in process (its lifespan is the caller's to run)."""
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")


@asynccontextmanager
async def serving(app: Litestar) -> AsyncIterator[httpx.AsyncClient]:
    """``app`` with its lifespan running (background sealer, rate-limit flush), and a client."""
    async with app.lifespan(), app_client(app) as client:
        yield client


@pytest.fixture
async def client(
    settings: Settings,
    engine: AsyncEngine,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings, Database(engine=engine, sessionmaker=sessionmaker, owned=False))
    async with app_client(app) as client:
        yield client


@dataclass
class Member:
    email: str
    role: Role | None
    token: str
    user_id: Any

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@dataclass
class World:
    """Two workspaces: ``acme`` with a member of every role, ``other`` with its own admin."""

    workspace_id: Any
    other_workspace_id: Any
    members: dict[str, Member] = field(default_factory=dict)

    def __getitem__(self, role: str) -> Member:
        return self.members[role]


async def make_user(
    session: AsyncSession, email: str, *, workspace_id: Any = None, role: Role | None = None
) -> Member:
    user = await accounts.create_user(session, email=email, password="correct horse battery")
    if workspace_id is not None and role is not None:
        session.add(Membership(workspace_id=workspace_id, user_id=user.id, role=role.value))
        await session.flush()
    token, _ = await accounts.create_token_for_user(session, user, name="test")
    return Member(email=email, role=role, token=token, user_id=user.id)


@pytest.fixture
async def world(session: AsyncSession) -> World:
    system = accounts.system_actor("tests")
    await accounts.set_audit_context(session, system)
    acme = await accounts.create_workspace(session, system, name="Acme", slug="acme")
    other = await accounts.create_workspace(session, system, name="Other", slug="other")
    world = World(workspace_id=acme.id, other_workspace_id=other.id)
    for role in Role:
        world.members[role.value] = await make_user(
            session, f"{role.value}@acme.test", workspace_id=acme.id, role=role
        )
    world.members["outsider"] = await make_user(
        session, "admin@other.test", workspace_id=other.id, role=Role.ADMIN
    )
    world.members["nobody"] = await make_user(session, "nobody@acme.test")
    await session.commit()
    return world


async def count_rows(session: AsyncSession, table: str) -> int:
    return int((await session.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one())  # noqa: S608
