"""This process's clock against the database's (PostgreSQL): leases need
them to agree.

A claim's lease is written and judged by each process's own clock
(`gateway.queue.store`): a replica whose clock is ahead of the others' by
more than `[queue] lease` takes their claims while their deliveries run,
and every message goes twice, silently.  Replicas on one PostgreSQL
database are measured against its clock (`clock_timestamp()`, the middle of
the round trip as the moment it answered): at start, where a difference
over half the lease refuses the start, then once a minute, where one over
a quarter of the lease is logged as an error (once per change) and fails
`/readyz`.  SQLite is one machine's file, read under one clock: nothing to
measure.
"""

from __future__ import annotations

import time

import structlog
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.db import is_postgres

log = structlog.get_logger(__name__)

# How often the running gateway measures again (seconds): one query.
CHECK_INTERVAL = 60.0
# A difference over this share of the lease fails /readyz; over START_SHARE
# the gateway does not start.  Claims are renewed with half their lease
# left at least, so a quarter leaves room for a slow renewal.
READY_SHARE = 0.25
START_SHARE = 0.5


def process_clock() -> float:
    """This process's clock, as the queue's leases read it."""
    return time.time()


class ClockCheck:
    """`await measure()`: the seconds the database's clock is ahead of this
    process's (negative: behind), None on SQLite; `problem()` words for
    `/readyz` while it differs by more than `READY_SHARE` of the lease."""

    def __init__(self, engine: AsyncEngine, lease_seconds: float) -> None:
        self._engine = engine
        self._lease = lease_seconds
        self.skew: float | None = None  # the last measure

    @property
    def applies(self) -> bool:
        return is_postgres(self._engine)

    async def measure(self) -> float | None:
        if not self.applies:
            return None
        async with self._engine.connect() as conn:
            before = process_clock()
            theirs = (await conn.execute(
                text("SELECT extract(epoch from clock_timestamp())"))).scalar_one()
            after = process_clock()
        failing = self.problem()
        self.skew = float(theirs) - (before + after) / 2
        now_failing = self.problem()
        if now_failing is not None and now_failing != failing:
            log.error("clock_skew", seconds=round(self.skew, 1),
                      lease_seconds=self._lease, problem=now_failing)
        elif now_failing is None and failing is not None:
            log.info("clock_skew_recovered", seconds=round(self.skew, 1))
        return self.skew

    def _words(self) -> str:
        return (f"clock differs from the database's by {abs(self.skew or 0.0):.0f} s: "
                "leases cannot be judged; sync the clock (NTP)")

    def problem(self) -> str | None:
        """For /readyz: why this process's leases cannot be trusted, or None."""
        if self.skew is None or abs(self.skew) <= self._lease * READY_SHARE:
            return None
        return self._words()

    def start_problem(self) -> str | None:
        """Why the gateway must not start (a difference over half the lease)."""
        if self.skew is None or abs(self.skew) <= self._lease * START_SHARE:
            return None
        return self._words()
