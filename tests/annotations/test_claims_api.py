from __future__ import annotations

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from tests.annotations.conftest import TEXT, create_claim, if_match, span_of
from tests.conftest import World, count_rows


async def test_reviewer_creates_claim_with_quote_selector_and_default_statement(
    client: httpx.AsyncClient, world: World, document: dict
) -> None:
    claim = await create_claim(client, world["reviewer"], document["id"])
    assert claim["status"] == "open"
    assert claim["statement"] == "unemployment fell by half since 2020"
    (span,) = claim["spans"]
    assert span["exact"] == "unemployment fell by half since 2020"
    assert span["prefix"] == TEXT[max(0, span["start"] - 32) : span["start"]]
    assert TEXT[span["end"] : span["end"] + 32] == span["suffix"]
    assert claim["documentId"] == document["id"]
    assert claim["version"] == 1


async def test_utf16_offsets_are_converted_both_ways_around_emoji(
    client: httpx.AsyncClient, world: World, document: dict
) -> None:
    phrase = "say the figure ignores part-time work"
    cp = span_of(TEXT, phrase)
    utf16_start = len(TEXT[: cp["start"]].encode("utf-16-le")) // 2
    utf16 = {"start": utf16_start, "end": utf16_start + len(phrase)}
    assert utf16["start"] == cp["start"] + 2  # the emoji before it is two code points, four units
    claim = await create_claim(
        client,
        world["reviewer"],
        document["id"],
        spans=[{**utf16, "exact": phrase}],
        offsetUnit="utf16",
    )
    assert claim["offsetUnit"] == "utf16"
    assert claim["spans"][0]["start"] == utf16["start"]
    got = await client.get(f"/api/v1/claims/{claim['id']}", headers=world["viewer"].headers)
    assert got.json()["spans"][0]["start"] == cp["start"]
    assert got.json()["spans"][0]["exact"] == phrase
    as_utf16 = await client.get(
        f"/api/v1/claims/{claim['id']}?offsetUnit=utf16", headers=world["viewer"].headers
    )
    assert as_utf16.json()["spans"][0] == {
        **utf16,
        "exact": phrase,
        "prefix": got.json()["spans"][0]["prefix"],
        "suffix": got.json()["spans"][0]["suffix"],
    }


@pytest.mark.parametrize(
    ("span", "code"),
    [
        ({"start": 5, "end": 5}, "span_empty"),
        ({"start": 10, "end": 5}, "span_inverted"),
        ({"start": 0, "end": 100_000}, "span_out_of_range"),
        ({"start": 0, "end": 3, "exact": "Tha"}, "quote_mismatch"),
    ],
)
async def test_invalid_spans_are_rejected_with_stable_codes_and_nothing_is_stored(
    client: httpx.AsyncClient,
    world: World,
    document: dict,
    session: AsyncSession,
    span: dict,
    code: str,
) -> None:
    before = await count_rows(session, "claims"), await count_rows(session, "audit_events")
    response = await client.post(
        f"/api/v1/documents/{document['id']}/claims",
        json={"spans": [span]},
        headers=world["reviewer"].headers,
    )
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["code"] == code
    assert body["errors"][0]["field"] == "spans[0]"
    if code == "quote_mismatch":
        assert body["actual"] == "The"
    assert (
        await count_rows(session, "claims"),
        await count_rows(session, "audit_events"),
    ) == before


async def test_utf16_offset_inside_a_surrogate_pair_is_rejected(
    client: httpx.AsyncClient, world: World, document: dict
) -> None:
    emoji_at = TEXT.index("👍")
    utf16_inside = len(TEXT[:emoji_at].encode("utf-16-le")) // 2 + 1
    response = await client.post(
        f"/api/v1/documents/{document['id']}/claims",
        json={"spans": [{"start": utf16_inside, "end": utf16_inside + 5}], "offsetUnit": "utf16"},
        headers=world["reviewer"].headers,
    )
    assert response.status_code == 422
    assert response.json()["code"] == "span_splits_surrogate_pair"


async def test_claim_with_two_spans_keeps_them_in_order_and_overlaps_filter_finds_it(
    client: httpx.AsyncClient, world: World, document: dict
) -> None:
    first = span_of(TEXT, "unemployment fell")
    second = span_of(TEXT, "The budget deficit")
    claim = await create_claim(client, world["reviewer"], document["id"], spans=[first, second])
    assert [s["exact"] for s in claim["spans"]] == ["unemployment fell", "The budget deficit"]
    other = await create_claim(
        client, world["reviewer"], document["id"], spans=[span_of(TEXT, "Critics")]
    )
    url = f"/api/v1/documents/{document['id']}/claims"
    hits = await client.get(
        f"{url}?overlaps={second['start'] + 2},{second['start'] + 4}",
        headers=world["viewer"].headers,
    )
    assert [c["id"] for c in hits.json()["items"]] == [claim["id"]]
    all_claims = await client.get(url, headers=world["viewer"].headers)
    assert {c["id"] for c in all_claims.json()["items"]} == {claim["id"], other["id"]}


async def test_combining_marks_and_right_to_left_text_are_quoted_exactly(
    client: httpx.AsyncClient, world: World, document: dict
) -> None:
    for phrase in ("Café owners (e\u0301)", "قال الوزير إن البطالة انخفضت"):
        claim = await create_claim(
            client,
            world["reviewer"],
            document["id"],
            spans=[{**span_of(TEXT, phrase), "exact": phrase}],
        )
        assert claim["spans"][0]["exact"] == phrase


async def test_patch_requires_if_match_and_rejects_stale_versions(
    client: httpx.AsyncClient, world: World, document: dict
) -> None:
    claim = await create_claim(client, world["reviewer"], document["id"])
    url = f"/api/v1/claims/{claim['id']}"
    missing = await client.patch(url, json={"statement": "x"}, headers=world["reviewer"].headers)
    assert missing.status_code == 428
    ok = await client.patch(
        url,
        json={"statement": "Unemployment halved"},
        headers={**world["reviewer"].headers, **if_match(claim)},
    )
    assert ok.status_code == 200
    assert ok.headers["etag"] == '"2"'
    stale = await client.patch(
        url, json={"statement": "lost"}, headers={**world["reviewer"].headers, **if_match(claim)}
    )
    assert stale.status_code == 412
    assert stale.json()["currentVersion"] == 2
    final = await client.get(url, headers=world["viewer"].headers)
    assert final.json()["statement"] == "Unemployment halved"


async def test_status_workflow_allows_and_refuses_moves(
    client: httpx.AsyncClient, world: World, document: dict
) -> None:
    claim = await create_claim(client, world["reviewer"], document["id"])
    url = f"/api/v1/claims/{claim['id']}/transitions"
    reviewer = world["reviewer"].headers

    async def move(to: str, version: int, who: dict = reviewer) -> httpx.Response:
        return await client.post(url, json={"to": to}, headers={**who, "If-Match": f'"{version}"'})

    refused = await move("verified", 1)
    assert refused.status_code == 409
    assert set(refused.json()["allowed"]) == {"in_review", "dismissed"}
    assert (await move("in_review", 1)).json()["status"] == "in_review"
    assert (await move("dismissed", 2)).json()["status"] == "dismissed"
    reopen_by_reviewer = await move("open", 3)
    assert reopen_by_reviewer.status_code == 409
    assert reopen_by_reviewer.json()["allowed"] == []
    reopened = await move("open", 3, world["editor"].headers)
    assert reopened.json()["status"] == "open"
    viewer = await move("in_review", 4, world["viewer"].headers)
    assert viewer.status_code == 409


async def test_soft_delete_hides_claim_and_editor_restores_it(
    client: httpx.AsyncClient, world: World, document: dict, session: AsyncSession
) -> None:
    claim = await create_claim(client, world["reviewer"], document["id"])
    url = f"/api/v1/claims/{claim['id']}"
    deleted = await client.delete(url, headers={**world["reviewer"].headers, **if_match(claim)})
    assert deleted.status_code == 204
    assert (await client.get(url, headers=world["viewer"].headers)).status_code == 404
    assert await count_rows(session, "claims") >= 1
    refused = await client.post(f"{url}/restore", headers=world["reviewer"].headers)
    assert refused.status_code == 403
    restored = await client.post(f"{url}/restore", headers=world["editor"].headers)
    assert restored.status_code == 200
    assert restored.json()["version"] == 3


async def test_other_workspace_cannot_see_or_annotate_claims(
    client: httpx.AsyncClient, world: World, document: dict
) -> None:
    claim = await create_claim(client, world["reviewer"], document["id"])
    outsider = world["outsider"].headers
    assert (await client.get(f"/api/v1/claims/{claim['id']}", headers=outsider)).status_code == 404
    create = await client.post(
        f"/api/v1/documents/{document['id']}/claims",
        json={"spans": [{"start": 0, "end": 3}]},
        headers=outsider,
    )
    assert create.status_code == 404


async def test_assignee_must_be_a_member_of_the_workspace(
    client: httpx.AsyncClient, world: World, document: dict
) -> None:
    outsider = await client.post(
        f"/api/v1/documents/{document['id']}/claims",
        json={"spans": [{"start": 0, "end": 3}], "assigneeId": str(world["outsider"].user_id)},
        headers=world["reviewer"].headers,
    )
    assert outsider.status_code == 422
    assert outsider.json()["errors"][0]["field"] == "assigneeId"
    member = await create_claim(
        client,
        world["reviewer"],
        document["id"],
        assigneeId=str(world["editor"].user_id),
        checkworthiness="high",
        claimedAt="2026-01-02T03:04:05Z",
    )
    assert member["assigneeId"] == str(world["editor"].user_id)
    assert member["checkworthiness"] == "high"
    assert member["claimedAt"] == "2026-01-02T03:04:05Z"
    mine = await client.get(
        f"/api/v1/workspaces/acme/claims?assignee={world['editor'].user_id}",
        headers=world["viewer"].headers,
    )
    assert [c["id"] for c in mine.json()["items"]] == [member["id"]]
    moved = await client.patch(
        f"/api/v1/claims/{member['id']}",
        json={"assigneeId": str(world["outsider"].user_id)},
        headers={**world["reviewer"].headers, **if_match(member)},
    )
    assert moved.status_code == 422
    assert moved.json()["errors"][0]["field"] == "assigneeId"


async def test_unknown_fields_and_server_managed_fields_are_rejected(
    client: httpx.AsyncClient, world: World, document: dict
) -> None:
    for field, value in (("status", "verified"), ("version", 9), ("createdBy", "x"), ("id", "x")):
        response = await client.post(
            f"/api/v1/documents/{document['id']}/claims",
            json={"spans": [{"start": 0, "end": 3}], field: value},
            headers=world["reviewer"].headers,
        )
        assert response.status_code == 422, field
        assert response.json()["errors"][0]["field"] == field


async def test_a_claim_with_every_field_reads_back_as_created_with_its_audit_events(
    client: httpx.AsyncClient, world: World, document: dict, session: AsyncSession
) -> None:
    """Claim creation writes through prepared asyncpg statements (claim and spans in one),
    not the ORM: what it answers must be what is stored, and the audit trigger must record the
    claim and each span with the request's actor, request id, idempotency key and reason."""
    first, second = span_of(TEXT, "unemployment fell by half"), span_of(TEXT, "part-time work")
    response = await client.post(
        f"/api/v1/documents/{document['id']}/claims",
        json={
            "spans": [first, second],
            "statement": "Unemployment halved, counting part-time work",
            "claimant": {"name": "A. Minister", "role": "Minister", "organisation": "Gov"},
            "claimedAt": "2026-11-20T09:30:00Z",
            "tags": ["economy", "jobs"],
            "checkworthiness": "high",
            "assigneeId": str(world["editor"].user_id),
            "reason": "from the morning briefing",
        },
        headers={
            **world["reviewer"].headers,
            "Idempotency-Key": "every-field-1",
            "X-Request-ID": "req-every-field",
        },
    )
    assert response.status_code == 201, response.text
    created = response.json()
    assert response.headers["etag"] == '"1"'
    assert response.headers["location"] == f"/api/v1/claims/{created['id']}"
    got = await client.get(f"/api/v1/claims/{created['id']}", headers=world["viewer"].headers)
    assert got.json() == created
    assert [s["start"] for s in created["spans"]] == [first["start"], second["start"]]
    assert created["claimant"]["organisation"] == "Gov"
    assert created["assigneeId"] == str(world["editor"].user_id)

    events = (
        await session.execute(
            text(
                "SELECT entity_type, action, actor_id, request_id, idempotency_key, reason "
                "FROM audit_events WHERE claim_id = CAST(:id AS uuid) ORDER BY seq"
            ),
            {"id": created["id"]},
        )
    ).all()
    reviewer = str(world["reviewer"].user_id)
    context = (reviewer, "req-every-field", "every-field-1", "from the morning briefing")
    assert [tuple(e) for e in events] == [
        ("claim", "create", *context),
        ("claim_span", "create", *context),
        ("claim_span", "create", *context),
    ]
