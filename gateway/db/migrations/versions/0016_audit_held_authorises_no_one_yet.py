"""audit held authorises no one yet: audit_records_v's authorised_by waits for the approver

Revision ID: 0016
Revises: 0015

A held message is held because what it said about its authoriser
(X-Authorised-By, an `Authorised by:` line) is not enough: it needs an
approver.  Until one approves it, nobody has authorised it.  The CLI, the
exports and the console give such a record an empty `authorised_by`
(gateway.audit.query.authoriser); the view, as 0014 made it, still showed
what the message had said, so an auditor counting "authorised_by is not
empty" counted an unsent, unauthorised disclosure as authorised.

audit_records_v's `authorised_by` is now NULL for a record of verdict
'hold' with no `approved` event and no refusal, as it is for a refusal
(0014); `authorised_by_stated` keeps what the message said.  A held
message with an `approved` event keeps 0011's rule (the approver, else
what the message said when the approval's detail cannot be read: the CLI
says the same).  Every column keeps its name and place; 0011's and 0014's
view builders make the rest, so the migrations cannot drift apart.  The
`approved` probe uses the index on (record_id, type), as 0011's does.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

VIEW = "audit_records_v"

# Held, and no approver has approved it (an `approved` event is always a row
# of audit_events: the message is decided after its record is written).
_AWAITING = ("r.verdict = 'hold' AND NOT EXISTS (SELECT 1 FROM audit_events e"
             " WHERE e.record_id = r.id AND e.type = 'approved')")


def _migration(name: str) -> ModuleType:
    """An earlier migration's module (its view builders)."""
    path = Path(__file__).with_name(name)
    spec = importlib.util.spec_from_file_location(f"gateway_migration_{path.stem}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _awaiting_no_one(decided: tuple[str, str]) -> tuple[str, str]:
    """0014's (authorised_by, columns) with no authoriser while awaiting one."""
    authorised_by, columns = decided
    return f"CASE WHEN {_AWAITING} THEN NULL ELSE {authorised_by} END", columns


def _sqlite_view(m11: ModuleType, m14: ModuleType) -> str:
    return str(m11._sqlite_view(*_awaiting_no_one(m14._decided(
        m14._last_event(m11._SQLITE_APPROVER, "approved"),
        m14._last_event(m14._SQLITE_REFUSER, "rejected"),
        m11._SQLITE_STATED,
    ))))


def _postgres_view(m11: ModuleType, m14: ModuleType) -> str:
    return str(m11._postgres_view(*_awaiting_no_one(m14._decided(
        m14._last_event("audit_approver(e.detail)", "approved"),
        m14._last_event("audit_refuser(e.detail)", "rejected"),
        "d->>'authorised_by'",
    ))))


def _replace_view(build: str) -> None:
    m11 = _migration("0011_audit_approver_authorises.py")
    m14 = _migration("0014_audit_refusal_authorises_no_one.py")
    postgres = op.get_bind().dialect.name == "postgresql"
    op.execute(f"DROP VIEW {VIEW}")
    if postgres:
        op.execute(_postgres_view(m11, m14) if build == "0016" else m14._postgres_view(m11))
        # The view made anew has lost its grants: read-only again, as 0014
        # grants it (the functions' grants are theirs and stay).
        m11._grant(function=True)
        m14._grant_refuser()
    else:
        op.execute(_sqlite_view(m11, m14) if build == "0016" else m14._sqlite_view(m11))


def upgrade() -> None:
    _replace_view("0016")


def downgrade() -> None:
    _replace_view("0014")
