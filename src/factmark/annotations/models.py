"""Claims anchored to text spans, the rating scale, verdicts, corrections, evidence, comments."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal

from sqlalchemy import (
    CheckConstraint,
    Computed,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, INT4RANGE, TSVECTOR, UUID
from sqlalchemy.orm import Mapped, mapped_column

from factmark.accounts.models import TimestampedMixin
from factmark.db import Base, new_id

CLAIM_SEARCH_EXPRESSION = (
    "setweight(to_tsvector('english'::regconfig, coalesce(statement, '')), 'A') || "
    "setweight(to_tsvector('english'::regconfig, coalesce(claimant_name, '')), 'B')"
)


def _workspace_fk() -> Mapped[uuid.UUID]:
    return mapped_column(
        UUID(as_uuid=True), ForeignKey("workspaces.id", ondelete="CASCADE"), nullable=False
    )


class Claim(TimestampedMixin, Base):
    __tablename__ = "claims"
    __table_args__ = (
        CheckConstraint("status IN ('open', 'in_review', 'verified', 'dismissed')", name="status"),
        CheckConstraint(
            "checkworthiness IS NULL OR checkworthiness IN ('low', 'medium', 'high')",
            name="checkworthiness",
        ),
        Index(None, "workspace_id", "updated_at", "id"),
        Index(None, "workspace_id", "status", "verified_at", "id"),
        Index(None, "document_id"),
        Index("ix_claims_search", "search", postgresql_using="gin"),
        Index("ix_claims_tags", "tags", postgresql_using="gin"),
    )

    workspace_id: Mapped[uuid.UUID] = _workspace_fk()
    document_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("documents.id", ondelete="CASCADE"), nullable=False
    )
    statement: Mapped[str] = mapped_column(Text, nullable=False)
    claimant_name: Mapped[str | None] = mapped_column(String(500))
    claimant_role: Mapped[str | None] = mapped_column(String(500))
    claimant_organisation: Mapped[str | None] = mapped_column(String(500))
    claimed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    tags: Mapped[list[str]] = mapped_column(
        ARRAY(String(100)), nullable=False, server_default=text("'{}'::varchar[]")
    )
    checkworthiness: Mapped[str | None] = mapped_column(String(16))
    assignee_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("users.id", ondelete="SET NULL")
    )
    status: Mapped[str] = mapped_column(String(16), nullable=False, server_default="open")
    approved_verdict_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    verified_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    first_offset: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    """Code point where the claim's first span starts: orders claims by position."""
    created_by: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    search: Mapped[object] = mapped_column(
        TSVECTOR,
        Computed(CLAIM_SEARCH_EXPRESSION, persisted=True),
        nullable=True,
        deferred=True,  # only used in WHERE clauses
        deferred_raiseload=True,
    )


class ClaimSpan(Base):
    """One stretch of a document's text that a claim is anchored to (TextPosition + TextQuote)."""

    __tablename__ = "claim_spans"
    __table_args__ = (
        CheckConstraint("start_offset >= 0 AND end_offset > start_offset", name="bounds"),
        UniqueConstraint("claim_id", "ordinal"),
        Index(
            "ix_claim_spans_document_range",
            "document_id",
            "range",
            postgresql_using="gist",
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=new_id)
    workspace_id: Mapped[uuid.UUID] = _workspace_fk()
    claim_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("claims.id", ondelete="CASCADE"), nullable=False
    )
    document_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("documents.id", ondelete="CASCADE"), nullable=False
    )
    ordinal: Mapped[int] = mapped_column(Integer, nullable=False)
    start_offset: Mapped[int] = mapped_column(Integer, nullable=False)
    end_offset: Mapped[int] = mapped_column(Integer, nullable=False)
    start_utf16: Mapped[int] = mapped_column(Integer, nullable=False)
    """The same span in UTF-16 code units, stored so reads never need the text."""
    end_utf16: Mapped[int] = mapped_column(Integer, nullable=False)
    exact: Mapped[str] = mapped_column(Text, nullable=False)
    prefix: Mapped[str] = mapped_column(Text, nullable=False)
    suffix: Mapped[str] = mapped_column(Text, nullable=False)
    range: Mapped[object] = mapped_column(
        INT4RANGE, Computed("int4range(start_offset, end_offset)", persisted=True)
    )


class Rating(TimestampedMixin, Base):
    """One rating of a workspace's scale. ``value`` is NULL outside the numeric order."""

    __tablename__ = "ratings"
    __table_args__ = (UniqueConstraint("workspace_id", "key"),)

    workspace_id: Mapped[uuid.UUID] = _workspace_fk()
    key: Mapped[str] = mapped_column(String(64), nullable=False)
    label: Mapped[str] = mapped_column(String(200), nullable=False)
    description: Mapped[str] = mapped_column(Text, nullable=False, server_default="")
    value: Mapped[Decimal | None] = mapped_column(Numeric(10, 4))
    ordinal: Mapped[int] = mapped_column(Integer, nullable=False)
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Verdict(TimestampedMixin, Base):
    __tablename__ = "verdicts"
    __table_args__ = (
        CheckConstraint(
            "state IN ('submitted', 'approved', 'superseded', 'rejected')", name="state"
        ),
        CheckConstraint("confidence IS NULL OR (confidence >= 0 AND confidence <= 1)", name="conf"),
        Index(None, "claim_id"),
        Index(None, "document_id"),
    )

    workspace_id: Mapped[uuid.UUID] = _workspace_fk()
    claim_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("claims.id", ondelete="CASCADE"), nullable=False
    )
    document_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("documents.id", ondelete="CASCADE"), nullable=False
    )
    rating_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("ratings.id"), nullable=False
    )
    summary: Mapped[str] = mapped_column(Text, nullable=False)
    confidence: Mapped[float | None] = mapped_column(Float)
    state: Mapped[str] = mapped_column(String(16), nullable=False, server_default="submitted")
    approved_by: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    approved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    superseded_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_by: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Correction(TimestampedMixin, Base):
    """A public correction: a verified claim's verdict replaced by a new approved one."""

    __tablename__ = "corrections"
    __table_args__ = (Index(None, "claim_id"),)

    workspace_id: Mapped[uuid.UUID] = _workspace_fk()
    claim_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("claims.id", ondelete="CASCADE"), nullable=False
    )
    document_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("documents.id", ondelete="CASCADE"), nullable=False
    )
    note: Mapped[str] = mapped_column(Text, nullable=False)
    previous_verdict_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    new_verdict_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    previous_rating_key: Mapped[str] = mapped_column(String(64), nullable=False)
    new_rating_key: Mapped[str] = mapped_column(String(64), nullable=False)
    created_by: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))


class Evidence(TimestampedMixin, Base):
    __tablename__ = "evidence"
    __table_args__ = (
        CheckConstraint("stance IN ('supports', 'refutes', 'context')", name="stance"),
        CheckConstraint("source_url IS NOT NULL OR source_document_id IS NOT NULL", name="source"),
        Index(None, "claim_id"),
        Index(None, "document_id"),
    )

    workspace_id: Mapped[uuid.UUID] = _workspace_fk()
    claim_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("claims.id", ondelete="CASCADE"), nullable=False
    )
    document_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("documents.id", ondelete="CASCADE"), nullable=False
    )
    stance: Mapped[str] = mapped_column(String(16), nullable=False)
    source_url: Mapped[str | None] = mapped_column(String(2048))
    title: Mapped[str | None] = mapped_column(String(1000))
    publisher: Mapped[str | None] = mapped_column(String(500))
    published_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    accessed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    archive_url: Mapped[str | None] = mapped_column(String(2048))
    quote: Mapped[str | None] = mapped_column(Text)
    notes: Mapped[str | None] = mapped_column(Text)
    source_document_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("documents.id", ondelete="SET NULL")
    )
    source_start: Mapped[int | None] = mapped_column(Integer)
    source_end: Mapped[int | None] = mapped_column(Integer)
    source_start_utf16: Mapped[int | None] = mapped_column(Integer)
    source_end_utf16: Mapped[int | None] = mapped_column(Integer)
    source_exact: Mapped[str | None] = mapped_column(Text)
    source_prefix: Mapped[str | None] = mapped_column(Text)
    source_suffix: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Comment(TimestampedMixin, Base):
    __tablename__ = "comments"
    __table_args__ = (Index(None, "claim_id", "created_at", "id"),)

    workspace_id: Mapped[uuid.UUID] = _workspace_fk()
    claim_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("claims.id", ondelete="CASCADE"), nullable=False
    )
    document_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("documents.id", ondelete="CASCADE"), nullable=False
    )
    body: Mapped[str] = mapped_column(Text, nullable=False)
    created_by: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
