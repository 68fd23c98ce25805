"""What a document read sends over the wire: lists leave each text in the database, and no read
loads the (large, WHERE-only) full-text search vectors. Found by the benchmark (bench/README.md):
both were loaded on every request."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import World

URL = "/api/v1/workspaces/acme/documents"
TEXT = "The minister said unemployment fell by four percent last year."
TEXT_COLUMN = re.compile(r"\bdocuments\.text\b")  # not documents.text_sha256


@contextmanager
def selects(engine: AsyncEngine) -> Iterator[list[str]]:
    """The SELECT statements sent while the block runs."""
    seen: list[str] = []

    def grab(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            seen.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", grab)
    try:
        yield seen
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", grab)


async def create_document(client: httpx.AsyncClient, world: World) -> str:
    response = await client.post(
        URL, json={"title": "Jobs report", "text": TEXT}, headers=world["editor"].headers
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def test_document_list_and_search_select_neither_text_nor_search_vector(
    client: httpx.AsyncClient, world: World, engine: AsyncEngine
) -> None:
    await create_document(client, world)
    with selects(engine) as seen:
        listed = await client.get(URL, headers=world["viewer"].headers)
        found = await client.get(URL, params={"q": "unemployment"}, headers=world["viewer"].headers)
    assert listed.status_code == 200, listed.text
    assert found.status_code == 200, found.text
    assert [d["title"] for d in found.json()["items"]] == ["Jobs report"]
    document_selects = [s for s in seen if "FROM documents" in s]
    assert len(document_selects) == 2
    for statement in document_selects:
        columns = statement.split("FROM documents")[0]
        assert not TEXT_COLUMN.search(columns)
        assert "documents.search" not in columns


async def test_reading_one_document_returns_its_text_without_the_search_vector(
    client: httpx.AsyncClient, world: World, engine: AsyncEngine
) -> None:
    document_id = await create_document(client, world)
    with selects(engine) as seen:
        response = await client.get(
            f"/api/v1/documents/{document_id}", headers=world["viewer"].headers
        )
    assert response.status_code == 200, response.text
    assert response.json()["text"] == TEXT
    loads = [s for s in seen if "FROM documents" in s]
    assert loads
    assert all("documents.search" not in s.split("FROM documents")[0] for s in loads)
