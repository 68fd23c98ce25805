"""Reading the audit log: entity history with field-level diffs, the workspace feed, the state of
any audited entity as of a past time, and the purge of a document (legal takedown).

Who may read what:
- history of an entity, and as-of reads: members of the entity's workspace (any role), taken
  from the events themselves, so it stays readable after a soft delete;
- the workspace feed: editors and admins;
- once an entity has been hard-deleted (a purge), its history and as-of reads are for the
  workspace's admins only, and the feed shows other roles that the events happened but not
  their content (``redacted``): the purged content stays in the append-only log, the proof of
  what was removed, but out of sight.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar, overload

import msgspec
from sqlalchemy import ColumnElement, Select, and_, delete, func, or_, select
from sqlalchemy.dialects.postgresql import distinct_on
from sqlalchemy.ext.asyncio import AsyncSession

from factmark.accounts.models import Role
from factmark.accounts.service import Actor, record_action, require_role, set_change_reason
from factmark.audit.chain import Checkpoint, latest_checkpoint
from factmark.audit.images import (
    ENTITY_MODELS,
    ENTITY_OF_MODEL,
    FieldChange,
    changes_of,
    instance_from_image,
)
from factmark.audit.models import AuditEvent
from factmark.audit.verification import ChainReport, verify_chain
from factmark.db import Base
from factmark.documents.models import Document
from factmark.errors import Invalid, NotFound

M = TypeVar("M", bound=Base)
_EVENT_COLUMNS = frozenset({"workspace_id", "document_id", "claim_id"})


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    event: AuditEvent
    changes: list[FieldChange]
    redacted: bool = False

    @property
    def version(self) -> int | None:
        image = self.event.after if self.event.after is not None else self.event.before
        value = (image or {}).get("version")
        return value if isinstance(value, int) else None


@dataclass(frozen=True, slots=True)
class HistoryPage:
    items: list[HistoryEntry]
    next_cursor: str | None


def _encode_cursor(seq: int) -> str:
    return base64.urlsafe_b64encode(msgspec.json.encode(["seq", seq])).decode().rstrip("=")


def _decode_cursor(cursor: str) -> int:
    try:
        tag, seq = msgspec.json.decode(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if tag != "seq" or not isinstance(seq, int):
            raise ValueError(cursor)
    except (ValueError, TypeError, binascii.Error, msgspec.DecodeError):
        raise Invalid(
            "cursor is not valid for this list", field="cursor", code="invalid_cursor"
        ) from None
    return seq


async def _page(
    session: AsyncSession,
    stmt: Select[AuditEvent],
    *,
    cursor: str | None,
    limit: int,
    redact: set[uuid.UUID] | None = None,
) -> HistoryPage:
    """Newest first, keyset on seq."""
    if cursor is not None:
        stmt = stmt.where(AuditEvent.seq < _decode_cursor(cursor))
    rows = (await session.scalars(stmt.order_by(AuditEvent.seq.desc()).limit(limit + 1))).all()
    items = list(rows[:limit])
    hidden = redact or set()
    entries = [
        HistoryEntry(event=e, changes=[], redacted=True)
        if e.document_id in hidden
        else HistoryEntry(event=e, changes=changes_of(e))
        for e in items
    ]
    next_cursor = _encode_cursor(items[-1].seq) if len(rows) > limit and items else None
    return HistoryPage(items=entries, next_cursor=next_cursor)


# --- access --------------------------------------------------------------------------------


async def require_history_access(
    session: AsyncSession, actor: Actor, entity_type: str, entity_id: uuid.UUID
) -> uuid.UUID:
    """The workspace of an audited entity, if the caller may read its history (else 404).

    Taken from the entity's latest event, so it works for deleted and purged entities too.
    """
    row = (
        await session.execute(
            select(AuditEvent.workspace_id, AuditEvent.after.is_(None))
            .where(AuditEvent.entity_type == entity_type, AuditEvent.entity_id == entity_id)
            .order_by(AuditEvent.seq.desc())
            .limit(1)
        )
    ).first()
    if row is None or row[0] is None:
        raise NotFound(f"No {entity_type} with this id.")
    workspace_id, purged = row[0], row[1]
    role = actor.role_in(workspace_id)
    if role is None or (purged and not role.at_least(Role.ADMIN)):
        raise NotFound(f"No {entity_type} with this id.")
    return uuid.UUID(str(workspace_id))


# What each history endpoint shows: a claim's spans are part of the claim, and a document's
# history is the roll-up of everything anchored to it.
def _history_filter(entity_type: str, entity_id: uuid.UUID) -> ColumnElement[bool]:
    if entity_type == "document":
        return AuditEvent.document_id == entity_id
    own = and_(AuditEvent.entity_type == entity_type, AuditEvent.entity_id == entity_id)
    if entity_type == "claim":
        spans = and_(AuditEvent.entity_type == "claim_span", AuditEvent.claim_id == entity_id)
        return or_(own, spans)
    return own


async def entity_history(
    session: AsyncSession,
    actor: Actor,
    entity_type: str,
    entity_id: uuid.UUID,
    *,
    cursor: str | None,
    limit: int,
) -> HistoryPage:
    await require_history_access(session, actor, entity_type, entity_id)
    stmt = select(AuditEvent).where(_history_filter(entity_type, entity_id))
    return await _page(session, stmt, cursor=cursor, limit=limit)


@dataclass(frozen=True, slots=True)
class FeedFilters:
    actor_ids: Sequence[str] = ()
    entity_types: Sequence[str] = ()
    actions: Sequence[str] = ()
    since: datetime | None = None
    until: datetime | None = None


async def _purged_documents(session: AsyncSession, ids: set[uuid.UUID]) -> set[uuid.UUID]:
    if not ids:
        return set()
    rows = await session.scalars(
        select(AuditEvent.entity_id).where(
            AuditEvent.entity_type == "document",
            AuditEvent.entity_id.in_(ids),
            AuditEvent.after.is_(None),
        )
    )
    return set(rows)


async def workspace_feed(
    session: AsyncSession,
    actor: Actor,
    workspace_id: uuid.UUID,
    filters: FeedFilters,
    *,
    cursor: str | None,
    limit: int,
) -> HistoryPage:
    """Every event of a workspace, newest first (editors and admins)."""
    role = require_role(actor, workspace_id, Role.EDITOR)
    for name, value in (("since", filters.since), ("until", filters.until)):
        _require_aware(value, name)
    stmt = select(AuditEvent).where(AuditEvent.workspace_id == workspace_id)
    if filters.actor_ids:
        stmt = stmt.where(AuditEvent.actor_id.in_(list(filters.actor_ids)))
    if filters.entity_types:
        stmt = stmt.where(AuditEvent.entity_type.in_(list(filters.entity_types)))
    if filters.actions:
        stmt = stmt.where(AuditEvent.action.in_(list(filters.actions)))
    if filters.since is not None:
        stmt = stmt.where(AuditEvent.occurred_at >= filters.since)
    if filters.until is not None:
        stmt = stmt.where(AuditEvent.occurred_at < filters.until)
    page = await _page(session, stmt, cursor=cursor, limit=limit)
    if role is Role.ADMIN:
        return page
    documents = {e.event.document_id for e in page.items if e.event.document_id is not None}
    purged = await _purged_documents(session, documents)
    if not purged:
        return page
    items = [
        HistoryEntry(event=e.event, changes=[], redacted=True)
        if e.event.document_id in purged
        else e
        for e in page.items
    ]
    return HistoryPage(items=items, next_cursor=page.next_cursor)


# --- as-of reads ---------------------------------------------------------------------------


def _require_aware(value: datetime | None, name: str) -> None:
    if value is not None and value.tzinfo is None:
        raise Invalid(f"{name} needs a time zone (RFC 3339, e.g. ...Z).", field=name)


def _entity_name(entity_type: str | type[Base]) -> str:
    name = entity_type if isinstance(entity_type, str) else ENTITY_OF_MODEL[entity_type]
    if name not in ENTITY_MODELS:
        raise ValueError(f"{name!r} is not an audited entity")
    return name


def _visible_image(image: dict[str, Any] | None, include_deleted: bool) -> dict[str, Any] | None:
    if image is None or (image.get("deleted_at") is not None and not include_deleted):
        return None
    return image


@overload
async def row_as_of(
    session: AsyncSession,
    entity_type: type[M],
    entity_id: uuid.UUID,
    at: datetime,
    *,
    include_deleted: bool = False,
) -> M | None: ...
@overload
async def row_as_of(
    session: AsyncSession,
    entity_type: str,
    entity_id: uuid.UUID,
    at: datetime,
    *,
    include_deleted: bool = False,
) -> Any: ...
async def row_as_of(
    session: AsyncSession,
    entity_type: str | type[Base],
    entity_id: uuid.UUID,
    at: datetime,
    *,
    include_deleted: bool = False,
) -> Any:
    """The entity as it was at ``at``: a transient model instance rebuilt from the after-image
    of its last event at or before that time; None if it did not exist then or was deleted.

    ``entity_type`` is the audit name (``"verdict"``) or the model class (``Verdict``). No
    access check: call :func:`require_history_access` first.
    """
    name = _entity_name(entity_type)
    _require_aware(at, "asOf")
    image = await session.scalar(
        select(AuditEvent.after)
        .where(
            AuditEvent.entity_type == name,
            AuditEvent.entity_id == entity_id,
            AuditEvent.occurred_at <= at,
        )
        .order_by(AuditEvent.seq.desc())
        .limit(1)
    )
    visible = _visible_image(image, include_deleted)
    return instance_from_image(ENTITY_MODELS[name], visible) if visible is not None else None


@overload
async def children_as_of(
    session: AsyncSession,
    entity_type: type[M],
    parent_field: str,
    parent_id: uuid.UUID,
    at: datetime,
    *,
    include_deleted: bool = False,
) -> list[M]: ...
@overload
async def children_as_of(
    session: AsyncSession,
    entity_type: str,
    parent_field: str,
    parent_id: uuid.UUID,
    at: datetime,
    *,
    include_deleted: bool = False,
) -> list[Any]: ...
async def children_as_of(
    session: AsyncSession,
    entity_type: str | type[Base],
    parent_field: str,
    parent_id: uuid.UUID,
    at: datetime,
    *,
    include_deleted: bool = False,
) -> list[Any]:
    """Every entity of a type whose ``parent_field`` was ``parent_id`` at ``at`` (for example
    all verdicts of a claim: ``children_as_of(s, "verdict", "claim_id", claim.id, t)``), as
    transient instances ordered by creation. Deleted ones are left out unless asked for."""
    name = _entity_name(entity_type)
    _require_aware(at, "asOf")
    if parent_field in _EVENT_COLUMNS:
        parent = getattr(AuditEvent, parent_field) == parent_id
    else:
        parent = AuditEvent.after[parent_field].astext == str(parent_id)
    candidates = (
        select(AuditEvent.entity_id)
        .where(AuditEvent.entity_type == name, AuditEvent.occurred_at <= at, parent)
        .distinct()
    )
    latest = (
        select(AuditEvent.after)
        .ext(distinct_on(AuditEvent.entity_id))
        .where(
            AuditEvent.entity_type == name,
            AuditEvent.entity_id.in_(candidates),
            AuditEvent.occurred_at <= at,
        )
        .order_by(AuditEvent.entity_id, AuditEvent.seq.desc())
    )
    model = ENTITY_MODELS[name]
    found = []
    for image in await session.scalars(latest):
        visible = _visible_image(image, include_deleted)
        if visible is not None and visible.get(parent_field) == str(parent_id):
            found.append(instance_from_image(model, visible))
    found.sort(
        key=lambda row: (
            getattr(row, "created_at", None) or at,
            getattr(row, "ordinal", 0),
            str(getattr(row, "id", "")),
        )
    )
    return found


async def entity_as_of(
    session: AsyncSession, actor: Actor, model: type[M], entity_id: uuid.UUID, at: datetime
) -> M:
    """An entity as of a time, for a caller who may read its history; 404 otherwise, and when
    it did not exist at that time or was deleted then."""
    name = _entity_name(model)
    await require_history_access(session, actor, name, entity_id)
    row = await row_as_of(session, model, entity_id, at)
    if row is None:
        raise NotFound(f"The {name} did not exist at that time, or was deleted.")
    return row


# --- purge ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PurgeResult:
    document_id: uuid.UUID
    workspace_id: uuid.UUID
    reason: str
    event: AuditEvent
    """The purge event of the document itself."""
    counts: dict[str, int]
    """Rows removed, by entity type (the document and every annotation anchored to it)."""


async def purge_document(
    session: AsyncSession, actor: Actor, document_id: uuid.UUID, *, reason: str
) -> PurgeResult:
    """Hard-delete a document and, by cascade, its annotations (admin; a legal takedown).

    Deleted documents can be purged too. Every removed row is recorded as a ``purge`` event with
    the actor and the reason, so the log says who removed what and why.
    """
    document = await session.scalar(
        select(Document)
        .where(Document.id == document_id, Document.workspace_id.in_(actor.workspace_ids))
        .with_for_update()
    )
    if document is None:
        raise NotFound("Document not found.")
    require_role(actor, document.workspace_id, Role.ADMIN)
    reason = reason.strip()
    if not reason:
        raise Invalid("A purge needs a reason.", field="reason", code="reason_required")
    workspace_id = document.workspace_id
    last_seq = int(await session.scalar(select(func.coalesce(func.max(AuditEvent.seq), 0))) or 0)
    await set_change_reason(session, reason)
    await record_action(session, document_id, "purge")
    session.expunge(document)
    await session.execute(
        delete(Document)
        .where(Document.id == document_id)
        .execution_options(synchronize_session=False)
    )
    own = and_(
        AuditEvent.seq > last_seq,
        AuditEvent.txid == func.pg_current_xact_id(),
        AuditEvent.after.is_(None),
    )
    counts = {
        entity: int(count)
        for entity, count in await session.execute(
            select(AuditEvent.entity_type, func.count()).where(own).group_by(AuditEvent.entity_type)
        )
    }
    event = await session.scalar(
        select(AuditEvent).where(
            own, AuditEvent.entity_type == "document", AuditEvent.entity_id == document_id
        )
    )
    assert event is not None, "the audit trigger records every purge"
    return PurgeResult(
        document_id=document_id,
        workspace_id=workspace_id,
        reason=reason,
        event=event,
        counts=counts,
    )


# --- chain ---------------------------------------------------------------------------------


async def get_latest_checkpoint(session: AsyncSession) -> Checkpoint:
    checkpoint = await latest_checkpoint(session)
    if checkpoint is None:
        raise NotFound("No checkpoint has been written yet.", code="no_checkpoint")
    return checkpoint


async def verify_for_workspace_admin(
    session: AsyncSession, actor: Actor, workspace_id: uuid.UUID, **options: Any
) -> ChainReport:
    """Verify the whole chain (it spans every workspace) for an admin of one workspace."""
    require_role(actor, workspace_id, Role.ADMIN)
    return await verify_chain(session, **options)
