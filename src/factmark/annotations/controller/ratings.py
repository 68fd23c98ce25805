"""Routes for a workspace's rating scale."""

from __future__ import annotations

import uuid
from typing import Any

import msgspec
from litestar import Controller, Request, Response, delete, get, patch, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody
from sqlalchemy.ext.asyncio import AsyncSession

from factmark.accounts import service as accounts
from factmark.accounts.service import Actor
from factmark.annotations.controller.representations import rating_out
from factmark.annotations.schemas import Rating, RatingCreate, RatingList, RatingPatch
from factmark.annotations.service import ratings as service
from factmark.http.concurrency import etag, parse_if_match
from factmark.http.idempotency import run_idempotent
from factmark.http.params import IdempotencyKey, IfMatch, WorkspaceRef
from factmark.http.problems import problems
from factmark.transaction import driver_of


class RatingController(Controller):
    path = "/api/v1"
    tags = ["Ratings"]

    @get(
        "/workspaces/{workspace:str}/ratings",
        operation_id="listRatings",
        summary="The workspace's rating scale, in order, with best and worst values (viewer)",
        responses=problems(404, 422),
    )
    async def list_ratings(
        self,
        db_session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        workspace: WorkspaceRef,
    ) -> RatingList:
        ws = await accounts.get_workspace(db_session, actor, workspace)
        rows = await service.list_ratings(db_session, actor, ws.id)
        best, worst = service.scale_bounds(rows)
        return RatingList(
            items=[rating_out(r) for r in rows],
            best_rating=float(best) if best is not None else None,
            worst_rating=float(worst) if worst is not None else None,
        )

    @post(
        "/workspaces/{workspace:str}/ratings",
        operation_id="createRating",
        summary="Add a rating to the scale (editor or admin)",
        description="`value` places it in the numeric order; leave it null for ratings such as "
        "misleading that sit outside it.",
        responses=problems(400, 403, 404, 409, 422),
    )
    async def create_rating(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        workspace: WorkspaceRef,
        data: JSONBody[RatingCreate],
        idempotency_key: IdempotencyKey = None,
    ) -> Response[Rating]:
        ws = await accounts.get_workspace(db_session, actor, workspace)

        async def produce() -> Response[Rating]:
            row = await service.create_rating(
                db_session, actor, ws.id, values=msgspec.structs.asdict(data)
            )
            return Response(rating_out(row), status_code=201, headers={"ETag": etag(row.version)})

        return await run_idempotent(request, await driver_of(db_session), actor, Rating, produce)

    @patch(
        "/ratings/{ratingId:uuid}",
        operation_id="updateRating",
        summary="Change a rating's label, description, value or order (editor; If-Match)",
        responses=problems(400, 403, 404, 412, 422, 428),
    )
    async def update_rating(
        self,
        db_session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        ratingId: FromPath[uuid.UUID],  # noqa: N803 - camelCase path parameter
        data: JSONBody[RatingPatch],
        if_match: IfMatch = None,
    ) -> Response[Rating]:
        expected = parse_if_match(if_match)
        changes = {k: v for k, v in msgspec.structs.asdict(data).items() if v is not msgspec.UNSET}
        row = await service.update_rating(
            db_session, actor, ratingId, expected_version=expected, changes=changes
        )
        return Response(rating_out(row), headers={"ETag": etag(row.version)})

    @delete(
        "/ratings/{ratingId:uuid}",
        operation_id="deleteRating",
        summary="Remove a rating no verdict uses (editor; If-Match); 409 when in use",
        responses=problems(400, 403, 404, 409, 412, 428),
    )
    async def delete_rating(
        self,
        db_session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        ratingId: FromPath[uuid.UUID],  # noqa: N803
        if_match: IfMatch = None,
    ) -> None:
        expected = parse_if_match(if_match)
        await service.delete_rating(db_session, actor, ratingId, expected_version=expected)
