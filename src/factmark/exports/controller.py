"""HTTP route of exports: the verified claims of a workspace, streamed in any format."""

from __future__ import annotations

import uuid
import zlib
from collections.abc import AsyncGenerator
from contextlib import aclosing
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, get
from litestar.background_tasks import BackgroundTask
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import (
    OpenAPIHeader,
    OpenAPIMediaType,
    OpenAPIResponse,
    OpenAPIType,
    Operation,
    Schema,
)
from litestar.params import QueryParameter
from litestar.response import Stream
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from factmark.accounts import service as accounts
from factmark.accounts.service import Actor
from factmark.errors import DomainError
from factmark.exports import formats, service
from factmark.exports.schemas import ClaimRecord, ExportFormat
from factmark.http.params import WorkspaceRef
from factmark.http.problems import problems

GZIP_LEVEL = 6
"""Exports are compressed here rather than by the app's middleware, whose level 9 would make
compression, not the database, the bottleneck of a large export."""


class NotAcceptable(DomainError):
    status = 406
    title = "Not acceptable"
    default_code = "not_acceptable"


_ACCEPT_TYPES = {
    "application/json": ExportFormat.JSON,
    "application/x-ndjson": ExportFormat.NDJSON,
    "text/csv": ExportFormat.CSV,
    "application/ld+json": ExportFormat.CLAIMREVIEW,
}


def _media_ranges(header: str) -> list[tuple[float, str, dict[str, str]]]:
    ranges = []
    for part in header.split(","):
        media, *raw_params = (p.strip() for p in part.split(";"))
        if not media:
            continue
        params: dict[str, str] = {}
        for p in raw_params:
            name, _, value = p.partition("=")
            params[name.strip().lower()] = value.strip().strip('"')
        try:
            quality = float(params.pop("q", "1"))
        except ValueError:
            quality = 0.0
        ranges.append((quality, media.lower(), params))
    return ranges


def negotiate(export_format: ExportFormat | None, accept: str | None) -> ExportFormat:
    """``format`` wins; otherwise the Accept header: application/json (the default),
    application/x-ndjson, text/csv, application/ld+json (ClaimReview), and
    application/ld+json with profile="http://www.w3.org/ns/anno.jsonld" (W3C)."""
    if export_format is not None:
        return export_format
    if not accept:
        return ExportFormat.JSON
    best: tuple[float, ExportFormat] | None = None
    for quality, media, params in _media_ranges(accept):
        if quality <= 0:
            continue
        if media in ("*/*", "application/*"):
            found = ExportFormat.JSON
        elif media == "application/ld+json" and formats.ANNO_CONTEXT in params.get("profile", ""):
            found = ExportFormat.W3C
        elif media in _ACCEPT_TYPES:
            found = _ACCEPT_TYPES[media]
        else:
            continue
        if best is None or quality > best[0]:
            best = (quality, found)
    if best is None:
        raise NotAcceptable(
            "Exports are available as application/json, application/x-ndjson, text/csv and "
            "application/ld+json (ClaimReview, or W3C annotations with "
            f'profile="{formats.ANNO_CONTEXT}"); or choose with ?format=.'
        )
    return best[1]


def accepts_gzip(header: str | None) -> bool:
    for quality, coding, _ in _media_ranges(header or ""):
        if coding in ("gzip", "x-gzip") and quality > 0:
            return True
    return False


async def gzip_stream(chunks: AsyncGenerator[bytes, None]) -> AsyncGenerator[bytes, None]:
    """gzip, flushed after every chunk so that bytes keep leaving as batches are read."""
    compressor = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, 31)
    async with aclosing(chunks):
        async for chunk in chunks:
            if out := compressor.compress(chunk) + compressor.flush(zlib.Z_SYNC_FLUSH):
                yield out
    yield compressor.flush()


Many = Annotated[list[str] | None, QueryParameter(required=False)]

_DESCRIPTION = """\
Streams the workspace's claims (by default the verified ones) in batches read by keyset from
one consistent snapshot: any size, flat memory, first bytes at once. gzip when the client
sends `Accept-Encoding: gzip`.

**Formats** (`format=`, or the Accept header): `json` (`application/json`, the default),
`ndjson` (`application/x-ndjson`), `csv` (`text/csv`), `claimreview` (`application/ld+json`:
schema.org ClaimReview as Google documents it; claims Google could not accept are listed in
`leftOut` with the reason), `w3c` (`application/ld+json; profile="http://www.w3.org/ns/anno.jsonld"`:
a W3C Web Annotation AnnotationCollection, one AnnotationPage per batch). The record shape is
the `ClaimRecord` schema.

**Incremental sync**: every export ends with a `watermark` (the last NDJSON line, a closing
field of the JSON formats, and the `X-Export-Watermark` header in every format). Pass it as
`since` with the same filters to receive only the claims changed after it, plus tombstones
`{"id": ..., "deleted": true}` for claims that left the exported set.

**Provenance**: the latest signed audit checkpoint (position, head hash, public key,
signature) closes the export and is sent as the `X-Export-Checkpoint` header (JSON).

Readable by viewers and by service tokens with the viewer role.

**CSV columns** (lists joined, one row per claim; cells starting with `=`, `+`, `-`, `@`, tab
or carriage return get a leading `'` against formula injection):

""" + "\n".join(f"- `{name}`" + (f": {note}" if note else "") for name, note in formats.CSV_COLUMNS)


_EXPORT_HEADERS = {
    "X-Export-Watermark": OpenAPIHeader(
        schema=Schema(type=OpenAPIType.STRING),
        required=True,
        description="Pass as since= (with the same filters) to get only what changed after.",
    ),
    "X-Export-Checkpoint": OpenAPIHeader(
        schema=Schema(type=OpenAPIType.STRING),
        required=False,
        description="The latest signed audit checkpoint as JSON; absent before the first.",
    ),
    "Content-Encoding": OpenAPIHeader(
        schema=Schema(type=OpenAPIType.STRING, enum=["gzip"]),
        required=False,
        description="gzip when the request accepted it.",
    ),
}


@dataclass
class ExportOperation(Operation):
    """The export's operation, with its response headers on the streamed 200 response
    (Litestar leaves them out when the 200 response is described by a ResponseSpec)."""

    def __post_init__(self) -> None:
        ok = (self.responses or {}).get("200")
        if isinstance(ok, OpenAPIResponse):
            ok.headers = {**(ok.headers or {}), **_EXPORT_HEADERS}
            ok.content = {
                **(ok.content or {}),
                "application/json": OpenAPIMediaType(schema=Schema(type=OpenAPIType.OBJECT)),
                "text/csv": OpenAPIMediaType(schema=Schema(type=OpenAPIType.STRING)),
                "application/ld+json": OpenAPIMediaType(schema=Schema(type=OpenAPIType.OBJECT)),
            }


class ExportController(Controller):
    path = "/api/v1/workspaces/{workspace:str}/exports"
    tags = ["Exports"]

    @get(
        "/claims",
        operation_id="exportClaims",
        summary="Export claims: JSON, NDJSON, CSV, ClaimReview or W3C annotations (viewer)",
        description=_DESCRIPTION,
        opt={"skip_compression": True},
        responses={
            200: ResponseSpec(
                data_container=ClaimRecord,
                description=(
                    "The export, streamed. In JSON formats the records are ClaimRecord "
                    "objects; the watermark and checkpoint close the body."
                ),
                media_type="application/x-ndjson",
                generate_examples=False,
            ),
            **problems(401, 404, 406, 409, 422),
        },
        operation_class=ExportOperation,
    )
    async def export_claims(
        self,
        request: Request[Any, Any, Any],
        state: State,
        db_session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        workspace: WorkspaceRef,
        export_format: Annotated[
            ExportFormat | None,
            QueryParameter(name="format", required=False, description="Overrides Accept."),
        ] = None,
        status: Annotated[
            list[str] | None,
            QueryParameter(
                required=False,
                description="open, in_review, verified or dismissed (repeat for several); default verified.",
            ),
        ] = None,
        verified_since: Annotated[
            datetime | None, QueryParameter(name="verifiedSince", required=False)
        ] = None,
        updated_since: Annotated[
            datetime | None, QueryParameter(name="updatedSince", required=False)
        ] = None,
        rating: Annotated[
            list[str] | None,
            QueryParameter(required=False, description="Keys of the approved verdict's rating."),
        ] = None,
        tag: Many = None,
        claimant: Annotated[
            list[str] | None,
            QueryParameter(required=False, description="Claimant names (case-insensitive)."),
        ] = None,
        document_id: Annotated[
            list[uuid.UUID] | None, QueryParameter(name="documentId", required=False)
        ] = None,
        since: Annotated[
            str | None,
            QueryParameter(
                required=False,
                max_length=512,
                description="The watermark of an earlier export with the same filters.",
            ),
        ] = None,
    ) -> Stream:
        ws = await accounts.get_workspace(db_session, actor, workspace)
        chosen = negotiate(export_format, request.headers.get("accept"))
        filters = service.ExportFilters(
            statuses=tuple(status) if status else ("verified",),
            verified_since=verified_since,
            updated_since=updated_since,
            ratings=tuple(rating or ()),
            tags=tuple(tag or ()),
            claimants=tuple(claimant or ()),
            document_ids=tuple(document_id or ()),
        )
        formats.check_workspace_supports(chosen, ws.settings)
        sessionmaker: async_sessionmaker[AsyncSession] = (
            state.read_sessionmaker or state.sessionmaker
        )
        async with sessionmaker() as session:
            start = await service.start_export(
                session, ws.id, filters, since=since, base_url=state.settings.public_base_url
            )
            await session.rollback()
        headers = {
            "X-Export-Watermark": start.watermark,
            "Content-Disposition": (
                f'attachment; filename="claims-{ws.slug}.{formats.EXTENSIONS[chosen]}"'
            ),
            "Vary": "Accept, Accept-Encoding",
            "Cache-Control": "no-store",
        }
        if start.checkpoint is not None:
            headers["X-Export-Checkpoint"] = msgspec.json.encode(start.checkpoint).decode()
        body = formats.stream_export(sessionmaker, start, chosen)
        if accepts_gzip(request.headers.get("accept-encoding")):
            body = gzip_stream(body)
            headers["Content-Encoding"] = "gzip"
        # Litestar stops iterating when the client disconnects but does not close the
        # generator; closing it here releases the export's database session at once.
        return Stream(
            body,
            media_type=formats.MEDIA_TYPES[chosen],
            headers=headers,
            background=BackgroundTask(body.aclose),
        )
