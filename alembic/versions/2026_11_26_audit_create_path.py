"""The audit trigger records a create with a plain INSERT ... VALUES.

Most audit events are creates (a claim and its spans, a verdict, a piece of evidence), and a
create has no diff to compute: the general statement of ``0002_cheaper_audit_trigger`` (three
nested subqueries, a lateral ``jsonb_each`` that finds nothing, an aggregate over it) cost a
create ~95 µs of PostgreSQL time over a write without the trigger, where this path costs ~75
(a loop of 3,000 one-row claim inserts in one transaction, triggers off and on, three rounds).
An update or a delete still goes through the general statement. What a create records is the
same row: the same columns and values, ``changed_fields`` and ``before`` empty, the action
``create`` unless the transaction named another for that row.

Revision ID: 0004_audit_create_path
Revises: 0003_sealer_floor
Create Date: 2026-11-26 00:05:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0004_audit_create_path"
down_revision: str | None = "0003_sealer_floor"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

AUDIT_ROW_FUNCTION = r"""CREATE OR REPLACE FUNCTION factmark_audit_row() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $fn$
DECLARE
    bookkeeping CONSTANT text[] := ARRAY['last_used_at', 'updated_at'];
    new_row jsonb;
    entity uuid;
    actor jsonb;
    overrides jsonb;
BEGIN
    IF coalesce(current_setting('factmark.actor', true), '') = '' THEN
        -- Bookkeeping alone (a token's last use) needs no actor: it is not recorded.
        IF TG_OP = 'UPDATE' AND to_jsonb(NEW) - TG_ARGV[1:] - bookkeeping
                              = to_jsonb(OLD) - TG_ARGV[1:] - bookkeeping THEN
            RETURN NULL;
        END IF;
        RAISE EXCEPTION 'factmark: % on % without an actor (set factmark.actor)', TG_OP, TG_TABLE_NAME
            USING ERRCODE = 'FMA01';
    END IF;
    IF TG_OP = 'INSERT' THEN
        -- A create, most events: nothing to diff, so a plain INSERT ... VALUES of values
        -- taken once is enough, and costs about a fifth less than the general statement.
        new_row := to_jsonb(NEW) - TG_ARGV[1:];
        entity := (new_row ->> 'id')::uuid;
        actor := current_setting('factmark.actor', true)::jsonb;
        overrides := nullif(current_setting('factmark.actions', true), '')::jsonb;
        INSERT INTO audit_events (
            actor_id, actor_kind, actor_name, action, entity_type, entity_id,
            workspace_id, document_id, claim_id, after, request_id, idempotency_key, reason
        ) VALUES (
            actor ->> 'id',
            coalesce(actor ->> 'kind', 'user'),
            coalesce(actor ->> 'name', actor ->> 'id', 'unknown'),
            CASE WHEN overrides ? entity::text THEN overrides ->> entity::text ELSE 'create' END,
            TG_ARGV[0],
            entity,
            CASE WHEN TG_ARGV[0] = 'workspace' THEN entity ELSE (new_row ->> 'workspace_id')::uuid END,
            CASE WHEN TG_ARGV[0] = 'document' THEN entity ELSE (new_row ->> 'document_id')::uuid END,
            CASE WHEN TG_ARGV[0] = 'claim' THEN entity ELSE (new_row ->> 'claim_id')::uuid END,
            new_row,
            actor ->> 'requestId',
            actor ->> 'idempotencyKey',
            coalesce(nullif(current_setting('factmark.reason', true), ''), actor ->> 'reason')
        );
        RETURN NULL;
    END IF;
    -- Updates and deletes: one statement does it all (a write transaction pays PL/pgSQL's per-expression set-up
    -- once per transaction, so fewer, larger statements are cheaper). The subqueries marked
    -- OFFSET 0 are evaluated once, not inlined into every expression that uses them.
    INSERT INTO audit_events (
        actor_id, actor_kind, actor_name, action, entity_type, entity_id,
        workspace_id, document_id, claim_id, before, after, changed_fields,
        request_id, idempotency_key, reason
    )
    SELECT
        a.actor ->> 'id',
        coalesce(a.actor ->> 'kind', 'user'),
        coalesce(a.actor ->> 'name', a.actor ->> 'id', 'unknown'),
        CASE
            WHEN a.overrides ? r.id::text THEN a.overrides ->> r.id::text
            WHEN TG_OP = 'INSERT' THEN 'create'
            WHEN TG_OP = 'DELETE' THEN 'purge'
            WHEN 'deleted_at' = ANY (d.changed) THEN
                CASE WHEN r.new_row ->> 'deleted_at' IS NULL THEN 'restore' ELSE 'delete' END
            ELSE 'update'
        END,
        TG_ARGV[0],
        r.id,
        CASE WHEN TG_ARGV[0] = 'workspace' THEN r.id ELSE (r.row_data ->> 'workspace_id')::uuid END,
        CASE WHEN TG_ARGV[0] = 'document' THEN r.id ELSE (r.row_data ->> 'document_id')::uuid END,
        CASE WHEN TG_ARGV[0] = 'claim' THEN r.id ELSE (r.row_data ->> 'claim_id')::uuid END,
        CASE WHEN TG_OP = 'DELETE' THEN r.old_row ELSE d.before END,
        r.new_row,
        d.changed,
        a.actor ->> 'requestId',
        a.actor ->> 'idempotencyKey',
        coalesce(nullif(current_setting('factmark.reason', true), ''), a.actor ->> 'reason')
    FROM (
        SELECT current_setting('factmark.actor', true)::jsonb AS actor,
               nullif(current_setting('factmark.actions', true), '')::jsonb AS overrides
        OFFSET 0
    ) AS a,
    LATERAL (
        SELECT x.old_row, x.new_row, coalesce(x.new_row, x.old_row) AS row_data,
               (coalesce(x.new_row, x.old_row) ->> 'id')::uuid AS id
          FROM (
            SELECT CASE WHEN TG_OP <> 'INSERT' THEN to_jsonb(OLD) - TG_ARGV[1:] END AS old_row,
                   CASE WHEN TG_OP <> 'DELETE' THEN to_jsonb(NEW) - TG_ARGV[1:] END AS new_row
            OFFSET 0
          ) AS x
        OFFSET 0
    ) AS r,
    LATERAL (  -- an update's changed fields and their old values, in one pass
        SELECT array_agg(e.key ORDER BY e.key) AS changed,
               jsonb_object_agg(e.key, r.old_row -> e.key) AS before
          FROM jsonb_each(CASE WHEN TG_OP = 'UPDATE' THEN r.new_row END) AS e
         WHERE e.value IS DISTINCT FROM r.old_row -> e.key
    ) AS d
    -- An update that changed nothing but bookkeeping is not a change worth a record.
    WHERE TG_OP <> 'UPDATE'
       OR (d.changed IS NOT NULL AND NOT d.changed <@ bookkeeping);
    RETURN NULL;
END
$fn$
"""

PREVIOUS_AUDIT_ROW_FUNCTION = r"""CREATE OR REPLACE FUNCTION factmark_audit_row() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $fn$
DECLARE
    bookkeeping CONSTANT text[] := ARRAY['last_used_at', 'updated_at'];
BEGIN
    IF coalesce(current_setting('factmark.actor', true), '') = '' THEN
        -- Bookkeeping alone (a token's last use) needs no actor: it is not recorded.
        IF TG_OP = 'UPDATE' AND to_jsonb(NEW) - TG_ARGV[1:] - bookkeeping
                              = to_jsonb(OLD) - TG_ARGV[1:] - bookkeeping THEN
            RETURN NULL;
        END IF;
        RAISE EXCEPTION 'factmark: % on % without an actor (set factmark.actor)', TG_OP, TG_TABLE_NAME
            USING ERRCODE = 'FMA01';
    END IF;
    -- One statement does it all (a write transaction pays PL/pgSQL's per-expression set-up
    -- once per transaction, so fewer, larger statements are cheaper). The subqueries marked
    -- OFFSET 0 are evaluated once, not inlined into every expression that uses them.
    INSERT INTO audit_events (
        actor_id, actor_kind, actor_name, action, entity_type, entity_id,
        workspace_id, document_id, claim_id, before, after, changed_fields,
        request_id, idempotency_key, reason
    )
    SELECT
        a.actor ->> 'id',
        coalesce(a.actor ->> 'kind', 'user'),
        coalesce(a.actor ->> 'name', a.actor ->> 'id', 'unknown'),
        CASE
            WHEN a.overrides ? r.id::text THEN a.overrides ->> r.id::text
            WHEN TG_OP = 'INSERT' THEN 'create'
            WHEN TG_OP = 'DELETE' THEN 'purge'
            WHEN 'deleted_at' = ANY (d.changed) THEN
                CASE WHEN r.new_row ->> 'deleted_at' IS NULL THEN 'restore' ELSE 'delete' END
            ELSE 'update'
        END,
        TG_ARGV[0],
        r.id,
        CASE WHEN TG_ARGV[0] = 'workspace' THEN r.id ELSE (r.row_data ->> 'workspace_id')::uuid END,
        CASE WHEN TG_ARGV[0] = 'document' THEN r.id ELSE (r.row_data ->> 'document_id')::uuid END,
        CASE WHEN TG_ARGV[0] = 'claim' THEN r.id ELSE (r.row_data ->> 'claim_id')::uuid END,
        CASE WHEN TG_OP = 'DELETE' THEN r.old_row ELSE d.before END,
        r.new_row,
        d.changed,
        a.actor ->> 'requestId',
        a.actor ->> 'idempotencyKey',
        coalesce(nullif(current_setting('factmark.reason', true), ''), a.actor ->> 'reason')
    FROM (
        SELECT current_setting('factmark.actor', true)::jsonb AS actor,
               nullif(current_setting('factmark.actions', true), '')::jsonb AS overrides
        OFFSET 0
    ) AS a,
    LATERAL (
        SELECT x.old_row, x.new_row, coalesce(x.new_row, x.old_row) AS row_data,
               (coalesce(x.new_row, x.old_row) ->> 'id')::uuid AS id
          FROM (
            SELECT CASE WHEN TG_OP <> 'INSERT' THEN to_jsonb(OLD) - TG_ARGV[1:] END AS old_row,
                   CASE WHEN TG_OP <> 'DELETE' THEN to_jsonb(NEW) - TG_ARGV[1:] END AS new_row
            OFFSET 0
          ) AS x
        OFFSET 0
    ) AS r,
    LATERAL (  -- an update's changed fields and their old values, in one pass
        SELECT array_agg(e.key ORDER BY e.key) AS changed,
               jsonb_object_agg(e.key, r.old_row -> e.key) AS before
          FROM jsonb_each(CASE WHEN TG_OP = 'UPDATE' THEN r.new_row END) AS e
         WHERE e.value IS DISTINCT FROM r.old_row -> e.key
    ) AS d
    -- An update that changed nothing but bookkeeping is not a change worth a record.
    WHERE TG_OP <> 'UPDATE'
       OR (d.changed IS NOT NULL AND NOT d.changed <@ bookkeeping);
    RETURN NULL;
END
$fn$
"""


def upgrade() -> None:
    op.execute(AUDIT_ROW_FUNCTION)


def downgrade() -> None:
    op.execute(PREVIOUS_AUDIT_ROW_FUNCTION)
