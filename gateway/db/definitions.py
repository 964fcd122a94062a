"""The database objects the migrations made around the audit tables, as
they made them: the auditors' views, the gateway's SQL functions
(PostgreSQL) and the append-only triggers.

Auditors, the CLI's search and report and the console read the trail
through these.  The hash chain covers the rows, not them: a database owner
who re-creates `audit_records_v` with `WHERE verdict <> 'reject'`, or
redefines `audit_approver()` to name someone else, changes what everyone
reads without touching a hashed row.  `gateway audit verify` compares the
objects in the database with the text here, which is the migrations' own
(each builder is the migration's, loaded from its file), so the two cannot
drift apart: a migration that changes one of these objects must be added
here too, and the audit tests fail until it is.
"""

from __future__ import annotations

import importlib.util
from functools import cache
from pathlib import Path
from types import ModuleType

_VERSIONS = Path(__file__).with_name("migrations") / "versions"

# Tables the append-only triggers guard (0002's AUDIT_TABLES).
AUDIT_TABLES = ("audit_records", "audit_events", "audit_record_terms", "audit_checkpoints")


@cache
def _migration(stem: str) -> ModuleType:
    """A migration's module, loaded from its file (their names start with a digit)."""
    path = _VERSIONS / f"{stem}.py"
    spec = importlib.util.spec_from_file_location(f"gateway_definitions_{stem}", path)
    if spec is None or spec.loader is None:  # pragma: no cover - the file ships with us
        raise ImportError(f"migration {stem} not found")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def views(postgres: bool) -> dict[str, str]:
    """Each view's CREATE VIEW statement, as the last migration to make it ran it."""
    m8 = _migration("0008_audit_json_checked")
    m11 = _migration("0011_audit_approver_authorises")
    m14 = _migration("0014_audit_refusal_authorises_no_one")
    m16 = _migration("0016_audit_held_authorises_no_one_yet")
    m18 = _migration("0018_audit_recipient_listed_as")
    made_by_0008 = m8._postgres_views() if postgres else m8._sqlite_views()
    (events,) = (v for v in made_by_0008 if "CREATE VIEW audit_events_v " in v)
    records = (m16._postgres_view(m11, m14) if postgres else m16._sqlite_view(m11, m14))
    recipients = m18._with_listed_as(m18._view_0008(postgres), postgres)
    return {
        "audit_records_v": str(records),
        "audit_recipients_v": str(recipients),
        "audit_events_v": str(events),
    }


def functions() -> dict[str, str]:
    """PostgreSQL: each function's CREATE statement by its signature (0021's
    FUNCTIONS); 0021 then gave every one `search_path = pg_catalog, <the
    tables' schema>, pg_temp`."""
    return {
        "audit_append_only()": _migration("0002_audit_chain").APPEND_ONLY_FUNCTION,
        "audit_chain_head(bigint)": _migration("0005_audit_chain_head").FUNCTION,
        "audit_chain_link(bigint, bytea[])": _migration("0006_audit_chain_link").FUNCTION,
        "audit_approver(text)": _migration("0011_audit_approver_authorises")._APPROVER_FUNCTION,
        "audit_refuser(text)": _migration("0014_audit_refusal_authorises_no_one")
        ._REFUSER_FUNCTION,
        "audit_event_recipient(text)": _migration("0012_audit_event_recipient")._FUNCTION,
        "audit_cut_needs_purge_rights()": _migration("0013_audit_cut_needs_purge_rights")
        ._FUNCTION,
    }


def postgres_triggers() -> dict[tuple[str, str], str]:
    """PostgreSQL: (table, trigger) -> the function it runs."""
    made = {(t, f"{t}_append_only"): "audit_append_only" for t in AUDIT_TABLES}
    made[("audit_checkpoints", "audit_checkpoints_cut_rights")] = "audit_cut_needs_purge_rights"
    return made


def sqlite_triggers() -> dict[str, str]:
    """SQLite: each append-only trigger's CREATE TRIGGER statement (0002's)."""
    return dict(_migration("0002_audit_chain").sqlite_trigger_statements())
