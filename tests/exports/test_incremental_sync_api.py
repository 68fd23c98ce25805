"""Incremental sync: a partner mirrors a workspace by polling with the last watermark."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from factmark.accounts.models import User
from factmark.annotations.models import Claim, Comment, Evidence
from factmark.exports.service import reader
from tests.conftest import World
from tests.exports.conftest import Desk, export_url, ndjson


class Mirror:
    """What a partner keeps: claims by id, updated from full and incremental exports."""

    def __init__(self, client: httpx.AsyncClient, headers: dict[str, str], **filters: Any):
        self.client = client
        self.headers = headers
        self.filters = filters
        self.claims: dict[str, dict[str, Any]] = {}
        self.watermark: str | None = None
        self.last_items: list[dict[str, Any]] = []

    async def export(self, since: str | None = None, fmt: str = "ndjson") -> Any:
        params = dict(self.filters, format=fmt)
        if since:
            params["since"] = since
        response = await self.client.get(export_url(**params), headers=self.headers)
        assert response.status_code == 200, response.text
        return response

    async def full(self) -> dict[str, dict[str, Any]]:
        items, _ = ndjson((await self.export()).content)
        assert not any(item.get("deleted") for item in items)
        return {item["id"]: item for item in items}

    async def poll(self) -> None:
        items, trailer = ndjson((await self.export(self.watermark)).content)
        for item in items:
            if item.get("deleted"):
                self.claims.pop(item["id"], None)
            else:
                self.claims[item["id"]] = item
        self.watermark = trailer["watermark"]
        self.last_items = items

    async def check(self) -> set[str]:
        """Poll, compare with a full export, and return the ids the poll sent."""
        await self.poll()
        assert self.claims == await self.full()
        return {item["id"] for item in self.last_items}


async def test_mirror_equals_a_full_export_after_every_edit(
    client: httpx.AsyncClient, world: World, desk: Desk, session: AsyncSession
) -> None:
    mirror = Mirror(client, world["viewer"].headers)
    assert await mirror.check() == set()

    doc = await desk.document()
    a = await desk.claim(doc, "unemployment fell by half since 2020")
    await session.commit()
    assert await mirror.check() == {str(a.id)}  # open: a tombstone for a claim never held
    assert mirror.claims == {}

    await desk.verdict(a, "false")
    b = await desk.claim(doc, "The budget deficit")
    await desk.verdict(b, "true")
    await session.commit()
    assert await mirror.check() == {str(a.id), str(b.id)}
    assert set(mirror.claims) == {str(a.id), str(b.id)}

    await desk.touch(a, statement="Unemployment halved since 2020")
    await session.commit()
    assert await mirror.check() == {str(a.id)}
    assert mirror.claims[str(a.id)]["statement"] == "Unemployment halved since 2020"

    await desk.evidence(a)
    await session.commit()
    assert await mirror.check() == {str(a.id)}
    assert len(mirror.claims[str(a.id)]["evidence"]) == 1

    doc.title = "Budget speech (transcript)"
    doc.version += 1
    await session.commit()
    assert await mirror.check() == {str(a.id), str(b.id)}
    assert {c["document"]["title"] for c in mirror.claims.values()} == {doc.title}

    await desk.reopen(b)
    await session.commit()
    assert await mirror.check() == {str(b.id)}
    assert set(mirror.claims) == {str(a.id)}

    await desk.touch(a, deleted_at=datetime.now(UTC))
    await session.commit()
    assert await mirror.check() == {str(a.id)}
    assert mirror.claims == {}

    await desk.verdict(b, "mostly-true", "Second look.")
    await session.commit()
    assert await mirror.check() == {str(b.id)}
    await desk.correct(b, "half-true", "A revised series.")
    await session.commit()
    await mirror.check()
    corrected = mirror.claims[str(b.id)]
    assert corrected["verdict"]["rating"]["key"] == "half-true"
    assert corrected["corrections"][0]["previousRating"]["key"] == "mostly-true"

    c = await desk.claim(doc, "part-time work")
    await desk.verdict(c, "misleading")
    session.add(
        Comment(
            workspace_id=desk.workspace_id,
            claim_id=c.id,
            document_id=doc.id,
            body="Internal note",
            created_by=desk.reviewer_id,
        )
    )
    await session.commit()
    assert await mirror.check() == {str(c.id)}
    assert await mirror.check() == set()  # nothing changed since

    editor = await session.get_one(User, desk.editor_id)
    editor.display_name = "Eddie Editor"
    await session.commit()
    # Every claim with a verdict the editor approved (a, deleted, only as a tombstone).
    assert await mirror.check() == {str(a.id), str(b.id), str(c.id)}
    assert {v["verdict"]["approvedBy"] for v in mirror.claims.values()} == {"Eddie Editor"}

    rating = await desk.rating("half-true")
    rating.label = "Partly true"
    await session.commit()
    await mirror.check()  # the scale changed: everything is resent
    assert mirror.claims[str(b.id)]["verdict"]["rating"]["label"] == "Partly true"
    assert mirror.claims[str(b.id)]["corrections"][0]["newRating"]["label"] == "Partly true"

    evidence = await desk.evidence(c)
    await session.commit()
    await mirror.check()
    evidence.deleted_at = datetime.now(UTC)
    await session.commit()
    assert await mirror.check() == {str(c.id)}
    assert mirror.claims[str(c.id)]["evidence"] == []

    await desk.settings(claim_url_template="https://checks.example.org/{id}")
    await session.commit()
    await mirror.check()
    assert {v["permalink"] for v in mirror.claims.values()} == {
        f"https://checks.example.org/{b.id}",
        f"https://checks.example.org/{c.id}",
    }

    other_doc = await desk.document(title="Interview", source_url="https://tv.example.org/1")
    d = await desk.claim(other_doc, "Critics")
    await desk.verdict(d, "true")
    await session.commit()
    assert await mirror.check() == {str(d.id)}
    other_doc.deleted_at = datetime.now(UTC)  # the document is withdrawn: so are its claims
    await session.commit()
    assert await mirror.check() == {str(d.id)}
    assert str(d.id) not in mirror.claims
    other_doc.deleted_at = None
    await session.commit()
    assert await mirror.check() == {str(d.id)}
    assert str(d.id) in mirror.claims

    await session.execute(delete(Claim).where(Claim.id == b.id))  # purged, not soft-deleted
    await session.commit()
    assert await mirror.check() == {str(b.id)}
    assert set(mirror.claims) == {str(c.id), str(d.id)}


async def test_filtered_mirror_gets_tombstones_when_a_claim_leaves_the_filter(
    client: httpx.AsyncClient, world: World, desk: Desk, session: AsyncSession
) -> None:
    mirror = Mirror(client, world["viewer"].headers, tag="economy", rating="false")
    doc = await desk.document()
    a = await desk.claim(doc, tags=["economy"])
    await desk.verdict(a, "false")
    b = await desk.claim(doc, "The budget deficit", tags=["economy"])
    await desk.verdict(b, "false")
    await session.commit()
    assert await mirror.check() == {str(a.id), str(b.id)}
    await desk.touch(a, tags=["politics"])
    await desk.correct(b, "true", "Checked again.")
    await session.commit()
    await mirror.check()
    assert mirror.claims == {}
    assert {item["id"] for item in mirror.last_items if item.get("deleted")} == {
        str(a.id),
        str(b.id),
    }


async def test_many_changes_resend_the_whole_set_and_still_mirror_exactly(
    client: httpx.AsyncClient,
    world: World,
    desk: Desk,
    session: AsyncSession,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(reader, "CHANGED_LIMIT", 2)
    mirror = Mirror(client, world["viewer"].headers)
    doc = await desk.document()
    claims = [await desk.claim(doc, "Critics", statement=f"Claim {i}") for i in range(4)]
    for claim in claims[:3]:
        await desk.verdict(claim, "true")
    await session.commit()
    assert await mirror.check() == {str(c.id) for c in claims[:3]}  # a full export
    await desk.reopen(claims[0])
    await desk.touch(claims[1], statement="Claim one, edited")
    await desk.touch(claims[2], statement="Claim two, edited")
    await session.commit()
    # Three changed claims, over the limit of two: every claim comes again, and every claim
    # outside the set (the reopened one, the one never verified) as a tombstone.
    assert await mirror.check() == {str(c.id) for c in claims}
    assert set(mirror.claims) == {str(claims[1].id), str(claims[2].id)}
    assert mirror.claims[str(claims[2].id)]["statement"] == "Claim two, edited"


async def test_json_and_other_formats_carry_tombstones_of_an_incremental_export(
    client: httpx.AsyncClient, world: World, desk: Desk, session: AsyncSession
) -> None:
    mirror = Mirror(client, world["viewer"].headers)
    doc = await desk.document()
    a = await desk.claim(doc)
    await desk.verdict(a, "false")
    await session.commit()
    await mirror.check()
    await desk.reopen(a)
    await session.commit()
    body = (await mirror.export(mirror.watermark, fmt="json")).json()
    assert body["items"] == [{"id": str(a.id), "deleted": True}]
    assert body["tombstones"] == 1
    assert body["records"] == 0
    reviews = (await mirror.export(mirror.watermark, fmt="claimreview")).json()
    assert reviews["@graph"] == []
    assert reviews["deleted"] == [
        {"id": str(a.id), "url": f"https://factcheck.example.org/claims/{a.id}", "deleted": True}
    ]
    annotations = (await mirror.export(mirror.watermark, fmt="w3c")).json()
    assert annotations["deleted"] == [
        {"id": f"https://factcheck.example.org/claims/{a.id}", "deleted": True}
    ]
    assert annotations["@graph"][-1]["total"] == 0
    rows = (await mirror.export(mirror.watermark, fmt="csv")).content.decode("utf-8-sig")
    assert rows.splitlines()[1].startswith(f"{a.id},true,")


async def test_a_watermark_only_fits_its_workspace_and_filters(
    client: httpx.AsyncClient, world: World, desk: Desk
) -> None:
    headers = world["viewer"].headers
    first = await client.get(export_url(format="ndjson", tag="economy"), headers=headers)
    watermark = first.headers["x-export-watermark"]
    same = await client.get(
        export_url(format="csv", tag="economy", since=watermark), headers=headers
    )
    assert same.status_code == 200  # the format may change, the filters may not
    other_filters = await client.get(export_url(since=watermark), headers=headers)
    assert other_filters.status_code == 422
    assert other_filters.json()["code"] == "watermark_filters_mismatch"
    theirs = await client.get(
        export_url("other", tag="economy", since=watermark), headers=world["outsider"].headers
    )
    assert theirs.status_code == 422
    assert theirs.json()["code"] == "invalid_watermark"
    garbage = await client.get(export_url(since="not-a-watermark!"), headers=headers)
    assert garbage.status_code == 422
    assert garbage.json()["errors"][0]["field"] == "since"


async def test_evidence_quoting_another_document_follows_that_document(
    client: httpx.AsyncClient, world: World, desk: Desk, session: AsyncSession
) -> None:
    mirror = Mirror(client, world["viewer"].headers)
    doc = await desk.document()
    source = await desk.document(
        title="Statistics release", source_url="https://stats.example.org/r"
    )
    a = await desk.claim(doc)
    await desk.verdict(a, "false")
    await desk.evidence(a, source_url=None, source_document_id=source.id)
    await session.commit()
    await mirror.check()
    assert mirror.claims[str(a.id)]["evidence"][0]["url"] == "https://stats.example.org/r"
    source.source_url = "https://stats.example.org/release-2"
    await session.commit()
    assert await mirror.check() == {str(a.id)}
    assert mirror.claims[str(a.id)]["evidence"][0]["url"] == "https://stats.example.org/release-2"
    assert (
        await session.scalar(select(Evidence.source_document_id).where(Evidence.claim_id == a.id))
    ) == source.id
