"""The six workloads of issue 7, each measured through the API and against its baseline."""

from __future__ import annotations

import asyncio
import hashlib
import random
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import msgspec
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession

from bench.dataset import ACTOR, Dataset, set_audit_triggers
from bench.export_throughput import COPY_OPTIONS, records_copy_query
from bench.load import HttpLoad, LoadResult, run_asyncpg
from bench.postgres import BenchDatabase
from bench.scales import Scale
from bench.server import ApiServer, CpuSample, RssSampler, cpu_sample
from factmark.accounts.models import Role
from factmark.accounts.service import (
    AUTHENTICATE,
    SET_AUDIT_CONTEXT,
    Actor,
    audit_context,
    hash_token,
)
from factmark.annotations.service.claims import INSERT_CLAIM
from factmark.db import create_engine, create_sessionmaker, new_id
from factmark.documents.service import DOCUMENT_WORKSPACE
from factmark.exports.service import ExportFilters
from factmark.http.idempotency import CLAIM_KEY, STORE_RESPONSE
from factmark.http.pagination import Sort, encode_cursor

API = "/api/v1"
SEARCH_INDEX_JUDGED_AT = 10_000


@dataclass(slots=True)
class Measurement:
    workload: str
    side: str
    result: LoadResult
    server_cpu_ms: float | None = None
    """CPU per request of the API's processes (None for the asyncpg baseline)."""
    client_cpu_ms: float | None = None
    """CPU per request of the load generator: wrk, the Python loop, or the asyncpg client."""
    postgres_cpu_ms: float | None = None
    """CPU per request of PostgreSQL's processes (None when the server is not on this host)."""


@dataclass(frozen=True, slots=True)
class CpuUse:
    server: float
    client: float
    postgres: float | None

    @classmethod
    def between(cls, before: CpuSample, after: CpuSample) -> CpuUse:
        postgres = (
            after.postgres - before.postgres
            if after.postgres is not None and before.postgres is not None
            else None
        )
        return cls(after.server - before.server, after.client - before.client, postgres)

    def __add__(self, other: CpuUse) -> CpuUse:
        postgres = (
            self.postgres + other.postgres
            if self.postgres is not None and other.postgres is not None
            else None
        )
        return CpuUse(self.server + other.server, self.client + other.client, postgres)


@dataclass(slots=True)
class Outcome:
    workload: str
    figure: str
    target: str
    met: bool | None
    """None: could not be measured (see the figure)."""


@dataclass(frozen=True, slots=True)
class Calibration:
    """One candidate count of API workers, measured on the two workloads with a rate target."""

    workers: int
    review: LoadResult
    create: LoadResult


@dataclass(slots=True)
class Report:
    measurements: list[Measurement] = field(default_factory=list)
    outcomes: list[Outcome] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    export_rows: list[dict[str, Any]] = field(default_factory=list)
    calibration: list[Calibration] = field(default_factory=list)
    workers: int = 1

    def measure(
        self, workload: str, side: str, result: LoadResult, cpu: CpuUse, *, api: bool
    ) -> LoadResult:
        n = max(1, result.requests)
        self.measurements.append(
            Measurement(
                workload,
                side,
                result,
                server_cpu_ms=1000 * cpu.server / n if api else None,
                client_cpu_ms=1000 * cpu.client / n,
                postgres_cpu_ms=1000 * cpu.postgres / n if cpu.postgres is not None else None,
            )
        )
        return result


def interleaved(first: Any, second: Any, rounds: int) -> list[Any]:
    """The order of an interleaved comparison's parts (``Scale.rounds`` per side): A B, B A,
    A B, ... (A B B A for two rounds). The host's slow phases, seconds to minutes long, and the
    tables' slow growth then fall on both sides alike. Parts last half the measurement's
    duration: 5 s (small) and 8 s (full), whole seconds as wrk takes them."""
    order: list[Any] = []
    for n in range(rounds):
        order += [first, second] if n % 2 == 0 else [second, first]
    return order


def per_round(first: list[LoadResult], second: list[LoadResult]) -> list[float | None]:
    """Each round's rate of one side over the other's (round n: part n of each side, run back
    to back): how far the host's noise moves a ratio within one run. None where the second
    side got nothing done."""
    return [a.rate / b.rate if b.rate else None for a, b in zip(first, second, strict=True)]


def _percent(ratio: float | None, minus: float = 0.0) -> str:
    return "n/a" if ratio is None else f"{ratio - minus:.0%}"


def part_seconds(duration: float) -> float:
    """One part of an interleaved comparison: whole seconds (wrk's unit) from one second up;
    smoke runs, shorter than that, keep their fraction."""
    part = duration / 2
    return float(max(1, round(part))) if part >= 1 else part


@dataclass(slots=True)
class Context:
    scale: Scale
    database: BenchDatabase
    dataset: Dataset
    server: ApiServer
    http: Callable[[HttpLoad], Awaitable[LoadResult]]
    http_part: Callable[[HttpLoad], Awaitable[LoadResult]]
    """The same load generator for a part (half) of the duration: interleaved comparisons."""
    report: Report
    log: Callable[[str], None]
    work_dir: Path
    postmaster: int | None = None

    def cpu(self) -> CpuSample:
        return cpu_sample(self.server.all_pids(), self.postmaster)

    async def api(self, workload: str, side: str, load: HttpLoad) -> LoadResult:
        """Drive the API with ``load`` and record the result with the CPU it cost."""
        before = self.cpu()
        result = await self.http(load)
        return self._record_api(workload, side, result, CpuUse.between(before, self.cpu()))

    def _record_api(self, workload: str, side: str, result: LoadResult, cpu: CpuUse) -> LoadResult:
        self.report.measure(workload, side, result, cpu, api=True)
        if result.non2xx or result.errors:
            self.report.notes.append(
                f"{workload}: {result.non2xx} non-2xx responses and {result.errors} socket "
                f"errors out of {result.requests}; see the server log"
            )
        return result

    async def api_and_baseline(
        self, workload: str, api_side: str, load: HttpLoad, base_side: str, operation: Any
    ) -> tuple[LoadResult, LoadResult]:
        """The API and its asyncpg baseline in interleaved parts (``interleaved``), each
        side's parts merged. A slow phase of the shared machine (they last from seconds to
        minutes) then weighs on both sides alike, where one side after the other put it on
        whichever ran during it."""
        part = part_seconds(self.scale.duration)
        runs: dict[bool, list[LoadResult]] = {True: [], False: []}
        cpu: dict[bool, CpuUse] = {}
        for api in interleaved(True, False, self.scale.rounds):
            await self.settle()
            if api:
                before = self.cpu()
                result = await self.http_part(load)
                used = CpuUse.between(before, self.cpu())
            else:
                result, used = await self.measured_baseline(operation, duration=part)
            runs[api].append(result)
            cpu[api] = cpu[api] + used if api in cpu else used
        rounds = ", ".join(_percent(r) for r in per_round(runs[True], runs[False]))
        self.report.notes.append(
            f"{workload}: the API's rate in each round (one part of each side, back to back) "
            f"was {rounds} of the baseline's"
        )
        api_result = self._record_api(workload, api_side, _merge(runs[True]), cpu[True])
        base = self.report.measure(workload, base_side, _merge(runs[False]), cpu[False], api=False)
        return api_result, base

    async def measured_baseline(
        self, operation: Any, duration: float | None = None
    ) -> tuple[LoadResult, CpuUse]:
        """``operation`` by plain asyncpg, with the CPU of its timed loop only (its
        connections are opened and warmed outside it, as the API's pool is warm)."""
        samples: dict[bool, CpuSample] = {}

        def timed(start: bool) -> None:
            samples[start] = self.cpu()

        result = await run_asyncpg(
            self.database.app_dsn,
            operation,
            concurrency=self.scale.concurrency,
            duration=self.scale.duration if duration is None else duration,
            timed=timed,
        )
        return result, CpuUse.between(samples[True], samples[False])

    async def settle(self, wait_seconds: float = 10.0) -> None:
        """Wait until the server's audit sealer has sealed every event written so far, so
        that the next part of an interleaved comparison does not pay for sealing the events
        of the part before (it seals every second, behind the writes)."""
        conn = await asyncpg.connect(self.database.owner_dsn)
        try:
            written = await conn.fetchval("SELECT coalesce(max(seq), 0) FROM audit_events")
            deadline = time.monotonic() + wait_seconds
            while time.monotonic() < deadline:
                sealed = await conn.fetchval("SELECT coalesce(max(seq), 0) FROM audit_seals")
                if sealed >= written:
                    return
                await asyncio.sleep(0.1)
            self.log(f"the sealer had not caught up after {wait_seconds:.0f} s; going on")
        finally:
            await conn.close()

    @property
    def actor(self) -> Actor:
        user_id = uuid.UUID(self.dataset.user_ids[0])
        return Actor(
            kind="user",
            id=str(user_id),
            name="Reviewer 0",
            user_id=user_id,
            roles={uuid.UUID(self.dataset.workspace_id): Role.REVIEWER},
        )

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.dataset.tokens[0]}"}

    async def baseline(self, workload: str, side: str, operation: Any) -> LoadResult:
        """The same work sent by plain asyncpg, at the same concurrency."""
        result, cpu = await self.measured_baseline(operation)
        return self.report.measure(workload, side, result, cpu, api=False)


Statements = list[tuple[str, tuple[Any, ...]]]


async def capture_sql(
    url: str, work: Callable[[AsyncSession], Awaitable[Any]]
) -> tuple[Statements, Any]:
    """The SQL statements (in asyncpg's $n form) and parameters a service function sends."""
    engine = create_engine(url, pool_size=1, application_name="factmark-bench")
    captured: Statements = []

    def grab(
        conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool
    ) -> None:
        captured.append((statement, tuple(parameters or ())))

    event.listen(engine.sync_engine, "before_cursor_execute", grab)
    try:
        async with create_sessionmaker(engine)() as session:
            result = await work(session)
            await session.rollback()
    finally:
        await engine.dispose()
    return captured, result


def replay(statements: Statements) -> Callable[..., Awaitable[None]]:
    """An asyncpg operation sending ``statements`` in one transaction, as the API's request."""

    async def operation(conn: asyncpg.Connection, n: int, rng: random.Random) -> None:
        async with conn.transaction():
            for sql, params in statements:
                await conn.fetch(sql, *params)

    return operation


async def explain(dsn: str, sql: str, params: tuple[Any, ...]) -> dict[str, Any]:
    conn = await asyncpg.connect(dsn)
    try:
        raw = await conn.fetchval(f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {sql}", *params)
    finally:
        await conn.close()
    plan: dict[str, Any] = msgspec.json.decode(raw)[0]
    return plan


def plan_indexes(plan: dict[str, Any]) -> list[str]:
    found: list[str] = []

    def walk(node: dict[str, Any]) -> None:
        if "Index Name" in node:
            found.append(f"{node['Node Type']} on {node['Index Name']}")
        for child in node.get("Plans", []):
            walk(child)

    walk(plan["Plan"])
    return found


def _ratio(api: LoadResult, base: LoadResult) -> float:
    return api.rate / base.rate if base.rate else 0.0


# --- 2. the review screen -------------------------------------------------------------------


async def review_read(ctx: Context) -> None:
    from factmark.annotations.service.review import review_screen
    from factmark.annotations.spans import OffsetUnit

    name = "2. review screen"
    doc = ctx.dataset.review_document_id
    path = f"{API}/documents/{doc}/annotations"
    async with httpx.AsyncClient(base_url=ctx.server.base_url, timeout=30) as client:
        response = await client.get(path, headers=ctx.headers)
        response.raise_for_status()
        claims = len(response.json()["claims"])
    if claims != ctx.scale.review_claims:
        raise RuntimeError(f"the review document has {claims} claims, not the expected number")
    statements, _ = await capture_sql(
        ctx.database.app_url,
        lambda s: review_screen(s, ctx.actor, uuid.UUID(doc), OffsetUnit.CODEPOINT),
    )
    queries = f"{len(statements)} {'query' if len(statements) == 1 else 'queries'}"
    api, base = await ctx.api_and_baseline(
        name,
        "API GET /documents/{id}/annotations",
        review_load(ctx),
        f"asyncpg: the service's {queries}",
        replay(statements),
    )
    ratio = _ratio(api, base)
    ctx.report.outcomes.append(
        Outcome(
            name,
            f"{api.rate:,.0f} vs {base.rate:,.0f} req/s = {ratio:.0%} of baseline "
            f"({claims} claims with verdicts and counts)",
            ">= 50% of baseline",
            ratio >= 0.5,
        )
    )


def review_load(ctx: Context) -> HttpLoad:
    doc = ctx.dataset.review_document_id
    return HttpLoad("get", [f"{API}/documents/{doc}/annotations"], ctx.dataset.tokens)


# --- 3. claims list, page 1 vs a deep page --------------------------------------------------


async def claims_list(ctx: Context) -> None:
    from factmark.annotations.service.claims import SORT_KEYS, ClaimFilters, list_claims

    name = "3. claims list"
    page = ctx.scale.max_page
    ws = uuid.UUID(ctx.dataset.workspace_id)
    conn = await asyncpg.connect(ctx.database.owner_dsn)
    try:
        boundary = await conn.fetchrow(
            "SELECT updated_at, id FROM claims WHERE workspace_id = $1 AND deleted_at IS NULL "
            "ORDER BY updated_at DESC, id DESC OFFSET $2 LIMIT 1",
            ws,
            (page - 1) * 50 - 1,
        )
        first_expected = await conn.fetchval(
            "SELECT id FROM claims WHERE workspace_id = $1 AND deleted_at IS NULL "
            "ORDER BY updated_at DESC, id DESC OFFSET $2 LIMIT 1",
            ws,
            (page - 1) * 50,
        )
    finally:
        await conn.close()
    sort = Sort(SORT_KEYS[0], descending=True)
    cursor = encode_cursor(sort, boundary["updated_at"], boundary["id"])
    base_path = f"{API}/workspaces/{ctx.dataset.slug}/claims?limit=50"
    deep_path = f"{base_path}&cursor={cursor}"
    async with httpx.AsyncClient(base_url=ctx.server.base_url, timeout=30) as client:
        response = await client.get(deep_path, headers=ctx.headers)
        response.raise_for_status()
        items = response.json()["items"]
    if not items or items[0]["id"] != str(first_expected):
        raise RuntimeError("the constructed cursor did not land on the expected page")

    plans = []
    for label, cur in (("page 1", None), (f"page {page:,}", cursor)):
        statements, _ = await capture_sql(
            ctx.database.app_url,
            lambda s, c=cur: list_claims(
                s, ctx.actor, ws, ClaimFilters(), sort=None, cursor=c, limit=50
            ),
        )
        sql, params = statements[0]
        plan = await explain(ctx.database.owner_dsn, sql, params)
        plans.append(
            f"{label}: {plan['Execution Time']:.2f} ms, {', '.join(plan_indexes(plan)) or 'no index'}"
        )
    ctx.report.notes.append(f"{name}: EXPLAIN ANALYZE of the list query: " + "; ".join(plans))

    # Interleaved parts (page 1, deep, page 1, deep, ...), so that a change in the machine's
    # load during the run weighs on both alike.
    runs: dict[str, list[LoadResult]] = {"first": [], "deep": []}
    cpu: dict[str, CpuUse] = {}
    for key, path in interleaved(("first", base_path), ("deep", deep_path), ctx.scale.rounds):
        before = ctx.cpu()
        runs[key].append(await ctx.http_part(HttpLoad("get", [path], ctx.dataset.tokens)))
        used = CpuUse.between(before, ctx.cpu())
        cpu[key] = cpu[key] + used if key in cpu else used
    first, deep = _merge(runs["first"]), _merge(runs["deep"])
    ctx.report.measure(name, "API page 1", first, cpu["first"], api=True)
    ctx.report.measure(name, f"API page {page:,} (cursor)", deep, cpu["deep"], api=True)
    for result in (first, deep):
        if result.non2xx or result.errors:
            ctx.report.notes.append(
                f"{name}: {result.non2xx} non-2xx responses and {result.errors} socket errors"
            )
    ratio = deep.p50_ms / first.p50_ms if first.p50_ms else 0.0
    ctx.report.outcomes.append(
        Outcome(
            name,
            f"page {page:,} p50 {deep.p50_ms:.1f} ms vs page 1 {first.p50_ms:.1f} ms = "
            f"{ratio:.2f}x (p99 {deep.p99_ms:.1f} vs {first.p99_ms:.1f} ms)",
            "deep page within 1.5x of page 1",
            ratio <= 1.5,
        )
    )


# --- 4. full-text search --------------------------------------------------------------------


async def search(ctx: Context) -> None:
    from factmark.documents.service import DocumentFilters, list_documents

    name = "4. full-text search"
    ws = uuid.UUID(ctx.dataset.workspace_id)
    terms = ctx.dataset.search_terms
    paths = [f"{API}/workspaces/{ctx.dataset.slug}/documents?q={t}" for t, _ in terms]

    async def plan_for(term: str) -> tuple[dict[str, Any], Statements]:
        statements, _ = await capture_sql(
            ctx.database.app_url,
            lambda s: list_documents(
                s, ctx.actor, ws, DocumentFilters(q=term), sort=None, cursor=None, limit=50
            ),
        )
        sql, params = statements[0]
        return await explain(ctx.database.owner_dsn, sql, params), statements

    term, matches = terms[0]
    plan, _ = await plan_for(term)
    used = plan_indexes(plan)
    gin = any("ix_documents_search" in u for u in used)
    common, common_matches = ctx.dataset.common_term
    common_plan, _ = await plan_for(common)
    ctx.report.notes.append(
        f"{name}: {len(terms)} query words each found in "
        f"{min(m for _, m in terms):,} to {max(m for _, m in terms):,} of "
        f"{ctx.dataset.documents:,} documents. EXPLAIN ANALYZE for '{term}' ({matches} "
        f"matches): {plan['Execution Time']:.2f} ms, {', '.join(used) or 'no index'}. For the "
        f"most common word '{common}' ({common_matches:,} matches): "
        f"{common_plan['Execution Time']:.2f} ms, "
        f"{', '.join(plan_indexes(common_plan)) or 'no index'}"
    )
    statements_by_term = [(await plan_for(t))[1] for t, _ in terms[:5]]
    api = await ctx.api(
        name, "API GET /documents?q=word", HttpLoad("get", paths, ctx.dataset.tokens)
    )

    async def operation(conn: asyncpg.Connection, n: int, rng: random.Random) -> None:
        await replay(statements_by_term[n % len(statements_by_term)])(conn, n, rng)

    base = await ctx.baseline(name, "asyncpg: the service's query", operation)
    # On a few hundred documents a sequential scan is the right plan: the index is judged at
    # the 10,000 documents.
    judged = ctx.dataset.documents >= SEARCH_INDEX_JUDGED_AT
    plan_note = "ix_documents_search" if gin else "NOT ix_documents_search"
    if not judged:
        plan_note += f" (judged from {SEARCH_INDEX_JUDGED_AT:,} documents)"
    ctx.report.outcomes.append(
        Outcome(
            name,
            f"p99 {api.p99_ms:.1f} ms (p50 {api.p50_ms:.1f}, {api.rate:,.0f} req/s, "
            f"{_ratio(api, base):.0%} of baseline); plan uses {plan_note}",
            "p99 reported; plan uses the GIN index",
            gin if judged else None,
        )
    )


# --- 1. create a claim ----------------------------------------------------------------------


BASELINE_KEY_PREFIX = "base-"
"""The baseline's idempotency keys and request ids start with this (the API's are hex)."""


async def claim_write(ctx: Context) -> Callable[..., Awaitable[None]]:
    """The database side of creating a claim, for a plain asyncpg client: the statements the
    API sends, imported from its modules so that they cannot drift apart: BEGIN, the bearer
    token's lookup, the audit context, the idempotency record, the document, the claim and its
    span in one statement (the audit trigger fires twice), the stored response, COMMIT.
    Workload 1's baseline and workload 6's realistic write. (Once a minute per token the API
    also records the token's last use: left out.)"""
    docs = [uuid.UUID(d) for d, _ in ctx.dataset.write_documents]
    length = min(n for _, n in ctx.dataset.write_documents)
    conn = await asyncpg.connect(ctx.database.owner_dsn)
    try:
        texts = {
            r["id"]: r["text"]
            for r in await conn.fetch("SELECT id, text FROM documents WHERE id = ANY($1)", docs)
        }
    finally:
        await conn.close()
    user_ids = [uuid.UUID(u) for u in ctx.dataset.user_ids]
    token_hashes = [hash_token(t) for t in ctx.dataset.tokens]

    async def operation(conn: asyncpg.Connection, n: int, rng: random.Random) -> None:
        doc = docs[rng.randrange(len(docs))]
        text = texts[doc]
        start = rng.randint(0, length - 130)
        stop = start + rng.randint(20, 120)
        exact, prefix, suffix = text[start:stop], text[max(0, start - 32) : start], text[stop:][:32]
        user = n % len(user_ids)
        key = f"{BASELINE_KEY_PREFIX}{time.monotonic_ns()}-{n}"
        path = f"{API}/documents/{doc}/claims"
        body = msgspec.json.encode({"spans": [{"start": start, "end": stop}]})
        fingerprint = hashlib.sha256(b"POST " + path.encode() + b"\n" + body).digest()
        claim_id, span_id = new_id(), new_id()
        async with conn.transaction():
            token = await conn.fetchrow(AUTHENTICATE, token_hashes[user])
            assert token is not None
            actor = Actor(kind="user", id=str(user_ids[user]), name=token["display_name"])
            await conn.execute(
                SET_AUDIT_CONTEXT, audit_context(actor, request_id=key, idempotency_key=key)
            )
            assert await conn.fetchval(CLAIM_KEY, actor.key, key, fingerprint, "POST", path)
            ws = await conn.fetchval(DOCUMENT_WORKSPACE, doc, [uuid.UUID(ctx.dataset.workspace_id)])
            assert ws is not None
            row = await conn.fetchrow(
                INSERT_CLAIM,
                claim_id,
                ws,
                doc,
                exact,
                None,
                None,
                None,
                None,
                [],
                None,
                None,
                start,
                user_ids[user],
                [span_id],
                [start],
                [stop],
                [start],
                [stop],
                [exact],
                [prefix],
                [suffix],
            )
            assert row is not None
            # A response of the API's size (~750 bytes), encoded as the API encodes it.
            response = msgspec.json.encode(
                {
                    "id": str(claim_id),
                    "createdAt": row["created_at"].isoformat(),
                    "updatedAt": row["updated_at"].isoformat(),
                    "version": row["version"],
                    "workspaceId": str(ws),
                    "documentId": str(doc),
                    "statement": exact,
                    "tags": [],
                    "status": "open",
                    "offsetUnit": "codepoint",
                    "spans": [
                        {
                            "start": start,
                            "end": stop,
                            "exact": exact,
                            "prefix": prefix,
                            "suffix": suffix,
                        }
                    ],
                    "corrections": [],
                    "createdBy": str(user_ids[user]),
                }
            )
            etag = msgspec.json.encode({"etag": f'"{row["version"]}"', "location": path})
            await conn.execute(STORE_RESPONSE, actor.key, key, 201, response, etag.decode())

    return operation


def create_load(dataset: Dataset) -> HttpLoad:
    """Workload 1's requests: claims with a random span on the write documents."""
    return HttpLoad(
        "create",
        [f"{API}/documents/{d}/claims" for d, _ in dataset.write_documents],
        dataset.tokens,
        document_length=min(n for _, n in dataset.write_documents),
    )


async def create_claim(ctx: Context) -> None:
    name = "1. create a claim"
    conn = await asyncpg.connect(ctx.database.owner_dsn)
    try:
        seq_before = await conn.fetchval("SELECT coalesce(max(seq), 0) FROM audit_events")
    finally:
        await conn.close()
    api, base = await ctx.api_and_baseline(
        name,
        "API POST /documents/{id}/claims",
        create_load(ctx.dataset),
        "asyncpg: the same writes",
        await claim_write(ctx),
    )
    conn = await asyncpg.connect(ctx.database.owner_dsn)
    try:
        events = await conn.fetchval(
            "SELECT count(*) FROM audit_events WHERE seq > $1 "
            "AND coalesce(request_id, '') NOT LIKE $2",
            seq_before,
            BASELINE_KEY_PREFIX + "%",
        )
    finally:
        await conn.close()
    ctx.report.notes.append(
        f"{name}: the API's requests wrote {events:,} audit events for the {api.requests:,} "
        "requests wrk counted (one for the claim and one for its span; the requests still in "
        "flight when a part ends are written but not counted)"
    )
    await remove_created_claims(ctx)
    ratio = _ratio(api, base)
    ctx.report.outcomes.append(
        Outcome(
            name,
            f"{api.rate:,.0f} vs {base.rate:,.0f} req/s = {ratio:.0%} of baseline",
            ">= 50% of baseline",
            ratio >= 0.5,
        )
    )


async def remove_created_claims(ctx: Context) -> None:
    """Delete the claims this workload created (the loaded ones are all verified, these are
    open), so that a reused database keeps its shape: else they would fill the first pages of
    the claims list in the next run, cheaper to render than the rest (they have no verdict)."""
    await delete_open_claims(ctx.database.owner_dsn, ctx.dataset.workspace_id)


async def delete_open_claims(owner_dsn: str, workspace_id: str) -> None:
    """Delete the open claims of the bench workspace: those created by a run (see above), then
    vacuum their tables. Without that, the next workload to scan claims (the export, right
    after workload 1 and the choice of workers, thousands of dead rows later) paid for
    skipping and pruning them: 0.3 ms of PostgreSQL CPU per exported row at 2,000 rows, four
    times the rest, a cost of the bench's clean-up and not of the workload measured."""
    conn = await asyncpg.connect(owner_dsn)
    try:
        async with conn.transaction():
            await conn.execute("SELECT set_config('factmark.actor', $1, true)", ACTOR)
            await conn.execute(
                "DELETE FROM claims WHERE workspace_id = $1 AND status = 'open'",
                uuid.UUID(workspace_id),
            )
        await conn.execute("VACUUM (ANALYZE) claims, claim_spans")
    finally:
        await conn.close()


# --- 5. NDJSON export -----------------------------------------------------------------------

EXPORT_PATH = "/api/v1/workspaces/{workspace}/exports/claims"

EXPORT_WARM_UP_ROWS = 100
"""A small export through the API before the measured ones: a fresh worker's first request
pays for imports, plans and connections that no later export pays again."""


async def _export_spec(ctx: Context) -> dict[str, Any] | None:
    async with httpx.AsyncClient(base_url=ctx.server.base_url, timeout=30) as client:
        schema = (await client.get("/schema/openapi.json")).json()
    operation: dict[str, Any] | None = schema.get("paths", {}).get(EXPORT_PATH, {}).get("get")
    return operation


@dataclass(frozen=True, slots=True)
class _Read:
    rows: int
    size: int
    """Bytes of the records (the API's without its trailer line)."""
    seconds: float
    cpu: CpuUse


async def export(ctx: Context) -> None:
    name = "5. NDJSON export"
    spec = await _export_spec(ctx)
    if spec is None:
        ctx.report.outcomes.append(
            Outcome(
                name,
                f"not available: the API has no GET {EXPORT_PATH} yet (issue 5)",
                ">= 50% of COPY; peak RSS +<= 50 MB from 100k to 1M",
                None,
            )
        )
        return
    params = {p.get("name") for p in spec.get("parameters", [])}
    ws = uuid.UUID(ctx.dataset.workspace_id)
    conn = await asyncpg.connect(ctx.database.owner_dsn)
    try:
        total = int(
            await conn.fetchval(
                "SELECT count(*) FROM claims WHERE workspace_id = $1 AND status = 'verified' "
                "AND deleted_at IS NULL",
                ws,
            )
        )
        sizes = sorted({min(s, total) for s in ctx.scale.export_sizes})
        thresholds: dict[int, datetime | None] = {}
        for size in {*sizes, min(EXPORT_WARM_UP_ROWS, total)}:
            thresholds[size] = (
                None
                if size >= total
                else await conn.fetchval(
                    "SELECT verified_at FROM claims WHERE workspace_id = $1 AND "
                    "status = 'verified' AND deleted_at IS NULL "
                    "ORDER BY verified_at DESC, id DESC OFFSET $2 LIMIT 1",
                    ws,
                    size - 1,
                )
            )
    finally:
        await conn.close()

    def query(since: datetime | None) -> dict[str, str]:
        return {"format": "ndjson"} | ({"verifiedSince": since.isoformat()} if since else {})

    # The baseline: COPY of the export's own SQL for the same filters (records_copy_query).
    engine = create_engine(ctx.database.app_url, pool_size=1)
    try:
        sessionmaker = create_sessionmaker(engine)
        copy_sql = {
            size: await records_copy_query(
                sessionmaker, ws, ExportFilters(verified_since=since), ctx.server.base_url
            )
            for size, since in thresholds.items()
        }
    finally:
        await engine.dispose()
    if "verifiedSince" in params:
        await _download(ctx, query(thresholds[min(EXPORT_WARM_UP_ROWS, total)]))

    peaks: dict[int, int] = {}
    ratios: list[float] = []
    for size in sizes:
        since = thresholds[size]
        if since is not None and "verifiedSince" not in params:
            ctx.report.notes.append(f"{name}: no verifiedSince filter, {size:,} rows skipped")
            continue
        # An untimed COPY brings the rows into the cache; then the API's export and COPY
        # alternate (API, COPY, COPY, API: ``interleaved``), each side's runs merged, so that
        # neither side has the warmer cache or the quieter moment of the host to itself.
        await _copy(ctx, copy_sql[size])
        pids = ctx.server.worker_pids()
        reads: dict[bool, list[_Read]] = {True: [], False: []}
        with RssSampler(pids) as sampler:
            before = sampler.sample()[0]
            for by_api in interleaved(True, False, 2):
                if by_api:
                    cpu_before = ctx.cpu()
                    started = time.perf_counter()
                    lines, last, size_bytes = await _download(ctx, query(since))
                    seconds = time.perf_counter() - started
                    trailer = b'"statement"' not in last
                    reads[True].append(
                        _Read(
                            rows=lines - trailer,
                            size=size_bytes - (len(last) + 1 if trailer else 0),
                            seconds=seconds,
                            cpu=CpuUse.between(cpu_before, ctx.cpu()),
                        )
                    )
                else:
                    reads[False].append(await _copy(ctx, copy_sql[size]))
        api, copy = _merge_reads(reads[True]), _merge_reads(reads[False])
        if len({(r.rows, r.size) for r in reads[True] + reads[False]}) != 1:
            ctx.report.notes.append(
                f"{name}: the API sent {api.rows:,} records in {api.size:,} bytes, COPY "
                f"{copy.rows:,} in {copy.size:,} (two runs each): not the same records"
            )
        rate, copy_rate = api.rows / api.seconds, copy.rows / copy.seconds
        ratios.append(rate / copy_rate)
        peaks[size] = sampler.peak_process
        ctx.report.export_rows.append(
            {
                "rows": reads[True][0].rows,
                "api_rows_per_s": rate,
                "api_seconds": [r.seconds for r in reads[True]],
                "copy_rows": reads[False][0].rows,
                "copy_rows_per_s": copy_rate,
                "api_rows_per_s_runs": [r.rows / r.seconds for r in reads[True]],
                "copy_rows_per_s_runs": [r.rows / r.seconds for r in reads[False]],
                "same_bytes": api.size == copy.size,
                "ratio": rate / copy_rate,
                "rss_before_mb": before / 2**20,
                "rss_peak_mb": sampler.peak_process / 2**20,
                "api_cpu_us_per_row": 1e6 * api.cpu.server / max(1, api.rows),
                "api_pg_cpu_us_per_row": _per_row(api.cpu.postgres, api.rows),
                "copy_pg_cpu_us_per_row": _per_row(copy.cpu.postgres, copy.rows),
            }
        )
    if not ratios:
        ctx.report.outcomes.append(Outcome(name, "not measured", "", None))
        return
    growth = (peaks[max(peaks)] - peaks[min(peaks)]) / 2**20 if len(peaks) > 1 else 0.0
    ctx.report.outcomes.append(
        Outcome(
            name,
            f"{min(ratios):.0%} of COPY's rate at worst; peak RSS grows {growth:+.1f} MB "
            f"from {min(peaks):,} to {max(peaks):,} rows",
            ">= 50% of COPY; peak RSS +<= 50 MB from 100k to 1M",
            min(ratios) >= 0.5 and growth <= 50,
        )
    )


def _merge_reads(reads: list[_Read]) -> _Read:
    """Runs of one side as one: their rows, bytes, seconds and CPU added up."""
    cpu = reads[0].cpu
    for read in reads[1:]:
        cpu = cpu + read.cpu
    return _Read(
        rows=sum(r.rows for r in reads),
        size=sum(r.size for r in reads),
        seconds=sum(r.seconds for r in reads),
        cpu=cpu,
    )


def _per_row(seconds: float | None, rows: int) -> float | None:
    return None if seconds is None else 1e6 * seconds / max(1, rows)


async def _download(ctx: Context, query: dict[str, str]) -> tuple[int, bytes, int]:
    """Lines, the last line and bytes of one export, read by a streaming client (no gzip)."""
    path = EXPORT_PATH.format(workspace=ctx.dataset.slug)
    headers = {**ctx.headers, "Accept-Encoding": "identity"}
    lines = size = 0
    tail = b""
    async with (
        httpx.AsyncClient(base_url=ctx.server.base_url, timeout=600) as client,
        client.stream("GET", path, params=query, headers=headers) as response,
    ):
        response.raise_for_status()
        async for chunk in response.aiter_raw():
            lines += chunk.count(b"\n")
            size += len(chunk)
            tail = (tail + chunk)[-4096:]
    if tail and not tail.endswith(b"\n"):
        lines += 1
    last = tail.rstrip(b"\n").rsplit(b"\n", 1)[-1]
    return lines, last, size


async def _copy(ctx: Context, sql: str) -> _Read:
    """``COPY (sql) TO STDOUT`` as the app role, read by asyncpg, with the CPU it cost."""
    lines = size = 0

    async def sink(chunk: bytes) -> None:
        nonlocal lines, size
        lines += chunk.count(b"\n")
        size += len(chunk)

    conn = await asyncpg.connect(ctx.database.app_dsn)
    try:
        cpu_before = ctx.cpu()
        started = time.perf_counter()
        await conn.copy_from_query(sql, output=sink, **COPY_OPTIONS)
        seconds = time.perf_counter() - started
        cpu = CpuUse.between(cpu_before, ctx.cpu())
    finally:
        await conn.close()
    return _Read(rows=lines, size=size, seconds=seconds, cpu=cpu)


# --- 6. writes with and without the audit trigger -------------------------------------------

SCRATCH = "bench_audit_scratch"
SCRATCH_COLUMNS = (
    "id, workspace_id, document_id, statement, claimant_name, claimant_role, "
    "claimant_organisation, claimed_at, tags, checkworthiness, assignee_id, status, "
    "approved_verdict_id, verified_at, first_offset, created_by, deleted_at, created_at, "
    "updated_at, version"
)
SCRATCH_SEED = (
    f"INSERT INTO bench_audit_scratch ({SCRATCH_COLUMNS}) "  # noqa: S608 - constants only
    f"SELECT {SCRATCH_COLUMNS} FROM claims LIMIT $1"
)
SCRATCH_INSERT = (
    "INSERT INTO bench_audit_scratch (id, workspace_id, document_id, statement, first_offset) "
    "VALUES ($1, $2, $3, $4, $5)"
)
SCRATCH_UPDATE = (
    "UPDATE bench_audit_scratch SET status = CASE status WHEN 'open' THEN 'in_review' "
    "ELSE 'open' END, version = version + 1, updated_at = now() WHERE id = $1"
)


AUDIT_OVERHEAD = "6. audit trigger overhead"
CLAIM_WRITE_TABLES = ("claims", "claim_spans")
"""The audited tables a claim creation writes to: its triggers are switched for workload 6."""


async def _set_audit_trigger(ctx: Context, tables: tuple[str, ...], enabled: bool) -> None:
    owner = await asyncpg.connect(ctx.database.owner_dsn)
    try:
        async with owner.transaction():
            await set_audit_triggers(owner, tables, enabled=enabled)
    finally:
        await owner.close()


async def _with_and_without(
    ctx: Context, writes: str, tables: tuple[str, ...], operation: Any
) -> dict[bool, tuple[LoadResult, CpuUse]]:
    """``operation`` with the audit trigger of ``tables`` disabled and enabled, in interleaved
    parts (``interleaved``: off, on, on, off) against the machine's drift, each part after
    the sealer has caught up with the one before; the trigger is on again after."""
    part = part_seconds(ctx.scale.duration)
    runs: dict[bool, list[LoadResult]] = {True: [], False: []}
    cpu: dict[bool, CpuUse] = {}
    try:
        for enabled in interleaved(False, True, ctx.scale.rounds):
            await ctx.settle()
            await _set_audit_trigger(ctx, tables, enabled)
            result, used = await ctx.measured_baseline(operation, duration=part)
            runs[enabled].append(result)
            cpu[enabled] = cpu[enabled] + used if enabled in cpu else used
    finally:
        await _set_audit_trigger(ctx, tables, True)
    rounds = ", ".join(_percent(r, minus=1) for r in per_round(runs[False], runs[True]))
    ctx.report.notes.append(
        f"{AUDIT_OVERHEAD}: {writes}: each write slower with the trigger in each round (one "
        f"part of each side, back to back): {rounds}"
    )
    return {enabled: (_merge(runs[enabled]), cpu[enabled]) for enabled in (False, True)}


def _overhead_outcome(runs: dict[bool, tuple[LoadResult, CpuUse]]) -> str:
    (with_t, _), (without, _) = runs[True], runs[False]
    return (
        f"{with_t.rate:,.0f} writes/s with vs {without.rate:,.0f} without: throughput "
        f"{_lower(runs):.0%} lower, each write {_slower(runs):.0%} slower "
        f"(p50 {with_t.p50_ms:.2f} vs {without.p50_ms:.2f} ms)"
    )


def _report_overhead(
    ctx: Context,
    writes: str,
    runs: dict[bool, tuple[LoadResult, CpuUse]],
    target: str,
    met: bool | None,
) -> None:
    for enabled in (False, True):
        result, used = runs[enabled]
        side = f"asyncpg {writes}, audit trigger {'enabled' if enabled else 'disabled'}"
        ctx.report.measure(AUDIT_OVERHEAD, side, result, used, api=False)
    ctx.report.outcomes.append(
        Outcome(f"{AUDIT_OVERHEAD}: {writes}", _overhead_outcome(runs), target, met)
    )


def _slower(runs: dict[bool, tuple[LoadResult, CpuUse]]) -> float:
    with_t, without = runs[True][0], runs[False][0]
    return without.rate / with_t.rate - 1 if with_t.rate else 0.0


def _lower(runs: dict[bool, tuple[LoadResult, CpuUse]]) -> float:
    """Issue 4's measure: how much lower write throughput is with the triggers."""
    with_t, without = runs[True][0], runs[False][0]
    return 1 - with_t.rate / without.rate if without.rate else 0.0


async def audit_overhead(ctx: Context) -> None:
    """Write throughput with and without the audit triggers, at the database (asyncpg, no API
    in the way): the claim-creation transaction of workload 1 (the target), and a one-row
    write on a scratch table (the worst case: the trigger's cost against the cheapest write)."""
    write = await claim_write(ctx)
    runs = await _with_and_without(ctx, "claim creation", CLAIM_WRITE_TABLES, write)
    await remove_created_claims(ctx)
    _report_overhead(ctx, "claim creation", runs, "throughput <= 30% lower", _lower(runs) <= 0.30)

    ws = uuid.UUID(ctx.dataset.workspace_id)
    doc = uuid.UUID(ctx.dataset.write_documents[0][0])
    seed = min(ctx.dataset.claims, 20_000)
    owner = await asyncpg.connect(ctx.database.owner_dsn)
    try:
        await owner.execute(f"DROP TABLE IF EXISTS {SCRATCH}")
        await owner.execute(f"CREATE TABLE {SCRATCH} (LIKE claims INCLUDING ALL)")
        await owner.execute(SCRATCH_SEED, seed)
        await owner.execute(
            f"CREATE TRIGGER audit_row AFTER UPDATE OR DELETE ON {SCRATCH} "
            "FOR EACH ROW EXECUTE FUNCTION factmark_audit_row('claim', 'search')"
        )
        await owner.execute(  # a copy of claims: the claims' own insert trigger fits it
            f"CREATE TRIGGER audit_insert AFTER INSERT ON {SCRATCH} "
            "FOR EACH ROW EXECUTE FUNCTION factmark_audit_insert_claims()"
        )
        await owner.execute(f"GRANT SELECT, INSERT, UPDATE ON {SCRATCH} TO factmark_app")
        await owner.execute(f"VACUUM ANALYZE {SCRATCH}")
        ids = [r["id"] for r in await owner.fetch("SELECT id FROM bench_audit_scratch")]
    finally:
        await owner.close()

    async def operation(conn: asyncpg.Connection, n: int, rng: random.Random) -> None:
        """Alternately insert a claim and update one: each in its own transaction."""
        async with conn.transaction():
            await conn.execute("SELECT set_config('factmark.actor', $1, true)", ACTOR)
            if n % 2:
                await conn.execute(
                    SCRATCH_INSERT,
                    new_id(),
                    ws,
                    doc,
                    f"A claim written by the audit benchmark, number {n}.",
                    n % 1000,
                )
            else:
                await conn.execute(
                    SCRATCH_UPDATE,
                    ids[rng.randrange(len(ids))],
                )

    scratch = await _with_and_without(ctx, "one-row writes", (SCRATCH,), operation)
    owner = await asyncpg.connect(ctx.database.owner_dsn)
    try:
        await owner.execute(f"DROP TABLE {SCRATCH}")
    finally:
        await owner.close()
    _report_overhead(ctx, "one-row writes (worst case)", scratch, "reported", None)


def _merge(results: list[LoadResult]) -> LoadResult:
    """Two runs as one: summed counts, request-weighted latency percentiles."""
    total = sum(r.requests for r in results) or 1

    def weighted(attr: str) -> float:
        return sum(getattr(r, attr) * r.requests for r in results) / total

    return LoadResult(
        generator=results[0].generator,
        requests=sum(r.requests for r in results),
        seconds=sum(r.seconds for r in results),
        non2xx=sum(r.non2xx for r in results),
        errors=sum(r.errors for r in results),
        p50_ms=weighted("p50_ms"),
        p95_ms=weighted("p95_ms"),
        p99_ms=weighted("p99_ms"),
    )
