"""Remember the sealer's floor, so that a new process does not read the whole audit log again.

The sealer reads only events above its *floor*: a seq below which no event is unsealed, not even
one of a transaction still open (``factmark.audit.sealer.Sealer``). The floor lived in the
sealer's memory, so every start of a server process read the whole log once to find it: at
1,300,000 events, about 270 batches and some 15 s of work for the database and the process.
Now each run stores the floor it starts from in ``audit_seal_floor`` (one row), and a new
sealer starts there. The floor only ever says where to start reading: verification does not
use it.

Revision ID: 0003_sealer_floor
Revises: 0002_cheaper_audit_trigger
Create Date: 2026-11-25 21:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_sealer_floor"
down_revision: str | None = "0002_cheaper_audit_trigger"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "audit_seal_floor",
        sa.Column("id", sa.SmallInteger(), autoincrement=False, nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("id = 1", name=op.f("ck_audit_seal_floor_single_row")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_seal_floor")),
    )
    op.execute(
        """
        DO $do$
        BEGIN
            IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'factmark_app') THEN
                GRANT SELECT, INSERT, UPDATE ON audit_seal_floor TO factmark_app;
            END IF;
        END
        $do$
        """
    )


def downgrade() -> None:
    op.drop_table("audit_seal_floor")
