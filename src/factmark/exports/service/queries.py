"""The SQL of the export reader, run through asyncpg directly (see reader.py).

Each record is built as JSON by PostgreSQL (json_build_object and lateral subqueries, one
index lookup per related table and claim) and sent as UTF-8 bytes: measured against assembling
the same records in Python with msgspec, this costs less CPU in total and about six times less
in the API process, whose event loop serves every other request meanwhile."""

# ruff: noqa: S608 - assembled from this module's constants only; every value is a parameter

# $1 workspace, $2 statuses, $3 verified since, $4 updated since, $5 rating ids, $6 tags,
# $7 lower-cased claimant names, $8 document ids. Unset filters are NULL.
MATCHES = """(c.deleted_at IS NULL AND d.deleted_at IS NULL
    AND c.status = ANY($2::text[])
    AND ($3::timestamptz IS NULL OR c.verified_at >= $3::timestamptz)
    AND ($4::timestamptz IS NULL OR c.updated_at >= $4::timestamptz)
    AND ($5::uuid[] IS NULL OR v.rating_id = ANY($5::uuid[]))
    AND ($6::text[] IS NULL OR c.tags::text[] && $6::text[])
    AND ($7::text[] IS NULL OR lower(c.claimant_name) = ANY($7::text[]))
    AND ($8::uuid[] IS NULL OR c.document_id = ANY($8::uuid[])))"""

# RFC 3339 in UTC with microseconds, as the rest of the API writes times.
_TIME = """'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'"""


def _time(column: str) -> str:
    return f"to_char({column} AT TIME ZONE 'UTC', {_TIME})"


# One export record, built by PostgreSQL: exactly the fields of schemas.ClaimRecord.
# $9 the claim URL template (NULL: the API URL under $10), $10 the public base URL,
# $11 and $12 the best and worst values of the workspace's numeric rating scale.
RECORD = f"""json_build_object(
    'id', c.id,
    'permalink', coalesce(replace($9::text, '{{id}}', c.id::text),
                          $10::text || '/api/v1/claims/' || c.id::text),
    'statement', c.statement,
    'status', c.status,
    'claimant', json_build_object('name', c.claimant_name, 'role', c.claimant_role,
                                  'organisation', c.claimant_organisation),
    'claimedAt', {_time("c.claimed_at")},
    'tags', c.tags,
    'spans', coalesce(sp.items, '[]'::json),
    'document', json_build_object('id', d.id, 'title', d.title, 'sourceUrl', d.source_url,
        'publisher', d.publisher, 'author', d.author, 'publishedAt', {_time("d.published_at")}),
    'verdict', CASE WHEN v.id IS NOT NULL THEN json_build_object(
        'id', v.id,
        'rating', json_build_object('key', r.key, 'label', r.label, 'value', trim_scale(r.value),
            'bestRating', trim_scale($11::numeric), 'worstRating', trim_scale($12::numeric)),
        'summary', v.summary,
        'approvedBy', au.display_name,
        'approvedAt', {_time("v.approved_at")},
        'verifiedAt', {_time("c.verified_at")}) END,
    'corrections', coalesce(co.items, '[]'::json),
    'evidence', coalesce(ev.items, '[]'::json),
    'reviewers', coalesce(rv.names, '[]'::json),
    'version', c.version,
    'createdAt', {_time("c.created_at")},
    'updatedAt', {_time("c.updated_at")})"""


def _record_joins(gate: str) -> str:
    """The parts of a record kept in other tables, each read by index for one claim.
    ``gate`` ("" or "m.matches AND ") skips them for claims that only get a tombstone."""
    return f"""
LEFT JOIN ratings r ON r.id = v.rating_id
LEFT JOIN users au ON au.id = v.approved_by
LEFT JOIN LATERAL (
    SELECT json_agg(json_build_object(
        'position', json_build_object('type', 'TextPositionSelector',
                                      'start', x.start_offset, 'end', x.end_offset),
        'quote', json_build_object('type', 'TextQuoteSelector',
                                   'exact', x.exact, 'prefix', x.prefix, 'suffix', x.suffix)
    ) ORDER BY x.ordinal) AS items
    FROM claim_spans x WHERE {gate}x.claim_id = c.id) sp ON true
LEFT JOIN LATERAL (
    SELECT json_agg(json_build_object('date', {_time("k.created_at")}, 'note', k.note,
        'previousRating', json_build_object('key', k.previous_rating_key, 'label', pr.label),
        'newRating', json_build_object('key', k.new_rating_key, 'label', nr.label)
    ) ORDER BY k.created_at, k.id) AS items
    FROM corrections k
    LEFT JOIN ratings pr ON pr.workspace_id = k.workspace_id AND pr.key = k.previous_rating_key
    LEFT JOIN ratings nr ON nr.workspace_id = k.workspace_id AND nr.key = k.new_rating_key
    WHERE {gate}k.claim_id = c.id) co ON true
LEFT JOIN LATERAL (
    SELECT json_agg(json_build_object('stance', e.stance,
        'url', coalesce(e.source_url, sd.source_url), 'title', e.title,
        'publisher', e.publisher, 'quote', e.quote, 'sourceDocumentId', e.source_document_id
    ) ORDER BY e.created_at, e.id) AS items
    FROM evidence e LEFT JOIN documents sd ON sd.id = e.source_document_id
    WHERE {gate}e.claim_id = c.id AND e.deleted_at IS NULL) ev ON true
LEFT JOIN LATERAL (
    SELECT json_agg(n.name ORDER BY lower(n.name), n.name) AS names
    FROM (SELECT DISTINCT u.display_name AS name FROM verdicts w
          JOIN users u ON u.id = w.created_by
          WHERE {gate}w.claim_id = c.id AND w.deleted_at IS NULL) n) rv ON true"""


CLAIM_FROM = """FROM claims c
JOIN documents d ON d.id = c.document_id
LEFT JOIN verdicts v ON v.id = c.approved_verdict_id"""

# The record as the bytes the API sends (UTF-8 JSON, passed through untouched).
RECORD_BYTES = f"convert_to({RECORD}::text, 'UTF8')"


# Where the scan in (updated_at, id) order can start when the claims' own filters select
# few of them (verifiedSince, tags, claimants, documents): the earliest updated_at of the
# claims that pass those filters, found through their own indexes. Without it the cursor
# walks every older claim of the workspace before the first match (a partner's export of
# the claims verified since yesterday read the whole workspace). OFFSET 0 keeps the planner
# from answering min() by that same walk. No such claim: NULL, and nothing matches.
_START = """($3::timestamptz IS NULL AND $6::text[] IS NULL AND $7::text[] IS NULL
    AND $8::uuid[] IS NULL
    OR c.updated_at >= (SELECT min(s.updated_at) FROM (SELECT b.updated_at FROM claims b
        WHERE b.workspace_id = $1 AND b.deleted_at IS NULL AND b.status = ANY($2::text[])
          AND ($3::timestamptz IS NULL OR b.verified_at >= $3::timestamptz)
          AND ($6::text[] IS NULL OR b.tags::text[] && $6::text[])
          AND ($7::text[] IS NULL OR lower(b.claimant_name) = ANY($7::text[]))
          AND ($8::uuid[] IS NULL OR b.document_id = ANY($8::uuid[]))
        OFFSET 0) s))"""


def full_export(columns: str) -> str:
    """The full export in one statement: ``columns`` of the matching claims, in the order the
    export sends them. The reader reads it through a cursor, ``BATCH_SIZE`` rows per FETCH
    (one plan, one index scan, nothing read twice); with ``RECORD`` for columns it is the
    query the benchmark COPYs as the baseline of the same records."""
    return f"""SELECT {columns}
{CLAIM_FROM} {_record_joins("")}
WHERE c.workspace_id = $1 AND {MATCHES}
  AND {_START}
ORDER BY c.updated_at, c.id"""


FULL = full_export(f"c.id, {RECORD_BYTES} AS record")

# The claims of one export that are not full: ``m.matches`` tells a record from a tombstone.
_GATED = f"""SELECT c.id, CASE WHEN m.matches THEN {RECORD_BYTES} END AS record
{CLAIM_FROM} CROSS JOIN LATERAL (SELECT {MATCHES} AS matches) m {_record_joins("m.matches AND ")}"""

# Resending everything: every claim of the workspace, matching (a record) or not (NULL).
ALL = f"""{_GATED}
WHERE c.workspace_id = $1
ORDER BY c.updated_at, c.id"""

# Incremental export: the claims among the changed ids $13.
CHANGED_BATCH = f"""{_GATED}
WHERE c.workspace_id = $1 AND c.id = ANY($13::uuid[])
ORDER BY c.id"""

COUNT = f"SELECT count(*) {CLAIM_FROM} WHERE c.workspace_id = $1 AND {MATCHES}"

WORKSPACE = "SELECT id, slug, name, settings::text AS settings FROM workspaces WHERE id = $1"

RATINGS = """SELECT id, key, label, value, deleted_at FROM ratings WHERE workspace_id = $1"""

# Whatever touches every claim: the rating scale, the workspace's settings.
TOUCHES_ALL = """SELECT EXISTS (SELECT 1 FROM audit_events
WHERE workspace_id = $1 AND seq > $2 AND entity_type IN ('workspace', 'rating'))"""

CHANGED_IDS = """SELECT DISTINCT id FROM (
    SELECT e.claim_id AS id FROM audit_events e
    WHERE e.workspace_id = $1 AND e.seq > $2 AND e.claim_id IS NOT NULL
      AND e.entity_type <> 'comment'
    UNION ALL
    SELECT c.id FROM audit_events e JOIN claims c ON c.document_id = e.entity_id
    WHERE e.workspace_id = $1 AND e.seq > $2 AND e.entity_type = 'document'
    UNION ALL
    SELECT x.claim_id FROM audit_events e JOIN evidence x ON x.source_document_id = e.entity_id
    WHERE e.workspace_id = $1 AND e.seq > $2 AND e.entity_type = 'document'
    UNION ALL
    SELECT w.claim_id FROM audit_events e
    JOIN verdicts w ON w.created_by = e.entity_id OR w.approved_by = e.entity_id
    WHERE e.entity_type = 'user' AND e.seq > $2 AND 'display_name' = ANY(e.changed_fields)
      AND w.workspace_id = $1
) changed ORDER BY id LIMIT $3"""

PURGED_IDS = """SELECT DISTINCT entity_id FROM audit_events
WHERE workspace_id = $1 AND seq > $2 AND entity_type = 'claim' AND action = 'purge'
  AND entity_id > $3 ORDER BY entity_id LIMIT $4"""
