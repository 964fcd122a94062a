"""Prepared statements (gateway.db.prepared) write exactly what Core writes.

The hot path's inserts and updates bypass SQLAlchemy's per-call compilation;
the rows they leave must be indistinguishable from Core's: datetimes in
SQLite's text form, literals carried by the statement (`attempts + 1`,
`last_error = 'gave up'`), NULLs, bytes.  Run through the group-commit Writer (the
sqlite3 shortcut) and through an ordinary async connection, on SQLite and
PostgreSQL.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from sqlalchemy import (
    Column,
    DateTime,
    MetaData,
    Table,
    bindparam,
    event,
    func,
    select,
    text,
    update,
)
from sqlalchemy.dialects import sqlite

from gateway.db import create_engine
from gateway.db.prepared import Prepared, at_flush, collect_writes, flush_writes
from gateway.db.schema import audit_events, queue_contents, queue_messages, queue_recipients
from gateway.queue import Writer

AT = datetime(2026, 3, 4, 5, 6, 7, 890123, tzinfo=UTC)


def _event(seq: int, detail: str = "{}") -> dict[str, object]:
    return {"seq": seq, "record_id": f"r{seq}", "at": AT, "type": "received",
            "detail": detail, "prev_hash": "p" * 64, "hash": f"{seq:064d}"}


def _message(message_id: str) -> dict[str, object]:
    return {"id": message_id, "created_at": 1.5, "mail_from": "a@example.org",
            "envelope": "{}", "size": 6, "state": "active",
            "attempts": 0, "next_attempt_at": 1.5, "claimed_by": "w", "lease_until": 9.5,
            "audit_id": None, "updated_at": 1.5}


def _content(message_id: str) -> dict[str, object]:
    return {"message_id": message_id, "content": b"\x00body\xff"}


FINISH = Prepared(
    update(queue_messages).where(queue_messages.c.id == bindparam("m_id"))
    .values(state=bindparam("state"), attempts=queue_messages.c.attempts + 1,
            claimed_by=None, last_error="gave up")
)


async def _rows(engine, table, key):
    async with engine.connect() as conn:
        return [tuple(r) for r in (await conn.execute(select(table).order_by(key))).all()]


@pytest.mark.parametrize("through", ["writer", "connection"])
async def test_prepared_rows_equal_core_rows(db_url: str, through: str) -> None:
    engine = create_engine(db_url)
    writer = Writer(engine)
    writer.start()
    try:
        async def by_core(conn):
            await conn.execute(audit_events.insert(), [_event(1), _event(2, "{\"a\":1}")])
            await conn.execute(queue_messages.insert(), [_message("core")])
            await conn.execute(
                update(queue_messages).where(queue_messages.c.id == "core")
                .values(state="delivered", attempts=queue_messages.c.attempts + 1,
                        claimed_by=None, last_error="gave up")
            )

        async def by_prepared(conn):
            events = Prepared(audit_events.insert())
            await events.run(conn, [_event(3)])  # one row: execute
            await events.run(conn, [_event(4, "{\"a\":1}")])
            await Prepared(queue_messages.insert()).run(conn, [_message("prep")])
            await FINISH.run(conn, [{"m_id": "prep", "state": "delivered"}])

        await writer.submit(by_core)
        if through == "writer":
            await writer.submit(by_prepared)
        else:
            async with engine.begin() as conn:
                await by_prepared(conn)

        events = await _rows(engine, audit_events, audit_events.c.seq)
        # at, type, detail, prev_hash: the datetime as Core stored it, and so on
        assert [e[2:6] for e in events[:2]] == [e[2:6] for e in events[2:]] != []
        assert [e[0] for e in events] == [1, 2, 3, 4]
        async with engine.connect() as conn:  # the stored text itself, not a read-back
            stored = (await conn.execute(
                text("SELECT CAST(at AS TEXT) FROM audit_events ORDER BY seq"))).scalars().all()
        assert stored[0] == stored[2] and stored[1] == stored[3]
        messages = {m[0]: m[1:] for m in await _rows(engine, queue_messages, queue_messages.c.id)}
        assert messages["prep"] == messages["core"]
        assert messages["prep"][messages_column("attempts")] == 1
        assert messages["prep"][messages_column("last_error")] == "gave up"
    finally:
        await writer.stop()
        await engine.dispose()


def messages_column(name: str) -> int:
    return [c.name for c in queue_messages.columns].index(name) - 1


async def test_prepared_select_returns_rows_and_a_failed_write_is_a_store_error(
    db_url: str,
) -> None:
    from gateway.errors import StoreError

    engine = create_engine(db_url)
    writer = Writer(engine)
    writer.start()
    insert = Prepared(audit_events.insert())
    latest = Prepared(select(audit_events.c.seq).order_by(audit_events.c.seq.desc()).limit(1))
    try:
        await writer.submit(lambda conn: insert.run(conn, [_event(7)]))
        assert [tuple(r) for r in await writer.submit(latest.fetch)] == [(7,)]
        with pytest.raises(StoreError):  # the primary key, taken: wrapped, not leaked
            await writer.submit(lambda conn: insert.run(conn, [_event(7)]))
    finally:
        await writer.stop()
        await engine.dispose()


def test_an_insert_whose_rows_lack_a_defaulted_column_is_refused() -> None:
    from sqlalchemy.dialects import sqlite

    from gateway.db.schema import queue_recipients

    with pytest.raises(ValueError, match="rows lack"):
        Prepared(queue_recipients.insert()).compiled(sqlite.dialect(), ("message_id", "position"))


@pytest.mark.parametrize("value", [
    AT,
    AT.replace(microsecond=0),
    AT.replace(tzinfo=None),
    datetime(2026, 3, 4, 6, 6, 7, tzinfo=timezone(timedelta(hours=1))),
    datetime(999, 1, 2, 3, 4, 5, 6),
    date(2026, 3, 4),
])
def test_the_fast_sqlite_datetime_text_is_sqlalchemys(value: datetime | date) -> None:
    dialect = sqlite.dialect()
    core = DateTime(timezone=True).dialect_impl(dialect).bind_processor(dialect)
    times = Table("times", MetaData(), Column("at", DateTime(timezone=True)))
    compiled = Prepared(times.insert()).compiled(dialect, ("at",))
    ((_, fast, _, _),) = compiled.parameters
    assert fast is not None and core is not None
    assert fast(value) == core(value)
    assert compiled.positional({"at": value}) == (core(value),)


def test_the_fast_sqlite_datetime_text_follows_each_value_in_turn() -> None:
    """It keeps the last value's text (a record's terms repeat its time):
    values taking turns, equal but distinct objects, must each get theirs."""
    dialect = sqlite.dialect()
    core = DateTime(timezone=True).dialect_impl(dialect).bind_processor(dialect)
    times = Table("times", MetaData(), Column("at", DateTime(timezone=True)))
    ((_, fast, _, _),) = Prepared(times.insert()).compiled(dialect, ("at",)).parameters
    assert fast is not None and core is not None
    later = AT + timedelta(microseconds=1)
    same_instant = AT.astimezone(timezone(timedelta(hours=2)))  # equal to AT, other wall time
    for value in (AT, AT, later, AT, same_instant, AT, date(2026, 3, 4), AT):
        assert fast(value) == core(value)


@pytest.fixture
async def started(db_url: str):
    """An engine and its started Writer, both closed afterwards."""
    engine = create_engine(db_url)
    writer = Writer(engine)
    writer.start()
    yield engine, writer
    await writer.stop()
    await engine.dispose()


class _Counted(Prepared):
    """A Prepared that counts the times it hands rows to the driver: once
    per `run`, and once per flush of the rows collected (on PostgreSQL
    maybe in one statement with other inserts)."""

    def __init__(self, statement) -> None:
        super().__init__(statement)
        self.runs: list[int] = []

    def _prepare(self, dialect, rows):
        self.runs.append(len(rows))
        return super()._prepare(dialect, rows)


def _statements(engine) -> list[str]:
    """The SQL the engine's connections send from now on (PostgreSQL's;
    SQLite's writer runs sqlite3 directly, past SQLAlchemy's events)."""
    sent: list[str] = []

    def seen(conn, cursor, statement, parameters, context, executemany) -> None:
        sent.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", seen)
    return sent


async def test_collected_inserts_write_what_core_writes(started) -> None:
    """Rows collected from several inserts (on PostgreSQL one statement of
    unnest arrays, a recipient beside its message) are the rows Core writes:
    bytes, NULLs, floats, datetimes and texts alike."""
    engine, writer = started
    recipient = {"position": 0, "address": "b@example.org", "state": "pending",
                 "route": "upstream", "notify": None, "orcpt": "rfc822;b@example.org",
                 "last_code": None, "last_reply": None}
    async with engine.begin() as conn:
        await conn.execute(queue_messages.insert(), [_message("core")])
        await conn.execute(queue_contents.insert(), [_content("core")])
        await conn.execute(queue_recipients.insert(), [dict(recipient, message_id="core")])
        await conn.execute(audit_events.insert(), [_event(1), _event(2, "{\"a\":1}")])
    sent = _statements(engine)
    messages = Prepared(queue_messages.insert())
    contents = Prepared(queue_contents.insert())
    recipients = Prepared(queue_recipients.insert())
    events = Prepared(audit_events.insert())

    async def collected(conn) -> None:
        await messages.run_later(conn, [_message("prep")])
        await contents.run_later(conn, [_content("prep")])
        await recipients.run_later(conn, [dict(recipient, message_id="prep")])
        await events.run_later(conn, [_event(3), _event(4, "{\"a\":1}")])

    await writer.submit(collected)
    stored = {m[0]: m[1:] for m in await _rows(engine, queue_messages, queue_messages.c.id)}
    assert stored["prep"] == stored["core"]
    kept = dict(await _rows(engine, queue_contents, queue_contents.c.message_id))
    assert kept == {"core": b"\x00body\xff", "prep": b"\x00body\xff"}
    by_message = {r[1]: r[2:] for r in await _rows(engine, queue_recipients, queue_recipients.c.id)}
    assert by_message["prep"] == by_message["core"]
    rows = await _rows(engine, audit_events, audit_events.c.seq)
    assert [e[2:6] for e in rows[:2]] == [e[2:6] for e in rows[2:]] != []
    if engine.dialect.name == "postgresql":
        inserts = [s for s in sent if "INSERT" in s]
        assert len(inserts) == 1 and inserts[0].startswith("WITH ")


async def test_an_update_collected_between_inserts_keeps_its_place(started) -> None:
    """Only inserts collected one after the other go together: an update
    collected between them runs after the first and before the second, as
    each would have in place."""
    engine, writer = started
    messages = _Counted(queue_messages.insert())
    events = _Counted(audit_events.insert())
    sent = _statements(engine)

    async def collected(conn) -> None:
        await messages.run_later(conn, [_message("m1")])
        await FINISH.run_later(conn, [{"m_id": "m1", "state": "delivered"}])
        await events.run_later(conn, [_event(1)])
        await messages.run_later(conn, [_message("m2")])  # the first insert's statement

    await writer.submit(collected)
    assert messages.runs == [2] and events.runs == [1]
    rows = await _rows(engine, queue_messages, queue_messages.c.id)
    state = messages_column("state") + 1
    assert [(r[0], r[state]) for r in rows] == [("m1", "delivered"), ("m2", "active")]
    if engine.dialect.name == "postgresql":
        writes = [s.split()[0] for s in sent if s.split()[0] in ("INSERT", "UPDATE", "WITH")]
        assert writes == ["INSERT", "UPDATE", "INSERT"]


async def _count(conn, table) -> int:
    return int((await conn.execute(select(func.count()).select_from(table))).scalar_one())


async def test_rows_collected_wait_for_the_end_of_the_writers_batch(started) -> None:
    engine, writer = started
    events = _Counted(audit_events.insert())
    messages = _Counted(queue_messages.insert())

    def adding(seq: int):
        async def write(conn) -> None:
            await events.run_later(conn, [_event(seq)])
            await messages.run_later(conn, [_message(f"m{seq}")])

        return write

    # Submitted together: one batch, one transaction.
    await asyncio.gather(*(writer.submit(adding(seq)) for seq in range(1, 6)))
    assert writer.batches == 1
    assert events.runs == [5]  # all five in one executemany, at the end
    assert messages.runs == [5]
    async with engine.connect() as conn:
        assert await _count(conn, audit_events) == 5
        assert await _count(conn, queue_messages) == 5


async def test_a_statement_not_collected_sees_the_rows_collected_before_it(started) -> None:
    """The Writer's connection writes the collected rows before any other
    statement, so an operation sees the batch as if each write had run in
    place; the work waiting for the flush still waits."""
    engine, writer = started
    messages = _Counted(queue_messages.insert())
    events = _Counted(audit_events.insert())
    seen: list[tuple[str, int]] = []
    ran: list[str] = []

    def adding(seq: int):
        async def write(conn) -> None:
            await messages.run_later(conn, [_message(f"m{seq}")])

            async def at_the_end() -> None:
                ran.append(f"m{seq}")
                await events.run_later(conn, [_event(seq)])

            await at_flush(conn, at_the_end)

        return write

    async def reading(conn) -> None:
        seen.append(("messages", await _count(conn, queue_messages)))
        seen.append(("events", await _count(conn, audit_events)))
        assert ran == []

    async def updating(conn) -> None:
        await FINISH.run(conn, [{"m_id": "m1", "state": "delivered"}])  # at once: settles first

    await asyncio.gather(
        writer.submit(adding(1)), writer.submit(adding(2)), writer.submit(reading),
        writer.submit(adding(3)), writer.submit(updating),
    )
    assert writer.batches == 1
    assert seen == [("messages", 2), ("events", 0)]
    assert messages.runs == [2, 1]  # before the read, before the update
    assert ran == ["m1", "m2", "m3"]
    assert events.runs == [3]
    rows = await _rows(engine, queue_messages, queue_messages.c.id)
    assert [(r[0], r[messages_column("state") + 1]) for r in rows] == [("m1", "delivered"), ("m2", "active"), ("m3", "active")]


async def test_flushing_writes_the_rows_so_far_and_other_transactions_insert_at_once(
    started,
) -> None:
    engine, writer = started
    events = _Counted(audit_events.insert())

    async def read_back(conn) -> tuple[int, int]:
        async def linking() -> None:  # the trail's linking waits for a flush
            await events.run_later(conn, [_event(3)])

        await events.run_later(conn, [_event(1), _event(2)])
        await at_flush(conn, linking)
        before = await _count(conn, audit_events)  # the rows, not the work
        await flush_writes(conn)  # what a writer operation that reads the trail does
        after = await _count(conn, audit_events)
        await events.run_later(conn, [_event(4)])  # collected again, written at the end
        return before, after

    assert await writer.submit(read_back) == (2, 3)
    assert events.runs == [2, 1, 1]

    async with engine.begin() as conn:  # not the Writer's: nobody would flush
        await events.run_later(conn, [_event(5)])
        assert await _count(conn, audit_events) == 5
    with pytest.raises(RuntimeError, match="needs a transaction"):
        async with engine.connect() as conn:
            collect_writes(conn)


async def test_a_failed_batch_drops_its_collected_rows_and_each_operation_retries_alone(
    started,
) -> None:
    from gateway.errors import StoreError

    engine, writer = started
    events = Prepared(audit_events.insert())

    def adding(seq: int):
        return lambda conn: events.run_later(conn, [_event(seq)])

    await writer.submit(adding(1))
    # Seq 1 again fails at the batch's flush; its neighbours still land, once each.
    results = await asyncio.gather(
        writer.submit(adding(2)), writer.submit(adding(1)), writer.submit(adding(3)),
        return_exceptions=True,
    )
    assert [type(r) for r in results] == [type(None), StoreError, type(None)]
    assert [e[0] for e in await _rows(engine, audit_events, audit_events.c.seq)] == [1, 2, 3]


async def test_work_at_flush_runs_in_order_after_the_operations(started) -> None:
    engine, writer = started
    events = _Counted(audit_events.insert())
    ran: list[tuple[str, int | None]] = []

    def adding(name: str, seq: int, reads: bool):
        async def write(conn) -> None:
            async def at_the_end() -> None:
                # A statement of the work sees the rows collected before it
                # (the trail's lock and head read do); what the work itself
                # collects goes out with the rows collected after it.
                ran.append((name, await _count(conn, audit_events) if reads else None))
                await events.run_later(conn, [_event(seq)])

            await at_flush(conn, at_the_end)
            assert ran == []  # not yet: the batch is still running its operations
            await events.run_later(conn, [_event(seq + 10)])

        return write

    await asyncio.gather(
        writer.submit(adding("first", 1, reads=True)),
        writer.submit(adding("second", 2, reads=False)),
        writer.submit(adding("third", 3, reads=False)),
    )
    assert writer.batches == 1
    assert ran == [("first", 3), ("second", None), ("third", None)]
    assert events.runs == [3, 3]  # the operations' rows, then all the work's, one executemany

    async with engine.begin() as conn:  # not collecting: the work runs at once
        async def now() -> None:
            ran.append(("now", await _count(conn, audit_events)))

        await at_flush(conn, now)
        assert ran[-1] == ("now", 6)


async def test_a_tail_goes_with_the_inserts_collected_last_and_returns_its_rows(started) -> None:
    """PostgreSQL: `settle_with` writes what was collected up to the last
    update as `settle` would, then the inserts after it and the tail in one
    statement (its parameters numbered after theirs), and returns the
    tail's rows, which see the order kept."""
    from gateway.db.prepared import Tail, settle_with

    engine, writer = started
    if engine.dialect.name != "postgresql":
        pytest.skip("a tail is PostgreSQL's")
    messages = _Counted(queue_messages.insert())
    events = _Counted(audit_events.insert())
    sent = _statements(engine)
    tail = Tail(with_="n AS (SELECT $1::integer + $2::integer AS total)",
                select="SELECT total, (SELECT state FROM queue_messages WHERE id = 'm1') FROM n")

    async def collected(conn):
        await messages.run_later(conn, [_message("m1")])
        await FINISH.run_later(conn, [{"m_id": "m1", "state": "delivered"}])
        await messages.run_later(conn, [_message("m2")])
        await events.run_later(conn, [_event(1), _event(2)])
        return await settle_with(conn, tail, [40, 2])

    rows = await writer.submit(collected)
    assert [tuple(r) for r in rows] == [(42, "delivered")]
    # m2 goes with m1, whose statement was collected first (the module's
    # docstring): the events are the inserts after the update.
    assert messages.runs == [2] and events.runs == [2]
    stored = await _rows(engine, queue_messages, queue_messages.c.id)
    assert [(r[0], r[messages_column("state") + 1]) for r in stored] == [("m1", "delivered"), ("m2", "active")]
    assert len(await _rows(engine, audit_events, audit_events.c.seq)) == 2
    writes = [s for s in sent if s.split()[0] in ("INSERT", "UPDATE", "WITH")]
    assert [s.split()[0] for s in writes] == ["INSERT", "UPDATE", "WITH"]
    assert "INSERT INTO audit_events" in writes[2] and "SELECT total" in writes[2]
    assert "$8::integer + $9::integer" in writes[2]  # after the events' seven columns
