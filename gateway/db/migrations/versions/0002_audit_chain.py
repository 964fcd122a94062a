"""audit trail: one hash chain, search terms, append-only triggers, views, roles

Replaces the audit tables of 0001 (nothing was released with them, so no
data is carried over) with:

- audit_records / audit_events: one hash chain through both, `seq` assigned
  by the appender (gateway/audit/trail.py);
- audit_record_terms: the search index of recipients, organisations,
  information types and reasons;
- audit_checkpoints: signed (seq, hash) positions, including purge cuts;
- triggers refusing UPDATE and DELETE (and TRUNCATE) on all of them, except
  DELETE during `gateway audit purge` (PostgreSQL: SET LOCAL
  gateway.audit_purge = 'on'; SQLite: a row in audit_purge_guard);
- read-only views with stable column names for auditors: audit_records_v,
  audit_recipients_v, audit_events_v;
- PostgreSQL roles: gateway_app (INSERT and SELECT only on the audit tables,
  full use of the queue tables) and gateway_auditor (SELECT on the audit
  tables and views), created when missing.

Revision ID: 0002
Revises: 0001
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_Seq = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
AUDIT_TABLES = ("audit_records", "audit_events", "audit_record_terms", "audit_checkpoints")
VIEWS = ("audit_records_v", "audit_recipients_v", "audit_events_v")


# Kept as a constant: `gateway audit verify` compares the function with it.
APPEND_ONLY_FUNCTION = """
        CREATE OR REPLACE FUNCTION audit_append_only() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP = 'DELETE'
               AND coalesce(current_setting('gateway.audit_purge', true), '') = 'on' THEN
                RETURN NULL;
            END IF;
            RAISE EXCEPTION 'audit trail is append-only: % on % refused', TG_OP, TG_TABLE_NAME
                USING ERRCODE = 'insufficient_privilege';
        END
        $$
        """


def upgrade() -> None:
    # 0001's audit tables (indexes go with them).
    op.drop_table("audit_records")
    op.drop_table("audit_events")
    op.drop_table("audit_checkpoints")

    op.create_table(
        "audit_records",
        sa.Column("seq", _Seq, autoincrement=False, nullable=False),
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("message_id", sa.Text(), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sender", sa.Text(), nullable=False),
        sa.Column("verdict", sa.String(16), nullable=False),
        sa.Column("marking", sa.Text(), nullable=True),
        sa.Column("purpose", sa.Text(), nullable=True),
        sa.Column("terms", sa.Text(), nullable=False),
        sa.Column("document", sa.Text(), nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("seq", name="pk_audit_records"),
        sa.UniqueConstraint("id", name="uq_audit_records_id"),
    )
    op.create_index("ix_audit_records_received_at", "audit_records", ["received_at", "seq"])
    op.create_index("ix_audit_records_sender", "audit_records", [sa.text("lower(sender)")])

    op.create_table(
        "audit_events",
        sa.Column("seq", _Seq, autoincrement=False, nullable=False),
        sa.Column("record_id", sa.String(64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("type", sa.String(32), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("seq", name="pk_audit_events"),
    )
    op.create_index("ix_audit_events_record", "audit_events", ["record_id", "type"])

    op.create_table(
        "audit_record_terms",
        sa.Column("record_seq", _Seq, autoincrement=False, nullable=False),
        sa.Column("field", sa.String(16), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("record_seq", "field", "value", name="pk_audit_record_terms"),
    )
    op.create_index(
        "ix_audit_record_terms_lookup",
        "audit_record_terms",
        ["field", "key", "received_at", "record_seq"],
    )

    op.create_table(
        "audit_checkpoints",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("key_id", sa.String(16), nullable=True),
        sa.Column("signature", sa.String(64), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_audit_checkpoints"),
    )

    op.create_table(
        "audit_purge_guard",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_audit_purge_guard"),
    )

    if op.get_bind().dialect.name == "postgresql":
        _postgres_triggers()
        _postgres_views()
        _postgres_roles()
    else:
        _sqlite_triggers()
        _sqlite_views()


# -- append-only triggers ------------------------------------------------------


def _postgres_triggers() -> None:
    # Statement-level: one check per statement, also for TRUNCATE (which row
    # triggers never see).  A purge's DELETE passes when the purge set the
    # transaction-local flag; UPDATE and TRUNCATE never pass.
    op.execute(APPEND_ONLY_FUNCTION)
    for table in AUDIT_TABLES:
        op.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE OR TRUNCATE "
            f"ON {table} FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only()"
        )


def sqlite_trigger_statements() -> dict[str, str]:
    """Each SQLite append-only trigger's CREATE TRIGGER, by name (`gateway
    audit verify` compares the triggers with them)."""
    made: dict[str, str] = {}
    for table in AUDIT_TABLES:
        made[f"{table}_no_update"] = (
            f"CREATE TRIGGER {table}_no_update BEFORE UPDATE ON {table} "
            f"BEGIN SELECT RAISE(ABORT, 'audit trail is append-only: UPDATE on {table} "
            "refused'); END"
        )
        made[f"{table}_no_delete"] = (
            f"CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table} "
            "WHEN NOT EXISTS (SELECT 1 FROM audit_purge_guard) "
            f"BEGIN SELECT RAISE(ABORT, 'audit trail is append-only: DELETE on {table} "
            "refused'); END"
        )
    return made


def _sqlite_triggers() -> None:
    for statement in sqlite_trigger_statements().values():
        op.execute(statement)


# -- views for auditors --------------------------------------------------------
# Stable column names (README "Audit trail for auditors"); times are UTC.


def _postgres_views() -> None:
    op.execute(
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
        """
    )
    op.execute(
        """
        CREATE VIEW audit_recipients_v AS
        SELECT r.id AS record_id, r.received_at, (x.ord - 1)::int AS position,
               x.v->>'address' AS address, x.v->>'name' AS name,
               x.v->>'job_title' AS job_title, x.v->>'department' AS department,
               x.v->>'organisation' AS organisation, x.v->>'telephone' AS telephone
        FROM audit_records r
        CROSS JOIN LATERAL jsonb_array_elements(r.document::jsonb->'recipients')
             WITH ORDINALITY AS x(v, ord)
        """
    )
    op.execute(
        "CREATE VIEW audit_events_v AS "
        "SELECT seq, record_id, at, type, detail FROM audit_events"
    )


def _sqlite_views() -> None:
    op.execute(
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
        """
    )
    op.execute(
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
        """
    )
    op.execute(
        "CREATE VIEW audit_events_v AS "
        "SELECT seq, record_id, at, type, detail FROM audit_events"
    )


# -- PostgreSQL roles ------------------------------------------------------------


def _create_role(name: str) -> None:
    # Roles are cluster-wide: another database (or a DBA) may have created it
    # already.  A migration user without CREATEROLE gets a warning, not a
    # failure; the grants below are then skipped and the README says what a
    # DBA runs instead.
    op.execute(
        f"""
        DO $$
        BEGIN
            IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{name}') THEN
                CREATE ROLE {name} NOLOGIN;
            END IF;
        EXCEPTION
            WHEN duplicate_object THEN NULL;
            WHEN insufficient_privilege THEN
                RAISE WARNING 'cannot create role {name}: ask a DBA to (README, audit roles)';
        END
        $$
        """
    )


def _postgres_roles() -> None:
    _create_role("gateway_app")
    _create_role("gateway_auditor")
    audit = ", ".join(AUDIT_TABLES)
    views = ", ".join(VIEWS)
    op.execute(
        f"""
        DO $$
        BEGIN
            IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'gateway_app') THEN
                GRANT USAGE ON SCHEMA public TO gateway_app;
                -- The trail: append and read, never change or remove.
                REVOKE ALL ON {audit}, audit_purge_guard FROM gateway_app;
                GRANT SELECT, INSERT ON {audit} TO gateway_app;
                GRANT USAGE ON SEQUENCE audit_checkpoints_id_seq TO gateway_app;
                GRANT SELECT ON {views} TO gateway_app;
                -- The queue is the application's working state.
                GRANT SELECT, INSERT, UPDATE, DELETE ON queue_messages, queue_recipients
                    TO gateway_app;
                GRANT USAGE ON SEQUENCE queue_recipients_id_seq TO gateway_app;
                GRANT SELECT ON alembic_version TO gateway_app;
                -- Tables of later migrations (created by this same role) are
                -- the application's too; a later audit table must REVOKE
                -- UPDATE, DELETE from gateway_app explicitly.
                ALTER DEFAULT PRIVILEGES IN SCHEMA public
                    GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO gateway_app;
                ALTER DEFAULT PRIVILEGES IN SCHEMA public
                    GRANT USAGE, SELECT ON SEQUENCES TO gateway_app;
            END IF;
            IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'gateway_auditor') THEN
                GRANT USAGE ON SCHEMA public TO gateway_auditor;
                REVOKE ALL ON {audit}, audit_purge_guard FROM gateway_auditor;
                GRANT SELECT ON {audit} TO gateway_auditor;
                GRANT SELECT ON {views} TO gateway_auditor;
            END IF;
        END
        $$
        """
    )


def downgrade() -> None:
    for view in VIEWS:
        op.execute(f"DROP VIEW IF EXISTS {view}")
    is_pg = op.get_bind().dialect.name == "postgresql"
    if is_pg:
        op.execute(
            """
            DO $$
            BEGIN
                IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'gateway_app') THEN
                    ALTER DEFAULT PRIVILEGES IN SCHEMA public
                        REVOKE SELECT, INSERT, UPDATE, DELETE ON TABLES FROM gateway_app;
                    ALTER DEFAULT PRIVILEGES IN SCHEMA public
                        REVOKE USAGE, SELECT ON SEQUENCES FROM gateway_app;
                END IF;
            END
            $$
            """
        )
    for table in (*AUDIT_TABLES, "audit_purge_guard"):
        op.drop_table(table)
    if is_pg:
        op.execute("DROP FUNCTION IF EXISTS audit_append_only()")

    # 0001's audit tables, as they were.
    op.create_table(
        "audit_checkpoints",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("table_name", sa.String(length=32), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.Column("signature", sa.String(length=128), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_audit_checkpoints"),
    )
    op.create_table(
        "audit_events",
        sa.Column("seq", _Seq, autoincrement=True, nullable=False),
        sa.Column("record_id", sa.String(length=32), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("seq", name="pk_audit_events"),
    )
    op.create_index("ix_audit_events_record_id", "audit_events", ["record_id"])
    op.create_index("ix_audit_events_type", "audit_events", ["type"])
    op.create_table(
        "audit_records",
        sa.Column("seq", _Seq, autoincrement=True, nullable=False),
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("message_id", sa.Text(), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sender", sa.Text(), nullable=False),
        sa.Column("verdict", sa.String(length=16), nullable=False),
        sa.Column("document", sa.Text(), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("seq", name="pk_audit_records"),
        sa.UniqueConstraint("id", name="uq_audit_records_id"),
    )
    op.create_index("ix_audit_records_received_at", "audit_records", ["received_at"])
    op.create_index("ix_audit_records_sender", "audit_records", ["sender"])
