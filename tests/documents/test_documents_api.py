from __future__ import annotations

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from tests.conftest import World, count_rows

ARTICLE = {
    "title": "Minister says unemployment halved",
    "text": "The minister said unemployment had halved since 2020. Critics disagree. 👍🏽",
    "sourceUrl": "https://example.org/news/1",
    "publisher": "Example Times",
    "language": "en",
    "tags": ["economy"],
}


async def test_editor_creates_document_and_reads_it_back(
    client: httpx.AsyncClient, world: World
) -> None:
    created = await client.post(
        "/api/v1/workspaces/acme/documents", json=ARTICLE, headers=world["editor"].headers
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert created.headers["etag"] == '"1"'
    assert body["lengthCodepoints"] == len(ARTICLE["text"])
    assert body["lengthUtf16"] == len(ARTICLE["text"]) + 2  # two astral code points
    got = await client.get(f"/api/v1/documents/{body['id']}", headers=world["viewer"].headers)
    assert got.status_code == 200
    assert got.json()["text"] == ARTICLE["text"]


async def test_reviewer_may_not_create_documents(
    client: httpx.AsyncClient, world: World, session: AsyncSession
) -> None:
    before = await count_rows(session, "documents")
    response = await client.post(
        "/api/v1/workspaces/acme/documents", json=ARTICLE, headers=world["reviewer"].headers
    )
    assert response.status_code == 403
    assert response.headers["content-type"] == "application/problem+json"
    assert await count_rows(session, "documents") == before


async def test_other_workspace_gets_404_on_document(
    client: httpx.AsyncClient, world: World
) -> None:
    created = await client.post(
        "/api/v1/workspaces/acme/documents", json=ARTICLE, headers=world["editor"].headers
    )
    doc_id = created.json()["id"]
    outsider = world["outsider"].headers
    assert (await client.get(f"/api/v1/documents/{doc_id}", headers=outsider)).status_code == 404
    listed = await client.get("/api/v1/workspaces/acme/documents", headers=outsider)
    assert listed.status_code == 404
