"""The chain's integrity status: the last `verify` result and when it ran.

Verification reads every row, so it is never run per page view.  The result
is kept with its time; a check runs in the background when there is none yet,
when the last is older than `max_age`, or when an auditor asks.  It runs in
a thread with its own event loop and engine: on SQLite the hashes are
computed in Python, and that CPU must not stall the SMTP listener that
shares the gateway's loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import structlog

from gateway.audit import AuditKeys, VerifyReport, verify
from gateway.audit.verify import Anchor
from gateway.db import create_engine

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class IntegrityResult:
    report: VerifyReport | None  # None: the check itself failed
    checked_at: float
    error: str | None = None


class Integrity:
    def __init__(
        self,
        database_url: str,
        keys: AuditKeys,
        max_age: float = 3600.0,
        on_done: Callable[[IntegrityResult, str | None], Awaitable[None]] | None = None,
        checkpoint_every: int | None = None,
    ) -> None:
        self.database_url = database_url
        self.keys = keys
        self.checkpoint_every = checkpoint_every
        self.max_age = max_age
        self.on_done = on_done
        self.last: IntegrityResult | None = None
        self.started_at: float | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def stale(self) -> bool:
        return self.last is None or time.time() - self.last.checked_at > self.max_age

    def start(self, requested_by: str | None = None, anchors: Sequence[Anchor] = ()) -> bool:
        """Begin a check in the background, against `anchors` the auditor
        kept outside the database too; False when one is already running."""
        if self.running:
            return False
        self.started_at = time.time()
        self._task = asyncio.create_task(self._run(requested_by, tuple(anchors)),
                                         name="console-verify")
        return True

    def refresh_if_stale(self) -> None:
        if self.stale() and not self.running:
            self.start()

    async def wait(self) -> None:
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def stop(self) -> None:
        if self._task is not None and not self._task.done():
            # The thread finishes its walk on its own; we only stop waiting.
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self, requested_by: str | None, anchors: tuple[Anchor, ...]) -> None:
        try:
            report = await asyncio.to_thread(self._verify_in_thread, anchors)
            result = IntegrityResult(report, time.time())
        except Exception as exc:  # shown on the page; the console keeps running
            log.error("console_verify_failed", error=type(exc).__name__)
            result = IntegrityResult(None, time.time(), type(exc).__name__)
        self.last = result
        log.info("console_verify_done", ok=bool(result.report and result.report.ok))
        if self.on_done is not None:
            try:
                await self.on_done(result, requested_by)
            except Exception as exc:
                log.error("console_verify_not_audited", error=type(exc).__name__)

    def _verify_in_thread(self, anchors: tuple[Anchor, ...]) -> VerifyReport:
        async def run() -> VerifyReport:
            engine = create_engine(self.database_url, pool_size=1)
            try:
                return await verify(engine, self.keys, anchors=anchors,
                                    checkpoint_every=self.checkpoint_every)
            finally:
                await engine.dispose()

        return asyncio.run(run())
