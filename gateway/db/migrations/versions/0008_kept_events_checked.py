"""kept events checked: a record's `events` must be what the gateway writes

Revision ID: 0008
Revises: 0007

The events kept in a record's row (0007) are read by SQL: searches by
event, the report's events, audit_events_v.  Text there that is not a JSON
array of events can only come from an edit outside the gateway (the
append-only triggers refuse an UPDATE; a superuser can set them aside),
and `gateway audit verify` reports the record as edited.  It must not also
make every search, report and view query fail, which is how an edit could
keep an auditor from the rest of the trail.

PostgreSQL: a constraint refuses text that is not a JSON array on any
write, triggers set aside or not (session_replication_role does not apply
to constraints); NOT VALID, so rows already there are not checked and a
trail that holds one still migrates (verify names it).  The constraint
parses the text and no more, half a microsecond a row, where checking each
element's shape took eleven (a function per row): the readers take an
element of another shape as they find it (`->>` gives NULL), and
audit_events_v casts an element's `at` only when it has the chain's time
form.  SQLite cannot add a constraint to a table that exists: its readers
skip what they cannot read (json_valid), here in audit_events_v and in
gateway.audit.query.
"""
from __future__ import annotations

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

# The chain's time form (gateway.audit.chain.ts), each field in its range.
_AT = (r"'^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])T([01]\d|2[0-3]):[0-5]\d:[0-5]\d"
       r"\.\d{6}Z$'")
_CHECK = (
    "ALTER TABLE audit_records ADD CONSTRAINT ck_audit_records_events"
    " CHECK (events IS NULL OR json_typeof(events::json) = 'array') NOT VALID"
)

_ROW_EVENTS = "SELECT seq, record_id, at, type, detail FROM audit_events"


def _sqlite_view(guarded: bool) -> str:
    events = "r.events"
    if guarded:
        events = ("CASE WHEN json_valid(r.events) THEN CASE WHEN json_type(r.events) = 'array'"
                  " THEN r.events END END")
    element = "x.value"
    kept = f"json_each({events}) x"
    where = "r.events IS NOT NULL" + (" AND x.type = 'object'" if guarded else "")
    return f"""
        CREATE VIEW audit_events_v AS
        {_ROW_EVENTS}
        UNION ALL
        SELECT r.seq, r.id, replace(substr(json_extract({element}, '$.at'), 1, 26), 'T', ' '),
               json_extract({element}, '$.type'), json_extract({element}, '$.detail')
          FROM audit_records r, {kept}
         WHERE {where}
    """


def _postgres_view(guarded: bool) -> str:
    at = "(x.v->>'at')::timestamptz"
    if guarded:
        at = f"CASE WHEN x.v->>'at' ~ {_AT} THEN {at} END"
    return f"""
        CREATE VIEW audit_events_v AS
        {_ROW_EVENTS}
        UNION ALL
        SELECT r.seq, r.id::varchar(64), {at}, (x.v->>'type')::varchar(32),
               (x.v->'detail')::text
          FROM audit_records r CROSS JOIN LATERAL json_array_elements(r.events::json) AS x(v)
         WHERE r.events IS NOT NULL
    """


def _grant_view() -> None:
    # A view made anew has lost its grants (0007's _grant_view).
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
    op.execute("DROP VIEW audit_events_v")
    if not postgres:
        op.execute(_sqlite_view(guarded=True))
        return
    op.execute(_postgres_view(guarded=True))
    _grant_view()
    op.execute(_CHECK)


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    op.execute("DROP VIEW audit_events_v")
    if not postgres:
        op.execute(_sqlite_view(guarded=False))
        return
    op.execute(_postgres_view(guarded=False))
    _grant_view()
    op.execute("ALTER TABLE audit_records DROP CONSTRAINT ck_audit_records_events")
