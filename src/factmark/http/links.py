"""Pagination headers: ``Link: <...>; rel="next"``."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from litestar import Request


def next_link(request: Request[Any, Any, Any], next_cursor: str | None) -> dict[str, str]:
    if next_cursor is None:
        return {}
    params = [(k, v) for k, v in request.query_params.multi_items() if k != "cursor"]
    params.append(("cursor", next_cursor))
    url = request.url.with_replacements(query=urlencode(params))
    return {"Link": f'<{url}>; rel="next"'}
