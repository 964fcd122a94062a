"""`--recipient X --event ...` asks about X's own events (migration 0012).

A message to two recipients of whom only one confirmed delivery is, for
the other, a message never confirmed: the auditors' question "did it
arrive" is asked of each recipient.  Events of the whole message (received,
queued, approved, ...) count for every recipient.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from audit_support import T0, make_record
from sqlalchemy import text

from gateway.audit import (
    AuditEvent,
    AuditQuery,
    AuditRecipient,
    AuditTrail,
    EventFilter,
    EventType,
    SearchFilter,
)

GP = AuditRecipient("Dr.Jones@nhs.example", "Dr Rhys Jones", "Named GP", "", "Riverside NHS Trust")
SOCIAL_WORKER = AuditRecipient("Sam.Khan@council.example", "Sam Khan", "Social worker", "",
                               "Northshire Council")


def _at(seconds: int) -> object:
    return T0 + timedelta(seconds=seconds)


async def _two_messages(writer) -> None:
    """`both`: to the GP and the social worker, only the social worker
    confirmed (address written in another case) and had the password;
    `gp-only`: to the GP, who confirmed; both approved after a hold."""
    trail = AuditTrail()
    for record_id, recipients, confirmed in (
        ("both", (GP, SOCIAL_WORKER), ("SAM.KHAN@Council.example",)),
        ("gp-only", (GP,), ("dr.jones@nhs.example",)),
    ):
        record = make_record(record_id, recipients=recipients)
        await writer.submit(trail.record_op(record, [
            AuditEvent(EventType.RECEIVED, T0, {"size": 2048}),
            AuditEvent(EventType.QUEUED, T0, {"queue_id": record_id}),
        ]))
        events = [AuditEvent(EventType.APPROVED, _at(1), {"authorised_by": "J Patel"})]
        events += [AuditEvent(EventType.RELAYED, _at(2), {"recipient": r.address, "code": 250})
                   for r in recipients]
        events += [AuditEvent(EventType.DELIVERY_CONFIRMED, _at(3),
                              {"recipient": address, "index": 0, "authenticated": True})
                   for address in confirmed]
        events += [AuditEvent(EventType.PASSWORD_RELEASED, _at(4),
                              {"recipient": address, "how": "email"}) for address in confirmed]
        await writer.submit(trail.events_op(record_id, events))


async def _ids(engine, recipient: str | None, *events: str) -> list[str]:
    found = await AuditQuery(engine).search(SearchFilter(
        recipient=recipient, events=tuple(EventFilter.parse(e) for e in events)))
    return sorted(d["id"] for d in found)


async def test_never_confirmed_is_asked_of_the_recipient_searched_for(engine, writer):
    await _two_messages(writer)
    assert await _ids(engine, "dr.jones@nhs.example", "never:delivery_confirmed") == ["both"]
    assert await _ids(engine, "DR.JONES@nhs.example", "has:delivery_confirmed") == ["gp-only"]
    assert await _ids(engine, "sam.khan@council.example", "never:delivery_confirmed") == []
    assert await _ids(engine, "Sam.Khan@council.example", "has:password_released") == ["both"]
    assert await _ids(engine, "dr.jones@nhs.example", "never:password_released") == ["both"]


async def test_a_wildcard_recipient_asks_the_recipients_it_matches(engine, writer):
    await _two_messages(writer)
    assert await _ids(engine, "*@nhs.example", "never:delivery_confirmed") == ["both"]
    assert await _ids(engine, "*@council.example", "never:delivery_confirmed") == []
    assert await _ids(engine, "*.example", "never:delivery_confirmed") == []


async def test_the_message_s_own_events_count_for_every_recipient(engine, writer):
    await _two_messages(writer)
    for recipient in ("dr.jones@nhs.example", "sam.khan@council.example"):
        assert await _ids(engine, recipient, "has:queued", "has:approved") == (
            ["both", "gp-only"] if recipient.startswith("dr.") else ["both"])
    # Without --recipient an event is the message's, whoever's it is.
    assert await _ids(engine, None, "never:delivery_confirmed") == []
    assert await _ids(engine, None, "has:relayed") == ["both", "gp-only"]


async def test_an_event_detail_edited_into_not_json_counts_as_the_message_s(
    engine, writer, tamper
):
    await _two_messages(writer)
    await tamper("UPDATE audit_events SET detail = 'not json' "
                 "WHERE record_id = 'both' AND type = 'delivery_confirmed'")
    # The search still answers (verify names the edit); the event, no
    # longer naming anyone, is taken as the whole message's.
    assert await _ids(engine, "dr.jones@nhs.example", "has:delivery_confirmed") == [
        "both", "gp-only"]


async def test_the_auditor_role_can_search_by_a_recipient_s_events(engine, writer):
    if engine.dialect.name != "postgresql":
        pytest.skip("roles are PostgreSQL's; SQLite needs no function")
    await _two_messages(writer)
    query = AuditQuery(engine).search_statement(SearchFilter(
        recipient="dr.jones@nhs.example", events=(EventFilter.parse("never:delivery_confirmed"),)),
        limit=None)
    async with engine.begin() as conn:
        await conn.execute(text("SET LOCAL ROLE gateway_auditor"))
        rows = (await conn.execute(query)).all()
    assert [row.id for row in rows] == ["both"]
