"""Documents rules: validation of the text, duplicates, search, versions, soft delete."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg
from sqlalchemy import ColumnElement, Select, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import defer

from factmark.accounts.models import Role
from factmark.accounts.service import Actor, plain_uuid, require_role
from factmark.annotations.spans import utf16_length
from factmark.documents.models import Document
from factmark.errors import Conflict, Invalid, NotFound, PayloadTooLarge
from factmark.http.concurrency import check_version
from factmark.http.pagination import PageResult, SortKey, apply_keyset, page_of, parse_sort

SORT_KEYS = (
    SortKey("createdAt", Document.created_at, datetime),
    SortKey("updatedAt", Document.updated_at, datetime),
)
MAX_QUERY_LENGTH = 500


def validate_text(text: str, max_codepoints: int) -> None:
    if not text:
        raise Invalid("The text must not be empty.", field="text", code="text_empty")
    if len(text) > max_codepoints:
        raise PayloadTooLarge(
            f"The text has {len(text)} code points; the limit is {max_codepoints}.",
            field="text",
            code="text_too_long",
        )
    if "\x00" in text:
        raise Invalid(
            "The text must not contain NUL characters.", field="text", code="text_has_nul"
        )
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise Invalid(
            "The text contains unpaired surrogates (not valid Unicode).",
            field="text",
            code="text_invalid_unicode",
        ) from None


def check_clean_strings(values: dict[str, Any]) -> None:
    """No NUL and no lone surrogates in any string field: PostgreSQL cannot store them."""
    for name, value in values.items():
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, str):
                if "\x00" in item:
                    raise Invalid(f"{name} must not contain NUL characters.", field=name)
                try:
                    item.encode("utf-8")
                except UnicodeEncodeError:
                    raise Invalid(f"{name} is not valid Unicode.", field=name) from None


def _check_json(value: Any, field: str, depth: int = 0) -> None:
    if depth > 32:
        raise Invalid("Nested too deeply (32 levels at most).", field=field)
    if isinstance(value, dict):
        for k, v in value.items():
            check_clean_strings({field: k})
            _check_json(v, field, depth + 1)
    elif isinstance(value, list):
        for v in value:
            _check_json(v, field, depth + 1)
    elif isinstance(value, str):
        check_clean_strings({field: value})


def visible_to(actor: Actor) -> tuple[ColumnElement[bool], ...]:
    """The conditions of the documents the caller may see: their workspaces, not deleted."""
    return Document.workspace_id.in_(actor.workspace_ids), Document.deleted_at.is_(None)


def visible(actor: Actor) -> Select[Document]:
    """Documents the caller may see: their workspaces, not deleted."""
    return select(Document).where(*visible_to(actor))


async def get_document(
    session: AsyncSession, actor: Actor, document_id: uuid.UUID, *, for_update: bool = False
) -> Document:
    stmt = visible(actor).where(Document.id == document_id)
    if for_update:
        stmt = stmt.with_for_update()
    document = await session.scalar(stmt)
    if document is None:
        raise NotFound("Document not found.")
    return document


DOCUMENT_WORKSPACE = """
    SELECT workspace_id FROM documents
     WHERE id = $1 AND workspace_id = ANY($2::uuid[]) AND deleted_at IS NULL
"""
"""The workspace of a document the caller may see: ``visible_to`` for an asyncpg statement."""


async def document_workspace(
    db: asyncpg.Connection[Any], actor: Actor, document_id: uuid.UUID
) -> uuid.UUID:
    """The workspace of a document the caller may see (its id alone, not the whole row), on
    the request's asyncpg connection: claim creation, the busiest write, asks it first."""
    workspace_id = await db.fetchval(DOCUMENT_WORKSPACE, document_id, actor.workspace_ids)
    if workspace_id is None:
        raise NotFound("Document not found.")
    return plain_uuid(workspace_id)


@dataclass(frozen=True, slots=True)
class DocumentFilters:
    tags: Sequence[str] = ()
    publisher: Sequence[str] = ()
    language: Sequence[str] = ()
    published_after: datetime | None = None
    published_before: datetime | None = None
    q: str | None = None


async def list_documents(
    session: AsyncSession,
    actor: Actor,
    workspace_id: uuid.UUID,
    filters: DocumentFilters,
    *,
    sort: str | None,
    cursor: str | None,
    limit: int,
) -> PageResult[Document]:
    require_role(actor, workspace_id, Role.VIEWER)
    order = parse_sort(sort, SORT_KEYS, "-createdAt")
    # A page lists summaries: leave each document's text in the database.
    stmt = (
        visible(actor)
        .where(Document.workspace_id == workspace_id)
        .options(defer(Document.text, raiseload=True))
    )
    if filters.tags:
        stmt = stmt.where(Document.tags.overlap(list(filters.tags)))
    if filters.publisher:
        stmt = stmt.where(Document.publisher.in_(list(filters.publisher)))
    if filters.language:
        stmt = stmt.where(Document.language.in_(list(filters.language)))
    if filters.published_after is not None:
        stmt = stmt.where(Document.published_at >= filters.published_after)
    if filters.published_before is not None:
        stmt = stmt.where(Document.published_at < filters.published_before)
    if filters.q:
        if len(filters.q) > MAX_QUERY_LENGTH:
            raise Invalid(f"q is limited to {MAX_QUERY_LENGTH} characters.", field="q")
        check_clean_strings({"q": filters.q})
        stmt = stmt.where(
            Document.search.bool_op("@@")(func.websearch_to_tsquery("english", filters.q))
        )
    stmt = apply_keyset(stmt, order, Document.id, cursor, limit)
    rows = (await session.scalars(stmt)).all()
    return page_of(
        rows,
        order,
        limit,
        lambda d: (d.created_at if order.key.name == "createdAt" else d.updated_at, d.id),
    )


async def create_document(
    session: AsyncSession,
    actor: Actor,
    workspace_id: uuid.UUID,
    *,
    values: dict[str, Any],
    max_codepoints: int,
    allow_duplicates: bool,
) -> Document:
    require_role(actor, workspace_id, Role.EDITOR)
    text = values["text"]
    validate_text(text, max_codepoints)
    check_clean_strings({k: v for k, v in values.items() if k not in {"text", "metadata"}})
    _check_json(values.get("metadata") or {}, "metadata")
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    if not allow_duplicates:
        conditions = [Document.text_sha256 == digest]
        if values.get("source_url"):
            conditions.append(Document.source_url == values["source_url"])
        existing = await session.scalar(
            select(Document.id)
            .where(
                Document.workspace_id == workspace_id,
                Document.deleted_at.is_(None),
                or_(*conditions),
            )
            .limit(1)
        )
        if existing is not None:
            raise Conflict(
                "A document with the same text or source URL exists in this workspace; "
                "pass allowDuplicates=true to store another.",
                code="duplicate_document",
                extra={"existing_id": str(existing)},
            )
    document = Document(
        workspace_id=workspace_id,
        title=values["title"],
        text=text,
        text_sha256=digest,
        length_codepoints=len(text),
        length_utf16=utf16_length(text),
        source_url=values.get("source_url"),
        publisher=values.get("publisher"),
        author=values.get("author"),
        published_at=values.get("published_at"),
        language=values.get("language"),
        tags=list(values.get("tags") or []),
        metadata_=values.get("metadata") or {},
        created_by=actor.user_id,
    )
    session.add(document)
    await session.flush()
    return document


async def update_document(
    session: AsyncSession,
    actor: Actor,
    document_id: uuid.UUID,
    *,
    expected_version: int,
    changes: dict[str, Any],
) -> Document:
    document = await get_document(session, actor, document_id, for_update=True)
    require_role(actor, document.workspace_id, Role.EDITOR)
    check_version(document.version, expected_version)
    check_clean_strings({k: v for k, v in changes.items() if k != "metadata"})
    if "metadata" in changes:
        _check_json(changes["metadata"], "metadata")
        changes["metadata_"] = changes.pop("metadata")
    for name, value in changes.items():
        setattr(document, name, value)
    document.version += 1
    document.updated_at = datetime.now(UTC)
    await session.flush()
    return document


async def delete_document(
    session: AsyncSession, actor: Actor, document_id: uuid.UUID, *, expected_version: int
) -> None:
    document = await get_document(session, actor, document_id, for_update=True)
    require_role(actor, document.workspace_id, Role.EDITOR)
    check_version(document.version, expected_version)
    document.deleted_at = datetime.now(UTC)
    document.version += 1
    document.updated_at = document.deleted_at
    await session.flush()
