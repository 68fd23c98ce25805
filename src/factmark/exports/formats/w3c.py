"""W3C Web Annotation: an AnnotationCollection of AnnotationPages, each claim an Annotation
with motivation ``assessing``, its verdict as a TextualBody, and a TextQuoteSelector and
TextPositionSelector on the document for each span."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

from factmark.exports.formats.records import IdList, closing_fields, encoder, item_of, trailer
from factmark.exports.schemas import ClaimRecord, Tombstone
from factmark.exports.service import ExportReader

ANNO_CONTEXT = "http://www.w3.org/ns/anno.jsonld"


def collection_id(reader: ExportReader) -> str:
    return (
        f"{reader.start.base_url}/api/v1/workspaces/{reader.workspace.slug}"
        "/exports/claims?format=w3c"
    )


def annotation(item: ClaimRecord, reader: ExportReader) -> dict[str, Any]:
    """A claim as a Web Annotation: motivation assessing, the verdict as a TextualBody, and
    one SpecificResource target per span (TextQuoteSelector and TextPositionSelector)."""
    doc = item.document
    source = doc.source_url or f"{reader.start.base_url}/api/v1/documents/{doc.id}"
    bodies: list[dict[str, Any]] = []
    if item.verdict is not None:
        label = item.verdict.rating.label or item.verdict.rating.key or ""
        bodies.append(
            {
                "type": "TextualBody",
                "purpose": "assessing",
                "value": f"{label}: {item.verdict.summary}" if label else item.verdict.summary,
                "format": "text/plain",
            }
        )
    bodies.append(
        {
            "type": "TextualBody",
            "purpose": "describing",
            "value": item.statement,
            "format": "text/plain",
        }
    )
    bodies.extend({"type": "TextualBody", "purpose": "tagging", "value": t} for t in item.tags)
    targets: list[Any] = [
        {
            "type": "SpecificResource",
            "source": source,
            "selector": [
                {
                    "type": "TextQuoteSelector",
                    "exact": s.quote.exact,
                    "prefix": s.quote.prefix,
                    "suffix": s.quote.suffix,
                },
                {"type": "TextPositionSelector", "start": s.position.start, "end": s.position.end},
            ],
        }
        for s in item.spans
    ]
    result: dict[str, Any] = {
        "id": item.permalink,
        "type": "Annotation",
        "motivation": "assessing",
        "created": item.created_at,
        "modified": item.updated_at,
        "body": bodies,
        "target": targets if targets else source,
    }
    if item.reviewers:
        result["creator"] = [{"type": "Person", "name": name} for name in item.reviewers]
    return result


async def write_w3c(reader: ExportReader) -> AsyncGenerator[bytes, None]:
    collection = collection_id(reader)
    deleted = IdList()
    total = 0
    pages = 0
    yield b'{"@context":"' + ANNO_CONTEXT.encode() + b'","@graph":['
    async for batch in reader.batches():
        items = []
        for row in batch:
            item = item_of(row)
            if isinstance(item, Tombstone):
                deleted.append(item.id)
            else:
                items.append(annotation(item, reader))
        if not items:
            continue
        pages += 1
        page_id = f"{collection}#page-{pages}"
        head: dict[str, Any] = {
            "id": page_id,
            "type": "AnnotationPage",
            "partOf": {"id": collection, "type": "AnnotationCollection"},
            "startIndex": total,
        }
        if pages > 1:
            head["prev"] = f"{collection}#page-{pages - 1}"
            # Close the previous page now that a next one exists.
            yield encoder.encode(page_id).join([b',"next":', b"},"])
        head["items"] = items
        yield encoder.encode(head)[:-1]
        total += len(items)
    if pages:
        yield b"},"
    summary: dict[str, Any] = {
        "id": collection,
        "type": "AnnotationCollection",
        "label": f"Claims of {reader.workspace.name}",
        "total": total,
    }
    if pages:
        summary["first"] = f"{collection}#page-1"
        summary["last"] = f"{collection}#page-{pages}"
    yield encoder.encode(summary)
    yield b'],"deleted":' + encoder.encode(
        [{"id": reader.permalink(i), "deleted": True} for i in deleted]
    )
    yield closing_fields(trailer(reader, total, len(deleted)))
