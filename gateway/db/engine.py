"""The async engine, with the durability settings the 250 promise needs."""

from __future__ import annotations

import errno
import socket
import sqlite3
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy import create_engine as create_sync_engine
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine


def dialect_of(url: str) -> str:
    return "postgresql" if url.startswith("postgresql") else "sqlite"


def is_postgres(engine: AsyncEngine) -> bool:
    return engine.dialect.name == "postgresql"


# What the gateway asks of the SQLite library this Python links (the
# standard library's sqlite3 wraps the system's on Linux): RETURNING (a
# checkpoint's insert) and ALTER TABLE ... DROP COLUMN (migration 0017)
# arrived in 3.35; the JSON functions (the auditors' views, searches of a
# record's events) are built in from 3.38 and a compile-time option before.
# Without this check an older library fails half-way through `gateway db
# upgrade`, with SQLite's "near DROP: syntax error", after Alembic has run
# some of a migration's statements (SQLite's DDL is not transactional).
SQLITE_REQUIRED = (3, 35, 0)
_JSON_PROBE = "SELECT json_valid('{}')"


def sqlite_unsupported() -> str | None:
    """Why this Python's SQLite library cannot hold the gateway's database,
    in one line that says what to do; None when it can."""
    remedy = ("use a Python built against a newer SQLite (Debian 12 and Ubuntu 22.04 ship one), "
              "or PostgreSQL ([database] url)")
    if sqlite3.sqlite_version_info < SQLITE_REQUIRED:
        needed = ".".join(map(str, SQLITE_REQUIRED[:2]))
        return (f"this Python uses SQLite {sqlite3.sqlite_version}; the gateway needs SQLite "
                f"{needed} or later: {remedy}")
    probe = sqlite3.connect(":memory:")
    try:
        probe.execute(_JSON_PROBE)
    except sqlite3.OperationalError:
        return (f"this Python's SQLite {sqlite3.sqlite_version} was built without its JSON "
                f"functions, which the gateway's audit views need: {remedy}")
    finally:
        probe.close()
    return None


# The page size a new database file is made with.  A 200 KB message fills
# 13 pages of 16 KB rather than 50 of 4 KB: its commit writes and syncs a
# quarter of the WAL frames (each one a header and a page write), and the
# commit, serial in the one writer, is what the relay waits on for large
# mail.  Small rows lose nothing measurable (bench/sqlite_commit.py).  A file
# that exists keeps its page size (changing it takes a VACUUM outside WAL).
PAGE_SIZE = 16384


# How long a statement waits for a lock another process holds (a purge, a
# command of the CLI, a migration, another gateway) before it fails:
# SQLite's busy timeout, PostgreSQL's lock_timeout.  A wait with no bound
# would leave every message behind it unanswered for as long; one that
# fails tells the sender 451, and the sender retries.
LOCK_WAIT = 30.0


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # Only takes effect before the file's first table; a no-op afterwards.
    cursor.execute(f"PRAGMA page_size={PAGE_SIZE}")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    # Content cleared once delivered (or refused) is overwritten with zeros
    # in the file, not left in free pages: Debian builds SQLite this way,
    # other builds (Python's own on macOS and Windows) do not.  Its old
    # frames stay in the WAL until a checkpoint's restart reuses them.
    cursor.execute("PRAGMA secure_delete=ON")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={round(LOCK_WAIT * 1000)}")
    cursor.close()


# The writer's page cache, in KiB (SQLite's default is 2 MiB).  A batch of
# large messages holds all their pages dirty until its commit; once they
# outgrow the cache SQLite spills them to the WAL mid-transaction, on the
# thread running the statements (the event loop's).  32 MiB holds a batch
# of 150 messages of 200 KB; readers keep the default.
WRITER_CACHE_KIB = 32 * 1024


def _writer_pragmas(dbapi_connection: Any, record: Any) -> None:
    _sqlite_pragmas(dbapi_connection, record)
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA cache_size=-{WRITER_CACHE_KIB}")
    # The writer's statements run on the event loop's thread: SQLite's wait
    # for another process's lock would sleep it.  Refused at once, the
    # Writer waits on the loop instead (gateway.queue.writer).  In WAL mode
    # the commit of a transaction holding the write lock waits for nobody.
    cursor.execute("PRAGMA busy_timeout=0")
    cursor.close()


def create_sqlite_writer_engine(engine: AsyncEngine) -> Engine:
    """A synchronous engine on the same SQLite file, for the writer's thread.

    aiosqlite hands every cursor call to its own thread and back; a batch of
    a few hundred statements pays that hand-off a thousand times.  The
    writer instead runs a whole batch on this engine in one hop.
    """
    url = engine.url.set(drivername="sqlite+pysqlite")
    sync = create_sync_engine(
        url, pool_size=1, max_overflow=0, hide_parameters=True,
        connect_args={"timeout": 30, "check_same_thread": False},
    )
    event.listen(sync, "connect", _writer_pragmas)
    return sync


def create_engine(url: str, pool_size: int = 10) -> AsyncEngine:
    """An engine whose commits are durable (fsync'd) before they return.

    Every engine hides statements' parameters from its errors
    (`hide_parameters`): SQLAlchemy writes them into an exception's text,
    and the rows the gateway writes hold recipients' names, telephone
    numbers and an approver's note, which a traceback in a log must not."""
    if dialect_of(url) == "sqlite":
        # Writes are serialised by the store's single writer; the pool only
        # serves readers (CLI, health checks, claim polling).
        engine = create_async_engine(url, pool_size=5, max_overflow=5, hide_parameters=True,
                                     connect_args={"timeout": 30})

        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    # lock_timeout covers the chain's advisory lock too: held by a purge,
    # the Writer's batch waits for it at most LOCK_WAIT, as on SQLite.  It
    # also keeps `gateway db upgrade` from queueing every query behind a
    # migration's lock that waits on a long transaction.
    return create_async_engine(
        url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True, hide_parameters=True,
        connect_args={"server_settings": {"lock_timeout": f"{round(LOCK_WAIT * 1000)}ms"}},
    )


async def read_one_snapshot(conn: AsyncConnection) -> None:
    """Make every read of `conn`'s transaction, from here to its end, see
    the database as of the first: a walk or a report of several statements
    is then of one moment, whatever commits meanwhile (the gateway's mail,
    a purge).  Before `conn` has run anything.

    PostgreSQL: REPEATABLE READ.  SQLite: sqlite3 opens no transaction for
    a SELECT, so each would read as of its own start; inside BEGIN, WAL
    keeps every read at the first one's, and writers go on meanwhile."""
    if conn.dialect.name == "postgresql":
        await conn.execution_options(isolation_level="REPEATABLE READ")
    else:
        await conn.exec_driver_sql("BEGIN")


# The socket errors of reaching a database server (asyncpg raises them as
# they are): refused, reset, unreachable, timed out, a name not found.
_UNREACHABLE = {errno.ECONNREFUSED, errno.ECONNRESET, errno.ECONNABORTED, errno.EHOSTUNREACH,
                errno.ENETUNREACH, errno.ETIMEDOUT}


def database_failed(exc: BaseException) -> bool:
    """Is `exc` the database's failure, or the network's on the way to it?
    (What a command or a page reports as "the database could not be used"
    rather than as its own error.)  Not a broken pipe: that is the reader
    of a command's output gone (`| head`), which asyncpg never raises."""
    if isinstance(exc, BrokenPipeError):
        return False
    return (isinstance(exc, SQLAlchemyError | ConnectionError | TimeoutError | socket.gaierror)
            or (isinstance(exc, OSError) and exc.errno in _UNREACHABLE))


def database_reason(exc: BaseException) -> str | None:
    """What the database said of a failed write, in words safe for a log:
    SQLite's own message ("database or disk is full", "attempt to write a
    readonly database": fixed texts that never quote a value), PostgreSQL's
    condition and SQLSTATE ("DiskFullError 53100": its messages may quote a
    value), the operating system's words.  None when nothing says more than
    the exception's class."""
    seen: set[int] = set()
    cause: BaseException | None = exc
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        if isinstance(cause, DBAPIError) and cause.orig is not None:
            cause = cause.orig
            continue
        if isinstance(cause, sqlite3.Error) and str(cause).strip():
            return str(cause).strip().splitlines()[0]
        sqlstate = getattr(cause, "sqlstate", None)
        if isinstance(sqlstate, str) and type(cause).__module__.startswith("asyncpg"):
            return f"{type(cause).__name__} {sqlstate}"
        if isinstance(cause, OSError) and cause.strerror:
            return str(cause.strerror)
        cause = cause.__cause__ or cause.__context__
    return None
