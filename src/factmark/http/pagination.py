"""Keyset (cursor) pagination: page 10,000 costs what page 1 costs."""

from __future__ import annotations

import base64
import binascii
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

import msgspec
from sqlalchemy import ColumnElement, Select, tuple_
from sqlalchemy.orm import InstrumentedAttribute

from factmark.errors import Invalid

DEFAULT_LIMIT = 50
MAX_LIMIT = 200

T = TypeVar("T")
RowT = TypeVar("RowT")


@dataclass(frozen=True, slots=True)
class SortKey:
    """A sort field name as clients spell it, with the column behind it."""

    name: str
    column: InstrumentedAttribute[Any] | ColumnElement[Any]
    kind: type  # datetime, int, str


@dataclass(frozen=True, slots=True)
class Sort:
    key: SortKey
    descending: bool

    @property
    def token(self) -> str:
        return ("-" if self.descending else "") + self.key.name


def parse_sort(raw: str | None, keys: Sequence[SortKey], default: str) -> Sort:
    value = raw or default
    descending = value.startswith("-")
    name = value.lstrip("-")
    for key in keys:
        if key.name == name:
            return Sort(key, descending)
    allowed = ", ".join(k.name for k in keys)
    raise Invalid(f"sort must be one of {allowed} (prefix - for descending)", field="sort")


def _encode_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


def encode_cursor(sort: Sort, value: Any, row_id: uuid.UUID) -> str:
    raw = msgspec.json.encode([sort.token, _encode_value(value), str(row_id)])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, sort: Sort) -> tuple[Any, uuid.UUID]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        token, value, row_id = msgspec.json.decode(base64.urlsafe_b64decode(padded))
        if token != sort.token:
            raise ValueError("cursor belongs to another sort order")
        if value is not None and sort.key.kind is datetime:
            value = datetime.fromisoformat(value)
        elif value is not None and sort.key.kind is int:
            value = int(value)
        return value, uuid.UUID(row_id)
    except (ValueError, TypeError, binascii.Error, msgspec.DecodeError):
        raise Invalid(
            "cursor is not valid for this list", field="cursor", code="invalid_cursor"
        ) from None


def apply_keyset(
    stmt: Select[Any],
    sort: Sort,
    id_column: InstrumentedAttribute[Any],
    cursor: str | None,
    limit: int,
) -> Select[Any]:
    """Order by (sort column, id) and start after the cursor; fetch one extra row."""
    column = sort.key.column
    if cursor:
        value, row_id = decode_cursor(cursor, sort)
        pair = tuple_(column, id_column)
        stmt = stmt.where(pair < (value, row_id) if sort.descending else pair > (value, row_id))
    if sort.descending:
        stmt = stmt.order_by(column.desc(), id_column.desc())
    else:
        stmt = stmt.order_by(column.asc(), id_column.asc())
    return stmt.limit(limit + 1)


@dataclass(frozen=True, slots=True)
class PageResult(Generic[RowT]):
    items: list[RowT]
    next_cursor: str | None


def page_of(rows: Sequence[RowT], sort: Sort, limit: int, key: Any) -> PageResult[RowT]:
    """Cut the extra row and build the next cursor from the last row kept."""
    items = list(rows[:limit])
    next_cursor = None
    if len(rows) > limit and items:
        last = items[-1]
        value, row_id = key(last)
        next_cursor = encode_cursor(sort, value, row_id)
    return PageResult(items=items, next_cursor=next_cursor)
