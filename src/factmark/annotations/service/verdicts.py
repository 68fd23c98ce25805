"""Verdicts: submission by reviewers, approval by an editor (which verifies the claim), and
public corrections that supersede an approved verdict."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from factmark.accounts.models import Role
from factmark.accounts.service import Actor, require_role
from factmark.annotations.models import Claim, Correction, Rating, Verdict
from factmark.annotations.service.access import flush_as, load_claim, require_author_or_editor
from factmark.documents.service import check_clean_strings
from factmark.errors import Conflict, Invalid, NotFound
from factmark.http.concurrency import check_version


async def rating_by_key(session: AsyncSession, workspace_id: uuid.UUID, key: str) -> Rating:
    rating = await session.scalar(
        select(Rating).where(
            Rating.workspace_id == workspace_id, Rating.key == key, Rating.deleted_at.is_(None)
        )
    )
    if rating is None:
        raise Invalid(f"The workspace's scale has no rating {key!r}.", field="rating")
    return rating


async def load_verdict(
    session: AsyncSession, actor: Actor, verdict_id: uuid.UUID, *, for_update: bool = False
) -> tuple[Verdict, Claim]:
    stmt = select(Verdict).where(
        Verdict.id == verdict_id,
        Verdict.workspace_id.in_(actor.workspace_ids),
        Verdict.deleted_at.is_(None),
    )
    if for_update:
        stmt = stmt.with_for_update()
    verdict = await session.scalar(stmt)
    if verdict is None:
        raise NotFound("Verdict not found.")
    claim = await load_claim(session, actor, verdict.claim_id, for_update=for_update)
    return verdict, claim


async def with_ratings(
    session: AsyncSession, verdicts: Sequence[Verdict]
) -> list[tuple[Verdict, Rating]]:
    ids = {v.rating_id for v in verdicts}
    ratings = (
        {r.id: r for r in await session.scalars(select(Rating).where(Rating.id.in_(ids)))}
        if ids
        else {}
    )
    return [(v, ratings[v.rating_id]) for v in verdicts]


async def list_verdicts(
    session: AsyncSession, actor: Actor, claim_id: uuid.UUID
) -> list[tuple[Verdict, Rating]]:
    claim = await load_claim(session, actor, claim_id)
    verdicts = (
        await session.scalars(
            select(Verdict)
            .where(Verdict.claim_id == claim.id, Verdict.deleted_at.is_(None))
            .order_by(Verdict.created_at, Verdict.id)
        )
    ).all()
    return await with_ratings(session, verdicts)


async def get_verdict(
    session: AsyncSession, actor: Actor, verdict_id: uuid.UUID
) -> tuple[Verdict, Rating]:
    verdict, _ = await load_verdict(session, actor, verdict_id)
    return (await with_ratings(session, [verdict]))[0]


async def submit_verdict(
    session: AsyncSession,
    actor: Actor,
    claim_id: uuid.UUID,
    *,
    rating_key: str,
    summary: str,
    confidence: float | None,
) -> tuple[Verdict, Rating]:
    claim = await load_claim(session, actor, claim_id, for_update=True)
    require_role(actor, claim.workspace_id, Role.REVIEWER)
    check_clean_strings({"summary": summary})
    if claim.status in ("verified", "dismissed"):
        raise Conflict(
            f"The claim is {claim.status}: reopen it, or have an editor correct it.",
            code=f"claim_{claim.status}",
        )
    rating = await rating_by_key(session, claim.workspace_id, rating_key)
    verdict = Verdict(
        workspace_id=claim.workspace_id,
        claim_id=claim.id,
        document_id=claim.document_id,
        rating_id=rating.id,
        summary=summary,
        confidence=confidence,
        state="submitted",
        created_by=actor.user_id,
    )
    session.add(verdict)
    if claim.status == "open":
        # A verdict under way means the claim is being reviewed.
        claim.status = "in_review"
        claim.version += 1
        claim.updated_at = datetime.now(UTC)
        await flush_as(session, {claim.id: "claim.in_review"})
    await session.flush()
    return verdict, rating


async def update_verdict(
    session: AsyncSession,
    actor: Actor,
    verdict_id: uuid.UUID,
    *,
    expected_version: int,
    rating_key: str | None,
    summary: str | None,
    confidence: float | None,
    set_confidence: bool,
) -> tuple[Verdict, Rating]:
    verdict, claim = await load_verdict(session, actor, verdict_id, for_update=True)
    require_author_or_editor(actor, verdict.workspace_id, verdict.created_by, claim)
    check_version(verdict.version, expected_version)
    if verdict.state != "submitted":
        raise Conflict(
            f"The verdict is {verdict.state}: published verdicts change only by a correction.",
            code="verdict_not_editable",
        )
    if rating_key is not None:
        verdict.rating_id = (await rating_by_key(session, verdict.workspace_id, rating_key)).id
    if summary is not None:
        check_clean_strings({"summary": summary})
        verdict.summary = summary
    if set_confidence:
        verdict.confidence = confidence
    verdict.version += 1
    verdict.updated_at = datetime.now(UTC)
    await session.flush()
    return (await with_ratings(session, [verdict]))[0]


async def delete_verdict(
    session: AsyncSession, actor: Actor, verdict_id: uuid.UUID, *, expected_version: int
) -> None:
    verdict, claim = await load_verdict(session, actor, verdict_id, for_update=True)
    require_author_or_editor(actor, verdict.workspace_id, verdict.created_by, claim)
    check_version(verdict.version, expected_version)
    if verdict.state == "approved":
        raise Conflict(
            "The approved verdict cannot be deleted; correct or reopen the claim.",
            code="verdict_approved",
        )
    verdict.deleted_at = datetime.now(UTC)
    verdict.version += 1
    verdict.updated_at = verdict.deleted_at
    await session.flush()


def _approve(verdict: Verdict, claim: Claim, actor: Actor, now: datetime) -> None:
    verdict.state = "approved"
    verdict.approved_by = actor.user_id
    verdict.approved_at = now
    verdict.version += 1
    verdict.updated_at = now
    claim.status = "verified"
    claim.approved_verdict_id = verdict.id
    claim.verified_at = now
    claim.version += 1
    claim.updated_at = now


async def approve_verdict(
    session: AsyncSession, actor: Actor, verdict_id: uuid.UUID, *, expected_version: int
) -> tuple[Verdict, Rating, Claim]:
    """An editor approves one verdict: the claim becomes verified."""
    verdict, claim = await load_verdict(session, actor, verdict_id, for_update=True)
    require_role(actor, verdict.workspace_id, Role.EDITOR)
    check_version(verdict.version, expected_version)
    if verdict.state != "submitted":
        raise Conflict(
            f"The verdict is {verdict.state}, not submitted.", code="verdict_not_submitted"
        )
    if claim.status == "verified":
        raise Conflict(
            "The claim is already verified: change its verdict with a correction.",
            code="claim_verified",
        )
    if claim.status != "in_review":
        raise Conflict(
            f"A {claim.status} claim cannot be verified; it must be in review.",
            code="transition_not_allowed",
            extra={"allowed": ["in_review"]},
        )
    _approve(verdict, claim, actor, datetime.now(UTC))
    await flush_as(session, {verdict.id: "verdict.approved", claim.id: "claim.verified"})
    rating = await session.get_one(Rating, verdict.rating_id)
    return verdict, rating, claim


async def correct_claim(
    session: AsyncSession,
    actor: Actor,
    claim_id: uuid.UUID,
    *,
    note: str,
    expected_version: int,
    new_verdict: tuple[str, str, float | None] | None,
    verdict_id: uuid.UUID | None,
) -> Correction:
    """Replace a verified claim's verdict; the old one stays, superseded, and the correction
    is listed publicly with its date and note."""
    claim = await load_claim(session, actor, claim_id, for_update=True)
    require_role(actor, claim.workspace_id, Role.EDITOR)
    check_version(claim.version, expected_version)
    check_clean_strings({"note": note})
    if claim.status != "verified" or claim.approved_verdict_id is None:
        raise Conflict("Only a verified claim can be corrected.", code="claim_not_verified")
    if (new_verdict is None) == (verdict_id is None):
        raise Invalid("Give exactly one of verdict and verdictId.", field="verdict")
    old = await session.get_one(Verdict, claim.approved_verdict_id, with_for_update=True)
    old_rating = await session.get_one(Rating, old.rating_id)
    if new_verdict is not None:
        key, summary, confidence = new_verdict
        check_clean_strings({"summary": summary})
        rating = await rating_by_key(session, claim.workspace_id, key)
        verdict = Verdict(
            workspace_id=claim.workspace_id,
            claim_id=claim.id,
            document_id=claim.document_id,
            rating_id=rating.id,
            summary=summary,
            confidence=confidence,
            state="submitted",
            created_by=actor.user_id,
        )
        session.add(verdict)
        await session.flush()
    else:
        found = await session.scalar(
            select(Verdict)
            .where(
                Verdict.id == verdict_id,
                Verdict.claim_id == claim.id,
                Verdict.deleted_at.is_(None),
            )
            .with_for_update()
        )
        if found is None or found.state != "submitted":
            raise Invalid(
                "verdictId must name a submitted verdict of this claim.", field="verdictId"
            )
        verdict = found
        rating = await session.get_one(Rating, verdict.rating_id)
    now = datetime.now(UTC)
    old.state = "superseded"
    old.superseded_at = now
    old.version += 1
    old.updated_at = now
    _approve(verdict, claim, actor, now)
    correction = Correction(
        workspace_id=claim.workspace_id,
        claim_id=claim.id,
        document_id=claim.document_id,
        note=note,
        previous_verdict_id=old.id,
        new_verdict_id=verdict.id,
        previous_rating_key=old_rating.key,
        new_rating_key=rating.key,
        created_by=actor.user_id,
    )
    session.add(correction)
    await flush_as(
        session,
        {
            old.id: "verdict.superseded",
            verdict.id: "verdict.approved",
            claim.id: "claim.corrected",
        },
    )
    return correction
