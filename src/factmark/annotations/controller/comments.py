"""Routes for the comment thread of a claim."""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Controller, Request, Response, delete, get, patch, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody
from sqlalchemy.ext.asyncio import AsyncSession

from factmark.accounts.service import Actor
from factmark.annotations.controller.representations import comment_out
from factmark.annotations.schemas import Comment, CommentCreate, CommentPage, CommentPatch
from factmark.annotations.service import comments as service
from factmark.http.concurrency import etag, parse_if_match
from factmark.http.idempotency import run_idempotent
from factmark.http.params import IdempotencyKey, IfMatch
from factmark.http.problems import problems
from factmark.transaction import driver_of


class CommentController(Controller):
    path = "/api/v1"
    tags = ["Comments"]

    @get(
        "/claims/{claimId:uuid}/comments",
        operation_id="listComments",
        summary="The comment thread of a claim, oldest first (viewer)",
        responses=problems(404),
    )
    async def list_comments(
        self,
        db_session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        claimId: FromPath[uuid.UUID],  # noqa: N803 - camelCase path parameter
    ) -> CommentPage:
        rows = await service.list_comments(db_session, actor, claimId)
        return CommentPage(items=[comment_out(c) for c in rows], next_cursor=None)

    @post(
        "/claims/{claimId:uuid}/comments",
        operation_id="addComment",
        summary="Comment on a claim (reviewer)",
        responses=problems(400, 403, 404, 422),
    )
    async def add_comment(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        claimId: FromPath[uuid.UUID],  # noqa: N803
        data: JSONBody[CommentCreate],
        idempotency_key: IdempotencyKey = None,
    ) -> Response[Comment]:
        async def produce() -> Response[Comment]:
            row = await service.add_comment(db_session, actor, claimId, body=data.body)
            return Response(comment_out(row), status_code=201, headers={"ETag": etag(row.version)})

        return await run_idempotent(request, await driver_of(db_session), actor, Comment, produce)

    @patch(
        "/comments/{commentId:uuid}",
        operation_id="editComment",
        summary="Edit your own comment (If-Match)",
        responses=problems(400, 403, 404, 412, 422, 428),
    )
    async def edit_comment(
        self,
        db_session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        commentId: FromPath[uuid.UUID],  # noqa: N803
        data: JSONBody[CommentPatch],
        if_match: IfMatch = None,
    ) -> Response[Comment]:
        expected = parse_if_match(if_match)
        row = await service.edit_comment(
            db_session, actor, commentId, body=data.body, expected_version=expected
        )
        return Response(comment_out(row), headers={"ETag": etag(row.version)})

    @delete(
        "/comments/{commentId:uuid}",
        operation_id="deleteComment",
        summary="Delete your own comment, or any as an editor (If-Match)",
        responses=problems(400, 403, 404, 412, 428),
    )
    async def delete_comment(
        self,
        db_session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        commentId: FromPath[uuid.UUID],  # noqa: N803
        if_match: IfMatch = None,
    ) -> None:
        expected = parse_if_match(if_match)
        await service.delete_comment(db_session, actor, commentId, expected_version=expected)
