"""functions search path: the gateway's functions resolve names in pg_catalog first (PostgreSQL)

Revision ID: 0021
Revises: 0020

A function without a search path of its own looks names up in the
caller's, which the database owner can set for every session (`ALTER
DATABASE ... SET search_path = "$user", public, pg_catalog`).  With a
`public.sha256(bytea)` of theirs earlier in it, `audit_chain_link` would
store whatever hash that function gives for the rows the gateway appends,
and `audit_approver` would read an approver through functions of theirs.

Each function the migrations made now carries `search_path = pg_catalog,
<the schema its tables are in>, pg_temp`: pg_catalog's own functions and
operators come first, the gateway's tables are found where the migrations
made them, and temporary objects last.  (`gateway audit verify` pins its
own sessions' search path the same way.)  SQLite has no functions of the
gateway's and needs nothing.
"""

from __future__ import annotations

from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None

# Every function migrations 0002-0020 made, with its argument types (0015's list).
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
    # The schema the migrations made the tables in: where these functions'
    # unqualified table names must lead.
    for function in FUNCTIONS:
        op.execute(
            f"""
            DO $$
            BEGIN
                EXECUTE pg_catalog.format(
                    'ALTER FUNCTION %s SET search_path = pg_catalog, %I, pg_temp',
                    '{function}', pg_catalog.current_schema());
            END
            $$
            """
        )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for function in FUNCTIONS:
        op.execute(f"ALTER FUNCTION {function} RESET search_path")
