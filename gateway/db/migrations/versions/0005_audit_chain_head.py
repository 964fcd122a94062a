"""audit chain head: the chain's lock and its head in one call (PostgreSQL)

Revision ID: 0005
Revises: 0004

Every batch that appends to the trail takes the chain's advisory lock and
then reads the chain's head (gateway.audit.trail).  Two statements, two
round trips, both while the other gateways wait for the lock.  One
statement cannot do both: under READ COMMITTED a statement reads the
database as it was when the statement began, before the lock was granted,
and so could miss the head the lock's last holder committed.  A VOLATILE
PL/pgSQL function can: each query in it takes a fresh snapshot, so the
query after the lock sees the last holder's commit.  SQLite needs nothing
(one writer per database, gateway.queue.writer).
"""
from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


# Kept as a constant: `gateway audit verify` compares the function with it.
FUNCTION = """
        CREATE OR REPLACE FUNCTION audit_chain_head(lock_key bigint)
        RETURNS TABLE (head_seq bigint, head_hash text)
        LANGUAGE plpgsql VOLATILE AS $$
        BEGIN
            PERFORM pg_advisory_xact_lock(lock_key);
            RETURN QUERY
                (SELECT r.seq::bigint, r.hash::text FROM audit_records r
                 ORDER BY r.seq DESC LIMIT 1)
                UNION ALL
                (SELECT e.seq::bigint, e.hash::text FROM audit_events e
                 ORDER BY e.seq DESC LIMIT 1)
                UNION ALL
                (SELECT c.seq::bigint, c.hash::text FROM audit_checkpoints c
                 WHERE c.kind = 'cut' ORDER BY c.seq DESC LIMIT 1);
        END
        $$
        """


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    # The OUT columns are named apart from the tables' columns: PL/pgSQL
    # would take an unqualified `seq` for the OUT parameter.
    op.execute(FUNCTION)
    # Functions are executable by PUBLIC unless revoked; say so for the
    # application's role all the same, as 0002 does for its tables.
    op.execute(
        """
        DO $$
        BEGIN
            IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'gateway_app') THEN
                GRANT EXECUTE ON FUNCTION audit_chain_head(bigint) TO gateway_app;
            END IF;
        END
        $$
        """
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS audit_chain_head(bigint)")
