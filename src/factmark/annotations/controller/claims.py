"""Routes for claims: on a document, in a workspace, and one by one."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

import msgspec
from litestar import Controller, MediaType, Request, Response, delete, get, patch, post
from litestar.di import NamedDependency
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, JSONBody, QueryParameter
from sqlalchemy.ext.asyncio import AsyncSession

from factmark.accounts import service as accounts
from factmark.accounts.service import Actor, set_change_reason
from factmark.annotations.controller.representations import claim_out
from factmark.annotations.schemas import (
    Claim,
    ClaimCreate,
    ClaimPage,
    ClaimPatch,
    ClaimStatus,
    ClaimTransition,
    DocumentAnnotations,
)
from factmark.annotations.service import claims as service
from factmark.annotations.service import review
from factmark.annotations.spans import OffsetUnit
from factmark.errors import Invalid
from factmark.http.concurrency import etag, parse_if_match
from factmark.http.idempotency import run_idempotent
from factmark.http.links import next_link
from factmark.http.pagination import DEFAULT_LIMIT
from factmark.http.params import (
    Cursor,
    IdempotencyKey,
    IfMatch,
    Limit,
    OptionalIfMatch,
    Unit,
    WorkspaceRef,
)
from factmark.http.problems import problems
from factmark.transaction import RequestDb

Repeated = Annotated[list[str] | None, QueryParameter(required=False)]


def _claim_response(
    bundle: service.ClaimBundle, unit: OffsetUnit, status: int = 200
) -> Response[Claim]:
    headers = {"ETag": etag(bundle.claim.version)}
    if status == 201:
        headers["Location"] = f"/api/v1/claims/{bundle.claim.id}"
    return Response(claim_out(bundle, unit), status_code=status, headers=headers)


def _parse_overlaps(raw: str | None) -> tuple[int, int] | None:
    if raw is None:
        return None
    try:
        start, end = (int(part) for part in raw.split(","))
    except ValueError:
        raise Invalid("overlaps must be start,end (two integers).", field="overlaps") from None
    if start < 0 or end <= start:
        raise Invalid("overlaps needs 0 <= start < end.", field="overlaps")
    if end > _MAX_OFFSET:  # offsets are PostgreSQL integers (int4range)
        raise Invalid(f"overlaps offsets are at most {_MAX_OFFSET}.", field="overlaps")
    return start, end


_MAX_OFFSET = 2_147_483_647


class DocumentClaimsController(Controller):
    path = "/api/v1/documents/{documentId:uuid}"
    tags = ["Claims"]

    @get(
        "/annotations",
        operation_id="getDocumentAnnotations",
        summary="The review screen: every claim of a document with spans, verdict and counts",
        description=(
            "Claims ordered by the position of their first span, each with its spans, status, "
            "current (approved) verdict and counts of verdicts, evidence and comments. A fixed "
            "number of database queries whatever the number of claims. Viewer."
        ),
        responses={
            200: ResponseSpec(
                data_container=DocumentAnnotations,
                description="Request fulfilled, document follows",
                generate_examples=False,
            ),
            **problems(404, 422),
        },
    )
    async def annotations(
        self,
        db_session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        documentId: FromPath[uuid.UUID],  # noqa: N803 - camelCase path parameter
        offset_unit: Unit = OffsetUnit.CODEPOINT,
    ) -> Response[bytes]:
        # The body of DocumentAnnotations, rendered by PostgreSQL (see service/review.py).
        body = await review.review_screen(db_session, actor, documentId, offset_unit)
        return Response(body, media_type=MediaType.JSON)

    @get(
        "/claims",
        operation_id="listDocumentClaims",
        summary="Claims on a document, optionally those touching a stretch of text (viewer)",
        responses=problems(404, 422),
    )
    async def list_document_claims(
        self,
        db_session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        documentId: FromPath[uuid.UUID],  # noqa: N803
        overlaps: Annotated[
            str | None,
            QueryParameter(
                required=False,
                pattern=r"^\d{1,10},\d{1,10}$",
                description="start,end: only claims with a span overlapping [start, end).",
                examples=[],
            ),
        ] = None,
        offset_unit: Unit = OffsetUnit.CODEPOINT,
    ) -> ClaimPage:
        bundles = await service.document_claims(
            db_session, actor, documentId, overlaps=_parse_overlaps(overlaps), unit=offset_unit
        )
        return ClaimPage(items=[claim_out(b, offset_unit) for b in bundles], next_cursor=None)

    @post(
        "/claims",
        operation_id="createClaim",
        summary="Mark a claim on one or more spans of the document (reviewer)",
        description=(
            "Spans count Unicode code points, or UTF-16 units with offsetUnit=utf16. Sending "
            "`exact` checks the quote: 422 quote_mismatch with the actual text otherwise. "
            "Other span errors: span_out_of_range, span_empty, span_inverted, "
            "span_splits_surrogate_pair."
        ),
        responses=problems(400, 403, 404, 422),
    )
    async def create_claim(
        self,
        request: Request[Any, Any, Any],
        db: NamedDependency[RequestDb],
        actor: NamedDependency[Actor],
        documentId: FromPath[uuid.UUID],  # noqa: N803
        data: JSONBody[ClaimCreate],
        idempotency_key: IdempotencyKey = None,
    ) -> Response[Claim]:
        # The busiest write: straight to the request's asyncpg connection, no ORM session.
        connection = await db.driver()

        async def produce() -> Response[Claim]:
            await set_change_reason(connection, data.reason)
            values = {
                "statement": data.statement,
                "claimant": msgspec.to_builtins(data.claimant) if data.claimant else None,
                "claimed_at": data.claimed_at,
                "tags": data.tags,
                "checkworthiness": data.checkworthiness.value if data.checkworthiness else None,
                "assignee_id": data.assignee_id,
            }
            bundle = await service.create_claim(
                connection,
                actor,
                documentId,
                spans=data.spans,
                unit=data.offset_unit,
                values=values,
            )
            return _claim_response(bundle, data.offset_unit, 201)

        return await run_idempotent(request, connection, actor, Claim, produce)


class ClaimController(Controller):
    path = "/api/v1"
    tags = ["Claims"]

    @get(
        "/workspaces/{workspace:str}/claims",
        operation_id="listClaims",
        summary="Claims of a workspace, filtered and cursor-paginated (viewer)",
        description=(
            "Repeat a filter for several values. `rating` is the key of the approved verdict's "
            "rating; `q` searches statement and claimant. sort: updatedAt (default -updatedAt), "
            "createdAt or claimedAt, prefix - for descending."
        ),
        responses=problems(404, 422),
    )
    async def list_claims(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        read_session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        workspace: WorkspaceRef,
        status: Annotated[list[ClaimStatus] | None, QueryParameter(required=False)] = None,
        rating: Repeated = None,
        claimant: Repeated = None,
        tag: Repeated = None,
        assignee: Annotated[list[uuid.UUID] | None, QueryParameter(required=False)] = None,
        creator: Annotated[list[uuid.UUID] | None, QueryParameter(required=False)] = None,
        document_id: Annotated[
            list[uuid.UUID] | None, QueryParameter(name="documentId", required=False)
        ] = None,
        updated_since: Annotated[
            datetime | None, QueryParameter(name="updatedSince", required=False)
        ] = None,
        q: Annotated[str | None, QueryParameter(required=False, max_length=500)] = None,
        sort: Annotated[str | None, QueryParameter(required=False, max_length=20)] = None,
        offset_unit: Unit = OffsetUnit.CODEPOINT,
        cursor: Cursor = None,
        limit: Limit = DEFAULT_LIMIT,
    ) -> Response[ClaimPage]:
        ws = await accounts.get_workspace(db_session, actor, workspace)
        page = await service.list_claims(
            read_session,
            actor,
            ws.id,
            service.ClaimFilters(
                status=[s.value for s in status or ()],
                rating=rating or (),
                claimant=claimant or (),
                tag=tag or (),
                assignee=assignee or (),
                created_by=creator or (),
                document=document_id or (),
                updated_since=updated_since,
                q=q,
            ),
            sort=sort,
            cursor=cursor,
            limit=limit,
        )
        body = ClaimPage(
            items=[claim_out(b, offset_unit) for b in page.items], next_cursor=page.next_cursor
        )
        return Response(body, headers=next_link(request, page.next_cursor))

    @get(
        "/claims/{claimId:uuid}",
        operation_id="getClaim",
        summary="One claim with its spans, current verdict and corrections (viewer)",
        description=(
            "With `asOf` (RFC 3339), the claim as it was at that time, rebuilt from the audit "
            "log, with every verdict and piece of evidence it had then (`verdicts`, "
            "`evidence`); also for a claim deleted since; 404 if it did not exist then."
        ),
        responses=problems(404, 422),
    )
    async def get_claim(
        self,
        db_session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        claimId: FromPath[uuid.UUID],  # noqa: N803
        offset_unit: Unit = OffsetUnit.CODEPOINT,
        as_of: Annotated[datetime | None, QueryParameter(name="asOf", required=False)] = None,
    ) -> Response[Claim]:
        if as_of is not None:
            bundle = await service.claim_as_of(db_session, actor, claimId, as_of)
        else:
            bundle = await service.get_claim(db_session, actor, claimId)
        return _claim_response(bundle, offset_unit)

    @patch(
        "/claims/{claimId:uuid}",
        operation_id="updateClaim",
        summary="Edit a claim (author reviewer while not verified, or editor; If-Match)",
        description="Sending spans replaces all spans. Status changes go through transitions.",
        responses=problems(400, 403, 404, 409, 412, 422, 428),
    )
    async def update_claim(
        self,
        db_session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        claimId: FromPath[uuid.UUID],  # noqa: N803
        data: JSONBody[ClaimPatch],
        if_match: IfMatch = None,
    ) -> Response[Claim]:
        expected = parse_if_match(if_match)
        fields = msgspec.structs.asdict(data)
        if data.reason is not msgspec.UNSET:
            await set_change_reason(db_session, data.reason)
        changes: dict[str, Any] = {
            k: v
            for k, v in fields.items()
            if v is not msgspec.UNSET and k not in {"spans", "offset_unit", "reason"}
        }
        if "claimant" in changes and changes["claimant"] is not None:
            changes["claimant"] = msgspec.to_builtins(changes["claimant"])
        if changes.get("checkworthiness") is not None:
            changes["checkworthiness"] = changes["checkworthiness"].value
        if changes.get("statement") is None and "statement" in changes:
            raise Invalid("statement cannot be null.", field="statement")
        bundle = await service.update_claim(
            db_session,
            actor,
            claimId,
            expected_version=expected,
            changes=changes,
            spans=None if data.spans is msgspec.UNSET else data.spans,
            unit=data.offset_unit,
        )
        return _claim_response(bundle, data.offset_unit)

    @post(
        "/claims/{claimId:uuid}/transitions",
        operation_id="transitionClaim",
        summary="Move a claim through its workflow (If-Match)",
        description=(
            "open → in_review → (verified by approving a verdict); dismissed from open or "
            "in_review; editors reopen verified or dismissed claims (reopening supersedes the "
            "published verdict). A move that is not allowed gives 409 with `allowed`."
        ),
        status_code=200,
        responses=problems(400, 403, 404, 409, 412, 422, 428),
    )
    async def transition(
        self,
        db_session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        claimId: FromPath[uuid.UUID],  # noqa: N803
        data: JSONBody[ClaimTransition],
        if_match: IfMatch = None,
    ) -> Response[Claim]:
        expected = parse_if_match(if_match)
        await set_change_reason(db_session, data.reason)
        bundle = await service.transition(
            db_session, actor, claimId, to=data.to.value, expected_version=expected
        )
        return _claim_response(bundle, OffsetUnit.CODEPOINT)

    @delete(
        "/claims/{claimId:uuid}",
        operation_id="deleteClaim",
        summary="Soft-delete a claim (author reviewer while not verified, or editor; If-Match)",
        responses=problems(400, 403, 404, 409, 412, 428),
    )
    async def delete_claim(
        self,
        db_session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        claimId: FromPath[uuid.UUID],  # noqa: N803
        if_match: IfMatch = None,
    ) -> None:
        expected = parse_if_match(if_match)
        await service.delete_claim(db_session, actor, claimId, expected_version=expected)

    @post(
        "/claims/{claimId:uuid}/restore",
        operation_id="restoreClaim",
        summary="Bring back a deleted claim (editor)",
        status_code=200,
        responses=problems(400, 403, 404, 409, 412),
    )
    async def restore_claim(
        self,
        db_session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        claimId: FromPath[uuid.UUID],  # noqa: N803
        if_match: OptionalIfMatch = None,
    ) -> Response[Claim]:
        expected = parse_if_match(if_match) if if_match else None
        bundle = await service.restore_claim(db_session, actor, claimId, expected_version=expected)
        return _claim_response(bundle, OffsetUnit.CODEPOINT)
