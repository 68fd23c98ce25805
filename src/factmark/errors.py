"""Domain errors: raised by services, turned into problem details by ``factmark.http``.

Each error has a stable machine ``code`` and an HTTP status. Services never import Litestar.
"""

from __future__ import annotations

from typing import Any, ClassVar


class DomainError(Exception):
    status: ClassVar[int] = 400
    title: ClassVar[str] = "Bad request"
    default_code: ClassVar[str] = "bad_request"

    def __init__(
        self,
        detail: str,
        *,
        code: str | None = None,
        field: str | None = None,
        extra: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.code = code or self.default_code
        self.field = field
        self.extra = extra or {}
        self.headers = headers or {}


class BadRequest(DomainError):
    status = 400
    title = "Malformed request"
    default_code = "malformed_request"


class Unauthenticated(DomainError):
    status = 401
    title = "Authentication required"
    default_code = "unauthenticated"


class Forbidden(DomainError):
    status = 403
    title = "Forbidden"
    default_code = "forbidden"


class NotFound(DomainError):
    status = 404
    title = "Not found"
    default_code = "not_found"


class Conflict(DomainError):
    status = 409
    title = "Conflict"
    default_code = "conflict"


class PreconditionFailed(DomainError):
    status = 412
    title = "Precondition failed"
    default_code = "version_mismatch"


class PayloadTooLarge(DomainError):
    status = 413
    title = "Payload too large"
    default_code = "payload_too_large"


class Invalid(DomainError):
    status = 422
    title = "Validation failed"
    default_code = "validation_failed"


class PreconditionRequired(DomainError):
    status = 428
    title = "Precondition required"
    default_code = "if_match_required"


class RateLimited(DomainError):
    status = 429
    title = "Too many requests"
    default_code = "rate_limited"


class Unavailable(DomainError):
    status = 503
    title = "Service unavailable"
    default_code = "database_unavailable"
