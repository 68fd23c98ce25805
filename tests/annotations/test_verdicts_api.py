from __future__ import annotations

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from tests.annotations.conftest import create_claim, if_match
from tests.conftest import World, count_rows


async def _verdict(
    client: httpx.AsyncClient, who: dict, claim_id: str, rating: str = "false", **extra: object
) -> httpx.Response:
    return await client.post(
        f"/api/v1/claims/{claim_id}/verdicts",
        json={"rating": rating, "summary": "Official statistics show a 12% fall.", **extra},
        headers=who,
    )


async def test_approval_verifies_the_claim_and_records_who_and_when(
    client: httpx.AsyncClient, world: World, document: dict
) -> None:
    claim = await create_claim(client, world["reviewer"], document["id"])
    submitted = await _verdict(client, world["reviewer"].headers, claim["id"], confidence=0.8)
    assert submitted.status_code == 201, submitted.text
    verdict = submitted.json()
    assert verdict["state"] == "submitted"
    assert verdict["rating"]["key"] == "false"
    in_review = await client.get(f"/api/v1/claims/{claim['id']}", headers=world["viewer"].headers)
    assert in_review.json()["status"] == "in_review"

    by_reviewer = await client.post(
        f"/api/v1/verdicts/{verdict['id']}/approve",
        headers={**world["reviewer"].headers, **if_match(verdict)},
    )
    assert by_reviewer.status_code == 403
    approved = await client.post(
        f"/api/v1/verdicts/{verdict['id']}/approve",
        headers={**world["editor"].headers, **if_match(verdict)},
    )
    assert approved.status_code == 200, approved.text
    body = approved.json()
    assert body["status"] == "verified"
    assert body["verifiedAt"] is not None
    assert body["currentVerdict"]["id"] == verdict["id"]
    assert body["currentVerdict"]["approvedBy"] == str(world["editor"].user_id)
    assert body["currentVerdict"]["state"] == "approved"


async def test_several_reviewers_submit_and_only_the_approved_one_is_current(
    client: httpx.AsyncClient, world: World, document: dict
) -> None:
    claim = await create_claim(client, world["reviewer"], document["id"])
    first = (await _verdict(client, world["reviewer"].headers, claim["id"], "false")).json()
    second = (await _verdict(client, world["editor"].headers, claim["id"], "mostly-false")).json()
    await client.post(
        f"/api/v1/verdicts/{second['id']}/approve",
        headers={**world["editor"].headers, **if_match(second)},
    )
    listed = await client.get(
        f"/api/v1/claims/{claim['id']}/verdicts", headers=world["viewer"].headers
    )
    states = {v["id"]: v["state"] for v in listed.json()["items"]}
    assert states == {first["id"]: "submitted", second["id"]: "approved"}
    again = await client.post(
        f"/api/v1/verdicts/{first['id']}/approve",
        headers={**world["editor"].headers, **if_match(first)},
    )
    assert again.status_code == 409
    assert again.json()["code"] == "claim_verified"


async def test_correction_supersedes_the_old_verdict_and_is_listed_publicly(
    client: httpx.AsyncClient, world: World, document: dict, session: AsyncSession
) -> None:
    claim = await create_claim(client, world["reviewer"], document["id"])
    verdict = (await _verdict(client, world["reviewer"].headers, claim["id"], "false")).json()
    verified = (
        await client.post(
            f"/api/v1/verdicts/{verdict['id']}/approve",
            headers={**world["editor"].headers, **if_match(verdict)},
        )
    ).json()
    body = {
        "note": "New figures from the statistics office changed the picture.",
        "verdict": {"rating": "half-true", "summary": "Partly right: the fall was 40%."},
    }
    refused = await client.post(
        f"/api/v1/claims/{claim['id']}/corrections",
        json=body,
        headers={**world["reviewer"].headers, **if_match(verified)},
    )
    assert refused.status_code == 403
    new_verdict_submission = await _verdict(client, world["reviewer"].headers, claim["id"])
    assert new_verdict_submission.status_code == 409
    corrected = await client.post(
        f"/api/v1/claims/{claim['id']}/corrections",
        json=body,
        headers={**world["editor"].headers, **if_match(verified)},
    )
    assert corrected.status_code == 200, corrected.text
    result = corrected.json()
    assert result["status"] == "verified"
    assert result["currentVerdict"]["rating"]["key"] == "half-true"
    (correction,) = result["corrections"]
    assert correction["previousRating"] == "false"
    assert correction["newRating"] == "half-true"
    assert correction["note"] == body["note"]
    old = await client.get(f"/api/v1/verdicts/{verdict['id']}", headers=world["viewer"].headers)
    assert old.json()["state"] == "superseded"
    actions = (
        (
            await session.execute(
                text("SELECT action FROM audit_events WHERE claim_id = :c ORDER BY seq"),
                {"c": claim["id"]},
            )
        )
        .scalars()
        .all()
    )
    assert "verdict.approved" in actions
    assert "claim.corrected" in actions
    assert "verdict.superseded" in actions


async def test_reopening_a_verified_claim_withdraws_its_verdict(
    client: httpx.AsyncClient, world: World, document: dict
) -> None:
    claim = await create_claim(client, world["reviewer"], document["id"])
    verdict = (await _verdict(client, world["reviewer"].headers, claim["id"])).json()
    verified = (
        await client.post(
            f"/api/v1/verdicts/{verdict['id']}/approve",
            headers={**world["editor"].headers, **if_match(verdict)},
        )
    ).json()
    reopened = await client.post(
        f"/api/v1/claims/{claim['id']}/transitions",
        json={"to": "open", "reason": "new evidence surfaced"},
        headers={**world["editor"].headers, **if_match(verified)},
    )
    assert reopened.status_code == 200
    assert reopened.json()["status"] == "open"
    assert reopened.json()["currentVerdict"] is None
    old = await client.get(f"/api/v1/verdicts/{verdict['id']}", headers=world["viewer"].headers)
    assert old.json()["state"] == "superseded"


async def test_reviewer_edits_own_verdict_but_not_anothers(
    client: httpx.AsyncClient, world: World, document: dict
) -> None:
    claim = await create_claim(client, world["reviewer"], document["id"])
    mine = (await _verdict(client, world["reviewer"].headers, claim["id"])).json()
    editors = (await _verdict(client, world["editor"].headers, claim["id"])).json()
    own = await client.patch(
        f"/api/v1/verdicts/{mine['id']}",
        json={"rating": "mostly-false"},
        headers={**world["reviewer"].headers, **if_match(mine)},
    )
    assert own.status_code == 200
    assert own.json()["rating"]["key"] == "mostly-false"
    other = await client.patch(
        f"/api/v1/verdicts/{editors['id']}",
        json={"summary": "mine now"},
        headers={**world["reviewer"].headers, **if_match(editors)},
    )
    assert other.status_code == 403


async def test_unknown_rating_and_missing_summary_are_rejected(
    client: httpx.AsyncClient, world: World, document: dict, session: AsyncSession
) -> None:
    claim = await create_claim(client, world["reviewer"], document["id"])
    before = await count_rows(session, "verdicts")
    unknown = await _verdict(client, world["reviewer"].headers, claim["id"], "pants-on-fire")
    assert unknown.status_code == 422
    assert unknown.json()["errors"][0]["field"] == "rating"
    missing = await client.post(
        f"/api/v1/claims/{claim['id']}/verdicts",
        json={"rating": "false"},
        headers=world["reviewer"].headers,
    )
    assert missing.status_code == 422
    assert missing.json()["errors"][0]["field"] == "summary"
    assert await count_rows(session, "verdicts") == before


async def test_rating_in_use_cannot_be_deleted_but_an_unused_one_can(
    client: httpx.AsyncClient, world: World, document: dict
) -> None:
    scale = (
        await client.get("/api/v1/workspaces/acme/ratings", headers=world["viewer"].headers)
    ).json()
    assert [r["key"] for r in scale["items"]][:5] == [
        "true",
        "mostly-true",
        "half-true",
        "mostly-false",
        "false",
    ]
    assert (scale["bestRating"], scale["worstRating"]) == (5.0, 1.0)
    ratings = {r["key"]: r for r in scale["items"]}
    claim = await create_claim(client, world["reviewer"], document["id"])
    await _verdict(client, world["reviewer"].headers, claim["id"], "false")
    in_use = await client.delete(
        f"/api/v1/ratings/{ratings['false']['id']}",
        headers={**world["editor"].headers, **if_match(ratings["false"])},
    )
    assert in_use.status_code == 409
    assert in_use.json()["code"] == "rating_in_use"
    by_reviewer = await client.delete(
        f"/api/v1/ratings/{ratings['misleading']['id']}",
        headers={**world["reviewer"].headers, **if_match(ratings["misleading"])},
    )
    assert by_reviewer.status_code == 403
    unused = await client.delete(
        f"/api/v1/ratings/{ratings['misleading']['id']}",
        headers={**world["admin"].headers, **if_match(ratings["misleading"])},
    )
    assert unused.status_code == 204
    created = await client.post(
        "/api/v1/workspaces/acme/ratings",
        json={"key": "satire", "label": "Satire"},
        headers=world["admin"].headers,
    )
    assert created.status_code == 201
    assert created.json()["value"] is None
