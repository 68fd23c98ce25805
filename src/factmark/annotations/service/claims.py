"""Claims: creation on spans, edits, the status workflow, soft delete and restore, and lists
(the review screen's read is in ``review``)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import asyncpg
from sqlalchemy import Select, any_, delete, exists, func, literal, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import UUID as PG_UUID
from sqlalchemy.ext.asyncio import AsyncSession

from factmark.accounts.models import Role
from factmark.accounts.service import Actor, require_role
from factmark.annotations.models import (
    Claim,
    ClaimSpan,
    Correction,
    Evidence,
    Rating,
    Verdict,
)
from factmark.annotations.service.access import flush_as, load_claim, require_author_or_editor
from factmark.annotations.service.anchoring import AnchoredSpan, SpanLike, anchor, text_index
from factmark.annotations.spans import OffsetUnit
from factmark.db import new_id
from factmark.documents.models import Document
from factmark.documents.service import check_clean_strings, document_workspace
from factmark.errors import Conflict, Invalid
from factmark.http.concurrency import check_version
from factmark.http.pagination import PageResult, SortKey, apply_keyset, page_of, parse_sort
from factmark.transaction import driver_of

# status -> {target: minimum role}. "verified" is reached only by approving a verdict.
TRANSITIONS: dict[str, dict[str, Role]] = {
    "open": {"in_review": Role.REVIEWER, "dismissed": Role.REVIEWER},
    "in_review": {"open": Role.REVIEWER, "dismissed": Role.REVIEWER},
    "verified": {"open": Role.EDITOR, "in_review": Role.EDITOR},
    "dismissed": {"open": Role.EDITOR, "in_review": Role.EDITOR},
}

SORT_KEYS = (
    SortKey("updatedAt", Claim.updated_at, datetime),
    SortKey("createdAt", Claim.created_at, datetime),
    SortKey("claimedAt", Claim.claimed_at, datetime),
)


@dataclass(slots=True)
class NewClaim:
    """A claim as ``create_claim`` wrote it: the values its representation reads, without an
    ORM instance (building one costs ~0.05 ms of CPU, on the busiest write)."""

    id: uuid.UUID
    workspace_id: uuid.UUID
    document_id: uuid.UUID
    statement: str
    claimant_name: str | None
    claimant_role: str | None
    claimant_organisation: str | None
    claimed_at: datetime | None
    tags: list[str]
    checkworthiness: str | None
    assignee_id: uuid.UUID | None
    first_offset: int
    created_by: uuid.UUID | None
    created_at: datetime
    updated_at: datetime
    version: int
    status: str = "open"
    verified_at: datetime | None = None


@dataclass(slots=True)
class NewSpan:
    """A span as ``create_claim`` wrote it (see NewClaim)."""

    id: uuid.UUID
    start_offset: int
    end_offset: int
    start_utf16: int
    end_utf16: int
    exact: str
    prefix: str
    suffix: str


@dataclass(slots=True)
class ClaimBundle:
    """A claim with what its representation needs, loaded in a fixed number of queries."""

    claim: Claim | NewClaim
    spans: list[ClaimSpan | NewSpan] = field(default_factory=list)
    verdict: Verdict | None = None
    rating: Rating | None = None
    corrections: list[Correction] = field(default_factory=list)
    history: HistoricalExtras | None = None
    """On as-of reads: every verdict (with its rating) and piece of evidence at that time."""


@dataclass(slots=True)
class HistoricalExtras:
    verdicts: list[tuple[Verdict, Rating]]
    evidence: list[Evidence]


# --- reading ------------------------------------------------------------------------------


def _among(column: Any, ids: Sequence[uuid.UUID]) -> Any:
    """``column = ANY($1)`` with one array parameter: any number of ids, one bind."""
    return column == any_(literal(list(ids), type_=ARRAY(PG_UUID(as_uuid=True))))


async def bundle(session: AsyncSession, claims: Sequence[Claim]) -> list[ClaimBundle]:
    """Spans, current verdicts and corrections of many claims: 2 to 3 queries."""
    bundles = {c.id: ClaimBundle(claim=c) for c in claims}
    if not bundles:
        return []
    ids = list(bundles)
    spans = await session.scalars(
        select(ClaimSpan)
        .where(_among(ClaimSpan.claim_id, ids))
        .order_by(ClaimSpan.claim_id, ClaimSpan.ordinal)
    )
    for span in spans:
        bundles[span.claim_id].spans.append(span)
    verdict_ids = [c.approved_verdict_id for c in claims if c.approved_verdict_id]
    if verdict_ids:
        rows = await session.execute(
            select(Verdict, Rating)
            .join(Rating, Rating.id == Verdict.rating_id)
            .where(_among(Verdict.id, verdict_ids))
        )
        for verdict, rating in rows:
            bundles[verdict.claim_id].verdict = verdict
            bundles[verdict.claim_id].rating = rating
    corrections = await session.scalars(
        select(Correction)
        .where(_among(Correction.claim_id, ids))
        .order_by(Correction.created_at, Correction.id)
    )
    for correction in corrections:
        bundles[correction.claim_id].corrections.append(correction)
    return [bundles[c.id] for c in claims]


async def get_claim(session: AsyncSession, actor: Actor, claim_id: uuid.UUID) -> ClaimBundle:
    claim = await load_claim(session, actor, claim_id)
    return (await bundle(session, [claim]))[0]


async def claim_as_of(
    session: AsyncSession, actor: Actor, claim_id: uuid.UUID, at: datetime
) -> ClaimBundle:
    """The claim as it was at ``at``, with its spans, verdicts and evidence then, rebuilt from
    the audit log's after-images (also for a claim deleted since)."""
    from factmark.audit import service as audit

    claim = await audit.entity_as_of(session, actor, Claim, claim_id, at)
    spans = await audit.children_as_of(session, ClaimSpan, "claim_id", claim_id, at)
    verdicts = await audit.children_as_of(session, Verdict, "claim_id", claim_id, at)
    evidence = await audit.children_as_of(session, Evidence, "claim_id", claim_id, at)
    corrections = await audit.children_as_of(session, Correction, "claim_id", claim_id, at)
    ratings: dict[uuid.UUID, Rating] = {}
    for rating_id in {v.rating_id for v in verdicts}:
        rating = await audit.row_as_of(session, Rating, rating_id, at, include_deleted=True)
        if rating is not None:
            ratings[rating_id] = rating
    rated = [(v, ratings[v.rating_id]) for v in verdicts if v.rating_id in ratings]
    current = next((pair for pair in rated if pair[0].id == claim.approved_verdict_id), None)
    ordered = sorted(spans, key=lambda s: s.ordinal)
    return ClaimBundle(
        claim=claim,
        spans=list[ClaimSpan | NewSpan](ordered),
        verdict=current[0] if current else None,
        rating=current[1] if current else None,
        corrections=corrections,
        history=HistoricalExtras(verdicts=rated, evidence=evidence),
    )


async def document_claims(
    session: AsyncSession,
    actor: Actor,
    document_id: uuid.UUID,
    *,
    overlaps: tuple[int, int] | None,
    unit: OffsetUnit,
) -> list[ClaimBundle]:
    """A document's claims, optionally only those with a span touching [start, end)."""
    from factmark.documents.service import get_document

    document = await get_document(session, actor, document_id)
    stmt = select(Claim).where(Claim.document_id == document.id, Claim.deleted_at.is_(None))
    if overlaps is not None:
        start, end = overlaps
        if unit is OffsetUnit.UTF16:
            index = await text_index(session, document.id)
            start, end = (
                index.utf16_to_cp(min(start, index.utf16_length)),
                index.utf16_to_cp(min(end, index.utf16_length)),
            )
        if start >= end:
            raise Invalid("overlaps needs start < end.", field="overlaps")
        stmt = stmt.where(
            exists().where(
                ClaimSpan.claim_id == Claim.id,
                ClaimSpan.document_id == document.id,
                ClaimSpan.range.op("&&")(func.int4range(start, end)),
            )
        )
    claims = (await session.scalars(stmt.order_by(Claim.first_offset, Claim.id))).all()
    return await bundle(session, claims)


@dataclass(frozen=True, slots=True)
class ClaimFilters:
    status: Sequence[str] = ()
    rating: Sequence[str] = ()
    claimant: Sequence[str] = ()
    tag: Sequence[str] = ()
    assignee: Sequence[uuid.UUID] = ()
    created_by: Sequence[uuid.UUID] = ()
    document: Sequence[uuid.UUID] = ()
    updated_since: datetime | None = None
    q: str | None = None


def _filtered(stmt: Select[Any], filters: ClaimFilters) -> Select[Any]:
    if filters.status:
        stmt = stmt.where(Claim.status.in_(list(filters.status)))
    if filters.claimant:
        stmt = stmt.where(Claim.claimant_name.in_(list(filters.claimant)))
    if filters.tag:
        stmt = stmt.where(Claim.tags.overlap(list(filters.tag)))
    if filters.assignee:
        stmt = stmt.where(Claim.assignee_id.in_(list(filters.assignee)))
    if filters.created_by:
        stmt = stmt.where(Claim.created_by.in_(list(filters.created_by)))
    if filters.document:
        stmt = stmt.where(Claim.document_id.in_(list(filters.document)))
    if filters.updated_since is not None:
        stmt = stmt.where(Claim.updated_at >= filters.updated_since)
    if filters.rating:
        stmt = stmt.where(
            exists().where(
                Verdict.id == Claim.approved_verdict_id,
                Rating.id == Verdict.rating_id,
                Rating.key.in_(list(filters.rating)),
            )
        )
    if filters.q:
        if len(filters.q) > 500:
            raise Invalid("q is limited to 500 characters.", field="q")
        check_clean_strings({"q": filters.q})
        stmt = stmt.where(
            Claim.search.bool_op("@@")(func.websearch_to_tsquery("english", filters.q))
        )
    return stmt


async def list_claims(
    session: AsyncSession,
    actor: Actor,
    workspace_id: uuid.UUID,
    filters: ClaimFilters,
    *,
    sort: str | None,
    cursor: str | None,
    limit: int,
) -> PageResult[ClaimBundle]:
    require_role(actor, workspace_id, Role.VIEWER)
    order = parse_sort(sort, SORT_KEYS, "-updatedAt")
    stmt = (
        select(Claim)
        .join(Document, Document.id == Claim.document_id)
        .where(
            Claim.workspace_id == workspace_id,
            Claim.deleted_at.is_(None),
            Document.deleted_at.is_(None),
        )
    )
    if order.key.name == "claimedAt":
        stmt = stmt.where(Claim.claimed_at.is_not(None))
    stmt = apply_keyset(_filtered(stmt, filters), order, Claim.id, cursor, limit)
    rows = (await session.scalars(stmt)).all()
    page = page_of(rows, order, limit, lambda c: (_sort_value(c, order.key.name), c.id))
    return PageResult(items=await bundle(session, page.items), next_cursor=page.next_cursor)


def _sort_value(claim: Claim, name: str) -> Any:
    return {"updatedAt": claim.updated_at, "createdAt": claim.created_at}.get(
        name, claim.claimed_at
    )


# --- writing ------------------------------------------------------------------------------


def _statement_from(spans: Sequence[AnchoredSpan]) -> str:
    return " … ".join(s.span.exact for s in spans)


async def _check_assignee(
    db: asyncpg.Connection[Any], workspace_id: uuid.UUID, assignee_id: uuid.UUID | None
) -> None:
    if assignee_id is None:
        return
    if not await db.fetchval(IS_MEMBER, workspace_id, assignee_id):
        raise Invalid("The assignee is not a member of this workspace.", field="assigneeId")


def _span_rows(claim: Claim, anchored: Sequence[AnchoredSpan]) -> list[ClaimSpan]:
    return [
        ClaimSpan(
            workspace_id=claim.workspace_id,
            claim_id=claim.id,
            document_id=claim.document_id,
            ordinal=i,
            **_span_values(a),
        )
        for i, a in enumerate(anchored)
    ]


def _span_values(a: AnchoredSpan) -> dict[str, Any]:
    """The stored values of an anchored span, in ClaimSpan's and NewSpan's field names."""
    return {
        "start_offset": a.span.start,
        "end_offset": a.span.end,
        "start_utf16": a.start_utf16,
        "end_utf16": a.end_utf16,
        "exact": a.span.exact,
        "prefix": a.span.prefix,
        "suffix": a.span.suffix,
    }


# Claim creation is the busiest write (a review desk under a surge): its statements go to the
# request's asyncpg connection (factmark.transaction), not through the ORM's unit of work.
IS_MEMBER = "SELECT true FROM memberships WHERE workspace_id = $1 AND user_id = $2"

INSERT_CLAIM = """
    WITH claim AS (
        INSERT INTO claims (id, workspace_id, document_id, statement, claimant_name,
                            claimant_role, claimant_organisation, claimed_at, tags,
                            checkworthiness, assignee_id, status, first_offset, created_by)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 'open', $12, $13)
        RETURNING id, created_at, updated_at, version
    ), spans AS (
        INSERT INTO claim_spans (id, workspace_id, claim_id, document_id, ordinal, start_offset,
                                 end_offset, start_utf16, end_utf16, exact, prefix, suffix)
        SELECT s.id, $2, claim.id, $3, s.ordinal - 1, s.start_offset, s.end_offset,
               s.start_utf16, s.end_utf16, s.exact, s.prefix, s.suffix
          FROM claim,
               unnest($14::uuid[], $15::int[], $16::int[], $17::int[], $18::int[], $19::text[],
                      $20::text[], $21::text[])
               WITH ORDINALITY AS s(id, start_offset, end_offset, start_utf16, end_utf16, exact,
                                    prefix, suffix, ordinal)
    )
    SELECT created_at, updated_at, version FROM claim
"""
"""The claim and its spans in one statement (the spans read the claim's row, so it is written
first; the audit triggers record both)."""


async def create_claim(
    db: asyncpg.Connection[Any],
    actor: Actor,
    document_id: uuid.UUID,
    *,
    spans: Sequence[SpanLike],
    unit: OffsetUnit,
    values: dict[str, Any],
) -> ClaimBundle:
    """Validate and write a claim on ``db``, the asyncpg connection of the caller's
    transaction (``RequestDb.driver``, or ``driver_of(session)``)."""
    workspace_id = await document_workspace(db, actor, document_id)
    require_role(actor, workspace_id, Role.REVIEWER)
    check_clean_strings(values)
    anchored = anchor(await text_index(db, document_id), spans, unit)
    assignee_id = values.get("assignee_id")
    await _check_assignee(db, workspace_id, assignee_id)
    claimant = values.get("claimant") or {}
    claim_id = new_id()
    statement = values.get("statement") or _statement_from(anchored)
    tags = list(values.get("tags") or [])
    first_offset = min(a.span.start for a in anchored)
    spans_written = [NewSpan(id=new_id(), **_span_values(a)) for a in anchored]
    written = await db.fetchrow(
        INSERT_CLAIM,
        claim_id,
        workspace_id,
        document_id,
        statement,
        claimant.get("name"),
        claimant.get("role"),
        claimant.get("organisation"),
        values.get("claimed_at"),
        tags,
        values.get("checkworthiness"),
        assignee_id,
        first_offset,
        actor.user_id,
        [r.id for r in spans_written],
        [r.start_offset for r in spans_written],
        [r.end_offset for r in spans_written],
        [r.start_utf16 for r in spans_written],
        [r.end_utf16 for r in spans_written],
        [r.exact for r in spans_written],
        [r.prefix for r in spans_written],
        [r.suffix for r in spans_written],
    )
    assert written is not None
    claim = NewClaim(
        id=claim_id,
        workspace_id=workspace_id,
        document_id=document_id,
        statement=statement,
        claimant_name=claimant.get("name"),
        claimant_role=claimant.get("role"),
        claimant_organisation=claimant.get("organisation"),
        claimed_at=values.get("claimed_at"),
        tags=tags,
        checkworthiness=values.get("checkworthiness"),
        assignee_id=assignee_id,
        first_offset=first_offset,
        created_by=actor.user_id,
        created_at=written["created_at"],
        updated_at=written["updated_at"],
        version=written["version"],
    )
    return ClaimBundle(claim=claim, spans=list[ClaimSpan | NewSpan](spans_written))


async def update_claim(
    session: AsyncSession,
    actor: Actor,
    claim_id: uuid.UUID,
    *,
    expected_version: int,
    changes: dict[str, Any],
    spans: Sequence[SpanLike] | None,
    unit: OffsetUnit,
) -> ClaimBundle:
    claim = await load_claim(session, actor, claim_id, for_update=True)
    require_author_or_editor(actor, claim.workspace_id, claim.created_by, claim)
    check_version(claim.version, expected_version)
    check_clean_strings(changes)
    if "assignee_id" in changes:
        await _check_assignee(await driver_of(session), claim.workspace_id, changes["assignee_id"])
    if "claimant" in changes:
        claimant = changes.pop("claimant") or {}
        claim.claimant_name = claimant.get("name")
        claim.claimant_role = claimant.get("role")
        claim.claimant_organisation = claimant.get("organisation")
    for name, value in changes.items():
        setattr(claim, name, value)
    if spans is not None:
        anchored = anchor(await text_index(session, claim.document_id), spans, unit)
        await session.execute(delete(ClaimSpan).where(ClaimSpan.claim_id == claim.id))
        session.add_all(_span_rows(claim, anchored))
        claim.first_offset = min(a.span.start for a in anchored)
    claim.version += 1
    claim.updated_at = datetime.now(UTC)
    await session.flush()
    return (await bundle(session, [claim]))[0]


async def transition(
    session: AsyncSession,
    actor: Actor,
    claim_id: uuid.UUID,
    *,
    to: str,
    expected_version: int,
) -> ClaimBundle:
    claim = await load_claim(session, actor, claim_id, for_update=True)
    role = require_role(actor, claim.workspace_id, Role.VIEWER)
    check_version(claim.version, expected_version)
    allowed = TRANSITIONS[claim.status]
    if to not in allowed or not role.at_least(allowed[to]):
        moves = sorted(t for t, minimum in allowed.items() if role.at_least(minimum))
        hint = (
            " A claim becomes verified only when an editor approves a verdict."
            if to == "verified"
            else ""
        )
        raise Conflict(
            f"A {claim.status} claim cannot move to {to} for a {role.value}; "
            f"allowed: {', '.join(moves) or 'none'}.{hint}",
            code="transition_not_allowed",
            extra={"allowed": moves},
        )
    actions = {claim.id: f"claim.{'reopened' if claim.status in ('verified', 'dismissed') else to}"}
    if claim.status == "verified":
        # Reopening withdraws the published verdict: it stays in history, superseded.
        verdict = await session.get(Verdict, claim.approved_verdict_id, with_for_update=True)
        if verdict is not None:
            verdict.state = "superseded"
            verdict.superseded_at = datetime.now(UTC)
            verdict.version += 1
            verdict.updated_at = verdict.superseded_at
            actions[verdict.id] = "verdict.superseded"
        claim.approved_verdict_id = None
        claim.verified_at = None
    claim.status = to
    claim.version += 1
    claim.updated_at = datetime.now(UTC)
    await flush_as(session, actions)
    return (await bundle(session, [claim]))[0]


async def delete_claim(
    session: AsyncSession, actor: Actor, claim_id: uuid.UUID, *, expected_version: int
) -> None:
    claim = await load_claim(session, actor, claim_id, for_update=True)
    require_author_or_editor(actor, claim.workspace_id, claim.created_by, claim)
    check_version(claim.version, expected_version)
    claim.deleted_at = datetime.now(UTC)
    claim.version += 1
    claim.updated_at = claim.deleted_at
    await session.flush()


async def restore_claim(
    session: AsyncSession, actor: Actor, claim_id: uuid.UUID, *, expected_version: int | None
) -> ClaimBundle:
    claim = await load_claim(session, actor, claim_id, for_update=True, include_deleted=True)
    require_role(actor, claim.workspace_id, Role.EDITOR)
    if expected_version is not None:
        check_version(claim.version, expected_version)
    if claim.deleted_at is None:
        raise Conflict("The claim is not deleted.", code="not_deleted")
    claim.deleted_at = None
    claim.version += 1
    claim.updated_at = datetime.now(UTC)
    await session.flush()
    return (await bundle(session, [claim]))[0]
