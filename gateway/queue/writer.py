"""Group commit: concurrent writers share one transaction and one fsync.

Callers submit an operation (an async function of a connection); a single
task drains whatever operations are waiting, runs them in one transaction and
commits once.  Operations that free stored content (a delivered message's)
run first in their batch: the pages they free are then reused by the
batch's inserts in the same transaction, so each is written to the WAL once
(secure_delete's zeros and a new message's content would otherwise be two
frames per page, in two commits).  Rows an operation writes with
`Prepared.run_later` (the queue's and the trail's) are collected and
written with the batch's other rows of the same statement, one executemany
each: before any other statement an operation runs (the connection the
operations get settles them first, gateway.db.prepared), otherwise at the
end of the batch.  If that transaction fails, each operation is retried
alone so one bad write cannot fail its neighbours (unless the database
stayed locked by another process for as long as the Writer waits, 30
seconds on either database: then they all fail at once, since each alone
would wait as long again).  A caller's future
resolves only after the commit returned, i.e. after the data is durable.

On SQLite the batch runs on a synchronous connection: the operations are
coroutines, but they only await the connection, so a `_DirectConnection`
(an AsyncConnection look-alike whose methods complete at once) lets them run
without aiosqlite's thread hop per call; only the commit (the fsync) runs on
the writer thread.  On PostgreSQL the batch runs on the async engine
(asyncpg is natively async), on one connection the Writer keeps between
batches: checked out per batch, the pool's pre-ping cost three round trips
each time (BEGIN, an empty query, ROLLBACK), as many as the batch's own
statements.  A kept connection that has died (a server restart, a killed
backend) fails the batch's first statement instead: the batch then runs
once more on a connection checked out anew (nothing was committed, so
nothing is written twice).  A connection lost during the commit is not
retried that way, since the commit may have happened: as with any failed
batch, each operation is retried alone and one that was committed fails
(the client is told 451 and sends again).
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, NamedTuple, TypeVar, cast

import structlog
from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, ProgrammingError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from gateway.db.engine import create_sqlite_writer_engine, database_failed, database_reason
from gateway.db.prepared import collect_writes, flush_writes, settle
from gateway.errors import StoreError
from gateway.operate.memory import give_back_free_memory

T = TypeVar("T")
Operation = Callable[[AsyncConnection], Awaitable[Any]]

log = structlog.get_logger(__name__)

_MAX_BATCH = 256

# How long `/readyz` reports a batch that committed nothing (Writer.write_failure).
WRITE_FAILURE_SHOWN = 60.0


class Writer:
    """The one writer of a process: serialises and batches transactions."""

    def __init__(self, engine: AsyncEngine, max_batch: int = _MAX_BATCH) -> None:
        self._engine = engine
        self._sync_engine: Engine | None = None
        self._thread: ThreadPoolExecutor | None = None
        self._max_batch = max_batch
        self._pending: asyncio.Queue[_Pending] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._connection: AsyncConnection | None = None  # PostgreSQL's, kept between batches
        self._committing = False
        self.batches = 0
        self.operations = 0
        # (loop time, words) of the last batch of which nothing committed,
        # cleared by the next commit: `/readyz` (`write_failure`).
        self._failed: tuple[float, str] | None = None

    def start(self) -> None:
        if self._task is None:
            if self._engine.dialect.name == "sqlite" and self._sync_engine is None:
                self._sync_engine = create_sqlite_writer_engine(self._engine)
                self._thread = ThreadPoolExecutor(1, thread_name_prefix="queue-writer")
            self._task = asyncio.create_task(self._run(), name="queue-writer")

    async def stop(self) -> None:
        """Finish what was submitted, then stop."""
        if self._task is None:
            return
        await self._pending.join()
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None
        await self._drop_connection()
        if self._thread is not None:
            thread, self._thread = self._thread, None
            thread.shutdown(wait=True)
        if self._sync_engine is not None:
            self._sync_engine.dispose()
            self._sync_engine = None

    async def submit(
        self, operation: Callable[[AsyncConnection], Awaitable[T]], *, frees: bool = False
    ) -> T:
        """Run `operation` in a transaction shared with others; wait for commit.

        `frees`: the operation deletes or clears stored content, and so runs
        before the batch's other operations.  Operations waiting together are
        not ordered otherwise: one that depends on another is submitted only
        after the other's commit.
        """
        if self._task is None:
            raise StoreError("the database writer is not running")
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        await self._pending.put(_Pending(operation, future, frees))
        return await future

    async def _run(self) -> None:
        while True:
            batch = [await self._pending.get()]
            while len(batch) < self._max_batch:
                try:
                    batch.append(self._pending.get_nowait())
                except asyncio.QueueEmpty:
                    break
            batch.sort(key=_freeing_first)
            try:
                await self._commit(batch)
            finally:
                for _ in batch:
                    self._pending.task_done()
                # Not kept while waiting for the next batch: its futures hold
                # the results (claimed messages, content and all).
                del batch

    def write_failure(self, within: float = WRITE_FAILURE_SHOWN) -> str | None:
        """Why the database refused writes, when the last batch tried in the
        past `within` seconds committed nothing; else None.

        A SELECT answers while the disk is full or the file read-only, and
        then every message gets 451: a probe that only reads would keep a
        load balancer sending mail here rather than to a replica that can
        take it.  After `within` seconds without another attempt the
        failure is no longer reported, so traffic comes back and tells
        whether it lasts (nothing else writes to find out)."""
        if self._failed is None:
            return None
        at, why = self._failed
        if asyncio.get_running_loop().time() - at >= within:
            return None
        return why

    async def _commit(self, batch: list[_Pending]) -> None:
        live = [(item.operation, item.future) for item in batch if not item.future.cancelled()]
        if not live:
            return
        try:
            results = await self._transaction([op for op, _ in live])
        except Exception as exc:  # one bad operation must not fail the rest
            if len(live) == 1 or _database_locked(exc):
                # Locked past the wait: each alone would wait as long again.
                for _, fut in live:
                    _fail(fut, exc)
                self._note_failure(exc)
                return
            committed = False
            for op, fut in live:
                try:
                    (result,) = await self._transaction([op])
                except Exception as single_exc:
                    _fail(fut, single_exc)
                    if not committed:
                        self._note_failure(single_exc)
                else:
                    committed = True
                    if not fut.done():
                        fut.set_result(result)
            return
        for (_, fut), result in zip(live, results, strict=True):
            if not fut.done():
                fut.set_result(result)

    def _note_failure(self, exc: BaseException) -> None:
        """A batch committed nothing: remember why, for `write_failure`, when
        it was the database's failure (not one operation's own error)."""
        cause = exc.orig if isinstance(exc, DBAPIError) else exc
        if isinstance(exc, _OPERATIONS_OWN) or isinstance(cause, _OPERATIONS_OWN):
            return
        if database_failed(exc) or isinstance(exc, OSError | sqlite3.Error):
            why = database_reason(exc) or type(exc).__name__
            self._failed = (asyncio.get_running_loop().time(), why)

    async def _transaction(self, operations: list[Operation]) -> list[Any]:
        if self._sync_engine is not None:
            results = await self._sqlite_transaction(operations)
        else:
            results = await self._postgres_transaction(operations)
        self._failed = None
        self.batches += 1
        self.operations += len(operations)
        return results

    async def _sqlite_transaction(self, operations: Sequence[Operation]) -> list[Any]:
        """`_sqlite_attempt`, again while another process holds the database.

        A purge or a command of the CLI may hold SQLite's write lock for
        seconds.  The writer's connection does not wait for it inside SQLite
        (no busy timeout, gateway.db.engine): that wait would sleep the
        event loop's thread, and every session with it.  A batch refused
        the lock is rolled back and tried again after a pause on the loop,
        for as long as SQLite would have waited.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + SQLITE_LOCK_WAIT
        pause = 0.002
        while True:
            try:
                return await self._sqlite_attempt(operations)
            except _Locked as locked:
                if loop.time() + pause > deadline:
                    raise locked.error from None
            await asyncio.sleep(pause)
            pause = min(pause * 2, 0.1)

    async def _sqlite_attempt(self, operations: Sequence[Operation]) -> list[Any]:
        """Statements on the loop's thread, the commit (the fsync) on the writer thread.

        SQLite statements are fast, but a second thread running them would
        wait for the interpreter lock at every call (and the loop keeps it
        busy); the commit is the slow part and releases the lock while the
        disk syncs, so only it moves off the loop.
        """
        assert self._sync_engine is not None and self._thread is not None
        # A connection from the (one-connection) pool per batch, not one held
        # for ever: disposing of the engine then really lets the file go.
        with self._sync_engine.connect() as conn:
            transaction = conn.begin()
            under = _DirectConnection(conn)
            try:
                direct = cast(AsyncConnection, _SettlingConnection(cast(AsyncConnection, under)))
                collect_writes(direct)
                try:
                    results = [_drive(op(direct)) for op in operations]
                    _drive(flush_writes(direct))
                except (sqlite3.OperationalError, DBAPIError) as exc:
                    # Before the commit: nothing of the batch is written.
                    if _database_locked(exc):
                        raise _Locked(exc) from exc
                    raise
                await asyncio.get_running_loop().run_in_executor(
                    self._thread, transaction.commit
                )
            except BaseException:
                with contextlib.suppress(Exception):
                    transaction.rollback()
                raise
            if under.large_content:
                await asyncio.get_running_loop().run_in_executor(
                    self._thread, _give_back_cache, conn
                )
        return results

    async def _postgres_transaction(self, operations: Sequence[Operation]) -> list[Any]:
        kept = self._connection is not None
        try:
            return await self._postgres_attempt(operations)
        except DBAPIError as exc:
            # A kept connection found dead before the commit is what a
            # checkout's ping would have found: once more, on a new one.
            if not (kept and exc.connection_invalidated and not self._committing):
                raise
            log.info("database_connection_renewed")
        return await self._postgres_attempt(operations)

    async def _postgres_attempt(self, operations: Sequence[Operation]) -> list[Any]:
        if self._connection is None:
            self._connection = await self._engine.connect()  # checked out: pinged
        conn = self._connection
        # Left set when the commit fails: whether it happened is not known.
        self._committing = False
        try:
            transaction = await conn.begin()
            settling = cast(AsyncConnection, _SettlingConnection(conn))
            collect_writes(settling)
            results = [await op(settling) for op in operations]
            await flush_writes(settling)
            self._committing = True
            await transaction.commit()
        except BaseException:
            # Whatever went wrong, the next transaction starts on a
            # connection known to be good.
            await self._drop_connection()
            raise
        return results

    async def _drop_connection(self) -> None:
        if self._connection is not None:
            conn, self._connection = self._connection, None
            with contextlib.suppress(Exception):
                await conn.close()


# Errors of one operation's own statements (a constraint, a bad value):
# the database took the batch's others, and takes the next ones.
_OPERATIONS_OWN = (IntegrityError, ProgrammingError, DataError, sqlite3.IntegrityError,
                   sqlite3.ProgrammingError, sqlite3.DataError, sqlite3.InterfaceError)

# How long a batch waits for another process's write lock: SQLite's busy
# timeout on every other connection (gateway.db.engine).
SQLITE_LOCK_WAIT = 30.0


class _Locked(Exception):
    """A statement of the batch found the database locked by another process."""

    def __init__(self, error: BaseException) -> None:
        super().__init__("database locked")
        self.error = error


# PostgreSQL's lock_not_available: a lock waited for past lock_timeout
# (gateway.db.engine.LOCK_WAIT), the chain's advisory lock among them.
_PG_LOCK_NOT_AVAILABLE = "55P03"


def _database_locked(exc: BaseException) -> bool:
    """Another process held a lock for as long as the Writer waits:
    SQLITE_BUSY (any extended code) or PostgreSQL's lock timeout, raw or
    wrapped by SQLAlchemy."""
    error = exc.orig if isinstance(exc, DBAPIError) else exc
    if getattr(error, "sqlstate", None) == _PG_LOCK_NOT_AVAILABLE:
        return True
    code = getattr(error, "sqlite_errorcode", None)
    return isinstance(code, int) and code & 0xFF == sqlite3.SQLITE_BUSY


class _Pending(NamedTuple):
    operation: Operation
    future: asyncio.Future[Any]
    frees: bool


def _freeing_first(item: _Pending) -> bool:
    """Sort key (sorts are stable): freeing operations first, the rest in order."""
    return not item.frees


def _drive(operation: Awaitable[T]) -> T:
    """Run a coroutine that only awaits a _DirectConnection (so never suspends)."""
    coroutine = operation.__await__()
    try:
        coroutine.send(None)
    except StopIteration as done:
        return cast(T, done.value)
    coroutine.close()
    raise RuntimeError("a writer operation awaited something other than its connection")


class _SettlingConnection:
    """The Writer's connection as its operations see it: a statement they
    run writes the batch's collected rows first (gateway.db.prepared.settle).
    Around an AsyncConnection (PostgreSQL) or a _DirectConnection (SQLite)."""

    def __init__(self, conn: AsyncConnection) -> None:
        self.wrapped = conn
        self.sync_connection = conn.sync_connection
        self.dialect = conn.dialect

    async def execute(
        self,
        statement: Any,
        parameters: Any = None,
        *,
        execution_options: Any = None,
    ) -> Any:
        await settle(cast(AsyncConnection, self))
        return await self.wrapped.execute(
            statement, parameters, execution_options=execution_options
        )

    async def exec_driver_sql(self, statement: str, parameters: Any = None) -> Any:
        await settle(cast(AsyncConnection, self))
        return await self.wrapped.exec_driver_sql(statement, parameters)

    async def scalar(self, statement: Any, parameters: Any = None) -> Any:
        await settle(cast(AsyncConnection, self))
        return await self.wrapped.scalar(statement, parameters)

    async def run_sync(self, fn: Callable[..., T], *args: Any) -> T:
        await settle(cast(AsyncConnection, self))
        return await self.wrapped.run_sync(fn, *args)


class _DirectConnection:
    """The part of AsyncConnection the operations use, over a sync Connection."""

    def __init__(self, sync_connection: Connection) -> None:
        self.sync_connection = sync_connection
        self.dialect = sync_connection.dialect
        self.large_content = False  # `note_large_content`

    async def execute(
        self,
        statement: Any,
        parameters: Any = None,
        *,
        execution_options: Any = None,
    ) -> Any:
        return self.sync_connection.execute(
            statement, parameters, execution_options=execution_options
        )

    async def exec_driver_sql(self, statement: str, parameters: Any = None) -> Any:
        """Driver SQL straight to sqlite3, in this connection's transaction.

        The hot path's statements come here already compiled
        (gateway.db.prepared); SQLAlchemy's execution context around them
        cost more than SQLite's own insert.  A list of tuples is an
        executemany, as with SQLAlchemy.
        """
        raw = self.sync_connection.connection.driver_connection
        if not isinstance(raw, sqlite3.Connection):
            return self.sync_connection.exec_driver_sql(statement, parameters)
        if isinstance(parameters, list):
            raw.executemany(statement, parameters)
            return _Rows([])
        return _Rows(raw.execute(statement, parameters or ()).fetchall())

    async def scalar(self, statement: Any, parameters: Any = None) -> Any:
        return self.sync_connection.scalar(statement, parameters)

    async def run_sync(self, fn: Callable[..., T], *args: Any) -> T:
        return fn(self.sync_connection, *args)


class _Rows:
    """The `.all()` of a result, for driver SQL run on sqlite3 directly."""

    def __init__(self, rows: list[Any]) -> None:
        self._rows = rows

    def all(self) -> list[Any]:
        return self._rows


def sqlite_connection(conn: AsyncConnection) -> sqlite3.Connection | None:
    """The sqlite3 connection under `conn` when `conn` is the writer thread's
    (an operation may then use SQLite's own API, e.g. incremental blob I/O,
    inside the same transaction); None for any other connection."""
    direct: object = conn
    if isinstance(direct, _SettlingConnection):
        direct = direct.wrapped
    if not isinstance(direct, _DirectConnection):
        return None
    raw = direct.sync_connection.connection.driver_connection
    return raw if isinstance(raw, sqlite3.Connection) else None


def note_large_content(conn: AsyncConnection) -> None:
    """An operation moved a large content through the SQLite writer's page
    cache (gateway.queue.store's blob I/O).  Those pages stay in the cache
    (32 MiB, `WRITER_CACHE_KIB`) and in the heap once freed: beside the
    next large message being read and inspected, 25-30 MB resident that
    holds nothing.  Once its batch is committed they are given back."""
    direct: object = conn
    if isinstance(direct, _SettlingConnection):
        direct = direct.wrapped
    if isinstance(direct, _DirectConnection):
        direct.large_content = True


def _give_back_cache(conn: Connection) -> None:
    """The writer's unused cached pages freed, then the heap's free pages
    returned to the system (gateway.operate.memory).  After the commit:
    a failure here is logged and the batch stays a success (it is durable)."""
    try:
        conn.exec_driver_sql("PRAGMA shrink_memory")
    except (SQLAlchemyError, sqlite3.Error) as exc:
        log.warning("cache_not_given_back", error=type(exc).__name__)
        return
    give_back_free_memory()


def _fail(future: asyncio.Future[Any], exc: BaseException) -> None:
    if future.done():
        return
    if isinstance(exc, SQLAlchemyError | OSError | sqlite3.Error):
        log.error("database_write_failed", error=type(exc).__name__,
                  reason=database_reason(exc))
        wrapped = StoreError(f"database write failed ({type(exc).__name__})")
        wrapped.__cause__ = exc
        future.set_exception(wrapped)
    else:
        future.set_exception(exc)
