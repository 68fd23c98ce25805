"""HTTP contract of documents."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

import msgspec

from factmark.schemas import Reason, Resource, Schema, ShortText, Tags, Url

Title = Annotated[str, msgspec.Meta(min_length=1, max_length=1000)]
Language = Annotated[
    str,
    msgspec.Meta(
        min_length=2,
        max_length=35,
        pattern=r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$",
        description="BCP 47 language tag.",
        examples=["en", "en-GB"],
    ),
]
Metadata = Annotated[
    dict[str, Any],
    msgspec.Meta(
        description="Free-form JSON object, kept as sent.", examples=[{"section": "world"}]
    ),
]


class DocumentCreate(Schema):
    title: Title
    text: Annotated[
        str,
        msgspec.Meta(
            description=(
                "The text, stored exactly as sent: offsets of spans refer to it. Not empty "
                "(422 text_empty), no NUL characters, at most the configured number of code "
                "points (413 text_too_long)."
            ),
            # Emptiness is the service's rule (code text_empty, also for seeds and the CLI);
            # OpenAPI still shows it.
            extra_json_schema={"extra": {"minLength": 1}},
        ),
    ]
    source_url: Url | None = None
    publisher: ShortText | None = None
    author: ShortText | None = None
    published_at: datetime | None = None
    language: Language | None = None
    tags: Tags = msgspec.field(default_factory=list)
    metadata: Metadata = msgspec.field(default_factory=dict)


class DocumentPatch(Schema):
    """Metadata only: the text never changes, so spans stay valid."""

    title: Title | msgspec.UnsetType = msgspec.UNSET
    source_url: Url | msgspec.UnsetType | None = msgspec.UNSET
    publisher: ShortText | msgspec.UnsetType | None = msgspec.UNSET
    author: ShortText | msgspec.UnsetType | None = msgspec.UNSET
    published_at: datetime | msgspec.UnsetType | None = msgspec.UNSET
    language: Language | msgspec.UnsetType | None = msgspec.UNSET
    tags: Tags | msgspec.UnsetType = msgspec.UNSET
    metadata: Metadata | msgspec.UnsetType = msgspec.UNSET
    reason: Reason | msgspec.UnsetType = msgspec.UNSET


class DocumentSummary(Resource):
    workspace_id: uuid.UUID
    title: str
    source_url: str | None
    publisher: str | None
    author: str | None
    published_at: datetime | None
    language: str | None
    tags: list[str]
    metadata: dict[str, Any]
    length_codepoints: int
    length_utf16: int
    text_sha256: str


class Document(DocumentSummary):
    text: str


class DocumentPage(Schema):
    items: list[DocumentSummary]
    next_cursor: str | None
