"""Demo claims for the seed document, created through the same services as the API, each by the
demo user who would have done it, so the review screen and the audit trail look real."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from factmark.accounts.models import Membership, Role, User
from factmark.accounts.service import Actor, set_audit_context
from factmark.annotations.models import Claim
from factmark.annotations.schemas import SpanIn
from factmark.annotations.service import claims, comments, evidence, verdicts
from factmark.annotations.spans import OffsetUnit
from factmark.documents.models import Document
from factmark.seed import snake_case
from factmark.transaction import driver_of


async def _actor(session: AsyncSession, email: str, workspace_id: Any) -> Actor:
    row = (
        await session.execute(
            select(User, Membership.role)
            .join(Membership, Membership.user_id == User.id)
            .where(User.email == email, Membership.workspace_id == workspace_id)
        )
    ).one()
    user, role = row
    return Actor(
        kind="user",
        id=str(user.id),
        name=user.display_name,
        user_id=user.id,
        roles={workspace_id: Role(role)},
    )


async def load_claims(session: AsyncSession, workspace_id: Any, specs: list[dict[str, Any]]) -> int:
    """Create the demo claims unless the workspace already has claims. Returns how many."""
    if await session.scalar(
        select(func.count()).select_from(Claim).where(Claim.workspace_id == workspace_id)
    ):
        return 0
    created = 0
    for spec in specs:
        document = await session.scalar(
            select(Document).where(
                Document.workspace_id == workspace_id, Document.title == spec["document"]
            )
        )
        if document is None:
            continue
        start = document.text.index(spec["quote"])
        author = await _actor(session, spec["createdBy"], workspace_id)
        await set_audit_context(session, author, reason="demo seed data")
        bundle = await claims.create_claim(
            await driver_of(session),
            author,
            document.id,
            spans=[SpanIn(start=start, end=start + len(spec["quote"]), exact=spec["quote"])],
            unit=OffsetUnit.CODEPOINT,
            values={
                "claimant": spec.get("claimant"),
                "claimed_at": datetime.fromisoformat(spec["claimedAt"])
                if spec.get("claimedAt")
                else None,
                "tags": spec.get("tags", []),
                "checkworthiness": spec.get("checkworthiness"),
            },
        )
        claim_id = bundle.claim.id
        if verdict_spec := spec.get("verdict"):
            by = await _actor(session, verdict_spec["by"], workspace_id)
            await set_audit_context(session, by, reason="demo seed data")
            verdict, _ = await verdicts.submit_verdict(
                session,
                by,
                claim_id,
                rating_key=verdict_spec["rating"],
                summary=verdict_spec["summary"],
                confidence=verdict_spec.get("confidence"),
            )
            for item in spec.get("evidence", []):
                who = await _actor(session, item["by"], workspace_id)
                await set_audit_context(session, who, reason="demo seed data")
                await evidence.add_evidence(
                    session,
                    who,
                    claim_id,
                    values={snake_case(k): v for k, v in item.items() if k != "by"},
                    source_span=None,
                    source_document_id=None,
                    unit=OffsetUnit.CODEPOINT,
                )
            if approver := verdict_spec.get("approvedBy"):
                editor = await _actor(session, approver, workspace_id)
                await set_audit_context(session, editor, reason="demo seed data")
                await verdicts.approve_verdict(
                    session, editor, verdict.id, expected_version=verdict.version
                )
        for item in spec.get("comments", []):
            who = await _actor(session, item["by"], workspace_id)
            await set_audit_context(session, who, reason="demo seed data")
            await comments.add_comment(session, who, claim_id, body=item["body"])
        created += 1
    return created
