"""Turning annotation rows into the Structs of the HTTP contract."""

from __future__ import annotations

from factmark.annotations import models
from factmark.annotations.schemas import (
    Checkworthiness,
    Claim,
    Claimant,
    ClaimStatus,
    Comment,
    Correction,
    Evidence,
    Rating,
    RatingRef,
    SourceSpan,
    Span,
    Stance,
    Verdict,
    VerdictState,
)
from factmark.annotations.service.claims import ClaimBundle, NewSpan
from factmark.annotations.spans import OffsetUnit
from factmark.schemas import resource_fields


def rating_out(row: models.Rating) -> Rating:
    return Rating(
        **resource_fields(row),
        key=row.key,
        label=row.label,
        description=row.description,
        value=float(row.value) if row.value is not None else None,
        ordinal=row.ordinal,
    )


def verdict_out(row: models.Verdict, rating: models.Rating) -> Verdict:
    return Verdict(
        **resource_fields(row),
        document_id=row.document_id,
        claim_id=row.claim_id,
        rating=RatingRef(
            id=rating.id,
            key=rating.key,
            label=rating.label,
            value=float(rating.value) if rating.value is not None else None,
        ),
        summary=row.summary,
        confidence=row.confidence,
        state=VerdictState(row.state),
        approved_by=row.approved_by,
        approved_at=row.approved_at,
        superseded_at=row.superseded_at,
        created_by=row.created_by,
    )


def correction_out(row: models.Correction) -> Correction:
    return Correction(
        **resource_fields(row),
        claim_id=row.claim_id,
        note=row.note,
        previous_verdict_id=row.previous_verdict_id,
        new_verdict_id=row.new_verdict_id,
        previous_rating=row.previous_rating_key,
        new_rating=row.new_rating_key,
        created_by=row.created_by,
    )


def span_out(row: models.ClaimSpan | NewSpan, unit: OffsetUnit) -> Span:
    utf16 = unit is OffsetUnit.UTF16
    return Span(
        start=row.start_utf16 if utf16 else row.start_offset,
        end=row.end_utf16 if utf16 else row.end_offset,
        exact=row.exact,
        prefix=row.prefix,
        suffix=row.suffix,
    )


def _claim_fields(b: ClaimBundle, unit: OffsetUnit) -> dict[str, object]:
    c = b.claim
    claimant = (
        Claimant(name=c.claimant_name, role=c.claimant_role, organisation=c.claimant_organisation)
        if c.claimant_name
        else None
    )
    return {
        "id": c.id,
        "created_at": c.created_at,
        "updated_at": c.updated_at,
        "version": c.version,
        "workspace_id": c.workspace_id,
        "document_id": c.document_id,
        "statement": c.statement,
        "claimant": claimant,
        "claimed_at": c.claimed_at,
        "tags": list(c.tags),
        "checkworthiness": Checkworthiness(c.checkworthiness) if c.checkworthiness else None,
        "assignee_id": c.assignee_id,
        "status": ClaimStatus(c.status),
        "offset_unit": unit,
        "spans": [span_out(s, unit) for s in b.spans],
        "current_verdict": verdict_out(b.verdict, b.rating) if b.verdict and b.rating else None,
        "verified_at": c.verified_at,
        "corrections": [correction_out(x) for x in b.corrections],
        "created_by": c.created_by,
    }


def claim_out(b: ClaimBundle, unit: OffsetUnit = OffsetUnit.CODEPOINT) -> Claim:
    claim = Claim(**_claim_fields(b, unit))  # type: ignore[arg-type]
    if b.history is not None:
        claim.verdicts = [verdict_out(v, r) for v, r in b.history.verdicts]
        claim.evidence = [evidence_out(e, unit) for e in b.history.evidence]
    return claim


def evidence_out(row: models.Evidence, unit: OffsetUnit = OffsetUnit.CODEPOINT) -> Evidence:
    source = None
    if row.source_document_id is not None and row.source_start is not None:
        utf16 = unit is OffsetUnit.UTF16
        source = SourceSpan(
            document_id=row.source_document_id,
            start=(row.source_start_utf16 if utf16 else row.source_start) or 0,
            end=(row.source_end_utf16 if utf16 else row.source_end) or 0,
            exact=row.source_exact or "",
            prefix=row.source_prefix or "",
            suffix=row.source_suffix or "",
        )
    return Evidence(
        **resource_fields(row),
        document_id=row.document_id,
        claim_id=row.claim_id,
        stance=Stance(row.stance),
        source_url=row.source_url,
        title=row.title,
        publisher=row.publisher,
        published_at=row.published_at,
        accessed_at=row.accessed_at,
        archive_url=row.archive_url,
        quote=row.quote,
        notes=row.notes,
        source_span=source,
        offset_unit=unit,
        created_by=row.created_by,
    )


def comment_out(row: models.Comment) -> Comment:
    return Comment(
        **resource_fields(row),
        document_id=row.document_id,
        claim_id=row.claim_id,
        body=row.body,
        created_by=row.created_by,
    )
