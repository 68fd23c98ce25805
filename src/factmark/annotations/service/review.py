"""The review screen's read: a document's claims with their spans, current verdict, corrections
and counts, rendered by PostgreSQL as the JSON body of ``schemas.DocumentAnnotations``.

One statement whatever the number of claims. PostgreSQL writes the body byte for byte as msgspec
would encode the Structs (see ``sql_json``), and the API sends it as it comes: hydrating the
~600 rows of 200 claims into ORM objects and Structs and encoding them cost the API process
about 20 times the CPU (bench/README.md, workload 2). Each object below lists the fields of its
Struct in their order; the tests decode the body into the Structs and encode it back to the same
bytes, and compare every claim with what ``GET /claims/{id}`` sends.
"""

# ruff: noqa: S608 - SQL text from this module's constants; the values are bound parameters

from __future__ import annotations

import uuid

from sqlalchemy import TextClause, bindparam, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import UUID as PG_UUID
from sqlalchemy.ext.asyncio import AsyncSession

from factmark.accounts.service import Actor
from factmark.annotations.service import sql_json as j
from factmark.annotations.spans import OffsetUnit
from factmark.errors import NotFound


def _resource(alias: str) -> list[tuple[str, str]]:
    return [
        ("id", j.uuid(f"{alias}.id")),
        ("createdAt", j.timestamp(f"{alias}.created_at")),
        ("updatedAt", j.timestamp(f"{alias}.updated_at")),
        ("version", j.integer(f"{alias}.version")),
    ]


# schemas.Verdict, for the claim's approved verdict (v) and its rating (r).
_VERDICT = j.obj(
    [
        *_resource("v"),
        ("workspaceId", j.uuid("v.workspace_id")),
        ("documentId", j.uuid("v.document_id")),
        ("claimId", j.uuid("v.claim_id")),
        (
            "rating",
            j.obj(
                [
                    ("id", j.uuid("r.id")),
                    ("key", j.string("r.key")),
                    ("label", j.string("r.label")),
                    ("value", j.decimal("r.value")),
                ]
            ),
        ),
        ("summary", j.string("v.summary")),
        ("confidence", j.double("v.confidence")),
        ("state", j.string("v.state")),
        ("approvedBy", j.uuid("v.approved_by")),
        ("approvedAt", j.timestamp("v.approved_at")),
        ("supersededAt", j.timestamp("v.superseded_at")),
        ("createdBy", j.uuid("v.created_by")),
    ]
)

# schemas.Correction (k).
_CORRECTION = j.obj(
    [
        *_resource("k"),
        ("workspaceId", j.uuid("k.workspace_id")),
        ("claimId", j.uuid("k.claim_id")),
        ("note", j.string("k.note")),
        ("previousVerdictId", j.uuid("k.previous_verdict_id")),
        ("newVerdictId", j.uuid("k.new_verdict_id")),
        ("previousRating", j.string("k.previous_rating_key")),
        ("newRating", j.string("k.new_rating_key")),
        ("createdBy", j.uuid("k.created_by")),
    ]
)

_CLAIMANT = j.obj(
    [
        ("name", j.string("c.claimant_name")),
        ("role", j.string("c.claimant_role")),
        ("organisation", j.string("c.claimant_organisation")),
    ]
)


def _count(table: str) -> str:
    return j.integer(
        f"(SELECT count(*) FROM {table} x WHERE x.claim_id = c.id AND x.deleted_at IS NULL)"
    )


def _claim(unit: OffsetUnit) -> str:
    """schemas.AnnotatedClaim (c): the fields of Claim (without ``verdicts`` and ``evidence``,
    which only as-of reads fill and msgspec leaves out when unset), then counts."""
    start, end = (
        ("start_utf16", "end_utf16") if unit is OffsetUnit.UTF16 else ("start_offset", "end_offset")
    )
    span = j.obj(
        [
            ("start", j.integer(f"s.{start}")),
            ("end", j.integer(f"s.{end}")),
            ("exact", j.string("s.exact")),
            ("prefix", j.string("s.prefix")),
            ("suffix", j.string("s.suffix")),
        ]
    )
    return j.obj(
        [
            *_resource("c"),
            ("workspaceId", j.uuid("c.workspace_id")),
            ("documentId", j.uuid("c.document_id")),
            ("statement", j.string("c.statement")),
            ("claimant", j.nullable("c.claimant_name <> ''", _CLAIMANT)),
            ("claimedAt", j.timestamp("c.claimed_at")),
            ("tags", j.string_array("c.tags")),
            ("checkworthiness", j.string("nullif(c.checkworthiness, '')")),
            ("assigneeId", j.uuid("c.assignee_id")),
            ("status", j.string("c.status")),
            ("offsetUnit", j.literal(unit.value)),
            ("spans", j.array(span, "FROM claim_spans s WHERE s.claim_id = c.id", "s.ordinal")),
            ("currentVerdict", j.nullable("r.id IS NOT NULL", _VERDICT)),
            ("verifiedAt", j.timestamp("c.verified_at")),
            (
                "corrections",
                j.array(
                    _CORRECTION,
                    "FROM corrections k WHERE k.claim_id = c.id",
                    "k.created_at, k.id",
                ),
            ),
            ("createdBy", j.uuid("c.created_by")),
            (
                "counts",
                j.obj(
                    [
                        ("verdicts", _count("verdicts")),
                        ("evidence", _count("evidence")),
                        ("comments", _count("comments")),
                    ]
                ),
            ),
        ]
    )


def _statement(unit: OffsetUnit) -> TextClause:
    """schemas.DocumentAnnotations of a document the caller may see (else no row): its claims
    that are not deleted, by position (first span, then id); counts leave deleted rows out."""
    length = "d.length_utf16" if unit is OffsetUnit.UTF16 else "d.length_codepoints"
    claims = j.array(
        _claim(unit),
        "FROM claims c LEFT JOIN verdicts v ON v.id = c.approved_verdict_id "
        "LEFT JOIN ratings r ON r.id = v.rating_id "
        "WHERE c.document_id = d.id AND c.deleted_at IS NULL",
        "c.first_offset, c.id",
    )
    body = j.obj(
        [
            ("documentId", j.uuid("d.id")),
            ("documentVersion", j.integer("d.version")),
            ("length", j.integer(length)),
            ("offsetUnit", j.literal(unit.value)),
            ("claims", claims),
        ]
    )
    sql = (
        f"SELECT convert_to({j.pin_float_output(body)}, 'UTF8') FROM documents d "
        "WHERE d.id = :document_id AND d.workspace_id = ANY(:workspace_ids) "
        "AND d.deleted_at IS NULL"
    )
    return text(sql).bindparams(
        bindparam("document_id", type_=PG_UUID(as_uuid=True)),
        bindparam("workspace_ids", type_=ARRAY(PG_UUID(as_uuid=True))),
    )


_STATEMENTS = {unit: _statement(unit) for unit in OffsetUnit}


async def review_screen(
    session: AsyncSession, actor: Actor, document_id: uuid.UUID, unit: OffsetUnit
) -> bytes:
    """The JSON body of the review screen of a document in one of the caller's workspaces
    (viewers included); 404 for a deleted document or one the caller may not see."""
    body: bytes | None = await session.scalar(
        _STATEMENTS[unit],
        {"document_id": document_id, "workspace_ids": actor.workspace_ids},
    )
    if body is None:
        raise NotFound("Document not found.")
    return body
