"""audit cut needs purge rights: only a role that may purge writes a `cut`

Revision ID: 0013
Revises: 0012

A `cut` checkpoint tells verify where the chain now starts (everything
before it was purged) and the chain's head read where to link the next row.
The application's role may write checkpoints (the periodic ones, `gateway
audit checkpoint`), and until now any kind: a `cut` planted past the head by
that role made the gateway link its next rows after the cut, and verify then
reported rows deleted that never were.  A purge needs DELETE on the audit
tables, which gateway_app does not have (0002), so the same right now
decides who may write a `cut`; the trigger asks the database for it rather
than naming roles, so an owner's own roles keep working.

SQLite has no roles: whoever can write to the file can do anything a purge
can.  There verify's own checks apply: with a key a cut must be signed, and
every cut must be followed by the `purged` event the purge writes with it.
"""

from __future__ import annotations

from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

_FUNCTION = """
    CREATE OR REPLACE FUNCTION audit_cut_needs_purge_rights() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        IF NEW.kind = 'cut'
           AND NOT has_table_privilege(current_user, 'audit_records', 'DELETE') THEN
            RAISE EXCEPTION 'permission denied: only a role that may purge the audit trail '
                            'writes a cut checkpoint'
                USING ERRCODE = 'insufficient_privilege';
        END IF;
        RETURN NEW;
    END
    $$
"""


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(_FUNCTION)
    op.execute("""
        CREATE TRIGGER audit_checkpoints_cut_rights
        BEFORE INSERT ON audit_checkpoints
        FOR EACH ROW EXECUTE FUNCTION audit_cut_needs_purge_rights()
    """)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER IF EXISTS audit_checkpoints_cut_rights ON audit_checkpoints")
    op.execute("DROP FUNCTION IF EXISTS audit_cut_needs_purge_rights()")
