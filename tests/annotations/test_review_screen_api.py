"""The review screen (GET /documents/{id}/annotations): what it contains, who may read it, and
that PostgreSQL renders it byte for byte as the Structs of the contract would be encoded."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import msgspec
import pytest
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from factmark.accounts.service import set_audit_context, system_actor
from factmark.annotations.models import Claim, ClaimSpan
from factmark.annotations.schemas import DocumentAnnotations
from tests.annotations.conftest import TEXT, create_claim, if_match, span_of
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


async def _post(client: httpx.AsyncClient, url: str, body: Any, who: Any, **headers: str) -> Any:
    response = await client.post(url, json=body, headers={**who.headers, **headers})
    assert response.status_code in (200, 201), response.text
    return response.json()


async def _approved_verdict(
    client: httpx.AsyncClient, world: World, claim_id: str, rating: str, confidence: float | None
) -> dict[str, Any]:
    verdict = await _post(
        client,
        f"/api/v1/claims/{claim_id}/verdicts",
        {"rating": rating, "summary": f"Rated {rating}.", "confidence": confidence},
        world["reviewer"],
    )
    await _post(
        client,
        f"/api/v1/verdicts/{verdict['id']}/approve",
        None,
        world["editor"],
        **if_match(verdict),
    )
    return verdict


async def _annotated_document(
    client: httpx.AsyncClient, world: World, document: dict[str, Any]
) -> dict[str, dict[str, int]]:
    """Claims with everything the screen shows; returns the expected counts by claim id."""
    doc = document["id"]
    counts: dict[str, dict[str, int]] = {}
    # Everything optional set, two spans (one after the emoji, where UTF-16 offsets differ),
    # strings that need escaping, a time with no fraction, a correction, deleted evidence and
    # comments (not counted).
    rich = await create_claim(
        client,
        world["reviewer"],
        doc,
        spans=[span_of(TEXT, "Critics 👍🏽 say"), span_of(TEXT, "unemployment fell")],
        statement='Tab\there, \u0001 «quoted» "x" \\ 👍🏽\nnew line',
        claimant={"name": "The minister", "organisation": 'Finance "Dept"'},
        claimedAt="2024-05-01T12:00:00Z",
        tags=["budget", "a/b", "é"],
        checkworthiness="high",
        assigneeId=str(world["reviewer"].user_id),
    )
    await _approved_verdict(client, world, rich["id"], "false", 0.00001234)
    approved = await client.get(f"/api/v1/claims/{rich['id']}", headers=world["editor"].headers)
    await _post(
        client,
        f"/api/v1/claims/{rich['id']}/corrections",
        {
            "note": "New figures.",
            "verdict": {"rating": "half-true", "summary": "40%.", "confidence": 1.0},
        },
        world["editor"],
        **if_match(approved.json()),
    )
    for stance in ("supports", "refutes"):
        evidence = await _post(
            client,
            f"/api/v1/claims/{rich['id']}/evidence",
            {"stance": stance, "sourceUrl": "https://stats.example.org/x"},
            world["reviewer"],
        )
    gone = await client.delete(
        f"/api/v1/evidence/{evidence['id']}",
        headers={**world["editor"].headers, **if_match(evidence)},
    )
    assert gone.status_code == 204, gone.text
    for body in ("Done.", "Drop this."):
        comment = await _post(
            client, f"/api/v1/claims/{rich['id']}/comments", {"body": body}, world["editor"]
        )
    gone = await client.delete(
        f"/api/v1/comments/{comment['id']}",
        headers={**world["editor"].headers, **if_match(comment)},
    )
    assert gone.status_code == 204, gone.text
    counts[rich["id"]] = {"verdicts": 2, "evidence": 1, "comments": 1}

    # A rating with a decimal value, and floats msgspec writes in each of its notations.
    await _post(
        client,
        "/api/v1/workspaces/acme/ratings",
        {"key": "quarter", "label": "A quarter", "value": 0.1234},
        world["admin"],
    )
    for phrase, rating, confidence in (
        ("The budget deficit", "quarter", 1e-7),
        ("lowest in a decade", "misleading", 0.30000000000000004),
        ("Café owners", "true", None),
        ("say the figure", "mostly-true", 0.0),
    ):
        claim = await create_claim(client, world["reviewer"], doc, spans=[span_of(TEXT, phrase)])
        await _approved_verdict(client, world, claim["id"], rating, confidence)
        counts[claim["id"]] = {"verdicts": 1, "evidence": 0, "comments": 0}

    # Only a submitted verdict: no current verdict, but counted.
    pending = await create_claim(client, world["reviewer"], doc, spans=[span_of(TEXT, "ignores")])
    await _post(
        client,
        f"/api/v1/claims/{pending['id']}/verdicts",
        {"rating": "false", "summary": "Wrong.", "confidence": 0.5},
        world["reviewer"],
    )
    counts[pending["id"]] = {"verdicts": 1, "evidence": 0, "comments": 0}

    # A deleted claim is not on the screen.
    deleted = await create_claim(client, world["reviewer"], doc, spans=[span_of(TEXT, "minister")])
    gone = await client.delete(
        f"/api/v1/claims/{deleted['id']}",
        headers={**world["reviewer"].headers, **if_match(deleted)},
    )
    assert gone.status_code == 204, gone.text
    return counts


@pytest.mark.parametrize("unit", ["codepoint", "utf16"])
async def test_review_screen_is_byte_for_byte_each_claim_as_get_claim_sends_it_with_counts(
    client: httpx.AsyncClient, world: World, document: dict[str, Any], unit: str
) -> None:
    counts = await _annotated_document(client, world, document)
    other = await client.post(
        "/api/v1/workspaces/acme/documents",
        json={"title": "Other", "text": TEXT + " Again."},
        headers=world["editor"].headers,
    )
    await create_claim(client, world["reviewer"], other.json()["id"])  # not on this screen
    viewer = world["viewer"].headers
    screen = await client.get(
        f"/api/v1/documents/{document['id']}/annotations?offsetUnit={unit}", headers=viewer
    )
    assert screen.status_code == 200
    assert screen.headers["content-type"] == "application/json"
    ids = [c["id"] for c in screen.json()["claims"]]
    assert sorted(ids) == sorted(counts)

    items = []
    for claim_id in ids:
        one = await client.get(f"/api/v1/claims/{claim_id}?offsetUnit={unit}", headers=viewer)
        assert one.content.endswith(b"}")
        items.append(
            one.content[:-1] + b',"counts":' + msgspec.json.encode(counts[claim_id]) + b"}"
        )
    length = len(TEXT.encode("utf-16-le")) // 2 if unit == "utf16" else len(TEXT)
    expected = (
        b'{"documentId":"%s","documentVersion":%d,"length":%d,"offsetUnit":"%s","claims":[%s]}'
        % (document["id"].encode(), document["version"], length, unit.encode(), b",".join(items))
    )
    assert screen.content == expected
    starts = [(min(s["start"] for s in c["spans"]), c["id"]) for c in screen.json()["claims"]]
    if unit == "codepoint":
        assert starts == sorted(starts)


async def test_review_screen_decodes_into_the_contract_and_encodes_back_to_the_same_bytes(
    client: httpx.AsyncClient, world: World, document: dict[str, Any]
) -> None:
    await _annotated_document(client, world, document)
    for unit in ("codepoint", "utf16"):
        screen = await client.get(
            f"/api/v1/documents/{document['id']}/annotations?offsetUnit={unit}",
            headers=world["viewer"].headers,
        )
        decoded = msgspec.json.decode(screen.content, type=DocumentAnnotations)
        assert msgspec.json.encode(decoded) == screen.content


async def test_review_screen_floats_stay_exact_when_the_server_rounds_float_output(
    client: httpx.AsyncClient, world: World, document: dict[str, Any], session: AsyncSession
) -> None:
    claim = await create_claim(client, world["reviewer"], document["id"])
    await _approved_verdict(client, world, claim["id"], "false", 0.30000000000000004)
    # With extra_float_digits = 0, PostgreSQL writes floats with 15 digits ("0.3").
    await session.execute(text("SET extra_float_digits = 0"))
    screen = await client.get(
        f"/api/v1/documents/{document['id']}/annotations", headers=world["viewer"].headers
    )
    assert b'"confidence":0.30000000000000004,' in screen.content
    (item,) = screen.json()["claims"]
    assert item["currentVerdict"]["confidence"] == 0.30000000000000004


async def test_review_screen_is_404_for_other_workspaces_and_deleted_documents(
    client: httpx.AsyncClient, world: World, document: dict[str, Any]
) -> None:
    await create_claim(client, world["reviewer"], document["id"])
    url = f"/api/v1/documents/{document['id']}/annotations"
    outsider = await client.get(url, headers=world["outsider"].headers)
    assert outsider.status_code == 404
    assert outsider.json()["detail"] == "Document not found."
    empty = await client.post(
        "/api/v1/workspaces/acme/documents",
        json={"title": "Empty", "text": "Nothing to see."},
        headers=world["editor"].headers,
    )
    screen = await client.get(
        f"/api/v1/documents/{empty.json()['id']}/annotations", headers=world["viewer"].headers
    )
    assert screen.status_code == 200
    assert screen.json()["claims"] == []
    gone = await client.delete(
        f"/api/v1/documents/{document['id']}",
        headers={**world["editor"].headers, **if_match(document)},
    )
    assert gone.status_code == 204, gone.text
    deleted = await client.get(url, headers=world["editor"].headers)
    assert deleted.status_code == 404
