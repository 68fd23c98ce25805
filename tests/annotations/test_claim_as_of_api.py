"""As-of reads reproduce, exactly, the claim as it was recorded at each step of an editing
session: statement edits, a verdict approved, evidence added, a correction, a deletion."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from tests.annotations.conftest import create_claim, if_match
from tests.conftest import World


async def _now(session: AsyncSession) -> str:
    value = (await session.execute(text("SELECT clock_timestamp()"))).scalar_one()
    return str(value.isoformat())


async def test_as_of_reads_reproduce_each_recorded_step(
    client: httpx.AsyncClient, world: World, document: dict[str, Any], session: AsyncSession
) -> None:
    viewer = world["viewer"].headers
    steps: list[tuple[str, dict[str, Any]]] = []

    async def record(claim_id: str) -> dict[str, Any]:
        current = (await client.get(f"/api/v1/claims/{claim_id}", headers=viewer)).json()
        steps.append((await _now(session), current))
        return dict(current)

    before_anything = await _now(session)
    claim = await create_claim(client, world["reviewer"], document["id"])
    claim = await record(claim["id"])
    edited = await client.patch(
        f"/api/v1/claims/{claim['id']}",
        json={"statement": "Unemployment halved since 2020", "tags": ["economy"]},
        headers={**world["reviewer"].headers, **if_match(claim)},
    )
    claim = await record(edited.json()["id"])
    verdict = (
        await client.post(
            f"/api/v1/claims/{claim['id']}/verdicts",
            json={"rating": "false", "summary": "It fell by 12%."},
            headers=world["reviewer"].headers,
        )
    ).json()
    await client.post(
        f"/api/v1/verdicts/{verdict['id']}/approve",
        headers={**world["editor"].headers, **if_match(verdict)},
    )
    claim = await record(claim["id"])
    await client.post(
        f"/api/v1/claims/{claim['id']}/evidence",
        json={"stance": "refutes", "sourceUrl": "https://stats.example.org/1"},
        headers=world["reviewer"].headers,
    )
    corrected = await client.post(
        f"/api/v1/claims/{claim['id']}/corrections",
        json={"note": "Revised figures.", "verdict": {"rating": "mostly-false", "summary": "40%."}},
        headers={**world["editor"].headers, **if_match(claim)},
    )
    assert corrected.status_code == 200, corrected.text
    claim = await record(claim["id"])
    deleted = await client.delete(
        f"/api/v1/claims/{claim['id']}", headers={**world["editor"].headers, **if_match(claim)}
    )
    assert deleted.status_code == 204

    for at, recorded in steps:
        past = await client.get(
            f"/api/v1/claims/{claim['id']}", params={"asOf": at}, headers=viewer
        )
        assert past.status_code == 200, past.text
        body = past.json()
        extras = body.pop("verdicts"), body.pop("evidence")
        assert body == recorded
        assert isinstance(extras[0], list)

    last = (
        await client.get(
            f"/api/v1/claims/{claim['id']}", params={"asOf": steps[-1][0]}, headers=viewer
        )
    ).json()
    assert {v["state"] for v in last["verdicts"]} == {"superseded", "approved"}
    assert [e["stance"] for e in last["evidence"]] == ["refutes"]
    missing = await client.get(
        f"/api/v1/claims/{claim['id']}", params={"asOf": before_anything}, headers=viewer
    )
    assert missing.status_code == 404
    gone = await client.get(
        f"/api/v1/claims/{claim['id']}", params={"asOf": await _now(session)}, headers=viewer
    )
    assert gone.status_code == 404
    outsider = await client.get(
        f"/api/v1/claims/{claim['id']}",
        params={"asOf": steps[0][0]},
        headers=world["outsider"].headers,
    )
    assert outsider.status_code == 404
