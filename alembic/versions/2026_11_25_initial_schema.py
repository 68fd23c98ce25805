"""Initial schema: accounts, documents, annotations, the audit log and its triggers.

Revision ID: 0001_initial
Revises:
Create Date: 2026-11-25 16:01:40.703702
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from factmark.audit.models import Xid8

revision: str = "0001_initial"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS btree_gist")
    op.create_table(
        "audit_checkpoints",
        sa.Column("position", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("head_hash", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("public_key", sa.LargeBinary(), nullable=False),
        sa.Column("signature", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("position", name=op.f("pk_audit_checkpoints")),
    )
    op.create_table(
        "audit_events",
        sa.Column("seq", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column(
            "occurred_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("clock_timestamp()"),
            nullable=False,
        ),
        sa.Column("txid", Xid8(), server_default=sa.text("pg_current_xact_id()"), nullable=False),
        sa.Column("actor_id", sa.String(length=80), nullable=True),
        sa.Column("actor_kind", sa.String(length=16), nullable=False),
        sa.Column("actor_name", sa.String(length=320), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("entity_type", sa.String(length=32), nullable=False),
        sa.Column("entity_id", sa.UUID(), nullable=False),
        sa.Column("workspace_id", sa.UUID(), nullable=True),
        sa.Column("document_id", sa.UUID(), nullable=True),
        sa.Column("claim_id", sa.UUID(), nullable=True),
        sa.Column("before", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("after", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("changed_fields", postgresql.ARRAY(sa.Text()), nullable=True),
        sa.Column("request_id", sa.String(length=128), nullable=True),
        sa.Column("idempotency_key", sa.String(length=255), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_audit_events")),
    )
    op.create_index(
        op.f("ix_audit_events_claim_id_seq"), "audit_events", ["claim_id", "seq"], unique=False
    )
    op.create_index(
        op.f("ix_audit_events_document_id_seq"),
        "audit_events",
        ["document_id", "seq"],
        unique=False,
    )
    op.create_index(
        op.f("ix_audit_events_entity_type_entity_id_seq"),
        "audit_events",
        ["entity_type", "entity_id", "seq"],
        unique=False,
    )
    op.create_index(
        op.f("ix_audit_events_workspace_id_seq"),
        "audit_events",
        ["workspace_id", "seq"],
        unique=False,
    )
    op.create_table(
        "audit_seals",
        sa.Column("position", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("hash", sa.LargeBinary(), nullable=False),
        sa.Column(
            "sealed_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.PrimaryKeyConstraint("position", name=op.f("pk_audit_seals")),
        sa.UniqueConstraint("seq", name=op.f("uq_audit_seals_seq")),
    )
    op.create_table(
        "idempotency_records",
        sa.Column("actor_key", sa.String(length=80), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("request_hash", sa.LargeBinary(), nullable=False),
        sa.Column("method", sa.String(length=10), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("response_body", sa.LargeBinary(), nullable=True),
        sa.Column("response_headers", sa.Text(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("actor_key", "key", name=op.f("pk_idempotency_records")),
    )
    op.create_table(
        "rate_limit_windows",
        sa.Column("key", sa.String(length=300), nullable=False),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("hits", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("key", "window_start", name=op.f("pk_rate_limit_windows")),
    )
    op.create_table(
        "users",
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("display_name", sa.String(length=200), nullable=False),
        sa.Column("password_hash", sa.Text(), nullable=True),
        sa.Column("is_active", sa.Boolean(), server_default="true", nullable=False),
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("version", sa.Integer(), server_default="1", nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("email", name=op.f("uq_users_email")),
    )
    op.create_table(
        "workspaces",
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("slug", sa.String(length=64), nullable=False),
        sa.Column(
            "settings", postgresql.JSONB(astext_type=sa.Text()), server_default="{}", nullable=False
        ),
        sa.Column("created_by", sa.UUID(), nullable=True),
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("version", sa.Integer(), server_default="1", nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workspaces")),
        sa.UniqueConstraint("slug", name=op.f("uq_workspaces_slug")),
    )
    op.create_table(
        "api_tokens",
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("token_hash", sa.LargeBinary(), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=True),
        sa.Column("workspace_id", sa.UUID(), nullable=True),
        sa.Column("role", sa.String(length=16), nullable=True),
        sa.Column("created_by", sa.UUID(), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("version", sa.Integer(), server_default="1", nullable=False),
        sa.CheckConstraint(
            "role IS NULL OR role IN ('viewer', 'reviewer', 'editor', 'admin')",
            name=op.f("ck_api_tokens_role"),
        ),
        sa.CheckConstraint(
            "(user_id IS NOT NULL AND workspace_id IS NULL AND role IS NULL) OR (user_id IS NULL AND workspace_id IS NOT NULL AND role IS NOT NULL)",
            name=op.f("ck_api_tokens_owner"),
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_api_tokens_user_id_users"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_api_tokens_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_api_tokens_token_hash")),
    )
    op.create_index(op.f("ix_api_tokens_user_id"), "api_tokens", ["user_id"], unique=False)
    op.create_index(
        op.f("ix_api_tokens_workspace_id"), "api_tokens", ["workspace_id"], unique=False
    )
    op.create_table(
        "documents",
        sa.Column("workspace_id", sa.UUID(), nullable=False),
        sa.Column("title", sa.String(length=1000), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("text_sha256", sa.String(length=64), nullable=False),
        sa.Column("length_codepoints", sa.Integer(), nullable=False),
        sa.Column("length_utf16", sa.Integer(), nullable=False),
        sa.Column("source_url", sa.String(length=2048), nullable=True),
        sa.Column("publisher", sa.String(length=500), nullable=True),
        sa.Column("author", sa.String(length=500), nullable=True),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("language", sa.String(length=35), nullable=True),
        sa.Column(
            "tags",
            postgresql.ARRAY(sa.String(length=100)),
            server_default=sa.text("'{}'::varchar[]"),
            nullable=False,
        ),
        sa.Column(
            "metadata", postgresql.JSONB(astext_type=sa.Text()), server_default="{}", nullable=False
        ),
        sa.Column("created_by", sa.UUID(), nullable=True),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "search",
            postgresql.TSVECTOR(),
            sa.Computed(
                "setweight(to_tsvector('english'::regconfig, coalesce(title, '')), 'A') || setweight(to_tsvector('english'::regconfig, left(text, 100000)), 'B')",
                persisted=True,
            ),
            nullable=True,
        ),
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("version", sa.Integer(), server_default="1", nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_documents_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_documents")),
    )
    op.create_index(
        "ix_documents_search", "documents", ["search"], unique=False, postgresql_using="gin"
    )
    op.create_index(
        "ix_documents_tags", "documents", ["tags"], unique=False, postgresql_using="gin"
    )
    op.create_index(
        op.f("ix_documents_workspace_id_created_at_id"),
        "documents",
        ["workspace_id", "created_at", "id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_documents_workspace_id_source_url"),
        "documents",
        ["workspace_id", "source_url"],
        unique=False,
    )
    op.create_index(
        op.f("ix_documents_workspace_id_text_sha256"),
        "documents",
        ["workspace_id", "text_sha256"],
        unique=False,
    )
    op.create_table(
        "memberships",
        sa.Column("workspace_id", sa.UUID(), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("version", sa.Integer(), server_default="1", nullable=False),
        sa.CheckConstraint(
            "role IN ('viewer', 'reviewer', 'editor', 'admin')", name=op.f("ck_memberships_role")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_memberships_user_id_users"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_memberships_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_memberships")),
        sa.UniqueConstraint(
            "workspace_id", "user_id", name=op.f("uq_memberships_workspace_id_user_id")
        ),
    )
    op.create_index(op.f("ix_memberships_user_id"), "memberships", ["user_id"], unique=False)
    op.create_table(
        "ratings",
        sa.Column("workspace_id", sa.UUID(), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("label", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), server_default="", nullable=False),
        sa.Column("value", sa.Numeric(precision=10, scale=4), nullable=True),
        sa.Column("ordinal", sa.Integer(), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("version", sa.Integer(), server_default="1", nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_ratings_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ratings")),
        sa.UniqueConstraint("workspace_id", "key", name=op.f("uq_ratings_workspace_id_key")),
    )
    op.create_table(
        "claims",
        sa.Column("workspace_id", sa.UUID(), nullable=False),
        sa.Column("document_id", sa.UUID(), nullable=False),
        sa.Column("statement", sa.Text(), nullable=False),
        sa.Column("claimant_name", sa.String(length=500), nullable=True),
        sa.Column("claimant_role", sa.String(length=500), nullable=True),
        sa.Column("claimant_organisation", sa.String(length=500), nullable=True),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "tags",
            postgresql.ARRAY(sa.String(length=100)),
            server_default=sa.text("'{}'::varchar[]"),
            nullable=False,
        ),
        sa.Column("checkworthiness", sa.String(length=16), nullable=True),
        sa.Column("assignee_id", sa.UUID(), nullable=True),
        sa.Column("status", sa.String(length=16), server_default="open", nullable=False),
        sa.Column("approved_verdict_id", sa.UUID(), nullable=True),
        sa.Column("verified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("first_offset", sa.Integer(), server_default="0", nullable=False),
        sa.Column("created_by", sa.UUID(), nullable=True),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "search",
            postgresql.TSVECTOR(),
            sa.Computed(
                "setweight(to_tsvector('english'::regconfig, coalesce(statement, '')), 'A') || setweight(to_tsvector('english'::regconfig, coalesce(claimant_name, '')), 'B')",
                persisted=True,
            ),
            nullable=True,
        ),
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("version", sa.Integer(), server_default="1", nullable=False),
        sa.CheckConstraint(
            "checkworthiness IS NULL OR checkworthiness IN ('low', 'medium', 'high')",
            name=op.f("ck_claims_checkworthiness"),
        ),
        sa.CheckConstraint(
            "status IN ('open', 'in_review', 'verified', 'dismissed')",
            name=op.f("ck_claims_status"),
        ),
        sa.ForeignKeyConstraint(
            ["assignee_id"],
            ["users.id"],
            name=op.f("fk_claims_assignee_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["document_id"],
            ["documents.id"],
            name=op.f("fk_claims_document_id_documents"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_claims_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_claims")),
    )
    op.create_index(op.f("ix_claims_document_id"), "claims", ["document_id"], unique=False)
    op.create_index("ix_claims_search", "claims", ["search"], unique=False, postgresql_using="gin")
    op.create_index("ix_claims_tags", "claims", ["tags"], unique=False, postgresql_using="gin")
    op.create_index(
        op.f("ix_claims_workspace_id_status_verified_at_id"),
        "claims",
        ["workspace_id", "status", "verified_at", "id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_claims_workspace_id_updated_at_id"),
        "claims",
        ["workspace_id", "updated_at", "id"],
        unique=False,
    )
    op.create_table(
        "claim_spans",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("workspace_id", sa.UUID(), nullable=False),
        sa.Column("claim_id", sa.UUID(), nullable=False),
        sa.Column("document_id", sa.UUID(), nullable=False),
        sa.Column("ordinal", sa.Integer(), nullable=False),
        sa.Column("start_offset", sa.Integer(), nullable=False),
        sa.Column("end_offset", sa.Integer(), nullable=False),
        sa.Column("start_utf16", sa.Integer(), nullable=False),
        sa.Column("end_utf16", sa.Integer(), nullable=False),
        sa.Column("exact", sa.Text(), nullable=False),
        sa.Column("prefix", sa.Text(), nullable=False),
        sa.Column("suffix", sa.Text(), nullable=False),
        sa.Column(
            "range",
            postgresql.INT4RANGE(),
            sa.Computed("int4range(start_offset, end_offset)", persisted=True),
            nullable=False,
        ),
        sa.CheckConstraint(
            "start_offset >= 0 AND end_offset > start_offset", name=op.f("ck_claim_spans_bounds")
        ),
        sa.ForeignKeyConstraint(
            ["claim_id"],
            ["claims.id"],
            name=op.f("fk_claim_spans_claim_id_claims"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["document_id"],
            ["documents.id"],
            name=op.f("fk_claim_spans_document_id_documents"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_claim_spans_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_claim_spans")),
        sa.UniqueConstraint("claim_id", "ordinal", name=op.f("uq_claim_spans_claim_id_ordinal")),
    )
    op.create_index(
        "ix_claim_spans_document_range",
        "claim_spans",
        ["document_id", "range"],
        unique=False,
        postgresql_using="gist",
    )
    op.create_table(
        "comments",
        sa.Column("workspace_id", sa.UUID(), nullable=False),
        sa.Column("claim_id", sa.UUID(), nullable=False),
        sa.Column("document_id", sa.UUID(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_by", sa.UUID(), nullable=True),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("version", sa.Integer(), server_default="1", nullable=False),
        sa.ForeignKeyConstraint(
            ["claim_id"],
            ["claims.id"],
            name=op.f("fk_comments_claim_id_claims"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["document_id"],
            ["documents.id"],
            name=op.f("fk_comments_document_id_documents"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_comments_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_comments")),
    )
    op.create_index(
        op.f("ix_comments_claim_id_created_at_id"),
        "comments",
        ["claim_id", "created_at", "id"],
        unique=False,
    )
    op.create_table(
        "corrections",
        sa.Column("workspace_id", sa.UUID(), nullable=False),
        sa.Column("claim_id", sa.UUID(), nullable=False),
        sa.Column("document_id", sa.UUID(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("previous_verdict_id", sa.UUID(), nullable=False),
        sa.Column("new_verdict_id", sa.UUID(), nullable=False),
        sa.Column("previous_rating_key", sa.String(length=64), nullable=False),
        sa.Column("new_rating_key", sa.String(length=64), nullable=False),
        sa.Column("created_by", sa.UUID(), nullable=True),
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("version", sa.Integer(), server_default="1", nullable=False),
        sa.ForeignKeyConstraint(
            ["claim_id"],
            ["claims.id"],
            name=op.f("fk_corrections_claim_id_claims"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["document_id"],
            ["documents.id"],
            name=op.f("fk_corrections_document_id_documents"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_corrections_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_corrections")),
    )
    op.create_index(op.f("ix_corrections_claim_id"), "corrections", ["claim_id"], unique=False)
    op.create_table(
        "evidence",
        sa.Column("workspace_id", sa.UUID(), nullable=False),
        sa.Column("claim_id", sa.UUID(), nullable=False),
        sa.Column("document_id", sa.UUID(), nullable=False),
        sa.Column("stance", sa.String(length=16), nullable=False),
        sa.Column("source_url", sa.String(length=2048), nullable=True),
        sa.Column("title", sa.String(length=1000), nullable=True),
        sa.Column("publisher", sa.String(length=500), nullable=True),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("accessed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("archive_url", sa.String(length=2048), nullable=True),
        sa.Column("quote", sa.Text(), nullable=True),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("source_document_id", sa.UUID(), nullable=True),
        sa.Column("source_start", sa.Integer(), nullable=True),
        sa.Column("source_end", sa.Integer(), nullable=True),
        sa.Column("source_start_utf16", sa.Integer(), nullable=True),
        sa.Column("source_end_utf16", sa.Integer(), nullable=True),
        sa.Column("source_exact", sa.Text(), nullable=True),
        sa.Column("source_prefix", sa.Text(), nullable=True),
        sa.Column("source_suffix", sa.Text(), nullable=True),
        sa.Column("created_by", sa.UUID(), nullable=True),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("version", sa.Integer(), server_default="1", nullable=False),
        sa.CheckConstraint(
            "stance IN ('supports', 'refutes', 'context')", name=op.f("ck_evidence_stance")
        ),
        sa.CheckConstraint(
            "source_url IS NOT NULL OR source_document_id IS NOT NULL",
            name=op.f("ck_evidence_source"),
        ),
        sa.ForeignKeyConstraint(
            ["claim_id"],
            ["claims.id"],
            name=op.f("fk_evidence_claim_id_claims"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["document_id"],
            ["documents.id"],
            name=op.f("fk_evidence_document_id_documents"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["source_document_id"],
            ["documents.id"],
            name=op.f("fk_evidence_source_document_id_documents"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_evidence_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_evidence")),
    )
    op.create_index(op.f("ix_evidence_claim_id"), "evidence", ["claim_id"], unique=False)
    op.create_index(op.f("ix_evidence_document_id"), "evidence", ["document_id"], unique=False)
    op.create_table(
        "verdicts",
        sa.Column("workspace_id", sa.UUID(), nullable=False),
        sa.Column("claim_id", sa.UUID(), nullable=False),
        sa.Column("document_id", sa.UUID(), nullable=False),
        sa.Column("rating_id", sa.UUID(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("confidence", sa.Float(), nullable=True),
        sa.Column("state", sa.String(length=16), server_default="submitted", nullable=False),
        sa.Column("approved_by", sa.UUID(), nullable=True),
        sa.Column("approved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("superseded_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_by", sa.UUID(), nullable=True),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("version", sa.Integer(), server_default="1", nullable=False),
        sa.CheckConstraint(
            "state IN ('submitted', 'approved', 'superseded', 'rejected')",
            name=op.f("ck_verdicts_state"),
        ),
        sa.CheckConstraint(
            "confidence IS NULL OR (confidence >= 0 AND confidence <= 1)",
            name=op.f("ck_verdicts_conf"),
        ),
        sa.ForeignKeyConstraint(
            ["claim_id"],
            ["claims.id"],
            name=op.f("fk_verdicts_claim_id_claims"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["document_id"],
            ["documents.id"],
            name=op.f("fk_verdicts_document_id_documents"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["rating_id"], ["ratings.id"], name=op.f("fk_verdicts_rating_id_ratings")
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_verdicts_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_verdicts")),
    )
    op.create_index(op.f("ix_verdicts_claim_id"), "verdicts", ["claim_id"], unique=False)
    op.create_index(op.f("ix_verdicts_document_id"), "verdicts", ["document_id"], unique=False)
    _create_audit_machinery()
    _grant_app_role()


def downgrade() -> None:
    _drop_audit_machinery()
    op.drop_index(op.f("ix_verdicts_document_id"), table_name="verdicts")
    op.drop_index(op.f("ix_verdicts_claim_id"), table_name="verdicts")
    op.drop_table("verdicts")
    op.drop_index(op.f("ix_evidence_document_id"), table_name="evidence")
    op.drop_index(op.f("ix_evidence_claim_id"), table_name="evidence")
    op.drop_table("evidence")
    op.drop_index(op.f("ix_corrections_claim_id"), table_name="corrections")
    op.drop_table("corrections")
    op.drop_index(op.f("ix_comments_claim_id_created_at_id"), table_name="comments")
    op.drop_table("comments")
    op.drop_index(
        "ix_claim_spans_document_range", table_name="claim_spans", postgresql_using="gist"
    )
    op.drop_table("claim_spans")
    op.drop_index(op.f("ix_claims_workspace_id_updated_at_id"), table_name="claims")
    op.drop_index(op.f("ix_claims_workspace_id_status_verified_at_id"), table_name="claims")
    op.drop_index("ix_claims_tags", table_name="claims", postgresql_using="gin")
    op.drop_index("ix_claims_search", table_name="claims", postgresql_using="gin")
    op.drop_index(op.f("ix_claims_document_id"), table_name="claims")
    op.drop_table("claims")
    op.drop_table("ratings")
    op.drop_index(op.f("ix_memberships_user_id"), table_name="memberships")
    op.drop_table("memberships")
    op.drop_index(op.f("ix_documents_workspace_id_text_sha256"), table_name="documents")
    op.drop_index(op.f("ix_documents_workspace_id_source_url"), table_name="documents")
    op.drop_index(op.f("ix_documents_workspace_id_created_at_id"), table_name="documents")
    op.drop_index("ix_documents_tags", table_name="documents", postgresql_using="gin")
    op.drop_index("ix_documents_search", table_name="documents", postgresql_using="gin")
    op.drop_table("documents")
    op.drop_index(op.f("ix_api_tokens_workspace_id"), table_name="api_tokens")
    op.drop_index(op.f("ix_api_tokens_user_id"), table_name="api_tokens")
    op.drop_table("api_tokens")
    op.drop_table("workspaces")
    op.drop_table("users")
    op.drop_table("rate_limit_windows")
    op.drop_table("idempotency_records")
    op.drop_table("audit_seals")
    op.drop_index(op.f("ix_audit_events_workspace_id_seq"), table_name="audit_events")
    op.drop_index(op.f("ix_audit_events_entity_type_entity_id_seq"), table_name="audit_events")
    op.drop_index(op.f("ix_audit_events_document_id_seq"), table_name="audit_events")
    op.drop_index(op.f("ix_audit_events_claim_id_seq"), table_name="audit_events")
    op.drop_table("audit_events")
    op.drop_table("audit_checkpoints")


# Tables whose every row change is recorded, with the entity name and the columns never copied
# into the log (secrets, and generated columns that only repeat other columns).
AUDITED_TABLES: dict[str, tuple[str, ...]] = {
    "users": ("user", "password_hash"),
    "workspaces": ("workspace",),
    "memberships": ("membership",),
    "api_tokens": ("token", "token_hash"),
    "documents": ("document", "search"),
    "claims": ("claim", "search"),
    "claim_spans": ("claim_span", "range"),
    "ratings": ("rating",),
    "verdicts": ("verdict",),
    "corrections": ("correction",),
    "evidence": ("evidence",),
    "comments": ("comment",),
}

APP_TABLES = (*AUDITED_TABLES, "idempotency_records", "rate_limit_windows")

AUDIT_ROW_FUNCTION = r"""
CREATE FUNCTION factmark_audit_row() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $fn$
DECLARE
    entity text := TG_ARGV[0];
    excluded text[] := CASE WHEN TG_NARGS > 1 THEN TG_ARGV[1:TG_NARGS - 1] ELSE '{}'::text[] END;
    old_row jsonb;
    new_row jsonb;
    row_data jsonb;
    before_data jsonb;
    changed text[];
    raw_actor text;
    actor jsonb;
    overrides jsonb;
    act text;
    ent_id uuid;
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        old_row := to_jsonb(OLD) - excluded;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        new_row := to_jsonb(NEW) - excluded;
    END IF;
    IF TG_OP = 'UPDATE' THEN
        SELECT array_agg(n.key ORDER BY n.key) INTO changed
          FROM jsonb_each(new_row) AS n
         WHERE n.value IS DISTINCT FROM old_row -> n.key;
        -- Bookkeeping alone (a token's last use) is not a change worth a record.
        IF changed IS NULL OR changed <@ ARRAY['last_used_at', 'updated_at'] THEN
            RETURN NULL;
        END IF;
        SELECT jsonb_object_agg(o.key, o.value) INTO before_data
          FROM jsonb_each(old_row) AS o
         WHERE o.key = ANY (changed);
    ELSIF TG_OP = 'INSERT' THEN
        SELECT array_agg(k ORDER BY k) INTO changed FROM jsonb_object_keys(new_row) AS k;
    ELSE
        before_data := old_row;
    END IF;

    raw_actor := current_setting('factmark.actor', true);
    IF raw_actor IS NULL OR raw_actor = '' THEN
        RAISE EXCEPTION 'factmark: % on % without an actor (set factmark.actor)', TG_OP, TG_TABLE_NAME
            USING ERRCODE = 'FMA01';
    END IF;
    actor := raw_actor::jsonb;
    row_data := coalesce(new_row, old_row);
    ent_id := (row_data ->> 'id')::uuid;

    act := CASE TG_OP WHEN 'INSERT' THEN 'create' WHEN 'DELETE' THEN 'purge' ELSE 'update' END;
    IF TG_OP = 'UPDATE' AND 'deleted_at' = ANY (changed) THEN
        act := CASE WHEN new_row ->> 'deleted_at' IS NULL THEN 'restore' ELSE 'delete' END;
    END IF;
    overrides := nullif(current_setting('factmark.actions', true), '')::jsonb;
    IF overrides IS NOT NULL AND overrides ? (ent_id::text) THEN
        act := overrides ->> (ent_id::text);
    END IF;

    INSERT INTO audit_events (
        actor_id, actor_kind, actor_name, action, entity_type, entity_id,
        workspace_id, document_id, claim_id, before, after, changed_fields,
        request_id, idempotency_key, reason
    ) VALUES (
        actor ->> 'id',
        coalesce(actor ->> 'kind', 'user'),
        coalesce(actor ->> 'name', actor ->> 'id', 'unknown'),
        act,
        entity,
        ent_id,
        CASE WHEN entity = 'workspace' THEN ent_id ELSE (row_data ->> 'workspace_id')::uuid END,
        CASE WHEN entity = 'document' THEN ent_id ELSE (row_data ->> 'document_id')::uuid END,
        CASE WHEN entity = 'claim' THEN ent_id ELSE (row_data ->> 'claim_id')::uuid END,
        before_data,
        new_row,
        changed,
        actor ->> 'requestId',
        actor ->> 'idempotencyKey',
        coalesce(nullif(current_setting('factmark.reason', true), ''), actor ->> 'reason')
    );
    RETURN NULL;
END
$fn$
"""

REFUSE_FUNCTION = r"""
CREATE FUNCTION factmark_refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $fn$
BEGIN
    RAISE EXCEPTION 'factmark: % on % is not allowed: %', TG_OP, TG_TABLE_NAME, TG_ARGV[0]
        USING ERRCODE = 'FMA02';
END
$fn$
"""


def _create_audit_machinery() -> None:
    op.execute(AUDIT_ROW_FUNCTION)
    op.execute(REFUSE_FUNCTION)
    for table, (entity, *excluded) in AUDITED_TABLES.items():
        args = ", ".join(f"'{a}'" for a in (entity, *excluded))
        op.execute(
            f"CREATE TRIGGER audit_row AFTER INSERT OR UPDATE OR DELETE ON {table} "
            f"FOR EACH ROW EXECUTE FUNCTION factmark_audit_row({args})"
        )
        op.execute(f"ALTER TABLE {table} ENABLE ALWAYS TRIGGER audit_row")
        op.execute(
            f"CREATE TRIGGER refuse_truncate BEFORE TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION "
            "factmark_refuse_change('truncate would bypass the audit log')"
        )
        op.execute(f"ALTER TABLE {table} ENABLE ALWAYS TRIGGER refuse_truncate")
    for table in ("audit_events", "audit_seals", "audit_checkpoints"):
        op.execute(
            f"CREATE TRIGGER append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION factmark_refuse_change('the audit log is append-only')"
        )
        op.execute(f"ALTER TABLE {table} ENABLE ALWAYS TRIGGER append_only")
        op.execute(
            f"CREATE TRIGGER append_only_truncate BEFORE TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION "
            "factmark_refuse_change('the audit log is append-only')"
        )
        op.execute(f"ALTER TABLE {table} ENABLE ALWAYS TRIGGER append_only_truncate")


def _drop_audit_machinery() -> None:
    for table in AUDITED_TABLES:
        op.execute(f"DROP TRIGGER IF EXISTS audit_row ON {table}")
        op.execute(f"DROP TRIGGER IF EXISTS refuse_truncate ON {table}")
    for table in ("audit_events", "audit_seals", "audit_checkpoints"):
        op.execute(f"DROP TRIGGER IF EXISTS append_only ON {table}")
        op.execute(f"DROP TRIGGER IF EXISTS append_only_truncate ON {table}")
    op.execute("DROP FUNCTION IF EXISTS factmark_audit_row()")
    op.execute("DROP FUNCTION IF EXISTS factmark_refuse_change()")


def _grant_app_role() -> None:
    """The app role may change domain rows but only read the audit log (triggers write it)."""
    tables = ", ".join(APP_TABLES)
    op.execute(
        f"""
        DO $do$
        BEGIN
            IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'factmark_app') THEN
                BEGIN
                    CREATE ROLE factmark_app NOLOGIN;
                EXCEPTION WHEN insufficient_privilege THEN
                    RAISE NOTICE 'cannot create role factmark_app: create it and re-grant';
                    RETURN;
                END;
            END IF;
            GRANT USAGE ON SCHEMA public TO factmark_app;
            GRANT SELECT, INSERT, UPDATE, DELETE ON {tables} TO factmark_app;
            GRANT SELECT ON audit_events TO factmark_app;
            GRANT SELECT, INSERT ON audit_seals, audit_checkpoints TO factmark_app;
        END
        $do$
        """
    )
