"""A cheaper audit trigger: one statement per row, one pass for an update's diff.

The first body of ``factmark_audit_row()`` ran about twenty PL/pgSQL statements per row, two
queries over ``jsonb_each`` for every update (the changed keys, then their old values) and one
for every insert (the sorted key list of the new row). In a transaction that writes one row,
each PL/pgSQL expression is prepared again, so the statement count is what a write pays for.
The new body is one ``INSERT ... SELECT``: the row images, the action, the roll-up ids and an
update's changed fields with their old values are computed inside it. A create no longer lists
``changed_fields`` (every field of its ``after`` image is new, as
``factmark.audit.images.changes_of`` reads it). What the trigger records is otherwise the same:
the same columns, the same actions, the refusal without an actor (FMA01), and no record for an
update of bookkeeping alone. ``uv run python -m bench --only 6`` measures the effect.

Revision ID: 0002_cheaper_audit_trigger
Revises: 0001_initial
Create Date: 2026-11-25 18:50:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0002_cheaper_audit_trigger"
down_revision: str | None = "0001_initial"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

AUDIT_ROW_FUNCTION = r"""CREATE OR REPLACE FUNCTION factmark_audit_row() RETURNS trigger
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

PREVIOUS_AUDIT_ROW_FUNCTION = r"""
CREATE OR REPLACE FUNCTION factmark_audit_row() RETURNS trigger
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


def upgrade() -> None:
    op.execute(AUDIT_ROW_FUNCTION)


def downgrade() -> None:
    op.execute(PREVIOUS_AUDIT_ROW_FUNCTION)
