"""Annotation rules: spans, the claim workflow, verdicts, corrections, evidence, comments."""

from __future__ import annotations

import uuid
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from factmark.annotations.models import Rating

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
