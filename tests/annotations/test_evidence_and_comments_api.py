from __future__ import annotations

import httpx

from tests.annotations.conftest import TEXT, create_claim, if_match, span_of
from tests.conftest import World


async def test_evidence_from_a_url_and_from_a_span_of_another_document(
    client: httpx.AsyncClient, world: World, document: dict
) -> None:
    claim = await create_claim(client, world["reviewer"], document["id"])
    web = await client.post(
        f"/api/v1/claims/{claim['id']}/evidence",
        json={
            "stance": "refutes",
            "sourceUrl": "https://stats.example.org/labour/2025",
            "title": "Labour market overview",
            "publisher": "Statistics Office",
            "quote": "Unemployment fell by 12%.",
        },
        headers=world["reviewer"].headers,
    )
    assert web.status_code == 201, web.text
    assert web.json()["stance"] == "refutes"
    source_text = "Report 🇺🇦: unemployment fell 12% in the year to March."
    source = await client.post(
        "/api/v1/workspaces/acme/documents",
        json={"title": "Statistics release", "text": source_text},
        headers=world["editor"].headers,
    )
    phrase = "unemployment fell 12%"
    start = source_text.index(phrase)
    utf16_start = len(source_text[:start].encode("utf-16-le")) // 2
    from_doc = await client.post(
        f"/api/v1/claims/{claim['id']}/evidence",
        json={
            "stance": "refutes",
            "sourceSpan": {
                "documentId": source.json()["id"],
                "start": utf16_start,
                "end": utf16_start + len(phrase),
                "exact": phrase,
            },
            "offsetUnit": "utf16",
        },
        headers=world["reviewer"].headers,
    )
    assert from_doc.status_code == 201, from_doc.text
    span = from_doc.json()["sourceSpan"]
    assert span["exact"] == phrase
    assert span["start"] == utf16_start
    as_cp = await client.get(
        f"/api/v1/evidence/{from_doc.json()['id']}", headers=world["viewer"].headers
    )
    assert as_cp.json()["sourceSpan"]["start"] == start
    listed = await client.get(
        f"/api/v1/claims/{claim['id']}/evidence", headers=world["viewer"].headers
    )
    assert len(listed.json()["items"]) == 2


async def test_evidence_needs_a_source_and_a_valid_span(
    client: httpx.AsyncClient, world: World, document: dict
) -> None:
    claim = await create_claim(client, world["reviewer"], document["id"])
    url = f"/api/v1/claims/{claim['id']}/evidence"
    no_source = await client.post(
        url, json={"stance": "context"}, headers=world["reviewer"].headers
    )
    assert no_source.status_code == 422
    assert no_source.json()["code"] == "evidence_source_missing"
    bad_span = await client.post(
        url,
        json={
            "stance": "context",
            "sourceSpan": {"documentId": document["id"], "start": 0, "end": 10**6},
        },
        headers=world["reviewer"].headers,
    )
    assert bad_span.status_code == 422
    assert bad_span.json()["code"] == "span_out_of_range"
    bad_stance = await client.post(
        url,
        json={"stance": "agrees", "sourceUrl": "https://x.org"},
        headers=world["reviewer"].headers,
    )
    assert bad_stance.status_code == 422
    assert bad_stance.json()["errors"][0]["field"] == "stance"


async def test_evidence_delete_and_restore(
    client: httpx.AsyncClient, world: World, document: dict
) -> None:
    claim = await create_claim(client, world["reviewer"], document["id"])
    evidence = (
        await client.post(
            f"/api/v1/claims/{claim['id']}/evidence",
            json={"stance": "supports", "sourceUrl": "https://x.example.org/a"},
            headers=world["reviewer"].headers,
        )
    ).json()
    url = f"/api/v1/evidence/{evidence['id']}"
    assert (await client.delete(url, headers=world["reviewer"].headers)).status_code == 428
    gone = await client.delete(url, headers={**world["reviewer"].headers, **if_match(evidence)})
    assert gone.status_code == 204
    assert (await client.get(url, headers=world["viewer"].headers)).status_code == 404
    restored = await client.post(f"{url}/restore", headers=world["editor"].headers)
    assert restored.status_code == 200
    assert (await client.get(url, headers=world["viewer"].headers)).status_code == 200


async def test_comment_thread_authors_edit_own_and_editors_delete_any(
    client: httpx.AsyncClient, world: World, document: dict
) -> None:
    claim = await create_claim(client, world["reviewer"], document["id"])
    url = f"/api/v1/claims/{claim['id']}/comments"
    first = (
        await client.post(url, json={"body": "Which series?"}, headers=world["reviewer"].headers)
    ).json()
    second = (
        await client.post(url, json={"body": "ILO rate."}, headers=world["editor"].headers)
    ).json()
    viewer_post = await client.post(url, json={"body": "hi"}, headers=world["viewer"].headers)
    assert viewer_post.status_code == 403
    edit_other = await client.patch(
        f"/api/v1/comments/{second['id']}",
        json={"body": "changed"},
        headers={**world["reviewer"].headers, **if_match(second)},
    )
    assert edit_other.status_code == 403
    edit_own = await client.patch(
        f"/api/v1/comments/{first['id']}",
        json={"body": "Which series exactly?"},
        headers={**world["reviewer"].headers, **if_match(first)},
    )
    assert edit_own.json()["body"] == "Which series exactly?"
    delete_other = await client.delete(
        f"/api/v1/comments/{second['id']}",
        headers={**world["reviewer"].headers, **if_match(second)},
    )
    assert delete_other.status_code == 403
    editor_deletes = await client.delete(
        f"/api/v1/comments/{edit_own.json()['id']}",
        headers={**world["editor"].headers, **if_match(edit_own.json())},
    )
    assert editor_deletes.status_code == 204
    thread = await client.get(url, headers=world["viewer"].headers)
    assert [c["id"] for c in thread.json()["items"]] == [second["id"]]


async def test_claims_list_filters_and_search(
    client: httpx.AsyncClient, world: World, document: dict
) -> None:
    a = await create_claim(
        client,
        world["reviewer"],
        document["id"],
        claimant={"name": "Jane Minister", "role": "Finance minister"},
        tags=["economy"],
    )
    b = await create_claim(
        client,
        world["editor"],
        document["id"],
        spans=[span_of(TEXT, "The budget deficit")],
        statement="The deficit is the lowest in a decade",
        tags=["budget"],
    )
    headers = world["viewer"].headers
    base = "/api/v1/workspaces/acme/claims"
    by_tag = await client.get(f"{base}?tag=budget", headers=headers)
    assert [c["id"] for c in by_tag.json()["items"]] == [b["id"]]
    by_claimant = await client.get(f"{base}?claimant=Jane%20Minister", headers=headers)
    assert [c["id"] for c in by_claimant.json()["items"]] == [a["id"]]
    by_creator = await client.get(f"{base}?creator={world['editor'].user_id}", headers=headers)
    assert [c["id"] for c in by_creator.json()["items"]] == [b["id"]]
    search = await client.get(f"{base}?q=deficit", headers=headers)
    assert [c["id"] for c in search.json()["items"]] == [b["id"]]
    both = await client.get(f"{base}?status=open&limit=1", headers=headers)
    assert len(both.json()["items"]) == 1
    assert both.json()["nextCursor"]
    assert 'rel="next"' in both.headers["link"]
    rest = await client.get(
        f"{base}?status=open&limit=1&cursor={both.json()['nextCursor']}", headers=headers
    )
    assert {both.json()["items"][0]["id"], rest.json()["items"][0]["id"]} == {a["id"], b["id"]}
