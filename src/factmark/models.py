"""Every table of factmark, imported in one place so the metadata is complete."""

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
from factmark.audit.models import AuditCheckpoint, AuditEvent, AuditSeal
from factmark.db import Base
from factmark.documents.models import Document
from factmark.http.models import IdempotencyRecord, RateLimitWindow

metadata = Base.metadata

__all__ = [
    "ApiToken",
    "AuditCheckpoint",
    "AuditEvent",
    "AuditSeal",
    "Claim",
    "ClaimSpan",
    "Comment",
    "Correction",
    "Document",
    "Evidence",
    "IdempotencyRecord",
    "Membership",
    "RateLimitWindow",
    "Rating",
    "User",
    "Verdict",
    "Workspace",
    "metadata",
]
