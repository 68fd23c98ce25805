"""Evidence for or against a claim: a web source, or a span of another stored document."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from factmark.accounts.models import Role
from factmark.accounts.service import Actor, require_role
from factmark.annotations.models import Claim, Evidence
from factmark.annotations.service.access import load_claim, require_author_or_editor
from factmark.annotations.service.anchoring import SpanLike, anchor, text_index
from factmark.annotations.spans import OffsetUnit
from factmark.documents.models import Document
from factmark.documents.service import check_clean_strings
from factmark.errors import Conflict, Invalid, NotFound
from factmark.http.concurrency import check_version


async def load_evidence(
    session: AsyncSession,
    actor: Actor,
    evidence_id: uuid.UUID,
    *,
    for_update: bool = False,
    include_deleted: bool = False,
) -> tuple[Evidence, Claim]:
    stmt = select(Evidence).where(
        Evidence.id == evidence_id, Evidence.workspace_id.in_(actor.workspace_ids)
    )
    if not include_deleted:
        stmt = stmt.where(Evidence.deleted_at.is_(None))
    if for_update:
        stmt = stmt.with_for_update()
    evidence = await session.scalar(stmt)
    if evidence is None:
        raise NotFound("Evidence not found.")
    claim = await load_claim(session, actor, evidence.claim_id)
    return evidence, claim


async def list_evidence(session: AsyncSession, actor: Actor, claim_id: uuid.UUID) -> list[Evidence]:
    claim = await load_claim(session, actor, claim_id)
    return list(
        (
            await session.scalars(
                select(Evidence)
                .where(Evidence.claim_id == claim.id, Evidence.deleted_at.is_(None))
                .order_by(Evidence.created_at, Evidence.id)
            )
        ).all()
    )


async def add_evidence(
    session: AsyncSession,
    actor: Actor,
    claim_id: uuid.UUID,
    *,
    values: dict[str, Any],
    source_span: SpanLike | None,
    source_document_id: uuid.UUID | None,
    unit: OffsetUnit,
) -> Evidence:
    claim = await load_claim(session, actor, claim_id)
    require_role(actor, claim.workspace_id, Role.REVIEWER)
    check_clean_strings(values)
    if not values.get("source_url") and source_span is None:
        raise Invalid(
            "Give a sourceUrl or a sourceSpan.", field="sourceUrl", code="evidence_source_missing"
        )
    evidence = Evidence(
        workspace_id=claim.workspace_id,
        claim_id=claim.id,
        document_id=claim.document_id,
        created_by=actor.user_id,
        **values,
    )
    if source_span is not None and source_document_id is not None:
        source = await session.scalar(
            select(Document.id).where(
                Document.id == source_document_id,
                Document.workspace_id == claim.workspace_id,
                Document.deleted_at.is_(None),
            )
        )
        if source is None:
            raise Invalid(
                "sourceSpan.documentId must be a document of the same workspace.",
                field="sourceSpan.documentId",
            )
        (anchored,) = anchor(
            await text_index(session, source_document_id), [source_span], unit, field="sourceSpan"
        )
        evidence.source_document_id = source_document_id
        evidence.source_start = anchored.span.start
        evidence.source_end = anchored.span.end
        evidence.source_start_utf16 = anchored.start_utf16
        evidence.source_end_utf16 = anchored.end_utf16
        evidence.source_exact = anchored.span.exact
        evidence.source_prefix = anchored.span.prefix
        evidence.source_suffix = anchored.span.suffix
    session.add(evidence)
    await session.flush()
    return evidence


async def update_evidence(
    session: AsyncSession,
    actor: Actor,
    evidence_id: uuid.UUID,
    *,
    expected_version: int,
    changes: dict[str, Any],
) -> Evidence:
    evidence, claim = await load_evidence(session, actor, evidence_id, for_update=True)
    require_author_or_editor(actor, evidence.workspace_id, evidence.created_by, claim)
    check_version(evidence.version, expected_version)
    check_clean_strings(changes)
    for name, value in changes.items():
        setattr(evidence, name, value)
    if not evidence.source_url and evidence.source_document_id is None:
        raise Invalid("Evidence needs a sourceUrl or a sourceSpan.", field="sourceUrl")
    evidence.version += 1
    evidence.updated_at = datetime.now(UTC)
    await session.flush()
    return evidence


async def delete_evidence(
    session: AsyncSession, actor: Actor, evidence_id: uuid.UUID, *, expected_version: int
) -> None:
    evidence, claim = await load_evidence(session, actor, evidence_id, for_update=True)
    require_author_or_editor(actor, evidence.workspace_id, evidence.created_by, claim)
    check_version(evidence.version, expected_version)
    evidence.deleted_at = datetime.now(UTC)
    evidence.version += 1
    evidence.updated_at = evidence.deleted_at
    await session.flush()


async def restore_evidence(
    session: AsyncSession, actor: Actor, evidence_id: uuid.UUID, *, expected_version: int | None
) -> Evidence:
    evidence, _ = await load_evidence(
        session, actor, evidence_id, for_update=True, include_deleted=True
    )
    require_role(actor, evidence.workspace_id, Role.EDITOR)
    if expected_version is not None:
        check_version(evidence.version, expected_version)
    if evidence.deleted_at is None:
        raise Conflict("The evidence is not deleted.", code="not_deleted")
    evidence.deleted_at = None
    evidence.version += 1
    evidence.updated_at = datetime.now(UTC)
    await session.flush()
    return evidence
