"""The sealer: commit-safe order, one sealer at a time, concurrent writers, checkpoints."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
import random
from datetime import timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import event, text, update
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession

from factmark.accounts import service as accounts
from factmark.app import Database, create_app
from factmark.audit.chain import GENESIS_HASH
from factmark.audit.sealer import ADVISORY_LOCK_KEY, Sealer, run_sealer_forever, stop_sealer
from factmark.audit.signing import public_key_bytes
from factmark.audit.verification import verify_chain
from factmark.db import DatabaseUrls, create_engine, create_sessionmaker
from factmark.documents.models import Document
from factmark.settings import Settings
from tests.audit.conftest import OwnDatabase, seed_workspace
from tests.conftest import app_client, serving


async def _add_document(session: AsyncSession, workspace_id: object, title: str) -> Document:
    text_ = f"Body of {title}."
    document = Document(
        workspace_id=workspace_id,
        title=title,
        text=text_,
        text_sha256=hashlib.sha256(text_.encode()).hexdigest(),
        length_codepoints=len(text_),
        length_utf16=len(text_),
    )
    session.add(document)
    await session.flush()
    return document


async def _counts(db: OwnDatabase) -> tuple[int, int]:
    events = await db.scalar("SELECT count(*) FROM audit_events")
    seals = await db.scalar("SELECT count(*) FROM audit_seals")
    return int(events), int(seals)


async def _verify(db: OwnDatabase) -> object:
    async with db.sessionmaker() as session:
        return await verify_chain(session)


async def test_sealer_seals_every_committed_event_into_a_chain_that_verifies(
    own_database: OwnDatabase,
) -> None:
    await seed_workspace(own_database)
    report = await Sealer().run(own_database.sessionmaker)
    events, seals = await _counts(own_database)
    assert events > 0
    assert report.sealed == events == seals
    positions = await own_database.scalar(
        "SELECT array_agg(position ORDER BY position) FROM audit_seals"
    )
    assert positions == list(range(1, events + 1))
    first = await own_database.scalar(
        "SELECT s.hash = sha256(:genesis || sha256(convert_to(to_jsonb(e.seq)::text, 'UTF8'))) "
        "FROM audit_seals s JOIN audit_events e USING (seq) WHERE position = 1",
        genesis=GENESIS_HASH,
    )
    assert first is False  # the leaf is the whole canonical event, not just its seq
    verified = await _verify(own_database)
    assert verified.ok  # type: ignore[attr-defined]
    assert verified.checked == events  # type: ignore[attr-defined]
    assert verified.unsealed == 0  # type: ignore[attr-defined]


async def test_event_of_an_open_transaction_is_sealed_after_it_commits_at_a_later_position(
    own_database: OwnDatabase,
) -> None:
    seeded = await seed_workspace(own_database)
    sealer = Sealer()
    await sealer.run(own_database.sessionmaker)

    slow = own_database.sessionmaker()
    await slow.begin()
    await accounts.set_audit_context(slow, accounts.system_actor("slow"))
    slow_doc = await _add_document(slow, seeded.workspace_id, "slow")  # takes the lower seq
    async with own_database.sessionmaker() as fast, fast.begin():
        await accounts.set_audit_context(fast, accounts.system_actor("fast"))
        fast_doc = await _add_document(fast, seeded.workspace_id, "fast")

    first = await sealer.run(own_database.sessionmaker)
    assert first.sealed == 0  # the open transaction holds back xmin: nothing after it is final
    await slow.commit()
    await slow.close()
    second = await sealer.run(own_database.sessionmaker)
    assert second.sealed == 2

    seq_of = "SELECT seq FROM audit_events WHERE entity_id = :id"
    slow_seq = await own_database.scalar(seq_of, id=slow_doc.id)
    fast_seq = await own_database.scalar(seq_of, id=fast_doc.id)
    assert slow_seq < fast_seq
    events, seals = await _counts(own_database)
    assert events == seals
    assert (await _verify(own_database)).ok  # type: ignore[attr-defined]


async def test_event_with_a_lower_seq_committed_after_higher_ones_were_sealed_is_not_skipped(
    own_database: OwnDatabase,
) -> None:
    """Positions follow the order events become final, not seq order: a transaction that got
    its xid early but wrote late has its event sealed before an older seq that is still open.
    The sealer, which remembers how far down unsealed events can be, must not skip the latter."""
    seeded = await seed_workspace(own_database)
    sealer = Sealer()
    await sealer.run(own_database.sessionmaker)
    early_xid = own_database.sessionmaker()
    await early_xid.begin()
    await early_xid.execute(text("SELECT pg_current_xact_id()"))  # xid now, event later
    await accounts.set_audit_context(early_xid, accounts.system_actor("early"))
    open_tx = own_database.sessionmaker()
    await open_tx.begin()
    await accounts.set_audit_context(open_tx, accounts.system_actor("open"))
    open_doc = await _add_document(open_tx, seeded.workspace_id, "open")  # lower seq
    early_doc = await _add_document(early_xid, seeded.workspace_id, "early")  # higher seq
    await early_xid.commit()
    await early_xid.close()

    assert (await sealer.run(own_database.sessionmaker)).sealed == 1  # only the early one
    for i in range(4):  # later transactions are not final while the open one holds xmin
        async with own_database.sessionmaker() as other, other.begin():
            await accounts.set_audit_context(other, accounts.system_actor("other"))
            await _add_document(other, seeded.workspace_id, f"other {i}")
        assert (await sealer.run(own_database.sessionmaker)).sealed == 0
    await open_tx.commit()
    await open_tx.close()
    assert (await sealer.run(own_database.sessionmaker)).sealed == 5

    position_of = (
        "SELECT s.position, e.seq FROM audit_seals s JOIN audit_events e USING (seq) "
        "WHERE e.entity_id = CAST(:id AS uuid)"
    )
    async with own_database.owner.connect() as conn:
        open_position, open_seq = (
            await conn.execute(text(position_of), {"id": str(open_doc.id)})
        ).one()
        early_position, early_seq = (
            await conn.execute(text(position_of), {"id": str(early_doc.id)})
        ).one()
    assert open_seq < early_seq
    assert open_position > early_position
    events, seals = await _counts(own_database)
    assert events == seals
    assert (await _verify(own_database)).ok  # type: ignore[attr-defined]


async def test_a_new_sealer_starts_from_the_floor_the_last_one_stored(
    own_database: OwnDatabase,
) -> None:
    """A server process that starts does not read the whole log again: each run stores the
    floor it starts from, and a new sealer starts there (and still seals what is new)."""
    seeded = await seed_workspace(own_database)
    first = Sealer()
    for _ in range(3):  # the floor moves once a run's mark is behind a later snapshot
        await first.run(own_database.sessionmaker)
    stored = await own_database.scalar("SELECT seq FROM audit_seal_floor WHERE id = 1")
    assert 0 < stored <= first.floor
    unsealed_below = await own_database.scalar(
        "SELECT count(*) FROM audit_events e WHERE e.seq <= :floor "
        "AND NOT EXISTS (SELECT FROM audit_seals s WHERE s.seq = e.seq)",
        floor=stored,
    )
    assert unsealed_below == 0
    async with own_database.sessionmaker() as session, session.begin():
        await accounts.set_audit_context(session, accounts.system_actor("later"))
        await _add_document(session, seeded.workspace_id, "later")

    second = Sealer(batch_size=1)
    statements: list[str] = []

    def count(conn: object, cursor: object, statement: str, *args: object) -> None:
        statements.append(statement)

    event.listen(own_database.app.sync_engine, "before_cursor_execute", count)
    try:
        report = await second.run(own_database.sessionmaker)
    finally:
        event.remove(own_database.app.sync_engine, "before_cursor_execute", count)
    assert second.floor >= stored
    assert report.sealed == 1
    # One batch per event above the floor (batch_size=1), not one per event of the whole log.
    batches = [s for s in statements if s.startswith("SELECT seq FROM audit_events")]
    events_above = await own_database.scalar(
        "SELECT count(*) FROM audit_events WHERE seq > :floor", floor=stored
    )
    assert len(batches) == events_above + 1
    assert events_above < (await _counts(own_database))[0]
    events, seals = await _counts(own_database)
    assert events == seals
    assert (await _verify(own_database)).ok  # type: ignore[attr-defined]


async def test_second_sealer_does_nothing_while_another_holds_the_lock(
    own_database: OwnDatabase,
) -> None:
    await seed_workspace(own_database)
    async with own_database.app.connect() as holder:
        await holder.begin()
        await holder.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": ADVISORY_LOCK_KEY})
        report = await Sealer().run(own_database.sessionmaker)
        assert report.busy
        assert report.sealed == 0
        await holder.rollback()
    assert (await _counts(own_database))[1] == 0
    assert (await Sealer().run(own_database.sessionmaker)).sealed > 0


async def test_concurrent_writers_leave_a_chain_that_verifies(own_database: OwnDatabase) -> None:
    seeded = await seed_workspace(own_database)
    sealer = Sealer(Ed25519PrivateKey.generate(), checkpoint_interval=timedelta(0))
    writers_done = asyncio.Event()
    runs = 0

    async def writer(number: int) -> None:
        rng = random.Random(number)
        mine: list[object] = []
        for step in range(30):
            async with own_database.sessionmaker() as session:
                await session.begin()
                if step % 5 == 2:  # take an xid now and write later: seals out of seq order
                    await session.execute(text("SELECT pg_current_xact_id()"))
                    await asyncio.sleep(0.01)
                await accounts.set_audit_context(session, accounts.system_actor(f"w{number}"))
                created = None
                if mine and rng.random() < 0.5:
                    await session.execute(
                        update(Document)
                        .where(Document.id == rng.choice(mine))
                        .values(title=f"w{number} edit {step}", version=Document.version + 1)
                        .execution_options(synchronize_session=False)
                    )
                else:
                    doc = await _add_document(session, seeded.workspace_id, f"w{number}-{step}")
                    created = doc.id
                if step % 7 == 3:
                    await asyncio.sleep(0.02)  # a slower transaction spans sealer runs
                if step % 11 == 5:
                    await session.rollback()  # leaves a gap in seq
                    continue
                await session.commit()
                if created is not None:
                    mine.append(created)

    async def seal_repeatedly() -> None:
        nonlocal runs
        while not writers_done.is_set():
            await sealer.run(own_database.sessionmaker)
            runs += 1
            await asyncio.sleep(0.005)

    sealing = asyncio.create_task(seal_repeatedly())
    await asyncio.gather(*(writer(n) for n in range(4)))
    writers_done.set()
    await sealing
    await sealer.run(own_database.sessionmaker)

    events, seals = await _counts(own_database)
    assert runs > 3
    assert events == seals
    gaps = await own_database.scalar(
        "SELECT max(seq) - count(*) FROM audit_events"
    )  # rolled-back transactions left holes in seq, which must not trouble the chain
    assert gaps > 0
    async with own_database.sessionmaker() as session:
        report = await verify_chain(session, configured_key=sealer.signing_key.public_key())  # type: ignore[union-attr]
    assert report.ok, report.problems
    assert report.checked == events
    assert report.checkpoints_checked > 0
    assert report.latest_checkpoint is not None
    assert report.latest_checkpoint.head_hash_matches
    assert report.latest_checkpoint.signed_by_configured_key


async def test_latest_checkpoint_verifies_with_the_published_public_key(
    own_database: OwnDatabase, own_settings: Settings, signing_key: Ed25519PrivateKey
) -> None:
    seeded = await seed_workspace(own_database)
    await Sealer(signing_key).run(own_database.sessionmaker)
    app = create_app(
        own_settings,
        Database(engine=own_database.app, sessionmaker=own_database.sessionmaker, owned=False),
    )
    async with app_client(app) as client:
        response = await client.get(
            "/api/v1/audit/checkpoints/latest",
            headers={"Authorization": f"Bearer {seeded.admin_token}"},
        )
        anonymous = await client.get("/api/v1/audit/checkpoints/latest")
    assert anonymous.status_code == 401
    assert response.status_code == 200, response.text
    body = response.json()
    events, _ = await _counts(own_database)
    assert body["position"] == events
    assert body["algorithm"] == "Ed25519"
    message = (
        f"factmark-checkpoint v1\n{body['position']}\n{body['headHash']}\n{body['createdAt']}\n"
    )
    assert body["message"] == message
    public = base64.b64decode(body["publicKey"])
    assert public == public_key_bytes(signing_key)
    Ed25519PublicKey.from_public_bytes(public).verify(
        base64.b64decode(body["signature"]), message.encode()
    )  # raises InvalidSignature if it does not verify
    head = await own_database.scalar(
        "SELECT encode(hash, 'hex') FROM audit_seals ORDER BY position DESC LIMIT 1"
    )
    assert body["headHash"] == head


async def test_server_seals_in_the_background_and_signs_with_a_generated_key(
    own_database: OwnDatabase, own_settings: Settings
) -> None:
    from dataclasses import replace

    seeded = await seed_workspace(own_database)
    settings = replace(own_settings, audit_signing_key=None)
    app = create_app(settings)
    async with serving(app) as client:
        created = await client.post(
            "/api/v1/workspaces/acme/documents",
            json={"title": "Sealed in the background", "text": "Some text."},
            headers={"Authorization": f"Bearer {seeded.admin_token}"},
        )
        assert created.status_code == 201, created.text
        for _ in range(200):
            events, seals = await _counts(own_database)
            if events == seals:
                break
            await asyncio.sleep(0.05)
    assert events == seals
    key_file = settings.data_dir / "audit-signing-key"
    assert key_file.stat().st_mode & 0o777 == 0o600
    checkpoint_key = await own_database.scalar(
        "SELECT public_key FROM audit_checkpoints ORDER BY position DESC LIMIT 1"
    )
    from factmark.audit.signing import load_signing_key

    key = load_signing_key(settings, create=False)
    assert key is not None
    assert checkpoint_key == public_key_bytes(key)


async def test_background_sealer_logs_database_errors_and_keeps_retrying(
    database_urls: DatabaseUrls, caplog: pytest.LogCaptureFixture
) -> None:
    missing = make_url(database_urls.app).set(database="factmark_no_such_database")
    engine = create_engine(missing.render_as_string(hide_password=False), pool_size=1)
    try:
        with caplog.at_level(logging.WARNING, logger="factmark.audit.sealer"):
            task = asyncio.create_task(
                run_sealer_forever(create_sessionmaker(engine), Sealer(), interval=0.02)
            )
            await asyncio.sleep(0.3)
            assert not task.done()  # still alive, retrying
            await stop_sealer(task)
    finally:
        await engine.dispose()
    assert task.cancelled()
    failures = [r for r in caplog.records if "audit sealer failed" in r.getMessage()]
    assert len(failures) >= 2
    assert failures[0].exc_info is not None  # the first failure with its traceback, then terse
    assert not failures[1].exc_info
