"""HTTP contract of the audit trail: history entries, the feed, checkpoints, verification."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec

from factmark.schemas import Schema

EntityType = Literal[
    "user",
    "workspace",
    "membership",
    "token",
    "document",
    "claim",
    "claim_span",
    "rating",
    "verdict",
    "correction",
    "evidence",
    "comment",
]


class AuditActor(Schema):
    """Who made the change, as they were named at the time."""

    id: Annotated[
        str | None,
        msgspec.Meta(
            description="A user or service-token id, or the name of a system actor (cli, seed)."
        ),
    ]
    kind: Annotated[str, msgspec.Meta(examples=["user"], description="user, token or system")]
    name: Annotated[str, msgspec.Meta(description="Display name at the time of the change.")]


class FieldChange(Schema):
    field: Annotated[
        str, msgspec.Meta(description="The field's API name (camelCase).", examples=["title"])
    ]
    before: Annotated[
        Any, msgspec.Meta(description="The value before; null for a field set on creation.")
    ]
    after: Annotated[
        Any, msgspec.Meta(description="The value after; null for a field of a purged row.")
    ]


class AuditEvent(Schema):
    """One recorded change of one row."""

    seq: Annotated[int, msgspec.Meta(description="Order of recording; unique.")]
    occurred_at: datetime
    action: Annotated[
        str,
        msgspec.Meta(
            description=(
                "create, update, delete (soft), restore, purge (hard delete), or a domain "
                "action such as verdict.approved or claim.corrected."
            ),
            examples=["update"],
        ),
    ]
    entity_type: EntityType
    entity_id: uuid.UUID
    workspace_id: uuid.UUID | None
    document_id: uuid.UUID | None
    claim_id: uuid.UUID | None
    version: Annotated[
        int | None, msgspec.Meta(description="The entity's version after the change.")
    ]
    actor: AuditActor
    reason: str | None
    request_id: str | None
    idempotency_key: str | None
    changes: Annotated[
        list[FieldChange],
        msgspec.Meta(
            description="Field-level diff against the previous state (id, version and "
            "timestamps left out)."
        ),
    ]
    redacted: Annotated[
        bool,
        msgspec.Meta(
            description=(
                "True when the event belongs to a purged document and the caller is not an "
                "admin: that the change happened is shown, its content is not."
            )
        ),
    ]


class AuditEventPage(Schema):
    items: list[AuditEvent]
    next_cursor: str | None


class AuditCheckpoint(Schema):
    """A signed statement of the head of the audit hash chain."""

    position: Annotated[int, msgspec.Meta(description="Number of sealed events it covers.")]
    head_hash: Annotated[
        str, msgspec.Meta(description="SHA-256 chain hash at that position, lower-case hex.")
    ]
    created_at: Annotated[
        str,
        msgspec.Meta(
            description="RFC 3339 UTC with microseconds, exactly as signed.",
            examples=["2026-11-25T14:31:23.123456Z"],
        ),
    ]
    algorithm: Literal["Ed25519"]
    public_key: Annotated[
        str, msgspec.Meta(description="Raw 32-byte Ed25519 public key, standard base64.")
    ]
    signature: Annotated[str, msgspec.Meta(description="64-byte signature, standard base64.")]
    message: Annotated[str, msgspec.Meta(description="The exact signed text.")]
    message_format: str


class ChainProblem(Schema):
    kind: Annotated[
        str,
        msgspec.Meta(
            description=(
                "hash_mismatch (the event's content was changed), missing_event (a sealed event "
                "was deleted), position_gap (a seal was deleted), checkpoint_head_mismatch (the "
                "chain was rewritten), checkpoint_signature_invalid, checkpoint_beyond_head "
                "(sealed events were cut off the end), checkpoint_foreign_key."
            )
        ),
    ]
    position: int
    seq: int | None
    detail: str


class CheckpointStatus(Schema):
    position: int
    created_at: datetime
    signature_valid: bool
    head_hash_matches: bool
    signed_by_configured_key: bool | None


class ChainVerification(Schema):
    ok: bool
    head_position: int
    head_hash: str | None
    checked_events: int
    unsealed_events: Annotated[
        int, msgspec.Meta(description="Events recorded but not sealed yet (normally seconds old).")
    ]
    problem_count: int
    problems: Annotated[
        list[ChainProblem], msgspec.Meta(description="The first 100 problems, by position.")
    ]
    checkpoints_checked: int
    latest_checkpoint: CheckpointStatus | None
    duration_seconds: float


Reason = Annotated[str, msgspec.Meta(min_length=1, max_length=2000)]


class PurgeRequest(Schema):
    reason: Annotated[
        Reason,
        msgspec.Meta(
            description="Why the document is purged; kept in the audit log.",
            examples=["Court order 2026/113: personal data"],
        ),
    ]


class PurgedCount(Schema):
    entity_type: EntityType
    count: int


class PurgeReceipt(Schema):
    document_id: uuid.UUID
    workspace_id: uuid.UUID
    reason: str
    purged_at: datetime
    purged_by: AuditActor
    purged_rows: list[PurgedCount]
    audit_seq: Annotated[int, msgspec.Meta(description="seq of the document's purge event.")]
