"""`gateway serve` refuses to start on a schema older than its code.

Code newer than the schema would fail at its first use of what a migration
adds (migration 0005's function, for one): every message answered 451 until
somebody read the logs.  The start-up check says so at once, with the
command that fixes it.  A schema newer than the code (another replica ran
the migrations first) and a database that cannot be reached (the queue
answers 451 then, and /readyz says why) do not stop the start.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from alembic import command
from alembic.script import ScriptDirectory
from gwtest import run_cli, write_config
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from gateway.db import create_engine
from gateway.db.migrate import MIGRATIONS, alembic_config
from gateway.db.schema_check import schema_problem
from gateway.errors import ConfigError

HEAD = ScriptDirectory(str(MIGRATIONS)).get_current_head()
PREVIOUS = "0004"


async def _downgrade(url: str, revision: str) -> None:
    # Alembic's env.py runs its own event loop: in a thread of its own.
    await asyncio.to_thread(command.downgrade, alembic_config(url), revision)


async def test_a_migrated_database_passes(db_url: str) -> None:
    engine = create_engine(db_url)
    try:
        assert await schema_problem(engine) is None
    finally:
        await engine.dispose()


async def test_a_gateway_on_an_older_schema_refuses_to_start(db_url: str, gateway_factory) -> None:
    assert HEAD != PREVIOUS
    await _downgrade(db_url, PREVIOUS)
    with pytest.raises(ConfigError) as refused:
        await gateway_factory()
    (problem,) = refused.value.problems
    assert f"at revision {PREVIOUS}" in problem and f"needs {HEAD}" in problem
    assert "gateway db upgrade" in problem


async def test_serve_on_an_older_schema_exits_75_naming_the_fix(
    db_url: str, tmp_path: Path, gateway_config
) -> None:
    await _downgrade(db_url, PREVIOUS)
    config = write_config(tmp_path / "serve.toml", gateway_config())
    refused = await asyncio.to_thread(run_cli, "serve", config=config, timeout=60)
    assert refused.returncode == 75  # the database cannot be used as it is
    assert "error: the database's schema is at revision 0004" in refused.stderr
    assert "run `gateway db upgrade`" in refused.stderr
    assert "Traceback" not in refused.stderr
    upgraded = await asyncio.to_thread(run_cli, "db", "upgrade", config=config)
    assert upgraded.returncode == 0, upgraded.stderr


async def test_an_empty_database_is_refused_with_the_command_to_run(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}")
    try:
        problem = await schema_problem(engine)
    finally:
        await engine.dispose()
    assert problem is not None and "no gateway schema" in problem
    assert "gateway db upgrade" in problem


async def test_a_schema_newer_than_the_code_is_allowed(db_url: str) -> None:
    """Another replica, already upgraded, ran a migration this code does not know."""
    engine = create_engine(db_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("UPDATE alembic_version SET version_num = 'f00d'"))
        assert await schema_problem(engine) is None
    finally:
        await engine.dispose()


async def test_an_unreachable_database_does_not_stop_the_check() -> None:
    engine = create_engine("postgresql+asyncpg://postgres@127.0.0.1:9/nowhere")
    try:
        assert await asyncio.wait_for(schema_problem(engine), 30) is None
    finally:
        await engine.dispose()


async def test_a_migration_that_cannot_take_its_lock_fails_and_changes_nothing(
    db_url: str, monkeypatch
) -> None:
    """`gateway db upgrade` while a replica's transaction holds a table the
    migration must alter: it waits for the lock as long as any statement
    of the gateway (gateway.db.engine.LOCK_WAIT), then fails, leaving the
    schema as it was.  Without a bound on PostgreSQL, the migration waited
    for ever, and every query of every replica queued behind it."""
    from gateway.db import engine as engine_module
    from gateway.db.migrate import MigrationFailed, upgrade

    monkeypatch.setattr(engine_module, "LOCK_WAIT", 0.5)
    await _downgrade(db_url, "0009")  # 0010 drops an index of receipt_requests
    holder = create_engine(db_url)
    try:
        async with holder.connect() as conn:
            if db_url.startswith("sqlite"):
                await conn.exec_driver_sql("BEGIN IMMEDIATE")
            else:
                await conn.begin()
            await conn.execute(text("SELECT count(*) FROM receipt_requests"))
            with pytest.raises(MigrationFailed) as refused:
                await asyncio.wait_for(asyncio.to_thread(upgrade, db_url), 20)
            assert refused.value.revision == "0010"
            cause = refused.value.__cause__
            assert isinstance(cause, DBAPIError)
            assert "lock timeout" in str(cause) or "database is locked" in str(cause), cause
            await conn.rollback()
        async with holder.connect() as conn:
            version = (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalar()
        assert version == "0009"
        await asyncio.to_thread(upgrade, db_url)
        assert await schema_problem(holder) is None
    finally:
        await holder.dispose()
