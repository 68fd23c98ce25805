"""The audit hash chain's definition: the canonical form of an event, how hashes chain, and
the signed checkpoints.

Sealed event number ``position`` (1, 2, 3, ... without gaps) gets::

    leaf = SHA-256(UTF-8 bytes of the canonical event text, CANONICAL_EVENT_SQL below)
    hash = SHA-256(hash of position - 1 || leaf)      # 32 zero bytes before position 1

Checkpoints sign ``(position, head hash, time)`` with Ed25519 (see ``checkpoint_message``), so
copies kept outside the database prove that history up to that point was not rewritten.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

GENESIS_HASH = bytes(32)
CHECKPOINT_PREFIX = "factmark-checkpoint v1"
CHECKPOINT_MESSAGE_FORMAT = (
    'UTF-8 text of four lines, each ending in "\\n": "factmark-checkpoint v1", the position '
    "in decimal, the head hash in lower-case hex, and createdAt exactly as published "
    "(RFC 3339, UTC, microseconds, e.g. 2026-11-25T14:31:23.123456Z)."
)

# The canonical text of an event: the row as a jsonb object with its column names as keys, the
# time in UTC with microseconds and the transaction id as a string, so that the text depends on
# no session setting. jsonb text output is deterministic (sorted keys, fixed spacing). Naming
# the columns, rather than to_jsonb(e), keeps old hashes valid if a column is ever added.
CANONICAL_EVENT_SQL = """jsonb_build_object(
    'seq', e.seq,
    'occurred_at', to_char(e.occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
    'txid', e.txid::text,
    'actor_id', e.actor_id,
    'actor_kind', e.actor_kind,
    'actor_name', e.actor_name,
    'action', e.action,
    'entity_type', e.entity_type,
    'entity_id', e.entity_id,
    'workspace_id', e.workspace_id,
    'document_id', e.document_id,
    'claim_id', e.claim_id,
    'before', e.before,
    'after', e.after,
    'changed_fields', to_jsonb(e.changed_fields),
    'request_id', e.request_id,
    'idempotency_key', e.idempotency_key,
    'reason', e.reason
)::text"""
LEAF_SQL = f"pg_catalog.sha256(convert_to({CANONICAL_EVENT_SQL}, 'UTF8'))"


def chain_hash(previous: bytes, leaf: bytes) -> bytes:
    return hashlib.sha256(previous + leaf).digest()


def format_time(value: datetime) -> str:
    """RFC 3339 in UTC with microseconds: the form checkpoints sign and the API publishes."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def checkpoint_message(position: int, head_hash: bytes, created_at: datetime) -> bytes:
    """The exact bytes an Ed25519 checkpoint signature covers (CHECKPOINT_MESSAGE_FORMAT)."""
    lines = (CHECKPOINT_PREFIX, str(position), head_hash.hex(), format_time(created_at))
    return "".join(line + "\n" for line in lines).encode()


@dataclass(frozen=True, slots=True)
class Checkpoint:
    position: int
    head_hash: bytes
    created_at: datetime
    public_key: bytes
    signature: bytes

    @property
    def message(self) -> bytes:
        return checkpoint_message(self.position, self.head_hash, self.created_at)

    def signature_valid(self) -> bool:
        try:
            Ed25519PublicKey.from_public_bytes(self.public_key).verify(self.signature, self.message)
        except (InvalidSignature, ValueError):
            return False
        return True


CHECKPOINT_COLUMNS = "position, head_hash, created_at, public_key, signature"


async def latest_checkpoint(session: AsyncSession) -> Checkpoint | None:
    row = (
        await session.execute(
            text(
                f"SELECT {CHECKPOINT_COLUMNS} FROM audit_checkpoints "  # noqa: S608
                "ORDER BY position DESC LIMIT 1"
            )
        )
    ).first()
    return Checkpoint(*row) if row is not None else None
