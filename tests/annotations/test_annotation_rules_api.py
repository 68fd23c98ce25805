"""Table-driven: every annotation operation by role, If-Match on every change, idempotent
creates."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from tests.annotations.conftest import TEXT, create_claim, span_of
from tests.conftest import World, count_rows


@dataclass
class Scene:
    document: dict[str, Any]
    claim: dict[str, Any]
    verdict: dict[str, Any]
    evidence: dict[str, Any]
    comment: dict[str, Any]
    rating: dict[str, Any]


async def build_scene(client: httpx.AsyncClient, world: World, document: dict[str, Any]) -> Scene:
    reviewer = world["reviewer"].headers
    claim = await create_claim(client, world["reviewer"], document["id"])
    verdict = (
        await client.post(
            f"/api/v1/claims/{claim['id']}/verdicts",
            json={"rating": "false", "summary": "No."},
            headers=reviewer,
        )
    ).json()
    claim = (await client.get(f"/api/v1/claims/{claim['id']}", headers=reviewer)).json()
    evidence = (
        await client.post(
            f"/api/v1/claims/{claim['id']}/evidence",
            json={"stance": "refutes", "sourceUrl": "https://e.example.org/1"},
            headers=reviewer,
        )
    ).json()
    comment = (
        await client.post(
            f"/api/v1/claims/{claim['id']}/comments", json={"body": "hm"}, headers=reviewer
        )
    ).json()
    rating = (
        await client.post(
            "/api/v1/workspaces/acme/ratings",
            json={"key": f"scene-{uuid.uuid4().hex[:8]}", "label": "Scene rating"},
            headers=world["admin"].headers,
        )
    ).json()
    return Scene(document, claim, verdict, evidence, comment, rating)


Call = Callable[[httpx.AsyncClient, Scene, dict[str, str]], Awaitable[httpx.Response]]


def _v(resource: dict[str, Any]) -> dict[str, str]:
    return {"If-Match": f'"{resource["version"]}"'}


OPERATIONS: dict[str, tuple[Call, dict[str, int]]] = {
    # name: (call, expected status per role; a reviewer acts on rows a reviewer created)
    "createClaim": (
        lambda c, s, h: c.post(
            f"/api/v1/documents/{s.document['id']}/claims",
            json={"spans": [span_of(TEXT, "Critics")]},
            headers=h,
        ),
        {"viewer": 403, "reviewer": 201, "editor": 201, "admin": 201, "outsider": 404},
    ),
    "updateClaim": (
        lambda c, s, h: c.patch(
            f"/api/v1/claims/{s.claim['id']}", json={"tags": ["x"]}, headers={**_v(s.claim), **h}
        ),
        {"viewer": 403, "reviewer": 200, "editor": 200, "admin": 200, "outsider": 404},
    ),
    "deleteClaim": (
        lambda c, s, h: c.delete(f"/api/v1/claims/{s.claim['id']}", headers={**_v(s.claim), **h}),
        {"viewer": 403, "reviewer": 204, "editor": 204, "admin": 204, "outsider": 404},
    ),
    "transitionClaim": (
        lambda c, s, h: c.post(
            f"/api/v1/claims/{s.claim['id']}/transitions",
            json={"to": "dismissed"},
            headers={**_v(s.claim), **h},
        ),
        {"viewer": 409, "reviewer": 200, "editor": 200, "admin": 200, "outsider": 404},
    ),
    "restoreClaim": (
        lambda c, s, h: c.post(f"/api/v1/claims/{s.claim['id']}/restore", headers=h),
        # not deleted: editors get 409, the others are refused before that
        {"viewer": 403, "reviewer": 403, "editor": 409, "admin": 409, "outsider": 404},
    ),
    "submitVerdict": (
        lambda c, s, h: c.post(
            f"/api/v1/claims/{s.claim['id']}/verdicts",
            json={"rating": "true", "summary": "Yes."},
            headers=h,
        ),
        {"viewer": 403, "reviewer": 201, "editor": 201, "admin": 201, "outsider": 404},
    ),
    "updateVerdict": (
        lambda c, s, h: c.patch(
            f"/api/v1/verdicts/{s.verdict['id']}",
            json={"summary": "Still no."},
            headers={**_v(s.verdict), **h},
        ),
        {"viewer": 403, "reviewer": 200, "editor": 200, "admin": 200, "outsider": 404},
    ),
    "deleteVerdict": (
        lambda c, s, h: c.delete(
            f"/api/v1/verdicts/{s.verdict['id']}", headers={**_v(s.verdict), **h}
        ),
        {"viewer": 403, "reviewer": 204, "editor": 204, "admin": 204, "outsider": 404},
    ),
    "approveVerdict": (
        lambda c, s, h: c.post(
            f"/api/v1/verdicts/{s.verdict['id']}/approve", headers={**_v(s.verdict), **h}
        ),
        {"viewer": 403, "reviewer": 403, "editor": 200, "admin": 200, "outsider": 404},
    ),
    "addEvidence": (
        lambda c, s, h: c.post(
            f"/api/v1/claims/{s.claim['id']}/evidence",
            json={"stance": "context", "sourceUrl": "https://e.example.org/2"},
            headers=h,
        ),
        {"viewer": 403, "reviewer": 201, "editor": 201, "admin": 201, "outsider": 404},
    ),
    "updateEvidence": (
        lambda c, s, h: c.patch(
            f"/api/v1/evidence/{s.evidence['id']}",
            json={"notes": "checked"},
            headers={**_v(s.evidence), **h},
        ),
        {"viewer": 403, "reviewer": 200, "editor": 200, "admin": 200, "outsider": 404},
    ),
    "deleteEvidence": (
        lambda c, s, h: c.delete(
            f"/api/v1/evidence/{s.evidence['id']}", headers={**_v(s.evidence), **h}
        ),
        {"viewer": 403, "reviewer": 204, "editor": 204, "admin": 204, "outsider": 404},
    ),
    "addComment": (
        lambda c, s, h: c.post(
            f"/api/v1/claims/{s.claim['id']}/comments", json={"body": "+1"}, headers=h
        ),
        {"viewer": 403, "reviewer": 201, "editor": 201, "admin": 201, "outsider": 404},
    ),
    "editComment": (
        lambda c, s, h: c.patch(
            f"/api/v1/comments/{s.comment['id']}",
            json={"body": "edited"},
            headers={**_v(s.comment), **h},
        ),
        # only the author edits a comment
        {"viewer": 403, "reviewer": 200, "editor": 403, "admin": 403, "outsider": 404},
    ),
    "deleteComment": (
        lambda c, s, h: c.delete(
            f"/api/v1/comments/{s.comment['id']}", headers={**_v(s.comment), **h}
        ),
        {"viewer": 403, "reviewer": 204, "editor": 204, "admin": 204, "outsider": 404},
    ),
    "createRating": (
        lambda c, s, h: c.post(
            "/api/v1/workspaces/acme/ratings",
            json={"key": f"satire-{uuid.uuid4().hex[:8]}", "label": "Satire"},
            headers=h,
        ),
        {"viewer": 403, "reviewer": 403, "editor": 201, "admin": 201, "outsider": 404},
    ),
    "updateRating": (
        lambda c, s, h: c.patch(
            f"/api/v1/ratings/{s.rating['id']}",
            json={"label": "Cannot be verified"},
            headers={**_v(s.rating), **h},
        ),
        {"viewer": 403, "reviewer": 403, "editor": 200, "admin": 200, "outsider": 404},
    ),
    "deleteRating": (
        lambda c, s, h: c.delete(
            f"/api/v1/ratings/{s.rating['id']}", headers={**_v(s.rating), **h}
        ),
        {"viewer": 403, "reviewer": 403, "editor": 204, "admin": 204, "outsider": 404},
    ),
}

ROLES = ("viewer", "reviewer", "editor", "admin", "outsider")


@pytest.mark.parametrize("operation", sorted(OPERATIONS))
async def test_role_matrix(
    client: httpx.AsyncClient, world: World, document: dict[str, Any], operation: str
) -> None:
    call, expected = OPERATIONS[operation]
    results = {}
    for role in ROLES:
        scene = await build_scene(client, world, document)
        response = await call(client, scene, world[role].headers)
        results[role] = response.status_code
    assert results == expected


# Operations that change an existing row: If-Match missing gives 428, stale gives 412.
GUARDED = [
    name for name in OPERATIONS if not name.startswith(("create", "submit", "add", "restore"))
]


@pytest.mark.parametrize("operation", GUARDED)
async def test_if_match_is_required_and_checked(
    client: httpx.AsyncClient,
    world: World,
    document: dict[str, Any],
    operation: str,
    session: AsyncSession,
) -> None:
    call, _ = OPERATIONS[operation]
    scene = await build_scene(client, world, document)
    editor = world["editor"].headers if operation != "editComment" else world["reviewer"].headers
    before = await count_rows(session, "audit_events")

    def stale(resource: dict[str, Any]) -> dict[str, Any]:
        return {**resource, "version": resource["version"] + 5}

    stale_scene = Scene(
        scene.document,
        stale(scene.claim),
        stale(scene.verdict),
        stale(scene.evidence),
        stale(scene.comment),
        stale(scene.rating),
    )
    response = await call(client, stale_scene, editor)
    assert response.status_code == 412, response.text
    assert response.json()["code"] == "version_mismatch"
    assert isinstance(response.json()["currentVersion"], int)
    missing = await call(client, scene, {**editor, "If-Match": ""})
    assert missing.status_code == 428
    assert await count_rows(session, "audit_events") == before


@pytest.mark.parametrize("operation", ["createClaim", "submitVerdict", "addEvidence", "addComment"])
async def test_idempotent_replay_writes_nothing_twice(
    client: httpx.AsyncClient,
    world: World,
    document: dict[str, Any],
    operation: str,
    session: AsyncSession,
) -> None:
    call, _ = OPERATIONS[operation]
    scene = await build_scene(client, world, document)
    headers = {**world["editor"].headers, "Idempotency-Key": f"key-{operation}"}
    first = await call(client, scene, headers)
    assert first.status_code == 201, first.text
    events = await count_rows(session, "audit_events")
    replay = await call(client, scene, headers)
    assert replay.status_code == 201
    assert replay.json() == first.json()
    assert replay.headers["idempotent-replayed"] == "true"
    assert await count_rows(session, "audit_events") == events
