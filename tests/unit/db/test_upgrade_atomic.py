"""A migration that fails leaves the database exactly at the revision
before it, and the next `gateway db upgrade` runs it again from its start.

On SQLite each CREATE, DROP and ALTER committed on its own (Python's sqlite3
opens a transaction only before an INSERT, UPDATE or DELETE): a disk that
filled during 0017's copy left queue_contents made under revision 0016, and
every later upgrade failed on "table queue_contents already exists".  The
error said to check [database] url and that the server runs.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from gwtest import write_config
from sqlalchemy import inspect, text

from gateway.cli import main
from gateway.db import create_engine
from gateway.db import engine as engine_module
from gateway.db import migrate as migrate_module
from gateway.db.migrate import MigrationFailed, alembic_config, current_revision, upgrade
from gateway.db.schema_check import HEAD


def _run(url: str, sql: str) -> None:
    async def go() -> None:
        engine = create_engine(url)
        try:
            async with engine.begin() as conn:
                await conn.exec_driver_sql(sql)
        finally:
            await engine.dispose()

    asyncio.run(go())


def _has_table(url: str, name: str) -> bool:
    async def go() -> bool:
        engine = create_engine(url)
        try:
            async with engine.connect() as conn:
                return bool(await conn.run_sync(lambda c: inspect(c).has_table(name)))
        finally:
            await engine.dispose()

    return asyncio.run(go())


def _queue_some_mail(url: str, count: int, size: int) -> None:
    """Queued messages as 0016 kept them, content in queue_messages."""
    async def go() -> None:
        engine = create_engine(url)
        try:
            async with engine.begin() as conn:
                for n in range(count):
                    await conn.execute(text(
                        "INSERT INTO queue_messages (id, created_at, mail_from, envelope, content, "
                        "size, state, attempts, next_attempt_at, updated_at) VALUES "
                        "(:id, 0, 'sender@example.org', '[]', :content, :size, 'queued', 0, 0, 0)"),
                        {"id": f"q{n:031d}", "content": os.urandom(size), "size": size})
        finally:
            await engine.dispose()

    asyncio.run(go())


def test_a_migration_failing_half_way_leaves_the_previous_revision(db_url: str) -> None:
    """A fault in 0017's last statement (a view of the column it drops, which
    DROP COLUMN refuses on both databases) after its table was made and
    filled: the database stays at 0016 without queue_contents, and once the
    fault is gone the upgrade runs to the end."""
    command.downgrade(alembic_config(db_url), "0016")
    _queue_some_mail(db_url, 3, 1000)
    _run(db_url, "CREATE VIEW fault_injected AS SELECT id, content FROM queue_messages")
    with pytest.raises(MigrationFailed) as failed:
        upgrade(db_url)
    assert (failed.value.revision, failed.value.at) == ("0017", "0016")
    assert asyncio.run(current_revision(db_url)) == "0016"
    assert not _has_table(db_url, "queue_contents")

    _run(db_url, "DROP VIEW fault_injected")
    assert upgrade(db_url) == ("0016", HEAD)
    assert _has_table(db_url, "queue_contents")


def _small_disk(monkeypatch: pytest.MonkeyPatch, spare_pages: int) -> None:
    """Fault injection: every SQLite connection of the migrations may grow
    its file by `spare_pages` pages at most, then fails "database or disk
    is full", as a full disk makes it."""
    pragmas = engine_module._sqlite_pragmas

    def full_soon(dbapi_connection: Any, record: Any) -> None:
        pragmas(dbapi_connection, record)
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA page_count")
        (pages,) = cursor.fetchone()
        cursor.execute(f"PRAGMA max_page_count={pages + spare_pages}")
        cursor.close()

    monkeypatch.setattr(engine_module, "_sqlite_pragmas", full_soon)


def test_a_full_disk_during_0017_is_said_and_a_second_upgrade_finishes(
    sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    command.downgrade(alembic_config(sqlite_url), "0016")
    _queue_some_mail(sqlite_url, 40, 64 * 1024)
    path = Path(sqlite_url.split("///", 1)[1])
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    config = write_config(tmp_path / "gw.toml", {"database": {"url": sqlite_url}})
    (tmp_path / "recipients.csv").write_text(
        "address,name,job_title,department,organisation,telephone,secure_route\n",
        encoding="utf-8",
    )

    _small_disk(monkeypatch, spare_pages=40)
    assert main(["db", "upgrade", "--config", str(config)]) == 75
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert error.startswith("error: migration 0017 failed: the disk holding the database is "
                            "full; migration 0017 needs about "), error
    assert "MB free (the database is still at revision 0016)" in error
    assert "server is running" not in error
    assert "Traceback" not in error
    assert asyncio.run(current_revision(sqlite_url)) == "0016"
    assert not _has_table(sqlite_url, "queue_contents")

    monkeypatch.undo()
    assert main(["db", "upgrade", "--config", str(config)]) == 0, capsys.readouterr().err
    assert asyncio.run(current_revision(sqlite_url)) == HEAD
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT count(*) FROM queue_contents").fetchone() == (40,)


def test_too_little_room_for_0017_is_refused_before_anything_runs(
    sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    command.downgrade(alembic_config(sqlite_url), "0015")
    config = write_config(tmp_path / "gw.toml", {"database": {"url": sqlite_url}})
    (tmp_path / "recipients.csv").write_text(
        "address,name,job_title,department,organisation,telephone,secure_route\n",
        encoding="utf-8",
    )
    usage = shutil.disk_usage(tmp_path)
    # Fault injection: a disk with 100 bytes left.
    monkeypatch.setattr(migrate_module.shutil, "disk_usage",
                        lambda _path: usage._replace(free=100))
    assert main(["db", "upgrade", "--config", str(config)]) == 75
    error = capsys.readouterr().err.strip()
    assert error.startswith("error: the disk holding the database has 0 MB free; migration "
                            "0017 copies a table and needs about "), error
    assert asyncio.run(current_revision(sqlite_url)) == "0015"  # not even 0016 ran
