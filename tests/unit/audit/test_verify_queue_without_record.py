"""`verify` checks that every message the queue still holds has its record.

A black-box auditor cut the chain's last rows off together with the
checkpoints after them: verify exited 0 (nothing in what was left showed
it), while `held list` still listed a message whose record was gone.  The
gateway writes a message's record with its queue row, and a purge keeps the
record of a message not finished, so such a queue row is the trace."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Any

import pytest
from audit_support import life, make_record, owner_tamper
from sqlalchemy import text
from sqlalchemy.engine import make_url

from gateway.audit import AuditTrail, verify
from gateway.db import create_engine
from gateway.db.schema import queue_messages

NOW = datetime(2026, 11, 29, 9, 0, tzinfo=UTC)


def _queued(queue_id: str, state: str, audit_id: str | None) -> dict[str, Any]:
    at = NOW.timestamp()
    return {"id": queue_id, "created_at": at, "mail_from": "jo@council.example",
            "envelope": "{}", "size": 10, "state": state, "attempts": 0,
            "next_attempt_at": at, "updated_at": at, "audit_id": audit_id}


async def _held_with_record(engine, writer) -> str:
    record = make_record()
    await writer.submit(AuditTrail().record_op(record, life(record)))
    async with engine.begin() as conn:
        await conn.execute(queue_messages.insert(), [_queued(record.id, "held", record.id)])
    return record.id


async def test_a_held_message_whose_record_was_cut_off_is_named(engine, writer):
    kept = await _held_with_record(engine, writer)
    gone = await _held_with_record(engine, writer)
    assert (await verify(engine)).ok
    # The chain's last rows removed, as an owner who set the triggers aside can.
    await owner_tamper(engine)(
        "DELETE FROM audit_record_terms WHERE record_seq IN"
        " (SELECT seq FROM audit_records WHERE id = :gone)",
        "DELETE FROM audit_records WHERE id = :gone", gone=gone)
    report = await verify(engine)
    assert not report.ok
    assert report.problems == [
        f"1 message(s) the queue still holds have no audit record: {gone} (held).  The "
        "gateway writes a message's record with its queue row and a purge keeps it, so the "
        "record was deleted: with the chain's last rows, if nothing else here shows it"]
    assert kept not in report.problems[0]


async def test_the_gateways_own_mail_and_finished_messages_need_no_record(engine, writer):
    await _held_with_record(engine, writer)
    async with engine.begin() as conn:
        await conn.execute(queue_messages.insert(), [
            _queued("NOTICE0000000001", "queued", None),  # a notice to a sender
            _queued("DONE000000000001", "delivered", "DONE000000000001"),  # purged since
            _queued("DONE000000000002", "rejected", "DONE000000000002"),
        ])
    report = await verify(engine)
    assert report.ok, report.problems


@pytest.mark.postgres
async def test_a_role_that_cannot_read_the_queue_is_told_so(engine, writer, db_url):
    if engine.dialect.name != "postgresql":
        pytest.skip("roles are PostgreSQL's")
    await _held_with_record(engine, writer)
    login = f"gw_auditor_{secrets.token_hex(4)}"
    async with engine.begin() as conn:
        await conn.execute(text(f"CREATE ROLE {login} LOGIN IN ROLE gateway_auditor"))
    auditor = create_engine(
        make_url(db_url).set(username=login).render_as_string(hide_password=False))
    try:
        report = await verify(auditor)
        assert report.ok, report.problems
        assert any("the queue could not be read with this database role" in w
                   for w in report.warnings)
    finally:
        await auditor.dispose()
        async with engine.begin() as conn:
            await conn.execute(text(f"DROP ROLE {login}"))
