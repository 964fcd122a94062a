"""audit JSON checked: an edited record must not stop the auditors' queries

Revision ID: 0008
Revises: 0007

A record's `document` and its kept `events` (0007) are JSON read by SQL:
audit_records_v, audit_recipients_v, audit_events_v, searches by event, the
report's events.  Text there that is not what the gateway wrote can only
come from an edit outside the gateway (the append-only triggers refuse an
UPDATE; a superuser can set them aside), and `gateway audit verify`
reports the record as edited.  The edit must not also make every query on
those views fail, which is how it could keep an auditor from the rest of
the trail.

PostgreSQL: constraints refuse a document that is not a JSON object and
kept events that are not a JSON array, on any write, triggers set aside or
not (session_replication_role does not apply to constraints).  They are
NOT VALID, so rows already there are not checked and a trail that holds
one still migrates (verify names it).  They parse the text and no more,
about a microsecond a record, where checking the elements' shapes took
eleven (a function per row).  The views take a value of another shape as
they find it: an array is unpacked only when it is one, a recipient is
listed only when it is an object, and an event's `at` is cast only when it
has the chain's time form.

SQLite cannot add a constraint to a table that exists: its views read
JSON only where json_valid says it is JSON, and unpack only objects;
gateway.audit.query does the same for searches and the report.
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
_CONSTRAINTS = {
    "ck_audit_records_document": "json_typeof(document::json) = 'object'",
    "ck_audit_records_events": "events IS NULL OR json_typeof(events::json) = 'array'",
}
_VIEWS = ("audit_records_v", "audit_recipients_v", "audit_events_v")
_ROW_EVENTS = "SELECT seq, record_id, at, type, detail FROM audit_events"

# -- SQLite -------------------------------------------------------------------------

# The record with `d`: its document when it is a JSON object, else NULL.
_SQLITE_RECORDS = (
    "(SELECT r.*, CASE WHEN json_valid(r.document) THEN CASE WHEN json_type(r.document)"
    " = 'object' THEN r.document END END AS d FROM audit_records r)"
)


def _sqlite_views() -> list[str]:
    return [
        f"""
        CREATE VIEW audit_records_v AS
        SELECT r.seq, r.id, r.message_id, r.received_at, r.sender,
               json_extract(r.d, '$.subject') AS subject, r.purpose,
               json_extract(r.d, '$.consent') AS consent,
               json_extract(r.d, '$.authorised_by') AS authorised_by,
               (SELECT group_concat(value, ', ')
                  FROM json_each(r.d, '$.information_types')) AS information_types,
               r.marking, r.verdict,
               (SELECT group_concat(json_extract(value, '$.code'), ', ')
                  FROM json_each(r.d, '$.reasons') WHERE type = 'object') AS reasons,
               json_extract(r.d, '$.method') AS method,
               (SELECT group_concat(json_extract(value, '$.address'), ', ')
                  FROM json_each(r.d, '$.recipients') WHERE type = 'object') AS recipients,
               (SELECT group_concat(DISTINCT json_extract(value, '$.organisation'))
                  FROM json_each(r.d, '$.recipients')
                 WHERE type = 'object' AND json_extract(value, '$.organisation') <> '')
                   AS organisations,
               r.document, r.hash
        FROM {_SQLITE_RECORDS} r
        """,
        f"""
        CREATE VIEW audit_recipients_v AS
        SELECT r.id AS record_id, r.received_at, CAST(x.key AS INTEGER) AS position,
               json_extract(x.value, '$.address') AS address,
               json_extract(x.value, '$.name') AS name,
               json_extract(x.value, '$.job_title') AS job_title,
               json_extract(x.value, '$.department') AS department,
               json_extract(x.value, '$.organisation') AS organisation,
               json_extract(x.value, '$.telephone') AS telephone
        FROM {_SQLITE_RECORDS} r, json_each(r.d, '$.recipients') x
        WHERE x.type = 'object'
        """,
        f"""
        CREATE VIEW audit_events_v AS
        {_ROW_EVENTS}
        UNION ALL
        SELECT r.seq, r.id, replace(substr(json_extract(x.value, '$.at'), 1, 26), 'T', ' '),
               json_extract(x.value, '$.type'), json_extract(x.value, '$.detail')
          FROM audit_records r,
               json_each(CASE WHEN json_valid(r.events) THEN CASE WHEN json_type(r.events)
                         = 'array' THEN r.events END END) x
         WHERE r.events IS NOT NULL AND x.type = 'object'
        """,
    ]


# As 0002 and 0007 made them, for the downgrade.
_SQLITE_VIEWS_BEFORE = [
    """
    CREATE VIEW audit_records_v AS
    SELECT r.seq, r.id, r.message_id, r.received_at, r.sender,
           json_extract(r.document, '$.subject') AS subject, r.purpose,
           json_extract(r.document, '$.consent') AS consent,
           json_extract(r.document, '$.authorised_by') AS authorised_by,
           (SELECT group_concat(value, ', ')
              FROM json_each(r.document, '$.information_types')) AS information_types,
           r.marking, r.verdict,
           (SELECT group_concat(json_extract(value, '$.code'), ', ')
              FROM json_each(r.document, '$.reasons')) AS reasons,
           json_extract(r.document, '$.method') AS method,
           (SELECT group_concat(json_extract(value, '$.address'), ', ')
              FROM json_each(r.document, '$.recipients')) AS recipients,
           (SELECT group_concat(DISTINCT json_extract(value, '$.organisation'))
              FROM json_each(r.document, '$.recipients')
             WHERE json_extract(value, '$.organisation') <> '') AS organisations,
           r.document, r.hash
    FROM audit_records r
    """,
    """
    CREATE VIEW audit_recipients_v AS
    SELECT r.id AS record_id, r.received_at, CAST(x.key AS INTEGER) AS position,
           json_extract(x.value, '$.address') AS address,
           json_extract(x.value, '$.name') AS name,
           json_extract(x.value, '$.job_title') AS job_title,
           json_extract(x.value, '$.department') AS department,
           json_extract(x.value, '$.organisation') AS organisation,
           json_extract(x.value, '$.telephone') AS telephone
    FROM audit_records r, json_each(r.document, '$.recipients') x
    """,
    f"""
    CREATE VIEW audit_events_v AS
    {_ROW_EVENTS}
    UNION ALL
    SELECT r.seq, r.id, replace(substr(json_extract(x.value, '$.at'), 1, 26), 'T', ' '),
           json_extract(x.value, '$.type'), json_extract(x.value, '$.detail')
      FROM audit_records r, json_each(r.events) x
     WHERE r.events IS NOT NULL
    """,
]

# -- PostgreSQL ---------------------------------------------------------------------


def _elements(value: str) -> str:
    """`value` (jsonb) when it is an array, else NULL: unpacks to no rows."""
    return f"CASE WHEN jsonb_typeof({value}) = 'array' THEN {value} END"


def _postgres_views() -> list[str]:
    recipients = _elements("d->'recipients'")
    return [
        f"""
        CREATE VIEW audit_records_v AS
        SELECT r.seq, r.id, r.message_id, r.received_at, r.sender,
               d->>'subject' AS subject, r.purpose, d->>'consent' AS consent,
               d->>'authorised_by' AS authorised_by,
               (SELECT string_agg(x, ', ')
                  FROM jsonb_array_elements_text({_elements("d->'information_types'")}) x)
                   AS information_types,
               r.marking, r.verdict,
               (SELECT string_agg(x->>'code', ', ')
                  FROM jsonb_array_elements({_elements("d->'reasons'")}) x) AS reasons,
               d->>'method' AS method,
               (SELECT string_agg(x->>'address', ', ') FROM jsonb_array_elements({recipients}) x)
                   AS recipients,
               (SELECT string_agg(DISTINCT x->>'organisation', ', ')
                  FROM jsonb_array_elements({recipients}) x WHERE x->>'organisation' <> '')
                   AS organisations,
               r.document, r.hash
        FROM audit_records r CROSS JOIN LATERAL (SELECT r.document::jsonb AS d) j
        """,
        f"""
        CREATE VIEW audit_recipients_v AS
        SELECT r.id AS record_id, r.received_at, (x.ord - 1)::int AS position,
               x.v->>'address' AS address, x.v->>'name' AS name,
               x.v->>'job_title' AS job_title, x.v->>'department' AS department,
               x.v->>'organisation' AS organisation, x.v->>'telephone' AS telephone
        FROM audit_records r
        CROSS JOIN LATERAL jsonb_array_elements({_elements("r.document::jsonb->'recipients'")})
             WITH ORDINALITY AS x(v, ord)
        WHERE jsonb_typeof(x.v) = 'object'
        """,
        f"""
        CREATE VIEW audit_events_v AS
        {_ROW_EVENTS}
        UNION ALL
        SELECT r.seq, r.id::varchar(64),
               CASE WHEN x.v->>'at' ~ {_AT} THEN (x.v->>'at')::timestamptz END,
               (x.v->>'type')::varchar(32), (x.v->'detail')::text
          FROM audit_records r CROSS JOIN LATERAL json_array_elements(r.events::json) AS x(v)
         WHERE r.events IS NOT NULL
        """,
    ]


_POSTGRES_VIEWS_BEFORE = [
    """
    CREATE VIEW audit_records_v AS
    SELECT r.seq, r.id, r.message_id, r.received_at, r.sender,
           d->>'subject' AS subject, r.purpose, d->>'consent' AS consent,
           d->>'authorised_by' AS authorised_by,
           (SELECT string_agg(x, ', ') FROM jsonb_array_elements_text(d->'information_types') x)
               AS information_types,
           r.marking, r.verdict,
           (SELECT string_agg(x->>'code', ', ') FROM jsonb_array_elements(d->'reasons') x)
               AS reasons,
           d->>'method' AS method,
           (SELECT string_agg(x->>'address', ', ') FROM jsonb_array_elements(d->'recipients') x)
               AS recipients,
           (SELECT string_agg(DISTINCT x->>'organisation', ', ')
              FROM jsonb_array_elements(d->'recipients') x WHERE x->>'organisation' <> '')
               AS organisations,
           r.document, r.hash
    FROM audit_records r CROSS JOIN LATERAL (SELECT r.document::jsonb AS d) j
    """,
    """
    CREATE VIEW audit_recipients_v AS
    SELECT r.id AS record_id, r.received_at, (x.ord - 1)::int AS position,
           x.v->>'address' AS address, x.v->>'name' AS name,
           x.v->>'job_title' AS job_title, x.v->>'department' AS department,
           x.v->>'organisation' AS organisation, x.v->>'telephone' AS telephone
    FROM audit_records r
    CROSS JOIN LATERAL jsonb_array_elements(r.document::jsonb->'recipients')
         WITH ORDINALITY AS x(v, ord)
    """,
    f"""
    CREATE VIEW audit_events_v AS
    {_ROW_EVENTS}
    UNION ALL
    SELECT r.seq, r.id::varchar(64), (x.v->>'at')::timestamptz, (x.v->>'type')::varchar(32),
           (x.v->'detail')::text
      FROM audit_records r CROSS JOIN LATERAL json_array_elements(r.events::json) AS x(v)
     WHERE r.events IS NOT NULL
    """,
]


def _grant_views() -> None:
    # Views made anew have lost their grants: read-only, as 0002 made them.
    for view in _VIEWS:
        op.execute(
            f"""
            DO $$
            BEGIN
                IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'gateway_app') THEN
                    REVOKE ALL ON {view} FROM gateway_app;
                    GRANT SELECT ON {view} TO gateway_app;
                END IF;
                IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'gateway_auditor') THEN
                    REVOKE ALL ON {view} FROM gateway_auditor;
                    GRANT SELECT ON {view} TO gateway_auditor;
                END IF;
            END
            $$
            """
        )


def _replace_views(views: list[str], postgres: bool) -> None:
    for view in _VIEWS:
        op.execute(f"DROP VIEW {view}")
    for view in views:
        op.execute(view)
    if postgres:
        _grant_views()


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    _replace_views(_postgres_views() if postgres else _sqlite_views(), postgres)
    if postgres:
        for name, check in _CONSTRAINTS.items():
            op.execute(f"ALTER TABLE audit_records ADD CONSTRAINT {name} CHECK ({check})"
                       " NOT VALID")


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    _replace_views(_POSTGRES_VIEWS_BEFORE if postgres else _SQLITE_VIEWS_BEFORE, postgres)
    if postgres:
        for name in _CONSTRAINTS:
            op.execute(f"ALTER TABLE audit_records DROP CONSTRAINT {name}")
