"""Routes for evidence on claims."""

from __future__ import annotations

import uuid
from typing import Any

import msgspec
from litestar import Controller, Request, Response, delete, get, patch, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody
from sqlalchemy.ext.asyncio import AsyncSession

from factmark.accounts.service import Actor, set_change_reason
from factmark.annotations.controller.representations import evidence_out
from factmark.annotations.schemas import Evidence, EvidenceCreate, EvidencePage, EvidencePatch
from factmark.annotations.service import evidence as service
from factmark.annotations.spans import OffsetUnit
from factmark.http.concurrency import etag, parse_if_match
from factmark.http.idempotency import run_idempotent
from factmark.http.params import IdempotencyKey, IfMatch, OptionalIfMatch, Unit
from factmark.http.problems import problems
from factmark.transaction import driver_of


class EvidenceController(Controller):
    path = "/api/v1"
    tags = ["Evidence"]

    @get(
        "/claims/{claimId:uuid}/evidence",
        operation_id="listEvidence",
        summary="Evidence attached to a claim (viewer)",
        responses=problems(404, 422),
    )
    async def list_evidence(
        self,
        db_session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        claimId: FromPath[uuid.UUID],  # noqa: N803 - camelCase path parameter
        offset_unit: Unit = OffsetUnit.CODEPOINT,
    ) -> EvidencePage:
        rows = await service.list_evidence(db_session, actor, claimId)
        return EvidencePage(items=[evidence_out(e, offset_unit) for e in rows], next_cursor=None)

    @post(
        "/claims/{claimId:uuid}/evidence",
        operation_id="addEvidence",
        summary="Attach evidence: a web source, or a span of another document (reviewer)",
        responses=problems(400, 403, 404, 422),
    )
    async def add_evidence(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        claimId: FromPath[uuid.UUID],  # noqa: N803
        data: JSONBody[EvidenceCreate],
        idempotency_key: IdempotencyKey = None,
    ) -> Response[Evidence]:
        async def produce() -> Response[Evidence]:
            await set_change_reason(db_session, data.reason)
            values = {
                k: v
                for k, v in msgspec.structs.asdict(data).items()
                if k not in {"source_span", "offset_unit", "reason"}
            }
            values["stance"] = data.stance.value
            row = await service.add_evidence(
                db_session,
                actor,
                claimId,
                values=values,
                source_span=data.source_span,
                source_document_id=data.source_span.document_id if data.source_span else None,
                unit=data.offset_unit,
            )
            return Response(
                evidence_out(row, data.offset_unit),
                status_code=201,
                headers={"ETag": etag(row.version), "Location": f"/api/v1/evidence/{row.id}"},
            )

        return await run_idempotent(request, await driver_of(db_session), actor, Evidence, produce)

    @get(
        "/evidence/{evidenceId:uuid}",
        operation_id="getEvidence",
        summary="One piece of evidence (viewer)",
        responses=problems(404, 422),
    )
    async def get_evidence(
        self,
        db_session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        evidenceId: FromPath[uuid.UUID],  # noqa: N803
        offset_unit: Unit = OffsetUnit.CODEPOINT,
    ) -> Response[Evidence]:
        row, _ = await service.load_evidence(db_session, actor, evidenceId)
        return Response(evidence_out(row, offset_unit), headers={"ETag": etag(row.version)})

    @patch(
        "/evidence/{evidenceId:uuid}",
        operation_id="updateEvidence",
        summary="Edit evidence (author while the claim is not verified, or editor; If-Match)",
        responses=problems(400, 403, 404, 409, 412, 422, 428),
    )
    async def update_evidence(
        self,
        db_session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        evidenceId: FromPath[uuid.UUID],  # noqa: N803
        data: JSONBody[EvidencePatch],
        if_match: IfMatch = None,
    ) -> Response[Evidence]:
        expected = parse_if_match(if_match)
        if data.reason is not msgspec.UNSET:
            await set_change_reason(db_session, data.reason)
        changes = {
            k: v
            for k, v in msgspec.structs.asdict(data).items()
            if v is not msgspec.UNSET and k != "reason"
        }
        if "stance" in changes:
            changes["stance"] = changes["stance"].value
        row = await service.update_evidence(
            db_session, actor, evidenceId, expected_version=expected, changes=changes
        )
        return Response(evidence_out(row), headers={"ETag": etag(row.version)})

    @delete(
        "/evidence/{evidenceId:uuid}",
        operation_id="deleteEvidence",
        summary="Soft-delete evidence (author while not verified, or editor; If-Match)",
        responses=problems(400, 403, 404, 409, 412, 428),
    )
    async def delete_evidence(
        self,
        db_session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        evidenceId: FromPath[uuid.UUID],  # noqa: N803
        if_match: IfMatch = None,
    ) -> None:
        expected = parse_if_match(if_match)
        await service.delete_evidence(db_session, actor, evidenceId, expected_version=expected)

    @post(
        "/evidence/{evidenceId:uuid}/restore",
        operation_id="restoreEvidence",
        summary="Bring back deleted evidence (editor)",
        status_code=200,
        responses=problems(400, 403, 404, 409, 412),
    )
    async def restore_evidence(
        self,
        db_session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        evidenceId: FromPath[uuid.UUID],  # noqa: N803
        if_match: OptionalIfMatch = None,
    ) -> Response[Evidence]:
        expected = parse_if_match(if_match) if if_match else None
        row = await service.restore_evidence(
            db_session, actor, evidenceId, expected_version=expected
        )
        return Response(evidence_out(row), headers={"ETag": etag(row.version)})
