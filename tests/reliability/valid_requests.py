"""Valid requests for any operation of the OpenAPI document, on the ``resources`` fixture:
the URL with real ids, a body whose every field is valid, and the If-Match to send."""

from __future__ import annotations

from typing import Any

import httpx

from tests.annotations.conftest import TEXT, span_of
from tests.reliability.openapi_ops import Operation

# A valid value for each property name the API uses; a base body holds the required properties
# and the optional free-text ones, so that a bad value in one field is the only thing wrong.
SAMPLES: dict[str, Any] = {
    "email": "nobody@acme.test",
    "password": "correct horse battery",
    "role": "reviewer",
    "name": "Night desk",
    "slug": "night-desk",
    "title": "A title",
    "text": "The council spent 4 million on roads.",
    "sourceUrl": "https://example.org/a",
    "archiveUrl": "https://archive.example/a",
    "publisher": "Example Times",
    "author": "A. Writer",
    "statement": "Unemployment fell by half.",
    "notes": "Called the ministry.",
    "quote": "fell by half",
    "summary": "Official statistics show a 12% fall.",
    "note": "The rating was corrected.",
    "body": "Check the 2020 baseline.",
    "label": "Pants on fire",
    "description": "Not even close.",
    "reason": "Requested by the desk.",
    "key": "pants-on-fire",
    "rating": "misleading",
    "stance": "supports",
    "to": "dismissed",
    "spans": [span_of(TEXT, "unemployment fell by half")],
    "tags": ["economy"],
}
FREE_TEXT = {k for k, v in SAMPLES.items() if isinstance(v, str)} - {
    "email",
    "password",
    "role",
    "slug",
    "key",
    "rating",
    "stance",
    "to",
    "sourceUrl",
    "archiveUrl",
}
# Operations whose claimId must be the verified claim (a correction replaces its verdict).
PATH_OVERRIDES = {"correctClaim": {"claimId": "verifiedClaimId"}}
# Who sends the requests: the admin, except where only the author may (comments).
ACTORS = {"editComment": "reviewer"}
ACTION_SUFFIXES = ("/transitions", "/approve", "/corrections", "/restore", "/purge")
# Whole bodies where the samples alone do not make a valid one.
BODY_OVERRIDES: dict[str, dict[str, Any]] = {
    "correctClaim": {
        "note": "The rating was corrected.",
        "verdict": {"rating": "mostly-false", "summary": "New figures."},
    },
    "approveVerdict": {},
    "addEvidence": {"stance": "supports", "sourceUrl": "https://example.org/a", "notes": "Called."},
    # submitting a verdict moved the fixture's claim to in_review
    "transitionClaim": {"to": "dismissed", "reason": "Not check-worthy."},
}


def base_body(op: Operation) -> dict[str, Any]:
    schema = op.body_schema or {}
    required = set(schema.get("required", []))
    return {
        name: SAMPLES[name]
        for name in schema.get("properties", {})
        if name in SAMPLES and (name in required or name in FREE_TEXT)
    }


def valid_body(op: Operation) -> dict[str, Any]:
    return BODY_OVERRIDES.get(op.operation_id, base_body(op))


async def if_match(client: httpx.AsyncClient, path: str, headers: dict[str, str]) -> str:
    for suffix in ACTION_SUFFIXES:
        path = path.removesuffix(suffix)
    response = await client.get(path, headers=headers)
    # Comments and ratings have no GET of their own: the fixture's are at version 1.
    return response.headers.get("etag") if response.status_code == 200 else '"1"'


def url_of(op: Operation, resources: dict[str, str]) -> str:
    path = op.path
    overrides = PATH_OVERRIDES.get(op.operation_id, {})
    for name in op.path_params:
        path = path.replace("{" + name + "}", resources[overrides.get(name, name)])
    return path
