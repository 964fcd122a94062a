"""Group commit: concurrent writers share one transaction and one fsync.

Callers submit an operation (an async function of a connection); a single
task drains whatever operations are waiting, runs them in one transaction and
commits once.  If that transaction fails, each operation is retried alone so
one bad write cannot fail its neighbours.  A caller's future resolves only
after the commit returned, i.e. after the data is durable.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import structlog
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from gateway.errors import StoreError

T = TypeVar("T")
Operation = Callable[[AsyncConnection], Awaitable[Any]]

log = structlog.get_logger(__name__)

_MAX_BATCH = 256


class Writer:
    """The one writer of a process: serialises and batches transactions."""

    def __init__(self, engine: AsyncEngine, max_batch: int = _MAX_BATCH) -> None:
        self._engine = engine
        self._max_batch = max_batch
        self._pending: asyncio.Queue[tuple[Operation, asyncio.Future[Any]]] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self.batches = 0
        self.operations = 0

    def start(self) -> None:
        if self._task is None:
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

    async def submit(self, operation: Callable[[AsyncConnection], Awaitable[T]]) -> T:
        """Run `operation` in a transaction shared with others; wait for commit."""
        if self._task is None:
            raise StoreError("the database writer is not running")
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        await self._pending.put((operation, future))
        return await future

    async def _run(self) -> None:
        while True:
            batch = [await self._pending.get()]
            while len(batch) < self._max_batch:
                try:
                    batch.append(self._pending.get_nowait())
                except asyncio.QueueEmpty:
                    break
            try:
                await self._commit(batch)
            finally:
                for _ in batch:
                    self._pending.task_done()

    async def _commit(self, batch: list[tuple[Operation, asyncio.Future[Any]]]) -> None:
        live = [(op, fut) for op, fut in batch if not fut.cancelled()]
        if not live:
            return
        try:
            results = await self._transaction([op for op, _ in live])
        except Exception as exc:  # one bad operation must not fail the rest
            if len(live) == 1:
                _fail(live[0][1], exc)
                return
            for op, fut in live:
                try:
                    (result,) = await self._transaction([op])
                except Exception as single_exc:
                    _fail(fut, single_exc)
                else:
                    if not fut.done():
                        fut.set_result(result)
            return
        for (_, fut), result in zip(live, results, strict=True):
            if not fut.done():
                fut.set_result(result)

    async def _transaction(self, operations: list[Operation]) -> list[Any]:
        async with self._engine.begin() as conn:
            results = [await op(conn) for op in operations]
        self.batches += 1
        self.operations += len(operations)
        return results


def _fail(future: asyncio.Future[Any], exc: BaseException) -> None:
    if future.done():
        return
    if isinstance(exc, SQLAlchemyError | OSError):
        log.error("database_write_failed", error=type(exc).__name__)
        wrapped = StoreError(f"database write failed ({type(exc).__name__})")
        wrapped.__cause__ = exc
        future.set_exception(wrapped)
    else:
        future.set_exception(exc)
