"""Parameters shared by many routes: workspace reference, If-Match, Idempotency-Key, paging,
offset unit."""

from __future__ import annotations

from typing import Annotated

from litestar.params import HeaderParameter, PathParameter, QueryParameter

from factmark.annotations.spans import OffsetUnit
from factmark.http.pagination import MAX_LIMIT

WorkspaceRef = Annotated[
    str,
    PathParameter(
        description="The workspace's slug or id.", examples=[], max_length=64, min_length=1
    ),
]
IfMatch = Annotated[
    str | None,
    HeaderParameter(
        name="If-Match",
        # Required in the document; checked by the handler, which answers 428 without it.
        required=True,
        description='The ETag of the version you read, e.g. "3". Required: 428 without it.',
    ),
]
OptionalIfMatch = Annotated[
    str | None,
    HeaderParameter(
        name="If-Match",
        required=False,
        description='The ETag of the version you read, e.g. "3". Optional here.',
    ),
]
IdempotencyKey = Annotated[
    str | None,
    HeaderParameter(
        name="Idempotency-Key",
        required=False,
        max_length=255,
        description="Send the same key to retry safely: the first response is replayed.",
    ),
]
Limit = Annotated[
    int,
    QueryParameter(ge=1, le=MAX_LIMIT, description=f"Page size, at most {MAX_LIMIT}."),
]
Cursor = Annotated[
    str | None,
    QueryParameter(
        required=False, max_length=512, description="Opaque cursor from the previous page."
    ),
]
Unit = Annotated[
    OffsetUnit,
    QueryParameter(
        name="offsetUnit",
        required=False,
        description="Unit of span offsets in the response: codepoint (default) or utf16.",
    ),
]
