"""The start-up check of `gateway serve`: is the database's schema the one
this code was written for, and may this code run on it?

Code newer than the database's schema would fail at its first use of what a
migration adds (a table, a function), so every message would be answered
451 until someone read the logs.  Refusing to start, with the command that
fixes it, says so at once.  A schema newer than the code is allowed, with a
warning (in a rolling upgrade the migration runs first and the older
replicas keep running until they are replaced), unless the database says
it needs code that knows a revision this code does not: schema_requires_code
(migration 0020) names the last migration that removed what older code
uses.  Then this code refuses to start, and its /readyz fails.

The revisions are listed here rather than read from Alembic's scripts: a
serving process that imported Alembic (and Mako and Pygments with it) and
loaded every migration would hold about 10 MB more for its whole life, a
third of what the 25 MB memory test leaves under its bound.  A unit test
holds the list to Alembic's own (`tests/unit/db/test_revisions.py`).
"""

from __future__ import annotations

from typing import Any

import structlog
from sqlalchemy import inspect, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

log = structlog.get_logger(__name__)

# Every migration under gateway/db/migrations/versions, oldest first.
REVISIONS: tuple[str, ...] = (
    "0001", "0002", "0003", "0004", "0005", "0006", "0007",
    "0008", "0009", "0010", "0011", "0012", "0013", "0014", "0015", "0016", "0017",
    "0018", "0019", "0020", "0021",
)
HEAD = REVISIONS[-1]

# The migrations after which the code from before them no longer works on
# the database (they drop or rename what it uses), oldest first: 0017
# dropped queue_messages.content.  `gateway db upgrade` warns of crossing
# one; its migration sets schema_requires_code to it.
BREAKS_OLDER_CODE: tuple[str, ...] = ("0017",)


def breaking_crossed(before: str | None, after: str | None) -> str | None:
    """The last migration of BREAKS_OLDER_CODE an upgrade from `before` to
    `after` applied, or None (none, or a new database no gateway used)."""
    if before is None or before not in REVISIONS or after not in REVISIONS:
        return None
    applied = REVISIONS[REVISIONS.index(before) + 1:REVISIONS.index(after) + 1]
    crossed = [revision for revision in BREAKS_OLDER_CODE if revision in applied]
    return crossed[-1] if crossed else None


async def required_unknown(conn: AsyncConnection) -> list[str]:
    """The revisions the database requires its code to know
    (schema_requires_code) that this code does not; empty when it may run
    on it (also on a schema from before 0020, which says nothing)."""
    if not await conn.run_sync(lambda c: inspect(c).has_table("schema_requires_code")):
        return []
    required = set((await conn.execute(text("SELECT revision FROM schema_requires_code"))).scalars())
    return sorted(required - set(REVISIONS))


async def code_too_old(conn: AsyncConnection) -> str | None:
    """Why this code must not run on the database `conn` reads (it needs a
    gateway that knows a revision this one does not), or None."""
    unknown = await required_unknown(conn)
    if not unknown:
        return None
    return (f"the database needs a newer gateway: its schema requires code that knows "
            f"revision {', '.join(unknown)}, and this gateway knows revisions up to {HEAD}: "
            "run the gateway's newer release on it (this one would fail on what the newer "
            "migrations changed)")


async def schema_problem(engine: AsyncEngine) -> str | None:
    """Why this code cannot run on the database's schema, or None.

    None too when the database cannot be reached: that is the queue's to
    report (451 to clients, /readyz), not a reason to refuse to start."""
    try:
        async with engine.connect() as conn:
            if not await conn.run_sync(lambda c: inspect(c).has_table("alembic_version")):
                return ("the database has no gateway schema: run `gateway db upgrade` "
                        "with this configuration first")
            found = set((await conn.execute(
                text("SELECT version_num FROM alembic_version"))).scalars())
            too_old = None if HEAD in found else await code_too_old(conn)
    except (SQLAlchemyError, OSError) as exc:
        log.warning("database_schema_not_checked", error=type(exc).__name__)
        return None
    if HEAD in found:
        return None
    if too_old is not None:
        return too_old
    if found and not found <= set(REVISIONS):
        log.warning("database_schema_newer", revision=",".join(sorted(found)), code_head=HEAD)
        return None
    at = ", ".join(sorted(found)) or "none"
    return (f"the database's schema is at revision {at}; this gateway needs {HEAD}: "
            "run `gateway db upgrade` with this configuration, then start it again")


def check_on_connect(dbapi_connection: Any, dialect_name: str) -> str | None:
    """schema_problem's answer, asked on a raw DBAPI connection as it is
    made (a pool's `first_connect` event, where the commands' engines ask
    it), so every command refuses a schema it was not written for before
    its first statement, as `serve` does."""
    cursor = dbapi_connection.cursor()
    try:
        def table(name: str) -> bool:
            if dialect_name == "postgresql":
                cursor.execute(f"SELECT to_regclass('{name}') IS NOT NULL")
            else:
                cursor.execute(f"SELECT count(*) > 0 FROM sqlite_master WHERE type = 'table' "
                               f"AND name = '{name}'")
            return bool(cursor.fetchone()[0])

        if not table("alembic_version"):
            return ("the database has no gateway schema: run `gateway db upgrade` "
                    "with this configuration first")
        try:
            cursor.execute("SELECT version_num FROM alembic_version")
        except Exception:
            # A role that may not read it (gateway_auditor on PostgreSQL):
            # its command's own statements say what it may do.
            return None
        found = {row[0] for row in cursor.fetchall()}
        required: set[str] = set()
        if HEAD not in found and table("schema_requires_code"):
            cursor.execute("SELECT revision FROM schema_requires_code")
            required = {row[0] for row in cursor.fetchall()}
    finally:
        cursor.close()
        dbapi_connection.rollback()
    return _verdict(found, sorted(required - set(REVISIONS)))


def _verdict(found: set[str], unknown: list[str]) -> str | None:
    if HEAD in found:
        return None
    if unknown:
        return (f"the database needs a newer gateway: its schema requires code that knows "
                f"revision {', '.join(unknown)}, and this gateway knows revisions up to {HEAD}: "
                "run the gateway's newer release on it (this one would fail on what the newer "
                "migrations changed)")
    if found and not found <= set(REVISIONS):
        log.warning("database_schema_newer", revision=",".join(sorted(found)), code_head=HEAD)
        return None
    at = ", ".join(sorted(found)) or "none"
    return (f"the database's schema is at revision {at}; this gateway needs {HEAD}: "
            "run `gateway db upgrade` with this configuration, then start it again")
