"""Verification: a superuser's tampering with the log is named exactly; CLI and API report it."""

from __future__ import annotations

import asyncio
import hashlib
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import text

from factmark import cli
from factmark.app import Database, create_app
from factmark.audit.chain import GENESIS_HASH, LEAF_SQL, checkpoint_message
from factmark.audit.sealer import Sealer
from factmark.audit.signing import encode_private_key, public_key_bytes
from factmark.audit.verification import ChainReport, verify_chain
from factmark.settings import Settings
from tests.audit.conftest import OwnDatabase, seed_workspace
from tests.conftest import World


async def _sealed(db: OwnDatabase, key: Ed25519PrivateKey) -> int:
    """Seed a workspace, seal it with a checkpoint at the head; the number of events."""
    await seed_workspace(db)
    report = await Sealer(key, checkpoint_interval=timedelta(0)).run(db.sessionmaker)
    assert report.checkpoint is not None
    return report.sealed


Statement = tuple[str, dict[str, Any]]


async def _as_superuser(db: OwnDatabase, table: str, *statements: Statement) -> None:
    """Change an append-only table the only way possible: as its owner, trigger disabled."""
    async with db.owner.begin() as conn:
        await conn.execute(text(f"ALTER TABLE {table} DISABLE TRIGGER append_only"))
        for sql, params in statements:
            await conn.execute(text(sql), params)
        await conn.execute(text(f"ALTER TABLE {table} ENABLE ALWAYS TRIGGER append_only"))


async def _verify(db: OwnDatabase, key: Ed25519PrivateKey | None = None) -> ChainReport:
    async with db.sessionmaker() as session:
        return await verify_chain(
            session, configured_key=key.public_key() if key is not None else None
        )


async def _seq_at(db: OwnDatabase, position: int) -> int:
    return int(await db.scalar("SELECT seq FROM audit_seals WHERE position = :p", p=position))


async def test_verify_names_exactly_the_event_a_superuser_changed(
    own_database: OwnDatabase, own_settings: Settings, signing_key: Ed25519PrivateKey
) -> None:
    total = await _sealed(own_database, signing_key)
    assert (await _verify(own_database, signing_key)).ok
    seq = await _seq_at(own_database, 3)
    await _as_superuser(
        own_database,
        "audit_events",
        ("UPDATE audit_events SET reason = 'nothing to see' WHERE seq = :seq", {"seq": seq}),
    )
    enabled = await own_database.scalar(
        "SELECT tgenabled::text FROM pg_trigger "
        "WHERE tgname = 'append_only' AND tgrelid = 'audit_events'::regclass"
    )
    assert enabled == "A"

    report = await _verify(own_database, signing_key)
    assert not report.ok
    assert report.checked == total
    assert [(p.kind, p.position, p.seq) for p in report.problems] == [("hash_mismatch", 3, seq)]
    assert report.latest_checkpoint is not None
    assert report.latest_checkpoint.signature_valid
    assert not report.latest_checkpoint.head_hash_matches

    app = create_app(
        own_settings,
        Database(engine=own_database.app, sessionmaker=own_database.sessionmaker, owned=False),
    )
    token = await _admin_token(own_database)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as client:
        response = await client.get(
            "/api/v1/workspaces/acme/audit/verify", headers={"Authorization": f"Bearer {token}"}
        )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["ok"] is False
    assert body["problems"][0]["kind"] == "hash_mismatch"
    assert body["problems"][0]["seq"] == seq
    assert body["latestCheckpoint"]["signedByConfiguredKey"] is True


async def _admin_token(db: OwnDatabase) -> str:
    """A fresh token for the seeded admin (tokens are only shown once)."""
    from factmark.accounts import service as accounts

    async with db.sessionmaker() as session, session.begin():
        await accounts.set_audit_context(session, accounts.system_actor("tests"))
        user = await accounts.get_user_by_email(session, "admin@acme.test")
        assert user is not None
        token, _ = await accounts.create_token_for_user(session, user, name="verify")
        return token


async def test_verify_notices_a_deleted_sealed_event_and_the_cli_exits_1(
    own_database: OwnDatabase,
    signing_key: Ed25519PrivateKey,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    await _sealed(own_database, signing_key)
    seq = await _seq_at(own_database, 5)
    await _as_superuser(
        own_database, "audit_events", ("DELETE FROM audit_events WHERE seq = :seq", {"seq": seq})
    )

    report = await _verify(own_database)
    assert [(p.kind, p.position, p.seq) for p in report.problems] == [("missing_event", 5, seq)]

    monkeypatch.setenv("DATABASE_URL", own_database.urls.app)
    monkeypatch.setenv("FACTMARK_AUDIT_SIGNING_KEY", encode_private_key(signing_key))
    status = await asyncio.to_thread(cli.main, ["audit", "verify", "--json"])
    assert status == 1
    printed = json.loads(capsys.readouterr().out)
    assert printed["ok"] is False
    assert printed["problems"][0] == {
        "kind": "missing_event",
        "position": 5,
        "seq": seq,
        "detail": f"event seq {seq}, sealed at position 5, is missing",
    }


async def test_cli_seals_by_hand_and_verifies_ok(
    own_database: OwnDatabase,
    signing_key: Ed25519PrivateKey,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    await seed_workspace(own_database)
    monkeypatch.setenv("DATABASE_URL", own_database.urls.app)
    monkeypatch.setenv("FACTMARK_AUDIT_SIGNING_KEY", encode_private_key(signing_key))
    events = int(await own_database.scalar("SELECT count(*) FROM audit_events"))
    assert await asyncio.to_thread(cli.main, ["audit", "seal"]) == 0
    sealed = capsys.readouterr().out
    assert f"sealed {events} events; head position {events}" in sealed
    assert f"signed checkpoint at position {events}" in sealed
    assert await asyncio.to_thread(cli.main, ["audit", "verify"]) == 0
    assert f"audit chain OK: {events} sealed events checked" in capsys.readouterr().out


async def test_verify_notices_a_deleted_seal_as_a_gap(
    own_database: OwnDatabase, signing_key: Ed25519PrivateKey
) -> None:
    await _sealed(own_database, signing_key)
    await _as_superuser(
        own_database, "audit_seals", ("DELETE FROM audit_seals WHERE position = 2", {})
    )
    report = await _verify(own_database)
    assert not report.ok
    assert (report.problems[0].kind, report.problems[0].position) == ("position_gap", 2)


async def test_verify_catches_a_chain_rewritten_consistently_by_its_checkpoint(
    own_database: OwnDatabase, signing_key: Ed25519PrivateKey
) -> None:
    """An attacker who changes an event and recomputes every later hash leaves a chain that
    is consistent in itself: only the signed checkpoint can tell."""
    total = await _sealed(own_database, signing_key)
    seq = await _seq_at(own_database, 2)
    await _as_superuser(
        own_database,
        "audit_events",
        ("UPDATE audit_events SET actor_name = 'someone else' WHERE seq = :seq", {"seq": seq}),
    )
    async with own_database.owner.connect() as conn:
        leaves = (
            await conn.execute(
                text(
                    f"SELECT s.position, {LEAF_SQL} FROM audit_seals s "  # noqa: S608
                    "JOIN audit_events e USING (seq) ORDER BY s.position"
                )
            )
        ).all()
    chain, statements = GENESIS_HASH, []
    for position, leaf in leaves:
        chain = hashlib.sha256(chain + bytes(leaf)).digest()
        statements.append(
            (
                "UPDATE audit_seals SET hash = :hash WHERE position = :p",
                {"hash": chain, "p": position},
            )
        )
    await _as_superuser(own_database, "audit_seals", *statements)

    report = await _verify(own_database, signing_key)
    assert [(p.kind, p.position) for p in report.problems] == [("checkpoint_head_mismatch", total)]


async def test_verify_flags_forged_and_foreign_checkpoints_and_a_cut_off_tail(
    own_database: OwnDatabase, signing_key: Ed25519PrivateKey
) -> None:
    total = await _sealed(own_database, signing_key)
    head = await own_database.scalar("SELECT hash FROM audit_seals WHERE position = :p", p=total)
    intruder = Ed25519PrivateKey.generate()
    created = datetime.now(UTC)
    async with own_database.app.begin() as conn:  # the app role may add checkpoints
        await conn.execute(
            text("INSERT INTO audit_checkpoints VALUES (:position, :head, :created, :key, :sig)"),
            {
                "position": total + 10,
                "head": head,
                "created": created,
                "key": public_key_bytes(intruder),
                "sig": intruder.sign(checkpoint_message(total + 10, head, created))[::-1],
            },
        )
    report = await _verify(own_database, signing_key)
    kinds = {p.kind for p in report.problems}
    assert kinds == {
        "checkpoint_signature_invalid",
        "checkpoint_beyond_head",
        "checkpoint_foreign_key",
    }
    assert report.checkpoints_checked == 2


async def test_verify_endpoint_is_for_workspace_admins(
    client: httpx.AsyncClient, world: World
) -> None:
    url = "/api/v1/workspaces/acme/audit/verify"
    admin = await client.get(url, headers=world["admin"].headers)
    assert admin.status_code == 200, admin.text
    assert admin.json()["ok"] is True
    assert (await client.get(url, headers=world["editor"].headers)).status_code == 403
    assert (await client.get(url, headers=world["outsider"].headers)).status_code == 404
