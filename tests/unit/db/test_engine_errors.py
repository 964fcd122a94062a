"""The engines' settings that are not about speed: what their errors say."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from gateway.db import create_engine
from gateway.db.engine import create_sqlite_writer_engine
from gateway.errors import StoreError
from gateway.queue import Writer

# Stands for what the gateway's rows hold: a recipient's telephone number.
VALUE = "01632 960983"
FAILING = "SELECT * FROM no_such_table WHERE telephone = :value"


async def test_an_error_never_shows_the_statement_s_parameters(db_url: str) -> None:
    """SQLAlchemy writes a failed statement's parameters into the error's
    text, and from there into any traceback a log keeps."""
    engine = create_engine(db_url)
    try:
        async with engine.connect() as conn:
            with pytest.raises(DBAPIError) as failed:
                await conn.execute(text(FAILING), {"value": VALUE})
    finally:
        await engine.dispose()
    assert "no_such_table" in str(failed.value)
    assert VALUE not in str(failed.value)
    assert "parameters hidden" in str(failed.value)


async def test_nor_does_the_writer_s(db_url: str) -> None:
    """The Writer's own connection (on SQLite a synchronous engine of its
    own): the error a caller gets wraps the driver's, parameters hidden."""
    engine = create_engine(db_url)
    writer = Writer(engine)
    writer.start()

    async def failing(conn):  # type: ignore[no-untyped-def]
        await conn.execute(text(FAILING), {"value": VALUE})

    try:
        with pytest.raises(StoreError) as failed:
            await writer.submit(failing)
    finally:
        await writer.stop()
        await engine.dispose()
    cause = failed.value.__cause__
    assert isinstance(cause, DBAPIError) and "no_such_table" in str(cause)
    assert VALUE not in str(cause) and VALUE not in str(failed.value)


def test_the_sqlite_writer_engine_hides_them_too(sqlite_url: str) -> None:
    engine = create_engine(sqlite_url)
    sync = create_sqlite_writer_engine(engine)
    try:
        with sync.connect() as conn, pytest.raises(DBAPIError) as failed:
            conn.execute(text(FAILING), {"value": VALUE})
    finally:
        sync.dispose()
    assert VALUE not in str(failed.value)
