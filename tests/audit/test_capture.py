"""Capture: every write path is recorded, with its actor, or refused; the log is append-only."""

from __future__ import annotations

import hashlib
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from factmark.accounts import service as accounts
from factmark.accounts.service import Actor
from factmark.documents.models import Document
from tests.conftest import World, count_rows

NOT_AUDITED = {"idempotency_records", "rate_limit_windows", "alembic_version"}
EXPECTED_TRIGGERS = ("audit_insert", "audit_row", "refuse_truncate")


def _sqlstate(error: DBAPIError) -> str | None:
    orig: Any = error.orig
    return getattr(orig, "sqlstate", None) or getattr(orig.__cause__, "sqlstate", None)


async def _document(session: AsyncSession, workspace_id: Any, title: str) -> Document:
    body = f"Text of {title}."
    document = Document(
        workspace_id=workspace_id,
        title=title,
        text=body,
        text_sha256=hashlib.sha256(body.encode()).hexdigest(),
        length_codepoints=len(body),
        length_utf16=len(body),
    )
    session.add(document)
    await session.flush()
    return document


async def _max_seq(session: AsyncSession) -> int:
    return int(
        (await session.execute(text("SELECT coalesce(max(seq), 0) FROM audit_events"))).scalar_one()
    )


async def test_raw_sql_bulk_update_is_recorded_row_by_row_with_its_actor(
    session: AsyncSession, world: World
) -> None:
    ids = {(await _document(session, world.workspace_id, f"doc {i}")).id for i in range(3)}
    editor = Actor(kind="user", id=str(world["editor"].user_id), name="editor")
    await accounts.set_audit_context(session, editor, request_id="req-bulk", reason="retagging")
    since = await _max_seq(session)
    result = await session.execute(
        text("UPDATE documents SET tags = ARRAY['bulk'] WHERE workspace_id = :ws"),
        {"ws": world.workspace_id},
    )
    rows = (
        await session.execute(
            text(
                "SELECT entity_id, actor_id, actor_kind, actor_name, action, changed_fields, "
                "before, after -> 'tags', reason, request_id FROM audit_events "
                "WHERE seq > :since ORDER BY seq"
            ),
            {"since": since},
        )
    ).all()
    assert result.rowcount == 3  # type: ignore[attr-defined]
    assert {r[0] for r in rows} == ids
    for row in rows:
        assert tuple(row[1:]) == (
            str(world["editor"].user_id),
            "user",
            "editor",
            "update",
            ["tags"],
            {"tags": []},
            ["bulk"],
            "retagging",
            "req-bulk",
        )


async def test_a_change_without_an_actor_is_refused_by_the_trigger(
    connection: AsyncConnection,
) -> None:
    with pytest.raises(DBAPIError) as raised:
        async with connection.begin_nested():
            await connection.execute(
                text(
                    "INSERT INTO users (id, email, display_name) "
                    "VALUES (gen_random_uuid(), 'ghost@acme.test', 'ghost')"
                )
            )
    assert _sqlstate(raised.value) == "FMA01"
    assert "without an actor" in str(raised.value)


async def test_soft_delete_restore_and_named_domain_actions_are_recorded(
    session: AsyncSession, world: World
) -> None:
    document = await _document(session, world.workspace_id, "lifecycle")
    since = await _max_seq(session)
    params = {"id": document.id}
    await session.execute(text("UPDATE documents SET deleted_at = now() WHERE id = :id"), params)
    await session.execute(text("UPDATE documents SET deleted_at = NULL WHERE id = :id"), params)
    await accounts.record_action(session, document.id, "document.reviewed")
    await session.execute(text("UPDATE documents SET title = 'Reviewed' WHERE id = :id"), params)
    actions = (
        await session.execute(
            text("SELECT action FROM audit_events WHERE seq > :since ORDER BY seq"),
            {"since": since},
        )
    ).scalars()
    assert list(actions) == ["delete", "restore", "document.reviewed"]


async def test_secrets_are_never_copied_into_the_log(session: AsyncSession, world: World) -> None:
    images = (
        await session.execute(
            text(
                "SELECT entity_type, after FROM audit_events "
                "WHERE entity_type IN ('token', 'user') AND action = 'create'"
            )
        )
    ).all()
    assert {entity for entity, _ in images} == {"token", "user"}
    for _, after in images:
        assert "token_hash" not in after
        assert "password_hash" not in after


async def test_a_failed_request_leaves_no_event(
    client: httpx.AsyncClient, world: World, session: AsyncSession
) -> None:
    created = await client.post(
        "/api/v1/workspaces/acme/documents",
        json={"title": "Original", "text": "Some text."},
        headers=world["editor"].headers,
    )
    assert created.status_code == 201, created.text
    url = f"/api/v1/documents/{created.json()['id']}"
    events = await count_rows(session, "audit_events")
    stale = await client.patch(
        url, json={"title": "Lost"}, headers={**world["editor"].headers, "If-Match": '"7"'}
    )
    assert stale.status_code == 412
    forbidden = await client.patch(
        url, json={"title": "Lost"}, headers={**world["viewer"].headers, "If-Match": '"1"'}
    )
    assert forbidden.status_code == 403
    assert await count_rows(session, "audit_events") == events
    ok = await client.patch(
        url, json={"title": "Kept"}, headers={**world["editor"].headers, "If-Match": '"1"'}
    )
    assert ok.status_code == 200
    assert await count_rows(session, "audit_events") == events + 1


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_events SET reason = 'rewritten'",
        "DELETE FROM audit_events",
        "TRUNCATE audit_events",
        "INSERT INTO audit_events (actor_kind, actor_name, action, entity_type, entity_id) "
        "VALUES ('user', 'forger', 'create', 'document', gen_random_uuid())",
        "UPDATE audit_seals SET hash = '\\x00'",
        "DELETE FROM audit_seals",
        "TRUNCATE audit_checkpoints",
        "DELETE FROM audit_checkpoints",
        "ALTER TABLE documents DISABLE TRIGGER audit_row",
        "ALTER TABLE claims DISABLE TRIGGER audit_insert",
        "ALTER TABLE audit_events DISABLE TRIGGER append_only",
    ],
)
async def test_the_app_role_cannot_rewrite_the_audit_log(
    connection: AsyncConnection, statement: str
) -> None:
    await connection.execute(text("SET LOCAL ROLE factmark_app"))
    with pytest.raises(DBAPIError) as raised:
        async with connection.begin_nested():
            await connection.execute(text(statement))
    assert _sqlstate(raised.value) == "42501"  # insufficient_privilege


async def test_even_the_owner_meets_the_append_only_triggers(owner_engine: AsyncEngine) -> None:
    async with owner_engine.connect() as conn:
        transaction = await conn.begin()
        try:
            # Rows to refuse changing (all rolled back at the end).
            await conn.execute(
                text(
                    "SELECT set_config('factmark.actor', "
                    """'{"kind": "system", "id": "tests", "name": "tests"}', true)"""
                )
            )
            await conn.execute(
                text(
                    "INSERT INTO users (id, email, display_name) "
                    "VALUES (gen_random_uuid(), 'owner@acme.test', 'owner')"
                )
            )
            await conn.execute(
                text(
                    "INSERT INTO audit_seals (position, seq, hash) "
                    "SELECT 1, max(seq), '\\x00' FROM audit_events"
                )
            )
            for statement in (
                "UPDATE audit_events SET reason = 'rewritten'",
                "DELETE FROM audit_seals",
                "TRUNCATE audit_events",
                "TRUNCATE comments",
            ):
                with pytest.raises(DBAPIError) as raised:
                    async with conn.begin_nested():
                        await conn.execute(text(statement))
                assert _sqlstate(raised.value) == "FMA02", statement
        finally:
            await transaction.rollback()


async def test_every_domain_table_has_an_always_enabled_audit_trigger(
    session: AsyncSession,
) -> None:
    """Fails when a table is added without its audit triggers (or with one disabled): its
    inserts' (``factmark_audit_insert_<table>()``), its updates and deletes', and the refusal
    of TRUNCATE."""
    rows = (
        await session.execute(
            text(
                """
                SELECT c.relname, t.tgname, t.tgenabled::text, p.proname,
                       pg_get_triggerdef(t.oid) AS definition
                  FROM pg_class c
                  JOIN pg_namespace n ON n.oid = c.relnamespace
                  LEFT JOIN pg_trigger t ON t.tgrelid = c.oid AND NOT t.tgisinternal
                  LEFT JOIN pg_proc p ON p.oid = t.tgfoid
                 WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p')
                """
            )
        )
    ).all()
    triggers: dict[str, dict[str, tuple[str, str, str]]] = {}
    for table, name, enabled, function, definition in rows:
        if table.startswith("audit_") or table in NOT_AUDITED:
            continue
        found = triggers.setdefault(table, {})
        if name is not None:
            found[name] = (enabled, function, definition)
    assert {"documents", "claims", "claim_spans", "verdicts", "evidence", "comments"} <= set(
        triggers
    )
    for table, found in triggers.items():
        assert {n: found.get(n, ("missing",))[0] for n in EXPECTED_TRIGGERS} == dict.fromkeys(
            EXPECTED_TRIGGERS, "A"
        ), table
        _, function, definition = found["audit_insert"]
        assert function == f"factmark_audit_insert_{table}", table
        assert f"AFTER INSERT ON public.{table} FOR EACH ROW" in definition
        _, function, definition = found["audit_row"]
        assert function == "factmark_audit_row", table
        assert f"AFTER DELETE OR UPDATE ON public.{table} FOR EACH ROW" in definition
