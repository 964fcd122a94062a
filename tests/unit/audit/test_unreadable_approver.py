"""An approval whose event can no longer be read is not shown as though
whoever the message said had approved it.  A black-box auditor edited an
`approved` event's detail out of reading, and `show` printed "authorised by
Team Manager (approved)", the sender's words, where the real approver had
been someone else.  `authorised_by` stays what the view audit_records_v
gives (what the message said, migration 0016); `show` and the console say
what it is, and the record is marked damaged."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from audit_support import make_record
from sqlalchemy import text

from gateway.audit import AuditEvent, AuditQuery, AuditTrail, EventType
from gateway.cli.audit import authorised_text


async def _held_and_approved(writer) -> str:
    trail = AuditTrail()
    record = replace(make_record(verdict="hold"), authorised_by="Team Manager")
    at = record.received_at
    await writer.submit(trail.record_op(record, [
        AuditEvent(EventType.RECEIVED, at, {"size": 100}),
        AuditEvent(EventType.HELD, at, {"queue_id": record.id}),
    ]))
    await writer.submit(trail.events_op(record.id, [
        AuditEvent(EventType.APPROVED, at + timedelta(minutes=5), {"by": "Sarah Approver"}),
    ]))
    return record.id


async def test_the_approver_is_named_while_readable(engine, writer):
    record_id = await _held_and_approved(writer)
    shown = await AuditQuery(engine).get(record_id)
    assert shown is not None and shown["authorised_by"] == "Sarah Approver"
    assert authorised_text(shown) == "Sarah Approver (approved; the message said Team Manager)"


async def test_an_unreadable_approval_credits_no_one(engine, writer, tamper):
    record_id = await _held_and_approved(writer)
    async with engine.connect() as conn:
        seq = (await conn.execute(text(
            "SELECT seq FROM audit_events WHERE type = 'approved'"))).scalar_one()
    await tamper("UPDATE audit_events SET detail = 'garbage' WHERE seq = :s", s=seq)
    shown = await AuditQuery(engine).get(record_id)
    assert shown is not None
    assert shown["authorised_by"] == "Team Manager"  # as the view gives it
    assert shown["outcome"] == "approved" and shown.get("damaged")
    assert authorised_text(shown) == (
        "Team Manager (what the message said; approved by someone whose name the trail can "
        "no longer read)")
