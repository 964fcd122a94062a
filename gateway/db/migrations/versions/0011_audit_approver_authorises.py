"""audit approver authorises: audit_records_v names a held message's approver

Revision ID: 0011
Revises: 0010

A record is written when its message is received and never changes (the
hash chain, the append-only triggers).  A held message is approved later
(`gateway held approve --by`, the console): its `approved` event names the
approver, who is then the one who authorised the sharing.  The CLI, the
exports and the console show that approver as `authorised_by`
(gateway.audit.query.authoriser); the view showed what the message had
said (X-Authorised-By, an `Authorised by:` line), or NULL.

audit_records_v's `authorised_by` is now the approver named by the
record's last `approved` event that names one, else what the message
said; a new last column, `authorised_by_stated`, keeps what the message
said for the auditors who need both (a sender who named someone other
than the approver).  The other columns keep their names and order.

An `approved` event is always a row of audit_events (the message is
decided after its record is written), never one kept in the record's own
row (0007).  It is found by the index on (record_id, type): one probe
per row the view returns.  An event's detail edited into text that is not
JSON (verify names it) gives no approver rather than failing the view
(0008's rule): SQLite asks json_valid first, PostgreSQL parses it in
audit_approver(), which reads NULL from text it cannot parse.
"""

from __future__ import annotations

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

VIEW = "audit_records_v"

# -- SQLite -------------------------------------------------------------------------

# The record with `d`: its document when it is a JSON object, else NULL (0008).
_SQLITE_RECORDS = (
    "(SELECT r.*, CASE WHEN json_valid(r.document) THEN CASE WHEN json_type(r.document)"
    " = 'object' THEN r.document END END AS d FROM audit_records r)"
)
# CASE, not AND: SQLite does not promise to test json_valid first.
_SQLITE_APPROVER = ("CASE WHEN json_valid(e.detail) THEN"
                    " json_extract(e.detail, '$.authorised_by') END")


def _sqlite_view(authorised_by: str, stated: str) -> str:
    return f"""
    CREATE VIEW audit_records_v AS
    SELECT r.seq, r.id, r.message_id, r.received_at, r.sender,
           json_extract(r.d, '$.subject') AS subject, r.purpose,
           json_extract(r.d, '$.consent') AS consent,
           {authorised_by} AS authorised_by,
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
           r.document, r.hash{stated}
    FROM {_SQLITE_RECORDS} r
    """


_SQLITE_STATED = "json_extract(r.d, '$.authorised_by')"
SQLITE_VIEW = _sqlite_view(
    f"""COALESCE((SELECT {_SQLITE_APPROVER} FROM audit_events e
                     WHERE e.record_id = r.id AND e.type = 'approved'
                       AND {_SQLITE_APPROVER} <> ''
                     ORDER BY e.seq DESC LIMIT 1), {_SQLITE_STATED})""",
    f",\n           {_SQLITE_STATED} AS authorised_by_stated",
)
SQLITE_VIEW_BEFORE = _sqlite_view(_SQLITE_STATED, "")  # as 0008 made it

# -- PostgreSQL ---------------------------------------------------------------------

_APPROVER_FUNCTION = """
    CREATE OR REPLACE FUNCTION audit_approver(detail text) RETURNS text
    LANGUAGE plpgsql IMMUTABLE AS $$
    BEGIN
        RETURN NULLIF(detail::jsonb->>'authorised_by', '');
    EXCEPTION WHEN invalid_text_representation THEN
        RETURN NULL;  -- not JSON: edited outside the gateway, and verify says so
    END
    $$
"""


def _elements(value: str) -> str:
    """`value` (jsonb) when it is an array, else NULL: unpacks to no rows."""
    return f"CASE WHEN jsonb_typeof({value}) = 'array' THEN {value} END"


def _postgres_view(authorised_by: str, stated: str) -> str:
    recipients = _elements("d->'recipients'")
    return f"""
    CREATE VIEW audit_records_v AS
    SELECT r.seq, r.id, r.message_id, r.received_at, r.sender,
           d->>'subject' AS subject, r.purpose, d->>'consent' AS consent,
           {authorised_by} AS authorised_by,
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
           r.document, r.hash{stated}
    FROM audit_records r CROSS JOIN LATERAL (SELECT r.document::jsonb AS d) j
    """


POSTGRES_VIEW = _postgres_view(
    """COALESCE((SELECT audit_approver(e.detail) FROM audit_events e
                     WHERE e.record_id = r.id AND e.type = 'approved'
                       AND audit_approver(e.detail) IS NOT NULL
                     ORDER BY e.seq DESC LIMIT 1), d->>'authorised_by')""",
    ",\n           d->>'authorised_by' AS authorised_by_stated",
)
POSTGRES_VIEW_BEFORE = _postgres_view("d->>'authorised_by'", "")  # as 0008 made it


def _grant(function: bool) -> None:
    # A view made anew has lost its grants: read-only, as 0002 made it.
    # Functions are executable by PUBLIC unless revoked; say so for the
    # roles that read the view all the same, as 0005 does.
    execute = "GRANT EXECUTE ON FUNCTION audit_approver(text) TO {role};" if function else ""
    blocks = "".join(
        f"""
        IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{role}') THEN
            REVOKE ALL ON {VIEW} FROM {role};
            GRANT SELECT ON {VIEW} TO {role};
            {execute.format(role=role)}
        END IF;"""
        for role in ("gateway_app", "gateway_auditor")
    )
    op.execute(f"DO $$\nBEGIN{blocks}\nEND\n$$")


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    op.execute(f"DROP VIEW {VIEW}")
    if postgres:
        op.execute(_APPROVER_FUNCTION)
        op.execute(POSTGRES_VIEW)
        _grant(function=True)
    else:
        op.execute(SQLITE_VIEW)


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    op.execute(f"DROP VIEW {VIEW}")
    if postgres:
        op.execute(POSTGRES_VIEW_BEFORE)
        op.execute("DROP FUNCTION IF EXISTS audit_approver(text)")
        _grant(function=False)
    else:
        op.execute(SQLITE_VIEW_BEFORE)
