"""Alembic environment: runs migrations over the async engine."""

from __future__ import annotations

import asyncio
from typing import Any

from alembic import context
from sqlalchemy import event
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

# Imported for their side effect: they add held_passwords and
# receipt_requests to the metadata.
import gateway.passwords.schema
import gateway.receipts.schema  # noqa: F401
from gateway.db.engine import create_engine
from gateway.db.schema import metadata

config = context.config


def _run(connection: Connection) -> None:
    sqlite = connection.dialect.name == "sqlite"
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=sqlite,
        # Each migration and its alembic_version update commit together or
        # not at all: one that fails (a full disk half-way through 0017's
        # copy, a lock not granted, a kill) leaves the database exactly at
        # the revision before it, and the next `gateway db upgrade` runs it
        # again from its start.  On SQLite this needs _atomic_sqlite too.
        transaction_per_migration=True,
        transactional_ddl=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def _atomic_sqlite(engine: AsyncEngine) -> None:
    """SQLAlchemy's recipe for SQLite transactions that hold DDL too.

    Python's sqlite3 module opens a transaction only before an INSERT,
    UPDATE or DELETE, so each CREATE, DROP and ALTER of a migration
    committed on its own: a migration that failed after its first statement
    left its table or index behind, under the previous revision, and every
    later upgrade failed on "already exists".  Here the driver opens
    nothing itself and SQLAlchemy's own transaction begins with BEGIN
    IMMEDIATE (the write lock at once, waiting for it as any writer does).
    For the migrations' engine only: the gateway's own connections keep the
    driver's behaviour, which its writer is built around."""
    @event.listens_for(engine.sync_engine, "connect")
    def _driver_opens_nothing(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None

    @event.listens_for(engine.sync_engine, "begin")
    def _begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


async def _main() -> None:
    engine = create_engine(config.get_main_option("sqlalchemy.url") or "")
    if engine.dialect.name == "sqlite":
        _atomic_sqlite(engine)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run)
            await connection.commit()
    finally:
        # Also after a failed migration (a lock not granted): a pooled
        # SQLite connection left open outlives this event loop, and its
        # worker thread later fails posting to the closed loop.
        await engine.dispose()


if context.is_offline_mode():
    context.configure(url=config.get_main_option("sqlalchemy.url"), target_metadata=metadata)
    with context.begin_transaction():
        context.run_migrations()
else:
    asyncio.run(_main())
