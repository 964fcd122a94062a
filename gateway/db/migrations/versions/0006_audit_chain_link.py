"""audit chain link: the database links a batch's trail rows (PostgreSQL)

Revision ID: 0006
Revises: 0005

A batch of the Writer used to make three statements for the trail on
PostgreSQL: its queue rows, the chain's lock and head (0005), then the
trail's rows, linked by the gateway from that head.  Each statement is a
round trip and about 0.1 ms of the gateway's CPU, which was most of what
the trail cost two gateways sharing a database.  With this function the
database links the rows: given the hashed content of each row in chain
order, it takes the lock, reads the head (through audit_chain_head, whose
query after the lock sees the last holder's commit) and returns each row's
place, previous hash and hash, computed as gateway.audit.chain.link does:
sha256(prev_hash || "\\n" || content), hex.  The trail's inserts join on
it, in the statement that writes the batch's queue rows: one round trip
(gateway.audit.trail).  The function reads and returns; it writes nothing.
"""
from __future__ import annotations

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


# Kept as a constant: `gateway audit verify` compares the function with it.
FUNCTION = """
        CREATE OR REPLACE FUNCTION audit_chain_link(lock_key bigint, contents bytea[])
        RETURNS TABLE (link_ord integer, link_seq bigint, link_prev text, link_hash text)
        LANGUAGE plpgsql VOLATILE AS $$
        DECLARE
            head_s bigint;
            head_h text;
        BEGIN
            SELECT h.head_seq, h.head_hash INTO head_s, head_h
                FROM audit_chain_head(lock_key) AS h
                ORDER BY h.head_seq DESC LIMIT 1;
            IF head_s IS NULL THEN  -- an empty chain links to GENESIS
                head_s := 0;
                head_h := repeat('0', 64);
            END IF;
            FOR i IN 1 .. coalesce(array_length(contents, 1), 0) LOOP
                link_ord := i;
                link_seq := head_s + i;
                link_prev := head_h;
                head_h := encode(sha256(
                    convert_to(head_h, 'UTF8') || decode('0a', 'hex') || contents[i]), 'hex');
                link_hash := head_h;
                RETURN NEXT;
            END LOOP;
        END
        $$
        """


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    # OUT columns named apart from the tables' columns, as in 0005.
    op.execute(FUNCTION)
    op.execute(
        """
        DO $$
        BEGIN
            IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'gateway_app') THEN
                GRANT EXECUTE ON FUNCTION audit_chain_link(bigint, bytea[]) TO gateway_app;
            END IF;
        END
        $$
        """
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS audit_chain_link(bigint, bytea[])")
