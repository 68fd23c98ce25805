from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from factmark.accounts.service import set_audit_context, system_actor
from factmark.annotations.models import Claim, ClaimSpan
from tests.annotations.conftest import TEXT, create_claim, if_match
from tests.conftest import World


@contextmanager
def counting_queries(connection: AsyncConnection) -> Iterator[list[str]]:
    statements: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    event.listen(connection.sync_connection, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(connection.sync_connection, "before_cursor_execute", record)


async def _add_claims(session: AsyncSession, document: dict[str, Any], n: int) -> None:
    await set_audit_context(session, system_actor("tests"))
    for i in range(n):
        start = (i * 7) % (len(TEXT) - 10)
        claim = Claim(
            workspace_id=document["workspaceId"],
            document_id=document["id"],
            statement=f"claim {i}",
            status="open",
            first_offset=start,
        )
        session.add(claim)
        await session.flush()
        session.add(
            ClaimSpan(
                workspace_id=claim.workspace_id,
                claim_id=claim.id,
                document_id=claim.document_id,
                ordinal=0,
                start_offset=start,
                end_offset=start + 5,
                start_utf16=start,
                end_utf16=start + 5,
                exact=TEXT[start : start + 5],
                prefix="",
                suffix="",
            )
        )
    await session.commit()


@pytest.mark.slow
async def test_review_screen_query_count_is_the_same_for_1_and_500_claims(
    client: httpx.AsyncClient,
    world: World,
    document: dict[str, Any],
    session: AsyncSession,
    connection: AsyncConnection,
) -> None:
    url = f"/api/v1/documents/{document['id']}/annotations"
    await _add_claims(session, document, 1)
    await client.get(
        url, headers=world["viewer"].headers
    )  # first use stamps the token's lastUsedAt
    with counting_queries(connection) as one:
        small = await client.get(url, headers=world["viewer"].headers)
    assert len(small.json()["claims"]) == 1
    await _add_claims(session, document, 499)
    with counting_queries(connection) as many:
        large = await client.get(url, headers=world["viewer"].headers)
    assert len(large.json()["claims"]) == 500
    assert len(many) == len(one), many
    starts = [c["spans"][0]["start"] for c in large.json()["claims"]]
    assert starts == sorted(starts)


async def test_review_screen_shows_current_verdict_and_counts(
    client: httpx.AsyncClient, world: World, document: dict[str, Any]
) -> None:
    claim = await create_claim(client, world["reviewer"], document["id"])
    verdict = (
        await client.post(
            f"/api/v1/claims/{claim['id']}/verdicts",
            json={"rating": "mostly-false", "summary": "It fell by 12%, not half."},
            headers=world["reviewer"].headers,
        )
    ).json()
    await client.post(
        f"/api/v1/verdicts/{verdict['id']}/approve",
        headers={**world["editor"].headers, **if_match(verdict)},
    )
    await client.post(
        f"/api/v1/claims/{claim['id']}/evidence",
        json={"stance": "refutes", "sourceUrl": "https://stats.example.org/x"},
        headers=world["reviewer"].headers,
    )
    await client.post(
        f"/api/v1/claims/{claim['id']}/comments",
        json={"body": "Done."},
        headers=world["editor"].headers,
    )
    screen = await client.get(
        f"/api/v1/documents/{document['id']}/annotations?offsetUnit=utf16",
        headers=world["viewer"].headers,
    )
    assert screen.status_code == 200
    body = screen.json()
    assert body["offsetUnit"] == "utf16"
    assert body["length"] == len(TEXT.encode("utf-16-le")) // 2
    (item,) = body["claims"]
    assert item["status"] == "verified"
    assert item["currentVerdict"]["rating"]["key"] == "mostly-false"
    assert item["counts"] == {"verdicts": 1, "evidence": 1, "comments": 1}
