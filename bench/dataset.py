"""Loading the benchmark's data at scale: COPY for the documents, INSERT ... SELECT for claims.

One workspace ``bench`` holds the documents (pseudo-words drawn from a Zipf distribution, so
that full-text search has rare and common terms), and the claims: each with one span, an
approved verdict (so it is verified and exported) and one piece of evidence. One document, the
review document, has exactly ``review_claims`` claims; the rest share the other documents.

Bulk rows are loaded as the superuser with the audit triggers (``AUDIT_TRIGGERS``) disabled and
``session_replication_role = replica`` (no foreign-key checks: the rows are consistent by
construction), and with the secondary indexes of the claim tables dropped and rebuilt after;
the triggers are re-enabled (ENABLE ALWAYS, as the migration leaves them) in the same
transaction. ``--audit-load`` keeps the triggers, writing one audit event per row (slow).
"""

from __future__ import annotations

import hashlib
import random
import secrets
import time
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import msgspec

from bench.scales import Scale
from factmark.db import new_id

AUDIT_TRIGGERS = ("audit_insert", "audit_row")
"""Every audited table's two triggers: its inserts, and its updates and deletes."""


async def set_audit_triggers(conn: asyncpg.Connection, tables: Any, *, enabled: bool) -> None:
    """Disable the audit triggers of ``tables``, or enable them as the migrations leave them
    (ENABLE ALWAYS: they fire even under ``session_replication_role = replica``)."""
    state = "ENABLE ALWAYS" if enabled else "DISABLE"
    for table in tables:
        for trigger in AUDIT_TRIGGERS:
            await conn.execute(f"ALTER TABLE {table} {state} TRIGGER {trigger}")


ACTOR = '{"kind":"system","id":"bench","name":"bench"}'
BULK_TABLES = ("documents", "claims", "claim_spans", "verdicts", "evidence")
INDEXED_TABLES = ("claims", "claim_spans", "verdicts", "evidence")
RATINGS = (
    ("true", "True", 5),
    ("mostly-true", "Mostly true", 4),
    ("misleading", "Misleading", 3),
    ("mostly-false", "Mostly false", 2),
    ("false", "False", 1),
)
SEED = 20261125
MIGRATIONS = Path(__file__).resolve().parents[1] / "alembic" / "versions"


def schema_fingerprint() -> str:
    """A hash of the migration files: a reused database must have been loaded under them."""
    digest = hashlib.sha256()
    for path in sorted(MIGRATIONS.glob("*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


@dataclass(slots=True)
class Dataset:
    """What the workloads need to know about the loaded data."""

    scale: str
    workspace_id: str
    slug: str
    tokens: list[str]
    user_ids: list[str]
    review_document_id: str
    write_documents: list[tuple[str, int]]
    """(id, length in code points) of the documents the create workload writes to."""
    search_terms: list[tuple[str, int]]
    """Query words with the number of documents that contain them."""
    common_term: tuple[str, int]
    documents: int
    claims: int
    audit_load: bool
    load_seconds: dict[str, float] = field(default_factory=dict)
    schema: str = ""
    """Fingerprint of the migrations the data was loaded under (see schema_fingerprint)."""

    def to_json(self) -> str:
        return msgspec.json.encode(asdict(self)).decode()

    @classmethod
    def from_json(cls, raw: str) -> Dataset:
        data: dict[str, Any] = msgspec.json.decode(raw)
        data["write_documents"] = [tuple(x) for x in data["write_documents"]]
        data["search_terms"] = [tuple(x) for x in data["search_terms"]]
        data["common_term"] = tuple(data["common_term"])
        return cls(**data)


def _vocabulary(rng: random.Random, size: int = 6_000) -> list[str]:
    onsets = [
        "b",
        "br",
        "c",
        "ch",
        "d",
        "dr",
        "f",
        "fl",
        "g",
        "gr",
        "h",
        "j",
        "k",
        "l",
        "m",
        "n",
        "p",
        "pl",
        "pr",
        "r",
        "s",
        "sh",
        "st",
        "t",
        "tr",
        "v",
        "w",
        "z",
    ]
    vowels = ["a", "e", "i", "o", "u", "ai", "ou", "ea", "io"]
    codas = ["", "", "n", "r", "l", "m", "t", "nd", "st", "x"]
    words: set[str] = set()
    while len(words) < size:
        syllables = rng.choice((1, 2, 2, 3, 3, 4))
        word = "".join(rng.choice(onsets) + rng.choice(vowels) for _ in range(syllables))
        word += rng.choice(codas)
        if len(word) >= 4:
            words.add(word)
    ranked = sorted(words)
    rng.shuffle(ranked)
    return ranked


class TextMaker:
    """Pseudo-English text: sentences of Zipf-distributed words (rank r has weight 1/r)."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.words = _vocabulary(rng)
        total = 0.0
        self.cum_weights: list[float] = []
        for rank in range(1, len(self.words) + 1):
            total += 1.0 / rank
            self.cum_weights.append(total)

    def draw(self, k: int) -> list[str]:
        return self.rng.choices(self.words, cum_weights=self.cum_weights, k=k)

    def text(self, chars: int) -> tuple[str, set[str]]:
        words = self.draw(chars // 6 + 40)
        sentences: list[str] = []
        used = 0
        length = 0
        while length < chars:
            n = self.rng.randint(8, 20)
            if used + n > len(words):
                words.extend(self.draw(200))
            sentence = " ".join(words[used : used + n])
            used += n
            sentence = sentence[0].upper() + sentence[1:] + "."
            sentences.append(sentence)
            length += len(sentence) + 1
        return " ".join(sentences), set(words[:used])

    def title(self) -> str:
        return " ".join(w.capitalize() for w in self.draw(6))


def _claims_per_document(scale: Scale) -> list[int]:
    """The review document first, then the others sharing the remaining claims evenly."""
    others = scale.documents - 1
    rest = scale.claims - scale.review_claims
    base, extra = divmod(rest, others)
    return [scale.review_claims] + [base + (1 if i < extra else 0) for i in range(others)]


def _document_rows(
    scale: Scale, workspace_id: uuid.UUID, editor_id: uuid.UUID, maker: TextMaker
) -> Iterator[tuple[tuple[Any, ...], set[str]]]:
    start = datetime.now(UTC) - timedelta(days=200)
    for i in range(scale.documents):
        text, words = maker.text(scale.document_chars)
        created = start + timedelta(minutes=i)
        row = (
            new_id(),
            workspace_id,
            maker.title(),
            text,
            hashlib.sha256(text.encode()).hexdigest(),
            len(text),
            len(text),  # ASCII: UTF-16 units equal code points
            f"https://news.example/{i}",
            f"Publisher {i % 40}",
            f"Author {i % 300}",
            created,
            "en",
            [f"topic-{i % 20}"],
            editor_id,
            created,
            created,
        )
        yield row, words


DOCUMENT_COLUMNS = (
    "id",
    "workspace_id",
    "title",
    "text",
    "text_sha256",
    "length_codepoints",
    "length_utf16",
    "source_url",
    "publisher",
    "author",
    "published_at",
    "language",
    "tags",
    "created_by",
    "created_at",
    "updated_at",
)

PLAN_SQL = """
CREATE TEMP TABLE bench_plan AS
SELECT uuidv7() AS claim_id, uuidv7() AS span_id, uuidv7() AS verdict_id, uuidv7() AS evidence_id,
       d.id AS document_id, d.ord, g.n, s.start, s.start + 30 + ((g.n * 13 + d.ord) % 90) AS stop,
       $1::timestamptz + make_interval(secs => d.ord::double precision * 1000 + g.n) AS created_at
  FROM bench_docs d
 CROSS JOIN LATERAL generate_series(1, d.n) AS g(n)
 CROSS JOIN LATERAL (
       SELECT ((g.n::bigint * 7919 + d.ord::bigint * 104729) % greatest(d.len - 160, 1))::int
       AS start) AS s
"""

SPANS_SQL = """
INSERT INTO claim_spans (id, workspace_id, claim_id, document_id, ordinal, start_offset,
                         end_offset, start_utf16, end_utf16, exact, prefix, suffix)
SELECT p.span_id, $1, p.claim_id, p.document_id, 0, p.start, p.stop, p.start, p.stop,
       substr(w.text, p.start - w.lo + 1, p.stop - p.start),
       substr(w.text, 1, p.start - w.lo),
       substr(w.text, p.stop - w.lo + 1, 32)
  FROM bench_plan p
  JOIN documents d ON d.id = p.document_id
 CROSS JOIN LATERAL (
       -- one slice of the (TOASTed) text per row, cut three ways
       SELECT greatest(p.start - 32, 0) AS lo,
              substr(d.text, greatest(p.start - 32, 0) + 1,
                     p.stop + 32 - greatest(p.start - 32, 0)) AS text) AS w
"""

CLAIMS_SQL = """
INSERT INTO claims (id, workspace_id, document_id, statement, claimant_name, claimant_role,
                    claimed_at, tags, checkworthiness, status, approved_verdict_id, verified_at,
                    first_offset, created_by, created_at, updated_at, version)
SELECT p.claim_id, $1, p.document_id, substr(d.text, p.start + 1, p.stop - p.start),
       'Claimant ' || (p.n % 97),
       CASE WHEN p.n % 3 = 0 THEN 'Minister' END, p.created_at - interval '1 day',
       ARRAY['topic-' || (p.n % 20)]::varchar[], (ARRAY['low', 'medium', 'high'])[1 + p.n % 3],
       'verified', p.verdict_id, p.created_at + interval '2 hours', p.start,
       ($2::uuid[])[1 + p.n % cardinality($2::uuid[])], p.created_at,
       p.created_at + interval '2 hours', 3
  FROM bench_plan p JOIN documents d ON d.id = p.document_id
"""

VERDICTS_SQL = """
INSERT INTO verdicts (id, workspace_id, claim_id, document_id, rating_id, summary, confidence,
                      state, approved_by, approved_at, created_by, created_at, updated_at,
                      version)
SELECT p.verdict_id, $1, p.claim_id, p.document_id,
       ($2::uuid[])[1 + p.n % cardinality($2::uuid[])],
       'Checked against the official record on ' || to_char(p.created_at, 'YYYY-MM-DD') ||
       ': the figure quoted does not match the published series.',
       (50 + p.n % 50) / 100.0, 'approved', $3, p.created_at + interval '2 hours',
       ($4::uuid[])[1 + p.n % cardinality($4::uuid[])], p.created_at + interval '1 hour',
       p.created_at + interval '2 hours', 2
  FROM bench_plan p
"""

EVIDENCE_SQL = """
INSERT INTO evidence (id, workspace_id, claim_id, document_id, stance, source_url, title,
                      publisher, published_at, accessed_at, quote, created_by, created_at,
                      updated_at)
SELECT p.evidence_id, $1, p.claim_id, p.document_id,
       (ARRAY['supports', 'refutes', 'context'])[1 + p.n % 3],
       'https://records.example/series/' || p.ord || '/' || p.n, 'Official series ' || p.n,
       'Records Office', p.created_at - interval '30 days', p.created_at,
       'The published series shows a different figure for the period.',
       ($2::uuid[])[1 + p.n % cardinality($2::uuid[])], p.created_at + interval '30 minutes',
       p.created_at + interval '30 minutes'
  FROM bench_plan p
"""


async def _secondary_indexes(conn: asyncpg.Connection) -> list[tuple[str, str]]:
    """(name, definition) of the indexes of the claim tables that back no constraint."""
    rows = await conn.fetch(
        """
        SELECT i.relname AS name, pg_get_indexdef(x.indexrelid) AS definition
          FROM pg_index x
          JOIN pg_class i ON i.oid = x.indexrelid
          JOIN pg_class t ON t.oid = x.indrelid
         WHERE t.relname = ANY($1::text[])
           AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid)
         ORDER BY i.relname
        """,
        list(INDEXED_TABLES),
    )
    return [(r["name"], r["definition"]) for r in rows]


async def stored_dataset(conn: asyncpg.Connection) -> Dataset | None:
    exists = await conn.fetchval("SELECT to_regclass('public.bench_meta') IS NOT NULL")
    if not exists:
        return None
    raw = await conn.fetchval("SELECT value FROM bench_meta WHERE key = 'dataset'")
    return Dataset.from_json(raw) if raw else None


async def load(owner_dsn: str, scale: Scale, *, audit_load: bool, log: Any) -> Dataset:
    """Load the data for ``scale`` into an empty, migrated database."""
    rng = random.Random(SEED)
    maker = TextMaker(rng)
    timings: dict[str, float] = {}
    conn = await asyncpg.connect(owner_dsn)
    try:
        await conn.execute("SET maintenance_work_mem = '512MB'; SET work_mem = '256MB'")
        await conn.execute(f"SELECT set_config('factmark.actor', '{ACTOR}', false)")
        started = time.perf_counter()
        workspace_id, editor_id, user_ids, tokens, rating_ids = await _accounts(conn, scale)
        timings["accounts"] = time.perf_counter() - started

        async with conn.transaction():
            if not audit_load:
                await conn.execute("SET LOCAL session_replication_role = replica")
                await set_audit_triggers(conn, BULK_TABLES, enabled=False)
            started = time.perf_counter()
            rows: list[tuple[Any, ...]] = []
            words_by_doc: list[set[str]] = []
            for row, words in _document_rows(scale, workspace_id, editor_id, maker):
                rows.append(row)
                words_by_doc.append(words)
            timings["generate documents (Python)"] = time.perf_counter() - started
            started = time.perf_counter()
            await conn.copy_records_to_table("documents", records=rows, columns=DOCUMENT_COLUMNS)
            timings["COPY documents"] = time.perf_counter() - started
            log(f"  {scale.documents:,} documents loaded")

            counts = _claims_per_document(scale)
            await conn.execute(
                "CREATE TEMP TABLE bench_docs (ord int, id uuid, n int, len int) ON COMMIT DROP"
            )
            await conn.copy_records_to_table(
                "bench_docs",
                records=[(i, row[0], counts[i], row[5]) for i, row in enumerate(rows)],
            )
            dropped = [] if audit_load else await _secondary_indexes(conn)
            for name, _ in dropped:
                await conn.execute(f'DROP INDEX "{name}"')
            base = datetime.now(UTC) - timedelta(days=130)
            started = time.perf_counter()
            await conn.execute(PLAN_SQL, base)
            timings["plan claims"] = time.perf_counter() - started
            for label, sql, args in (
                ("INSERT claims", CLAIMS_SQL, (workspace_id, user_ids)),
                ("INSERT claim_spans", SPANS_SQL, (workspace_id,)),
                ("INSERT verdicts", VERDICTS_SQL, (workspace_id, rating_ids, editor_id, user_ids)),
                ("INSERT evidence", EVIDENCE_SQL, (workspace_id, user_ids)),
            ):
                started = time.perf_counter()
                await conn.execute(sql, *args)
                timings[label] = time.perf_counter() - started
                log(f"  {label}: {timings[label]:.1f} s")
            started = time.perf_counter()
            for _, definition in dropped:
                await conn.execute(definition)
            timings["rebuild indexes"] = time.perf_counter() - started
            await conn.execute("DROP TABLE bench_plan")
            if not audit_load:
                await set_audit_triggers(conn, BULK_TABLES, enabled=True)
        started = time.perf_counter()
        await conn.execute("VACUUM ANALYZE")
        timings["VACUUM ANALYZE"] = time.perf_counter() - started

        search_terms, common = await _search_terms(conn, maker, words_by_doc, scale)
        review_id = str(rows[0][0])
        write_documents = [(str(r[0]), int(r[5])) for r in rows[1 : 1 + min(32, len(rows) - 1)]]
        dataset = Dataset(
            scale=scale.name,
            workspace_id=str(workspace_id),
            slug="bench",
            tokens=tokens,
            user_ids=[str(u) for u in user_ids],
            review_document_id=review_id,
            write_documents=write_documents,
            search_terms=search_terms,
            common_term=common,
            documents=scale.documents,
            claims=scale.claims,
            audit_load=audit_load,
            load_seconds={k: round(v, 2) for k, v in timings.items()},
            schema=schema_fingerprint(),
        )
        await conn.execute("CREATE TABLE bench_meta (key text PRIMARY KEY, value text NOT NULL)")
        await conn.execute("INSERT INTO bench_meta VALUES ('dataset', $1)", dataset.to_json())
        return dataset
    finally:
        await conn.close()


async def _accounts(
    conn: asyncpg.Connection, scale: Scale
) -> tuple[uuid.UUID, uuid.UUID, list[uuid.UUID], list[str], list[uuid.UUID]]:
    """The workspace, its editor and reviewers (each with a token) and the rating scale."""
    workspace_id = new_id()
    editor_id = new_id()
    await conn.execute(
        "INSERT INTO users (id, email, display_name) VALUES ($1, 'editor@bench.test', 'Editor')",
        editor_id,
    )
    await conn.execute(
        "INSERT INTO workspaces (id, name, slug, created_by) VALUES ($1, 'Bench', 'bench', $2)",
        workspace_id,
        editor_id,
    )
    await conn.execute(
        "INSERT INTO memberships (id, workspace_id, user_id, role) VALUES ($1, $2, $3, 'editor')",
        new_id(),
        workspace_id,
        editor_id,
    )
    user_ids: list[uuid.UUID] = []
    tokens: list[str] = []
    for i in range(scale.users):
        user_id = new_id()
        token = "fm_" + secrets.token_urlsafe(32)
        user_ids.append(user_id)
        tokens.append(token)
        await conn.execute(
            "INSERT INTO users (id, email, display_name) VALUES ($1, $2, $3)",
            user_id,
            f"reviewer{i}@bench.test",
            f"Reviewer {i}",
        )
        await conn.execute(
            "INSERT INTO memberships (id, workspace_id, user_id, role) "
            "VALUES ($1, $2, $3, 'reviewer')",
            new_id(),
            workspace_id,
            user_id,
        )
        await conn.execute(
            "INSERT INTO api_tokens (id, name, token_hash, prefix, user_id) "
            "VALUES ($1, 'bench', $2, $3, $4)",
            new_id(),
            hashlib.sha256(token.encode()).digest(),
            token[:10],
            user_id,
        )
    rating_ids: list[uuid.UUID] = []
    for ordinal, (key, label, value) in enumerate(RATINGS):
        rating_id = new_id()
        rating_ids.append(rating_id)
        await conn.execute(
            "INSERT INTO ratings (id, workspace_id, key, label, value, ordinal) "
            "VALUES ($1, $2, $3, $4, $5, $6)",
            rating_id,
            workspace_id,
            key,
            label,
            value,
            ordinal,
        )
    return workspace_id, editor_id, user_ids, tokens, rating_ids


async def _search_terms(
    conn: asyncpg.Connection, maker: TextMaker, words_by_doc: list[set[str]], scale: Scale
) -> tuple[list[tuple[str, int]], tuple[str, int]]:
    """Words found in 0.5 to 3% of the documents (a selective search, as a reader types),
    with their document counts as PostgreSQL's English stemmer sees them; and a common word."""
    df: dict[str, int] = {}
    for words in words_by_doc:
        for word in words:
            df[word] = df.get(word, 0) + 1
    low = max(1, scale.documents // 200)
    high = max(low, scale.documents * 3 // 100)
    candidates = [w for w in maker.words if low <= df.get(w, 0) <= high]
    if not candidates:
        candidates = sorted(df, key=lambda w: df[w])[:20]
    chosen = random.Random(SEED + 1).sample(candidates, min(20, len(candidates)))
    query = (
        "SELECT count(*) FROM documents "
        "WHERE search @@ websearch_to_tsquery('english', $1) AND deleted_at IS NULL"
    )
    terms = [(w, int(await conn.fetchval(query, w))) for w in chosen]
    common_word = maker.words[0]
    common = (common_word, int(await conn.fetchval(query, common_word)))
    return terms, common
