"""The SQLite file's own settings: WAL, full sync, the page size of a new file."""

from __future__ import annotations

import asyncio
import os
import sqlite3
from pathlib import Path

from sqlalchemy import text

from gateway.db.engine import (
    PAGE_SIZE,
    WRITER_CACHE_KIB,
    create_engine,
    create_sqlite_writer_engine,
)
from gateway.db.migrate import upgrade


async def _pragmas(url: str) -> dict[str, object]:
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("CREATE TABLE IF NOT EXISTS t (x BLOB)"))
            found = {}
            for name in ("page_size", "journal_mode", "synchronous"):
                found[name] = (await conn.execute(text(f"PRAGMA {name}"))).scalar()
            return found
    finally:
        await engine.dispose()


async def test_a_new_file_gets_the_page_size_wal_and_full_sync(tmp_path: Path) -> None:
    found = await _pragmas(f"sqlite+aiosqlite:///{tmp_path / 'new.db'}")
    assert PAGE_SIZE != 4096
    assert found == {"page_size": PAGE_SIZE, "journal_mode": "wal", "synchronous": 2}


async def test_an_existing_file_keeps_its_page_size(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as old:
        old.execute("PRAGMA page_size=4096")
        old.execute("CREATE TABLE t (x BLOB)")
        old.execute("INSERT INTO t VALUES (x'00')")
    found = await _pragmas(f"sqlite+aiosqlite:///{path}")
    assert found["page_size"] == 4096 and found["journal_mode"] == "wal"


async def test_cleared_content_is_overwritten_in_the_file(tmp_path: Path) -> None:
    """Secure delete on whatever SQLite build: the bytes of content cleared
    after delivery are gone from the database file once checkpointed."""
    path = tmp_path / "cleared.db"
    marker = b"NHS-LIKE-MARKER-" + bytes(range(48, 58)) * 3
    engine = create_engine(f"sqlite+aiosqlite:///{path}")
    try:
        async with engine.begin() as conn:
            assert (await conn.execute(text("PRAGMA secure_delete"))).scalar() == 1
            await conn.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, content BLOB)"))
            await conn.execute(text("INSERT INTO t VALUES (1, :c)"), {"c": marker * 2000})
        async with engine.begin() as conn:
            await conn.execute(text("UPDATE t SET content = x'' WHERE id = 1"))
        async with engine.connect() as conn:
            await conn.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
    finally:
        await engine.dispose()
    assert marker not in path.read_bytes()


async def test_the_writer_has_a_page_cache_for_a_batch_of_large_messages(tmp_path: Path) -> None:
    """The writer's connection holds a batch's dirty pages in its cache (no
    spill to the WAL mid-transaction); other connections keep SQLite's default."""
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'cache.db'}")
    writer = create_sqlite_writer_engine(engine)
    try:
        with writer.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA cache_size").scalar() == -WRITER_CACHE_KIB
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2
        assert WRITER_CACHE_KIB * 1024 >= 100 * 200 * 1024
        async with engine.connect() as conn:
            assert (await conn.execute(text("PRAGMA cache_size"))).scalar() == -2000
    finally:
        writer.dispose()
        await engine.dispose()


async def test_a_database_made_by_the_upgrade_is_its_owner_s_alone(tmp_path: Path) -> None:
    """Queued mail and the audit trail: a new file is 0600 in a new folder
    of 0700, and SQLite's -wal and -shm take the file's mode, whatever the
    umask (a shell's 022 made them 0644, read by every account)."""
    path = tmp_path / "state" / "gateway.db"
    url = f"sqlite+aiosqlite:///{path}"
    old = os.umask(0o022)
    try:
        await asyncio.to_thread(upgrade, url)
        engine = create_engine(url)
        try:
            async with engine.begin() as conn:  # opens the WAL, and keeps it open
                await conn.execute(text("CREATE TABLE IF NOT EXISTS t (x BLOB)"))
                await conn.execute(text("INSERT INTO t VALUES (x'00')"))
                modes = {p.name: p.stat().st_mode & 0o777 for p in path.parent.iterdir()}
        finally:
            await engine.dispose()
    finally:
        os.umask(old)
    assert path.parent.stat().st_mode & 0o777 == 0o700
    assert modes == {"gateway.db": 0o600, "gateway.db-wal": 0o600, "gateway.db-shm": 0o600}
