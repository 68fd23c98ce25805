"""A member of one workspace gets 404 on everything of another: nothing reveals it exists."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from tests.conftest import World, count_rows

ARTICLE = {"title": "Acme's scoop", "text": "Only Acme may read this."}


async def acme_fixtures(client: httpx.AsyncClient, world: World) -> dict[str, Any]:
    editor = world["editor"].headers
    document = await client.post("/api/v1/workspaces/acme/documents", json=ARTICLE, headers=editor)
    assert document.status_code == 201, document.text
    token = await client.post(
        "/api/v1/workspaces/acme/tokens",
        json={"name": "acme-bot", "role": "viewer"},
        headers=world["admin"].headers,
    )
    assert token.status_code == 201, token.text
    return {"document": document.json(), "token": token.json()}


def requests_on_acme(world: World, fixtures: dict[str, Any]) -> list[tuple[str, str, Any]]:
    doc = fixtures["document"]["id"]
    viewer = world["viewer"].user_id
    ws_id = world.workspace_id
    return [
        ("GET", "/api/v1/workspaces/acme", None),
        ("GET", f"/api/v1/workspaces/{ws_id}", None),
        ("PATCH", "/api/v1/workspaces/acme", {"name": "Taken over"}),
        ("PATCH", f"/api/v1/workspaces/{ws_id}", {"name": "Taken over"}),
        ("GET", "/api/v1/workspaces/acme/members", None),
        ("POST", "/api/v1/workspaces/acme/members", {"email": "admin@other.test", "role": "admin"}),
        ("PATCH", f"/api/v1/workspaces/acme/members/{viewer}", {"role": "admin"}),
        ("DELETE", f"/api/v1/workspaces/acme/members/{viewer}", None),
        ("GET", "/api/v1/workspaces/acme/tokens", None),
        ("POST", "/api/v1/workspaces/acme/tokens", {"name": "mine", "role": "admin"}),
        ("DELETE", f"/api/v1/tokens/{fixtures['token']['id']}", None),
        ("GET", "/api/v1/workspaces/acme/documents", None),
        ("GET", "/api/v1/workspaces/acme/documents?q=Acme", None),
        ("POST", "/api/v1/workspaces/acme/documents", {"title": "Spam", "text": "spam"}),
        ("GET", f"/api/v1/documents/{doc}", None),
        ("PATCH", f"/api/v1/documents/{doc}", {"title": "Defaced"}),
        ("DELETE", f"/api/v1/documents/{doc}", None),
    ]


@pytest.mark.parametrize("who", ["outsider", "nobody"])
async def test_users_of_other_workspaces_get_404_on_everything_of_this_one(
    client: httpx.AsyncClient, world: World, session: AsyncSession, who: str
) -> None:
    fixtures = await acme_fixtures(client, world)
    tables = ("workspaces", "memberships", "api_tokens", "documents", "audit_events")
    before = {t: await count_rows(session, t) for t in tables}
    headers = {**world[who].headers, "If-Match": '"1"'}
    for method, path, body in requests_on_acme(world, fixtures):
        response = await client.request(method, path, json=body, headers=headers)
        assert response.status_code == 404, (method, path, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["code"] == "not_found"
        assert "acme" not in response.json()["detail"].lower()
    assert {t: await count_rows(session, t) for t in tables} == before
    # Acme's data is intact.
    admin = world["admin"].headers
    got = await client.get(f"/api/v1/documents/{fixtures['document']['id']}", headers=admin)
    assert got.json()["title"] == ARTICLE["title"]
    token = {"Authorization": f"Bearer {fixtures['token']['token']}"}
    assert (await client.get("/api/v1/me", headers=token)).status_code == 200


async def test_a_hidden_workspace_looks_exactly_like_a_missing_one(
    client: httpx.AsyncClient, world: World
) -> None:
    headers = world["outsider"].headers
    hidden = await client.get("/api/v1/workspaces/acme", headers=headers)
    missing = await client.get("/api/v1/workspaces/no-such-workspace", headers=headers)
    assert hidden.status_code == missing.status_code == 404
    strip = ("instance",)
    assert {k: v for k, v in hidden.json().items() if k not in strip} == {
        k: v for k, v in missing.json().items() if k not in strip
    }


async def test_lists_show_only_the_callers_own_workspaces_and_tokens(
    client: httpx.AsyncClient, world: World
) -> None:
    await acme_fixtures(client, world)
    headers = world["outsider"].headers
    workspaces = await client.get("/api/v1/workspaces", headers=headers)
    assert [w["slug"] for w in workspaces.json()["items"]] == ["other"]
    tokens = await client.get("/api/v1/tokens", headers=headers)
    assert all(t["workspaceId"] != str(world.workspace_id) for t in tokens.json()["items"])
    me = await client.get("/api/v1/me", headers=headers)
    assert [w["slug"] for w in me.json()["workspaces"]] == ["other"]
