"""Listing documents: cursor pagination under concurrent inserts, filters, full-text search on
the real seed article, and soft delete."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from factmark import seed
from factmark.accounts import service as accounts
from factmark.documents.models import Document
from tests.conftest import World

URL = "/api/v1/workspaces/acme/documents"


async def add_documents(
    client: httpx.AsyncClient, world: World, start: int, count: int, **fields: Any
) -> list[str]:
    ids = []
    for n in range(start, start + count):
        response = await client.post(
            URL,
            json={"title": f"Story {n}", "text": f"Text of story {n}.", **fields},
            headers=world["editor"].headers,
        )
        assert response.status_code == 201, response.text
        ids.append(response.json()["id"])
    return ids


@pytest.mark.parametrize("sort", ["-createdAt", "createdAt"])
async def test_pages_return_every_document_once_while_documents_are_added(
    client: httpx.AsyncClient, world: World, sort: str
) -> None:
    originals = await add_documents(client, world, 0, 25)
    headers = world["viewer"].headers
    seen: list[str] = []
    added = 25
    response = await client.get(URL, params={"limit": 7, "sort": sort}, headers=headers)
    pages = 0
    while True:
        assert response.status_code == 200, response.text
        page = response.json()
        pages += 1
        assert len(page["items"]) <= 7
        seen.extend(item["id"] for item in page["items"])
        if page["nextCursor"] is None:
            assert "link" not in response.headers
            break
        link = response.headers["link"]
        assert link.endswith('>; rel="next"')
        assert f"cursor={page['nextCursor']}" in link
        # Someone adds documents between two page fetches.
        await add_documents(client, world, added, 3)
        added += 3
        response = await client.get(link[1 : link.index(">")], headers=headers)
    assert pages >= 4
    assert len(seen) == len(set(seen)), "a document appeared twice"
    assert set(originals) <= set(seen), "an original document was skipped"
    order = seen if sort == "createdAt" else list(reversed(seen))
    assert [i for i in order if i in originals] == originals


async def test_limit_above_200_or_below_1_returns_422(
    client: httpx.AsyncClient, world: World
) -> None:
    for limit in ("201", "0", "-1", "many"):
        response = await client.get(URL, params={"limit": limit}, headers=world["viewer"].headers)
        assert response.status_code == 422, (limit, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["errors"][0]["field"] == "limit"
    assert (
        await client.get(URL, params={"limit": 200}, headers=world["viewer"].headers)
    ).status_code == 200


@pytest.mark.parametrize("cursor", ["garbage!", "bm90IGpzb24", "WyJ4Il0", "A" * 40])
async def test_a_garbage_cursor_returns_422_naming_the_cursor(
    client: httpx.AsyncClient, world: World, cursor: str
) -> None:
    response = await client.get(URL, params={"cursor": cursor}, headers=world["viewer"].headers)
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["code"] == "invalid_cursor"
    assert body["errors"][0]["field"] == "cursor"


async def test_a_cursor_of_another_sort_order_returns_422(
    client: httpx.AsyncClient, world: World
) -> None:
    await add_documents(client, world, 0, 3)
    headers = world["viewer"].headers
    first = (await client.get(URL, params={"limit": 1}, headers=headers)).json()
    response = await client.get(
        URL,
        params={"limit": 1, "sort": "updatedAt", "cursor": first["nextCursor"]},
        headers=headers,
    )
    assert response.status_code == 422
    assert response.json()["code"] == "invalid_cursor"


async def test_an_unknown_sort_returns_422(client: httpx.AsyncClient, world: World) -> None:
    response = await client.get(URL, params={"sort": "title"}, headers=world["viewer"].headers)
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "sort"


async def test_filters_by_tag_publisher_language_and_publication_date(
    client: httpx.AsyncClient, world: World
) -> None:
    headers = world["editor"].headers
    docs = {
        "a": {
            "tags": ["economy", "uk"],
            "publisher": "Times",
            "language": "en",
            "publishedAt": "2026-01-10T08:00:00Z",
        },
        "b": {
            "tags": ["health"],
            "publisher": "Herald",
            "language": "en",
            "publishedAt": "2026-03-01T08:00:00Z",
        },
        "c": {"tags": ["economy"], "publisher": "Le Monde", "language": "fr"},
    }
    ids = {}
    for name, fields in docs.items():
        response = await client.post(
            URL, json={"title": name, "text": f"text {name}", **fields}, headers=headers
        )
        assert response.status_code == 201, response.text
        ids[response.json()["id"]] = name

    async def names(params: Any) -> set[str]:
        response = await client.get(URL, params=params, headers=world["viewer"].headers)
        assert response.status_code == 200, response.text
        return {ids[item["id"]] for item in response.json()["items"]}

    assert await names({"tag": "economy"}) == {"a", "c"}
    assert await names([("tag", "health"), ("tag", "uk")]) == {"a", "b"}
    assert await names({"publisher": "Herald"}) == {"b"}
    assert await names([("publisher", "Herald"), ("publisher", "Le Monde")]) == {"b", "c"}
    assert await names({"language": "fr"}) == {"c"}
    assert await names({"publishedAfter": "2026-02-01T00:00:00Z"}) == {"b"}
    assert await names({"publishedBefore": "2026-02-01T00:00:00Z"}) == {"a"}
    assert await names({"tag": "economy", "language": "en"}) == {"a"}
    bad = await client.get(URL, params={"publishedAfter": "soon"}, headers=headers)
    assert bad.status_code == 422


async def test_list_items_carry_metadata_but_not_the_text(
    client: httpx.AsyncClient, world: World
) -> None:
    await add_documents(client, world, 0, 1, tags=["x"])
    item = (await client.get(URL, headers=world["viewer"].headers)).json()["items"][0]
    assert "text" not in item
    assert item["workspaceId"] == str(world.workspace_id)
    assert item["tags"] == ["x"]
    assert len(item["textSha256"]) == 64
    assert {"id", "createdAt", "updatedAt", "version", "lengthCodepoints", "lengthUtf16"} <= set(
        item
    )


# --- full-text search over the real seed ---------------------------------------------------


@pytest.fixture
async def demo_admin(session: AsyncSession) -> dict[str, str]:
    """The real seed loaded into the test transaction, and a token of its admin."""
    report = await seed.load(session, production=False)
    assert report.created_documents == 1
    admin = await accounts.get_user_by_email(session, "admin@example.com")
    assert admin is not None
    token, _ = await accounts.create_token_for_user(session, admin, name="test")
    await session.commit()
    return {"Authorization": f"Bearer {token}"}


async def search(client: httpx.AsyncClient, headers: dict[str, str], q: str) -> list[str]:
    response = await client.get(
        "/api/v1/workspaces/demo/documents", params={"q": q}, headers=headers
    )
    assert response.status_code == 200, response.text
    return [item["title"] for item in response.json()["items"]]


async def test_search_finds_the_seed_article_by_a_word_of_its_body(
    client: httpx.AsyncClient, demo_admin: dict[str, str]
) -> None:
    title = "Iran warned not to escalate"
    assert "Hezbollah" not in title
    assert await search(client, demo_admin, "Hezbollah") == [title]
    assert await search(client, demo_admin, "hezbollah airstrikes") == [title]  # stemmed, AND
    assert await search(client, demo_admin, '"Iranian-backed militias"') == [title]
    assert await search(client, demo_admin, "escalate") == [title]  # in the title


async def test_search_for_an_absent_word_returns_nothing(
    client: httpx.AsyncClient, demo_admin: dict[str, str]
) -> None:
    assert await search(client, demo_admin, "zeppelin") == []
    assert await search(client, demo_admin, "Hezbollah -Pentagon") == []
    assert await search(client, demo_admin, "Hezbollah zeppelin") == []


async def test_search_accepts_any_user_input_without_error(
    client: httpx.AsyncClient, demo_admin: dict[str, str]
) -> None:
    for q in ['"unclosed', "a & b | !c", "(((", "::*", "-", "🙂", "or or or"]:
        await search(client, demo_admin, q)


async def test_seed_loading_is_idempotent(
    session: AsyncSession, demo_admin: dict[str, str]
) -> None:
    again = await seed.load(session, production=False)
    assert again.created_documents == 0
    assert again.created_users == {}
    assert not again.workspace_created


# --- soft delete --------------------------------------------------------------------------


async def test_soft_delete_hides_the_document_but_keeps_the_row(
    client: httpx.AsyncClient, world: World, session: AsyncSession
) -> None:
    headers = world["editor"].headers
    kept, gone = await add_documents(client, world, 0, 2)
    deleted = await client.delete(
        f"/api/v1/documents/{gone}", headers={**headers, "If-Match": '"1"'}
    )
    assert deleted.status_code == 204

    got = await client.get(f"/api/v1/documents/{gone}", headers=headers)
    assert got.status_code == 404
    listed = await client.get(URL, headers=headers)
    assert [item["id"] for item in listed.json()["items"]] == [kept]
    searched = await client.get(URL, params={"q": "story"}, headers=headers)
    assert [item["id"] for item in searched.json()["items"]] == [kept]
    again = await client.delete(f"/api/v1/documents/{gone}", headers={**headers, "If-Match": '"2"'})
    assert again.status_code == 404
    patch = await client.patch(
        f"/api/v1/documents/{gone}", json={"title": "x"}, headers={**headers, "If-Match": '"2"'}
    )
    assert patch.status_code == 404

    row = await session.scalar(select(Document).where(Document.id == uuid.UUID(gone)))
    assert row is not None
    assert row.deleted_at is not None
    assert row.version == 2
    actions = (
        (
            await session.execute(
                text("SELECT action FROM audit_events WHERE entity_id = :id ORDER BY seq"),
                {"id": uuid.UUID(gone)},
            )
        )
        .scalars()
        .all()
    )
    assert actions == ["create", "delete"]
