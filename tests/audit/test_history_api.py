"""Reading history: diffs, roll-ups, the workspace feed, as-of reads and purges."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from factmark.accounts import service as accounts
from factmark.accounts.service import Actor
from factmark.annotations.models import Claim, ClaimSpan, Evidence, Rating, Verdict
from factmark.audit import service as audit
from factmark.audit.images import api_field
from tests.conftest import World

ARTICLE = {
    "title": "Minister says unemployment halved",
    "text": "The minister said unemployment had halved since 2020. Critics disagree.",
    "tags": ["economy"],
}


async def _now(session: AsyncSession) -> datetime:
    return (await session.execute(text("SELECT clock_timestamp()"))).scalar_one()  # type: ignore[no-any-return]


async def _create(client: httpx.AsyncClient, world: World, **changes: Any) -> dict[str, Any]:
    response = await client.post(
        "/api/v1/workspaces/acme/documents",
        json={**ARTICLE, **changes},
        headers=world["editor"].headers,
    )
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


async def _patch(
    client: httpx.AsyncClient,
    document: dict[str, Any],
    who: dict[str, str],
    version: int,
    body: dict[str, Any],
    **headers: str,
) -> dict[str, Any]:
    response = await client.patch(
        f"/api/v1/documents/{document['id']}",
        json=body,
        headers={**who, "If-Match": f'"{version}"', **headers},
    )
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


async def test_document_history_lists_field_diffs_newest_first(
    client: httpx.AsyncClient, world: World
) -> None:
    document = await _create(client, world)
    await _patch(
        client,
        document,
        world["editor"].headers,
        1,
        {"title": "Unemployment halved, says minister"},
        **{"X-Change-Reason": "clearer headline"},
    )
    await _patch(
        client,
        document,
        world["admin"].headers,
        2,
        {"title": "Final headline", "tags": ["economy", "jobs"], "reason": "house style"},
        **{"X-Request-ID": "req-42"},
    )
    response = await client.get(
        f"/api/v1/documents/{document['id']}/history", headers=world["viewer"].headers
    )
    assert response.status_code == 200, response.text
    items = response.json()["items"]
    assert [(i["action"], i["version"]) for i in items] == [
        ("update", 3),
        ("update", 2),
        ("create", 1),
    ]
    latest, first_edit, created = items
    assert latest["actor"] == {"id": str(world["admin"].user_id), "kind": "user", "name": "admin"}
    assert latest["reason"] == "house style"
    assert latest["requestId"] == "req-42"
    assert latest["changes"] == [
        {"field": "tags", "before": ["economy"], "after": ["economy", "jobs"]},
        {
            "field": "title",
            "before": "Unemployment halved, says minister",
            "after": "Final headline",
        },
    ]
    assert first_edit["reason"] == "clearer headline"
    assert first_edit["actor"]["name"] == "editor"
    assert first_edit["changes"] == [
        {
            "field": "title",
            "before": ARTICLE["title"],
            "after": "Unemployment halved, says minister",
        }
    ]
    created_fields = {c["field"]: c for c in created["changes"]}
    assert created_fields["title"] == {"field": "title", "before": None, "after": ARTICLE["title"]}
    assert "sourceUrl" not in created_fields  # left null: not part of the diff
    assert created_fields["tags"] == {"field": "tags", "before": None, "after": ["economy"]}
    assert {"id", "version", "createdAt", "updatedAt"}.isdisjoint(created_fields)
    assert created["entityType"] == "document"
    assert created["entityId"] == document["id"]
    assert created["redacted"] is False


async def test_history_pages_with_a_cursor_and_a_link_header(
    client: httpx.AsyncClient, world: World
) -> None:
    document = await _create(client, world)
    for version in range(1, 5):
        await _patch(client, document, world["editor"].headers, version, {"title": f"T{version}"})
    url = f"/api/v1/documents/{document['id']}/history"
    seen: list[int] = []
    first = await client.get(url, params={"limit": 2}, headers=world["viewer"].headers)
    body = first.json()
    assert 'rel="next"' in first.headers["link"]
    while True:
        seen += [item["seq"] for item in body["items"]]
        if body["nextCursor"] is None:
            break
        body = (
            await client.get(
                url,
                params={"limit": 2, "cursor": body["nextCursor"]},
                headers=world["viewer"].headers,
            )
        ).json()
    assert len(seen) == 5
    assert seen == sorted(seen, reverse=True)
    bad = await client.get(url, params={"cursor": "nonsense"}, headers=world["viewer"].headers)
    assert bad.status_code == 422
    assert bad.json()["code"] == "invalid_cursor"


async def test_history_is_hidden_from_other_workspaces_and_kept_after_a_soft_delete(
    client: httpx.AsyncClient, world: World
) -> None:
    document = await _create(client, world)
    url = f"/api/v1/documents/{document['id']}/history"
    assert (await client.get(url, headers=world["outsider"].headers)).status_code == 404
    assert (await client.get(url, headers=world["nobody"].headers)).status_code == 404
    missing = await client.get(
        f"/api/v1/documents/{uuid.uuid4()}/history", headers=world["viewer"].headers
    )
    assert missing.status_code == 404
    deleted = await client.delete(
        f"/api/v1/documents/{document['id']}",
        headers={**world["editor"].headers, "If-Match": '"1"'},
    )
    assert deleted.status_code == 204
    after = await client.get(url, headers=world["viewer"].headers)
    assert after.status_code == 200
    delete_event = after.json()["items"][0]
    assert delete_event["action"] == "delete"
    assert [c["field"] for c in delete_event["changes"]] == ["deletedAt"]
    assert delete_event["changes"][0]["before"] is None


async def _annotate(
    session: AsyncSession, world: World, document_id: str
) -> tuple[Claim, ClaimSpan, Verdict, Evidence]:
    """A claim with a span, a verdict and evidence, written as a reviewer would."""
    reviewer = Actor(kind="user", id=str(world["reviewer"].user_id), name="reviewer")
    await accounts.set_audit_context(session, reviewer)
    doc_id = uuid.UUID(document_id)
    claim = Claim(
        workspace_id=world.workspace_id, document_id=doc_id, statement="Unemployment halved"
    )
    session.add(claim)
    await session.flush()
    span = ClaimSpan(
        workspace_id=world.workspace_id,
        claim_id=claim.id,
        document_id=doc_id,
        ordinal=0,
        start_offset=18,
        end_offset=42,
        start_utf16=18,
        end_utf16=42,
        exact="unemployment had halved",
        prefix="The minister said ",
        suffix=" since 2020.",
    )
    rating = await session.scalar(
        select(Rating).where(Rating.workspace_id == world.workspace_id, Rating.key == "false")
    )
    assert rating is not None
    verdict = Verdict(
        workspace_id=world.workspace_id,
        claim_id=claim.id,
        document_id=doc_id,
        rating_id=rating.id,
        summary="The rate fell by a fifth, not a half.",
    )
    evidence = Evidence(
        workspace_id=world.workspace_id,
        claim_id=claim.id,
        document_id=doc_id,
        stance="refutes",
        source_url="https://stats.example.org/labour",
    )
    session.add_all([span, verdict, evidence])
    await session.flush()
    return claim, span, verdict, evidence


async def test_claim_verdict_and_evidence_histories_and_the_document_roll_up(
    client: httpx.AsyncClient, world: World, session: AsyncSession
) -> None:
    document = await _create(client, world)
    claim, span, verdict, evidence = await _annotate(session, world, document["id"])
    await session.execute(
        text("UPDATE verdicts SET summary = 'Fell by a fifth.' WHERE id = :id"), {"id": verdict.id}
    )
    viewer = world["viewer"].headers

    async def entities(url: str) -> list[tuple[str, str, str]]:
        response = await client.get(url, headers=viewer)
        assert response.status_code == 200, response.text
        return [(i["entityType"], i["entityId"], i["action"]) for i in response.json()["items"]]

    assert await entities(f"/api/v1/claims/{claim.id}/history") == [
        ("claim_span", str(span.id), "create"),
        ("claim", str(claim.id), "create"),
    ]
    assert await entities(f"/api/v1/verdicts/{verdict.id}/history") == [
        ("verdict", str(verdict.id), "update"),
        ("verdict", str(verdict.id), "create"),
    ]
    assert await entities(f"/api/v1/evidence/{evidence.id}/history") == [
        ("evidence", str(evidence.id), "create")
    ]
    roll_up = await entities(f"/api/v1/documents/{document['id']}/history")
    assert roll_up[0] == ("verdict", str(verdict.id), "update")
    assert roll_up[-2:] == [
        ("claim", str(claim.id), "create"),
        ("document", document["id"], "create"),
    ]
    assert set(roll_up[1:-2]) == {
        ("claim_span", str(span.id), "create"),
        ("verdict", str(verdict.id), "create"),
        ("evidence", str(evidence.id), "create"),
    }
    verdict_diff = await client.get(f"/api/v1/verdicts/{verdict.id}/history", headers=viewer)
    assert verdict_diff.json()["items"][0]["changes"] == [
        {
            "field": "summary",
            "before": "The rate fell by a fifth, not a half.",
            "after": "Fell by a fifth.",
        }
    ]
    outsider = await client.get(
        f"/api/v1/verdicts/{verdict.id}/history", headers=world["outsider"].headers
    )
    assert outsider.status_code == 404


async def test_workspace_feed_filters_by_actor_entity_type_action_and_time(
    client: httpx.AsyncClient, world: World, session: AsyncSession
) -> None:
    first = await _create(client, world)
    second = await _create(client, world, text="Another text entirely.", title="Second")
    middle = await _now(session)
    await _patch(client, first, world["admin"].headers, 1, {"title": "Edited by the admin"})
    deleted = await client.delete(
        f"/api/v1/documents/{second['id']}", headers={**world["editor"].headers, "If-Match": '"1"'}
    )
    assert deleted.status_code == 204
    url = "/api/v1/workspaces/acme/audit"
    editor = world["editor"].headers

    async def feed(**params: Any) -> list[tuple[str, str]]:
        response = await client.get(url, params=params, headers=editor)
        assert response.status_code == 200, response.text
        return [(i["action"], i["entityId"]) for i in response.json()["items"]]

    assert await feed(entityType="document") == [
        ("delete", second["id"]),
        ("update", first["id"]),
        ("create", second["id"]),
        ("create", first["id"]),
    ]
    assert await feed(action="update") == [("update", first["id"])]
    assert await feed(actor=str(world["editor"].user_id), entityType="document") == [
        ("delete", second["id"]),
        ("create", second["id"]),
        ("create", first["id"]),
    ]
    assert await feed(action=["update", "delete"], since=middle.isoformat()) == [
        ("delete", second["id"]),
        ("update", first["id"]),
    ]
    assert await feed(entityType="document", until=middle.isoformat()) == [
        ("create", second["id"]),
        ("create", first["id"]),
    ]
    everything = await feed(limit=200)
    assert {"membership", "rating", "workspace"} <= {
        item["entityType"]
        for item in (await client.get(url, params={"limit": 200}, headers=editor)).json()["items"]
    }
    assert len(everything) > 4
    assert (await client.get(url, headers=world["viewer"].headers)).status_code == 403
    assert (await client.get(url, headers=world["reviewer"].headers)).status_code == 403
    assert (await client.get(url, headers=world["outsider"].headers)).status_code == 404
    invalid = await client.get(url, params={"entityType": "spaceship"}, headers=editor)
    assert invalid.status_code == 422


async def test_as_of_reads_reproduce_every_recorded_response_exactly(
    client: httpx.AsyncClient, world: World, session: AsyncSession
) -> None:
    before_creation = await _now(session)
    document = await _create(client, world)
    url = f"/api/v1/documents/{document['id']}"
    viewer = world["viewer"].headers
    recorded: list[tuple[datetime, dict[str, Any]]] = []

    async def record() -> None:
        response = await client.get(url, headers=viewer)
        recorded.append((await _now(session), response.json()))

    await record()
    await _patch(client, document, world["editor"].headers, 1, {"title": "Second title"})
    await record()
    await _patch(
        client,
        document,
        world["editor"].headers,
        2,
        {"tags": ["jobs"], "metadata": {"desk": "economy"}, "publishedAt": "2026-11-01T08:00:00Z"},
    )
    await record()
    deleted = await client.delete(url, headers={**world["editor"].headers, "If-Match": '"3"'})
    assert deleted.status_code == 204
    after_deletion = await _now(session)

    for moment, expected in recorded:
        response = await client.get(url, params={"asOf": moment.isoformat()}, headers=viewer)
        assert response.status_code == 200, response.text
        assert response.json() == expected
        assert response.headers["etag"] == f'"{expected["version"]}"'
    assert recorded[0][1]["title"] == ARTICLE["title"]
    for moment in (before_creation, after_deletion):
        gone = await client.get(url, params={"asOf": moment.isoformat()}, headers=viewer)
        assert gone.status_code == 404
    outsider = await client.get(
        url, params={"asOf": recorded[0][0].isoformat()}, headers=world["outsider"].headers
    )
    assert outsider.status_code == 404
    naive = await client.get(url, params={"asOf": "2026-11-25T10:00:00"}, headers=viewer)
    assert naive.status_code == 422


async def test_children_as_of_lists_a_claims_verdicts_at_each_moment(
    client: httpx.AsyncClient, world: World, session: AsyncSession
) -> None:
    document = await _create(client, world)
    claim, _, verdict, _ = await _annotate(session, world, document["id"])
    one_verdict = await _now(session)
    rating = await session.scalar(
        select(Rating.id).where(Rating.key == "true", Rating.workspace_id == world.workspace_id)
    )
    second = Verdict(
        workspace_id=world.workspace_id,
        claim_id=claim.id,
        document_id=claim.document_id,
        rating_id=rating,
        summary="On reflection, true.",
    )
    session.add(second)
    await session.flush()
    two_verdicts = await _now(session)
    await session.execute(
        text("UPDATE verdicts SET deleted_at = now() WHERE id = :id"), {"id": verdict.id}
    )
    await session.execute(
        text("UPDATE verdicts SET summary = 'Surely true.' WHERE id = :id"), {"id": second.id}
    )
    later = await _now(session)

    async def summaries(at: datetime) -> list[str]:
        rows = await audit.children_as_of(session, Verdict, "claim_id", claim.id, at)
        return [row.summary for row in rows]

    assert await summaries(one_verdict) == ["The rate fell by a fifth, not a half."]
    assert await summaries(two_verdicts) == [
        "The rate fell by a fifth, not a half.",
        "On reflection, true.",
    ]
    assert await summaries(later) == ["Surely true."]
    assert await summaries(later - timedelta(days=1)) == []
    past = await audit.row_as_of(session, "verdict", verdict.id, one_verdict)
    assert isinstance(past, Verdict)
    assert past.rating_id == verdict.rating_id
    assert past.created_at.tzinfo is not None
    assert await audit.row_as_of(session, Verdict, verdict.id, later) is None
    deleted = await audit.row_as_of(session, Verdict, verdict.id, later, include_deleted=True)
    assert deleted is not None
    assert deleted.deleted_at is not None


async def test_purge_erases_a_document_and_its_annotations_and_records_who_and_why(
    client: httpx.AsyncClient, world: World, session: AsyncSession
) -> None:
    document = await _create(client, world)
    claim, _, verdict, _ = await _annotate(session, world, document["id"])
    url = f"/api/v1/documents/{document['id']}/purge"
    reason = {"reason": "Court order 2026/113"}
    assert (await client.post(url, json=reason, headers=world["editor"].headers)).status_code == 403
    assert (
        await client.post(url, json=reason, headers=world["outsider"].headers)
    ).status_code == 404
    no_reason = await client.post(url, json={}, headers=world["admin"].headers)
    assert no_reason.status_code == 422
    blank = await client.post(url, json={"reason": "   "}, headers=world["admin"].headers)
    assert blank.status_code == 422

    purged = await client.post(url, json=reason, headers=world["admin"].headers)
    assert purged.status_code == 200, purged.text
    receipt = purged.json()
    assert receipt["documentId"] == document["id"]
    assert receipt["reason"] == "Court order 2026/113"
    assert receipt["purgedBy"]["id"] == str(world["admin"].user_id)
    assert receipt["purgedRows"] == [
        {"entityType": "claim", "count": 1},
        {"entityType": "claim_span", "count": 1},
        {"entityType": "document", "count": 1},
        {"entityType": "evidence", "count": 1},
        {"entityType": "verdict", "count": 1},
    ]
    for table, row_id in (("documents", document["id"]), ("claims", claim.id)):
        left = await session.execute(
            text(f"SELECT count(*) FROM {table} WHERE id = CAST(:id AS uuid)"),  # noqa: S608
            {"id": str(row_id)},
        )
        assert left.scalar_one() == 0
    gone = await client.get(f"/api/v1/documents/{document['id']}", headers=world["admin"].headers)
    assert gone.status_code == 404

    history_url = f"/api/v1/documents/{document['id']}/history"
    history = await client.get(history_url, headers=world["admin"].headers)
    assert history.status_code == 200
    purge_events = [i for i in history.json()["items"] if i["action"] == "purge"]
    assert len(purge_events) == 5
    assert {i["reason"] for i in purge_events} == {"Court order 2026/113"}
    document_event = next(i for i in purge_events if i["entityType"] == "document")
    assert document_event["seq"] == receipt["auditSeq"]
    assert {"field": "title", "before": ARTICLE["title"], "after": None} in document_event[
        "changes"
    ]
    for member in ("viewer", "editor"):
        hidden = await client.get(history_url, headers=world[member].headers)
        assert hidden.status_code == 404
    verdict_history = await client.get(
        f"/api/v1/verdicts/{verdict.id}/history", headers=world["editor"].headers
    )
    assert verdict_history.status_code == 404

    feed = (
        await client.get(
            "/api/v1/workspaces/acme/audit",
            params={"entityType": "document"},
            headers=world["editor"].headers,
        )
    ).json()["items"]
    mine = [i for i in feed if i["entityId"] == document["id"]]
    assert [i["action"] for i in mine] == ["purge", "create"]
    assert all(i["redacted"] and i["changes"] == [] for i in mine)
    admin_feed = (
        await client.get(
            "/api/v1/workspaces/acme/audit",
            params={"entityType": "document"},
            headers=world["admin"].headers,
        )
    ).json()["items"]
    assert not any(i["redacted"] for i in admin_feed)


async def test_latest_checkpoint_needs_a_token_and_is_404_before_the_first(
    client: httpx.AsyncClient, world: World
) -> None:
    url = "/api/v1/audit/checkpoints/latest"
    assert (await client.get(url)).status_code == 401
    none_yet = await client.get(url, headers=world["nobody"].headers)
    assert none_yet.status_code == 404
    assert none_yet.json()["code"] == "no_checkpoint"


async def test_audit_operations_are_documented_in_openapi(client: httpx.AsyncClient) -> None:
    schema = (await client.get("/schema/openapi.json")).json()
    operations = {
        op["operationId"]: op for path in schema["paths"].values() for op in path.values()
    }
    for operation_id in (
        "getLatestAuditCheckpoint",
        "listWorkspaceAuditEvents",
        "verifyAuditChain",
        "getDocumentHistory",
        "getClaimHistory",
        "getVerdictHistory",
        "getEvidenceHistory",
        "purgeDocument",
    ):
        assert operation_id in operations
    recipe = operations["getLatestAuditCheckpoint"]["description"]
    assert "Ed25519PublicKey" in recipe
    assert "jsonb_build_object" in recipe
    parameters = {p["name"] for p in operations["getDocument"]["parameters"]}
    assert "asOf" in parameters


def test_diff_field_names_follow_the_api() -> None:
    assert api_field("document", "source_url") == "sourceUrl"
    assert api_field("claim_span", "start_offset") == "start"
    assert api_field("claim", "claimant_name") == "claimant.name"
    assert api_field("evidence", "source_document_id") == "sourceSpan.documentId"
    assert api_field("claim_span", "start_utf16") == "startUtf16"
