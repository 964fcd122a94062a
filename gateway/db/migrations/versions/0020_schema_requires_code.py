"""schema requires code: the database says which gateways can run on it

Revision ID: 0020
Revises: 0019

A gateway older than the database's schema started with a warning
(`database_schema_newer`), so that a rolling upgrade could migrate first and
replace the replicas after.  That holds only while the migrations in
between leave what the older code uses: 0017 dropped queue_messages.content,
and a replica from before it answered every message 451 while its /readyz
said ok.  The older code cannot know which later migration broke it, so the
database says it: schema_requires_code holds one row, the oldest revision a
gateway must know to run on this database.  A gateway that does not know
that revision refuses to start, and its /readyz fails, naming it
(gateway.db.schema_check).

It starts at 0017, the last migration older code cannot run across.  A
later migration that removes or renames what older code uses sets it to its
own revision (and its downgrade sets it back), and is added to
gateway.db.schema_check.BREAKS_OLDER_CODE, which `gateway db upgrade` warns
of.  PostgreSQL: gateway_app and gateway_auditor may read it, as they read
alembic_version.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    table = op.create_table(
        "schema_requires_code",
        sa.Column("revision", sa.String(32), nullable=False),
        sa.PrimaryKeyConstraint("revision", name="pk_schema_requires_code"),
    )
    op.bulk_insert(table, [{"revision": "0017"}])
    if op.get_bind().dialect.name == "postgresql":
        blocks = "".join(
            f"""
            IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{role}') THEN
                GRANT SELECT ON schema_requires_code TO {role};
            END IF;"""
            for role in ("gateway_app", "gateway_auditor")
        )
        op.execute(f"DO $$\nBEGIN{blocks}\nEND\n$$")


def downgrade() -> None:
    op.drop_table("schema_requires_code")
