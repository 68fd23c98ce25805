"""Real servers on real databases for the reliability tests and bench/fuzz.

A *live database* is a database of its own on the test PostgreSQL server (copied from a
migrated template), holding the demo seed plus tokens, with real commits. A *live server* is
``factmark serve`` in a subprocess on 127.0.0.1, on such a database: what a client sees over
HTTP, what survives SIGKILL.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import delete, text

from factmark import seed
from factmark.accounts import service as accounts
from factmark.accounts.models import Membership, Role, User
from factmark.db import Base, DatabaseUrls, create_engine, create_sessionmaker

REPO_ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = "factmark_reliability_template"

# Tables whose rows change with every request whatever it asks, or in the background.
VOLATILE_TABLES = frozenset({"rate_limit_windows", "audit_seals", "audit_checkpoints"})


def snapshot_tables() -> list[str]:
    """Every table of the schema (a new table is counted without a change here)."""
    import factmark.models  # noqa: F401 - registers every table on Base.metadata

    return sorted(t.name for t in Base.metadata.sorted_tables if t.name not in VOLATILE_TABLES)


@dataclass
class SeededWorld:
    """The demo seed (workspace ``demo`` with a document and claims) plus one token per role,
    and a second workspace ``rival`` whose admin is an outsider to ``demo``."""

    workspace_id: uuid.UUID
    tokens: dict[str, str] = field(default_factory=dict)
    passwords: dict[str, str] = field(default_factory=dict)

    def headers(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}


async def seed_world(db: DatabaseUrls, *, admin_only: bool = False) -> SeededWorld:
    """Seed ``db``. With ``admin_only``, the demo's other users are removed, so that its admin is
    its only member: the fuzzer can then neither demote nor remove that admin (a workspace keeps
    one admin), and finds no other user to promote in their place."""
    engine = create_engine(db.owner, pool_size=1)
    try:
        async with create_sessionmaker(engine)() as session, session.begin():
            report = await seed.load(session, production=False)
            system = accounts.system_actor("reliability-tests")
            await accounts.set_audit_context(session, system)
            demo = await accounts.get_workspace(session, system, "demo")
            world = SeededWorld(workspace_id=demo.id, passwords=dict(report.created_users))
            if admin_only:
                # The schema's example email is reviewer@example.com: a seeded user the fuzzer
                # would otherwise add, promote, and leave in charge.
                await session.execute(
                    delete(User)
                    .where(User.email.in_([f"{r.value}@example.com" for r in Role]))
                    .where(User.email != "admin@example.com")
                )
            for role in Role:
                user = await accounts.get_user_by_email(session, f"{role.value}@example.com")
                if user is None:
                    continue
                world.tokens[role.value], _ = await accounts.create_token_for_user(
                    session, user, name="reliability"
                )
            rival = await accounts.create_workspace(session, system, name="Rival", slug="rival")
            outsider = await accounts.create_user(
                session, email="admin@rival.test", password="rival password 1"
            )
            session.add(Membership(workspace_id=rival.id, user_id=outsider.id, role=Role.ADMIN))
            await session.flush()
            world.tokens["outsider"], _ = await accounts.create_token_for_user(
                session, outsider, name="reliability"
            )
            return world
    finally:
        await engine.dispose()


async def table_counts(db: DatabaseUrls) -> dict[str, int]:
    """Row counts of every table (audit_events included)."""
    engine = create_engine(db.owner, pool_size=1)
    try:
        async with engine.connect() as conn:
            counts = {}
            for table in snapshot_tables():
                sql = f"SELECT count(*) FROM {table}"  # noqa: S608 - fixed table names
                counts[table] = int((await conn.execute(text(sql))).scalar_one())
            return counts
    finally:
        await engine.dispose()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LiveServer:
    """``factmark serve`` in a subprocess on 127.0.0.1, on the given database."""

    def __init__(
        self,
        db: DatabaseUrls,
        workdir: Path,
        *,
        env: Mapping[str, str] | None = None,
        port: int | None = None,
    ) -> None:
        self.db = db
        self.workdir = workdir
        self.port = port or free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.extra_env = dict(env or {})
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = workdir / f"server-{self.port}.log"
        self.starts = 0

    def environment(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("FACTMARK_", "DATABASE_"))}
        env.update(
            {
                "DATABASE_URL": self.db.app,
                "DATABASE_MIGRATION_URL": self.db.owner,
                "FACTMARK_DATA_DIR": str(self.workdir / "data"),
                "FACTMARK_MIGRATE_ON_START": "false",
                "FACTMARK_SEED_ON_START": "false",
                "FACTMARK_API_RATE_LIMIT": "100000000",
                "FACTMARK_LOGIN_RATE_LIMIT": "100000000",
                "FACTMARK_LOG_LEVEL": "WARNING",
                "FACTMARK_LOG_FORMAT": "json",
                "FACTMARK_DB_POOL_SIZE": "10",
                "PYTHONUNBUFFERED": "1",
            }
        )
        env.update(self.extra_env)
        return env

    def start(self, timeout: float = 30.0) -> None:
        assert self.process is None or self.process.poll() is not None
        (self.workdir / "data").mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "factmark.cli",
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
            ],
            cwd=REPO_ROOT,
            env=self.environment(),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        self.starts += 1
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited at start:\n{self.log()[-4000:]}")
            try:
                if httpx.get(f"{self.base_url}/health/live", timeout=1.0).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        self.kill()
        raise RuntimeError(f"server did not start in {timeout} s:\n{self.log()[-4000:]}")

    def kill(self) -> None:
        """SIGKILL: no shutdown handler, no graceful close of anything."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def __enter__(self) -> LiveServer:
        self.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def run(coro: Any) -> Any:
    """Run a coroutine from synchronous code (bench/fuzz)."""
    return asyncio.run(coro)
