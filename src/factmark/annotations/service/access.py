"""Who may touch which annotation, and loading rows only through caller-filtered queries."""

from __future__ import annotations

import uuid
from typing import Any

import msgspec
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from factmark.accounts.models import Role
from factmark.accounts.service import Actor, require_role
from factmark.annotations.models import Claim
from factmark.documents.models import Document
from factmark.errors import Conflict, Forbidden, NotFound


async def load_claim(
    session: AsyncSession,
    actor: Actor,
    claim_id: uuid.UUID,
    *,
    for_update: bool = False,
    include_deleted: bool = False,
) -> Claim:
    """A claim of one of the caller's workspaces whose document is not deleted (else 404)."""
    stmt = (
        select(Claim)
        .join(Document, Document.id == Claim.document_id)
        .where(
            Claim.id == claim_id,
            Claim.workspace_id.in_(actor.workspace_ids),
            Document.deleted_at.is_(None),
        )
    )
    if not include_deleted:
        stmt = stmt.where(Claim.deleted_at.is_(None))
    if for_update:
        stmt = stmt.with_for_update(of=Claim)
    claim = await session.scalar(stmt)
    if claim is None:
        raise NotFound("Claim not found.")
    return claim


def require_author_or_editor(
    actor: Actor, workspace_id: uuid.UUID, created_by: uuid.UUID | None, claim: Claim
) -> Role:
    """Editors change anything; reviewers their own rows while the claim is not verified."""
    role = require_role(actor, workspace_id, Role.REVIEWER)
    if role.at_least(Role.EDITOR):
        return role
    if created_by is None or created_by != actor.user_id:
        raise Forbidden("Reviewers may change only what they created; editors may change anything.")
    if claim.status == "verified":
        raise Conflict(
            "The claim is verified: only an editor may change it now (by a correction).",
            code="claim_verified",
        )
    return role


async def flush_as(session: AsyncSession, actions: dict[uuid.UUID, str]) -> None:
    """Flush pending changes so the audit trigger records them under domain action names
    (e.g. ``verdict.approved``), then clear the names so later changes record plainly."""
    payload: dict[str, Any] = {str(k): v for k, v in actions.items()}
    with session.no_autoflush:  # the names must be set before the changes are written
        await session.execute(
            text("SELECT set_config('factmark.actions', :actions, true)"),
            {"actions": msgspec.json.encode(payload).decode()},
        )
    await session.flush()
    await session.execute(text("SELECT set_config('factmark.actions', '', true)"))
