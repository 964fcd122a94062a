"""The start-up check of `gateway serve`: is the database's schema the one
this code was written for?

Code newer than the database's schema would fail at its first use of what a
migration adds (a table, a function), so every message would be answered
451 until someone read the logs.  Refusing to start, with the command that
fixes it, says so at once.  A schema newer than the code is allowed, with a
warning: in a rolling upgrade the migration runs first and the older
replicas keep running until they are replaced.

The revisions are listed here rather than read from Alembic's scripts: a
serving process that imported Alembic (and Mako and Pygments with it) and
loaded every migration would hold about 10 MB more for its whole life, a
third of what the 25 MB memory test leaves under its bound.  A unit test
holds the list to Alembic's own (`tests/unit/db/test_revisions.py`).
"""

from __future__ import annotations

import structlog
from sqlalchemy import inspect, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

log = structlog.get_logger(__name__)

# Every migration under gateway/db/migrations/versions, oldest first.
REVISIONS: tuple[str, ...] = (
    "0001", "0002", "0003", "0004", "0005", "0006", "0007",
    "0008", "0009", "0010", "0011", "0012", "0013", "0014", "0015", "0016", "0017",
    "0018", "0019",
)
HEAD = REVISIONS[-1]


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
    except (SQLAlchemyError, OSError) as exc:
        log.warning("database_schema_not_checked", error=type(exc).__name__)
        return None
    if HEAD in found:
        return None
    if found and not found <= set(REVISIONS):
        log.warning("database_schema_newer", revision=",".join(sorted(found)), code_head=HEAD)
        return None
    at = ", ".join(sorted(found)) or "none"
    return (f"the database's schema is at revision {at}; this gateway needs {HEAD}: "
            "run `gateway db upgrade` with this configuration, then start it again")
