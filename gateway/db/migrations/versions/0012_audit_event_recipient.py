"""audit event recipient: an event's recipient, read by the auditors' searches

Revision ID: 0012
Revises: 0011

The events of a message's later life that concern one recipient (relayed,
delivery_failed, the receipts, the password's release or expiry, the
receipt timeout) name that recipient in their detail.  `gateway audit
search --recipient X --event never:delivery_confirmed` asks about X's own
events; a message to X and Y that only Y confirmed is one X never
confirmed (gateway.audit.query).

PostgreSQL reads the detail's `recipient` through audit_event_recipient(),
which gives NULL for text that is not JSON (an edit outside the gateway,
which verify names) rather than failing the search (0008's rule), as
audit_approver() does for the view (0011).  SQLite asks json_valid first
in the query itself, so it needs nothing here.
"""

from __future__ import annotations

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

_FUNCTION = """
    CREATE OR REPLACE FUNCTION audit_event_recipient(detail text) RETURNS text
    LANGUAGE plpgsql IMMUTABLE AS $$
    BEGIN
        RETURN detail::jsonb->>'recipient';
    EXCEPTION WHEN invalid_text_representation THEN
        RETURN NULL;  -- not JSON: edited outside the gateway, and verify says so
    END
    $$
"""


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(_FUNCTION)
    # Executable by PUBLIC unless revoked; said for the roles that search
    # all the same, as 0005 and 0011 do.
    blocks = "".join(
        f"""
        IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{role}') THEN
            GRANT EXECUTE ON FUNCTION audit_event_recipient(text) TO {role};
        END IF;"""
        for role in ("gateway_app", "gateway_auditor")
    )
    op.execute(f"DO $$\nBEGIN{blocks}\nEND\n$$")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS audit_event_recipient(text)")
