"""Source documents: the texts that claims are anchored to."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Computed, DateTime, ForeignKey, Index, Integer, String, Text
from sqlalchemy import text as sql_text
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, TSVECTOR, UUID
from sqlalchemy.orm import Mapped, mapped_column

from factmark.accounts.models import TimestampedMixin
from factmark.db import Base

# Full-text search covers the title and the first 100,000 code points of the text: a tsvector
# is limited to 1 MB, and this bound keeps every accepted document indexable.
SEARCH_EXPRESSION = (
    "setweight(to_tsvector('english'::regconfig, coalesce(title, '')), 'A') || "
    "setweight(to_tsvector('english'::regconfig, left(text, 100000)), 'B')"
)


class Document(TimestampedMixin, Base):
    __tablename__ = "documents"
    __table_args__ = (
        Index(None, "workspace_id", "created_at", "id"),
        Index(None, "workspace_id", "text_sha256"),
        Index(None, "workspace_id", "source_url"),
        Index("ix_documents_search", "search", postgresql_using="gin"),
        Index("ix_documents_tags", "tags", postgresql_using="gin"),
    )

    workspace_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("workspaces.id", ondelete="CASCADE"), nullable=False
    )
    title: Mapped[str] = mapped_column(String(1000), nullable=False)
    text: Mapped[str] = mapped_column(Text, nullable=False)
    text_sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    length_codepoints: Mapped[int] = mapped_column(Integer, nullable=False)
    length_utf16: Mapped[int] = mapped_column(Integer, nullable=False)
    source_url: Mapped[str | None] = mapped_column(String(2048))
    publisher: Mapped[str | None] = mapped_column(String(500))
    author: Mapped[str | None] = mapped_column(String(500))
    published_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    language: Mapped[str | None] = mapped_column(String(35))
    tags: Mapped[list[str]] = mapped_column(
        ARRAY(String(100)), nullable=False, server_default=sql_text("'{}'::varchar[]")
    )
    metadata_: Mapped[dict[str, Any]] = mapped_column(
        "metadata", JSONB, nullable=False, server_default="{}"
    )
    created_by: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    search: Mapped[Any] = mapped_column(
        TSVECTOR,
        Computed(SEARCH_EXPRESSION, persisted=True),
        nullable=True,
        # Only ever used in WHERE clauses: never load the (large) vector with a row.
        deferred=True,
        deferred_raiseload=True,
    )
