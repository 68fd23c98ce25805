"""Exports against a database of the test's own, with real commits: concurrent writers, the
signed checkpoint of the real sealer, and the command line."""

from __future__ import annotations

import asyncio
import base64
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from factmark import cli, seed
from factmark.accounts import service as accounts
from factmark.app import Database, create_app
from factmark.audit.sealer import Sealer
from factmark.db import DatabaseUrls, create_engine, create_sessionmaker
from factmark.exports.service import start
from factmark.settings import Settings
from tests import databases
from tests.exports.conftest import export_url, ndjson

TEMPLATE = "factmark_exports_template"
ACTOR = '{"kind": "system", "id": "tests", "name": "concurrent writer"}'


@pytest.fixture(scope="session")
async def exports_template(database_urls: DatabaseUrls) -> AsyncIterator[str]:
    yield await databases.create_template(database_urls, TEMPLATE)
    await databases.admin_sql(database_urls, f"DROP DATABASE IF EXISTS {TEMPLATE} WITH (FORCE)")


@dataclass
class Own:
    urls: DatabaseUrls
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    client: httpx.AsyncClient
    headers: dict[str, str]
    verified_id: str
    open_id: str


@pytest.fixture
async def own(
    database_urls: DatabaseUrls, exports_template: str, settings: Settings
) -> AsyncIterator[Own]:
    """A committed copy of the seed data (workspace ``demo``) and a client on it."""
    name = f"factmark_exports_{uuid.uuid4().hex[:12]}"
    await databases.admin_sql(database_urls, f"CREATE DATABASE {name} TEMPLATE {exports_template}")
    urls = DatabaseUrls(
        app=databases.with_database(database_urls.app, name),
        owner=databases.with_database(database_urls.owner, name),
    )
    engine = create_engine(urls.app, pool_size=6)
    sessionmaker = create_sessionmaker(engine)
    try:
        async with sessionmaker() as session, session.begin():
            await seed.load(session, production=False)
            viewer = await accounts.get_user_by_email(session, "viewer@example.com")
            assert viewer is not None
            await accounts.set_audit_context(session, accounts.system_actor("tests"))
            token, _ = await accounts.create_token_for_user(session, viewer, name="export")
            rows = await session.execute(text("SELECT id, status FROM claims ORDER BY status DESC"))
            ids = {status: str(claim_id) for claim_id, status in rows}
        app = create_app(
            replace(settings, database_url=urls.app),
            Database(engine=engine, sessionmaker=sessionmaker, owned=False),
        )
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield Own(
                urls,
                engine,
                sessionmaker,
                client,
                {"Authorization": f"Bearer {token}", "Accept-Encoding": "identity"},
                ids["verified"],
                ids["open"],
            )
    finally:
        await engine.dispose()
        await databases.admin_sql(database_urls, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


async def export(own: Own, **params: Any) -> httpx.Response:
    response = await own.client.get(export_url("demo", **params), headers=own.headers)
    assert response.status_code == 200, response.text
    return response


async def begin_writer(own: Own, claim_id: str, statement: str) -> Any:
    """A transaction that has changed a claim (and written its audit event) but not committed."""
    conn = await own.engine.connect()
    await conn.begin()
    await conn.execute(text("SELECT set_config('factmark.actor', :a, true)"), {"a": ACTOR})
    await conn.execute(
        text("UPDATE claims SET statement = :s, version = version + 1 WHERE id = :id"),
        {"s": statement, "id": claim_id},
    )
    return conn


async def commit_change(own: Own, claim_id: str, statement: str) -> None:
    conn = await begin_writer(own, claim_id, statement)
    await conn.commit()
    await conn.close()


async def test_a_write_in_flight_when_an_export_starts_is_not_lost(own: Own) -> None:
    first = ndjson((await export(own, format="ndjson")).content)[1]["watermark"]
    writer = await begin_writer(own, own.verified_id, "Changed by a slow transaction")
    # A later, quick transaction commits first: its audit event has a higher seq.
    await commit_change(own, own.open_id, "Changed by a quick transaction")
    pending = asyncio.ensure_future(export(own, format="ndjson", since=first))
    await asyncio.sleep(0.3)
    assert not pending.done()  # the export waits for the transaction in flight
    await writer.commit()
    await writer.close()
    items, trailer = ndjson((await pending).content)
    assert [(i["id"], i["statement"]) for i in items if not i.get("deleted")] == [
        (own.verified_id, "Changed by a slow transaction")
    ]
    assert {i["id"] for i in items if i.get("deleted")} == {own.open_id}  # open: tombstone
    # Nothing is pending behind the new watermark.
    again, _ = ndjson((await export(own, format="ndjson", since=trailer["watermark"])).content)
    assert again == []


async def test_a_write_still_in_flight_after_the_wait_keeps_the_watermark_back(
    own: Own, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(start, "IN_FLIGHT_WAIT_SECONDS", 0.2)
    first = ndjson((await export(own, format="ndjson")).content)[1]["watermark"]
    writer = await begin_writer(own, own.verified_id, "Committed after the export")
    await commit_change(own, own.open_id, "A committed change")
    items, trailer = ndjson((await export(own, format="ndjson", since=first)).content)
    assert items == [{"id": own.open_id, "deleted": True}]  # the committed change only
    assert trailer["watermark"] == first  # not moved past the write still in flight
    await writer.commit()
    await writer.close()
    later, _ = ndjson((await export(own, format="ndjson", since=trailer["watermark"])).content)
    assert [(i["id"], i["statement"]) for i in later if not i.get("deleted")] == [
        (own.verified_id, "Committed after the export")
    ]


@pytest.mark.parametrize("elsewhere", ["another database", "no audit event"])
async def test_an_export_does_not_wait_for_writes_that_cannot_reach_its_audit_log(
    own: Own, database_urls: DatabaseUrls, monkeypatch: pytest.MonkeyPatch, elsewhere: str
) -> None:
    """Only a transaction that has written this database's audit log can commit an event
    below the new watermark. A write in flight in another database of the server, or one that
    wrote no audit event here (a rate-limit count), neither delays the export nor keeps its
    watermark back (transaction ids are the server's, not the database's)."""
    monkeypatch.setattr(start, "IN_FLIGHT_WAIT_SECONDS", 0.2)
    engine = create_engine(database_urls.owner if elsewhere == "another database" else own.urls.app)
    try:
        async with engine.connect() as other:
            await other.execute(
                text(
                    "INSERT INTO rate_limit_windows (key, window_start, hits) "
                    "VALUES ('held open', now(), 1)"
                )
            )  # a transaction id, held until the rollback below
            # A later transaction commits: the one held open is now among the server's
            # transactions in progress below the newest completed one.
            await commit_change(own, own.open_id, "The latest committed change")
            started = asyncio.get_running_loop().time()
            _, trailer = ndjson((await export(own, format="ndjson")).content)
            waited = asyncio.get_running_loop().time() - started
            await other.rollback()
    finally:
        await engine.dispose()
    _, settled = ndjson((await export(own, format="ndjson")).content)
    assert trailer["watermark"] == settled["watermark"]  # up to the newest event, not kept back
    assert waited < 0.2


async def test_a_write_in_flight_is_waited_for_even_when_it_is_the_newest_transaction(
    own: Own,
) -> None:
    """The writer holding an audit event back may have the newest transaction id of the
    server, so that no snapshot lists it as in progress: the export waits for it all the same,
    else its event, below the new watermark, would never reach an incremental export."""
    first = ndjson((await export(own, format="ndjson")).content)[1]["watermark"]
    older = await own.engine.connect()
    await older.begin()
    await older.execute(text("SELECT pg_current_xact_id()"))  # the older transaction id
    slow = await begin_writer(own, own.verified_id, "Changed by a slow transaction")
    await older.execute(text("SELECT set_config('factmark.actor', :a, true)"), {"a": ACTOR})
    await older.execute(  # a later event (higher seq) from the older transaction
        text(
            "UPDATE claims SET statement = 'Changed by the older', version = version + 1 "
            "WHERE id = :id"
        ),
        {"id": own.open_id},
    )
    await older.commit()
    await older.close()
    pending = asyncio.ensure_future(export(own, format="ndjson", since=first))
    await asyncio.sleep(0.3)
    assert not pending.done()  # it waits for the slow writer
    await slow.commit()
    await slow.close()
    items, trailer = ndjson((await pending).content)
    assert [(i["id"], i["statement"]) for i in items if not i.get("deleted")] == [
        (own.verified_id, "Changed by a slow transaction")
    ]
    again, _ = ndjson((await export(own, format="ndjson", since=trailer["watermark"])).content)
    assert again == []


async def test_export_carries_the_checkpoint_the_sealer_signed(own: Own) -> None:
    key = Ed25519PrivateKey.generate()
    report = await Sealer(key, checkpoint_interval=timedelta(0)).run(own.sessionmaker)
    assert report.checkpoint is not None
    _, trailer = ndjson((await export(own, format="ndjson")).content)
    checkpoint = trailer["checkpoint"]
    assert checkpoint["position"] == report.checkpoint.position == report.head_position
    assert checkpoint["headHash"] == report.checkpoint.head_hash.hex()
    assert base64.b64decode(checkpoint["publicKey"]) == key.public_key().public_bytes_raw()
    Ed25519PublicKey.from_public_bytes(base64.b64decode(checkpoint["publicKey"])).verify(
        base64.b64decode(checkpoint["signature"]), checkpoint["message"].encode()
    )


@pytest.mark.parametrize("fmt", ["json", "ndjson", "csv", "claimreview", "w3c"])
async def test_command_line_writes_the_same_bytes_as_the_endpoint(
    own: Own,
    fmt: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("DATABASE_URL", own.urls.app)
    monkeypatch.delenv("FACTMARK_PUBLIC_BASE_URL", raising=False)
    response = await export(own, format=fmt)
    output = tmp_path / f"claims.{fmt}"
    code = await asyncio.to_thread(
        cli.main, ["export", "--workspace", "demo", "--format", fmt, "--output", str(output)]
    )
    assert code == 0
    assert output.read_bytes() == response.content
    err = capsys.readouterr().err
    assert "[##############################] 100% 1/1 claims" in err
    assert f"watermark: {response.headers['x-export-watermark']}" in err


async def test_command_line_writes_to_standard_output_and_follows_a_watermark(
    own: Own, monkeypatch: pytest.MonkeyPatch, capfdbinary: pytest.CaptureFixture[bytes]
) -> None:
    monkeypatch.setenv("DATABASE_URL", own.urls.app)
    watermark = (await export(own, format="ndjson")).headers["x-export-watermark"]
    await commit_change(own, own.verified_id, "Edited after the first export")
    args = ["export", "--workspace", "demo", "--format", "ndjson", "--since", watermark]
    assert await asyncio.to_thread(cli.main, args) == 0
    out, err = capfdbinary.readouterr()
    items, _ = ndjson(out)
    assert [i["statement"] for i in items] == ["Edited after the first export"]
    assert b"claims" not in err.split(b"watermark:")[0]  # no progress bar on standard output
    assert (
        await asyncio.to_thread(cli.main, ["export", "--workspace", "nope", "--format", "csv"]) == 1
    )
    assert msgspec.json.decode(out.splitlines()[-1])["records"] == 1
