"""Workload 7: sealing and verifying the audit log (issue 4's figures).

In a scratch database of its own (created, migrated and dropped here, so the bench database's
log is not touched and the API's sealer does not race this one), the audit triggers record
``Scale.audit_events`` comment inserts, one event each. Then the sealer seals them all in one
run (``Sealer.run``, as the server does every second, as the app role) and ``verify_chain``
recomputes the whole chain with two connections, as ``factmark audit verify`` does.

Targets: the sealer keeps up with the highest write rate the API reached in this run (events
per second written by workload 1: two per claim, the claim and its span), and verify checks
1,000,000 events in under a minute (judged at the full scale; smaller scales report their time).
"""

from __future__ import annotations

import secrets
import time

import asyncpg
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from bench.dataset import ACTOR
from bench.postgres import asyncpg_dsn, with_database
from bench.workloads import Context, Outcome
from factmark import migrations
from factmark.audit.sealer import Sealer
from factmark.audit.verification import verify_chain
from factmark.db import create_engine, create_sessionmaker

NAME = "7. audit sealing and verification"
VERIFY_JUDGED_AT = 1_000_000
EVENTS_PER_CREATED_CLAIM = 2

FILL = """
WITH ws AS (
    INSERT INTO workspaces (id, name, slug) VALUES (gen_random_uuid(), 'Audit', 'audit')
    RETURNING id
), doc AS (
    INSERT INTO documents (id, workspace_id, title, text, text_sha256, length_codepoints,
                           length_utf16)
    SELECT gen_random_uuid(), ws.id, 'Audited', 'The minister said it.', repeat('0', 64), 21, 21
      FROM ws
    RETURNING id, workspace_id
), claim AS (
    INSERT INTO claims (id, workspace_id, document_id, statement, status, first_offset)
    SELECT gen_random_uuid(), doc.workspace_id, doc.id, 'The minister said it.', 'open', 0
      FROM doc
    RETURNING id, workspace_id, document_id
)
INSERT INTO comments (id, workspace_id, claim_id, document_id, body)
SELECT gen_random_uuid(), claim.workspace_id, claim.id, claim.document_id,
       'Reviewer note number ' || g || ': the figure in the second paragraph needs a source.'
  FROM claim, generate_series(1, $1) AS g
"""


def _api_event_rate(ctx: Context) -> float | None:
    """Audit events per second written by the fastest API write workload of this run."""
    rates = [
        m.result.rate * EVENTS_PER_CREATED_CLAIM
        for m in ctx.report.measurements
        if m.workload.startswith("1.") and m.side.startswith("API")
    ]
    return max(rates) if rates else None


async def audit_chain(ctx: Context) -> None:
    events = ctx.scale.audit_events
    name = f"factmark_bench_audit_{secrets.token_hex(3)}"
    owner_url = with_database(ctx.database.owner_url, name)
    app_url = with_database(ctx.database.app_url, name)
    admin = await asyncpg.connect(ctx.database.owner_dsn)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    engine = None
    try:
        migrations.upgrade(owner_url)
        owner = await asyncpg.connect(asyncpg_dsn(owner_url))
        try:
            started = time.perf_counter()
            async with owner.transaction():
                await owner.execute("SELECT set_config('factmark.actor', $1, true)", ACTOR)
                await owner.execute(FILL, events)
            ctx.log(
                f"  {events:,} comments with their audit events in "
                f"{time.perf_counter() - started:.1f} s"
            )
            logged = int(await owner.fetchval("SELECT count(*) FROM audit_events"))
        finally:
            await owner.close()

        engine = create_engine(app_url, pool_size=3)
        sessions = create_sessionmaker(engine)
        sealer = Sealer(Ed25519PrivateKey.generate())
        started = time.perf_counter()
        sealed = await sealer.run(sessions)
        seal_seconds = time.perf_counter() - started
        async with sessions() as session:
            report = await verify_chain(session, sessionmaker=sessions, parallel=2)
    finally:
        if engine is not None:
            await engine.dispose()
        admin = await asyncpg.connect(ctx.database.owner_dsn)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()

    seal_rate = sealed.sealed / seal_seconds if seal_seconds else 0.0
    api_rate = _api_event_rate(ctx)
    keeps_up = (
        f"; the API's claim creation wrote {api_rate:,.0f} events/s in this run"
        if api_rate is not None
        else "; workload 1 did not run: no API write rate to compare with"
    )
    ctx.report.outcomes.append(
        Outcome(
            NAME + ": sealing",
            f"sealed {sealed.sealed:,} of {logged:,} events in one run, {seal_seconds:.1f} s = "
            f"{seal_rate:,.0f} events/s{keeps_up}",
            "keeps up with the API's highest write rate",
            seal_rate >= api_rate and sealed.sealed == logged if api_rate is not None else None,
        )
    )
    judged = report.checked >= VERIFY_JUDGED_AT
    projected = VERIFY_JUDGED_AT * report.seconds / max(1, report.checked)
    ctx.report.outcomes.append(
        Outcome(
            NAME + ": verification",
            f"verified {report.checked:,} events in {report.seconds:.1f} s "
            f"({report.checked / max(report.seconds, 1e-9):,.0f}/s, ok={report.ok}"
            + ("" if judged else f"; 1,000,000 would take ~{projected:.0f} s")
            + ")",
            "1,000,000 events in < 60 s",
            (report.ok and report.seconds < 60) if judged else None,
        )
    )
