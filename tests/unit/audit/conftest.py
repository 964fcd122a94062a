"""Fixtures for the audit tests: an engine on each database (`db_url` from
tests/conftest.py: SQLite, and PostgreSQL when GATEWAY_TEST_POSTGRES_URL is
set), a running Writer, record factories, and `tamper` to change rows behind
the append-only triggers' back the way an attacker with owner rights would."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from typing import Any

import pytest
from audit_support import life, make_record, owner_tamper
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.audit import AuditEvent, AuditRecord, AuditTrail, EventType
from gateway.db import create_engine
from gateway.queue import Writer


@pytest.fixture
async def engine(db_url: str) -> AsyncIterator[AsyncEngine]:
    eng = create_engine(db_url)
    yield eng
    await eng.dispose()


@pytest.fixture
async def writer(engine: AsyncEngine) -> AsyncIterator[Writer]:
    w = Writer(engine)
    w.start()
    yield w
    await w.stop()


@pytest.fixture
def trail() -> AuditTrail:
    return AuditTrail(checkpoint_every=1000)


@pytest.fixture
def seed(
    writer: Writer, trail: AuditTrail
) -> Callable[..., Awaitable[list[AuditRecord]]]:
    """`await seed(n, **record_kw)`: n records, each with its life's events.

    The events go in rows of their own after the record (record, 3 events,
    `relayed`: five chain rows per record, the layout the verify tests count
    on), as rows written before migration 0007 were; `kept=True` keeps the
    life's events in the record's row, as the gateway writes them now
    (record, `relayed`: two rows per record)."""

    async def make(
        n: int = 3, with_relay: bool = True, kept: bool = False, **kw: Any
    ) -> list[AuditRecord]:
        records = []
        for _ in range(n):
            record = make_record(**kw)
            if kept:
                await writer.submit(trail.record_op(record, life(record)))
            else:
                await writer.submit(trail.record_op(record))
                await writer.submit(trail.events_op(record.id, life(record)))
            if with_relay:
                await writer.submit(trail.events_op(record.id, [
                    AuditEvent(EventType.RELAYED, record.received_at + timedelta(seconds=1),
                               {"recipient": record.recipients[0].address, "code": 250})
                ]))
            records.append(record)
        return records

    return make


@pytest.fixture
def tamper(engine: AsyncEngine) -> Callable[..., Awaitable[None]]:
    """Run SQL with the append-only triggers out of the way (audit_support)."""
    return owner_tamper(engine)
