"""Pagination headers: ``Link: <...>; rel="next"``."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from litestar import Request
from litestar.datastructures import ResponseHeader

LINK_HEADER = ResponseHeader(
    name="Link",
    value="<...>",  # documents the header as a string; never sent as is
    documentation_only=True,
    description='`<url>; rel="next"` while there is a next page (the same as nextCursor).',
)


def next_link(request: Request[Any, Any, Any], next_cursor: str | None) -> dict[str, str]:
    if next_cursor is None:
        return {}
    params = [(k, v) for k, v in request.query_params.multi_items() if k != "cursor"]
    params.append(("cursor", next_cursor))
    url = request.url.with_replacements(query=urlencode(params))
    return {"Link": f'<{url}>; rel="next"'}
