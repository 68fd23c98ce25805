"""HTTP routes of documents."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, Response, delete, get, patch, post
from litestar.datastructures import ResponseHeader, State
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, QueryParameter
from sqlalchemy.ext.asyncio import AsyncSession

from factmark.accounts import service as accounts
from factmark.accounts.service import Actor, set_change_reason
from factmark.audit import service as audit
from factmark.documents import service
from factmark.documents.models import Document as DocumentRow
from factmark.documents.schemas import (
    Document,
    DocumentCreate,
    DocumentPage,
    DocumentPatch,
    DocumentSummary,
)
from factmark.http.concurrency import ETAG_HEADER, etag, parse_if_match
from factmark.http.idempotency import run_idempotent
from factmark.http.links import LINK_HEADER, next_link
from factmark.http.pagination import DEFAULT_LIMIT
from factmark.http.params import Cursor, IdempotencyKey, IfMatch, Limit, WorkspaceRef
from factmark.http.problems import problems
from factmark.schemas import resource_fields
from factmark.transaction import driver_of

LOCATION_HEADER = ResponseHeader(
    name="Location",
    value="/api/v1/documents/{documentId}",  # documents the header as a string; never sent
    documentation_only=True,
    description="The address of the new document.",
)


def _summary_fields(row: DocumentRow) -> dict[str, Any]:
    return {
        **resource_fields(row),
        "title": row.title,
        "source_url": row.source_url,
        "publisher": row.publisher,
        "author": row.author,
        "published_at": row.published_at,
        "language": row.language,
        "tags": list(row.tags),
        "metadata": row.metadata_,
        "length_codepoints": row.length_codepoints,
        "length_utf16": row.length_utf16,
        "text_sha256": row.text_sha256,
    }


def document_out(row: DocumentRow) -> Document:
    return Document(**_summary_fields(row), text=row.text)


def summary_out(row: DocumentRow) -> DocumentSummary:
    return DocumentSummary(**_summary_fields(row))


class WorkspaceDocumentsController(Controller):
    path = "/api/v1/workspaces/{workspace:str}/documents"
    tags = ["Documents"]

    @get(
        "/",
        operation_id="listDocuments",
        response_headers=[LINK_HEADER],
        summary="List and search a workspace's documents (viewer)",
        description=(
            "Cursor-paginated. `q` is full-text search over the title and text (web search "
            "syntax: quotes, OR, -word). Repeat `tag`, `publisher` or `language` for several values."
        ),
        responses=problems(404, 422),
    )
    async def list_documents(
        self,
        request: Request[Any, Any, Any],
        read_session: NamedDependency[AsyncSession],
        db_session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        workspace: WorkspaceRef,
        tag: Annotated[list[str] | None, QueryParameter(required=False)] = None,
        publisher: Annotated[list[str] | None, QueryParameter(required=False)] = None,
        language: Annotated[list[str] | None, QueryParameter(required=False)] = None,
        published_after: Annotated[
            datetime | None, QueryParameter(name="publishedAfter", required=False)
        ] = None,
        published_before: Annotated[
            datetime | None, QueryParameter(name="publishedBefore", required=False)
        ] = None,
        q: Annotated[str | None, QueryParameter(required=False, max_length=500)] = None,
        sort: Annotated[
            str | None,
            QueryParameter(
                required=False,
                description="createdAt or updatedAt; prefix - for descending. Default -createdAt.",
            ),
        ] = None,
        cursor: Cursor = None,
        limit: Limit = DEFAULT_LIMIT,
    ) -> Response[DocumentPage]:
        ws = await accounts.get_workspace(db_session, actor, workspace)
        page = await service.list_documents(
            read_session,
            actor,
            ws.id,
            service.DocumentFilters(
                tags=tag or (),
                publisher=publisher or (),
                language=language or (),
                published_after=published_after,
                published_before=published_before,
                q=q,
            ),
            sort=sort,
            cursor=cursor,
            limit=limit,
        )
        body = DocumentPage(
            items=[summary_out(d) for d in page.items], next_cursor=page.next_cursor
        )
        return Response(body, headers=next_link(request, page.next_cursor))

    @post(
        "/",
        operation_id="createDocument",
        response_headers=[ETAG_HEADER, LOCATION_HEADER],
        summary="Store a source document (editor)",
        description=(
            "The text is stored exactly as sent. A document whose text or sourceUrl already "
            "exists in the workspace gives 409 with `existingId`, unless allowDuplicates=true."
        ),
        responses=problems(400, 403, 404, 409, 413, 415, 422),
    )
    async def create_document(
        self,
        request: Request[Any, Any, Any],
        state: State,
        db_session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        workspace: WorkspaceRef,
        data: JSONBody[DocumentCreate],
        allow_duplicates: Annotated[
            bool, QueryParameter(name="allowDuplicates", required=False)
        ] = False,
        idempotency_key: IdempotencyKey = None,
    ) -> Response[Document]:
        ws = await accounts.get_workspace(db_session, actor, workspace)

        async def produce() -> Response[Document]:
            row = await service.create_document(
                db_session,
                actor,
                ws.id,
                values=msgspec.structs.asdict(data),
                max_codepoints=state.settings.max_document_codepoints,
                allow_duplicates=allow_duplicates,
            )
            return Response(
                document_out(row),
                status_code=201,
                headers={"ETag": etag(row.version), "Location": f"/api/v1/documents/{row.id}"},
            )

        return await run_idempotent(request, await driver_of(db_session), actor, Document, produce)


class DocumentController(Controller):
    path = "/api/v1/documents"
    tags = ["Documents"]

    @get(
        "/{documentId:uuid}",
        operation_id="getDocument",
        response_headers=[ETAG_HEADER],
        summary="One document with its text (viewer)",
        description=(
            "With `asOf` (RFC 3339), the document as it was at that time, rebuilt from the "
            "audit log: also for a document deleted since; 404 if it did not exist then."
        ),
        responses=problems(404, 422),
    )
    async def get_document(
        self,
        db_session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        documentId: FromPath[uuid.UUID],  # noqa: N803 - camelCase path parameter
        as_of: Annotated[datetime | None, QueryParameter(name="asOf", required=False)] = None,
    ) -> Response[Document]:
        if as_of is not None:
            row = await audit.entity_as_of(db_session, actor, DocumentRow, documentId, as_of)
        else:
            row = await service.get_document(db_session, actor, documentId)
        return Response(document_out(row), headers={"ETag": etag(row.version)})

    @patch(
        "/{documentId:uuid}",
        operation_id="updateDocument",
        response_headers=[ETAG_HEADER],
        summary="Change a document's metadata (editor; If-Match required)",
        responses=problems(400, 403, 404, 412, 422, 428),
    )
    async def update_document(
        self,
        db_session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        documentId: FromPath[uuid.UUID],  # noqa: N803
        data: JSONBody[DocumentPatch],
        if_match: IfMatch = None,
    ) -> Response[Document]:
        expected = parse_if_match(if_match)
        changes = {
            k: v
            for k, v in msgspec.structs.asdict(data).items()
            if v is not msgspec.UNSET and k != "reason"
        }
        if data.reason is not msgspec.UNSET:
            await set_change_reason(db_session, data.reason)
        row = await service.update_document(
            db_session, actor, documentId, expected_version=expected, changes=changes
        )
        return Response(document_out(row), headers={"ETag": etag(row.version)})

    @delete(
        "/{documentId:uuid}",
        operation_id="deleteDocument",
        summary="Soft-delete a document (editor; If-Match required)",
        description="Hidden from reads, kept in the database with its history.",
        responses=problems(400, 403, 404, 412, 428),
    )
    async def delete_document(
        self,
        db_session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        documentId: FromPath[uuid.UUID],  # noqa: N803
        if_match: IfMatch = None,
    ) -> None:
        expected = parse_if_match(if_match)
        await service.delete_document(db_session, actor, documentId, expected_version=expected)
