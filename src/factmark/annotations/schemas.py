"""HTTP contract of annotations: claims and their spans, ratings, verdicts, corrections,
evidence and comments."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Annotated

import msgspec

from factmark.annotations.spans import OffsetUnit
from factmark.schemas import Reason, Resource, Schema, ShortText, Tags, Url

Offset = Annotated[int, msgspec.Meta(ge=0, le=2_147_483_647)]
QuoteText = Annotated[str, msgspec.Meta(max_length=100_000)]
Context = Annotated[str, msgspec.Meta(max_length=1000)]
LongText = Annotated[str, msgspec.Meta(max_length=50_000)]
Summary = Annotated[str, msgspec.Meta(min_length=1, max_length=50_000)]


class ClaimStatus(enum.StrEnum):
    OPEN = "open"
    IN_REVIEW = "in_review"
    VERIFIED = "verified"
    DISMISSED = "dismissed"


class Checkworthiness(enum.StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


class Stance(enum.StrEnum):
    SUPPORTS = "supports"
    REFUTES = "refutes"
    CONTEXT = "context"


class VerdictState(enum.StrEnum):
    SUBMITTED = "submitted"
    APPROVED = "approved"
    SUPERSEDED = "superseded"
    REJECTED = "rejected"


class SpanIn(Schema):
    """A TextPositionSelector (start, end exclusive) with an optional TextQuoteSelector check:
    when ``exact`` (or prefix/suffix) is sent and does not match the text, the request fails
    with 422 ``quote_mismatch`` and the actual text."""

    start: Offset
    end: Offset
    exact: QuoteText | None = None
    prefix: Context | None = None
    suffix: Context | None = None


class Span(Schema):
    """A span in the unit named by the response's ``offsetUnit``, with its quote selector."""

    start: int
    end: int
    exact: str
    prefix: str
    suffix: str


class Claimant(Schema):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=500)]
    role: ShortText | None = None
    organisation: ShortText | None = None


Spans = Annotated[list[SpanIn], msgspec.Meta(min_length=1, max_length=50)]


class ClaimCreate(Schema):
    spans: Spans
    offset_unit: OffsetUnit = OffsetUnit.CODEPOINT
    statement: LongText | None = None
    """Defaults to the quoted text of the spans."""
    claimant: Claimant | None = None
    claimed_at: datetime | None = None
    tags: Tags = msgspec.field(default_factory=list)
    checkworthiness: Checkworthiness | None = None
    assignee_id: uuid.UUID | None = None
    reason: Reason | None = None


class ClaimPatch(Schema):
    spans: Spans | msgspec.UnsetType = msgspec.UNSET
    offset_unit: OffsetUnit = OffsetUnit.CODEPOINT
    statement: Annotated[str, msgspec.Meta(min_length=1, max_length=50_000)] | msgspec.UnsetType = (
        msgspec.UNSET
    )
    claimant: Claimant | msgspec.UnsetType | None = msgspec.UNSET
    claimed_at: datetime | msgspec.UnsetType | None = msgspec.UNSET
    tags: Tags | msgspec.UnsetType = msgspec.UNSET
    checkworthiness: Checkworthiness | msgspec.UnsetType | None = msgspec.UNSET
    assignee_id: uuid.UUID | msgspec.UnsetType | None = msgspec.UNSET
    reason: Reason | msgspec.UnsetType = msgspec.UNSET


class ClaimTransition(Schema):
    """Move a claim through the workflow. ``verified`` is reached only by approving a verdict."""

    to: ClaimStatus
    reason: Reason | None = None


class Rating(Resource):
    workspace_id: uuid.UUID
    key: str
    label: str
    description: str
    value: float | None
    ordinal: int


RatingKey = Annotated[
    str, msgspec.Meta(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9_-]*$")
]


RATING_VALUE_LIMIT = 999_999.9999
"""The largest magnitude ``ratings.value`` (NUMERIC(10, 4)) holds."""
RatingValue = Annotated[float, msgspec.Meta(ge=-RATING_VALUE_LIMIT, le=RATING_VALUE_LIMIT)]


class RatingCreate(Schema):
    key: RatingKey
    label: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    description: LongText = ""
    value: RatingValue | None = None
    ordinal: Annotated[int, msgspec.Meta(ge=0, le=10_000)] | None = None


class RatingPatch(Schema):
    label: Annotated[str, msgspec.Meta(min_length=1, max_length=200)] | msgspec.UnsetType = (
        msgspec.UNSET
    )
    description: LongText | msgspec.UnsetType = msgspec.UNSET
    value: RatingValue | msgspec.UnsetType | None = msgspec.UNSET
    ordinal: Annotated[int, msgspec.Meta(ge=0, le=10_000)] | msgspec.UnsetType = msgspec.UNSET


class RatingList(Schema):
    items: list[Rating]
    best_rating: float | None
    worst_rating: float | None


class RatingRef(Schema):
    id: uuid.UUID
    key: str
    label: str
    value: float | None


class Verdict(Resource):
    workspace_id: uuid.UUID
    document_id: uuid.UUID
    claim_id: uuid.UUID
    rating: RatingRef
    summary: str
    confidence: float | None
    state: VerdictState
    approved_by: uuid.UUID | None
    approved_at: datetime | None
    superseded_at: datetime | None
    created_by: uuid.UUID | None


Confidence = Annotated[float, msgspec.Meta(ge=0, le=1, description="0 (guess) to 1 (certain).")]


class VerdictCreate(Schema):
    rating: RatingKey
    summary: Summary
    confidence: Confidence | None = None
    reason: Reason | None = None


class VerdictPatch(Schema):
    rating: RatingKey | msgspec.UnsetType = msgspec.UNSET
    summary: Summary | msgspec.UnsetType = msgspec.UNSET
    confidence: Confidence | msgspec.UnsetType | None = msgspec.UNSET
    reason: Reason | msgspec.UnsetType = msgspec.UNSET


class VerdictApproval(Schema):
    reason: Reason | None = None


class VerdictPage(Schema):
    items: list[Verdict]
    next_cursor: str | None


class Correction(Resource):
    workspace_id: uuid.UUID
    claim_id: uuid.UUID
    note: str
    previous_verdict_id: uuid.UUID
    new_verdict_id: uuid.UUID
    previous_rating: str
    new_rating: str
    created_by: uuid.UUID | None


class CorrectionCreate(Schema):
    """Replace a verified claim's verdict: give a new verdict, or the id of a submitted one."""

    note: Annotated[str, msgspec.Meta(min_length=1, max_length=50_000)]
    verdict: VerdictCreate | None = None
    verdict_id: uuid.UUID | None = None


class Claim(Resource, omit_defaults=True):
    workspace_id: uuid.UUID
    document_id: uuid.UUID
    statement: str
    claimant: Claimant | None
    claimed_at: datetime | None
    tags: list[str]
    checkworthiness: Checkworthiness | None
    assignee_id: uuid.UUID | None
    status: ClaimStatus
    offset_unit: OffsetUnit
    spans: list[Span]
    current_verdict: Verdict | None
    verified_at: datetime | None
    corrections: list[Correction]
    created_by: uuid.UUID | None
    verdicts: list[Verdict] | None = None
    """Every verdict of the claim: present on as-of reads (``?asOf=``)."""
    evidence: list[Evidence] | None = None
    """Every piece of evidence of the claim: present on as-of reads (``?asOf=``)."""


class ClaimCounts(Schema):
    verdicts: int
    evidence: int
    comments: int


class AnnotatedClaim(Claim, kw_only=True):
    counts: ClaimCounts


class ClaimPage(Schema):
    items: list[Claim]
    next_cursor: str | None


class DocumentAnnotations(Schema):
    """Everything a review screen needs to render a document with its highlights."""

    document_id: uuid.UUID
    document_version: int
    length: int
    offset_unit: OffsetUnit
    claims: list[AnnotatedClaim]


class SourceSpanIn(Schema):
    document_id: uuid.UUID
    start: Offset
    end: Offset
    exact: QuoteText | None = None
    prefix: Context | None = None
    suffix: Context | None = None


class SourceSpan(Schema):
    document_id: uuid.UUID
    start: int
    end: int
    exact: str
    prefix: str
    suffix: str


class Evidence(Resource):
    workspace_id: uuid.UUID
    document_id: uuid.UUID
    claim_id: uuid.UUID
    stance: Stance
    source_url: str | None
    title: str | None
    publisher: str | None
    published_at: datetime | None
    accessed_at: datetime | None
    archive_url: str | None
    quote: str | None
    notes: str | None
    source_span: SourceSpan | None
    offset_unit: OffsetUnit
    created_by: uuid.UUID | None


class EvidenceCreate(Schema):
    """Evidence from the web (``sourceUrl``) or from a span of another stored document."""

    stance: Stance
    source_url: Url | None = None
    title: Annotated[str, msgspec.Meta(max_length=1000)] | None = None
    publisher: ShortText | None = None
    published_at: datetime | None = None
    accessed_at: datetime | None = None
    archive_url: Url | None = None
    quote: LongText | None = None
    notes: LongText | None = None
    source_span: SourceSpanIn | None = None
    offset_unit: OffsetUnit = OffsetUnit.CODEPOINT
    reason: Reason | None = None


class EvidencePatch(Schema):
    stance: Stance | msgspec.UnsetType = msgspec.UNSET
    source_url: Url | msgspec.UnsetType | None = msgspec.UNSET
    title: Annotated[str, msgspec.Meta(max_length=1000)] | msgspec.UnsetType | None = msgspec.UNSET
    publisher: ShortText | msgspec.UnsetType | None = msgspec.UNSET
    published_at: datetime | msgspec.UnsetType | None = msgspec.UNSET
    accessed_at: datetime | msgspec.UnsetType | None = msgspec.UNSET
    archive_url: Url | msgspec.UnsetType | None = msgspec.UNSET
    quote: LongText | msgspec.UnsetType | None = msgspec.UNSET
    notes: LongText | msgspec.UnsetType | None = msgspec.UNSET
    reason: Reason | msgspec.UnsetType = msgspec.UNSET


class EvidencePage(Schema):
    items: list[Evidence]
    next_cursor: str | None


class Comment(Resource):
    workspace_id: uuid.UUID
    document_id: uuid.UUID
    claim_id: uuid.UUID
    body: str
    created_by: uuid.UUID | None


CommentBody = Annotated[str, msgspec.Meta(min_length=1, max_length=20_000)]


class CommentCreate(Schema):
    body: CommentBody


class CommentPatch(Schema):
    body: CommentBody


class CommentPage(Schema):
    items: list[Comment]
    next_cursor: str | None
