"""The rows stored in audit events: which table each entity comes from, turning an after-image
back into a model instance, and field-level diffs named as the API names the fields."""

from __future__ import annotations

import functools
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, TypeVar

from sqlalchemy import inspect
from sqlalchemy.types import ARRAY, UUID, DateTime, Float, Numeric, TypeEngine

from factmark.accounts.models import ApiToken, Membership, User, Workspace
from factmark.annotations.models import (
    Claim,
    ClaimSpan,
    Comment,
    Correction,
    Evidence,
    Rating,
    Verdict,
)
from factmark.audit.models import AuditEvent
from factmark.db import Base
from factmark.documents.models import Document

M = TypeVar("M", bound=Base)

# The entity names the audit trigger writes, and the table behind each.
ENTITY_MODELS: dict[str, type[Base]] = {
    "user": User,
    "workspace": Workspace,
    "membership": Membership,
    "token": ApiToken,
    "document": Document,
    "claim": Claim,
    "claim_span": ClaimSpan,
    "rating": Rating,
    "verdict": Verdict,
    "correction": Correction,
    "evidence": Evidence,
    "comment": Comment,
}
ENTITY_OF_MODEL = {model: name for name, model in ENTITY_MODELS.items()}
# Fields left out of diffs: the entry carries the id, time and version already.
HIDDEN_DIFF_FIELDS = frozenset({"id", "version", "created_at", "updated_at"})


# Where the API shows a stored column under another name (a nested object, a shorter name),
# diffs use the API's name, as a dotted path into the resource.
API_FIELD_NAMES: dict[str, dict[str, str]] = {
    "claim": {
        "claimant_name": "claimant.name",
        "claimant_role": "claimant.role",
        "claimant_organisation": "claimant.organisation",
    },
    "claim_span": {"start_offset": "start", "end_offset": "end"},
    "evidence": {
        "source_document_id": "sourceSpan.documentId",
        "source_start": "sourceSpan.start",
        "source_end": "sourceSpan.end",
        "source_exact": "sourceSpan.exact",
        "source_prefix": "sourceSpan.prefix",
        "source_suffix": "sourceSpan.suffix",
    },
}


def camel(name: str) -> str:
    """``source_url`` -> ``sourceUrl``, as msgspec renames the API's fields."""
    first, *rest = name.split("_")
    return first + "".join(part[:1].upper() + part[1:] for part in rest)


def api_field(entity_type: str, column: str) -> str:
    return API_FIELD_NAMES.get(entity_type, {}).get(column) or camel(column)


# --- values stored in the after-images --------------------------------------------------


@functools.cache
def _column_types(entity_type: str) -> dict[str, TypeEngine[Any]]:
    model = ENTITY_MODELS.get(entity_type)
    if model is None:
        return {}
    return {column.name: column.type for column in model.__table__.columns}


def _python_value(kind: TypeEngine[Any] | None, value: Any) -> Any:
    """A JSON value of an after-image as the ORM would load it from the column."""
    if value is None or kind is None:
        return value
    if isinstance(kind, DateTime) and isinstance(value, str):
        return datetime.fromisoformat(value).astimezone(UTC)
    if isinstance(kind, UUID) and isinstance(value, str):
        return uuid.UUID(value)
    if isinstance(kind, Numeric) and not isinstance(kind, Float):
        return Decimal(str(value))
    if isinstance(kind, Float):
        return float(value)
    if isinstance(kind, ARRAY):
        return list(value)
    return value


def _api_value(kind: TypeEngine[Any] | None, value: Any) -> Any:
    """A diff value for the API: times normalised to UTC, everything else as stored."""
    if isinstance(kind, DateTime) and isinstance(value, str):
        return datetime.fromisoformat(value).astimezone(UTC)
    return value


def instance_from_image(model: type[M], image: dict[str, Any]) -> M:
    """A transient (never added to a session) instance of ``model`` holding a stored image."""
    types = _column_types(ENTITY_OF_MODEL[model])
    values = {
        prop.key: _python_value(types.get(prop.columns[0].name), image[prop.columns[0].name])
        for prop in inspect(model).column_attrs
        if prop.columns[0].name in image
    }
    return model(**values)


# --- diffs -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FieldChange:
    field: str
    """The field's API (camelCase) name."""
    before: Any
    after: Any


def changes_of(event: AuditEvent) -> list[FieldChange]:
    """The field-level diff an event records against the state before it.

    Updates store the old values of the changed fields only, and the full row after; creates
    have no before and list the fields they set (not those left null); hard deletes (purges)
    have no after and list the fields that had a value.
    """
    types = _column_types(event.entity_type)
    before = event.before or {}
    after = event.after or {}
    if event.after is None:
        names: Iterable[str] = sorted(k for k, v in before.items() if v is not None)
    elif event.before is None:
        names = sorted(k for k, v in after.items() if v is not None)
    else:
        names = event.changed_fields or sorted(before)
    return [
        FieldChange(
            field=api_field(event.entity_type, name),
            before=_api_value(types.get(name), before.get(name)),
            after=_api_value(types.get(name), after.get(name)),
        )
        for name in names
        if name not in HIDDEN_DIFF_FIELDS
    ]
