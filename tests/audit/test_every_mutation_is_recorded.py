"""Every mutating operation of the API leaves its audit event: a table of scenarios, one per
operationId of the OpenAPI document, and a test that fails when an operation has none."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from tests.conftest import Member, World

TEXT = "The minister said unemployment fell by half since 2020. Critics disagree."
CLAIM_SPAN = {"start": 18, "end": 54}  # "unemployment fell by half since 2020"


SCOPES = {"workspace_id": "workspace", "document_id": "document", "claim_id": "claim"}
"""The scoping columns of an audit event, and the entity each is the id of."""


@dataclass
class Expected:
    """The event the operation must leave: on which entity, with which action, by whom."""

    entity_type: str
    entity_id: str | None
    action: str
    actor: Member


class Scene:
    """A workspace to act in, with helpers that set up what an operation needs."""

    def __init__(self, client: httpx.AsyncClient, world: World) -> None:
        self.client = client
        self.world = world
        self.request_id = f"audit-{uuid.uuid4().hex}"

    async def call(
        self,
        method: str,
        url: str,
        who: Member,
        *,
        json: Any = None,
        version: int | None = None,
        setup: bool = False,
    ) -> dict[str, Any]:
        """Call the API; the call under test carries the scenario's request id."""
        headers = dict(who.headers)
        if version is not None:
            headers["If-Match"] = f'"{version}"'
        if not setup:
            headers["X-Request-ID"] = self.request_id
        response = await self.client.request(method, url, json=json, headers=headers)
        assert response.status_code < 300, f"{method} {url}: {response.text}"
        return response.json() if response.content else {}

    async def document(self) -> dict[str, Any]:
        return await self.call(
            "POST",
            "/api/v1/workspaces/acme/documents",
            self.world["editor"],
            json={"title": "Speech", "text": TEXT, "tags": ["economy"]},
            setup=True,
        )

    async def claim(self) -> dict[str, Any]:
        document = await self.document()
        return await self.call(
            "POST",
            f"/api/v1/documents/{document['id']}/claims",
            self.world["reviewer"],
            json={"spans": [CLAIM_SPAN]},
            setup=True,
        )

    async def verdict(self, claim: dict[str, Any] | None = None) -> dict[str, Any]:
        claim = claim or await self.claim()
        return await self.call(
            "POST",
            f"/api/v1/claims/{claim['id']}/verdicts",
            self.world["reviewer"],
            json={"rating": "false", "summary": "It fell by a fifth."},
            setup=True,
        )

    async def evidence(self) -> dict[str, Any]:
        claim = await self.claim()
        return await self.call(
            "POST",
            f"/api/v1/claims/{claim['id']}/evidence",
            self.world["reviewer"],
            json={"stance": "refutes", "sourceUrl": "https://stats.example.org/labour"},
            setup=True,
        )

    async def comment(self) -> dict[str, Any]:
        claim = await self.claim()
        return await self.call(
            "POST",
            f"/api/v1/claims/{claim['id']}/comments",
            self.world["reviewer"],
            json={"body": "Check the part-time figures."},
            setup=True,
        )

    async def rating(self) -> dict[str, Any]:
        return await self.call(
            "POST",
            "/api/v1/workspaces/acme/ratings",
            self.world["admin"],
            json={"key": "satire", "label": "Satire"},
            setup=True,
        )


Scenario = Callable[[Scene], Awaitable[Expected]]
SCENARIOS: dict[str, Scenario] = {}


def scenario(operation_id: str) -> Callable[[Scenario], Scenario]:
    def register(fn: Scenario) -> Scenario:
        SCENARIOS[operation_id] = fn
        return fn

    return register


# --- accounts ------------------------------------------------------------------------------


@scenario("login")
async def _login(s: Scene) -> Expected:
    editor = s.world["editor"]
    body = await s.call(
        "POST",
        "/api/v1/auth/login",
        editor,
        json={"email": editor.email, "password": "correct horse battery"},
    )
    return Expected("token", body["id"], "create", editor)


@scenario("createToken")
async def _create_token(s: Scene) -> Expected:
    body = await s.call("POST", "/api/v1/tokens", s.world["viewer"], json={"name": "laptop"})
    return Expected("token", body["id"], "create", s.world["viewer"])


@scenario("revokeToken")
async def _revoke_token(s: Scene) -> Expected:
    viewer = s.world["viewer"]
    token = await s.call("POST", "/api/v1/tokens", viewer, json={"name": "old"}, setup=True)
    await s.call("DELETE", f"/api/v1/tokens/{token['id']}", viewer)
    return Expected("token", token["id"], "update", viewer)


@scenario("createServiceToken")
async def _create_service_token(s: Scene) -> Expected:
    body = await s.call(
        "POST",
        "/api/v1/workspaces/acme/tokens",
        s.world["admin"],
        json={"name": "exports", "role": "viewer"},
    )
    return Expected("token", body["id"], "create", s.world["admin"])


@scenario("createWorkspace")
async def _create_workspace(s: Scene) -> Expected:
    body = await s.call(
        "POST", "/api/v1/workspaces", s.world["editor"], json={"name": "New", "slug": "new-ws"}
    )
    return Expected("workspace", body["id"], "create", s.world["editor"])


@scenario("updateWorkspace")
async def _update_workspace(s: Scene) -> Expected:
    admin = s.world["admin"]
    workspace = await s.call("GET", "/api/v1/workspaces/acme", admin, setup=True)
    await s.call(
        "PATCH",
        "/api/v1/workspaces/acme",
        admin,
        json={"name": "Acme Checks"},
        version=workspace["version"],
    )
    return Expected("workspace", workspace["id"], "update", admin)


@scenario("addMember")
async def _add_member(s: Scene) -> Expected:
    body = await s.call(
        "POST",
        "/api/v1/workspaces/acme/members",
        s.world["admin"],
        json={"email": s.world["nobody"].email, "role": "viewer"},
    )
    return Expected("membership", body["id"], "create", s.world["admin"])


@scenario("changeMemberRole")
async def _change_member_role(s: Scene) -> Expected:
    body = await s.call(
        "PATCH",
        f"/api/v1/workspaces/acme/members/{s.world['viewer'].user_id}",
        s.world["admin"],
        json={"role": "reviewer"},
    )
    return Expected("membership", body["id"], "update", s.world["admin"])


@scenario("removeMember")
async def _remove_member(s: Scene) -> Expected:
    await s.call(
        "DELETE", f"/api/v1/workspaces/acme/members/{s.world['viewer'].user_id}", s.world["admin"]
    )
    return Expected("membership", None, "member.removed", s.world["admin"])  # a hard delete


# --- documents -----------------------------------------------------------------------------


@scenario("createDocument")
async def _create_document(s: Scene) -> Expected:
    body = await s.call(
        "POST",
        "/api/v1/workspaces/acme/documents",
        s.world["editor"],
        json={"title": "Speech", "text": TEXT},
    )
    return Expected("document", body["id"], "create", s.world["editor"])


@scenario("updateDocument")
async def _update_document(s: Scene) -> Expected:
    document = await s.document()
    await s.call(
        "PATCH",
        f"/api/v1/documents/{document['id']}",
        s.world["editor"],
        json={"title": "Budget speech"},
        version=document["version"],
    )
    return Expected("document", document["id"], "update", s.world["editor"])


@scenario("deleteDocument")
async def _delete_document(s: Scene) -> Expected:
    document = await s.document()
    await s.call(
        "DELETE",
        f"/api/v1/documents/{document['id']}",
        s.world["editor"],
        version=document["version"],
    )
    return Expected("document", document["id"], "delete", s.world["editor"])


@scenario("purgeDocument")
async def _purge_document(s: Scene) -> Expected:
    document = await s.document()
    await s.call(
        "POST",
        f"/api/v1/documents/{document['id']}/purge",
        s.world["admin"],
        json={"reason": "Court order"},
    )
    return Expected("document", document["id"], "purge", s.world["admin"])


# --- annotations ---------------------------------------------------------------------------


@scenario("createClaim")
async def _create_claim(s: Scene) -> Expected:
    document = await s.document()
    body = await s.call(
        "POST",
        f"/api/v1/documents/{document['id']}/claims",
        s.world["reviewer"],
        json={"spans": [CLAIM_SPAN]},
    )
    return Expected("claim", body["id"], "create", s.world["reviewer"])


@scenario("updateClaim")
async def _update_claim(s: Scene) -> Expected:
    claim = await s.claim()
    await s.call(
        "PATCH",
        f"/api/v1/claims/{claim['id']}",
        s.world["reviewer"],
        json={"tags": ["jobs"]},
        version=claim["version"],
    )
    return Expected("claim", claim["id"], "update", s.world["reviewer"])


@scenario("deleteClaim")
async def _delete_claim(s: Scene) -> Expected:
    claim = await s.claim()
    await s.call(
        "DELETE", f"/api/v1/claims/{claim['id']}", s.world["editor"], version=claim["version"]
    )
    return Expected("claim", claim["id"], "delete", s.world["editor"])


@scenario("restoreClaim")
async def _restore_claim(s: Scene) -> Expected:
    claim = await s.claim()
    await s.call(
        "DELETE",
        f"/api/v1/claims/{claim['id']}",
        s.world["editor"],
        version=claim["version"],
        setup=True,
    )
    await s.call("POST", f"/api/v1/claims/{claim['id']}/restore", s.world["editor"])
    return Expected("claim", claim["id"], "restore", s.world["editor"])


@scenario("transitionClaim")
async def _transition_claim(s: Scene) -> Expected:
    claim = await s.claim()
    await s.call(
        "POST",
        f"/api/v1/claims/{claim['id']}/transitions",
        s.world["editor"],
        json={"to": "dismissed"},
        version=claim["version"],
    )
    return Expected("claim", claim["id"], "claim.dismissed", s.world["editor"])


@scenario("submitVerdict")
async def _submit_verdict(s: Scene) -> Expected:
    claim = await s.claim()
    body = await s.call(
        "POST",
        f"/api/v1/claims/{claim['id']}/verdicts",
        s.world["reviewer"],
        json={"rating": "false", "summary": "It fell by a fifth."},
    )
    return Expected("verdict", body["id"], "create", s.world["reviewer"])


@scenario("updateVerdict")
async def _update_verdict(s: Scene) -> Expected:
    verdict = await s.verdict()
    await s.call(
        "PATCH",
        f"/api/v1/verdicts/{verdict['id']}",
        s.world["reviewer"],
        json={"summary": "It fell by 20%."},
        version=verdict["version"],
    )
    return Expected("verdict", verdict["id"], "update", s.world["reviewer"])


@scenario("deleteVerdict")
async def _delete_verdict(s: Scene) -> Expected:
    verdict = await s.verdict()
    await s.call(
        "DELETE",
        f"/api/v1/verdicts/{verdict['id']}",
        s.world["editor"],
        version=verdict["version"],
    )
    return Expected("verdict", verdict["id"], "delete", s.world["editor"])


@scenario("approveVerdict")
async def _approve_verdict(s: Scene) -> Expected:
    verdict = await s.verdict()
    await s.call(
        "POST",
        f"/api/v1/verdicts/{verdict['id']}/approve",
        s.world["editor"],
        version=verdict["version"],
    )
    return Expected("verdict", verdict["id"], "verdict.approved", s.world["editor"])


@scenario("correctClaim")
async def _correct_claim(s: Scene) -> Expected:
    claim = await s.claim()
    verdict = await s.verdict(claim)
    verified = await s.call(
        "POST",
        f"/api/v1/verdicts/{verdict['id']}/approve",
        s.world["editor"],
        version=verdict["version"],
        setup=True,
    )
    await s.call(
        "POST",
        f"/api/v1/claims/{claim['id']}/corrections",
        s.world["editor"],
        json={
            "note": "New figures.",
            "verdict": {"rating": "half-true", "summary": "It fell by 40%."},
        },
        version=verified["version"],
    )
    return Expected("claim", claim["id"], "claim.corrected", s.world["editor"])


@scenario("addEvidence")
async def _add_evidence(s: Scene) -> Expected:
    claim = await s.claim()
    body = await s.call(
        "POST",
        f"/api/v1/claims/{claim['id']}/evidence",
        s.world["reviewer"],
        json={"stance": "supports", "sourceUrl": "https://example.org/report"},
    )
    return Expected("evidence", body["id"], "create", s.world["reviewer"])


@scenario("updateEvidence")
async def _update_evidence(s: Scene) -> Expected:
    evidence = await s.evidence()
    await s.call(
        "PATCH",
        f"/api/v1/evidence/{evidence['id']}",
        s.world["reviewer"],
        json={"notes": "Table 3."},
        version=evidence["version"],
    )
    return Expected("evidence", evidence["id"], "update", s.world["reviewer"])


@scenario("deleteEvidence")
async def _delete_evidence(s: Scene) -> Expected:
    evidence = await s.evidence()
    await s.call(
        "DELETE",
        f"/api/v1/evidence/{evidence['id']}",
        s.world["editor"],
        version=evidence["version"],
    )
    return Expected("evidence", evidence["id"], "delete", s.world["editor"])


@scenario("restoreEvidence")
async def _restore_evidence(s: Scene) -> Expected:
    evidence = await s.evidence()
    await s.call(
        "DELETE",
        f"/api/v1/evidence/{evidence['id']}",
        s.world["editor"],
        version=evidence["version"],
        setup=True,
    )
    await s.call("POST", f"/api/v1/evidence/{evidence['id']}/restore", s.world["editor"])
    return Expected("evidence", evidence["id"], "restore", s.world["editor"])


@scenario("addComment")
async def _add_comment(s: Scene) -> Expected:
    claim = await s.claim()
    body = await s.call(
        "POST",
        f"/api/v1/claims/{claim['id']}/comments",
        s.world["reviewer"],
        json={"body": "Check the part-time figures."},
    )
    return Expected("comment", body["id"], "create", s.world["reviewer"])


@scenario("editComment")
async def _edit_comment(s: Scene) -> Expected:
    comment = await s.comment()
    await s.call(
        "PATCH",
        f"/api/v1/comments/{comment['id']}",
        s.world["reviewer"],
        json={"body": "Check the part-time figures, table 3."},
        version=comment["version"],
    )
    return Expected("comment", comment["id"], "update", s.world["reviewer"])


@scenario("deleteComment")
async def _delete_comment(s: Scene) -> Expected:
    comment = await s.comment()
    await s.call(
        "DELETE",
        f"/api/v1/comments/{comment['id']}",
        s.world["reviewer"],
        version=comment["version"],
    )
    return Expected("comment", comment["id"], "delete", s.world["reviewer"])


@scenario("createRating")
async def _create_rating(s: Scene) -> Expected:
    body = await s.call(
        "POST",
        "/api/v1/workspaces/acme/ratings",
        s.world["admin"],
        json={"key": "satire", "label": "Satire"},
    )
    return Expected("rating", body["id"], "create", s.world["admin"])


@scenario("updateRating")
async def _update_rating(s: Scene) -> Expected:
    rating = await s.rating()
    await s.call(
        "PATCH",
        f"/api/v1/ratings/{rating['id']}",
        s.world["admin"],
        json={"label": "Satire or parody"},
        version=rating["version"],
    )
    return Expected("rating", rating["id"], "update", s.world["admin"])


@scenario("deleteRating")
async def _delete_rating(s: Scene) -> Expected:
    rating = await s.rating()
    await s.call(
        "DELETE", f"/api/v1/ratings/{rating['id']}", s.world["admin"], version=rating["version"]
    )
    return Expected("rating", rating["id"], "delete", s.world["admin"])


# --- the tests -----------------------------------------------------------------------------

MUTATING = {"post", "put", "patch", "delete"}
# Operations that change no audited row.
NOT_AUDITED: dict[str, str] = {}


async def test_every_mutating_operation_has_a_scenario_showing_its_event(
    client: httpx.AsyncClient,
) -> None:
    schema = (await client.get("/schema/openapi.json")).json()
    operations = {
        op["operationId"]
        for path in schema["paths"].values()
        for method, op in path.items()
        if method in MUTATING
    }
    assert len(operations) > 20
    assert operations - SCENARIOS.keys() - NOT_AUDITED.keys() == set()
    assert SCENARIOS.keys() - operations == set()  # no scenario for a removed operation


@pytest.mark.parametrize("operation_id", sorted(SCENARIOS))
async def test_operation_leaves_its_audit_event(
    client: httpx.AsyncClient, world: World, session: AsyncSession, operation_id: str
) -> None:
    scene = Scene(client, world)
    before = (
        await session.execute(text("SELECT coalesce(max(seq), 0) FROM audit_events"))
    ).scalar_one()
    expected = await SCENARIOS[operation_id](scene)
    rows = (
        await session.execute(
            text(
                "SELECT entity_type, entity_id::text, action, actor_id, request_id, seq, "
                "workspace_id::text, document_id::text, claim_id::text, after, before "
                "FROM audit_events WHERE seq > :before ORDER BY seq"
            ),
            {"before": before},
        )
    ).all()
    rows = [r for r in rows if r.request_id == scene.request_id]
    matching = [
        r
        for r in rows
        if r.entity_type == expected.entity_type
        and (expected.entity_id is None or r.entity_id == expected.entity_id)
        and r.action == expected.action
    ]
    assert matching, f"{operation_id}: no {expected} among {[tuple(r) for r in rows]}"
    assert {r.actor_id for r in matching} == {str(expected.actor.user_id)}
    for row in rows:  # each event is filed under the workspace, document and claim of its row
        image = row.after or row.before
        for column, own in SCOPES.items():
            wanted = row.entity_id if row.entity_type == own else image.get(column)
            assert getattr(row, column) == wanted, (operation_id, row.entity_type, column)


async def test_creates_record_their_after_image_and_no_diff(
    client: httpx.AsyncClient, world: World, session: AsyncSession
) -> None:
    """Creates take the trigger's own path: each records its after-image, no ``before`` and
    no ``changed_fields``; a row created and then changed in one request (a correction's new
    verdict, approved at once) records both, in order."""
    scene = Scene(client, world)
    claim = await scene.claim()
    verdict = await scene.verdict(claim)
    verified = await scene.call(
        "POST",
        f"/api/v1/verdicts/{verdict['id']}/approve",
        world["editor"],
        version=verdict["version"],
        setup=True,
    )
    corrected = await scene.call(
        "POST",
        f"/api/v1/claims/{claim['id']}/corrections",
        world["editor"],
        json={"note": "New figures.", "verdict": {"rating": "half-true", "summary": "40%."}},
        version=verified["version"],
    )
    correction = corrected["corrections"][-1]
    rows = (
        await session.execute(
            text(
                "SELECT entity_type, entity_id::text, action, actor_id, claim_id::text, "
                "after, before, changed_fields FROM audit_events WHERE request_id = :r "
                "ORDER BY seq"
            ),
            {"r": scene.request_id},
        )
    ).all()
    new_verdict = [r for r in rows if r.entity_id == correction["newVerdictId"]]
    assert [r.action for r in new_verdict] == ["create", "verdict.approved"]
    create = new_verdict[0]
    assert create.actor_id == str(world["editor"].user_id)
    assert create.claim_id == claim["id"]
    assert create.after["id"] == correction["newVerdictId"]
    assert create.after["state"] == "submitted"
    assert create.before is None
    assert create.changed_fields is None
    assert new_verdict[1].changed_fields  # the approval's diff
    (recorded,) = [r for r in rows if r.entity_type == "correction"]
    assert (recorded.action, recorded.after["note"]) == ("create", "New figures.")


async def test_a_create_records_the_action_its_transaction_named(
    world: World, session: AsyncSession
) -> None:
    """The trigger names a create as the transaction asked (``factmark.actions``, as
    ``flush_as`` sets it), else ``create``; with the actor and request id of the context."""
    workspace_id = (
        await session.execute(text("SELECT id FROM workspaces WHERE slug = 'acme'"))
    ).scalar_one()
    named, plain = uuid.uuid4(), uuid.uuid4()
    actor = '{"kind": "user", "id": "someone", "name": "Some One", "requestId": "req-1"}'
    await session.execute(text("SELECT set_config('factmark.actor', :a, true)"), {"a": actor})
    await session.execute(
        text("SELECT set_config('factmark.actions', :a, true)"),
        {"a": f'{{"{named}": "rating.imported"}}'},
    )
    for rating_id, key in ((named, "imported"), (plain, "plain")):
        await session.execute(
            text(
                "INSERT INTO ratings (id, workspace_id, key, label, ordinal) "
                "VALUES (:id, :ws, :key, :key, 99)"
            ),
            {"id": rating_id, "ws": workspace_id, "key": f"{key}-{rating_id.hex[:6]}"},
        )
    rows = (
        await session.execute(
            text(
                "SELECT entity_id, action, actor_id, actor_name, request_id, workspace_id "
                "FROM audit_events WHERE entity_id IN (:a, :b) ORDER BY seq"
            ),
            {"a": named, "b": plain},
        )
    ).all()
    await session.rollback()
    assert [(r.entity_id, r.action) for r in rows] == [
        (named, "rating.imported"),
        (plain, "create"),
    ]
    assert {(r.actor_id, r.actor_name, r.request_id) for r in rows} == {
        ("someone", "Some One", "req-1")
    }
    assert {r.workspace_id for r in rows} == {workspace_id}
