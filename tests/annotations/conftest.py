from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.conftest import World

TEXT = (
    "The minister said unemployment fell by half since 2020. "
    "Critics 👍🏽 say the figure ignores part-time work. "
    "Café owners (e\u0301) disagree. "
    "قال الوزير إن البطالة انخفضت. "
    "The budget deficit is the lowest in a decade."
)


@pytest.fixture
async def document(client: httpx.AsyncClient, world: World) -> dict[str, Any]:
    response = await client.post(
        "/api/v1/workspaces/acme/documents",
        json={"title": "Budget speech", "text": TEXT, "sourceUrl": "https://example.org/speech"},
        headers=world["editor"].headers,
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


def span_of(text: str, phrase: str) -> dict[str, int]:
    start = text.index(phrase)
    return {"start": start, "end": start + len(phrase)}


async def create_claim(
    client: httpx.AsyncClient, who: Any, document_id: str, **body: Any
) -> dict[str, Any]:
    body.setdefault("spans", [span_of(TEXT, "unemployment fell by half since 2020")])
    response = await client.post(
        f"/api/v1/documents/{document_id}/claims", json=body, headers=who.headers
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


def if_match(resource: dict[str, Any]) -> dict[str, str]:
    return {"If-Match": f'"{resource["version"]}"'}
