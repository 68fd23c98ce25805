"""Verifying the audit hash chain: recompute every sealed event's hash from position 1 and
check the signed checkpoints against the result."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from factmark.audit.chain import (
    CHECKPOINT_COLUMNS,
    GENESIS_HASH,
    LEAF_SQL,
    Checkpoint,
    chain_hash,
)
from factmark.audit.signing import public_key_bytes

# One range of positions as four arrays (one row decodes much faster than thousands); a NULL
# leaf marks a sealed event that no longer exists.
_SEALED_RANGE = text(
    f"""
    SELECT array_agg(s.position ORDER BY s.position),
           array_agg(s.seq ORDER BY s.position),
           array_agg(s.hash ORDER BY s.position),
           array_agg(CASE WHEN e.seq IS NOT NULL THEN {LEAF_SQL} END ORDER BY s.position)
      FROM audit_seals AS s
      LEFT JOIN audit_events AS e ON e.seq = s.seq
     WHERE s.position > :low AND s.position <= :high
    """  # noqa: S608 - constant SQL, values are bound
)


@dataclass(frozen=True, slots=True)
class ChainProblem:
    kind: str
    """position_gap, missing_event, hash_mismatch, checkpoint_signature_invalid,
    checkpoint_head_mismatch, checkpoint_beyond_head or checkpoint_foreign_key."""
    position: int
    seq: int | None
    detail: str


@dataclass(frozen=True, slots=True)
class CheckpointCheck:
    position: int
    created_at: datetime
    signature_valid: bool
    head_hash_matches: bool
    signed_by_configured_key: bool | None
    """None when no key is configured where the check runs."""


@dataclass(slots=True)
class ChainReport:
    head_position: int = 0
    head_hash: bytes | None = None
    checked: int = 0
    unsealed: int = 0
    problems: list[ChainProblem] = field(default_factory=list)
    problem_count: int = 0
    checkpoints_checked: int = 0
    latest_checkpoint: CheckpointCheck | None = None
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.problem_count == 0


async def _sealed_ranges(
    session: AsyncSession,
    sessionmaker: async_sessionmaker[AsyncSession] | None,
    head: int,
    batch_size: int,
    parallel: int,
) -> AsyncIterator[tuple[list[int], list[int], list[bytes], list[bytes | None]]]:
    """Ranges of sealed positions up to ``head``, in order, fetched ``parallel`` at a time."""

    async def fetch(
        on: AsyncSession, low: int
    ) -> tuple[list[int], list[int], list[bytes], list[bytes | None]]:
        row = (
            await on.execute(_SEALED_RANGE, {"low": low, "high": min(low + batch_size, head)})
        ).one()
        if row[0] is None:
            return [], [], [], []
        return row[0], row[1], row[2], row[3]

    extra = [sessionmaker() for _ in range(parallel - 1)] if sessionmaker is not None else []
    lows = iter(range(0, head, batch_size))
    in_flight: deque[tuple[AsyncSession, asyncio.Task[Any]]] = deque()
    try:
        for on in (session, *extra):
            low = next(lows, None)
            if low is not None:
                in_flight.append((on, asyncio.ensure_future(fetch(on, low))))
        while in_flight:
            on, task = in_flight.popleft()
            batch = await task
            low = next(lows, None)
            if low is not None:
                in_flight.append((on, asyncio.ensure_future(fetch(on, low))))
            yield batch
    finally:
        for _, task in in_flight:
            task.cancel()
        await asyncio.gather(*(task for _, task in in_flight), return_exceptions=True)
        for other in extra:
            await other.close()


class _Problems:
    def __init__(self, report: ChainReport, limit: int) -> None:
        self.report = report
        self.limit = limit

    def add(self, kind: str, position: int, seq: int | None, detail: str) -> None:
        self.report.problem_count += 1
        if len(self.report.problems) < self.limit:
            self.report.problems.append(ChainProblem(kind, position, seq, detail))


async def verify_chain(
    session: AsyncSession,
    *,
    configured_key: Ed25519PublicKey | None = None,
    sessionmaker: async_sessionmaker[AsyncSession] | None = None,
    parallel: int = 1,
    batch_size: int = 20_000,
    max_problems: int = 100,
) -> ChainReport:
    """Recompute the chain from position 1 and check every checkpoint against it.

    Each sealed event is checked against the stored hash of the position before it, so one
    altered event is reported once, at its own position, and checking goes on past it. A second
    chain is recomputed from the start on recomputed hashes only: checkpoints are compared with
    it, which catches a chain rewritten consistently after a change.

    The database computes the leaves (the costly part) for ranges of positions; with a
    ``sessionmaker``, ``parallel`` ranges are computed at once on connections of their own.
    """
    started = time.perf_counter()
    report = ChainReport()
    problems = _Problems(report, max_problems)
    head = int(
        await session.scalar(text("SELECT coalesce(max(position), 0) FROM audit_seals")) or 0
    )
    checkpoints = [
        Checkpoint(*row)
        for row in await session.execute(
            text(
                f"SELECT {CHECKPOINT_COLUMNS} FROM audit_checkpoints "  # noqa: S608
                "ORDER BY position"
            )
        )
    ]
    by_position = {c.position: c for c in checkpoints}
    matches: dict[int, bool] = {}
    stored_previous = GENESIS_HASH
    recomputed: bytes | None = GENESIS_HASH
    expected = 1
    missing = 0
    async for positions, seqs, hashes, leaves in _sealed_ranges(
        session, sessionmaker, head, batch_size, parallel
    ):
        for position, seq, stored, leaf in zip(positions, seqs, hashes, leaves, strict=True):
            if position != expected:
                problems.add(
                    "position_gap",
                    expected,
                    None,
                    f"positions {expected} to {position - 1} are missing from audit_seals",
                )
                recomputed = None
            if leaf is None:
                problems.add(
                    "missing_event",
                    position,
                    seq,
                    f"event seq {seq}, sealed at position {position}, is missing",
                )
                recomputed = None
                missing += 1
            else:
                if chain_hash(stored_previous, leaf) != stored:
                    problems.add(
                        "hash_mismatch",
                        position,
                        seq,
                        f"event seq {seq} at position {position} does not match its hash",
                    )
                if recomputed is not None:
                    recomputed = chain_hash(recomputed, leaf)
            if position in by_position:
                matches[position] = recomputed == by_position[position].head_hash
                if not matches[position] and report.problem_count == 0:
                    problems.add(
                        "checkpoint_head_mismatch",
                        position,
                        seq,
                        f"the checkpoint at position {position} does not match the chain "
                        "recomputed from the events: history up to it was rewritten",
                    )
            stored_previous = stored
            expected = position + 1
        report.checked += len(positions)
    report.head_position = head
    report.head_hash = stored_previous if head else None
    for checkpoint in checkpoints:
        valid = checkpoint.signature_valid()
        if not valid:
            problems.add(
                "checkpoint_signature_invalid",
                checkpoint.position,
                None,
                f"the signature of the checkpoint at position {checkpoint.position} is invalid",
            )
        if checkpoint.position > head:
            problems.add(
                "checkpoint_beyond_head",
                checkpoint.position,
                None,
                f"a checkpoint covers position {checkpoint.position} but the chain ends at "
                f"{head}: sealed events were removed",
            )
        report.checkpoints_checked += 1
        if checkpoint is checkpoints[-1]:
            own: bool | None = None
            if configured_key is not None:
                own = checkpoint.public_key == public_key_bytes(configured_key)
                if not own:
                    problems.add(
                        "checkpoint_foreign_key",
                        checkpoint.position,
                        None,
                        "the latest checkpoint is signed by a key other than the configured one",
                    )
            report.latest_checkpoint = CheckpointCheck(
                position=checkpoint.position,
                created_at=checkpoint.created_at,
                signature_valid=valid,
                head_hash_matches=matches.get(checkpoint.position, False),
                signed_by_configured_key=own,
            )
    events = int(await session.scalar(text("SELECT count(*) FROM audit_events")) or 0)
    report.unsealed = max(0, events - (report.checked - missing))
    report.seconds = time.perf_counter() - started
    return report
