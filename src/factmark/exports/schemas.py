"""The export record: one verified claim with everything a partner republishes.

The ``json`` and ``ndjson`` formats send these records as PostgreSQL builds them
(service/queries.py), field for field; the other formats (``csv``, ``claimreview``, ``w3c``)
decode them into these Structs first, which checks the query against this schema. Every field
is always present (``null`` when unknown), so a record's shape never depends on its data.
Times are RFC 3339 in UTC with microseconds.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from factmark.schemas import Schema


class ExportFormat(StrEnum):
    JSON = "json"
    NDJSON = "ndjson"
    CSV = "csv"
    CLAIMREVIEW = "claimreview"
    W3C = "w3c"


class TextPositionSelector(Schema, tag_field="type", tag="TextPositionSelector"):
    """Unicode code points of the document's stored text, end exclusive."""

    start: int
    end: int


class TextQuoteSelector(Schema, tag_field="type", tag="TextQuoteSelector"):
    exact: str
    prefix: str
    suffix: str


class SpanRecord(Schema):
    position: TextPositionSelector
    quote: TextQuoteSelector


class ClaimantRecord(Schema):
    name: str | None
    role: str | None
    organisation: str | None


class DocumentRecord(Schema):
    id: uuid.UUID
    title: str
    source_url: str | None
    publisher: str | None
    author: str | None
    published_at: datetime | None


class RatingRecord(Schema):
    key: str | None
    label: str | None
    value: int | float | None
    """The rating's place on the numeric scale; null for ratings outside it (e.g. misleading)."""
    best_rating: int | float | None
    """The highest value of the workspace's numeric scale."""
    worst_rating: int | float | None


class VerdictRecord(Schema):
    id: uuid.UUID
    rating: RatingRecord
    summary: str
    approved_by: str | None
    """Display name of the editor who approved the verdict."""
    approved_at: datetime | None
    verified_at: datetime | None


class RatingKey(Schema):
    key: str
    label: str | None


class CorrectionRecord(Schema):
    date: datetime
    note: str
    previous_rating: RatingKey
    new_rating: RatingKey


class EvidenceRecord(Schema):
    stance: str
    url: str | None
    """The source's URL, or the source document's URL when the evidence quotes one."""
    title: str | None
    publisher: str | None
    quote: str | None
    source_document_id: uuid.UUID | None


class ClaimRecord(Schema):
    id: uuid.UUID
    permalink: str
    """The published fact-check (the workspace's claimUrlTemplate), else the claim's API URL."""
    statement: str
    status: str
    claimant: ClaimantRecord
    claimed_at: datetime | None
    tags: list[str]
    spans: list[SpanRecord]
    document: DocumentRecord
    verdict: VerdictRecord | None
    """The approved verdict; null when the claim has none (only with a status filter)."""
    corrections: list[CorrectionRecord]
    evidence: list[EvidenceRecord]
    reviewers: list[str]
    """Display names of everyone who wrote a verdict for the claim, sorted."""
    version: int
    created_at: datetime
    updated_at: datetime


class Tombstone(Schema):
    """In an incremental export: this claim left the exported set (reopened, dismissed,
    deleted, filtered out): a mirror removes it. It may name a claim the mirror never held."""

    id: uuid.UUID
    deleted: bool = True


class Checkpoint(Schema):
    """The latest signed checkpoint of the audit log when the export started: with it a
    partner can later prove what was published and when (the same fields as
    ``GET /api/v1/audit/checkpoints/latest``)."""

    position: int
    """Number of sealed audit events the checkpoint covers."""
    head_hash: str
    """SHA-256 chain hash at that position, lower-case hex."""
    created_at: str
    """RFC 3339 UTC with microseconds, exactly as signed."""
    algorithm: str
    public_key: str
    """Raw 32-byte Ed25519 public key, standard base64."""
    signature: str
    """64-byte signature of ``message``, standard base64."""
    message: str
    """The exact signed text."""


class ExportTrailer(Schema):
    """The last line of an NDJSON export (and the closing fields of the other formats)."""

    watermark: str
    """Pass as ``since`` to receive only what changed after this export."""
    checkpoint: Checkpoint | None
    records: int
    tombstones: int


class LeftOut(Schema):
    """A claim a standard format could not carry, and why."""

    id: uuid.UUID
    reason: str


ExportItem = ClaimRecord | Tombstone
