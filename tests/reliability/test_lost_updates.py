"""Lost updates: 2, 8 and 32 concurrent clients over real HTTP to a running server (its own
database, real commits) read and update the same claims with If-Match, retrying on 412.

Every acknowledged write is there, in order: each 2xx has exactly one audit event carrying the
version it acknowledged and the value it wrote, and each claim's final version is 1 + the number
of its acknowledged writes. Concurrent identical POSTs with one Idempotency-Key write once and
all get the same reply.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from factmark.db import DatabaseUrls, create_engine
from tests.annotations.conftest import TEXT, span_of
from tests.reliability import live
from tests.reliability.conftest import record_figures

CLAIMS = 4
WRITES = {2: 10, 8: 4, 32: 2}  # writes per client for each number of clients
MAX_ATTEMPTS = 200


@dataclass
class Ack:
    claim_id: str
    version: int
    statement: str


@dataclass
class Tally:
    acks: list[Ack] = field(default_factory=list)
    conflicts: int = 0


async def _setup(base_url: str, world: live.SeededWorld) -> list[str]:
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        document = await client.post(
            "/api/v1/workspaces/demo/documents?allowDuplicates=true",
            json={"title": "Concurrency", "text": TEXT},
            headers=world.headers("editor"),
        )
        assert document.status_code == 201, document.text
        ids = []
        for phrase in ("unemployment", "minister", "budget deficit", "part-time work")[:CLAIMS]:
            claim = await client.post(
                f"/api/v1/documents/{document.json()['id']}/claims",
                json={"spans": [span_of(TEXT, phrase)]},
                headers=world.headers("reviewer"),
            )
            assert claim.status_code == 201, claim.text
            ids.append(claim.json()["id"])
        return ids


async def _writer(
    base_url: str, headers: dict[str, str], claims: list[str], n: int, name: str, tally: Tally
) -> None:
    rng = random.Random(name)
    async with httpx.AsyncClient(base_url=base_url, timeout=60, headers=headers) as client:
        for i in range(n):
            claim_id = rng.choice(claims)
            statement = f"{name} write {i}"
            for _ in range(MAX_ATTEMPTS):
                read = await client.get(f"/api/v1/claims/{claim_id}")
                assert read.status_code == 200, read.text
                response = await client.patch(
                    f"/api/v1/claims/{claim_id}",
                    json={"statement": statement},
                    headers={"If-Match": read.headers["etag"]},
                )
                if response.status_code == 412:
                    assert response.headers["content-type"] == "application/problem+json"
                    tally.conflicts += 1
                    continue
                assert response.status_code == 200, response.text
                body = response.json()
                assert body["statement"] == statement
                assert response.headers["etag"] == f'"{body["version"]}"'
                tally.acks.append(Ack(claim_id, body["version"], statement))
                break
            else:
                pytest.fail(f"{name}: no write after {MAX_ATTEMPTS} attempts")


async def _audit(db: DatabaseUrls, sql: str, **params: Any) -> list[Any]:
    engine = create_engine(db.owner, pool_size=1)
    try:
        async with engine.connect() as conn:
            return list(await conn.execute(text(sql), params))
    finally:
        await engine.dispose()


async def test_concurrent_if_match_writers_lose_no_update(
    own_db: DatabaseUrls,
    seeded: live.SeededWorld,
    server_factory: Callable[..., live.LiveServer],
) -> None:
    server = server_factory(FACTMARK_DB_POOL_SIZE="20")
    for clients, writes in WRITES.items():
        await _lose_no_update(own_db, seeded, server, clients, writes)


async def _lose_no_update(
    db: DatabaseUrls, world: live.SeededWorld, server: live.LiveServer, clients: int, writes: int
) -> None:
    claims = await _setup(server.base_url, world)
    tally = Tally()
    who = ("editor", "admin")
    await asyncio.gather(
        *(
            _writer(server.base_url, world.headers(who[c % 2]), claims, writes, f"c{c}", tally)
            for c in range(clients)
        )
    )

    assert len(tally.acks) == clients * writes
    events = await _audit(
        db,
        "SELECT entity_id::text, (after->>'version')::int, after->>'statement' FROM audit_events "
        "WHERE entity_type = 'claim' AND action = 'update' AND entity_id::text = ANY(:ids)",
        ids=claims,
    )
    acknowledged = sorted((a.claim_id, a.version, a.statement) for a in tally.acks)
    # Exactly one audit event per acknowledged write, with the version and value it acked.
    assert sorted(tuple(e) for e in events) == acknowledged
    viewer = world.headers("viewer")
    async with httpx.AsyncClient(base_url=server.base_url, timeout=30, headers=viewer) as client:
        for claim_id in claims:
            final = (await client.get(f"/api/v1/claims/{claim_id}")).json()
            mine = sorted(
                (a for a in tally.acks if a.claim_id == claim_id), key=lambda a: a.version
            )
            assert final["version"] == 1 + len(mine)
            # Versions 2, 3, ... each acknowledged once: no write overwrote another unseen.
            assert [a.version for a in mine] == list(range(2, 2 + len(mine)))
            if mine:
                assert final["statement"] == mine[-1].statement
    record_figures(
        f"lost updates, {clients} writers",
        acknowledgedWrites=len(tally.acks),
        auditEvents=len(events),
        retriesOn412=tally.conflicts,
        lostUpdates=len(acknowledged) - len(events),
    )


async def test_concurrent_identical_posts_with_one_idempotency_key_write_once(
    own_db: DatabaseUrls,
    seeded: live.SeededWorld,
    server_factory: Callable[..., live.LiveServer],
) -> None:
    server = server_factory(FACTMARK_DB_POOL_SIZE="20")
    claims = await _setup(server.base_url, seeded)
    for n, (clients, claim_id) in enumerate(zip((2, 8, 32), claims, strict=False)):
        await _write_once(own_db, seeded, server, clients, claim_id, f"retry-{n}")


async def _write_once(
    db: DatabaseUrls,
    world: live.SeededWorld,
    server: live.LiveServer,
    clients: int,
    claim_id: str,
    key: str,
) -> None:
    headers = {**world.headers("reviewer"), "Idempotency-Key": key}
    url = f"{server.base_url}/api/v1/claims/{claim_id}/comments"

    async def post() -> httpx.Response:
        async with httpx.AsyncClient(timeout=60) as client:
            return await client.post(
                url, json={"body": "Same comment, sent again."}, headers=headers
            )

    replies = await asyncio.gather(*(post() for _ in range(clients)))

    assert {r.status_code for r in replies} == {201}
    assert len({r.content for r in replies}) == 1
    assert len({r.headers["etag"] for r in replies}) == 1
    assert sum(1 for r in replies if r.headers.get("idempotent-replayed") == "true") == clients - 1
    rows = await _audit(
        db, "SELECT count(*) FROM comments WHERE claim_id = CAST(:claim AS uuid)", claim=claim_id
    )
    events = await _audit(
        db,
        "SELECT count(*) FROM audit_events WHERE entity_type = 'comment' AND idempotency_key = :k",
        k=key,
    )
    assert rows[0][0] == 1
    assert events[0][0] == 1
    record_figures(
        f"idempotent POSTs, {clients} at once", writes=rows[0][0], identicalReplies=len(replies)
    )
