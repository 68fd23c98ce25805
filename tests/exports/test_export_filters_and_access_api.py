"""Which claims an export holds (filters, deleted rows) and who may read it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from factmark.accounts import service as accounts
from factmark.accounts.models import Role, Workspace
from tests.conftest import World, make_user
from tests.exports.conftest import Desk, export_url, ndjson
from tests.exports.standards import ANNOTATION_MUSTS, claimreview_errors, w3c_failures


async def ids(client: httpx.AsyncClient, headers: dict[str, str], **params: Any) -> set[str]:
    response = await client.get(export_url(format="ndjson", **params), headers=headers)
    assert response.status_code == 200, response.text
    items, _ = ndjson(response.content)
    return {item["id"] for item in items}


async def scenario(desk: Desk) -> dict[str, Any]:
    doc = await desk.document()
    other_doc = await desk.document(title="Interview", source_url="https://tv.example.org/1")
    a = await desk.claim(doc, "unemployment fell by half since 2020", tags=["economy", "jobs"])
    await desk.verdict(a, "false")
    b = await desk.claim(doc, "The budget deficit", claimant="Bob Treasurer", tags=["budget"])
    await desk.verdict(b, "true")
    c = await desk.claim(other_doc, "part-time work", claimant="JANE MINISTER", tags=[])
    await desk.verdict(c, "misleading")
    opened = await desk.claim(doc, "Café owners")
    dismissed = await desk.claim(doc, "disagree")
    await desk.touch(dismissed, status="dismissed")
    deleted = await desk.claim(doc, "lowest in a decade")
    await desk.verdict(deleted, "true")
    await desk.touch(deleted, deleted_at=datetime.now(UTC))
    gone_doc = await desk.document(title="Retracted", source_url="https://gone.example.org")
    on_gone_doc = await desk.claim(gone_doc, "Critics")
    await desk.verdict(on_gone_doc, "true")
    gone_doc.deleted_at = datetime.now(UTC)
    await desk.session.commit()
    return {
        "a": str(a.id),
        "b": str(b.id),
        "c": str(c.id),
        "open": str(opened.id),
        "dismissed": str(dismissed.id),
        "doc": str(doc.id),
        "other_doc": str(other_doc.id),
        "b_verified": b.verified_at,
    }


async def test_default_export_holds_verified_claims_not_deleted_ones(
    client: httpx.AsyncClient, world: World, desk: Desk
) -> None:
    s = await scenario(desk)
    assert await ids(client, world["viewer"].headers) == {s["a"], s["b"], s["c"]}


async def test_status_filter_is_repeatable(
    client: httpx.AsyncClient, world: World, desk: Desk
) -> None:
    s = await scenario(desk)
    headers = world["viewer"].headers
    assert await ids(client, headers, status=["open", "dismissed"]) == {s["open"], s["dismissed"]}
    assert await ids(client, headers, status="verified") == {s["a"], s["b"], s["c"]}
    bad = await client.get(export_url(status="published"), headers=headers)
    assert bad.status_code == 422
    assert bad.json()["code"] == "invalid_status"


async def test_rating_tag_claimant_and_document_filters(
    client: httpx.AsyncClient, world: World, desk: Desk
) -> None:
    s = await scenario(desk)
    headers = world["viewer"].headers
    assert await ids(client, headers, rating="false") == {s["a"]}
    assert await ids(client, headers, rating=["false", "misleading"]) == {s["a"], s["c"]}
    assert await ids(client, headers, rating="no-such-rating") == set()
    assert await ids(client, headers, tag="jobs") == {s["a"]}
    assert await ids(client, headers, tag=["jobs", "budget"]) == {s["a"], s["b"]}
    assert await ids(client, headers, claimant="jane minister") == {s["a"], s["c"]}
    assert await ids(client, headers, documentId=s["other_doc"]) == {s["c"]}
    assert await ids(client, headers, documentId=s["doc"], rating="true") == {s["b"]}


async def test_verified_since_and_updated_since(
    client: httpx.AsyncClient, world: World, desk: Desk
) -> None:
    s = await scenario(desk)
    headers = world["viewer"].headers
    since = s["b_verified"].isoformat().replace("+00:00", "Z")
    assert await ids(client, headers, verifiedSince=since) == {s["b"], s["c"]}
    assert await ids(client, headers, updatedSince="2030-01-01T00:00:00Z") == set()
    assert await ids(client, headers, updatedSince=since) == {s["b"], s["c"]}


async def test_filters_on_the_claims_own_columns_keep_every_match_in_update_order(
    client: httpx.AsyncClient, world: World, desk: Desk
) -> None:
    """Behind verifiedSince, tag, claimant or documentId filters the export starts reading at
    the earliest update among the claims that pass them: every match still comes out, in
    update order, including one updated before it was verified (as imported rows can be)."""
    doc = await desk.document()
    a = await desk.claim(doc, tags=["jobs"])
    await desk.verdict(a, "false")
    b = await desk.claim(doc, "The budget deficit", tags=["budget"], claimant="Bob Treasurer")
    await desk.verdict(b, "true")
    c = await desk.claim(doc, "part-time work", tags=["jobs"])
    await desk.verdict(c, "misleading")
    await desk.touch(a)  # verified first, updated last
    await desk.touch(c, at=a.created_at - timedelta(days=1))  # updated before it was verified
    await desk.session.commit()
    headers = world["viewer"].headers

    async def order(**params: Any) -> list[str]:
        response = await client.get(export_url(format="ndjson", **params), headers=headers)
        assert response.status_code == 200, response.text
        items, trailer = ndjson(response.content)
        assert trailer["records"] == len(items)
        return [item["id"] for item in items]

    assert b.verified_at is not None
    since = b.verified_at.isoformat().replace("+00:00", "Z")
    assert await order() == [str(c.id), str(b.id), str(a.id)]
    assert await order(verifiedSince=since) == [str(c.id), str(b.id)]
    assert await order(tag="jobs") == [str(c.id), str(a.id)]
    assert await order(claimant="bob treasurer") == [str(b.id)]
    assert await order(documentId=str(doc.id), verifiedSince=since, tag="jobs") == [str(c.id)]
    assert await order(verifiedSince="2030-01-01T00:00:00Z") == []


async def test_viewer_and_viewer_service_token_can_export(
    client: httpx.AsyncClient, world: World, desk: Desk, session: AsyncSession
) -> None:
    s = await scenario(desk)
    workspace = await session.get_one(Workspace, world.workspace_id)
    token, _ = await accounts.create_service_token(
        session,
        accounts.system_actor("tests"),
        workspace,
        name="partner pull",
        role=Role.VIEWER,
        expires_in_days=None,
    )
    await session.commit()
    service_headers = {"Authorization": f"Bearer {token}"}
    assert await ids(client, service_headers) == {s["a"], s["b"], s["c"]}
    assert await ids(client, world["viewer"].headers) == {s["a"], s["b"], s["c"]}


async def test_members_of_other_workspaces_and_strangers_get_404(
    client: httpx.AsyncClient, world: World, desk: Desk, session: AsyncSession
) -> None:
    await scenario(desk)
    reviewer = await make_user(
        session, "reviewer@other.test", workspace_id=world.other_workspace_id, role=Role.REVIEWER
    )
    other = await session.get_one(Workspace, world.other_workspace_id)
    token, _ = await accounts.create_service_token(
        session,
        accounts.system_actor("tests"),
        other,
        name="their partner",
        role=Role.VIEWER,
        expires_in_days=None,
    )
    await session.commit()
    strangers = {
        "reviewer of another workspace": reviewer.headers,
        "admin of another workspace": world["outsider"].headers,
        "service token of another workspace": {"Authorization": f"Bearer {token}"},
        "user without a workspace": world["nobody"].headers,
    }
    for who, headers in strangers.items():
        for fmt in ("ndjson", "csv"):
            response = await client.get(export_url(format=fmt), headers=headers)
            assert response.status_code == 404, who
            assert response.json()["code"] == "not_found"
    # The other workspace's admin exports their own workspace, which has none of acme's claims.
    own = await client.get(export_url("other", format="ndjson"), headers=world["outsider"].headers)
    assert own.status_code == 200
    assert ndjson(own.content)[0] == []
    assert (await client.get(export_url())).status_code == 401


async def test_format_checkers_reject_broken_documents() -> None:
    """The standards checkers used by these tests are not vacuous."""
    assert claimreview_errors({"@type": "ClaimReview", "claimReviewed": "x"}) != []
    assert (
        claimreview_errors(
            {
                "@type": "ClaimReview",
                "claimReviewed": "x",
                "url": "https://example.org/1",
                "reviewRating": {"@type": "Rating", "alternateName": "False", "ratingValue": 1},
            }
        )
        != []
    )
    broken = {
        "@context": "http://www.w3.org/ns/anno.jsonld",
        "id": "https://example.org/a/1",
        "type": "Annotation",
        "motivation": "assessing",
        "target": {
            "source": "https://example.org/doc",
            "selector": {"type": "TextPositionSelector", "start": "ten", "end": 12},
        },
    }
    assert w3c_failures(broken, ANNOTATION_MUSTS) != []
    assert w3c_failures({**broken, "@context": "https://schema.org"}, ANNOTATION_MUSTS) != []
