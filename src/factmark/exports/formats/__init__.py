"""The export formats: each turns the reader's batches into the bytes of one response.

``json``
    ``{"items": [record | tombstone, ...], "watermark", "checkpoint", "records", "tombstones"}``.
``ndjson``
    One record (or tombstone) per line, then one trailer line
    ``{"watermark", "checkpoint", "records", "tombstones"}``. A stream without the trailer was
    cut short.
``csv``
    One row per claim, UTF-8 with a byte order mark (so spreadsheets read it as UTF-8) and a
    header row; see ``CSV_COLUMNS``. The watermark and checkpoint travel in response headers.
``claimreview``
    schema.org ClaimReview JSON-LD (Google Fact Check markup):
    ``{"@context": "https://schema.org", "@graph": [ClaimReview, ...], "leftOut": [{id, reason}],
    "deleted": [...], "watermark", "checkpoint", ...}``. A claim missing what Google requires
    is listed in ``leftOut`` instead of being emitted broken.
``w3c``
    A W3C Web Annotation AnnotationCollection: ``{"@context": anno.jsonld, "@graph": [page, ...,
    collection], "deleted": [...], "watermark", ...}``, one AnnotationPage per batch (linked by
    ``next``/``prev``) and the collection last, when its total is known.

Every format is a pure function of the reader's output and the export's start, so the command
line writes byte for byte what the endpoint sends.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable
from contextlib import aclosing
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from factmark.errors import Conflict
from factmark.exports.formats.claimreview import write_claimreview
from factmark.exports.formats.records import CSV_COLUMNS, write_csv, write_json, write_ndjson
from factmark.exports.formats.w3c import ANNO_CONTEXT, write_w3c
from factmark.exports.schemas import ExportFormat
from factmark.exports.service import (
    ExportReader,
    ExportStart,
    open_reader,
    publishes_claim_reviews,
)

__all__ = [
    "ANNO_CONTEXT",
    "CSV_COLUMNS",
    "EXTENSIONS",
    "MEDIA_TYPES",
    "WRITERS",
    "ExportFormat",
    "check_workspace_supports",
    "stream_export",
]

MEDIA_TYPES = {
    ExportFormat.JSON: "application/json",
    ExportFormat.NDJSON: "application/x-ndjson",
    ExportFormat.CSV: "text/csv; header=present",  # Litestar adds charset=utf-8
    ExportFormat.CLAIMREVIEW: "application/ld+json",
    ExportFormat.W3C: f'application/ld+json; profile="{ANNO_CONTEXT}"',
}
EXTENSIONS = {
    ExportFormat.JSON: "json",
    ExportFormat.NDJSON: "ndjson",
    ExportFormat.CSV: "csv",
    ExportFormat.CLAIMREVIEW: "claimreview.jsonld",
    ExportFormat.W3C: "w3c.jsonld",
}
WRITERS: dict[ExportFormat, Callable[[ExportReader], AsyncGenerator[bytes, None]]] = {
    ExportFormat.JSON: write_json,
    ExportFormat.NDJSON: write_ndjson,
    ExportFormat.CSV: write_csv,
    ExportFormat.CLAIMREVIEW: write_claimreview,
    ExportFormat.W3C: write_w3c,
}


def check_workspace_supports(export_format: ExportFormat, settings: dict[str, Any]) -> None:
    """ClaimReview needs the URL of each published fact-check: 409 without a template."""
    if export_format is ExportFormat.CLAIMREVIEW and not publishes_claim_reviews(settings):
        raise Conflict(
            "ClaimReview needs the URL of each published fact-check: set the workspace's "
            "claimUrlTemplate (e.g. https://example.org/fact-checks/{id}).",
            code="claim_url_template_missing",
        )


async def stream_export(
    sessionmaker: async_sessionmaker[AsyncSession],
    start: ExportStart,
    export_format: ExportFormat,
    *,
    batch_size: int | None = None,
) -> AsyncGenerator[bytes, None]:
    """The bytes of one export, read on a session of its own."""
    async with (
        open_reader(sessionmaker, start, batch_size=batch_size) as reader,
        aclosing(WRITERS[export_format](reader)) as chunks,
    ):
        async for chunk in chunks:
            yield chunk
