"""`gateway db upgrade`: apply Alembic migrations to the configured database.

Alembic's commands are synchronous and its env.py runs its own event loop,
so `upgrade` must be called outside a running loop (the CLI does; tests call
it from a thread).

The start-up check of `gateway serve` is in `gateway.db.schema_check`,
which does not import Alembic.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import inspect, text
from sqlalchemy.ext.asyncio import create_async_engine

from gateway.settings import sqlite_path

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


def upgrade(url: str, revision: str = "head") -> tuple[str | None, str | None]:
    """Apply the migrations up to `revision`: the schema's revision before
    and after (None: no gateway schema), for the administrator to be told
    what changed."""
    prepare_sqlite_file(url)
    before = asyncio.run(current_revision(url))
    command.upgrade(alembic_config(url), revision)
    return before, asyncio.run(current_revision(url))


async def current_revision(url: str) -> str | None:
    """The revision alembic_version records, or None without one."""
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            if not await conn.run_sync(lambda c: inspect(c).has_table("alembic_version")):
                return None
            found = (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalars()
            return ",".join(sorted(found)) or None
    finally:
        await engine.dispose()
