"""What a request body must be before any handler sees it: JSON, as valid UTF-8 and Unicode.

Runs as the app's ``before_request`` hook, so that every JSON endpoint answers alike:
415 for another content type, 400 for malformed JSON, 422 ``invalid_utf8`` for bytes that are
not UTF-8 and 422 ``invalid_unicode`` for a well-formed ``\\ud800`` escape (a lone surrogate,
which no text can hold), with the field named, and 422 for a value of the wrong type (decoded
strictly, as the schema says). Too large a body gives 413 as it is read.
"""

from __future__ import annotations

import json
from typing import Any

import msgspec
from litestar import Request
from litestar.enums import RequestEncodingType
from litestar.exceptions import HTTPException, ValidationException
from litestar.params import BodyKwarg

from factmark.errors import BadRequest, Invalid

METHODS_WITH_BODY = frozenset({"POST", "PUT", "PATCH"})


class UnsupportedMediaType(HTTPException):
    status_code = 415


def _expects_json(request: Request[Any, Any, Any]) -> bool:
    if request.method not in METHODS_WITH_BODY:
        return False
    data = request.route_handler.parsed_fn_signature.parameters.get("data")
    if data is None:
        return False
    kwarg = data.kwarg_definition
    return not isinstance(kwarg, BodyKwarg) or kwarg.media_type == RequestEncodingType.JSON


def is_json_media_type(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    )


async def check_json_body(request: Request[Any, Any, Any]) -> None:
    """Refuse what is not a JSON body the handler can decode; return None to go on."""
    if not _expects_json(request):
        return
    content_type = request.headers.get("content-type")
    if content_type is not None and not is_json_media_type(content_type):
        raise UnsupportedMediaType(
            detail=f"Send JSON with Content-Type: application/json, not {content_type[:100]}."
        )
    body = await request.body()
    if not body:
        return
    try:
        msgspec.json.decode(body)
    except UnicodeDecodeError:
        raise Invalid(
            "The request body is not valid UTF-8.", code="invalid_utf8", field="body"
        ) from None
    except RecursionError:
        # msgspec refuses nesting deeper than the interpreter's recursion limit (about 1000).
        raise Invalid(
            "The request body is nested too deeply.", code="nesting_too_deep", field="body"
        ) from None
    except msgspec.DecodeError as exc:
        field = _lone_surrogate_field(body)
        if field is not None:
            raise Invalid(
                f"{field} contains an unpaired UTF-16 surrogate escape (not valid Unicode).",
                code="invalid_unicode",
                field=field,
            ) from None
        raise BadRequest(
            f"The request body is not valid JSON: {exc}", code="malformed_json"
        ) from None
    _check_types(request, body)


def _check_types(request: Request[Any, Any, Any], body: bytes) -> None:
    """Decode the body as the handler's type, strictly. Litestar converts bodies leniently
    (``"12"`` for an integer, ``12345`` for a date-time: a Unix time), which the schema forbids."""
    data = request.route_handler.parsed_fn_signature.parameters["data"]
    try:
        msgspec.json.decode(body, type=data.annotation, strict=True)
    except msgspec.ValidationError as exc:
        raise ValidationException(
            detail="Validation failed", extra=[{"message": str(exc), "source": "body"}]
        ) from None


def _lone_surrogate_field(body: bytes) -> str | None:
    """The path of the first string holding a lone surrogate, if the body is otherwise JSON.

    msgspec refuses such escapes while decoding; Python's json module accepts them.
    """
    if b"\\u" not in body and b"\\U" not in body:
        return None
    try:
        value = json.loads(body)
    except ValueError:
        return None
    return _find_surrogate(value, "")


def _has_surrogate(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _find_surrogate(value: Any, path: str) -> str | None:
    if isinstance(value, str):
        return (path or "body") if _has_surrogate(value) else None
    if isinstance(value, dict):
        for key, item in value.items():
            child = f"{path}.{key}" if path else str(key)
            if _has_surrogate(str(key)):
                return child.encode("utf-8", "backslashreplace").decode()
            if (found := _find_surrogate(item, child)) is not None:
                return found
    elif isinstance(value, list):
        for index, item in enumerate(value):
            if (found := _find_surrogate(item, f"{path}[{index}]")) is not None:
                return found
    return None
