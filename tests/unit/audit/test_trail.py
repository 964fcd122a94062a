"""Appending: one record per message with every field, events in order, one
unbroken chain even under group commit and several processes."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from datetime import datetime, timedelta

import pytest
from audit_support import T0, life, make_record
from gwtest import SqliteSteps, run_in_thread
from sqlalchemy import select, text
from sqlalchemy.exc import OperationalError

from gateway.audit import (
    AuditEvent,
    AuditQuery,
    AuditRecipient,
    AuditTrail,
    EventType,
    SearchFilter,
    verify,
)
from gateway.audit import trail as trail_module
from gateway.audit.chain import GENESIS
from gateway.audit.record import utc
from gateway.audit.trail import _HEAD, lock_and_read_head
from gateway.db import create_engine
from gateway.db.schema import (
    audit_checkpoints,
    audit_events,
    audit_record_terms,
    audit_records,
)
from gateway.queue import Writer


async def test_a_message_life_is_one_record_with_every_field_and_events_in_order(
    engine, writer, trail
):
    record = make_record("msg-life")
    await writer.submit(trail.record_op(record, life(record)))
    later = [
        AuditEvent(EventType.RELAYED, T0 + timedelta(seconds=2), {"code": 250}),
        AuditEvent(EventType.DELIVERY_CONFIRMED, T0 + timedelta(minutes=1)),
        AuditEvent(EventType.READ_CONFIRMED, T0 + timedelta(minutes=5)),
        AuditEvent(EventType.PASSWORD_RELEASED, T0 + timedelta(minutes=5, seconds=1)),
    ]
    for event in later:  # each arrives in its own transaction, as in production
        await writer.submit(trail.events_op(record.id, [event]))

    document = await AuditQuery(engine).get("msg-life")
    assert document is not None
    assert document["received_at"] == "2026-03-02T09:30:00.123456+00:00"
    assert document["sender"] == "Alice.Smith@council.example"
    assert document["recipients"] == [{
        "address": "Dr.Jones@nhs.example", "name": "Dr Rhys Jones",
        "job_title": "Named GP for safeguarding", "department": "Safeguarding",
        "organisation": "Riverside NHS Trust", "telephone": "01632 960001",
        "listed_as": "dr.jones@nhs.example",
    }]
    assert document["purpose"] == "Child protection case conference"
    assert document["consent"] == "Share with the GP only"
    assert document["authorised_by"] == "J Patel, Team Manager"
    assert document["information_types"] == ["uk_nhs_number", "date_of_birth"]
    assert document["marking"] == "OFFICIAL-SENSITIVE"
    assert document["verdict"] == "protect"
    assert document["reasons"] == [
        {"code": "unencrypted_attachment", "text": "report.docx is not encrypted"}
    ]
    assert document["method"].startswith("email, AES-256 zip")
    assert document["attachments"] == [{"filename": "report.zip", "content_type": "application/zip",
                                         "encryption": "aes-256", "read_only": True}]
    assert [e["type"] for e in document["events"]] == [
        "received", "password_held", "queued", "relayed", "delivery_confirmed",
        "read_confirmed", "password_released",
    ]
    assert document["events"][3]["detail"] == {"code": 250}
    assert document["events"][0]["at"] == "2026-03-02T09:30:00.123456+00:00"

    async with engine.connect() as conn:
        records = (await conn.execute(select(audit_records.c.seq, audit_records.c.prev_hash,
                                             audit_records.c.events)))
        ((seq, prev_hash, kept),) = records
        assert (seq, prev_hash) == (1, GENESIS)
        # The life's events are kept in the record's row (hashed with it),
        # the later ones are rows of the chain of their own.
        assert [(e["type"], e["at"]) for e in json.loads(kept)] == [
            ("received", "2026-03-02T09:30:00.123456Z"),
            ("password_held", "2026-03-02T09:30:00.128456Z"),
            ("queued", "2026-03-02T09:30:00.133456Z"),
        ]
        seqs = (await conn.execute(select(audit_events.c.seq).order_by(audit_events.c.seq)))
        assert [s for (s,) in seqs] == [2, 3, 4, 5]
        # The auditors' view shows them all, with the same columns as ever.
        view = (await conn.execute(text(
            "SELECT seq, record_id, at, type, detail FROM audit_events_v ORDER BY seq, at"
        ))).all()
        assert [(seq, rid, type_) for seq, rid, _, type_, _ in view] == [
            (1, "msg-life", "received"), (1, "msg-life", "password_held"),
            (1, "msg-life", "queued"), (2, "msg-life", "relayed"),
            (3, "msg-life", "delivery_confirmed"), (4, "msg-life", "read_confirmed"),
            (5, "msg-life", "password_released"),
        ]
        assert [json.loads(detail) for *_, detail in view[:4]] == [
            {"size": 2048}, {}, {"queue_id": "msg-life"}, {"code": 250},
        ]
        # times as the time columns of audit_events have them (SQLite: text)
        times = [utc(at if isinstance(at, datetime) else datetime.fromisoformat(at))
                 for _, _, at, _, _ in view[:4]]
        assert times == [T0, T0 + timedelta(milliseconds=5), T0 + timedelta(milliseconds=10),
                         T0 + timedelta(seconds=2)]
        terms = (await conn.execute(select(audit_record_terms.c.field, audit_record_terms.c.value)
                                    .order_by(audit_record_terms.c.field)))
        assert sorted(tuple(t) for t in terms) == [
            ("organisation", "Riverside NHS Trust"), ("reason", "unencrypted_attachment"),
            ("recipient", "Dr.Jones@nhs.example"), ("type", "date_of_birth"),
            ("type", "uk_nhs_number"),
        ]
    assert (await verify(engine)).ok


async def test_the_record_never_holds_values_or_passwords(engine, writer, trail):
    record = make_record("msg-clean")
    await writer.submit(trail.record_op(record, life(record)))
    async with engine.connect() as conn:
        (document,) = (await conn.execute(select(audit_records.c.document))).one()
    stored = json.loads(document)
    # Only the DESIGN.md fields (plus queue_id): no body, no matches, no password.
    assert set(stored) == {
        "id", "message_id", "received_at", "sender", "recipients", "subject", "purpose",
        "consent", "authorised_by", "information_types", "marking", "verdict", "reasons",
        "method", "attachments", "queue_id",
    }


async def test_group_commit_keeps_one_unbroken_chain(engine, writer, trail):
    records = [make_record() for _ in range(60)]
    # Concurrent submissions land in shared transactions: the head is read
    # once per transaction and carried from one operation to the next.
    await asyncio.gather(*(writer.submit(trail.record_op(r, life(r))) for r in records))
    await asyncio.gather(*(
        writer.submit(trail.events_op(r.id, [AuditEvent(EventType.RELAYED, T0)])) for r in records
    ))
    assert writer.batches < 120
    report = await verify(engine)
    assert report.ok, report.problems
    # (each record's life kept in its row, then the relayed event)
    assert (report.records, report.events, report.last_seq) == (60, 60, 120)


async def test_a_failed_batch_does_not_leave_a_stale_head(engine, writer, trail):
    good = make_record("good-1")
    dup = make_record("good-1")  # same id: the unique key refuses it
    other = make_record("good-2")
    results = await asyncio.gather(
        writer.submit(trail.record_op(good, life(good))),
        writer.submit(trail.record_op(dup, life(dup))),
        writer.submit(trail.record_op(other, life(other))),
        return_exceptions=True,
    )
    assert [isinstance(r, Exception) for r in results] == [False, True, False]
    report = await verify(engine)
    assert report.ok, report.problems
    assert report.records == 2


async def test_periodic_checkpoints(engine, writer):
    trail = AuditTrail(checkpoint_every=5)
    for _ in range(6):
        record = make_record()
        await writer.submit(trail.record_op(record, life(record)))  # 1 row each
        await writer.submit(trail.events_op(record.id, [  # and 1 more
            AuditEvent(EventType.RELAYED, T0 + timedelta(seconds=1))
        ]))
    async with engine.connect() as conn:
        rows = (await conn.execute(text(
            "SELECT kind, seq, signature FROM audit_checkpoints ORDER BY seq"
        ))).all()
    assert [(k, s) for k, s, _ in rows] == [("periodic", 5), ("periodic", 10)]
    assert all(sig is None for *_, sig in rows)  # no key: unsigned
    assert (await verify(engine)).ok


@pytest.mark.postgres
async def test_several_processes_append_to_one_chain(pg_url):
    """Three gateways (engines with their own writers) share PostgreSQL: the
    advisory lock serialises them into one chain."""
    engines = [create_engine(pg_url) for _ in range(3)]
    writers = [Writer(e) for e in engines]
    for w in writers:
        w.start()
    trail = AuditTrail()
    try:
        async def one(i: int) -> None:
            record = make_record()
            w = writers[i % 3]
            await w.submit(trail.record_op(record, life(record)))
            await w.submit(trail.events_op(record.id, [AuditEvent(EventType.RELAYED, T0)]))

        await asyncio.gather(*(one(i) for i in range(90)))
        report = await verify(engines[0])
        assert report.ok, report.problems
        assert (report.records, report.events) == (90, 90)
    finally:
        for w in writers:
            await w.stop()
        for e in engines:
            await e.dispose()


async def _locked_head(engine):
    async with engine.begin() as conn:
        return await lock_and_read_head(conn)


@pytest.mark.postgres
async def test_a_gateway_that_waited_for_the_chain_lock_reads_the_head_committed_meanwhile(
    pg_url,
):
    """The lock and the head come in one statement (migration 0005's
    function).  A statement alone would read the chain as it was when it
    began, before the lock was granted; the function's query after the
    lock reads it as the lock's last holder left it."""
    engines = [create_engine(pg_url) for _ in range(2)]
    trail = AuditTrail()
    try:
        async with engines[0].connect() as holder:
            await holder.begin()
            first = await lock_and_read_head(holder)
            await trail.append_record(holder, make_record("holder"))
            waiting = asyncio.ensure_future(_locked_head(engines[1]))
            await asyncio.sleep(0.3)
            assert not waiting.done()  # the lock holds it back
            await holder.commit()
        head = await asyncio.wait_for(waiting, 10)
        assert head.seq == first.seq + 1
        async with engines[0].connect() as conn:
            assert head.hash == (await conn.execute(
                select(audit_records.c.hash).where(audit_records.c.id == "holder")
            )).scalar_one()
    finally:
        for e in engines:
            await e.dispose()


@pytest.mark.postgres
async def test_the_chain_lock_waits_for_the_end_of_a_batch(pg_url):
    """A batch links its rows into the chain at its end: until then another
    process appends and commits without waiting for it.  (The lock used to
    be taken at a batch's first append and held through the rest of its
    operations, so two gateways on one database took turns.)"""
    engines = [create_engine(pg_url) for _ in range(2)]
    writers = [Writer(e) for e in engines]
    for w in writers:
        w.start()
    trail = AuditTrail()
    slow, quick = make_record("slow-batch"), make_record("quick-batch")
    appended, release = asyncio.Event(), asyncio.Event()

    async def slow_batch(conn):
        await trail.record_op(slow, life(slow))(conn)
        appended.set()
        await release.wait()  # the batch's later operations, still running

    try:
        pending = asyncio.ensure_future(writers[0].submit(slow_batch))
        await asyncio.wait_for(appended.wait(), 10)
        # Would wait for the slow batch's commit if it held the chain's lock.
        await asyncio.wait_for(writers[1].submit(trail.record_op(quick, life(quick))), 10)
        release.set()
        await asyncio.wait_for(pending, 10)
        report = await verify(engines[0])
        assert report.ok, report.problems
        async with engines[0].connect() as conn:
            order = (await conn.execute(
                select(audit_records.c.id).order_by(audit_records.c.seq)
            )).scalars().all()
        assert order == ["quick-batch", "slow-batch"]  # linked at commit time, in that order
    finally:
        release.set()
        for w in writers:
            await w.stop()
        for e in engines:
            await e.dispose()


async def test_a_checkpoint_in_a_batch_pins_the_rows_appended_before_it(engine, writer, trail):
    record = make_record("checkpointed")

    async def write(conn):
        await trail.record_op(record, life(record))(conn)
        await trail.events_op(record.id, [AuditEvent(EventType.RELAYED, T0)])(conn)
        return await trail.write_checkpoint(conn, "manual")

    point = await writer.submit(write)
    assert point.seq == 2  # the record and the event, linked first
    report = await verify(engine)
    assert report.ok, report.problems


async def test_any_text_hashes_the_same_in_python_and_in_sql(engine, writer, trail):
    """PostgreSQL's verify recomputes hashes in SQL: non-ASCII, control
    characters, NULLs and odd times must hash as in Python."""
    record = make_record(
        "msg-unicode",
        received_at=T0.replace(microsecond=0),
        sender="zoë.ß@école.example",
        recipients=(AuditRecipient("名前@例え.jp", "Ånne \"Q\" O'Neil", "line\nbreak\ttab\x01",
                                   "", "Ünïcode Trust 😀", ""),),
        purpose=None,
        marking=None,
        reasons=(),
        information_types=(),
    )
    await writer.submit(trail.record_op(record, [
        AuditEvent(EventType.RECEIVED, T0.replace(microsecond=999999), {"note": "ça va \u2028"}),
    ]))
    report = await verify(engine)
    assert report.ok, report.problems
    found = await AuditQuery(engine).search(SearchFilter(organisation="üNÏCODE trust 😀"))
    assert [d["id"] for d in found] == ["msg-unicode"]


async def test_the_rows_of_a_batch_are_written_at_its_end_and_read_back_after_a_flush(
    engine, writer, trail
):
    from gateway.receipts.desk import ReceiptDesk
    from gateway.receipts.parse import Outcome

    record = make_record("batched-1")
    unauthenticated = AuditEvent(EventType.RECEIPT_UNVERIFIED, T0,
                                 {"index": 0, "outcome": "delivered", "authenticated": False})

    async def write(conn):
        await trail.record_op(record, life(record))(conn)
        waiting = (await conn.execute(select(audit_records.c.id))).all()
        await trail.append_events(conn, record.id, [unauthenticated])
        # The receipts desk reads the events back within the batch: a second
        # unauthenticated receipt for the same recipient must see the first.
        seen = await ReceiptDesk._already_audited(conn, record.id, 0, Outcome.DELIVERED)
        return waiting, seen

    waiting, seen = await writer.submit(write)
    assert waiting == []  # collected, not yet inserted
    assert seen is True
    report = await verify(engine)
    assert report.ok, report.problems
    assert (report.records, report.events) == (1, 1)  # the life is kept in the record's row


@pytest.mark.postgres
async def test_a_batch_on_postgresql_is_linked_and_written_with_its_queue_rows_in_one_statement(
    engine, writer, trail
):
    """On PostgreSQL the database links the batch's trail rows into the
    chain (migration 0006) in the statement that writes the batch's other
    inserts: one round trip, no separate lock-and-head call.  The hashes
    it computes are the ones gateway.audit.chain computes."""
    from sqlalchemy import event

    from gateway.audit.chain import event_content, link, record_content
    from gateway.db.prepared import Prepared
    from gateway.db.schema import queue_messages

    if engine.dialect.name != "postgresql":
        pytest.skip("the database links the chain on PostgreSQL only")
    sent: list[str] = []
    event.listen(engine.sync_engine, "before_cursor_execute",
                 lambda conn, cursor, statement, *rest: sent.append(statement))
    insert_message = Prepared(queue_messages.insert())
    records = [make_record(f"one-trip-{n}", sender=f"zoë{n}@école.example") for n in range(3)]

    def accept(record):
        async def operation(conn):
            await insert_message.run_later(conn, [{
                "id": record.id, "created_at": 0.0, "mail_from": record.sender,
                "envelope": "{}", "content": b"body\r\n", "size": 6, "state": "queued",
                "attempts": 0, "next_attempt_at": 0.0, "claimed_by": None,
                "lease_until": None, "last_error": None, "audit_id": record.id,
                "updated_at": 0.0,
            }])
            await trail.record_op(record, life(record))(conn)
            await trail.events_op(record.id, [AuditEvent(EventType.RELAYED, T0)])(conn)
        return operation

    before = writer.batches
    await asyncio.gather(*(writer.submit(accept(r)) for r in records))
    assert writer.batches == before + 1
    writes = [s for s in sent if "INSERT" in s or "audit_chain" in s]
    assert len(writes) == 1, writes
    assert "INSERT INTO queue_messages" in writes[0] and "audit_chain_link" in writes[0]

    async with engine.connect() as conn:
        contents = {seq: (record_content(*columns), prev_hash, hash_)
                    for seq, *columns, prev_hash, hash_ in await conn.execute(text(
                        "SELECT seq, id, message_id, received_at, sender, verdict, marking,"
                        " purpose, terms, document, events, prev_hash, hash"
                        " FROM audit_records"))}
        contents |= {seq: (event_content(*columns), prev_hash, hash_)
                     for seq, *columns, prev_hash, hash_ in await conn.execute(text(
                         "SELECT seq, record_id, at, type, detail, prev_hash, hash"
                         " FROM audit_events"))}
    assert sorted(contents) == list(range(1, 3 * 2 + 1))  # a record and an event each
    prev = GENESIS
    for seq in sorted(contents):
        content, prev_hash, hash_ = contents[seq]
        assert (prev_hash, hash_) == (prev, link(prev, content)), seq
        prev = hash_
    report = await verify(engine)
    assert report.ok, report.problems


@pytest.mark.postgres
async def test_the_application_role_appends_in_a_batch(engine, writer, trail):
    """The role the gateway runs as (gateway_app) may call the function that
    links a batch's rows (migration 0006's grant)."""
    if engine.dialect.name != "postgresql":
        pytest.skip("roles are PostgreSQL's")
    record = make_record("as-the-app")

    async def as_app(conn):
        await conn.execute(text("SET LOCAL ROLE gateway_app"))
        await trail.record_op(record, life(record))(conn)
        return (await conn.execute(text("SELECT current_user"))).scalar()

    assert await writer.submit(as_app) == "gateway_app"
    report = await verify(engine)
    assert report.ok, report.problems
    assert report.records == 1


# A trail some years old: a periodic checkpoint every 1,000 chain rows, and a
# purge's cut among them.
_CHECKPOINTS = 3000


async def _old_trail_checkpoints(engine) -> tuple[int, str]:
    """The checkpoints of a long trail with no rows left (a purge cut them
    all): the head is the cut's (seq, hash)."""
    cut = (4_000, "c" * 64)
    rows = [
        {"at": T0, "kind": "periodic", "seq": n * 1000, "hash": f"{n:064x}", "detail": "{}"}
        for n in range(1, _CHECKPOINTS + 1)
    ]
    rows.insert(len(rows) // 2, {"at": T0, "kind": "cut", "seq": cut[0], "hash": cut[1],
                                 "detail": "{}"})
    async with engine.begin() as conn:
        await conn.execute(audit_checkpoints.insert(), rows)
        if conn.dialect.name == "postgresql":
            await conn.execute(text("ANALYZE audit_checkpoints"))
    return cut


async def test_the_chain_head_is_found_without_reading_every_checkpoint(engine, db_url):
    """Every appending transaction reads the chain's head, the last `cut`
    checkpoint included.  Without an index on the checkpoints' kind
    (migration 0009) that read went through all of them: 7 ms per batch at
    100,000 checkpoints, on SQLite on the event loop, on PostgreSQL under
    the chain's lock."""
    cut = await _old_trail_checkpoints(engine)
    async with engine.begin() as conn:
        head = await lock_and_read_head(conn)
        assert (head.seq, head.hash) == cut
        if conn.dialect.name == "postgresql":
            # This transaction's own reads of the table, so far.
            (sequential_rows, index_scans), = (await conn.execute(text(
                "SELECT seq_tup_read, idx_scan FROM pg_stat_xact_user_tables"
                " WHERE relname = 'audit_checkpoints'"
            ))).all()
            assert sequential_rows == 0 and index_scans >= 1
    if engine.dialect.name == "sqlite":
        # The same statement through sqlite3, counting the virtual machine's
        # steps: a read of every checkpoint takes several per row.
        raw = sqlite3.connect(db_url.removeprefix("sqlite+aiosqlite:///"))
        try:
            compiled = _HEAD.compiled(engine.dialect)
            parameters = [value if literal else None
                          for _, _, literal, value in compiled.parameters]
            with SqliteSteps(raw) as steps:
                assert max(raw.execute(compiled.sql, parameters).fetchall()) == cut
            assert steps.count < _CHECKPOINTS // 5, steps.count  # every checkpoint: 9,331
        finally:
            raw.close()


# SQLite: another process appending while the gateway runs (`gateway audit
# purge` from cron, `gateway audit checkpoint`).  Its engine gives up on a
# locked database after a short wait rather than the gateway's 30 s.
_IMPATIENT = 0.3


def _append_from_another_process(sqlite_url: str) -> BaseException | None:
    """Append a `purged` event as a second process would, on a connection of
    its own (in a thread with its own loop, so it can run while the caller's
    loop is held); what it raised, or None once committed."""
    from sqlalchemy.ext.asyncio import create_async_engine

    async def append() -> None:
        other = create_async_engine(sqlite_url, connect_args={"timeout": _IMPATIENT})
        try:
            async with other.begin() as conn:
                await AuditTrail().append_events(conn, "purge-other", [
                    AuditEvent(EventType.PURGED, T0, {"records": 0})
                ])
        finally:
            await other.dispose()

    try:
        run_in_thread(append)
    except OperationalError as refused:
        return refused
    return None


async def test_on_sqlite_the_writer_reads_the_chain_head_holding_the_write_lock(
    sqlite_url, monkeypatch
):
    """The Writer's batch links its rows after reading the chain's head.
    That read must hold SQLite's write lock until the commit: read outside
    a transaction (sqlite3 opens one only at the first INSERT), another
    process could append at head + 1 in between, in the other table, and
    the chain would fork with no primary key to refuse it."""
    engine = create_engine(sqlite_url)
    writer = Writer(engine)
    writer.start()
    trail = AuditTrail()
    meanwhile: list[BaseException | None] = []
    read = trail_module.read_head
    writers_read = asyncio.get_running_loop()

    async def read_then_let_another_process_append(conn):
        head = await read(conn)
        # Only the Writer's read, on this loop's thread: the other
        # process's own read goes through here too.
        if asyncio.get_running_loop() is writers_read and not meanwhile:
            meanwhile.append(_append_from_another_process(sqlite_url))
        return head

    try:
        first = make_record("first")
        await writer.submit(trail.record_op(first, life(first)))
        monkeypatch.setattr(trail_module, "read_head", read_then_let_another_process_append)
        second = make_record("second")
        await writer.submit(trail.record_op(second, life(second)))
        monkeypatch.undo()

        (refused,) = meanwhile
        assert isinstance(refused, OperationalError), refused
        assert "database is locked" in str(refused)
        # Once the batch has committed, the other process appends after it.
        assert _append_from_another_process(sqlite_url) is None
        report = await verify(engine)
        assert report.ok, report.problems
        assert (report.records, report.events) == (2, 1)
    finally:
        await writer.stop()
        await engine.dispose()


async def test_on_sqlite_an_append_outside_the_writer_holds_the_write_lock_from_its_head_read(
    sqlite_url,
):
    """`gateway audit purge` and `gateway audit checkpoint` read the head in
    a transaction of their own, then write: from that read to their commit
    the gateway's Writer must not append (the purge's event would take a
    place the Writer had taken)."""
    engine = create_engine(sqlite_url)
    try:
        async with engine.begin() as conn:
            head = await lock_and_read_head(conn)
            refused = await asyncio.to_thread(_append_from_another_process, sqlite_url)
            assert isinstance(refused, OperationalError), refused
            await AuditTrail().append_events(conn, "purge-first", [
                AuditEvent(EventType.PURGED, T0, {"records": 0})
            ])
        assert await asyncio.to_thread(_append_from_another_process, sqlite_url) is None
        report = await verify(engine)
        assert report.ok, report.problems
        assert report.events == 2 and head.seq == 0
    finally:
        await engine.dispose()
