from __future__ import annotations

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from factmark import seed
from factmark.accounts import service as accounts


async def test_seed_gives_a_realistic_review_screen_and_is_idempotent(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    report = await seed.load(session, production=False)
    assert report.created_claims == 2
    again = await seed.load(session, production=False)
    assert (again.created_claims, again.created_documents, again.created_users) == (0, 0, {})
    viewer = await accounts.get_user_by_email(session, "viewer@example.com")
    assert viewer is not None
    await accounts.set_audit_context(session, accounts.system_actor("tests"))
    token, _ = await accounts.create_token_for_user(session, viewer, name="t")
    await session.commit()
    headers = {"Authorization": f"Bearer {token}"}
    docs = await client.get("/api/v1/workspaces/demo/documents", headers=headers)
    (doc,) = docs.json()["items"]
    screen = await client.get(f"/api/v1/documents/{doc['id']}/annotations", headers=headers)
    claims = screen.json()["claims"]
    assert [c["status"] for c in claims] == ["verified", "open"]
    verified = claims[0]
    assert verified["currentVerdict"]["rating"]["key"] == "mostly-true"
    assert verified["counts"] == {"verdicts": 1, "evidence": 1, "comments": 1}
    assert verified["claimant"]["name"] == "US Department of Defense"
    actors = (
        (
            await session.execute(
                text("SELECT DISTINCT actor_name FROM audit_events WHERE claim_id = :c"),
                {"c": verified["id"]},
            )
        )
        .scalars()
        .all()
    )
    assert set(actors) == {"Rae Reviewer", "Eddie Editor"}


async def test_seed_refuses_demo_users_in_production(session: AsyncSession) -> None:
    with pytest.raises(seed.SeedRefused, match="PRODUCTION"):
        await seed.load(session, production=True)
