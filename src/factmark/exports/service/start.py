"""The start of an export: its filters, the incremental-sync watermark, and the audit
checkpoint, all fixed before the first byte is sent."""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import logging
import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import msgspec
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from factmark.audit.chain import checkpoint_message, format_time
from factmark.errors import Invalid
from factmark.exports.schemas import Checkpoint

log = logging.getLogger(__name__)

IN_FLIGHT_WAIT_SECONDS = 10.0
"""How long an export waits for the transactions that had written audit events and not yet
ended when it started."""
CLAIM_STATUSES = ("open", "in_review", "verified", "dismissed")


@dataclass(frozen=True, slots=True)
class ExportFilters:
    """Which claims an export holds. Empty tuples mean "any"."""

    statuses: tuple[str, ...] = ("verified",)
    verified_since: datetime | None = None
    updated_since: datetime | None = None
    ratings: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    claimants: tuple[str, ...] = ()
    document_ids: tuple[uuid.UUID, ...] = ()

    def __post_init__(self) -> None:
        unknown = sorted(set(self.statuses) - set(CLAIM_STATUSES))
        if unknown or not self.statuses:
            raise Invalid(
                f"status must be among {', '.join(CLAIM_STATUSES)}.",
                field="status",
                code="invalid_status",
            )

    def fingerprint(self) -> str:
        """A short hash of the filters: a watermark is only valid with the same filters."""
        canonical = msgspec.json.encode(
            [
                sorted(set(self.statuses)),
                self.verified_since.isoformat() if self.verified_since else None,
                self.updated_since.isoformat() if self.updated_since else None,
                sorted(set(self.ratings)),
                sorted(set(self.tags)),
                sorted({c.lower() for c in self.claimants}),
                sorted({str(d) for d in self.document_ids}),
            ]
        )
        return hashlib.sha256(canonical).hexdigest()[:16]


class _WatermarkBody(msgspec.Struct, array_like=True):
    version: int
    workspace_id: uuid.UUID
    seq: int
    filters: str


WATERMARK_VERSION = 1


def encode_watermark(workspace_id: uuid.UUID, seq: int, filters: ExportFilters) -> str:
    body = _WatermarkBody(WATERMARK_VERSION, workspace_id, seq, filters.fingerprint())
    return base64.urlsafe_b64encode(msgspec.json.encode(body)).decode().rstrip("=")


def decode_watermark(raw: str, workspace_id: uuid.UUID, filters: ExportFilters) -> int:
    """The audit position a watermark stands for; 422 when it is not one of ours, belongs to
    another workspace, or was made with other filters (its tombstones would be wrong)."""
    try:
        padded = raw + "=" * (-len(raw) % 4)
        body = msgspec.json.decode(base64.urlsafe_b64decode(padded), type=_WatermarkBody)
    except (binascii.Error, ValueError, msgspec.DecodeError):
        raise Invalid(
            "since is not a watermark of an earlier export.",
            field="since",
            code="invalid_watermark",
        ) from None
    if body.version != WATERMARK_VERSION or body.workspace_id != workspace_id or body.seq < 0:
        raise Invalid(
            "since is a watermark of another workspace or version.",
            field="since",
            code="invalid_watermark",
        )
    if body.filters != filters.fingerprint():
        raise Invalid(
            "since was made with other filters: use the same filters as that export, "
            "or start again with a full export.",
            field="since",
            code="watermark_filters_mismatch",
        )
    return body.seq


@dataclass(frozen=True, slots=True)
class ExportStart:
    """What is fixed before the first byte: the new watermark and the audit checkpoint."""

    workspace_id: uuid.UUID
    filters: ExportFilters
    since_seq: int | None
    seq: int
    watermark: str
    checkpoint: Checkpoint | None
    base_url: str


_HIGHEST_SEQ_SQL = text("SELECT coalesce((SELECT max(seq) FROM audit_events), 0)")
_CHECKPOINT_SQL = text(
    "SELECT position, head_hash, created_at, public_key, signature "
    "FROM audit_checkpoints ORDER BY position DESC LIMIT 1"
)

# The transactions that have written this database's audit log and not ended: each holds
# ROW EXCLUSIVE on audit_events, taken before its INSERT draws a seq, until it commits or rolls
# back. Read after the highest seq, it names every transaction that may still commit an event
# at or below it (a transaction id says nothing of the database, nor of the audit log, and a
# snapshot does not list a transaction newer than every completed one).
_AUDIT_WRITER_LOCKS = (
    "FROM pg_locks AS l WHERE l.locktype = 'relation' AND l.mode = 'RowExclusiveLock' "
    "AND l.granted AND l.relation = 'audit_events'::regclass AND l.database = "
    "(SELECT oid FROM pg_database WHERE datname = current_database())"
)
_IN_FLIGHT_NOW_SQL = text(
    "SELECT pg_is_in_recovery() AS replica, "  # noqa: S608 - constant SQL
    f"ARRAY(SELECT l.virtualtransaction {_AUDIT_WRITER_LOCKS} "
    "AND l.pid <> pg_backend_pid()) AS writers, "
    "ARRAY(SELECT x::text FROM pg_snapshot_xip(pg_current_snapshot()) AS x) AS xip, "
    "pg_current_xact_id_if_assigned()::text AS own"
)
_WRITERS_LEFT_SQL = text(
    f"SELECT count(*) {_AUDIT_WRITER_LOCKS} "
    "AND l.virtualtransaction = ANY(CAST(:waiting AS text[]))"
)
# On a replica the primary's lock table is out of sight: wait for the transactions its
# snapshot lists as in progress instead (a writer newer than every completed transaction is
# not among them).
_XIDS_LEFT_SQL = text(
    "SELECT count(*) FROM unnest(CAST(:waiting AS text[])) AS x "
    "WHERE pg_xact_status(CAST(x AS xid8)) = 'in progress'"
)


async def start_export(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    filters: ExportFilters,
    *,
    since: str | None,
    base_url: str,
    wait_seconds: float | None = None,
) -> ExportStart:
    """Validate ``since`` and fix the new watermark. Use a session of the database the export
    reads from (the replica when there is one), not necessarily the request's."""
    since_seq = decode_watermark(since, workspace_id, filters) if since else None
    seq = int((await session.execute(_HIGHEST_SEQ_SQL)).scalar_one())
    now = (await session.execute(_IN_FLIGHT_NOW_SQL)).one()
    if now.replica:
        waiting, left_sql = [x for x in now.xip if x != now.own], _XIDS_LEFT_SQL
    else:
        waiting, left_sql = list(now.writers), _WRITERS_LEFT_SQL
    wait = IN_FLIGHT_WAIT_SECONDS if wait_seconds is None else wait_seconds
    deadline = time.monotonic() + wait
    while waiting:
        in_flight = (await session.execute(left_sql, {"waiting": waiting})).scalar_one()
        if not in_flight:
            break
        if time.monotonic() > deadline:
            # Events at or below seq may still commit: do not move the watermark forward.
            log.warning("export: writes still in flight after %ss; watermark kept", wait)
            seq = since_seq or 0
            break
        await asyncio.sleep(0.02)
    if since_seq is not None:
        seq = max(seq, since_seq)
    return ExportStart(
        workspace_id=workspace_id,
        filters=filters,
        since_seq=since_seq,
        seq=seq,
        watermark=encode_watermark(workspace_id, seq, filters),
        checkpoint=await latest_signed_checkpoint(session),
        base_url=base_url.rstrip("/"),
    )


async def latest_signed_checkpoint(session: AsyncSession) -> Checkpoint | None:
    """The newest row of audit_checkpoints, in the form the audit API publishes it (the signed
    text is defined by factmark.audit.chain)."""
    row = (await session.execute(_CHECKPOINT_SQL)).first()
    if row is None:
        return None
    position, head_hash, created_at, public_key, signature = row
    return Checkpoint(
        position=position,
        head_hash=bytes(head_hash).hex(),
        created_at=format_time(created_at),
        algorithm="Ed25519",
        public_key=base64.b64encode(public_key).decode(),
        signature=base64.b64encode(signature).decode(),
        message=checkpoint_message(position, bytes(head_hash), created_at).decode(),
    )


def setting(settings: dict[str, Any], name: str) -> str | None:
    """A workspace setting that is a non-blank string, else None."""
    value = settings.get(name)
    return value if isinstance(value, str) and value.strip() else None


def publishes_claim_reviews(settings: dict[str, Any]) -> bool:
    """ClaimReview needs the URL of each published fact-check: the claimUrlTemplate."""
    template = setting(settings, "claim_url_template")
    return bool(template and template.startswith(("https://", "http://")))
