"""The base of every request and response Struct, and constrained types they share."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

import msgspec


class Schema(msgspec.Struct, rename="camel", kw_only=True, forbid_unknown_fields=True):
    """camelCase on the wire, unknown fields rejected."""


# PostgreSQL cannot store U+0000 in text: the shared string types refuse it (422 naming the
# field) rather than let it reach the database.
NO_NUL = r"^[^\u0000]*$"

Name = Annotated[str, msgspec.Meta(min_length=1, max_length=200, pattern=NO_NUL)]
ShortText = Annotated[str, msgspec.Meta(max_length=500, pattern=NO_NUL)]
Url = Annotated[
    str,
    msgspec.Meta(
        max_length=2048,
        pattern=r"^https?://[^\s\u0000]+$",
        description="An absolute http(s) URL.",
        examples=["https://example.org/news/article"],
    ),
]
Email = Annotated[
    str,
    msgspec.Meta(
        min_length=3,
        max_length=320,
        pattern=r"^[^@\s\u0000]+@[^@\s\u0000]+$",
        examples=["reviewer@example.com"],
    ),
]
Slug = Annotated[
    str,
    msgspec.Meta(
        min_length=2,
        max_length=64,
        pattern=r"^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$",
        description="Lower-case letters, digits and dashes.",
        examples=["demo"],
    ),
]
Tag = Annotated[str, msgspec.Meta(min_length=1, max_length=100, pattern=NO_NUL)]
Tags = Annotated[list[Tag], msgspec.Meta(max_length=50)]
Reason = Annotated[str, msgspec.Meta(max_length=2000, pattern=NO_NUL)]


def resource_fields(row: Any) -> dict[str, Any]:
    """The fields every workspace resource carries, from its row, for a Struct's keywords."""
    return {
        "id": row.id,
        "created_at": row.created_at,
        "updated_at": row.updated_at,
        "version": row.version,
        "workspace_id": row.workspace_id,
    }


class Resource(Schema):
    """Fields every resource carries."""

    id: uuid.UUID
    created_at: datetime
    updated_at: datetime
    version: int
