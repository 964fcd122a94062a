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
import shutil
from collections.abc import Callable
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import inspect, text
from sqlalchemy.ext.asyncio import create_async_engine

from gateway.db.schema_check import REVISIONS
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


# The migrations that copy a table on SQLite, and the free space each needs
# beside the database, as a multiple of the database's size (its file and
# its write-ahead log).  0017 copies every queued message's content into
# queue_contents and then drops the old column, which SQLite does by
# writing the whole table again: about twice the database at its peak.
COPIES_ON_SQLITE: dict[str, float] = {"0017": 2.0}

_MB = 1024 * 1024


class MigrationFailed(Exception):
    """A migration failed; each migration is one transaction, so the
    database is left at `at`, the revision before `revision`.  The
    database's own error is the `__cause__`."""

    def __init__(self, revision: str, at: str | None) -> None:
        self.revision = revision
        self.at = at
        super().__init__(f"migration {revision} failed")


class NotEnoughSpace(Exception):
    """The disk holding an SQLite database has too little room for a
    migration that copies a table (COPIES_ON_SQLITE)."""


def space_needed(url: str, before: str | None) -> tuple[str, int] | None:
    """(the first migration still to run that copies a table on SQLite, the
    bytes it needs free), or None when none is to run."""
    path = sqlite_path(url)
    if path is None or not path.exists():
        return None
    pending = REVISIONS[REVISIONS.index(before) + 1:] if before in REVISIONS else REVISIONS
    wal = Path(f"{path}-wal")
    size = path.stat().st_size + (wal.stat().st_size if wal.exists() else 0)
    for revision in pending:
        if revision in COPIES_ON_SQLITE:
            return revision, int(size * COPIES_ON_SQLITE[revision])
    return None


def megabytes(size: int) -> int:
    """`size` in whole megabytes, rounded up (a need is never understated)."""
    return max(1, -(-size // _MB))


def check_space(url: str, before: str | None) -> None:
    """NotEnoughSpace when a migration still to run copies a table and the
    disk holding the database has less room than it needs: refused before
    anything runs, rather than failing half-way for want of it."""
    needed = space_needed(url, before)
    path = sqlite_path(url)
    if needed is None or path is None:
        return
    revision, size = needed
    free = shutil.disk_usage(path.absolute().parent).free
    if free < size:
        raise NotEnoughSpace(
            f"the disk holding the database has {free // _MB} MB free; migration {revision} "
            f"copies a table and needs about {megabytes(size)} MB free: make room "
            f"(or move the database to a larger disk), then run `gateway db upgrade` again"
        )


def upgrade(url: str, revision: str = "head",
            starting: Callable[[str | None], None] | None = None) -> tuple[str | None, str | None]:
    """Apply the migrations up to `revision`: the schema's revision before
    and after (None: no gateway schema), for the administrator to be told
    what changed.

    NotEnoughSpace before anything runs (SQLite, COPIES_ON_SQLITE);
    MigrationFailed, the database's error its cause, when a migration
    failed and the database could still be read to say where it stands.
    `starting` is told the revision before, once the migrations may run."""
    prepare_sqlite_file(url)
    before = asyncio.run(current_revision(url))
    check_space(url, before)
    if starting is not None:
        starting(before)
    try:
        command.upgrade(alembic_config(url), revision)
    except Exception as exc:
        failed, at = _where_it_stopped(url)
        if failed is None:
            raise  # the database cannot be read: its own error says why
        raise MigrationFailed(failed, at) from exc
    return before, asyncio.run(current_revision(url))


def _where_it_stopped(url: str) -> tuple[str | None, str | None]:
    """(the migration that failed, the revision the database is at), read
    after a failed upgrade; (None, None) when the database cannot be read
    or is at no revision this code knows."""
    try:
        at = asyncio.run(current_revision(url))
    except Exception:
        return None, None
    if at is None:
        return REVISIONS[0], None
    if at not in REVISIONS or at == REVISIONS[-1]:
        return None, None
    return REVISIONS[REVISIONS.index(at) + 1], at


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
