"""Routes for verdicts, their approval, and corrections of verified claims."""

from __future__ import annotations

import uuid
from typing import Any

import msgspec
from litestar import Controller, Request, Response, delete, get, patch, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody
from sqlalchemy.ext.asyncio import AsyncSession

from factmark.accounts.service import Actor, set_change_reason
from factmark.annotations.controller.representations import claim_out, verdict_out
from factmark.annotations.schemas import (
    Claim,
    CorrectionCreate,
    Verdict,
    VerdictApproval,
    VerdictCreate,
    VerdictPage,
    VerdictPatch,
)
from factmark.annotations.service import claims as claims_service
from factmark.annotations.service import verdicts as service
from factmark.http.concurrency import etag, parse_if_match
from factmark.http.idempotency import run_idempotent
from factmark.http.params import IdempotencyKey, IfMatch
from factmark.http.problems import problems
from factmark.transaction import driver_of


class VerdictController(Controller):
    path = "/api/v1"
    tags = ["Verdicts"]

    @get(
        "/claims/{claimId:uuid}/verdicts",
        operation_id="listVerdicts",
        summary="Every verdict submitted on a claim, oldest first (viewer)",
        responses=problems(404),
    )
    async def list_verdicts(
        self,
        db_session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        claimId: FromPath[uuid.UUID],  # noqa: N803 - camelCase path parameter
    ) -> VerdictPage:
        rows = await service.list_verdicts(db_session, actor, claimId)
        return VerdictPage(items=[verdict_out(v, r) for v, r in rows], next_cursor=None)

    @post(
        "/claims/{claimId:uuid}/verdicts",
        operation_id="submitVerdict",
        summary="Submit a verdict: rating key, summary, confidence (reviewer)",
        description="An open claim moves to in_review. Several reviewers may each submit one.",
        responses=problems(400, 403, 404, 409, 422),
    )
    async def submit_verdict(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        claimId: FromPath[uuid.UUID],  # noqa: N803
        data: JSONBody[VerdictCreate],
        idempotency_key: IdempotencyKey = None,
    ) -> Response[Verdict]:
        async def produce() -> Response[Verdict]:
            await set_change_reason(db_session, data.reason)
            verdict, rating = await service.submit_verdict(
                db_session,
                actor,
                claimId,
                rating_key=data.rating,
                summary=data.summary,
                confidence=data.confidence,
            )
            return Response(
                verdict_out(verdict, rating),
                status_code=201,
                headers={
                    "ETag": etag(verdict.version),
                    "Location": f"/api/v1/verdicts/{verdict.id}",
                },
            )

        return await run_idempotent(request, await driver_of(db_session), actor, Verdict, produce)

    @get(
        "/verdicts/{verdictId:uuid}",
        operation_id="getVerdict",
        summary="One verdict (viewer)",
        responses=problems(404),
    )
    async def get_verdict(
        self,
        db_session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        verdictId: FromPath[uuid.UUID],  # noqa: N803
    ) -> Response[Verdict]:
        verdict, rating = await service.get_verdict(db_session, actor, verdictId)
        return Response(verdict_out(verdict, rating), headers={"ETag": etag(verdict.version)})

    @patch(
        "/verdicts/{verdictId:uuid}",
        operation_id="updateVerdict",
        summary="Edit a submitted verdict (its author while not verified, or editor; If-Match)",
        responses=problems(400, 403, 404, 409, 412, 422, 428),
    )
    async def update_verdict(
        self,
        db_session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        verdictId: FromPath[uuid.UUID],  # noqa: N803
        data: JSONBody[VerdictPatch],
        if_match: IfMatch = None,
    ) -> Response[Verdict]:
        expected = parse_if_match(if_match)
        if data.reason is not msgspec.UNSET:
            await set_change_reason(db_session, data.reason)
        verdict, rating = await service.update_verdict(
            db_session,
            actor,
            verdictId,
            expected_version=expected,
            rating_key=None if data.rating is msgspec.UNSET else data.rating,
            summary=None if data.summary is msgspec.UNSET else data.summary,
            confidence=None if data.confidence is msgspec.UNSET else data.confidence,
            set_confidence=data.confidence is not msgspec.UNSET,
        )
        return Response(verdict_out(verdict, rating), headers={"ETag": etag(verdict.version)})

    @delete(
        "/verdicts/{verdictId:uuid}",
        operation_id="deleteVerdict",
        summary="Soft-delete a submitted verdict (author while not verified, or editor; If-Match)",
        responses=problems(400, 403, 404, 409, 412, 428),
    )
    async def delete_verdict(
        self,
        db_session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        verdictId: FromPath[uuid.UUID],  # noqa: N803
        if_match: IfMatch = None,
    ) -> None:
        expected = parse_if_match(if_match)
        await service.delete_verdict(db_session, actor, verdictId, expected_version=expected)

    @post(
        "/verdicts/{verdictId:uuid}/approve",
        operation_id="approveVerdict",
        summary="Approve a verdict: the claim becomes verified (editor; If-Match of the verdict)",
        description="Records who approved it and when. Returns the claim.",
        status_code=200,
        responses=problems(400, 403, 404, 409, 412, 422, 428),
    )
    async def approve(
        self,
        db_session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        verdictId: FromPath[uuid.UUID],  # noqa: N803
        data: JSONBody[VerdictApproval | None] = None,
        if_match: IfMatch = None,
    ) -> Response[Claim]:
        expected = parse_if_match(if_match)
        if data is not None:
            await set_change_reason(db_session, data.reason)
        _, _, claim = await service.approve_verdict(
            db_session, actor, verdictId, expected_version=expected
        )
        bundle = (await claims_service.bundle(db_session, [claim]))[0]
        return Response(claim_out(bundle), headers={"ETag": etag(claim.version)})

    @post(
        "/claims/{claimId:uuid}/corrections",
        operation_id="correctClaim",
        summary="Correct a verified claim's verdict, publicly (editor; If-Match of the claim)",
        description=(
            "Give a new verdict, or the id of a submitted one, and a correction note. The "
            "earlier verdict stays, superseded; the claim lists its corrections with dates."
        ),
        status_code=200,
        responses=problems(400, 403, 404, 409, 412, 422, 428),
    )
    async def correct(
        self,
        db_session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        claimId: FromPath[uuid.UUID],  # noqa: N803
        data: JSONBody[CorrectionCreate],
        if_match: IfMatch = None,
    ) -> Response[Claim]:
        expected = parse_if_match(if_match)
        await set_change_reason(db_session, data.note)
        await service.correct_claim(
            db_session,
            actor,
            claimId,
            note=data.note,
            expected_version=expected,
            new_verdict=(data.verdict.rating, data.verdict.summary, data.verdict.confidence)
            if data.verdict
            else None,
            verdict_id=data.verdict_id,
        )
        bundle = await claims_service.get_claim(db_session, actor, claimId)
        return Response(claim_out(bundle), headers={"ETag": etag(bundle.claim.version)})
