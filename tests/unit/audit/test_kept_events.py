"""The events a record is written with are kept in its row (migration 0007).

They are hashed with the row, so verify catches any change to them; every
reader (show, search, report, purge, the auditors' view) sees them as it
sees the events that are rows of their own; and a trail written before the
migration, whose records have no such events, still verifies after it.
"""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

import pytest
from alembic import command
from audit_support import T0, life, make_record
from sqlalchemy import text

from gateway.audit import (
    AuditEvent,
    AuditQuery,
    AuditTrail,
    EventFilter,
    EventType,
    SearchFilter,
    purge,
    verify,
)
from gateway.audit.chain import GENESIS, event_content, link, record_content, term_key, terms_text
from gateway.db import create_engine
from gateway.db.migrate import alembic_config
from gateway.db.schema import audit_events, audit_record_terms, audit_records
from gateway.errors import AuditIntegrityError
from gateway.queue import Writer


async def test_a_record_keeps_its_events_in_one_chain_row(engine, seed):
    records = await seed(2, kept=True)  # per record: its row (life kept), then `relayed`
    report = await verify(engine)
    assert report.ok, report.problems
    assert (report.records, report.events, report.last_seq) == (2, 2, 4)
    document = await AuditQuery(engine).get(records[1].id)
    assert document is not None
    assert [(e["type"], e["at"], e["detail"]) for e in document["events"]] == [
        ("received", "2026-03-02T09:30:00.123456+00:00", {"size": 2048}),
        ("password_held", "2026-03-02T09:30:00.128456+00:00", {}),
        ("queued", "2026-03-02T09:30:00.133456+00:00", {"queue_id": records[1].id}),
        ("relayed", "2026-03-02T09:30:01.123456+00:00",
         {"recipient": "Dr.Jones@nhs.example", "code": 250}),
    ]


@pytest.mark.parametrize("change", [
    "events = replace(events, 'password_held', 'password_released')",
    "events = replace(events, '2048', '2049')",
    "events = NULL",
    "events = '[]'",
])
async def test_changing_the_events_kept_in_a_record_is_caught(engine, seed, tamper, change):
    records = await seed(3, kept=True)
    await tamper(f"UPDATE audit_records SET {change} WHERE seq = 3")
    report = await verify(engine)
    assert report.problems == [f"record {records[1].id} (seq 3) edited"]


async def test_the_events_cannot_be_changed_through_the_triggers(engine, seed):
    await seed(1, kept=True)
    with pytest.raises(Exception, match="append-only"):
        async with engine.begin() as conn:
            await conn.execute(text("UPDATE audit_records SET events = NULL"))


async def test_search_and_report_see_the_kept_events(engine, seed, writer):
    trail = AuditTrail()
    kept = await seed(2, kept=True, with_relay=False)
    held = make_record("held-1", verdict="hold")
    await writer.submit(trail.record_op(held, [
        AuditEvent(EventType.RECEIVED, T0, {"size": 10}),
        AuditEvent(EventType.HELD, T0 + timedelta(milliseconds=3), {"queue_id": "held-1"}),
    ]))
    # Approved later: its `queued` is a row of its own.
    await writer.submit(trail.events_op("held-1", [
        AuditEvent(EventType.APPROVED, T0 + timedelta(minutes=1)),
        AuditEvent(EventType.QUEUED, T0 + timedelta(minutes=1)),
    ]))
    query = AuditQuery(engine)

    async def ids(*events: str) -> list[str]:
        found = await query.search(SearchFilter(events=tuple(EventFilter.parse(e)
                                                             for e in events)))
        return sorted(d["id"] for d in found)

    everyone = sorted([*(r.id for r in kept), "held-1"])
    assert await ids("has:queued") == everyone  # kept in two rows, a row of its own in one
    assert await ids("has:received") == everyone
    assert await ids("never:received") == []
    assert await ids("has:held") == ["held-1"]
    assert await ids("never:held") == sorted(r.id for r in kept)
    assert await ids("has:approved") == ["held-1"]
    assert await ids("never:password_held", "has:queued") == ["held-1"]
    report = await query.report(None, None)
    assert report["by_event"] == {"queued": 3, "received": 3, "password_held": 2,
                                  "approved": 1, "held": 1}
    document = await query.get("held-1")
    assert document is not None
    assert [e["type"] for e in document["events"]] == ["received", "held", "approved", "queued"]


async def test_purge_counts_the_kept_events_it_removes(engine, seed):
    await seed(2, kept=True, received_at=T0)
    await seed(1, kept=True, received_at=T0 + timedelta(days=400))
    result = await purge(engine, AuditTrail(), timedelta(days=365),
                         now=T0 + timedelta(days=420))
    # two records, each with its 3 kept events and its `relayed` row
    assert (result.records, result.events, result.cut_seq) == (2, 8, 4)
    report = await verify(engine)
    assert report.ok, report.problems
    assert (report.records, report.events) == (1, 2)  # and the purge's own event


# -- a trail edited outside the gateway ----------------------------------------
#
# verify names the edited record; the rest of the trail stays readable (an
# edit must not keep an auditor from it), the record itself shown from what
# can still be read and marked `damaged`.


async def _view_rows(engine) -> list[tuple[str, str]]:
    async with engine.connect() as conn:
        rows = (await conn.execute(text(
            "SELECT record_id, type FROM audit_events_v ORDER BY record_id, seq, at"
        ))).all()
    return [(str(r[0]), str(r[1])) for r in rows]


# Documents that are not what AuditRecord.document writes, each with
# whether PostgreSQL's constraint (migration 0008) refuses it.
_EDITED_DOCUMENTS = [
    ("'not json'", True),
    ("'[]'", True),
    ("'{\"recipients\": 5, \"reasons\": [\"x\"], \"information_types\": {\"a\": 1}}'",
     False),
    ("'{\"subject\": {\"s\": 1}, \"recipients\": [\"someone\"]}'", False),
]


@pytest.mark.parametrize(("value", "refused"), _EDITED_DOCUMENTS)
async def test_a_record_whose_document_was_edited_is_shown_from_its_columns(
    engine, seed, tamper, value, refused
):
    records = await seed(3, kept=True)
    change = f"UPDATE audit_records SET document = {value} WHERE seq = 3"
    if refused and engine.dialect.name == "postgresql":
        with pytest.raises(Exception, match=r"ck_audit_records_document|type json"):
            await tamper(change)
        assert (await verify(engine)).ok
        return
    await tamper(change)
    assert (await verify(engine)).problems == [f"record {records[1].id} (seq 3) edited"]
    query = AuditQuery(engine)
    shown = await query.get(records[1].id)
    assert shown is not None
    assert shown["damaged"] == ["document"]
    assert (shown["id"], shown["sender"], shown["verdict"], shown["purpose"]) == (
        records[1].id, records[1].sender, records[1].verdict, records[1].purpose)
    assert shown["received_at"] == "2026-03-02T09:30:00.123456+00:00"
    assert [e["type"] for e in shown["events"]] == [
        "received", "password_held", "queued", "relayed"]
    # What only the document held is left empty, not made up.
    assert (shown["recipients"], shown["subject"], shown["reasons"]) == ([], None, [])
    found = await query.search(SearchFilter())
    assert sorted(d["id"] for d in found) == sorted(r.id for r in records)
    assert [d.get("damaged") for d in found].count(["document"]) == 1
    assert [d["id"] async for d in query.export()] == [r.id for r in records]
    assert (await query.report(None, None))["records"] == 3
    # The auditors' views still answer, the edited record without what its
    # document no longer says.
    async with engine.connect() as conn:
        rows = (await conn.execute(text(
            "SELECT id, recipients, reasons FROM audit_records_v ORDER BY seq"))).all()
        listed = (await conn.execute(text(
            "SELECT record_id FROM audit_recipients_v ORDER BY record_id"))).all()
    assert [r[0] for r in rows] == [r.id for r in records]
    assert rows[1][1:] == (None, None)
    assert rows[0][1] == records[0].recipients[0].address
    assert sorted(r[0] for r in listed) == sorted(
        r.id for r in (records[0], records[2]) for _ in r.recipients)


# Not what gateway.audit.trail.kept_events writes: each with whether
# PostgreSQL's constraint (migration 0008) refuses it, and the number of
# records `has:queued` then finds (an element that still reads as `queued`
# counts; one that is not an object does not).
_EDITED_EVENTS = [
    ("'not json'", True, 2),
    ("'{\"type\": \"queued\"}'", True, 2),
    ("'[\"queued\"]'", False, 2),
    ("'[{\"type\": \"queued\", \"detail\": {}}]'", False, 3),  # no `at`
    ("'[{\"at\": \"2026-13-01T00:00:00.000000Z\", \"type\": \"queued\", \"detail\": 1}]'",
     False, 3),
]


@pytest.mark.parametrize(("value", "refused", "queued"), _EDITED_EVENTS)
async def test_kept_events_edited_into_another_shape(
    engine, seed, tamper, value, refused, queued
):
    records = await seed(3, kept=True)
    change = f"UPDATE audit_records SET events = {value} WHERE seq = 3"
    if refused and engine.dialect.name == "postgresql":
        # Setting the triggers aside does not lift the constraint: the
        # edit never happens.
        with pytest.raises(Exception, match=r"ck_audit_records_events|type json"):
            await tamper(change)
        assert (await verify(engine)).ok
        return
    # On SQLite, or of a shape the constraint lets by: the edit lands, and
    # the trail is read around it.
    await tamper(change)
    assert (await verify(engine)).problems == [f"record {records[1].id} (seq 3) edited"]
    query = AuditQuery(engine)
    shown = await query.get(records[1].id)
    assert shown is not None
    assert shown["damaged"] == ["events"]
    assert shown["sender"] == records[1].sender  # its document reads as ever
    assert [e["type"] for e in shown["events"]] == ["relayed"]
    found = await query.search(SearchFilter(events=(EventFilter("queued", True),)))
    assert len(found) == queued
    assert {records[0].id, records[2].id} <= {d["id"] for d in found}
    report = await query.report(None, None)
    assert (report["records"], report["by_event"]["queued"]) == (3, queued)
    assert set(report["by_event"]) == {"received", "password_held", "queued", "relayed"}
    view = await _view_rows(engine)
    assert view.count((records[1].id, "queued")) == queued - 2
    assert view.count((records[0].id, "queued")) == 1
    assert view.count((records[1].id, "relayed")) == 1


async def test_the_gateway_writes_only_kept_events_the_constraint_accepts(engine, writer):
    # Every event type, with and without detail: on PostgreSQL the
    # constraint has checked each of these rows as it was inserted.
    trail = AuditTrail()
    record = make_record("every-type")
    events = [AuditEvent(t, T0 + timedelta(milliseconds=n), {"n": n} if n % 2 else {})
              for n, t in enumerate(EventType)]
    await writer.submit(trail.record_op(record, events))
    document = await AuditQuery(engine).get("every-type")
    assert document is not None and "damaged" not in document
    assert [e["type"] for e in document["events"]] == [t.value for t in EventType]


async def test_purge_removes_a_record_edited_outside_the_gateway(engine, seed, tamper):
    # Past retention, its kept events edited: the purge refuses, since the
    # row is the evidence (test_purge); forced, it goes ahead (the edited
    # events count as none rather than stopping it) and the trail left
    # verifies.
    old = await seed(2, kept=True, received_at=T0)
    await seed(1, kept=True, received_at=T0 + timedelta(days=400))
    edit = "'not json'" if engine.dialect.name == "sqlite" else "'[\"x\"]'"
    await tamper(f"UPDATE audit_records SET events = {edit} WHERE id = '{old[0].id}'")
    later = T0 + timedelta(days=420)
    with pytest.raises(AuditIntegrityError):
        await purge(engine, AuditTrail(), timedelta(days=365), now=later)
    result = await purge(engine, AuditTrail(), timedelta(days=365), now=later, force=True)
    counted = 0 if engine.dialect.name == "sqlite" else 1  # the edited row's
    assert (result.records, result.events, result.cut_seq) == (2, 3 + counted + 2, 4)
    assert len(result.problems) == 1
    report = await verify(engine)
    assert report.ok, report.problems


# -- across the migration -------------------------------------------------------


async def _write_as_before_0007(engine, records) -> None:
    """Rows as a gateway before migration 0007 wrote them (no `events`
    column): the record, then each event of its life as a chain row."""
    prev, seq = GENESIS, 0
    async with engine.begin() as conn:
        for record in records:
            terms = record.terms()
            row = {
                "id": record.id, "message_id": record.message_id,
                "received_at": record.received_at, "sender": record.sender,
                "verdict": record.verdict, "marking": record.marking,
                "purpose": record.purpose, "terms": terms_text(terms),
                "document": json.dumps(record.document(), sort_keys=True,
                                       separators=(",", ":"), ensure_ascii=False),
            }
            seq += 1
            hash_ = link(prev, record_content(*row.values()))
            await conn.execute(audit_records.insert(), [dict(row, seq=seq, prev_hash=prev,
                                                             hash=hash_)])
            await conn.execute(audit_record_terms.insert(), [
                {"record_seq": seq, "field": f, "value": v, "key": term_key(v),
                 "received_at": record.received_at} for f, v in terms
            ])
            prev = hash_
            for event in life(record):
                seq += 1
                detail = json.dumps(event.detail, sort_keys=True, separators=(",", ":"))
                hash_ = link(prev, event_content(record.id, event.at, event.type.value, detail))
                await conn.execute(audit_events.insert(), [{
                    "seq": seq, "record_id": record.id, "at": event.at,
                    "type": event.type.value, "detail": detail, "prev_hash": prev,
                    "hash": hash_,
                }])
                prev = hash_


async def test_a_trail_written_before_the_migration_verifies_after_it(db_url):
    config = alembic_config(db_url)
    await asyncio.to_thread(command.downgrade, config, "0006")
    engine = create_engine(db_url)
    try:
        old = [make_record(f"before-{n}") for n in range(2)]
        await _write_as_before_0007(engine, old)
        await asyncio.to_thread(command.upgrade, config, "head")
        await engine.dispose()  # (SQLite: the table changed under the pool)
        writer = Writer(engine)
        writer.start()
        try:
            new = make_record("after-1")
            await writer.submit(AuditTrail().record_op(new, life(new)))
        finally:
            await writer.stop()
        report = await verify(engine)
        assert report.ok, report.problems
        assert (report.records, report.events, report.last_seq) == (3, 6, 9)
        query = AuditQuery(engine)
        for record_id in ("before-0", "after-1"):
            document = await query.get(record_id)
            assert document is not None
            assert [e["type"] for e in document["events"]] == [
                "received", "password_held", "queued"
            ]
        async with engine.connect() as conn:
            view = (await conn.execute(text(
                "SELECT record_id, count(*) FROM audit_events_v GROUP BY record_id "
                "ORDER BY record_id"
            ))).all()
        assert [tuple(r) for r in view] == [("after-1", 3), ("before-0", 3), ("before-1", 3)]
        # Going back below 0007 would drop the kept events: refused.
        with pytest.raises(RuntimeError, match="1 audit records keep their events"):
            await asyncio.to_thread(command.downgrade, config, "0006")
    finally:
        await engine.dispose()
