"""Anchoring spans to a document's text: validation and unit conversion.

A document's text never changes, so its TextIndex is cached per process by document id.
"""

from __future__ import annotations

import uuid
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import asyncpg
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from factmark.annotations.spans import OffsetUnit, ResolvedSpan, SpanError, TextIndex, resolve_span
from factmark.documents.models import Document
from factmark.errors import Invalid

_CACHE_SIZE = 64
_cache: OrderedDict[uuid.UUID, TextIndex] = OrderedDict()


async def text_index(
    db: AsyncSession | asyncpg.Connection[Any], document_id: uuid.UUID
) -> TextIndex:
    """The document's TextIndex, read through the session or the asyncpg connection given."""
    index = _cache.get(document_id)
    if index is not None:
        _cache.move_to_end(document_id)
        return index
    if isinstance(db, AsyncSession):
        text = await db.scalar(select(Document.text).where(Document.id == document_id))
    else:
        text = await db.fetchval("SELECT text FROM documents WHERE id = $1", document_id)
    if text is None:
        raise Invalid("The document does not exist.", field="documentId")
    index = TextIndex.build(text)
    _cache[document_id] = index
    while len(_cache) > _CACHE_SIZE:
        _cache.popitem(last=False)
    return index


@dataclass(frozen=True, slots=True)
class AnchoredSpan:
    span: ResolvedSpan
    start_utf16: int
    end_utf16: int


class SpanLike(Protocol):
    """What a span in a request carries (SpanIn, SourceSpanIn)."""

    @property
    def start(self) -> int: ...
    @property
    def end(self) -> int: ...
    @property
    def exact(self) -> str | None: ...
    @property
    def prefix(self) -> str | None: ...
    @property
    def suffix(self) -> str | None: ...


def anchor(
    index: TextIndex, spans: Sequence[SpanLike], unit: OffsetUnit, field: str = "spans"
) -> list[AnchoredSpan]:
    """Validate every span against the text; a failure names the span and its stable code."""
    anchored = []
    for i, span in enumerate(spans):
        name = f"{field}[{i}]" if field == "spans" else field
        try:
            resolved = resolve_span(
                index,
                span.start,
                span.end,
                unit=unit,
                exact=span.exact,
                prefix=span.prefix,
                suffix=span.suffix,
            )
        except SpanError as exc:
            extra = {"actual": exc.actual} if exc.actual is not None else {}
            raise Invalid(exc.message, code=exc.code, field=name, extra=extra) from None
        anchored.append(
            AnchoredSpan(
                span=resolved,
                start_utf16=index.cp_to_utf16(resolved.start),
                end_utf16=index.cp_to_utf16(resolved.end),
            )
        )
    return anchored
