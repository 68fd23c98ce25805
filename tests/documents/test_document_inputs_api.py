"""Bad input to document writes: each gives the right status and problem code, and stores
nothing; duplicates, If-Match and Idempotency-Key behave as API.md says."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from factmark.settings import Settings
from tests.conftest import World, count_rows

URL = "/api/v1/workspaces/acme/documents"
ARTICLE = {
    "title": "Minister says unemployment halved",
    "text": "The minister said unemployment had halved since 2020.",
    "sourceUrl": "https://example.org/news/1",
}


@pytest.fixture
async def unchanged(session: AsyncSession, world: World) -> AsyncIterator[None]:
    """Asserts after the test that no document and no audit event was stored (counted once
    the world exists)."""
    before = (await count_rows(session, "documents"), await count_rows(session, "audit_events"))
    yield
    after = (await count_rows(session, "documents"), await count_rows(session, "audit_events"))
    assert after == before


def json_headers(world: World, role: str = "editor") -> dict[str, str]:
    return {**world[role].headers, "Content-Type": "application/json"}


def assert_problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["code"] == code, body
    assert body["type"].endswith(code)
    return body


@pytest.mark.usefixtures("unchanged")
async def test_malformed_json_returns_400(client: httpx.AsyncClient, world: World) -> None:
    response = await client.post(
        URL, content=b'{"title": "x", "text": ', headers=json_headers(world)
    )
    assert_problem(response, 400, "malformed_json")


@pytest.mark.usefixtures("unchanged")
async def test_unknown_field_returns_422_naming_it(client: httpx.AsyncClient, world: World) -> None:
    response = await client.post(
        URL, json={**ARTICLE, "summary": "not a field"}, headers=world["editor"].headers
    )
    body = assert_problem(response, 422, "validation_failed")
    assert body["errors"][0]["field"] == "summary"


@pytest.mark.usefixtures("unchanged")
async def test_missing_title_returns_422_naming_it(client: httpx.AsyncClient, world: World) -> None:
    response = await client.post(
        URL, json={"text": ARTICLE["text"]}, headers=world["editor"].headers
    )
    body = assert_problem(response, 422, "validation_failed")
    assert body["errors"][0]["field"] == "title"


@pytest.mark.usefixtures("unchanged")
@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("title", 42),
        ("text", ["a", "list"]),
        ("tags", "not-a-list"),
        ("publishedAt", "yesterday"),
        ("metadata", [1, 2]),
        ("sourceUrl", "ftp://example.org/x"),
        ("language", "english!"),
    ],
)
async def test_wrong_types_and_formats_return_422_naming_the_field(
    client: httpx.AsyncClient, world: World, field: str, value: Any
) -> None:
    response = await client.post(
        URL, json={**ARTICLE, field: value}, headers=world["editor"].headers
    )
    body = assert_problem(response, 422, "validation_failed")
    assert body["errors"][0]["field"] == field


@pytest.mark.usefixtures("unchanged")
async def test_empty_text_returns_422_text_empty(client: httpx.AsyncClient, world: World) -> None:
    response = await client.post(URL, json={**ARTICLE, "text": ""}, headers=world["editor"].headers)
    body = assert_problem(response, 422, "text_empty")
    assert body["errors"][0]["field"] == "text"


@pytest.mark.usefixtures("unchanged")
async def test_nul_in_text_returns_422(client: httpx.AsyncClient, world: World) -> None:
    response = await client.post(
        URL, json={**ARTICLE, "text": "before\u0000after"}, headers=world["editor"].headers
    )
    body = assert_problem(response, 422, "text_has_nul")
    assert body["errors"][0]["field"] == "text"


@pytest.mark.usefixtures("unchanged")
async def test_nul_in_another_string_field_returns_422(
    client: httpx.AsyncClient, world: World
) -> None:
    response = await client.post(
        URL, json={**ARTICLE, "publisher": "Evil\u0000Corp"}, headers=world["editor"].headers
    )
    body = assert_problem(response, 422, "validation_failed")
    assert body["errors"][0]["field"] == "publisher"


@pytest.mark.usefixtures("unchanged")
@pytest.mark.parametrize(
    "escaped", ["\\ud800", "a\\ud800", "\\ud800 then text", "\\udc00", "\\ud800\\u0041"]
)
async def test_lone_surrogate_in_text_returns_422(
    client: httpx.AsyncClient, world: World, escaped: str
) -> None:
    raw = '{"title": "t", "text": "' + escaped + '"}'
    response = await client.post(URL, content=raw.encode(), headers=json_headers(world))
    body = assert_problem(response, 422, "invalid_unicode")
    assert body["errors"][0]["field"] == "text"


@pytest.mark.usefixtures("unchanged")
@pytest.mark.parametrize("bad", [b"\xff\xfe", b"\xc3", b"\xed\xa0\x80", b"caf\xe9"])
async def test_invalid_utf8_in_the_body_returns_422(
    client: httpx.AsyncClient, world: World, bad: bytes
) -> None:
    raw = b'{"title": "t", "text": "' + bad + b' end"}'
    response = await client.post(URL, content=raw, headers=json_headers(world))
    assert_problem(response, 422, "invalid_utf8")


@pytest.mark.usefixtures("unchanged")
async def test_text_over_the_configured_limit_returns_413(
    client: httpx.AsyncClient, world: World, settings: Settings
) -> None:
    limit = settings.max_document_codepoints
    response = await client.post(
        URL, json={**ARTICLE, "text": "é" * (limit + 1)}, headers=world["editor"].headers
    )
    body = assert_problem(response, 413, "text_too_long")
    assert str(limit) in body["detail"]


async def test_text_at_the_limit_is_accepted(
    client: httpx.AsyncClient, world: World, settings: Settings
) -> None:
    text = "🙂" * settings.max_document_codepoints
    response = await client.post(
        URL, json={**ARTICLE, "text": text}, headers=world["editor"].headers
    )
    assert response.status_code == 201, response.text[:500]
    assert response.json()["lengthCodepoints"] == settings.max_document_codepoints
    assert response.json()["lengthUtf16"] == 2 * settings.max_document_codepoints


@pytest.mark.usefixtures("unchanged")
async def test_body_over_max_body_bytes_returns_413(
    client: httpx.AsyncClient, world: World, settings: Settings
) -> None:
    padding = "x" * settings.max_body_bytes
    raw = json.dumps({**ARTICLE, "metadata": {"padding": padding}}).encode()
    response = await client.post(URL, content=raw, headers=json_headers(world))
    assert_problem(response, 413, "payload_too_large")


@pytest.mark.usefixtures("unchanged")
@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "application/xml"]
)
async def test_wrong_content_type_returns_415(
    client: httpx.AsyncClient, world: World, content_type: str
) -> None:
    response = await client.post(
        URL,
        content=json.dumps(ARTICLE).encode(),
        headers={**world["editor"].headers, "Content-Type": content_type},
    )
    assert_problem(response, 415, "unsupported_media_type")


async def test_json_content_type_with_charset_is_accepted(
    client: httpx.AsyncClient, world: World
) -> None:
    response = await client.post(
        URL,
        content=json.dumps(ARTICLE).encode(),
        headers={**world["editor"].headers, "Content-Type": "application/json; charset=utf-8"},
    )
    assert response.status_code == 201, response.text


# --- duplicates ---------------------------------------------------------------------------


async def test_duplicate_text_or_source_url_returns_409_with_the_existing_id(
    client: httpx.AsyncClient, world: World, session: AsyncSession
) -> None:
    headers = world["editor"].headers
    first = await client.post(URL, json=ARTICLE, headers=headers)
    assert first.status_code == 201
    existing = first.json()["id"]
    before = await count_rows(session, "documents")

    same_text = {**ARTICLE, "title": "Other title", "sourceUrl": "https://example.org/other"}
    body = assert_problem(
        await client.post(URL, json=same_text, headers=headers), 409, "duplicate_document"
    )
    assert body["existingId"] == existing

    same_url = {**ARTICLE, "text": "A completely different text."}
    body = assert_problem(
        await client.post(URL, json=same_url, headers=headers), 409, "duplicate_document"
    )
    assert body["existingId"] == existing
    assert await count_rows(session, "documents") == before

    allowed = await client.post(
        URL, params={"allowDuplicates": "true"}, json=same_text, headers=headers
    )
    assert allowed.status_code == 201, allowed.text
    assert allowed.json()["id"] != existing
    assert allowed.json()["textSha256"] == first.json()["textSha256"]


async def test_the_same_text_in_another_workspace_is_not_a_duplicate(
    client: httpx.AsyncClient, world: World
) -> None:
    assert (
        await client.post(URL, json=ARTICLE, headers=world["editor"].headers)
    ).status_code == 201
    other = await client.post(
        "/api/v1/workspaces/other/documents", json=ARTICLE, headers=world["outsider"].headers
    )
    assert other.status_code == 201, other.text


async def test_a_deleted_document_does_not_block_its_text(
    client: httpx.AsyncClient, world: World
) -> None:
    headers = world["editor"].headers
    first = await client.post(URL, json=ARTICLE, headers=headers)
    deleted = await client.delete(
        f"/api/v1/documents/{first.json()['id']}", headers={**headers, "If-Match": '"1"'}
    )
    assert deleted.status_code == 204
    assert (await client.post(URL, json=ARTICLE, headers=headers)).status_code == 201


# --- If-Match -----------------------------------------------------------------------------


async def test_patch_and_delete_without_if_match_return_428_and_change_nothing(
    client: httpx.AsyncClient, world: World, session: AsyncSession
) -> None:
    headers = world["editor"].headers
    doc = (await client.post(URL, json=ARTICLE, headers=headers)).json()
    events = await count_rows(session, "audit_events")
    patch = await client.patch(
        f"/api/v1/documents/{doc['id']}", json={"title": "New"}, headers=headers
    )
    assert_problem(patch, 428, "if_match_required")
    delete = await client.delete(f"/api/v1/documents/{doc['id']}", headers=headers)
    assert_problem(delete, 428, "if_match_required")
    got = await client.get(f"/api/v1/documents/{doc['id']}", headers=headers)
    assert got.json()["title"] == ARTICLE["title"]
    assert got.json()["version"] == 1
    assert await count_rows(session, "audit_events") == events


async def test_stale_if_match_returns_412_with_the_current_version(
    client: httpx.AsyncClient, world: World, session: AsyncSession
) -> None:
    headers = world["editor"].headers
    doc = (await client.post(URL, json=ARTICLE, headers=headers)).json()
    first = await client.patch(
        f"/api/v1/documents/{doc['id']}",
        json={"title": "First edit"},
        headers={**headers, "If-Match": '"1"'},
    )
    assert first.status_code == 200
    events = await count_rows(session, "audit_events")
    # A second client still holding version 1 loses, visibly.
    stale = await client.patch(
        f"/api/v1/documents/{doc['id']}",
        json={"title": "Lost edit"},
        headers={**headers, "If-Match": '"1"'},
    )
    body = assert_problem(stale, 412, "version_mismatch")
    assert body["currentVersion"] == 2
    assert stale.headers["etag"] == '"2"'
    stale_delete = await client.delete(
        f"/api/v1/documents/{doc['id']}", headers={**headers, "If-Match": '"1"'}
    )
    assert_problem(stale_delete, 412, "version_mismatch")
    got = await client.get(f"/api/v1/documents/{doc['id']}", headers=headers)
    assert got.json()["title"] == "First edit"
    assert await count_rows(session, "audit_events") == events


async def test_malformed_if_match_returns_400(client: httpx.AsyncClient, world: World) -> None:
    headers = world["editor"].headers
    doc = (await client.post(URL, json=ARTICLE, headers=headers)).json()
    response = await client.patch(
        f"/api/v1/documents/{doc['id']}",
        json={"title": "x"},
        headers={**headers, "If-Match": "W/1"},
    )
    assert_problem(response, 400, "invalid_if_match")


async def test_patch_cannot_change_the_text(client: httpx.AsyncClient, world: World) -> None:
    headers = world["editor"].headers
    doc = (await client.post(URL, json=ARTICLE, headers=headers)).json()
    response = await client.patch(
        f"/api/v1/documents/{doc['id']}",
        json={"text": "rewritten"},
        headers={**headers, "If-Match": '"1"'},
    )
    body = assert_problem(response, 422, "validation_failed")
    assert body["errors"][0]["field"] == "text"


async def test_patch_null_clears_an_optional_field_and_missing_keeps_it(
    client: httpx.AsyncClient, world: World
) -> None:
    headers = world["editor"].headers
    doc = (await client.post(URL, json={**ARTICLE, "publisher": "Times"}, headers=headers)).json()
    response = await client.patch(
        f"/api/v1/documents/{doc['id']}",
        json={"sourceUrl": None, "tags": ["x"]},
        headers={**headers, "If-Match": '"1"'},
    )
    assert response.status_code == 200, response.text
    assert response.json()["sourceUrl"] is None
    assert response.json()["publisher"] == "Times"
    assert response.json()["tags"] == ["x"]
    title_null = await client.patch(
        f"/api/v1/documents/{doc['id']}",
        json={"title": None},
        headers={**headers, "If-Match": '"2"'},
    )
    assert_problem(title_null, 422, "validation_failed")


# --- Idempotency-Key ----------------------------------------------------------------------


async def test_idempotency_key_replays_the_first_response_without_a_second_row(
    client: httpx.AsyncClient, world: World, session: AsyncSession
) -> None:
    headers = {**world["editor"].headers, "Idempotency-Key": "create-article-1"}
    before = await count_rows(session, "documents")
    first = await client.post(URL, json=ARTICLE, headers=headers)
    assert first.status_code == 201, first.text
    replay = await client.post(URL, json=ARTICLE, headers=headers)
    assert replay.status_code == 201
    assert replay.json() == first.json()
    assert replay.headers["etag"] == first.headers["etag"]
    assert replay.headers["location"] == first.headers["location"]
    assert replay.headers.get("idempotent-replayed") == "true"
    assert await count_rows(session, "documents") == before + 1


async def test_idempotency_key_reused_with_another_body_returns_422(
    client: httpx.AsyncClient, world: World, session: AsyncSession
) -> None:
    headers = {**world["editor"].headers, "Idempotency-Key": "create-article-2"}
    assert (await client.post(URL, json=ARTICLE, headers=headers)).status_code == 201
    before = await count_rows(session, "documents")
    other = {**ARTICLE, "text": "Another text", "sourceUrl": "https://example.org/2"}
    response = await client.post(URL, json=other, headers=headers)
    body = assert_problem(response, 422, "idempotency_key_reused")
    assert body["errors"][0]["field"] == "Idempotency-Key"
    assert await count_rows(session, "documents") == before


async def test_idempotency_keys_belong_to_their_caller(
    client: httpx.AsyncClient, world: World
) -> None:
    key = {"Idempotency-Key": "shared-key"}
    mine = await client.post(URL, json=ARTICLE, headers={**world["editor"].headers, **key})
    theirs = await client.post(
        "/api/v1/workspaces/other/documents",
        json=ARTICLE,
        headers={**world["outsider"].headers, **key},
    )
    assert mine.status_code == theirs.status_code == 201
    assert mine.json()["id"] != theirs.json()["id"]


async def test_a_failed_request_does_not_consume_its_idempotency_key(
    client: httpx.AsyncClient, world: World
) -> None:
    headers = {**world["editor"].headers, "Idempotency-Key": "retry-after-fix"}
    failed = await client.post(URL, json={**ARTICLE, "text": ""}, headers=headers)
    assert failed.status_code == 422
    retried = await client.post(URL, json={**ARTICLE, "text": "Now with text."}, headers=headers)
    assert retried.status_code == 201, retried.text


async def test_an_idempotency_key_older_than_a_day_is_taken_over_by_a_new_request(
    client: httpx.AsyncClient, world: World, session: AsyncSession
) -> None:
    headers = {**world["editor"].headers, "Idempotency-Key": "yesterday"}
    first = await client.post(URL, json=ARTICLE, headers=headers)
    assert first.status_code == 201, first.text
    await session.execute(
        text(
            "UPDATE idempotency_records SET created_at = now() - interval '25 hours' "
            "WHERE key = 'yesterday'"
        )
    )
    other = {**ARTICLE, "text": "Another day, another text.", "sourceUrl": "https://example.org/3"}
    second = await client.post(URL, json=other, headers=headers)
    assert second.status_code == 201, second.text
    assert second.json()["id"] != first.json()["id"]
    assert "idempotent-replayed" not in second.headers
    replay = await client.post(URL, json=other, headers=headers)
    assert replay.json() == second.json()
    assert replay.headers.get("idempotent-replayed") == "true"
