"""`factmark serve` and the CLI as real processes: the embedded PostgreSQL keeps its data across
a restart and is stopped cleanly, the CLI prints only what scripts capture, and two servers
share one database (scale-out)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest
from sqlalchemy import make_url, text
from sqlalchemy.ext.asyncio import AsyncEngine

from factmark import migrations
from factmark.accounts import service as accounts
from factmark.accounts.models import Membership, Role
from factmark.db import DatabaseUrls, create_engine, create_sessionmaker

REPO = Path(__file__).resolve().parents[1]
STARTUP_TIMEOUT = 45.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def clean_env(**values: str) -> dict[str, str]:
    """The environment without any database or factmark setting of the developer's own."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("FACTMARK_", "DATABASE_")) and k != "TEST_DATABASE_URL"
    }
    env.update(FACTMARK_LOG_LEVEL="WARNING", FACTMARK_LOG_FORMAT="json", **values)
    return env


def cli(
    env: dict[str, str], *args: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "factmark.cli", *args],
        cwd=REPO,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


class Server:
    """One `factmark serve` process on 127.0.0.1, its output in a log file."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = log
        with log.open("ab") as out:
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
                cwd=REPO,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def wait_ready(self) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"serve exited with {self.process.returncode}:\n{self.output()}")
            try:
                if httpx.get(f"{self.base}/health/ready", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        pytest.fail(f"serve was not ready within {STARTUP_TIMEOUT} s:\n{self.output()}")

    def stop(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=30)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)

    def output(self) -> str:
        return self.log.read_text(errors="replace")


@contextmanager
def serving(env: dict[str, str], log: Path) -> Iterator[Server]:
    server = Server(env, log)
    try:
        server.wait_ready()
        yield server
    finally:
        server.kill()


def postgres_processes(pgdata: Path) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["name", "cmdline"]):
        cmdline = proc.info["cmdline"] or []
        if proc.info["name"] == "postgres" and any(str(pgdata) in part for part in cmdline):
            found.append(proc)
    return found


@pytest.fixture
def data_dir(tmp_path: Path) -> Iterator[Path]:
    """A data directory for `serve`; any PostgreSQL a failed test left running is stopped."""
    yield tmp_path / "data"
    pgdata = (tmp_path / "data" / "pgdata").resolve()
    for proc in postgres_processes(pgdata):
        proc.kill()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.slow
def test_serve_keeps_data_across_a_restart_and_stops_postgres_cleanly(
    data_dir: Path, tmp_path: Path
) -> None:
    env = clean_env(FACTMARK_DATA_DIR=str(data_dir))
    pgdata = (data_dir / "pgdata").resolve()
    log = tmp_path / "serve.log"
    article = {"title": "Survives restarts", "text": "Written before the restart."}

    with serving(env, log) as server:
        assert "Demo users created" in server.output()
        assert f"{server.base}/docs" in server.output()
        token = cli(env, "tokens", "create", "--email", "admin@example.com")
        assert token.returncode == 0, token.stderr
        assert token.stdout.count("\n") == 1
        admin = token.stdout.strip()
        assert admin.startswith("fm_")

        created = httpx.post(
            f"{server.base}/api/v1/workspaces/demo/documents", json=article, headers=bearer(admin)
        )
        assert created.status_code == 201, created.text
        seeded = httpx.get(f"{server.base}/api/v1/workspaces/demo/documents", headers=bearer(admin))
        assert len(seeded.json()["items"]) == 2  # the seed article and ours

        # The CLI adds a user to the demo workspace; only the token goes to stdout.
        email = "new.reviewer@example.com"
        user = cli(
            env, "users", "create", "--email", email, "--password-stdin",
            "--workspace", "demo", "--role", "reviewer", stdin="s3cret passphrase\n",
        )  # fmt: skip
        assert user.returncode == 0, user.stderr
        reviewer = cli(env, "tokens", "create", "--email", email, "--name", "ci")
        assert reviewer.returncode == 0, reviewer.stderr
        lines = reviewer.stdout.splitlines()
        assert len(lines) == 1
        assert lines[0].startswith("fm_")
        me = httpx.get(f"{server.base}/api/v1/me", headers=bearer(lines[0]))
        assert [(w["slug"], w["role"]) for w in me.json()["workspaces"]] == [("demo", "reviewer")]
        login = httpx.post(
            f"{server.base}/api/v1/auth/login",
            json={"email": email, "password": "s3cret passphrase"},
        )
        assert login.status_code == 201, login.text

        assert server.stop() == 0, server.output()
    assert postgres_processes(pgdata) == []
    assert not (pgdata / "postmaster.pid").exists()

    expected_titles = {"Iran warned not to escalate", article["title"]}
    with serving(env, tmp_path / "serve-2.log") as server:
        assert "Demo users created" not in server.output()
        listed = httpx.get(f"{server.base}/api/v1/workspaces/demo/documents", headers=bearer(admin))
        assert listed.status_code == 200, listed.text
        assert {d["title"] for d in listed.json()["items"]} == expected_titles
        # Killed outright, the server cannot stop PostgreSQL...
        server.process.kill()
        server.process.wait(timeout=10)
    assert postgres_processes(pgdata) != []

    # ...so the next one reuses the running PostgreSQL, and stops it when it exits.
    with serving(env, tmp_path / "serve-3.log") as server:
        listed = httpx.get(f"{server.base}/api/v1/workspaces/demo/documents", headers=bearer(admin))
        assert {d["title"] for d in listed.json()["items"]} == expected_titles
        assert server.stop() == 0, server.output()
    assert postgres_processes(pgdata) == []
    assert not (pgdata / "postmaster.pid").exists()


# --- scale-out ----------------------------------------------------------------------------


@pytest.fixture
async def shared_database(
    owner_engine: AsyncEngine, database_urls: DatabaseUrls
) -> AsyncIterator[tuple[DatabaseUrls, str]]:
    """A migrated database of its own with one editor, for servers that really commit."""
    name = f"factmark_scaleout_{uuid.uuid4().hex[:12]}"
    autocommit = owner_engine.execution_options(isolation_level="AUTOCOMMIT")
    async with autocommit.connect() as conn:
        await conn.execute(text(f'CREATE DATABASE "{name}"'))

    def on(url: str) -> str:
        return make_url(url).set(database=name).render_as_string(hide_password=False)

    urls = DatabaseUrls(app=on(database_urls.app), owner=on(database_urls.owner))
    try:
        migrations.upgrade(urls.owner)
        engine = create_engine(urls.owner, pool_size=1)
        try:
            async with create_sessionmaker(engine)() as session, session.begin():
                system = accounts.system_actor("tests")
                await accounts.set_audit_context(session, system)
                workspace = await accounts.create_workspace(
                    session, system, name="Scale", slug="scale"
                )
                user = await accounts.create_user(session, email="e@scale.test", password="pw")
                session.add(
                    Membership(workspace_id=workspace.id, user_id=user.id, role=Role.EDITOR.value)
                )
                token, _ = await accounts.create_token_for_user(session, user, name="test")
        finally:
            await engine.dispose()
        yield urls, token
    finally:
        async with autocommit.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.mark.slow
def test_two_servers_on_one_database_share_documents_and_idempotency_keys(
    shared_database: tuple[DatabaseUrls, str], tmp_path: Path
) -> None:
    urls, token = shared_database
    env = clean_env(
        DATABASE_URL=urls.app,
        DATABASE_MIGRATION_URL=urls.owner,
        FACTMARK_MIGRATE_ON_START="false",
        FACTMARK_SEED_ON_START="false",
        FACTMARK_DATA_DIR=str(tmp_path / "unused"),
    )
    first, second = Server(env, tmp_path / "a.log"), Server(env, tmp_path / "b.log")
    try:
        first.wait_ready()
        second.wait_ready()
        headers = bearer(token)
        url = "/api/v1/workspaces/scale/documents"
        created = httpx.post(
            first.base + url, json={"title": "A", "text": "Written via A."}, headers=headers
        )
        assert created.status_code == 201, created.text
        read = httpx.get(f"{second.base}/api/v1/documents/{created.json()['id']}", headers=headers)
        assert read.status_code == 200
        assert read.json()["text"] == "Written via A."

        keyed: dict[str, Any] = {
            "json": {"title": "B", "text": "Sent twice, stored once."},
            "headers": {**headers, "Idempotency-Key": "scale-out-1"},
        }
        original = httpx.post(first.base + url, **keyed)
        assert original.status_code == 201, original.text
        replay = httpx.post(second.base + url, **keyed)
        assert replay.status_code == 201
        assert replay.json() == original.json()
        assert replay.headers["idempotent-replayed"] == "true"
        listed = httpx.get(second.base + url, headers=headers).json()["items"]
        assert sorted(d["title"] for d in listed) == ["A", "B"]
        # Neither server started a PostgreSQL of its own.
        assert not (tmp_path / "unused" / "pgdata").exists()
        assert first.stop() == 0
        assert second.stop() == 0
    finally:
        first.kill()
        second.kill()
