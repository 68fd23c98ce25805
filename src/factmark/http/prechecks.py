"""The app's ``before_request`` hook: what a request must be before any handler sees it.

- A bearer token where the route needs a caller (401 first, before any validation).
- No NUL character in a path or query parameter (422 naming it).
- A query parameter that takes one value is given once (``?limit=5&limit=7`` is ambiguous),
  and ``null`` is not taken for "absent" where the parameter is not a string.
- Timestamps in the query string are RFC 3339 with an offset, as OpenAPI's ``date-time`` says.
  (Litestar converts query values leniently, so ``updatedSince=0.5`` would otherwise be read as
  a Unix time, and ``2026-11-25T10:00:00`` as a naive time.) Anything else gives 422 with the
  parameter named.
- A JSON body is checked by :func:`factmark.http.bodies.check_json_body`.
"""

from __future__ import annotations

import re
import types
import typing
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

from litestar import Request
from litestar.enums import ParamType
from litestar.handlers import HTTPRouteHandler
from litestar.params import ParameterKwarg

from factmark.errors import Invalid, Unauthenticated
from factmark.http.bodies import check_json_body
from factmark.http.dependencies import bearer_token

RFC3339 = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:[Zz]|[+-]\d{2}:\d{2})$"
)


async def check_request(request: Request[Any, Any, Any]) -> None:
    """Refuse what no handler should see; return None to go on."""
    check_credentials_sent(request)
    check_no_nul_in_url(request)
    check_query_values(request)
    await check_json_body(request)


def check_credentials_sent(request: Request[Any, Any, Any]) -> None:
    """A route that needs a caller answers 401 to a request without a bearer token before it
    says anything about its parameters or body. (The token itself is checked by the ``actor``
    dependency, which Litestar resolves after it has parsed the request.)"""
    needs_caller = "actor" in request.route_handler.parsed_fn_signature.parameters
    if needs_caller and bearer_token(request) is None:
        raise Unauthenticated("This endpoint needs a bearer token.", code="unauthenticated")


def check_no_nul_in_url(request: Request[Any, Any, Any]) -> None:
    """No U+0000 in a path or query parameter (``%00``): PostgreSQL cannot compare with it, and
    no name, slug or filter value of the API holds one."""
    for name, value in request.path_params.items():
        if isinstance(value, str) and "\x00" in value:
            raise Invalid(f"{name} must not contain NUL characters.", field=name)
    for name, value in request.query_params.multi_items():
        if "\x00" in name or "\x00" in value:
            field = name.replace("\x00", "\\0")
            raise Invalid(f"{field} must not contain NUL characters.", field=field)


def check_query_values(request: Request[Any, Any, Any]) -> None:
    """A parameter that takes one value is given once; timestamps are RFC 3339."""
    params = _query_parameters(request.route_handler)
    query = request.query_params
    for param in params:
        values = query.getall(param.name, [])
        if len(values) > 1 and not param.repeated:
            raise Invalid(f"{param.name} takes one value, not {len(values)}.", field=param.name)
        if param.null_is_not_a_value and "null" in values:
            raise Invalid(
                f"{param.name}=null is not a value; leave the parameter out instead.",
                field=param.name,
            )
        if param.timestamp:
            for value in values:
                if not RFC3339.match(value):
                    raise Invalid(
                        f"{param.name} must be an RFC 3339 date-time with an offset, "
                        "such as 2026-11-25T14:31:23Z.",
                        field=param.name,
                    )


@dataclass(frozen=True, slots=True)
class _QueryParameter:
    name: str
    repeated: bool
    timestamp: bool
    null_is_not_a_value: bool
    """Litestar reads ``?format=null`` as absent for an optional enum, number or date."""


@cache
def _query_parameters(handler: HTTPRouteHandler) -> tuple[_QueryParameter, ...]:
    """The handler's query parameters: their names, and whether they repeat or hold times."""
    params = []
    for name, field in handler.parsed_fn_signature.parameters.items():
        kwarg = field.kwarg_definition
        if kwarg is not None and not isinstance(kwarg, ParameterKwarg):
            continue  # a body, a dependency
        if isinstance(kwarg, ParameterKwarg) and kwarg.param_type is not ParamType.QUERY:
            continue
        if any("{" + name + ":" in path for path in handler.paths):
            continue
        if name in _INJECTED or field.is_di_field:
            continue
        alias = (kwarg.query or kwarg.name) if isinstance(kwarg, ParameterKwarg) else None
        repeated = _mentions(field.annotation, _SEQUENCES)
        params.append(
            _QueryParameter(
                name=alias or name,
                repeated=repeated,
                timestamp=_mentions(field.annotation, (datetime,)),
                null_is_not_a_value=not repeated and not _mentions(field.annotation, (str,)),
            )
        )
    return tuple(params)


# Handler arguments Litestar fills itself, never from the query string.
_INJECTED = frozenset({"request", "state", "scope", "headers", "cookies", "query", "body", "data"})
_SEQUENCES = (list, tuple, set, frozenset)


def _mentions(annotation: Any, kinds: tuple[type, ...]) -> bool:
    """Whether the annotation is, or contains (through Optional, Annotated, lists), one of
    ``kinds``."""
    if annotation in kinds:
        return True
    origin = typing.get_origin(annotation)
    if origin in kinds:
        return True
    if origin is typing.Annotated:
        return _mentions(typing.get_args(annotation)[0], kinds)
    if origin in (typing.Union, types.UnionType, *_SEQUENCES):
        return any(_mentions(arg, kinds) for arg in typing.get_args(annotation))
    return False
