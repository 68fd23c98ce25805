"""A flat thread of comments on a claim: authors edit and delete their own; editors may delete
any."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from factmark.accounts.models import Role
from factmark.accounts.service import Actor, require_role
from factmark.annotations.models import Comment
from factmark.annotations.service.access import load_claim
from factmark.documents.service import check_clean_strings
from factmark.errors import Forbidden, NotFound
from factmark.http.concurrency import check_version


async def _load(
    session: AsyncSession, actor: Actor, comment_id: uuid.UUID, *, for_update: bool = False
) -> Comment:
    stmt = select(Comment).where(
        Comment.id == comment_id,
        Comment.workspace_id.in_(actor.workspace_ids),
        Comment.deleted_at.is_(None),
    )
    if for_update:
        stmt = stmt.with_for_update()
    comment = await session.scalar(stmt)
    if comment is None:
        raise NotFound("Comment not found.")
    await load_claim(session, actor, comment.claim_id)
    return comment


async def list_comments(session: AsyncSession, actor: Actor, claim_id: uuid.UUID) -> list[Comment]:
    claim = await load_claim(session, actor, claim_id)
    return list(
        (
            await session.scalars(
                select(Comment)
                .where(Comment.claim_id == claim.id, Comment.deleted_at.is_(None))
                .order_by(Comment.created_at, Comment.id)
            )
        ).all()
    )


async def add_comment(
    session: AsyncSession, actor: Actor, claim_id: uuid.UUID, *, body: str
) -> Comment:
    claim = await load_claim(session, actor, claim_id)
    require_role(actor, claim.workspace_id, Role.REVIEWER)
    check_clean_strings({"body": body})
    comment = Comment(
        workspace_id=claim.workspace_id,
        claim_id=claim.id,
        document_id=claim.document_id,
        body=body,
        created_by=actor.user_id,
    )
    session.add(comment)
    await session.flush()
    return comment


async def edit_comment(
    session: AsyncSession, actor: Actor, comment_id: uuid.UUID, *, body: str, expected_version: int
) -> Comment:
    comment = await _load(session, actor, comment_id, for_update=True)
    require_role(actor, comment.workspace_id, Role.REVIEWER)
    if comment.created_by is None or comment.created_by != actor.user_id:
        raise Forbidden("Only the author may edit a comment.")
    check_version(comment.version, expected_version)
    check_clean_strings({"body": body})
    comment.body = body
    comment.version += 1
    comment.updated_at = datetime.now(UTC)
    await session.flush()
    return comment


async def delete_comment(
    session: AsyncSession, actor: Actor, comment_id: uuid.UUID, *, expected_version: int
) -> None:
    comment = await _load(session, actor, comment_id, for_update=True)
    role = require_role(actor, comment.workspace_id, Role.REVIEWER)
    own = comment.created_by is not None and comment.created_by == actor.user_id
    if not own and not role.at_least(Role.EDITOR):
        raise Forbidden("Only the author or an editor may delete a comment.")
    check_version(comment.version, expected_version)
    comment.deleted_at = datetime.now(UTC)
    comment.version += 1
    comment.updated_at = comment.deleted_at
    await session.flush()
