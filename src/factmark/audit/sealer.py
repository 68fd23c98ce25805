"""The tamper-evident hash chain over the audit log: sealing, signed checkpoints, verification.

Triggers write ``audit_events`` inside the domain transactions and never hash there (a global
chain lock would serialise every write). The sealer seals committed events afterwards:

* One sealer at a time across every server process, by ``pg_try_advisory_xact_lock``.
* Only events of finished transactions are sealed: those whose ``txid`` is below the ``xmin``
  of a current snapshot. No further event of such a transaction can ever appear, so a position,
  once given, is final. An event of a transaction still open is sealed by a later run, at a later
  position, even when its ``seq`` is lower: positions follow the order events became final.
* Each sealed event gets the next position and its chain hash (``factmark.audit.chain``), and
  the sealer signs a checkpoint of the head now and then.

The sealer needs only the app role's rights: SELECT on audit_events, SELECT and INSERT on
audit_seals and audit_checkpoints.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from factmark.audit.chain import (
    CHECKPOINT_COLUMNS,
    GENESIS_HASH,
    LEAF_SQL,
    Checkpoint,
    chain_hash,
    checkpoint_message,
    latest_checkpoint,
)
from factmark.audit.signing import load_signing_key, public_key_bytes
from factmark.settings import Settings

log = logging.getLogger(__name__)

ADVISORY_LOCK_KEY = int.from_bytes(b"factmark", "big") // 2  # any constant; one per database

# A sealing batch is three index range scans whose plans cannot degrade with the statistics:
# the next events of finished transactions, the seals already given in that seq range, and the
# leaves of the events left, computed for those rows only.
_CANDIDATES = text(
    "SELECT seq FROM audit_events WHERE seq > :after "
    "AND txid < CAST(CAST(:xmin AS text) AS xid8) ORDER BY seq LIMIT :limit"
)
_SEALED_SEQS = text("SELECT seq FROM audit_seals WHERE seq BETWEEN :first AND :last")
_LEAVES = text(
    f"SELECT e.seq, {LEAF_SQL} FROM audit_events AS e "  # noqa: S608 - constant SQL
    "WHERE e.seq = ANY(CAST(:seqs AS bigint[])) ORDER BY e.seq"
)
_READ_FLOOR = text("SELECT seq FROM audit_seal_floor WHERE id = 1")
_STORE_FLOOR = text(
    "INSERT INTO audit_seal_floor (id, seq) VALUES (1, :seq) "
    "ON CONFLICT (id) DO UPDATE SET seq = greatest(audit_seal_floor.seq, excluded.seq)"
)
_INSERT_SEALS = text(
    "INSERT INTO audit_seals (position, seq, hash) "
    "SELECT * FROM unnest(CAST(:positions AS bigint[]), CAST(:seqs AS bigint[]), "
    "CAST(:hashes AS bytea[]))"
)

# --- sealing -------------------------------------------------------------------------------


@dataclass(slots=True)
class SealReport:
    sealed: int = 0
    head_position: int = 0
    head_hash: bytes | None = None
    checkpoint: Checkpoint | None = None
    """A checkpoint written by this run, if any."""
    busy: bool = False
    """Another sealer held the lock, so this run did nothing."""


@dataclass(slots=True)
class _Run:
    report: SealReport
    xmin: int = 0
    own_xid: int = 0
    max_seq: int = 0
    last_seq: int = 0
    cut: bool = False
    floor_stored: int | None = None
    """The floor this run wrote to ``audit_seal_floor`` (kept once it commits)."""


class Sealer:
    """Seals committed audit events in commit-safe order and writes signed checkpoints.

    Keep one instance per process. It remembers a *floor*: a seq below which no event is
    unsealed, not even one of a transaction still open. Each run only reads events above it, so
    a run costs what the new events cost, however long the log. The floor comes from marks
    ``(xid of a run, highest seq visible before that xid was assigned)``: a transaction with a
    larger xid got it later, so all its events have larger seqs. Once a run's snapshot shows
    every transaction up to that xid finished, the floor can move up to the mark's seq. A fresh
    instance starts from the floor the last sealer stored in ``audit_seal_floor`` (each run
    stores the floor it starts from), or from 0 on a new database.
    """

    def __init__(
        self,
        signing_key: Ed25519PrivateKey | None = None,
        *,
        batch_size: int = 5000,
        max_per_transaction: int = 50_000,
        checkpoint_interval: timedelta = timedelta(seconds=60),
    ) -> None:
        self.signing_key = signing_key
        self.public_key = public_key_bytes(signing_key) if signing_key is not None else None
        self.batch_size = batch_size
        self.max_per_transaction = max_per_transaction
        self.checkpoint_interval = checkpoint_interval
        self.floor = 0
        self._stored_floor: int | None = None
        """The floor last read from or written to the database; None: not read yet."""
        self._marks: deque[tuple[int, int]] = deque(maxlen=10_000)

    async def run(self, sessionmaker: async_sessionmaker[AsyncSession]) -> SealReport:
        """Seal every event that is final now, in transactions of bounded size."""
        total = SealReport()
        while True:
            async with sessionmaker() as session, session.begin():
                run = await self.seal_in(session)
            self._committed(run)
            report = run.report
            total.sealed += report.sealed
            total.busy = report.busy
            if not report.busy:
                total.head_position, total.head_hash = report.head_position, report.head_hash
            total.checkpoint = report.checkpoint or total.checkpoint
            if report.busy or not run.cut:
                return total

    async def seal_in(self, session: AsyncSession) -> _Run:
        """One sealing pass inside the caller's transaction (which must then commit)."""
        locked = await session.scalar(
            text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": ADVISORY_LOCK_KEY}
        )
        if not locked:
            return _Run(SealReport(busy=True))
        # Read the highest seq *before* this transaction gets its xid: the mark's guarantee.
        max_seq = int(
            await session.scalar(text("SELECT coalesce(max(seq), 0) FROM audit_events")) or 0
        )
        own_xid, xmin = (
            await session.execute(
                text(
                    "SELECT pg_current_xact_id()::text, "
                    "pg_snapshot_xmin(pg_current_snapshot())::text"
                )
            )
        ).one()
        head = (
            await session.execute(
                text("SELECT position, hash FROM audit_seals ORDER BY position DESC LIMIT 1")
            )
        ).first()
        position, previous = (int(head[0]), bytes(head[1])) if head else (0, GENESIS_HASH)
        run = _Run(SealReport(), xmin=int(xmin), own_xid=int(own_xid), max_seq=max_seq)
        if self._stored_floor is None:  # a new sealer: start where the last one got to
            self._stored_floor = int(await session.scalar(_READ_FLOOR) or 0)
            self.floor = max(self.floor, self._stored_floor)
        elif self.floor > self._stored_floor:
            await session.execute(_STORE_FLOOR, {"seq": self.floor})
            run.floor_stored = self.floor
        after = self.floor
        while True:
            candidates: list[int] = list(
                await session.scalars(
                    _CANDIDATES, {"after": after, "xmin": str(run.xmin), "limit": self.batch_size}
                )
            )
            if not candidates:
                break
            sealed = set(
                await session.scalars(
                    _SEALED_SEQS, {"first": candidates[0], "last": candidates[-1]}
                )
            )
            todo = [seq for seq in candidates if seq not in sealed]
            if todo:
                positions: list[int] = []
                seqs: list[int] = []
                hashes: list[bytes] = []
                for seq, leaf in await session.execute(_LEAVES, {"seqs": todo}):
                    position += 1
                    previous = chain_hash(previous, bytes(leaf))
                    positions.append(position)
                    seqs.append(seq)
                    hashes.append(previous)
                await session.execute(
                    _INSERT_SEALS, {"positions": positions, "seqs": seqs, "hashes": hashes}
                )
                run.report.sealed += len(seqs)
            after = candidates[-1]
            if len(candidates) < self.batch_size:
                break
            if run.report.sealed >= self.max_per_transaction:
                run.cut = True
                break
        run.last_seq = after
        run.report.head_position = position
        run.report.head_hash = previous if position else None
        if position and self.signing_key is not None:
            run.report.checkpoint = await self._checkpoint_if_due(session, position, previous)
        return run

    def _committed(self, run: _Run) -> None:
        """Move the floor once a run's seals are committed."""
        if run.report.busy:
            return
        if run.floor_stored is not None:
            self._stored_floor = run.floor_stored
        # Every unsealed event belongs to a transaction with txid >= xmin, or (after a cut
        # run) has a seq above the last one sealed.
        from_marks = self.floor
        for xid, seq in self._marks:
            if xid < run.xmin:
                from_marks = max(from_marks, seq)
        candidate = min(from_marks, run.last_seq) if run.cut else from_marks
        self.floor = max(self.floor, candidate)
        if not run.cut:
            while self._marks and self._marks[0][0] < run.xmin:
                self._marks.popleft()
        self._marks.append((run.own_xid, run.max_seq))

    async def _checkpoint_if_due(
        self, session: AsyncSession, position: int, head_hash: bytes
    ) -> Checkpoint | None:
        assert self.signing_key is not None
        assert self.public_key is not None
        latest = await latest_checkpoint(session)
        now = datetime.now(UTC)
        if latest is not None:
            if position <= latest.position:
                return None
            rotated = latest.public_key != self.public_key
            if not rotated and now - latest.created_at < self.checkpoint_interval:
                return None
        message = checkpoint_message(position, head_hash, now)
        checkpoint = Checkpoint(
            position=position,
            head_hash=head_hash,
            created_at=now,
            public_key=self.public_key,
            signature=self.signing_key.sign(message),
        )
        await session.execute(
            text(
                f"INSERT INTO audit_checkpoints ({CHECKPOINT_COLUMNS}) "  # noqa: S608
                "VALUES (:position, :head_hash, :created_at, :public_key, :signature)"
            ),
            {
                "position": checkpoint.position,
                "head_hash": checkpoint.head_hash,
                "created_at": checkpoint.created_at,
                "public_key": checkpoint.public_key,
                "signature": checkpoint.signature,
            },
        )
        return checkpoint


async def run_sealer_forever(
    sessionmaker: async_sessionmaker[AsyncSession], sealer: Sealer, interval: float
) -> None:
    """Seal every ``interval`` seconds; on errors (the database down) log and back off."""
    delay = interval
    failing = False
    while True:
        try:
            report = await sealer.run(sessionmaker)
        except Exception as exc:
            log.warning(
                "audit sealer failed (%s: %s); retrying in %.2f s",
                type(exc).__name__,
                exc,
                delay,
                exc_info=not failing,
            )
            failing = True
            await asyncio.sleep(delay)
            delay = min(delay * 2, 30.0)
            continue
        if failing:
            log.warning("audit sealer recovered")
            failing = False
        delay = interval
        if report.sealed:
            log.debug("sealed %d audit events, head %d", report.sealed, report.head_position)
        await asyncio.sleep(interval)


def start_sealer(
    sessionmaker: async_sessionmaker[AsyncSession], settings: Settings
) -> asyncio.Task[None] | None:
    """Start the background sealer (none when ``sealer_interval_seconds`` is 0 or less)."""
    if settings.sealer_interval_seconds <= 0:
        return None
    sealer = Sealer(load_signing_key(settings))
    return asyncio.create_task(
        run_sealer_forever(sessionmaker, sealer, settings.sealer_interval_seconds),
        name="factmark-audit-sealer",
    )


async def stop_sealer(task: asyncio.Task[None] | None) -> None:
    if task is None:
        return
    task.cancel()
    with suppress(asyncio.CancelledError):
        await task
