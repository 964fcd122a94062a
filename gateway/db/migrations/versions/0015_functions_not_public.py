"""functions not public: only the gateway's roles execute its functions (PostgreSQL)

Revision ID: 0015
Revises: 0014

PostgreSQL lets PUBLIC execute a function unless that is revoked, and the
migrations that made the gateway's functions only granted EXECUTE to its
roles on top.  So any role that could connect could run `audit_chain_head`
and `audit_chain_link`, which take the audit chain's advisory lock (an
auditor's session holding it stalls every replica's appends), although the
README gives EXECUTE on them to `gateway_app` only.

EXECUTE is revoked from PUBLIC on every function the migrations made.  The
grants stay as they were: the chain functions to `gateway_app`; the view
helpers (`audit_approver`, `audit_refuser`, `audit_event_recipient`) to
`gateway_app` and `gateway_auditor`, whose views call them; the trigger
functions to no one (a trigger's function is checked for EXECUTE when the
trigger is created, not when it fires).  The owner, who runs migrations
and `audit purge`, keeps EXECUTE on everything as owner.  SQLite has no
functions of the gateway's and needs nothing.
"""

from __future__ import annotations

from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

# Every function migrations 0002-0014 made, with its argument types.
FUNCTIONS = (
    "audit_append_only()",
    "audit_chain_head(bigint)",
    "audit_chain_link(bigint, bytea[])",
    "audit_approver(text)",
    "audit_refuser(text)",
    "audit_event_recipient(text)",
    "audit_cut_needs_purge_rights()",
)


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(f"REVOKE EXECUTE ON FUNCTION {', '.join(FUNCTIONS)} FROM PUBLIC")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(f"GRANT EXECUTE ON FUNCTION {', '.join(FUNCTIONS)} TO PUBLIC")
