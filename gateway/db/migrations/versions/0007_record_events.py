"""record events: the events a record is written with are kept in its row

Revision ID: 0007
Revises: 0006

Every message's record used to be written with two event rows of their own
(`received`, then `queued`, `held` or `rejected`), each a row of the chain
with its own hash, index entries and insert.  They are known when the
record is written, so they now go in the record's row, in a new column
`events` (JSON, hashed with the row: gateway.audit.chain.record_content).
Events that happen later (relayed, receipts, passwords, ...) are still rows
of audit_events.  Rows written before this migration keep `events` NULL and
hash as they always did, so the chain stays verifiable across it.

audit_events_v shows both, with the same columns as before: an event kept
in its record's row has the record's `seq` (order such events by `at`).
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_ROW_EVENTS = "SELECT seq, record_id, at, type, detail FROM audit_events"

# SQLite stores a time as 'YYYY-MM-DD HH:MM:SS.ffffff' (what SQLAlchemy reads
# back); the record's events hold the chain's 'YYYY-MM-DDTHH:MM:SS.ffffffZ'.
_SQLITE_VIEW = f"""
    CREATE VIEW audit_events_v AS
    {_ROW_EVENTS}
    UNION ALL
    SELECT r.seq, r.id, replace(substr(json_extract(x.value, '$.at'), 1, 26), 'T', ' '),
           json_extract(x.value, '$.type'), json_extract(x.value, '$.detail')
      FROM audit_records r, json_each(r.events) x
     WHERE r.events IS NOT NULL
"""
# json (not jsonb) keeps each detail's text as written.
_POSTGRES_VIEW = f"""
    CREATE VIEW audit_events_v AS
    {_ROW_EVENTS}
    UNION ALL
    SELECT r.seq, r.id::varchar(64), (x.v->>'at')::timestamptz, (x.v->>'type')::varchar(32),
           (x.v->'detail')::text
      FROM audit_records r CROSS JOIN LATERAL json_array_elements(r.events::json) AS x(v)
     WHERE r.events IS NOT NULL
"""


def _grant_view() -> None:
    # A view made anew has lost 0002's grants and got the schema's default
    # privileges (gateway_app's on new tables): read-only, as 0002 made it.
    op.execute(
        """
        DO $$
        BEGIN
            IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'gateway_app') THEN
                REVOKE ALL ON audit_events_v FROM gateway_app;
                GRANT SELECT ON audit_events_v TO gateway_app;
            END IF;
            IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'gateway_auditor') THEN
                REVOKE ALL ON audit_events_v FROM gateway_auditor;
                GRANT SELECT ON audit_events_v TO gateway_auditor;
            END IF;
        END
        $$
        """
    )


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    op.add_column("audit_records", sa.Column("events", sa.Text(), nullable=True))
    op.execute("DROP VIEW audit_events_v")
    op.execute(_POSTGRES_VIEW if postgres else _SQLITE_VIEW)
    if postgres:
        _grant_view()


def downgrade() -> None:
    bind = op.get_bind()
    postgres = bind.dialect.name == "postgresql"
    kept = bind.execute(
        sa.text("SELECT count(*) FROM audit_records WHERE events IS NOT NULL")
    ).scalar_one()
    if kept:
        # Dropping the column would lose those events and break the chain.
        raise RuntimeError(
            f"cannot downgrade below 0007: {kept} audit records keep their events in their row"
        )
    op.execute("DROP VIEW audit_events_v")
    op.execute(f"CREATE VIEW audit_events_v AS {_ROW_EVENTS}")
    if postgres:
        _grant_view()
    op.drop_column("audit_records", "events")
