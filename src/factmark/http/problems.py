"""RFC 9457 problem details: the one error shape of the API, and the handlers that produce it."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any

import asyncpg
import msgspec
from litestar import Request, Response
from litestar.exceptions import (
    HTTPException,
    NotAuthorizedException,
    NotFoundException,
    PermissionDeniedException,
    ValidationException,
)
from litestar.openapi.datastructures import ResponseSpec
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR
from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError, OperationalError

from factmark.errors import DomainError

log = logging.getLogger("factmark.http")

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_TYPE_BASE = "https://factmark.dev/problems/"


class FieldError(msgspec.Struct, rename="camel", kw_only=True):
    field: str
    message: str


class Problem(msgspec.Struct, rename="camel", kw_only=True, omit_defaults=True):
    """An RFC 9457 problem details object."""

    type: str
    title: str
    status: int
    code: str
    detail: str
    instance: str | None = None
    errors: list[FieldError] | None = None
    current_version: int | None = None
    existing_id: str | None = None
    allowed: list[str] | None = None
    actual: str | None = None


_STATUS_TITLES = {
    400: ("Malformed request", "malformed_request"),
    401: ("Authentication required", "unauthenticated"),
    403: ("Forbidden", "forbidden"),
    404: ("Not found", "not_found"),
    405: ("Method not allowed", "method_not_allowed"),
    406: ("Not acceptable", "not_acceptable"),
    409: ("Conflict", "conflict"),
    412: ("Precondition failed", "version_mismatch"),
    413: ("Payload too large", "payload_too_large"),
    415: ("Unsupported media type", "unsupported_media_type"),
    422: ("Validation failed", "validation_failed"),
    428: ("Precondition required", "if_match_required"),
    429: ("Too many requests", "rate_limited"),
    500: ("Internal server error", "internal_error"),
    503: ("Service unavailable", "service_unavailable"),
}


def problem_response(
    request: Request[Any, Any, Any] | None,
    status: int,
    detail: str,
    *,
    code: str | None = None,
    title: str | None = None,
    errors: list[FieldError] | None = None,
    headers: dict[str, str] | None = None,
    extra: dict[str, Any] | None = None,
) -> Response[Problem]:
    default_title, default_code = _STATUS_TITLES.get(status, ("Error", "error"))
    code = code or default_code
    problem = Problem(
        type=PROBLEM_TYPE_BASE + code,
        title=title or default_title,
        status=status,
        code=code,
        detail=detail,
        instance=str(request.url.path) if request is not None else None,
        errors=errors,
        **(extra or {}),
    )
    return Response(
        content=problem,
        status_code=status,
        media_type=PROBLEM_MEDIA_TYPE,
        headers=headers,
    )


def domain_error_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[Problem]:
    assert isinstance(exc, DomainError)
    errors = [FieldError(field=exc.field, message=exc.detail)] if exc.field else None
    extra = {k: v for k, v in exc.extra.items() if k in Problem.__struct_fields__}
    headers = dict(exc.headers)
    if exc.status == 401:
        headers.setdefault("WWW-Authenticate", 'Bearer realm="factmark"')
    return problem_response(
        request,
        exc.status,
        exc.detail,
        code=exc.code,
        title=exc.title,
        errors=errors,
        headers=headers,
        extra=extra,
    )


_MSGSPEC_PATH = re.compile(r"- at `\$(?P<path>[^`]*)`")
_UNKNOWN_FIELD = re.compile(r"unknown field `(?P<name>[^`]+)`")
_MISSING_FIELD = re.compile(r"missing required field `(?P<name>[^`]+)`")


def _field_from_message(message: str, key: str | None) -> str:
    """Turn msgspec's ``... - at `$.spans[0].start``` into ``spans[0].start``."""
    name = None
    if m := _UNKNOWN_FIELD.search(message) or _MISSING_FIELD.search(message):
        name = m.group("name")
    path = ""
    if m := _MSGSPEC_PATH.search(message):
        path = m.group("path").lstrip(".")
    if name:
        return f"{path}.{name}" if path else name
    return path or key or "body"


def _clean_message(message: str) -> str:
    return _MSGSPEC_PATH.sub("", message).strip()


def validation_error_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[Problem]:
    assert isinstance(exc, ValidationException)
    extra = exc.extra if isinstance(exc.extra, list) else []
    errors: list[FieldError] = []
    malformed = False
    for item in extra:
        if not isinstance(item, dict):
            continue
        message = str(item.get("message", ""))
        key = item.get("key")
        source = item.get("source")
        if "malformed" in message.lower() or "JSON is malformed" in message:
            malformed = True
        field = _field_from_message(message, str(key) if key else None)
        if source in {"query", "path", "header", "cookie"} and key:
            field = str(key)
        errors.append(FieldError(field=field, message=_clean_message(message) or "invalid"))
    detail_text = str(exc.detail or "")
    if "malformed" in detail_text.lower() or "decode" in detail_text.lower():
        malformed = True
    if malformed:
        if _body_is_invalid_utf8(request):
            return problem_response(
                request,
                422,
                "The request body is not valid UTF-8.",
                code="invalid_utf8",
                errors=[FieldError(field="body", message="invalid UTF-8")],
            )
        return problem_response(
            request,
            400,
            "The request body is not valid JSON.",
            code="malformed_json",
            errors=errors or None,
        )
    if not errors:
        errors = [FieldError(field="body", message=detail_text or "invalid")]
    detail = "; ".join(f"{e.field}: {e.message}" for e in errors)
    return problem_response(request, 422, detail, code="validation_failed", errors=errors)


def _body_is_invalid_utf8(request: Request[Any, Any, Any]) -> bool:
    body = request._connection_state.body  # cached raw body, when it was read
    if not isinstance(body, bytes):
        return False
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False


def http_exception_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[Problem]:
    assert isinstance(exc, HTTPException)
    status = exc.status_code
    detail = str(exc.detail or "")
    if isinstance(exc, NotFoundException) and not detail:
        detail = "Not found."
    if isinstance(exc, NotAuthorizedException):
        status = 401
    if isinstance(exc, PermissionDeniedException):
        status = 403
    headers = dict(exc.headers or {})
    if status == 401:
        headers.setdefault("WWW-Authenticate", 'Bearer realm="factmark"')
    if status >= 500:
        log.error("http error %s: %s", status, detail)
    if status == 413:
        detail = "The request body is larger than the configured limit."
    return problem_response(request, status, detail or "Error.", headers=headers)


_UNAVAILABLE_SQLSTATES = {"57P01", "57P02", "57P03", "08000", "08003", "08006", "08001", "08004"}


_ADAPTER_ERRORS = {"InterfaceError", "InternalClientError"}


def _is_connection_error(exc: BaseException) -> bool:
    # asyncpg's InterfaceError as SQLAlchemy's wrapper of it: "connection is closed".
    if isinstance(exc, OSError | ConnectionError | InterfaceError | asyncpg.InterfaceError):
        return True
    if isinstance(exc, asyncpg.PostgresError) and exc.sqlstate in _UNAVAILABLE_SQLSTATES:
        return True  # from a statement sent to asyncpg directly (factmark.transaction)
    if isinstance(exc, OperationalError):
        return True
    if isinstance(exc, DBAPIError):
        orig = getattr(exc, "orig", None)
        sqlstate = getattr(orig, "sqlstate", None) or getattr(
            getattr(orig, "__cause__", None), "sqlstate", None
        )
        if sqlstate in _UNAVAILABLE_SQLSTATES:
            return True
        if exc.connection_invalidated:
            return True
    name = type(getattr(exc, "orig", exc)).__name__
    # InternalClientError: asyncpg found the connection in the middle of an operation that
    # the server will never finish (it went away while answering).
    # SQLAlchemy's adapter raises its own InterfaceError ("connection is closed") when BEGIN is
    # sent on a connection the server dropped (factmark.transaction).
    return "Connection" in name or "CannotConnectNow" in name or name in _ADAPTER_ERRORS


# A unique or exclusion constraint refused a row that a concurrent request got in first: the
# service checked, but the other transaction had not committed yet.
_CONFLICT_SQLSTATES = {"23505", "23P01"}


def _sqlstate(exc: BaseException) -> str | None:
    """The SQLSTATE of an error from SQLAlchemy (which wraps the driver's) or from asyncpg."""
    value = getattr(getattr(exc, "orig", None), "sqlstate", None) or getattr(exc, "sqlstate", None)
    return value if isinstance(value, str) else None


def internal_error_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[Problem]:
    integrity = isinstance(exc, IntegrityError | asyncpg.IntegrityConstraintViolationError)
    if integrity and _sqlstate(exc) in _CONFLICT_SQLSTATES:
        log.info("concurrent conflict: %s", getattr(exc, "orig", exc))
        return problem_response(
            request,
            409,
            "A concurrent request changed the same data first; re-read and retry.",
            code="concurrent_conflict",
        )
    if _is_connection_error(exc):
        log.warning("database unavailable: %s", exc)
        return problem_response(
            request,
            503,
            "The database is unavailable; retry shortly.",
            code="database_unavailable",
            headers={"Retry-After": "2"},
        )
    log.exception("unhandled error", exc_info=exc)
    return problem_response(
        request,
        HTTP_500_INTERNAL_SERVER_ERROR,
        "An unexpected error occurred. It has been logged.",
        code="internal_error",
    )


def exception_group_handler(
    request: Request[Any, Any, Any], exc: ExceptionGroup[Exception]
) -> Response[Any]:
    """Litestar resolves some dependencies concurrently, in a task group, which wraps what they
    raise (a 401, the database going away) in an exception group: answer for a refusal among
    them (it explains why the others stopped), else for the first."""
    leaves = _leaves(exc)
    # A refusal (401, 429, 422) explains why the other dependencies stopped: answer with it.
    leaf = next((e for e in leaves if isinstance(e, DomainError | HTTPException)), leaves[0])
    for cls in type(leaf).__mro__:
        handler = _HANDLERS_BY_TYPE.get(cls)
        if handler is not None:
            return handler(request, leaf)
    return internal_error_handler(request, leaf)


def _leaves(exc: Exception) -> list[Exception]:
    if isinstance(exc, ExceptionGroup) and exc.exceptions:
        return [leaf for inner in exc.exceptions for leaf in _leaves(inner)]
    return [exc]


_HANDLERS_BY_TYPE: dict[type, Callable[[Request[Any, Any, Any], Any], Response[Any]]] = {
    DomainError: domain_error_handler,
    ValidationException: validation_error_handler,
    HTTPException: http_exception_handler,
    Exception: internal_error_handler,
}

EXCEPTION_HANDLERS = {**_HANDLERS_BY_TYPE, ExceptionGroup: exception_group_handler}

_DESCRIPTIONS = {
    400: "Malformed request (for example, invalid JSON).",
    401: "Missing, invalid, expired or revoked credentials.",
    403: "The caller's role may not do this.",
    404: "Not found, or not visible to the caller.",
    409: "Conflicts with the current state.",
    412: "The If-Match version is stale; the body carries the current version.",
    413: "The request body is too large.",
    415: "Unsupported content type.",
    422: "Validation failed; `errors` names each field.",
    428: "If-Match is required for this operation.",
    429: "Rate limited; see Retry-After.",
    503: "The database is unavailable.",
}


def problems(*statuses: int) -> dict[int, ResponseSpec]:
    """OpenAPI response entries typed as problem details, for a route's ``responses=``."""
    # 400 always: Litestar would otherwise document its own untyped 400 body.
    wanted = sorted({400, 401, 429, *statuses})
    return {
        status: ResponseSpec(
            data_container=Problem,
            description=_DESCRIPTIONS.get(status, "Error."),
            media_type=PROBLEM_MEDIA_TYPE,
            generate_examples=False,
        )
        for status in wanted
    }


def public_problems(*statuses: int) -> dict[int, ResponseSpec]:
    """Like :func:`problems`, for routes that need no credentials (401 only when asked for, as
    login answers wrong credentials with it)."""
    specs = problems(*statuses)
    if 401 not in statuses:
        specs.pop(401, None)
    return specs
