"""What each role may and may not do on workspaces, members, service tokens and documents."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from tests.conftest import World, count_rows

ROLES = ("viewer", "reviewer", "editor", "admin")


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def article(n: int = 0) -> dict[str, Any]:
    return {"title": f"Article {n}", "text": f"Body of article number {n}."}


async def create_document(client: httpx.AsyncClient, world: World, n: int = 0) -> dict[str, Any]:
    response = await client.post(
        "/api/v1/workspaces/acme/documents", json=article(n), headers=world["editor"].headers
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def assert_problem(response: httpx.Response, status: int, code: str | None = None) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    if code is not None:
        assert response.json()["code"] == code


# --- workspaces ---------------------------------------------------------------------------


async def test_any_signed_in_user_creates_a_workspace_and_becomes_its_admin(
    client: httpx.AsyncClient, world: World
) -> None:
    nobody = world["nobody"].headers
    created = await client.post(
        "/api/v1/workspaces", json={"name": "Newsroom", "slug": "newsroom"}, headers=nobody
    )
    assert created.status_code == 201, created.text
    assert created.json()["role"] == "admin"
    assert created.headers["etag"] == '"1"'
    listed = await client.get("/api/v1/workspaces", headers=nobody)
    assert [w["slug"] for w in listed.json()["items"]] == ["newsroom"]
    members = await client.get("/api/v1/workspaces/newsroom/members", headers=nobody)
    assert [(m["email"], m["role"]) for m in members.json()["items"]] == [
        ("nobody@acme.test", "admin")
    ]


async def test_creating_a_workspace_with_a_taken_slug_returns_409(
    client: httpx.AsyncClient, world: World
) -> None:
    response = await client.post(
        "/api/v1/workspaces",
        json={"name": "Acme 2", "slug": "acme"},
        headers=world["nobody"].headers,
    )
    assert_problem(response, 409, "slug_taken")


@pytest.mark.parametrize("role", ROLES)
async def test_every_member_reads_the_workspace_and_its_members(
    client: httpx.AsyncClient, world: World, role: str
) -> None:
    headers = world[role].headers
    got = await client.get("/api/v1/workspaces/acme", headers=headers)
    assert got.status_code == 200
    assert got.json()["role"] == role
    assert got.headers["etag"] == f'"{got.json()["version"]}"'
    by_id = await client.get(f"/api/v1/workspaces/{world.workspace_id}", headers=headers)
    assert by_id.json()["slug"] == "acme"
    members = await client.get("/api/v1/workspaces/acme/members", headers=headers)
    assert members.status_code == 200
    assert {m["role"] for m in members.json()["items"]} == set(ROLES)
    listed = await client.get("/api/v1/workspaces", headers=headers)
    assert [w["slug"] for w in listed.json()["items"]] == ["acme"]


async def test_admin_renames_the_workspace_with_if_match(
    client: httpx.AsyncClient, world: World
) -> None:
    headers = world["admin"].headers
    response = await client.patch(
        "/api/v1/workspaces/acme",
        json={"name": "Acme Fact Desk", "settings": {"organisationName": "Acme"}},
        headers={**headers, "If-Match": '"1"'},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["name"] == "Acme Fact Desk"
    assert body["settings"] == {"organisationName": "Acme"}
    assert body["version"] == 2
    assert response.headers["etag"] == '"2"'


async def test_workspace_patch_needs_if_match_and_refuses_a_stale_one(
    client: httpx.AsyncClient, world: World
) -> None:
    headers = world["admin"].headers
    missing = await client.patch("/api/v1/workspaces/acme", json={"name": "X"}, headers=headers)
    assert_problem(missing, 428, "if_match_required")
    stale = await client.patch(
        "/api/v1/workspaces/acme", json={"name": "X"}, headers={**headers, "If-Match": '"7"'}
    )
    assert_problem(stale, 412, "version_mismatch")
    assert stale.json()["currentVersion"] == 1
    assert stale.headers["etag"] == '"1"'
    got = await client.get("/api/v1/workspaces/acme", headers=headers)
    assert got.json()["name"] == "Acme"


@pytest.mark.parametrize("role", ["viewer", "reviewer", "editor"])
async def test_non_admins_may_not_patch_the_workspace(
    client: httpx.AsyncClient, world: World, role: str
) -> None:
    response = await client.patch(
        "/api/v1/workspaces/acme",
        json={"name": "Hijacked"},
        headers={**world[role].headers, "If-Match": '"1"'},
    )
    assert_problem(response, 403, "forbidden")
    got = await client.get("/api/v1/workspaces/acme", headers=world[role].headers)
    assert got.json()["name"] == "Acme"


# --- members ------------------------------------------------------------------------------


async def test_admin_adds_changes_and_removes_a_member(
    client: httpx.AsyncClient, world: World
) -> None:
    headers = world["admin"].headers
    nobody = world["nobody"]
    added = await client.post(
        "/api/v1/workspaces/acme/members",
        json={"email": nobody.email, "role": "reviewer"},
        headers=headers,
    )
    assert added.status_code == 201, added.text
    assert added.json()["userId"] == str(nobody.user_id)
    me = await client.get("/api/v1/me", headers=nobody.headers)
    assert [w["role"] for w in me.json()["workspaces"]] == ["reviewer"]

    changed = await client.patch(
        f"/api/v1/workspaces/acme/members/{nobody.user_id}",
        json={"role": "editor"},
        headers=headers,
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["role"] == "editor"
    assert changed.json()["version"] == 2
    # The new role applies to the member's very next request.
    assert (
        await client.post(
            "/api/v1/workspaces/acme/documents", json=article(), headers=nobody.headers
        )
    ).status_code == 201

    removed = await client.delete(
        f"/api/v1/workspaces/acme/members/{nobody.user_id}", headers=headers
    )
    assert removed.status_code == 204, removed.text
    assert (await client.get("/api/v1/workspaces/acme", headers=nobody.headers)).status_code == 404


async def test_adding_an_existing_member_or_an_unknown_email_fails(
    client: httpx.AsyncClient, world: World
) -> None:
    headers = world["admin"].headers
    again = await client.post(
        "/api/v1/workspaces/acme/members",
        json={"email": world["viewer"].email, "role": "editor"},
        headers=headers,
    )
    assert_problem(again, 409, "already_member")
    unknown = await client.post(
        "/api/v1/workspaces/acme/members",
        json={"email": "ghost@acme.test", "role": "viewer"},
        headers=headers,
    )
    assert_problem(unknown, 422, "user_not_found")
    assert unknown.json()["errors"][0]["field"] == "email"
    bad_role = await client.post(
        "/api/v1/workspaces/acme/members",
        json={"email": world["nobody"].email, "role": "owner"},
        headers=headers,
    )
    assert_problem(bad_role, 422)


@pytest.mark.parametrize("role", ["viewer", "reviewer", "editor"])
async def test_non_admins_may_not_manage_members(
    client: httpx.AsyncClient, world: World, role: str, session: AsyncSession
) -> None:
    headers = world[role].headers
    before = await count_rows(session, "memberships")
    add = await client.post(
        "/api/v1/workspaces/acme/members",
        json={"email": world["nobody"].email, "role": "admin"},
        headers=headers,
    )
    assert_problem(add, 403)
    promote = await client.patch(
        f"/api/v1/workspaces/acme/members/{world[role].user_id}",
        json={"role": "admin"},
        headers=headers,
    )
    assert_problem(promote, 403)
    remove = await client.delete(
        f"/api/v1/workspaces/acme/members/{world['admin'].user_id}", headers=headers
    )
    assert_problem(remove, 403)
    assert await count_rows(session, "memberships") == before
    me = await client.get("/api/v1/me", headers=headers)
    assert me.json()["workspaces"][0]["role"] == role


async def test_the_last_admin_can_be_neither_demoted_nor_removed(
    client: httpx.AsyncClient, world: World
) -> None:
    admin = world["admin"]
    demote = await client.patch(
        f"/api/v1/workspaces/acme/members/{admin.user_id}",
        json={"role": "editor"},
        headers=admin.headers,
    )
    assert_problem(demote, 409, "last_admin")
    remove = await client.delete(
        f"/api/v1/workspaces/acme/members/{admin.user_id}", headers=admin.headers
    )
    assert_problem(remove, 409, "last_admin")
    me = await client.get("/api/v1/me", headers=admin.headers)
    assert me.json()["workspaces"][0]["role"] == "admin"

    # With a second admin, the first may step down.
    promote = await client.patch(
        f"/api/v1/workspaces/acme/members/{world['editor'].user_id}",
        json={"role": "admin"},
        headers=admin.headers,
    )
    assert promote.status_code == 200
    step_down = await client.patch(
        f"/api/v1/workspaces/acme/members/{admin.user_id}",
        json={"role": "viewer"},
        headers=admin.headers,
    )
    assert step_down.status_code == 200, step_down.text
    assert step_down.json()["role"] == "viewer"


async def test_member_change_with_stale_if_match_returns_412(
    client: httpx.AsyncClient, world: World
) -> None:
    response = await client.patch(
        f"/api/v1/workspaces/acme/members/{world['viewer'].user_id}",
        json={"role": "editor"},
        headers={**world["admin"].headers, "If-Match": '"5"'},
    )
    assert_problem(response, 412, "version_mismatch")
    assert response.json()["currentVersion"] == 1


async def test_changing_an_unknown_member_returns_404(
    client: httpx.AsyncClient, world: World
) -> None:
    response = await client.patch(
        f"/api/v1/workspaces/acme/members/{world['nobody'].user_id}",
        json={"role": "editor"},
        headers=world["admin"].headers,
    )
    assert_problem(response, 404)


# --- service tokens -----------------------------------------------------------------------


async def test_admin_creates_a_viewer_service_token_that_reads_but_cannot_write(
    client: httpx.AsyncClient, world: World, session: AsyncSession
) -> None:
    document = await create_document(client, world)
    created = await client.post(
        "/api/v1/workspaces/acme/tokens",
        json={"name": "exporter", "role": "viewer", "expiresInDays": 30},
        headers=world["admin"].headers,
    )
    assert created.status_code == 201, created.text
    issued = created.json()
    assert issued["role"] == "viewer"
    assert issued["workspaceId"] == str(world.workspace_id)
    service = bearer(issued["token"])

    listed = await client.get("/api/v1/workspaces/acme/documents", headers=service)
    assert listed.status_code == 200
    assert [d["id"] for d in listed.json()["items"]] == [document["id"]]
    got = await client.get(f"/api/v1/documents/{document['id']}", headers=service)
    assert got.status_code == 200
    me = await client.get("/api/v1/me", headers=service)
    assert me.json()["kind"] == "token"
    assert [w["role"] for w in me.json()["workspaces"]] == ["viewer"]

    before = await count_rows(session, "documents")
    write = await client.post("/api/v1/workspaces/acme/documents", json=article(1), headers=service)
    assert_problem(write, 403)
    patch = await client.patch(
        f"/api/v1/documents/{document['id']}",
        json={"title": "Changed"},
        headers={**service, "If-Match": '"1"'},
    )
    assert_problem(patch, 403)
    assert await count_rows(session, "documents") == before
    # A service token cannot mint more credentials or workspaces.
    assert_problem(await client.post("/api/v1/tokens", json={"name": "more"}, headers=service), 403)
    assert_problem(
        await client.post(
            "/api/v1/workspaces", json={"name": "Mine", "slug": "mine"}, headers=service
        ),
        403,
    )
    # ...and it sees nothing of the other workspace.
    assert_problem(await client.get("/api/v1/workspaces/other", headers=service), 404)


async def test_admin_lists_and_revokes_service_tokens(
    client: httpx.AsyncClient, world: World
) -> None:
    admin = world["admin"].headers
    issued = (
        await client.post(
            "/api/v1/workspaces/acme/tokens", json={"name": "bot", "role": "editor"}, headers=admin
        )
    ).json()
    listed = await client.get("/api/v1/workspaces/acme/tokens", headers=admin)
    assert listed.status_code == 200
    assert [(t["id"], t["role"], t["userId"]) for t in listed.json()["items"]] == [
        (issued["id"], "editor", None)
    ]
    revoked = await client.delete(f"/api/v1/tokens/{issued['id']}", headers=admin)
    assert revoked.status_code == 204
    assert_problem(await client.get("/api/v1/me", headers=bearer(issued["token"])), 401)


@pytest.mark.parametrize("role", ["viewer", "reviewer", "editor"])
async def test_non_admins_may_not_create_or_list_service_tokens(
    client: httpx.AsyncClient, world: World, role: str, session: AsyncSession
) -> None:
    before = await count_rows(session, "api_tokens")
    created = await client.post(
        "/api/v1/workspaces/acme/tokens", json={"name": "bot"}, headers=world[role].headers
    )
    assert_problem(created, 403)
    listed = await client.get("/api/v1/workspaces/acme/tokens", headers=world[role].headers)
    assert_problem(listed, 403)
    assert await count_rows(session, "api_tokens") == before


# --- documents ----------------------------------------------------------------------------


@pytest.mark.parametrize("role", ROLES)
async def test_every_role_reads_documents(
    client: httpx.AsyncClient, world: World, role: str
) -> None:
    document = await create_document(client, world)
    listed = await client.get("/api/v1/workspaces/acme/documents", headers=world[role].headers)
    assert listed.status_code == 200
    assert [d["id"] for d in listed.json()["items"]] == [document["id"]]
    got = await client.get(f"/api/v1/documents/{document['id']}", headers=world[role].headers)
    assert got.status_code == 200
    assert got.json()["text"] == article()["text"]


@pytest.mark.parametrize("role", ["viewer", "reviewer"])
async def test_viewers_and_reviewers_may_not_change_documents(
    client: httpx.AsyncClient, world: World, role: str, session: AsyncSession
) -> None:
    document = await create_document(client, world)
    headers = world[role].headers
    before = await count_rows(session, "documents")
    assert_problem(
        await client.post("/api/v1/workspaces/acme/documents", json=article(1), headers=headers),
        403,
    )
    assert_problem(
        await client.patch(
            f"/api/v1/documents/{document['id']}",
            json={"title": "Changed"},
            headers={**headers, "If-Match": '"1"'},
        ),
        403,
    )
    assert_problem(
        await client.delete(
            f"/api/v1/documents/{document['id']}", headers={**headers, "If-Match": '"1"'}
        ),
        403,
    )
    assert await count_rows(session, "documents") == before
    got = await client.get(f"/api/v1/documents/{document['id']}", headers=headers)
    assert got.json()["title"] == "Article 0"
    assert got.json()["version"] == 1


@pytest.mark.parametrize("role", ["editor", "admin"])
async def test_editors_and_admins_create_patch_and_delete_documents(
    client: httpx.AsyncClient, world: World, role: str
) -> None:
    headers = world[role].headers
    created = await client.post(
        "/api/v1/workspaces/acme/documents", json=article(), headers=headers
    )
    assert created.status_code == 201, created.text
    doc_id = created.json()["id"]
    patched = await client.patch(
        f"/api/v1/documents/{doc_id}",
        json={"title": "Corrected title", "tags": ["politics"]},
        headers={**headers, "If-Match": created.headers["etag"]},
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["title"] == "Corrected title"
    assert patched.json()["tags"] == ["politics"]
    assert patched.headers["etag"] == '"2"'
    deleted = await client.delete(
        f"/api/v1/documents/{doc_id}", headers={**headers, "If-Match": '"2"'}
    )
    assert deleted.status_code == 204, deleted.text
    assert_problem(await client.get(f"/api/v1/documents/{doc_id}", headers=headers), 404)
