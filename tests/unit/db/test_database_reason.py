"""What a failed write's log line says of the database's reason: a full
disk is "database or disk is full", not only "OperationalError" (a black-box
mail administrator filled the disk and the log said no more than that),
and never a value a PostgreSQL message may quote."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import create_engine as create_sync_engine
from sqlalchemy import event, text
from sqlalchemy.exc import OperationalError

from gateway.db import create_engine
from gateway.db.engine import database_reason


def test_a_full_sqlite_database_says_so(tmp_path: Path) -> None:
    engine = create_sync_engine(f"sqlite:///{tmp_path / 'full.db'}")

    @event.listens_for(engine, "connect")
    def _small(dbapi_connection, _record):  # type: ignore[no-untyped-def]
        # SQLite's own limit on the file's pages: what a full disk gives.
        dbapi_connection.execute("PRAGMA max_page_count = 8")

    with pytest.raises(OperationalError) as failed, engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (x BLOB)"))
        conn.execute(text("INSERT INTO t VALUES (zeroblob(1000000))"))
    assert database_reason(failed.value) == "database or disk is full"
    engine.dispose()


def test_an_os_error_gives_its_words() -> None:
    assert database_reason(OSError(28, "No space left on device")) == "No space left on device"
    assert database_reason(ValueError("x")) is None


@pytest.mark.postgres
async def test_postgresql_gives_the_condition_not_the_message(db_url: str) -> None:
    if not db_url.startswith("postgresql"):
        pytest.skip("PostgreSQL's conditions")
    engine = create_engine(db_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("CREATE TEMP TABLE t (x text PRIMARY KEY)"))
            await conn.execute(text("INSERT INTO t VALUES ('jo.bloggs@example.org')"))
            with pytest.raises(Exception) as failed:
                await conn.execute(text("INSERT INTO t VALUES ('jo.bloggs@example.org')"))
        reason = database_reason(failed.value)
        assert reason == "UniqueViolationError 23505"
        assert "jo.bloggs" not in str(reason)
    finally:
        await engine.dispose()
