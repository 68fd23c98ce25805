"""Each export format's content: the seed data and richer claims, read back as a partner would."""

from __future__ import annotations

import base64
import gzip
from datetime import UTC, datetime
from typing import Any

import httpx
import msgspec
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from factmark.audit.chain import checkpoint_message
from factmark.exports.formats import CSV_COLUMNS
from factmark.exports.service import reader
from tests.conftest import World
from tests.exports.conftest import TEMPLATE, Desk, csv_rows, export_url, ndjson
from tests.exports.standards import (
    ANNOTATION_MUSTS,
    COLLECTION_MUSTS,
    PAGE_MUSTS,
    claimreview_errors,
    w3c_failures,
)

ANNO = "http://www.w3.org/ns/anno.jsonld"


async def get_export(
    client: httpx.AsyncClient, headers: dict[str, str], workspace: str = "acme", **params: Any
) -> httpx.Response:
    response = await client.get(export_url(workspace, **params), headers=headers)
    assert response.status_code == 200, response.text
    return response


async def rich_claim(desk: Desk) -> dict[str, Any]:
    """A verified claim with two spans (one with an emoji), evidence (one deleted), a
    correction, and verdicts by two reviewers."""
    doc = await desk.document()
    claim = await desk.claim(
        doc, "unemployment fell by half since 2020", "Critics 👍🏽 say", tags=["economy", "jobs"]
    )
    await desk.verdict(claim, "mostly-true", "First look.", by=desk.editor_id, approve=False)
    await desk.verdict(claim, "false")
    await desk.evidence(claim)
    await desk.evidence(claim, stance="context", source_url="https://x.example.org/a", quote=None)
    gone = await desk.evidence(claim, stance="supports", source_url="https://gone.example.org")
    gone.deleted_at = datetime.now(UTC)
    await desk.correct(claim, "mostly-false", "The revised survey changed the figure.")
    await desk.session.commit()
    return {"claim": claim, "document": doc}


async def test_seed_data_exports_its_verified_claim_in_every_format(
    client: httpx.AsyncClient, demo: dict[str, str]
) -> None:
    items, trailer = ndjson((await get_export(client, demo, "demo", format="ndjson")).content)
    (record,) = items
    assert record["status"] == "verified"
    assert record["claimant"] == {
        "name": "US Department of Defense",
        "role": "The Pentagon",
        "organisation": None,
    }
    assert record["claimedAt"] == "2023-10-27T00:00:00.000000Z"
    assert record["tags"] == ["military", "statistics"]
    (span,) = record["spans"]
    assert span["quote"]["exact"] == (
        "at least 19 attacks on US military personnel in Iraq and Syria in the last ten days"
    )
    assert span["position"]["type"] == "TextPositionSelector"
    assert record["document"]["title"] == "Iran warned not to escalate"
    assert record["document"]["sourceUrl"].startswith("https://news.example.org/")
    verdict = record["verdict"]
    assert verdict["rating"] == {
        "key": "mostly-true",
        "label": "Mostly true",
        "value": 4,
        "bestRating": 5,
        "worstRating": 1,
    }
    assert verdict["approvedBy"] == "Eddie Editor"
    assert record["reviewers"] == ["Rae Reviewer"]
    assert [e["stance"] for e in record["evidence"]] == ["supports"]
    assert record["permalink"] == f"https://factcheck.example.org/claims/{record['id']}"
    assert trailer["records"] == 1
    assert trailer["tombstones"] == 0

    document = (await get_export(client, demo, "demo", format="json")).json()
    assert document["items"] == items
    assert document["watermark"] == trailer["watermark"]

    (row,) = csv_rows((await get_export(client, demo, "demo", format="csv")).content)
    assert row["id"] == record["id"]
    assert row["verdict.rating.label"] == "Mostly true"

    reviews = (await get_export(client, demo, "demo", format="claimreview")).json()
    (review,) = reviews["@graph"]
    assert claimreview_errors(review) == []
    assert review["author"]["name"] == "Demo Fact Check Desk"
    assert reviews["leftOut"] == []

    annotations = (await get_export(client, demo, "demo", format="w3c")).json()
    (page, collection) = annotations["@graph"]
    assert collection["total"] == 1
    assert page["items"][0]["id"] == record["permalink"]


async def test_record_carries_spans_document_verdict_corrections_evidence_and_reviewers(
    client: httpx.AsyncClient, world: World, desk: Desk
) -> None:
    made = await rich_claim(desk)
    claim, doc = made["claim"], made["document"]
    (record,), _ = ndjson(
        (await get_export(client, world["viewer"].headers, format="ndjson")).content
    )
    assert record["id"] == str(claim.id)
    assert record["permalink"] == TEMPLATE.replace("{id}", str(claim.id))
    assert record["statement"] == "unemployment fell by half since 2020"
    assert record["tags"] == ["economy", "jobs"]
    first, second = record["spans"]
    assert first["position"] == {"type": "TextPositionSelector", "start": 18, "end": 54}
    assert second["quote"]["exact"] == "Critics 👍🏽 say"
    # Code points, as stored: the emoji and its skin tone count two, not four UTF-16 units.
    assert second["position"]["end"] - second["position"]["start"] == len("Critics 👍🏽 say")
    assert second["quote"]["prefix"] == doc.text[second["position"]["start"] - 32 : 56]
    assert record["document"] == {
        "id": str(doc.id),
        "title": "Budget speech",
        "sourceUrl": "https://news.example.org/budget-speech",
        "publisher": "Example News",
        "author": "Ann Author",
        "publishedAt": "2026-02-27T09:30:00.000000Z",
    }
    verdict = record["verdict"]
    assert verdict["rating"]["key"] == "mostly-false"
    assert verdict["rating"]["value"] == 2
    assert (verdict["rating"]["bestRating"], verdict["rating"]["worstRating"]) == (5, 1)
    assert verdict["summary"] == "New figures change the rating."
    assert verdict["approvedBy"] == "editor"
    assert verdict["verifiedAt"] == record["updatedAt"]
    (correction,) = record["corrections"]
    assert correction["previousRating"] == {"key": "false", "label": "False"}
    assert correction["newRating"] == {"key": "mostly-false", "label": "Mostly false"}
    assert correction["note"] == "The revised survey changed the figure."
    assert [(e["stance"], e["url"]) for e in record["evidence"]] == [
        ("refutes", "https://stats.example.org/labour-2025"),
        ("context", "https://x.example.org/a"),
    ]
    assert record["evidence"][1]["quote"] is None
    assert record["reviewers"] == ["editor", "reviewer"]
    assert record["version"] == claim.version


async def test_json_format_is_one_document_with_the_watermark_and_checkpoint_last(
    client: httpx.AsyncClient, world: World, desk: Desk
) -> None:
    await rich_claim(desk)
    response = await get_export(client, world["viewer"].headers)
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert list(body) == ["items", "watermark", "checkpoint", "records", "tombstones"]
    assert body["watermark"] == response.headers["x-export-watermark"]
    assert body["checkpoint"] is None  # no checkpoint signed yet
    assert body["records"] == len(body["items"]) == 1


async def test_ndjson_ends_with_the_watermark_line(
    client: httpx.AsyncClient, world: World, desk: Desk
) -> None:
    await rich_claim(desk)
    response = await get_export(client, world["viewer"].headers, format="ndjson")
    assert response.headers["content-type"] == "application/x-ndjson"
    assert response.content.endswith(b"\n")
    _, trailer = ndjson(response.content)
    assert set(trailer) == {"watermark", "checkpoint", "records", "tombstones"}
    assert trailer["watermark"] == response.headers["x-export-watermark"]


async def test_csv_reads_back_with_the_csv_module_and_defuses_formulas(
    client: httpx.AsyncClient, world: World, desk: Desk
) -> None:
    made = await rich_claim(desk)
    doc = made["document"]
    evil = await desk.claim(
        doc,
        "The budget deficit",
        statement='=HYPERLINK("https://evil.example","click")',
        claimant="+44 20 7946 0000",
        claimant_role="-1+1",
        claimant_organisation="@SUM(A1:A2)",
        tags=["\tindent", "\rreturn", "plain"],
    )
    await desk.verdict(evil, "misleading", 'A cell "with quotes", commas,\nand a new line.')
    await desk.session.commit()
    response = await get_export(client, world["viewer"].headers, format="csv")
    assert response.headers["content-type"].startswith("text/csv")
    assert response.content.startswith(b"\xef\xbb\xbfid,deleted,")  # UTF-8 byte order mark
    rows = csv_rows(response.content)
    assert list(rows[0]) == [name for name, _ in CSV_COLUMNS]
    by_id = {row["id"]: row for row in rows}
    assert len(by_id) == 2
    row = by_id[str(evil.id)]
    assert row["statement"] == '\'=HYPERLINK("https://evil.example","click")'
    assert row["claimant.name"] == "'+44 20 7946 0000"
    assert row["claimant.role"] == "'-1+1"
    assert row["claimant.organisation"] == "'@SUM(A1:A2)"
    assert row["tags"] == "'\tindent; \rreturn; plain"
    assert row["verdict.summary"] == 'A cell "with quotes", commas,\nand a new line.'
    assert row["verdict.rating.value"] == ""  # misleading is outside the numeric scale
    assert (row["verdict.rating.bestRating"], row["verdict.rating.worstRating"]) == ("5", "1")
    assert row["deleted"] == ""
    rich = by_id[str(made["claim"].id)]
    assert rich["spans"] == ("18-54: unemployment fell by half since 2020\n56-70: Critics 👍🏽 say")
    assert rich["reviewers"] == "editor; reviewer"
    assert rich["corrections"].endswith(
        "False -> Mostly false: The revised survey changed the figure."
    )
    assert rich["evidence"].splitlines()[0] == (
        "refutes | https://stats.example.org/labour-2025 | Labour force survey 2025 | "
        "Statistics Office | Unemployment fell from 6.0% to 4.1%."
    )
    assert response.headers["x-export-watermark"]


async def test_claimreview_matches_googles_schema_and_lists_what_it_left_out(
    client: httpx.AsyncClient, world: World, desk: Desk
) -> None:
    made = await rich_claim(desk)
    doc = made["document"]
    misleading = await desk.claim(doc, "The budget deficit is the lowest in a decade")
    await desk.verdict(misleading, "misleading", "True for one year only.")
    no_verdict = await desk.claim(doc, "Café owners")
    await desk.touch(no_verdict, status="verified")
    still_open = await desk.claim(doc, "part-time work")
    await desk.session.commit()
    response = await get_export(
        client,
        world["viewer"].headers,
        format="claimreview",
        status=["verified", "open"],
    )
    assert response.headers["content-type"] == "application/ld+json"
    body = response.json()
    assert body["@context"] == "https://schema.org"
    reviews = {r["identifier"]: r for r in body["@graph"]}
    assert set(reviews) == {str(made["claim"].id), str(misleading.id)}
    for review in reviews.values():
        assert claimreview_errors(review) == []
        assert review["author"] == {
            "@type": "Organization",
            "name": "Acme Fact Check",
            "url": "https://factcheck.example.org",
        }
        item = review["itemReviewed"]
        assert item["author"]["name"] == "Jane Minister"
        assert item["datePublished"] == "2026-02-26T00:00:00Z"
        assert item["appearance"]["url"] == doc.source_url
        assert review["url"] == TEMPLATE.replace("{id}", review["identifier"])
    numeric = reviews[str(made["claim"].id)]["reviewRating"]
    assert numeric == {
        "@type": "Rating",
        "alternateName": "Mostly false",
        "ratingValue": 2,
        "bestRating": 5,
        "worstRating": 1,
        "ratingExplanation": "New figures change the rating.",
    }
    assert numeric["worstRating"] <= numeric["ratingValue"] <= numeric["bestRating"]
    # Outside the numeric order: the textual rating alone, as Google allows.
    textual = reviews[str(misleading.id)]["reviewRating"]
    assert textual["alternateName"] == "Misleading"
    assert "ratingValue" not in textual
    assert "bestRating" not in textual
    assert {(x["id"], x["reason"].split(",")[0].split(":")[0]) for x in body["leftOut"]} == {
        (str(no_verdict.id), "no approved verdict"),
        (str(still_open.id), "not verified"),
    }
    assert body["records"] == 2
    assert body["watermark"] == response.headers["x-export-watermark"]


async def test_claimreview_without_a_fact_check_url_template_is_a_409(
    client: httpx.AsyncClient, world: World, desk: Desk
) -> None:
    await desk.settings(claim_url_template="")
    await desk.session.commit()
    response = await client.get(export_url(format="claimreview"), headers=world["viewer"].headers)
    assert response.status_code == 409
    assert response.json()["code"] == "claim_url_template_missing"


async def test_w3c_collection_pages_and_annotations_pass_the_model_musts(
    client: httpx.AsyncClient, world: World, desk: Desk, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(reader, "BATCH_SIZE", 2)
    made = await rich_claim(desk)
    doc = made["document"]
    for phrase in ("The budget deficit", "part-time work", "Café owners"):
        await desk.verdict(await desk.claim(doc, phrase), "true")
    no_url = await desk.document(title="Press release", source_url=None)
    await desk.verdict(await desk.claim(no_url, "unemployment fell"), "half-true")
    await desk.session.commit()
    response = await get_export(
        client,
        {**world["viewer"].headers, "Accept": f'application/ld+json; profile="{ANNO}"'},
    )
    assert response.headers["content-type"] == f'application/ld+json; profile="{ANNO}"'
    body = response.json()
    assert body["@context"] == ANNO
    *pages, collection = body["@graph"]
    assert [p["type"] for p in pages] == ["AnnotationPage"] * 3
    assert w3c_failures({"@context": ANNO, **collection}, COLLECTION_MUSTS) == []
    assert collection["total"] == 5
    assert (collection["first"], collection["last"]) == (pages[0]["id"], pages[-1]["id"])
    annotations = []
    for index, page in enumerate(pages):
        assert w3c_failures({"@context": ANNO, **page}, PAGE_MUSTS) == []
        assert page["partOf"]["id"] == collection["id"]
        assert page["startIndex"] == 2 * index
        assert page.get("next") == (pages[index + 1]["id"] if index + 1 < len(pages) else None)
        assert page.get("prev") == (pages[index - 1]["id"] if index else None)
        annotations.extend(page["items"])
    for annotation in annotations:
        assert w3c_failures({"@context": ANNO, **annotation}, ANNOTATION_MUSTS) == []
        assert annotation["motivation"] == "assessing"
        assessing = [b for b in annotation["body"] if b.get("purpose") == "assessing"]
        assert len(assessing) == 1
        assert assessing[0]["type"] == "TextualBody"
    rich = next(a for a in annotations if a["id"].endswith(str(made["claim"].id)))
    assert rich["body"][0]["value"] == "Mostly false: New figures change the rating."
    first_target = rich["target"][0]
    assert first_target["source"] == doc.source_url
    assert first_target["selector"] == [
        {
            "type": "TextQuoteSelector",
            "exact": "unemployment fell by half since 2020",
            "prefix": "The minister said ",
            "suffix": doc.text[54:86],
        },
        {"type": "TextPositionSelector", "start": 18, "end": 54},
    ]
    assert rich["creator"] == [
        {"type": "Person", "name": "editor"},
        {"type": "Person", "name": "reviewer"},
    ]
    # A document without a URL is addressed by its API URL.
    orphan = next(a for a in annotations if a["target"][0]["source"] != doc.source_url)
    assert orphan["target"][0]["source"] == f"http://127.0.0.1:8000/api/v1/documents/{no_url.id}"
    assert body["records"] == 5
    assert body["deleted"] == []


@pytest.mark.parametrize(
    ("accept", "media_type"),
    [
        ("application/x-ndjson", "application/x-ndjson"),
        ("text/csv", "text/csv; header=present; charset=utf-8"),
        ("application/ld+json", "application/ld+json"),
        ("text/html;q=0.9, application/json", "application/json"),
        ("*/*", "application/json"),
    ],
)
async def test_accept_header_chooses_the_format(
    client: httpx.AsyncClient, world: World, desk: Desk, accept: str, media_type: str
) -> None:
    response = await get_export(client, {**world["viewer"].headers, "Accept": accept})
    assert response.headers["content-type"] == media_type


async def test_format_parameter_wins_over_accept_and_unknown_ones_are_refused(
    client: httpx.AsyncClient, world: World, desk: Desk
) -> None:
    headers = {**world["viewer"].headers, "Accept": "text/csv"}
    chosen = await get_export(client, headers, format="ndjson")
    assert chosen.headers["content-type"] == "application/x-ndjson"
    unknown = await client.get(export_url(format="xml"), headers=headers)
    assert unknown.status_code == 422
    refused = await client.get(
        export_url(), headers={**world["viewer"].headers, "Accept": "text/html"}
    )
    assert refused.status_code == 406
    assert refused.json()["code"] == "not_acceptable"


async def test_gzip_when_the_client_accepts_it(
    client: httpx.AsyncClient, world: World, desk: Desk
) -> None:
    await rich_claim(desk)
    plain = await get_export(
        client, {**world["viewer"].headers, "Accept-Encoding": "identity"}, format="ndjson"
    )
    assert "content-encoding" not in plain.headers
    headers = {**world["viewer"].headers, "Accept-Encoding": "gzip"}
    async with client.stream("GET", export_url(format="ndjson"), headers=headers) as zipped:
        assert zipped.status_code == 200
        raw = b"".join([chunk async for chunk in zipped.aiter_raw()])
    assert zipped.headers["content-encoding"] == "gzip"
    assert "Accept-Encoding" in zipped.headers["vary"]
    assert raw[:2] == b"\x1f\x8b"  # the gzip magic number
    assert gzip.decompress(raw) == plain.content


async def test_export_carries_the_latest_signed_audit_checkpoint(
    client: httpx.AsyncClient, world: World, desk: Desk, session: AsyncSession
) -> None:
    await rich_claim(desk)
    key = Ed25519PrivateKey.generate()
    public = key.public_key().public_bytes_raw()
    created = datetime(2026, 3, 2, 8, 0, 0, 123456, tzinfo=UTC)
    for position, head in ((3, b"\x01" * 32), (7, b"\x02" * 32)):
        signature = key.sign(checkpoint_message(position, head, created))
        await session.execute(
            text(
                "INSERT INTO audit_checkpoints (position, head_hash, created_at, public_key, "
                "signature) VALUES (:p, :h, :c, :k, :s)"
            ),
            {"p": position, "h": head, "c": created, "k": public, "s": signature},
        )
    await session.commit()
    response = await get_export(client, world["viewer"].headers, format="ndjson")
    _, trailer = ndjson(response.content)
    checkpoint = trailer["checkpoint"]
    assert checkpoint["position"] == 7
    assert checkpoint["headHash"] == "02" * 32
    assert checkpoint["createdAt"] == "2026-03-02T08:00:00.123456Z"
    assert checkpoint["algorithm"] == "Ed25519"
    # A partner checks the signature with nothing but the export.
    Ed25519PublicKey.from_public_bytes(base64.b64decode(checkpoint["publicKey"])).verify(
        base64.b64decode(checkpoint["signature"]), checkpoint["message"].encode()
    )
    assert msgspec.json.decode(response.headers["x-export-checkpoint"]) == checkpoint
    csv_response = await get_export(client, world["viewer"].headers, format="csv")
    assert msgspec.json.decode(csv_response.headers["x-export-checkpoint"]) == checkpoint
