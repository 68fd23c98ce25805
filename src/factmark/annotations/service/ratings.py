"""The workspace rating scale: the default one, and editing it without breaking verdicts."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from factmark.accounts.models import Role
from factmark.accounts.service import Actor, require_role
from factmark.annotations.models import Rating, Verdict
from factmark.documents.service import check_clean_strings
from factmark.errors import Conflict, NotFound
from factmark.http.concurrency import check_version

DEFAULT_SCALE: tuple[tuple[str, str, str, Decimal | None], ...] = (
    ("true", "True", "The statement is accurate and nothing significant is missing.", Decimal(5)),
    ("mostly-true", "Mostly true", "Accurate but needs clarification or context.", Decimal(4)),
    ("half-true", "Half true", "Partially accurate; leaves out important details.", Decimal(3)),
    ("mostly-false", "Mostly false", "Contains some truth but ignores critical facts.", Decimal(2)),
    ("false", "False", "The statement is not accurate.", Decimal(1)),
    ("misleading", "Misleading", "Accurate in part but creates a false impression.", None),
    (
        "unverifiable",
        "Unverifiable",
        "Cannot be proven or disproven with available evidence.",
        None,
    ),
)


async def create_default_scale(session: AsyncSession, workspace_id: uuid.UUID) -> None:
    """Give a new workspace the default rating scale (five ordered ratings, two outside)."""
    for ordinal, (key, label, description, value) in enumerate(DEFAULT_SCALE):
        session.add(
            Rating(
                workspace_id=workspace_id,
                key=key,
                label=label,
                description=description,
                value=value,
                ordinal=ordinal,
            )
        )
    await session.flush()


async def list_ratings(
    session: AsyncSession, actor: Actor, workspace_id: uuid.UUID
) -> list[Rating]:
    require_role(actor, workspace_id, Role.VIEWER)
    return list(
        (
            await session.scalars(
                select(Rating)
                .where(Rating.workspace_id == workspace_id, Rating.deleted_at.is_(None))
                .order_by(Rating.ordinal, Rating.key)
            )
        ).all()
    )


def scale_bounds(ratings: list[Rating]) -> tuple[Decimal | None, Decimal | None]:
    """bestRating and worstRating: the highest and lowest numeric values of the scale."""
    values = [r.value for r in ratings if r.value is not None]
    return (max(values), min(values)) if values else (None, None)


async def _load(session: AsyncSession, actor: Actor, rating_id: uuid.UUID) -> Rating:
    rating = await session.scalar(
        select(Rating)
        .where(
            Rating.id == rating_id,
            Rating.workspace_id.in_(actor.workspace_ids),
            Rating.deleted_at.is_(None),
        )
        .with_for_update()
    )
    if rating is None:
        raise NotFound("Rating not found.")
    require_role(actor, rating.workspace_id, Role.EDITOR)
    return rating


async def create_rating(
    session: AsyncSession, actor: Actor, workspace_id: uuid.UUID, *, values: dict[str, Any]
) -> Rating:
    require_role(actor, workspace_id, Role.EDITOR)
    check_clean_strings(values)
    taken = await session.scalar(
        select(Rating).where(Rating.workspace_id == workspace_id, Rating.key == values["key"])
    )
    if taken is not None:
        raise Conflict(
            f"The scale already has a rating {values['key']!r}.", code="rating_exists", field="key"
        )
    if values.get("ordinal") is None:
        highest = await session.scalar(
            select(func.max(Rating.ordinal)).where(Rating.workspace_id == workspace_id)
        )
        values["ordinal"] = (highest or 0) + 1
    value = values.pop("value", None)
    rating = Rating(
        workspace_id=workspace_id,
        value=Decimal(str(value)) if value is not None else None,
        **values,
    )
    session.add(rating)
    await session.flush()
    return rating


async def update_rating(
    session: AsyncSession,
    actor: Actor,
    rating_id: uuid.UUID,
    *,
    expected_version: int,
    changes: dict[str, Any],
) -> Rating:
    rating = await _load(session, actor, rating_id)
    check_version(rating.version, expected_version)
    check_clean_strings(changes)
    if "value" in changes:
        value = changes.pop("value")
        rating.value = Decimal(str(value)) if value is not None else None
    for name, value in changes.items():
        setattr(rating, name, value)
    rating.version += 1
    rating.updated_at = datetime.now(UTC)
    await session.flush()
    return rating


async def delete_rating(
    session: AsyncSession, actor: Actor, rating_id: uuid.UUID, *, expected_version: int
) -> None:
    rating = await _load(session, actor, rating_id)
    check_version(rating.version, expected_version)
    in_use = await session.scalar(
        select(func.count()).select_from(Verdict).where(Verdict.rating_id == rating.id)
    )
    if in_use:
        raise Conflict(
            f"The rating is used by {in_use} verdict(s) and cannot be deleted.",
            code="rating_in_use",
        )
    rating.deleted_at = datetime.now(UTC)
    rating.version += 1
    rating.updated_at = rating.deleted_at
    await session.flush()
