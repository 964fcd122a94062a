"""A token-less receipt recorded before `receipt_unverified` counts as nothing.

Before 2026-11-29 a report without the receipt's token (anyone who saw the
queue id in a Received header could write one) was recorded as
`delivery_confirmed` (or `read_confirmed`, `delivery_failed`) with
`"authenticated": false`.  Those records stay as written; the searches, the
report and each recipient's outcome no longer count such an event as a
confirmation or a failure, on SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import timedelta

from audit_support import life, make_record

from gateway.audit import AuditEvent, AuditQuery, EventType, SearchFilter
from gateway.audit.query import EventFilter, recipient_outcomes

GP = "dr.jones@nhs.example"


async def _write(writer, trail, record_id: str, authenticated: bool) -> None:  # type: ignore[no-untyped-def]
    record = make_record(record_id)
    await writer.submit(trail.record_op(record, life(record)))
    at = record.received_at + timedelta(minutes=1)
    detail = {"recipient": GP, "authenticated": authenticated, "kind": "dsn"}
    if not authenticated:
        detail["correlated_by"] = "envid"
    await writer.submit(trail.events_op(record.id, [
        AuditEvent(EventType.RELAYED, at, {"recipient": GP, "code": 250}),
        AuditEvent(EventType.DELIVERY_CONFIRMED, at + timedelta(minutes=1), detail),
    ]))


async def _ids(engine, *events: str) -> list[str]:  # type: ignore[no-untyped-def]
    found = await AuditQuery(engine).search(
        SearchFilter(events=tuple(EventFilter.parse(e) for e in events)))
    return sorted(d["id"] for d in found)


async def test_an_unauthenticated_confirmation_of_old_counts_as_none(engine, writer, trail):
    await _write(writer, trail, "OLDFORGED", authenticated=False)
    await _write(writer, trail, "GENUINE", authenticated=True)

    assert await _ids(engine, "has:delivery_confirmed") == ["GENUINE"]
    assert await _ids(engine, "never:delivery_confirmed") == ["OLDFORGED"]
    assert await _ids(engine, "some-never:delivery_confirmed") == ["OLDFORGED"]

    forged = await AuditQuery(engine).get("OLDFORGED")
    assert recipient_outcomes(forged) == ["no receipt"]
    assert recipient_outcomes(await AuditQuery(engine).get("GENUINE")) == ["delivered"]
    # The record keeps the event as written: only its counting changed.
    assert [e["type"] for e in forged["events"]][-1] == "delivery_confirmed"

    report = await AuditQuery(engine).report(None, None)
    assert report["by_event"]["delivery_confirmed"] == 1
    assert report["by_event"]["relayed"] == 2
