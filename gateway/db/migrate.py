"""`gateway db upgrade`: apply Alembic migrations to the configured database.

Alembic's commands are synchronous and its env.py runs its own event loop,
so `upgrade` must be called outside a running loop (the CLI does; tests call
it from a thread).

`schema_problem` is the start-up check of `gateway serve`: code newer than
the database's schema would fail at its first use of what a migration adds
(a table, a function), so every message would be answered 451 until someone
read the logs.  Refusing to start, with the command that fixes it, says so
at once.  A schema newer than the code is allowed, with a warning: in a
rolling upgrade the migration runs first and the older replicas keep
running until they are replaced.
"""

from __future__ import annotations

import contextlib
import os
from functools import cache
from pathlib import Path

import structlog
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.settings import sqlite_path

log = structlog.get_logger(__name__)

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def prepare_sqlite_file(url: str) -> None:
    """SQLite creates the file but not its folder (e.g. var/), and creates
    it with the umask's mode, often 0644: readable by every account, with
    queued mail and the audit trail in it.  A folder made here is 0700 and
    a file 0600; SQLite gives its -wal and -shm files the file's mode.  An
    existing file is left as it is (`gateway check-config` warns of one
    others can read)."""
    path = sqlite_path(url)
    if path is None or path.exists():
        return
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


def upgrade(url: str, revision: str = "head") -> None:
    prepare_sqlite_file(url)
    command.upgrade(alembic_config(url), revision)


@cache
def _script() -> ScriptDirectory:
    return ScriptDirectory(str(MIGRATIONS))


async def schema_problem(engine: AsyncEngine) -> str | None:
    """Why this code cannot run on the database's schema, or None.

    None too when the database cannot be reached: that is the queue's to
    report (451 to clients, /readyz), not a reason to refuse to start."""
    script = _script()
    head = script.get_current_head()
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
    if head in found:
        return None
    known = {revision.revision for revision in script.walk_revisions()}
    if found and not found <= known:
        log.warning("database_schema_newer", revision=",".join(sorted(found)), code_head=head)
        return None
    at = ", ".join(sorted(found)) or "none"
    return (f"the database's schema is at revision {at}; this gateway needs {head}: "
            "run `gateway db upgrade` with this configuration, then start it again")
