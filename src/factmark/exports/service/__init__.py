"""Reading verified claims for export: filters, the incremental-sync watermark, and the
batched, snapshot-consistent read that every format streams from.

How an export reads
    ``start_export`` runs before the response starts. It fixes the new watermark ``seq``: the
    highest audit event visible then, after waiting for the transactions that had written the
    audit log and were still in flight at that moment, found in PostgreSQL's lock table (so
    every event at or below ``seq`` is committed or gone for good; writes elsewhere on the
    server, or that wrote no audit event, are not waited for).
    ``open_reader`` then opens its own session (the request's session is closed once the
    response starts) in one REPEATABLE READ, READ ONLY transaction and yields claims in batches
    of ``BATCH_SIZE`` in (updated_at, id) order, fetched from one server-side cursor: a single
    query, planned once for a fast start, which returns each record as JSON built by
    PostgreSQL (spans, verdict, evidence, corrections and reviewers through lateral
    subqueries: no N+1). PostgreSQL does the work of one ``COPY`` of the same query, which is
    what the benchmark compares the export with. The next batch is requested while the
    previous one is sent. Memory stays flat and the first batch leaves before the last is read.

    Why PostgreSQL builds the JSON: measured with ``python -m bench.export_throughput``, the
    alternative (plain rows, then msgspec Structs in Python) was no faster end to end, and
    spent about six times more CPU in the API process, whose one event loop also serves every
    other request. JSON and NDJSON pass the bytes through untouched; the others
    decode them into ``schemas.ClaimRecord`` (which also checks the query against the schema).

Incremental sync
    Every change to a claim, its spans, verdicts, evidence and corrections, its document, the
    workspace's rating scale or settings, or a reviewer's display name writes an audit event
    (database triggers, in the same transaction). An export given ``since`` (the watermark of an
    earlier one, with the same filters) returns the claims touched by events after that
    watermark: a record for each claim still in the filtered set, a tombstone for the others.
    A change of the rating scale or of the workspace settings touches every claim, and so does
    a very long list of changes: then the export sends every matching claim and a tombstone for
    every other claim of the workspace (and for claims purged since).
"""

from factmark.exports.service.reader import (
    BATCH_SIZE,
    BATCHES_READ,
    CHANGED_LIMIT,
    ITEMS_READ,
    ExportReader,
    ExportRow,
    WorkspaceInfo,
    open_reader,
)
from factmark.exports.service.start import (
    CLAIM_STATUSES,
    IN_FLIGHT_WAIT_SECONDS,
    ExportFilters,
    ExportStart,
    decode_watermark,
    encode_watermark,
    latest_signed_checkpoint,
    publishes_claim_reviews,
    start_export,
)

__all__ = [
    "BATCHES_READ",
    "BATCH_SIZE",
    "CHANGED_LIMIT",
    "CLAIM_STATUSES",
    "IN_FLIGHT_WAIT_SECONDS",
    "ITEMS_READ",
    "ExportFilters",
    "ExportReader",
    "ExportRow",
    "ExportStart",
    "WorkspaceInfo",
    "decode_watermark",
    "encode_watermark",
    "latest_signed_checkpoint",
    "open_reader",
    "publishes_claim_reviews",
    "start_export",
]
