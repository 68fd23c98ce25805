"""ETag and If-Match: every mutable resource has an integer version, sent as a strong ETag."""

from __future__ import annotations

import re

from litestar.datastructures import ResponseHeader

from factmark.errors import BadRequest, PreconditionFailed, PreconditionRequired

_IF_MATCH = re.compile(r'^\s*"(?P<version>\d{1,18})"\s*$')


ETAG_HEADER = ResponseHeader(
    name="ETag",
    value='"1"',  # documents the header as a string; never sent as is
    documentation_only=True,
    description='The resource\'s version as a strong ETag, e.g. "3": send it back in If-Match.',
)


def etag(version: int) -> str:
    return f'"{version}"'


def parse_if_match(header: str | None) -> int:
    """The version the client expects, from a required If-Match header."""
    if header is None or not header.strip():
        raise PreconditionRequired(
            'If-Match is required: send the ETag you read, e.g. If-Match: "3"',
            field="If-Match",
        )
    match = _IF_MATCH.match(header)
    if match is None:
        raise BadRequest(
            'If-Match must be one strong ETag such as "3"',
            code="invalid_if_match",
            field="If-Match",
        )
    return int(match.group("version"))


def check_version(current: int, expected: int) -> None:
    if current != expected:
        raise PreconditionFailed(
            f"The resource is at version {current}, not {expected}: re-read it and retry.",
            extra={"current_version": current},
            headers={"ETag": etag(current)},
        )
