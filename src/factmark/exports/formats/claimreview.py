"""schema.org ClaimReview, as Google's Fact Check markup documents it: claimReviewed,
reviewRating and url are required; a claim without them is listed in ``leftOut`` with the
reason instead of being emitted broken."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

from factmark.exports.formats.records import IdList, closing_fields, encoder, item_of, trailer
from factmark.exports.schemas import ClaimRecord, LeftOut, Tombstone
from factmark.exports.service import ExportReader

SCHEMA_ORG = "https://schema.org"

REASON_NOT_VERIFIED = "not verified: only verified claims are published as ClaimReview"
REASON_NO_VERDICT = "no approved verdict, so no reviewRating"
REASON_NO_URL = "no fact-check URL: set the workspace's claimUrlTemplate (an http(s) URL)"
REASON_NO_STATEMENT = "empty statement, so no claimReviewed"
REASON_NO_RATING_NAME = "the rating has no label, so no reviewRating.alternateName"


def _drop_none(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None and v != ""}


def _numeric_rating(item: ClaimRecord) -> dict[str, Any]:
    """ratingValue, bestRating and worstRating, only when they make a valid numeric scale as
    Google documents it (worst >= 1, worst < best, worst <= value <= best). A rating outside
    the numeric order (value null) is published by its textual alternateName alone, which is
    what Google requires; the numbers are only recommended."""
    assert item.verdict is not None
    r = item.verdict.rating
    if r.value is None or r.best_rating is None or r.worst_rating is None:
        return {}
    if not (1 <= r.worst_rating < r.best_rating and r.worst_rating <= r.value <= r.best_rating):
        return {}
    return {"ratingValue": r.value, "bestRating": r.best_rating, "worstRating": r.worst_rating}


def claim_review(item: ClaimRecord, reader: ExportReader) -> dict[str, Any] | str:
    """The ClaimReview of a claim, or the reason it cannot be one."""
    ws = reader.workspace
    template = ws.claim_url_template
    if item.status != "verified":
        return REASON_NOT_VERIFIED
    if item.verdict is None:
        return REASON_NO_VERDICT
    if not template or not template.startswith(("https://", "http://")):
        return REASON_NO_URL
    if not item.statement.strip():
        return REASON_NO_STATEMENT
    if not (item.verdict.rating.label or "").strip():
        return REASON_NO_RATING_NAME
    claimant = item.claimant
    author: dict[str, Any] | None = None
    if claimant.name:
        author = _drop_none(
            {
                "@type": "Person",
                "name": claimant.name,
                "jobTitle": claimant.role,
                "affiliation": {"@type": "Organization", "name": claimant.organisation}
                if claimant.organisation
                else None,
            }
        )
    elif claimant.organisation:
        author = {"@type": "Organization", "name": claimant.organisation}
    doc = item.document
    appearance = None
    if doc.source_url:
        appearance = _drop_none(
            {
                "@type": "CreativeWork",
                "url": doc.source_url,
                "headline": doc.title,
                "author": {"@type": "Person", "name": doc.author} if doc.author else None,
                "publisher": {"@type": "Organization", "name": doc.publisher}
                if doc.publisher
                else None,
                "datePublished": doc.published_at,
            }
        )
    verdict = item.verdict
    return _drop_none(
        {
            "@type": "ClaimReview",
            "identifier": str(item.id),
            "url": item.permalink,
            "claimReviewed": item.statement,
            "datePublished": verdict.verified_at or verdict.approved_at,
            "dateModified": item.updated_at,
            "author": _drop_none(
                {"@type": "Organization", "name": ws.organisation_name, "url": ws.organisation_url}
            )
            if ws.organisation_name
            else None,
            "reviewRating": {
                "@type": "Rating",
                "alternateName": verdict.rating.label,
                **_numeric_rating(item),
                "ratingExplanation": verdict.summary or None,
            },
            "itemReviewed": _drop_none(
                {
                    "@type": "Claim",
                    "author": author,
                    "datePublished": item.claimed_at,
                    "appearance": appearance,
                }
            ),
        }
    )


async def write_claimreview(reader: ExportReader) -> AsyncGenerator[bytes, None]:
    left_out: dict[str, IdList] = {}
    deleted = IdList()
    records = 0
    yield b'{"@context":"' + SCHEMA_ORG.encode() + b'","@graph":['
    separator = b""
    async for batch in reader.batches():
        reviews = []
        for row in batch:
            item = item_of(row)
            if isinstance(item, Tombstone):
                deleted.append(item.id)
                continue
            review = claim_review(item, reader)
            if isinstance(review, str):
                left_out.setdefault(review, IdList()).append(item.id)
            else:
                reviews.append(review)
        if reviews:
            records += len(reviews)
            yield separator + encoder.encode(reviews)[1:-1]
            separator = b","
    yield b'],"leftOut":' + encoder.encode(
        [LeftOut(id=i, reason=reason) for reason, ids in sorted(left_out.items()) for i in ids]
    )
    yield b',"deleted":' + encoder.encode(
        [{"id": i, "url": reader.permalink(i), "deleted": True} for i in deleted]
    )
    yield closing_fields(trailer(reader, records, len(deleted)))
