"""Inserts are recorded by a trigger function of their own table: one statement, nothing around it.

``factmark_audit_row()`` serves every table and every operation, so before its INSERT it runs a
handful of PL/pgSQL expressions: the actor check, the operation test, the row as jsonb and the
values taken out of it. In a transaction that writes one row (every API write), PL/pgSQL sets
each expression up again, and those set-ups cost about as much as the INSERT into
``audit_events`` itself: in a closed loop of workload 1's claim-creation transaction (16
connections, PostgreSQL CPU per write, triggers off and on, six alternating rounds), the
expressions alone (no INSERT) added ~0.18 ms to a ~0.7 ms write, the whole trigger ~0.3 ms.

Now each audited table has two triggers:

* ``audit_insert`` (AFTER INSERT) runs ``factmark_audit_insert_<table>()``, generated here for
  that table: a single ``INSERT ... SELECT`` that reads the row's own columns (``NEW.id``,
  ``NEW.workspace_id``, ...) and the actor once, with no PL/pgSQL assignment or test. Measured
  as above in three runs: ~70 µs less per claim creation (its claim and its span), a quarter of
  what the trigger cost.
* ``audit_row`` (AFTER UPDATE OR DELETE) runs ``factmark_audit_row()`` as before.

What a create records is unchanged: the same columns and values, ``before`` and
``changed_fields`` empty, the action ``create`` unless the transaction named another for that
row (``factmark.actions``), and a write without an actor still fails with FMA01.

A table added later needs its own function and both triggers (``tests/audit/test_capture.py``
fails until it has them); ``insert_function`` below writes the function for a table spec.

Revision ID: 0005_audit_insert_triggers
Revises: 0004_audit_create_path
Create Date: 2026-11-26 07:00:00
"""

from collections.abc import Sequence
from dataclasses import dataclass

from alembic import op

revision: str = "0005_audit_insert_triggers"
down_revision: str | None = "0004_audit_create_path"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


@dataclass(frozen=True)
class Audited:
    entity: str
    """The ``entity_type`` of its events."""
    excluded: tuple[str, ...] = ()
    """Columns never copied into the log (secrets, generated columns)."""
    scope: tuple[str, ...] = ("workspace_id",)
    """Which of workspace_id, document_id, claim_id the table has as columns."""


# The audited tables as of this revision (0001's AUDITED_TABLES, with their scoping columns).
TABLES: dict[str, Audited] = {
    "users": Audited("user", ("password_hash",), ()),
    "workspaces": Audited("workspace", (), ()),
    "memberships": Audited("membership"),
    "api_tokens": Audited("token", ("token_hash",)),
    "documents": Audited("document", ("search",)),
    "claims": Audited("claim", ("search",), ("workspace_id", "document_id")),
    "claim_spans": Audited("claim_span", ("range",), ("workspace_id", "document_id", "claim_id")),
    "ratings": Audited("rating"),
    "verdicts": Audited("verdict", (), ("workspace_id", "document_id", "claim_id")),
    "corrections": Audited("correction", (), ("workspace_id", "document_id", "claim_id")),
    "evidence": Audited("evidence", (), ("workspace_id", "document_id", "claim_id")),
    "comments": Audited("comment", (), ("workspace_id", "document_id", "claim_id")),
}

NO_ACTOR_FUNCTION = r"""CREATE FUNCTION factmark_audit_no_actor(operation text, table_name text)
RETURNS jsonb LANGUAGE plpgsql AS $fn$
BEGIN
    RAISE EXCEPTION 'factmark: % on % without an actor (set factmark.actor)', operation, table_name
        USING ERRCODE = 'FMA01';
END
$fn$"""


def _scope(table: str, spec: Audited, column: str) -> str:
    """The expression for one of the event's scoping columns."""
    own = {"workspace_id": "workspaces", "document_id": "documents", "claim_id": "claims"}
    if own[column] == table:
        return "NEW.id"
    return f"NEW.{column}" if column in spec.scope else "NULL"


def insert_function(table: str, spec: Audited) -> str:
    """``factmark_audit_insert_<table>()``: the create event of a row of ``table``."""
    after = "to_jsonb(NEW)" + "".join(f" - '{column}'" for column in spec.excluded)
    return rf"""CREATE FUNCTION factmark_audit_insert_{table}() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $fn$
BEGIN
    INSERT INTO public.audit_events (
        actor_id, actor_kind, actor_name, action, entity_type, entity_id,
        workspace_id, document_id, claim_id, after, request_id, idempotency_key, reason
    )
    SELECT
        c.actor ->> 'id',
        coalesce(c.actor ->> 'kind', 'user'),
        coalesce(c.actor ->> 'name', c.actor ->> 'id', 'unknown'),
        CASE WHEN c.overrides ? NEW.id::text THEN c.overrides ->> NEW.id::text ELSE 'create' END,
        '{spec.entity}',
        NEW.id,
        {_scope(table, spec, "workspace_id")},
        {_scope(table, spec, "document_id")},
        {_scope(table, spec, "claim_id")},
        {after},
        c.actor ->> 'requestId',
        c.actor ->> 'idempotencyKey',
        coalesce(nullif(current_setting('factmark.reason', true), ''), c.actor ->> 'reason')
    FROM (
        -- Read once (OFFSET 0 keeps the planner from copying it into every use).
        SELECT CASE WHEN coalesce(current_setting('factmark.actor', true), '') = ''
                    THEN factmark_audit_no_actor(TG_OP, TG_TABLE_NAME)
                    ELSE current_setting('factmark.actor', true)::jsonb END AS actor,
               nullif(current_setting('factmark.actions', true), '')::jsonb AS overrides
        OFFSET 0
    ) AS c;
    RETURN NULL;
END
$fn$"""


def _row_trigger(table: str, spec: Audited, events: str) -> None:
    args = ", ".join(f"'{a}'" for a in (spec.entity, *spec.excluded))
    op.execute(
        f"CREATE TRIGGER audit_row AFTER {events} ON {table} "
        f"FOR EACH ROW EXECUTE FUNCTION factmark_audit_row({args})"
    )
    op.execute(f"ALTER TABLE {table} ENABLE ALWAYS TRIGGER audit_row")


def upgrade() -> None:
    op.execute(NO_ACTOR_FUNCTION)
    for table, spec in TABLES.items():
        op.execute(insert_function(table, spec))
        op.execute(f"DROP TRIGGER audit_row ON {table}")
        _row_trigger(table, spec, "UPDATE OR DELETE")
        op.execute(
            f"CREATE TRIGGER audit_insert AFTER INSERT ON {table} "
            f"FOR EACH ROW EXECUTE FUNCTION factmark_audit_insert_{table}()"
        )
        op.execute(f"ALTER TABLE {table} ENABLE ALWAYS TRIGGER audit_insert")


def downgrade() -> None:
    for table, spec in TABLES.items():
        op.execute(f"DROP TRIGGER audit_insert ON {table}")
        op.execute(f"DROP TRIGGER audit_row ON {table}")
        _row_trigger(table, spec, "INSERT OR UPDATE OR DELETE")
        op.execute(f"DROP FUNCTION factmark_audit_insert_{table}()")
    op.execute("DROP FUNCTION factmark_audit_no_actor(text, text)")
