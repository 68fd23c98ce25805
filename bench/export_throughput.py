"""Export throughput: factmark's NDJSON export against PostgreSQL's own COPY of the same rows.

    uv run python -m bench.export_throughput --claims 50000 [--claims 1000000] [--database-url URL]

For each size it loads a workspace of verified claims (1 or 2 spans, an approved verdict, two
pieces of evidence, a correction on one claim in ten, verdicts by several reviewers), then
measures, best of ``--repeat`` runs:

- ``COPY claim rows``: ``COPY (SELECT row_to_json(c) FROM claims c ...) TO STDOUT``, the claim
  rows alone as JSON: the cheapest possible dump, without spans, verdicts or evidence;
- ``COPY records``: ``COPY`` of the export's own query (``queries.full_export(queries.RECORD)``,
  the statement the export's cursor reads, with the values its reader binds written in), in
  CSV mode so that each line is a record as the export sends it: the same records, byte for
  byte (checked: the digest of COPY's output and of the export's records must match);
- ``Python-built records``: plain rows (claims, then spans, evidence, corrections and
  reviewers per batch of 1000) assembled into the same records with msgspec: the design the
  export did not take;
- ``export (service)``: the export's own reader and NDJSON writer, in process;
- ``export (HTTP)``: ``GET .../exports/claims?format=ndjson`` from the API served by uvicorn
  (one worker, production settings), read by a streaming client; with the server's RSS.

Each row also gives PostgreSQL's CPU per row (all its processes, read from ``/proc``).
Workload 5 of ``python -m bench`` builds its ``COPY`` baseline with the same functions.
"""

# ruff: noqa: S608 - every SQL text here is built from constants, or from the export's own SQL
from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import re
import shutil
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import msgspec
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bench.dataset import set_audit_triggers
from bench.postgres import BenchDatabase, create_bench_database, drop_database, postgres_server
from bench.server import ApiServer, RssSampler, postgres_cpu, postmaster_of
from factmark.db import create_engine, create_sessionmaker
from factmark.exports import formats, service
from factmark.exports import schemas as s
from factmark.exports.service import queries

WS = uuid.UUID("00000000-0000-7000-8000-0000000000e1")
ACTOR = '{"kind":"system","id":"bench","name":"bench"}'
BASE_URL = "http://bench"
TABLES = ("workspaces", "users", "ratings", "documents", "claims", "claim_spans", "verdicts")
TABLES += ("evidence", "corrections", "memberships", "api_tokens")


def _uuid(kind: int, expression: str) -> str:
    return f"('00000000-0000-7000-8{kind:03x}-' || lpad(to_hex({expression}), 12, '0'))::uuid"


POPULATE = f"""
INSERT INTO workspaces (id, name, slug, settings) VALUES ('{WS}', 'Bench', 'bench',
  '{{"organisation_name": "Bench Desk", "organisation_url": "https://bench.example.org",
     "claim_url_template": "https://bench.example.org/claims/{{id}}"}}');
INSERT INTO users (id, email, display_name)
SELECT {_uuid(1, "i")}, 'u' || i || '@bench.test', 'Reviewer ' || i FROM generate_series(1, 8) i;
INSERT INTO ratings (id, workspace_id, key, label, value, ordinal)
SELECT {_uuid(2, "o")}, '{WS}', k, l, v, o FROM (VALUES
  (1, 'true', 'True', 5), (2, 'mostly-true', 'Mostly true', 4), (3, 'half-true', 'Half true', 3),
  (4, 'mostly-false', 'Mostly false', 2), (5, 'false', 'False', 1),
  (6, 'misleading', 'Misleading', NULL)) AS r(o, k, l, v);
INSERT INTO documents (id, workspace_id, title, text, text_sha256, length_codepoints,
  length_utf16, source_url, publisher, author, published_at)
SELECT {_uuid(3, "i")}, '{WS}', 'Document ' || i, repeat('Some text of the article. ', 40),
  md5(i::text), 1040, 1040, 'https://news.example.org/articles/' || i, 'Example News',
  'Author ' || (i % 50), now() - i * interval '1 minute'
FROM generate_series(1, greatest($1 / 20, 1)) i;
INSERT INTO claims (id, workspace_id, document_id, statement, claimant_name, claimant_role,
  claimant_organisation, claimed_at, tags, status, approved_verdict_id, verified_at,
  first_offset, created_at, updated_at)
SELECT {_uuid(4, "i")}, '{WS}', {_uuid(3, "(i % greatest($1 / 20, 1)) + 1")},
  'Unemployment fell by ' || i || ' percent last year, the minister said in a speech.',
  'Minister ' || (i % 100), 'Minister of Finance', 'Government', now() - i * interval '1 hour',
  ARRAY['economy', 'tag' || (i % 10)]::varchar[], 'verified', {_uuid(5, "i")},
  now() - i * interval '1 second', 10, now() - interval '1 day', now() - i * interval '1 second'
FROM generate_series(1, $1) i;
INSERT INTO claim_spans (id, workspace_id, claim_id, document_id, ordinal, start_offset,
  end_offset, start_utf16, end_utf16, exact, prefix, suffix)
SELECT gen_random_uuid(), c.workspace_id, c.id, c.document_id, o, 10 + o * 100, 60 + o * 100,
  10 + o * 100, 60 + o * 100, 'text of the article. Some text of the article. So',
  'Some text of the article. Some te', 'me text of the article. Some text'
FROM claims c CROSS JOIN generate_series(0, 1) o
WHERE c.workspace_id = '{WS}' AND (o = 0 OR right(c.id::text, 1) IN ('0', '5'));
INSERT INTO verdicts (id, workspace_id, claim_id, document_id, rating_id, summary, confidence,
  state, approved_by, approved_at, created_by)
SELECT c.approved_verdict_id, c.workspace_id, c.id, c.document_id,
  {_uuid(2, "(('x' || right(c.id::text, 4))::bit(16)::int % 6) + 1")},
  'The official statistics show a different figure; the claim overstates the fall.', 0.9,
  'approved', {_uuid(1, "1")}, c.verified_at,
  {_uuid(1, "(('x' || right(c.id::text, 4))::bit(16)::int % 7) + 2")}
FROM claims c WHERE c.workspace_id = '{WS}';
INSERT INTO evidence (id, workspace_id, claim_id, document_id, stance, source_url, title,
  publisher, quote)
SELECT gen_random_uuid(), c.workspace_id, c.id, c.document_id,
  (ARRAY['supports', 'refutes', 'context'])[o], 'https://stats.example.org/tables/' || o,
  'Labour market statistics, table ' || o, 'Statistics Office',
  'The unemployment rate fell from 5.1% to 4.9% over the year.'
FROM claims c CROSS JOIN generate_series(1, 2) o WHERE c.workspace_id = '{WS}';
INSERT INTO corrections (id, workspace_id, claim_id, document_id, note, previous_verdict_id,
  new_verdict_id, previous_rating_key, new_rating_key)
SELECT gen_random_uuid(), c.workspace_id, c.id, c.document_id,
  'We first rated this mostly false; new figures changed the rating.', gen_random_uuid(),
  c.approved_verdict_id, 'mostly-false', 'false'
FROM claims c WHERE c.workspace_id = '{WS}' AND right(c.id::text, 1) = '7';
"""

COPY_CLAIM_ROWS = f"""SELECT row_to_json(c) FROM claims c
WHERE c.workspace_id = '{WS}' AND c.status = 'verified' AND c.deleted_at IS NULL"""

# --- COPY of the export's own records (shared with workload 5 of bench/workloads.py) ---------

COPY_OPTIONS: dict[str, str] = {"format": "csv", "delimiter": "\x02", "quote": "\x01"}
"""COPY's CSV format with a delimiter and a quote character that JSON text never holds raw
(PostgreSQL escapes control characters in JSON strings), so no field is quoted or escaped and
each line is a record exactly as the export sends it. COPY's text format would double every
backslash of the JSON's own escapes."""


def sql_literal(value: Any) -> str:
    """``value`` as a SQL literal: the parameter types of the export's queries only (each use
    of a parameter there carries its type, or compares with a column of that type)."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | Decimal):
        return f"'{value}'"
    if isinstance(value, list | tuple):
        items = (str(v).replace("\\", "\\\\").replace('"', '\\"') for v in value)
        return sql_literal("{" + ",".join(f'"{item}"' for item in items) + "}")
    if isinstance(value, datetime):
        return sql_literal(value.isoformat())
    return "'" + str(value).replace("'", "''") + "'"


def with_literals(sql: str, args: tuple[Any, ...]) -> str:
    """``sql`` with ``$1``, ``$2``, ... replaced by ``args`` as literals, for COPY (which takes
    no parameters); replaced in one pass, so a value that reads like a parameter stays as is."""
    return re.sub(r"\$(\d+)", lambda m: sql_literal(args[int(m[1]) - 1]), sql)


async def records_copy_query(
    sessionmaker: async_sessionmaker[AsyncSession],
    workspace_id: uuid.UUID,
    filters: service.ExportFilters,
    base_url: str,
) -> str:
    """The query for ``COPY (...) TO STDOUT``: the records of a full export with these
    filters, built by the export's own SQL (``queries.full_export(queries.RECORD)``: the query
    the export's cursor reads, returning the JSON text instead of its bytes) with the values
    the export's reader binds to it written in as literals."""
    async with sessionmaker() as session:
        start = await service.start_export(
            session, workspace_id, filters, since=None, base_url=base_url
        )
    async with service.open_reader(sessionmaker, start) as reader:
        args = reader.query_args
    return with_literals(queries.full_export(queries.RECORD), args)


# The design not taken: plain rows, assembled into the same records by msgspec in Python.
FLAT = f"""SELECT c.id, c.updated_at, c.statement, c.status, c.claimant_name, c.claimant_role,
  c.claimant_organisation, c.claimed_at, c.tags, c.version, c.created_at, c.verified_at,
  d.id, d.title, d.source_url, d.publisher, d.author, d.published_at,
  v.id, r.key, r.label, r.value, v.summary, au.display_name, v.approved_at
FROM claims c JOIN documents d ON d.id = c.document_id
LEFT JOIN verdicts v ON v.id = c.approved_verdict_id
LEFT JOIN ratings r ON r.id = v.rating_id LEFT JOIN users au ON au.id = v.approved_by
WHERE c.workspace_id = '{WS}' AND c.status = 'verified' AND c.deleted_at IS NULL
  AND d.deleted_at IS NULL AND (c.updated_at, c.id) > ($1, $2)
ORDER BY c.updated_at, c.id LIMIT $3"""
SPANS = """SELECT claim_id, start_offset, end_offset, exact, prefix, suffix FROM claim_spans
WHERE claim_id = ANY($1::uuid[]) ORDER BY claim_id, ordinal"""
EVIDENCE = """SELECT e.claim_id, e.stance, coalesce(e.source_url, sd.source_url), e.title,
  e.publisher, e.quote, e.source_document_id
FROM evidence e LEFT JOIN documents sd ON sd.id = e.source_document_id
WHERE e.claim_id = ANY($1::uuid[]) AND e.deleted_at IS NULL
ORDER BY e.claim_id, e.created_at, e.id"""
CORRECTIONS = """SELECT k.claim_id, k.created_at, k.note, k.previous_rating_key, pr.label,
  k.new_rating_key, nr.label FROM corrections k
LEFT JOIN ratings pr ON pr.workspace_id = k.workspace_id AND pr.key = k.previous_rating_key
LEFT JOIN ratings nr ON nr.workspace_id = k.workspace_id AND nr.key = k.new_rating_key
WHERE k.claim_id = ANY($1::uuid[]) ORDER BY k.claim_id, k.created_at, k.id"""
REVIEWERS = """SELECT DISTINCT w.claim_id, u.display_name FROM verdicts w
JOIN users u ON u.id = w.created_by
WHERE w.claim_id = ANY($1::uuid[]) AND w.deleted_at IS NULL ORDER BY 1, 2"""


def _number(value: Decimal | None) -> int | float | None:
    if value is None:
        return None
    return int(value) if value == value.to_integral_value() else float(value)


def _assemble(rows: Any, children: list[Any]) -> list[s.ClaimRecord]:
    spans: dict[Any, list[s.SpanRecord]] = {}
    evidence: dict[Any, list[s.EvidenceRecord]] = {}
    corrections: dict[Any, list[s.CorrectionRecord]] = {}
    reviewers: dict[Any, list[str]] = {}
    for cid, start, end, exact, prefix, suffix in children[0]:
        spans.setdefault(cid, []).append(
            s.SpanRecord(
                position=s.TextPositionSelector(start=start, end=end),
                quote=s.TextQuoteSelector(exact=exact, prefix=prefix, suffix=suffix),
            )
        )
    for cid, stance, url, title, publisher, quote, source in children[1]:
        evidence.setdefault(cid, []).append(
            s.EvidenceRecord(
                stance=stance,
                url=url,
                title=title,
                publisher=publisher,
                quote=quote,
                source_document_id=source,
            )
        )
    for cid, date, note, pkey, plabel, nkey, nlabel in children[2]:
        corrections.setdefault(cid, []).append(
            s.CorrectionRecord(
                date=date,
                note=note,
                previous_rating=s.RatingKey(key=pkey, label=plabel),
                new_rating=s.RatingKey(key=nkey, label=nlabel),
            )
        )
    for cid, name in children[3]:
        reviewers.setdefault(cid, []).append(name)
    records = []
    for r in rows:
        cid = r[0]
        verdict = None
        if r[18] is not None:
            rating = s.RatingRecord(
                key=r[19], label=r[20], value=_number(r[21]), best_rating=5, worst_rating=1
            )
            verdict = s.VerdictRecord(
                id=r[18],
                rating=rating,
                summary=r[22],
                approved_by=r[23],
                approved_at=r[24],
                verified_at=r[11],
            )
        records.append(
            s.ClaimRecord(
                id=cid,
                permalink=f"https://bench.example.org/claims/{cid}",
                statement=r[2],
                status=r[3],
                claimant=s.ClaimantRecord(name=r[4], role=r[5], organisation=r[6]),
                claimed_at=r[7],
                tags=r[8],
                spans=spans.get(cid, []),
                document=s.DocumentRecord(
                    id=r[12],
                    title=r[13],
                    source_url=r[14],
                    publisher=r[15],
                    author=r[16],
                    published_at=r[17],
                ),
                verdict=verdict,
                corrections=corrections.get(cid, []),
                evidence=evidence.get(cid, []),
                reviewers=reviewers.get(cid, []),
                version=r[9],
                created_at=r[10],
                updated_at=r[1],
            )
        )
    return records


def log(message: str) -> None:
    print(message, flush=True)


async def populate(owner_dsn: str, claims: int) -> None:
    conn = await asyncpg.connect(owner_dsn)
    try:
        async with conn.transaction():
            await conn.execute(f"SELECT set_config('factmark.actor', '{ACTOR}', true)")
            await set_audit_triggers(conn, TABLES, enabled=False)
            for statement in filter(str.strip, POPULATE.split(";\n")):
                if "$1" in statement:
                    await conn.execute(statement, claims)
                else:
                    await conn.execute(statement)
            await set_audit_triggers(conn, TABLES, enabled=True)
        await conn.execute("VACUUM ANALYZE")
    finally:
        await conn.close()


class Output:
    """What a run read: rows, bytes and a digest of the records' bytes (empty when the run's
    records are not comparable with the export's)."""

    def __init__(self, *, digest: bool = True) -> None:
        self.lines = 0
        self.size = 0
        self._hash = hashlib.blake2b() if digest else None

    def add(self, chunk: bytes) -> None:
        self.lines += chunk.count(b"\n")
        self.size += len(chunk)
        if self._hash is not None:
            self._hash.update(chunk)

    @property
    def digest(self) -> str:
        return self._hash.hexdigest() if self._hash is not None else ""


async def copy_rows(dsn: str, query: str, **options: str) -> Output:
    output = Output()

    async def sink(chunk: bytes) -> None:
        output.add(chunk)

    conn = await asyncpg.connect(dsn)
    try:
        await conn.copy_from_query(query, output=sink, **options)
    finally:
        await conn.close()
    return output


async def python_built_records(dsn: str) -> Output:
    """The design not taken: rows from PostgreSQL, records built and encoded by msgspec."""
    encoder = msgspec.json.Encoder()
    conn = await asyncpg.connect(dsn)
    output = Output(digest=False)  # msgspec writes JSON without PostgreSQL's spaces
    try:
        async with conn.transaction(isolation="repeatable_read", readonly=True):
            last: tuple[Any, Any] = (datetime(1, 1, 1, tzinfo=UTC), uuid.UUID(int=0))
            while rows := await conn.fetch(FLAT, *last, 1000):
                ids = [r[0] for r in rows]
                children = [await conn.fetch(q, ids) for q in (SPANS, EVIDENCE, CORRECTIONS)]
                children.append(await conn.fetch(REVIEWERS, ids))
                output.add(encoder.encode_lines(_assemble(rows, children)))
                last = (rows[-1][1], rows[-1][0])
    finally:
        await conn.close()
    return output


async def service_export(sessionmaker: async_sessionmaker[AsyncSession]) -> Output:
    """The export's reader and NDJSON writer in process; the records without the trailer line
    (the writer's last chunk)."""
    output = Output()
    async with sessionmaker() as session:
        start = await service.start_export(
            session, WS, service.ExportFilters(), since=None, base_url=BASE_URL
        )
    chunks: AsyncIterator[bytes] = formats.stream_export(
        sessionmaker, start, formats.ExportFormat.NDJSON
    )
    previous: bytes | None = None
    async for chunk in chunks:
        if previous is not None:
            output.add(previous)
        previous = chunk
    return output


async def http_export(server: ApiServer, token: str) -> Output:
    output = Output(digest=False)  # chunks as the socket gives them: the trailer is not apart
    headers = {"Authorization": f"Bearer {token}", "Accept-Encoding": "identity"}
    async with (
        httpx.AsyncClient(base_url=server.base_url, timeout=600) as client,
        client.stream(
            "GET", "/api/v1/workspaces/bench/exports/claims?format=ndjson", headers=headers
        ) as response,
    ):
        response.raise_for_status()
        async for chunk in response.aiter_raw():
            output.add(chunk)
    output.lines -= 1  # the trailer
    return output


async def service_token(owner_dsn: str) -> str:
    from factmark.accounts.service import new_token

    token, digest, prefix = new_token()
    conn = await asyncpg.connect(owner_dsn)
    try:
        await conn.execute(f"SELECT set_config('factmark.actor', '{ACTOR}', false)")
        await conn.execute(
            "INSERT INTO api_tokens (id, name, token_hash, prefix, workspace_id, role) "
            "VALUES (gen_random_uuid(), 'bench', $1, $2, $3, 'viewer')",
            digest,
            prefix,
            WS,
        )
    finally:
        await conn.close()
    return token


@dataclass(frozen=True, slots=True)
class Best:
    seconds: float
    output: Output
    postgres_cpu: float | None
    """PostgreSQL's CPU seconds during that run (None when the server is not on this host)."""


async def best_of(
    repeat: int, postmaster: int | None, run: Callable[[], Awaitable[Output]]
) -> Best:
    best: Best | None = None
    for _ in range(repeat):
        cpu_before = postgres_cpu(postmaster) if postmaster else None
        started = time.perf_counter()
        output = await run()
        seconds = time.perf_counter() - started
        cpu = (
            postgres_cpu(postmaster) - cpu_before if postmaster and cpu_before is not None else None
        )
        if best is None or seconds < best.seconds:
            best = Best(seconds, output, cpu)
    assert best is not None
    return best


async def measure(database: BenchDatabase, claims: int, repeat: int, data_dir: Path) -> None:
    log(f"\n## {claims:,} verified claims\n")
    started = time.perf_counter()
    await populate(database.owner_dsn, claims)
    log(f"loaded in {time.perf_counter() - started:.1f} s\n")
    postmaster = await _postmaster(database.owner_dsn)
    log("| what | rows | MB | seconds | rows/s | PostgreSQL CPU µs/row |")
    log("|---|---:|---:|---:|---:|---:|")
    results: dict[str, Best] = {}

    def row(name: str, best: Best) -> None:
        results[name] = best
        rows = best.output.lines
        cpu = f"{1e6 * best.postgres_cpu / rows:.1f}" if best.postgres_cpu is not None else "-"
        log(
            f"| {name} | {rows:,} | {best.output.size / 1e6:,.0f} | {best.seconds:.2f} | "
            f"{rows / best.seconds:,.0f} | {cpu} |"
        )

    dsn = database.app_dsn
    engine = create_engine(database.app_url, pool_size=2)
    sessionmaker = create_sessionmaker(engine)
    try:
        copy_records = await records_copy_query(sessionmaker, WS, service.ExportFilters(), BASE_URL)
        row(
            "COPY claim rows",
            await best_of(repeat, postmaster, lambda: copy_rows(dsn, COPY_CLAIM_ROWS)),
        )
        row(
            "COPY records",
            await best_of(repeat, postmaster, lambda: copy_rows(dsn, copy_records, **COPY_OPTIONS)),
        )
        row(
            "Python-built records",
            await best_of(repeat, postmaster, lambda: python_built_records(dsn)),
        )
        row(
            "export (service)",
            await best_of(repeat, postmaster, lambda: service_export(sessionmaker)),
        )
    finally:
        await engine.dispose()
    token = await service_token(database.owner_dsn)
    with ApiServer(database, data_dir, workers=1) as server:
        pids = server.worker_pids()
        with RssSampler(pids) as sampler:
            before = sampler.sample()[0]
            row(
                "export (HTTP)",
                await best_of(repeat, postmaster, lambda: http_export(server, token)),
            )
    copied, exported = results["COPY records"].output, results["export (service)"].output
    same = (copied.lines, copied.size, copied.digest) == (
        exported.lines,
        exported.size,
        exported.digest,
    )
    log(
        "\nCOPY records and the export's records (without its trailer line) are "
        + ("byte for byte the same" if same else "NOT the same: the comparison is void")
    )

    def rate(name: str) -> float:
        return results[name].output.lines / results[name].seconds

    http = rate("export (HTTP)")
    log(
        f"HTTP export: {http / rate('COPY records'):.0%} of COPY of the same records, "
        f"{http / rate('COPY claim rows'):.0%} of COPY of the bare claim rows; "
        f"server RSS {before / 2**20:.0f} MB before, {sampler.peak_process / 2**20:.0f} MB peak"
    )


async def _postmaster(owner_dsn: str) -> int | None:
    conn = await asyncpg.connect(owner_dsn)
    try:
        return postmaster_of(int(await conn.fetchval("SELECT pg_backend_pid()")))
    finally:
        await conn.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--claims", type=int, action="append", help="sizes (repeatable)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL"))
    args = parser.parse_args()
    sizes = args.claims or [50_000]
    data_dir = Path(tempfile.mkdtemp(prefix="factmark-export-bench-"))

    async def run(admin_url: str, embedded: bool) -> None:
        for claims in sizes:
            database, _ = await create_bench_database(
                admin_url, f"exports_{claims}", embedded=embedded, reuse=False
            )
            try:
                if database.app_role_note:
                    log(f"note: {database.app_role_note}")
                await measure(database, claims, args.repeat, data_dir)
            finally:
                await drop_database(admin_url, database.name)

    try:
        with postgres_server(args.database_url, None) as (admin_url, embedded):
            asyncio.run(run(admin_url, embedded))
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
