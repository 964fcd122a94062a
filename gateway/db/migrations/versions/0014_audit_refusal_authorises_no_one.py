"""audit refusal authorises no one: audit_records_v says what the approver decided

Revision ID: 0014
Revises: 0013

A held message the approver refused (`gateway held reject --by`, the
console) was never sent: its `rejected` event names the approver (`by`).
The CLI, the exports and the console give it an empty `authorised_by`
(gateway.audit.query.decision); the view, as 0011 made it, still showed
what the message had said, so an auditor using their own tools read that
the sender's manager allowed a share that was refused.

audit_records_v's `authorised_by` is now NULL for such a record, and two
new last columns say what the approver decided: `outcome` ('approved',
'refused', or NULL while no one has) and `decided_by`.  The other columns
keep their names and order; 0011's view builders make the rest, so the
two migrations cannot drift apart.  A decision's detail edited into text
that is not JSON (verify names it) names no one, as in 0011.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

VIEW = "audit_records_v"


def _migration_0011() -> ModuleType:
    """0011's module (its view builders and the view it made, for downgrade)."""
    path = Path(__file__).with_name("0011_audit_approver_authorises.py")
    spec = importlib.util.spec_from_file_location("gateway_migration_0011", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _decided(approver: str, refuser: str, stated: str) -> tuple[str, str]:
    """(the authorised_by expression, the stated/outcome/decided_by columns)
    from a dialect's scalar subqueries for the approver and the refuser."""
    authorised_by = (f"CASE WHEN {refuser} IS NOT NULL THEN NULL "
                     f"ELSE COALESCE({approver}, {stated}) END")
    columns = (f",\n           {stated} AS authorised_by_stated,"
               f"\n           CASE WHEN {refuser} IS NOT NULL THEN 'refused'"
               f" WHEN {approver} IS NOT NULL THEN 'approved' END AS outcome,"
               f"\n           COALESCE({refuser}, {approver}) AS decided_by")
    return authorised_by, columns


def _last_event(value: str, event_type: str) -> str:
    """The last `event_type` event of the record whose `value` is not empty."""
    return (f"(SELECT {value} FROM audit_events e WHERE e.record_id = r.id"
            f" AND e.type = '{event_type}' AND {value} <> ''"
            " ORDER BY e.seq DESC LIMIT 1)")


# -- SQLite -------------------------------------------------------------------------

# CASE, not AND: SQLite does not promise to test json_valid first.
_SQLITE_REFUSER = "CASE WHEN json_valid(e.detail) THEN json_extract(e.detail, '$.by') END"


def _sqlite_view(m: ModuleType) -> str:
    return str(m._sqlite_view(*_decided(
        _last_event(m._SQLITE_APPROVER, "approved"),
        _last_event(_SQLITE_REFUSER, "rejected"),
        m._SQLITE_STATED,
    )))


# -- PostgreSQL ---------------------------------------------------------------------

_REFUSER_FUNCTION = """
    CREATE OR REPLACE FUNCTION audit_refuser(detail text) RETURNS text
    LANGUAGE plpgsql IMMUTABLE AS $$
    BEGIN
        RETURN NULLIF(detail::jsonb->>'by', '');
    EXCEPTION WHEN invalid_text_representation THEN
        RETURN NULL;  -- not JSON: edited outside the gateway, and verify says so
    END
    $$
"""


def _postgres_view(m: ModuleType) -> str:
    return str(m._postgres_view(*_decided(
        _last_event("audit_approver(e.detail)", "approved"),
        _last_event("audit_refuser(e.detail)", "rejected"),
        "d->>'authorised_by'",
    )))


def _grant_refuser() -> None:
    blocks = "".join(
        f"""
        IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{role}') THEN
            GRANT EXECUTE ON FUNCTION audit_refuser(text) TO {role};
        END IF;"""
        for role in ("gateway_app", "gateway_auditor")
    )
    op.execute(f"DO $$\nBEGIN{blocks}\nEND\n$$")


def upgrade() -> None:
    m = _migration_0011()
    postgres = op.get_bind().dialect.name == "postgresql"
    op.execute(f"DROP VIEW {VIEW}")
    if postgres:
        op.execute(_REFUSER_FUNCTION)
        op.execute(_postgres_view(m))
        m._grant(function=True)  # the view anew: read-only again, as 0011 grants it
        _grant_refuser()
    else:
        op.execute(_sqlite_view(m))


def downgrade() -> None:
    m = _migration_0011()
    postgres = op.get_bind().dialect.name == "postgresql"
    op.execute(f"DROP VIEW {VIEW}")
    if postgres:
        op.execute(m.POSTGRES_VIEW)
        op.execute("DROP FUNCTION IF EXISTS audit_refuser(text)")
        m._grant(function=True)
    else:
        op.execute(m.SQLITE_VIEW)
