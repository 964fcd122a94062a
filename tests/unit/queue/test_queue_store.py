"""The durable queue on real databases: enqueue, claim and lease, release,
retry, backoff, and the `gateway queue` commands."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import sqlite3
import time
from datetime import timedelta

import pytest
from gwtest import make_message, write_config
from sqlalchemy import select

from gateway.cli import main
from gateway.db import create_engine, queue_recipients
from gateway.model import Envelope, RecipientDsn
from gateway.queue import NewMessage, QueueState, QueueStore, Writer, next_delay
from gateway.queue.states import RecipientState
from gateway.queue.store import RecipientOutcome, new_queue_id


class Stores:
    """Queue stores over one database, as separate processes would have them."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.opened: list[tuple[Writer, object]] = []

    def open(self, worker_id: str, lease: float = 30.0) -> QueueStore:
        engine = create_engine(self.url)
        writer = Writer(engine)
        writer.start()
        self.opened.append((writer, engine))
        return QueueStore(engine, writer, worker_id=worker_id, lease_seconds=lease)

    async def close(self) -> None:
        for writer, engine in self.opened:
            await writer.stop()
            await engine.dispose()


@pytest.fixture
async def stores(db_url):
    opened = Stores(db_url)
    yield opened
    await opened.close()


def envelope(n: int = 0, **kw) -> Envelope:
    return Envelope(
        mail_from="alice@sender.example",
        rcpt_tos=(f"bob{n}@recipient.example", f"carol{n}@recipient.example"),
        rcpt_dsn=(RecipientDsn(("SUCCESS", "FAILURE"), "rfc822;bob@recipient.example"),
                  RecipientDsn()),
        dsn_ret="HDRS", dsn_envid="ENV123", peer="127.0.0.1", helo="client.example", **kw,
    )


# --------------------------------------------------------------------------
# backoff


def test_backoff_follows_the_schedule_and_repeats_the_last():
    schedule = [timedelta(minutes=1), timedelta(minutes=5), timedelta(hours=1)]
    assert [next_delay(schedule, n).total_seconds() for n in range(1, 7)] == [
        60, 300, 3600, 3600, 3600, 3600]
    assert next_delay(schedule, 0) == schedule[0]
    with pytest.raises(ValueError):
        next_delay([], 1)


def test_queue_ids_are_unique_and_time_ordered():
    ids = [new_queue_id() for _ in range(200)]
    assert len(set(ids)) == 200
    assert all(len(i) == 16 for i in ids)
    earlier = new_queue_id()
    time.sleep(0.01)
    assert new_queue_id()[:9] > earlier[:9]


def test_queue_ids_random_part_uses_the_whole_alphabet():
    # One draw per id covers all seven random characters: each position
    # must still take every letter of the alphabet.
    ids = [new_queue_id() for _ in range(3000)]
    for position in range(9, 16):
        assert len({i[position] for i in ids}) == 30


# --------------------------------------------------------------------------
# the store


async def test_enqueue_claims_and_round_trips_the_envelope(stores):
    store = stores.open("worker-a")
    content = make_message()
    queued = await store.enqueue(NewMessage(envelope=envelope(), content=content))
    assert queued.state == QueueState.ACTIVE and queued.claimed_by == "worker-a"
    loaded = await store.get(queued.id)
    assert loaded is not None
    assert loaded.content == content
    assert loaded.state == "active"
    assert loaded.envelope.dsn_ret == "HDRS" and loaded.envelope.dsn_envid == "ENV123"
    assert loaded.envelope.rcpt_tos == ("bob0@recipient.example", "carol0@recipient.example")
    assert loaded.recipients[0].notify == ("SUCCESS", "FAILURE")
    assert loaded.recipients[0].orcpt == "rfc822;bob@recipient.example"
    assert loaded.recipients[1].notify == () and loaded.recipients[1].orcpt is None


async def test_claimed_message_is_not_claimed_again_until_its_lease_runs_out(stores):
    a = stores.open("worker-a", lease=2.0)
    b = stores.open("worker-b", lease=30)
    queued = await a.enqueue(NewMessage(envelope=envelope(), content=b"x\r\n"))
    assert await b.claim_due(10) == []
    await asyncio.sleep(2.2)  # worker-a "crashed": its lease runs out
    (taken,) = await b.claim_due(10)
    assert taken.id == queued.id and taken.claimed_by == "worker-b"
    assert await a.claim_due(10) == []


async def test_unclaimed_messages_are_claimed_once(stores):
    a = stores.open("worker-a")
    ids = {(await a.enqueue(NewMessage(envelope=envelope(n), content=b"x\r\n"), claim=False)).id
           for n in range(5)}
    assert {m.state for m in await a.list()} == {"queued"}
    first = await a.claim_due(3)
    second = await a.claim_due(10)
    assert len(first) == 3 and len(second) == 2
    assert {m.id for m in first} | {m.id for m in second} == ids
    assert await a.claim_due(10) == []


async def test_release_claims_gives_back_only_own_claims(stores):
    a = stores.open("worker-a")
    b = stores.open("worker-b")
    mine = await a.enqueue(NewMessage(envelope=envelope(1), content=b"x\r\n"))
    tried = await a.enqueue(NewMessage(envelope=envelope(2), content=b"x\r\n"))
    theirs = await b.enqueue(NewMessage(envelope=envelope(3), content=b"x\r\n"))
    # `tried` had a failed attempt and was claimed again
    await a.record_attempt(tried, [], QueueState.DEFERRED, next_attempt_at=time.time() - 1)
    assert [m.id for m in await a.claim_due(10)] == [tried.id]

    assert await a.release_claims() == 2
    states = {m.id: (m.state, m.claimed_by) for m in await a.list()}
    assert states[mine.id] == ("queued", None)
    assert states[tried.id] == ("deferred", None)
    assert states[theirs.id] == ("active", "worker-b")


async def test_record_attempt_defers_and_retry_now_brings_it_back(stores):
    a = stores.open("worker-a")
    queued = await a.enqueue(NewMessage(envelope=envelope(), content=b"x\r\n"))
    outcomes = [RecipientOutcome("bob0@recipient.example", RecipientState.DELIVERED, 250, "ok")]
    await a.record_attempt(queued, outcomes, QueueState.DEFERRED,
                           next_attempt_at=time.time() + 3600, last_error="451 later")
    loaded = await a.get(queued.id)
    assert loaded.state == "deferred" and loaded.attempts == 1
    assert loaded.last_error == "451 later" and loaded.claimed_by is None
    assert [r.state for r in loaded.recipients] == ["delivered", "pending"]
    assert [r.address for r in loaded.pending] == ["carol0@recipient.example"]
    assert await a.claim_due(10) == []
    assert await a.retry_now(queued.id)
    (again,) = await a.claim_due(10)
    assert again.id == queued.id and again.attempts == 1


async def test_finished_messages_keep_their_row_but_not_their_content(stores):
    a = stores.open("worker-a")
    queued = await a.enqueue(NewMessage(envelope=envelope(), content=b"secret body\r\n"))
    outcomes = [RecipientOutcome(r, RecipientState.DELIVERED, 250, "ok")
                for r in queued.envelope.rcpt_tos]
    await a.record_attempt(queued, outcomes, QueueState.DELIVERED)
    loaded = await a.get(queued.id)
    assert loaded.state == "delivered" and loaded.content == b""
    assert not await a.retry_now(queued.id)
    assert (await a.depth_by_state()) == {"delivered": 1}


async def test_finished_messages_are_forgotten_once_kept_long_enough(stores):
    """[queue] keep_finished: the rows of messages that finished before the
    cut-off go, recipients and all; messages still in flight, however old,
    and those that finished since stay."""
    a = stores.open("worker-a")
    delivered, bounced, waiting, recent = [
        await a.enqueue(NewMessage(envelope=envelope(n), content=b"body\r\n"), claim=False)
        for n in range(4)
    ]
    for message, state in ((delivered, QueueState.DELIVERED), (bounced, QueueState.BOUNCED)):
        await a.record_attempt(message, [
            RecipientOutcome(r, RecipientState.DELIVERED, 250, "ok")
            for r in message.envelope.rcpt_tos], state)
    cutoff = time.time()
    await a.record_attempt(recent, [RecipientOutcome(r, RecipientState.DELIVERED, 250, "ok")
                                    for r in recent.envelope.rcpt_tos], QueueState.DELIVERED)
    assert await a.forget_finished(cutoff, limit=1) == 1  # a batch at a time
    assert await a.forget_finished(cutoff) == 1
    assert await a.forget_finished(cutoff) == 0
    assert await a.get(delivered.id) is None and await a.get(bounced.id) is None
    assert (await a.get(waiting.id)).state == "queued"
    assert (await a.get(recent.id)).state == "delivered"
    assert await a.depth_by_state() == {"queued": 1, "delivered": 1}
    async with a.engine.connect() as conn:
        left = set((await conn.execute(
            select(queue_recipients.c.message_id).distinct())).scalars())
    assert left == {waiting.id, recent.id}


async def test_a_batch_runs_its_freeing_operations_first(stores):
    """Operations waiting together are one transaction; those that free
    content go first, the others keep their order."""
    writer = stores.open("worker-a").writer
    ran: list[str] = []

    def operation(name: str):
        async def run(conn) -> str:
            ran.append(name)
            return name
        return run

    before = writer.batches
    results = await asyncio.gather(
        writer.submit(operation("insert-1")), writer.submit(operation("insert-2")),
        writer.submit(operation("clear"), frees=True), writer.submit(operation("insert-3")),
    )
    assert writer.batches == before + 1
    assert results == ["insert-1", "insert-2", "clear", "insert-3"]
    assert ran == ["clear", "insert-1", "insert-2", "insert-3"]


async def test_a_batch_of_messages_writes_each_queue_statement_once(stores, monkeypatch):
    """The rows of the messages enqueued (and then attempted) together are
    handed to the driver once per statement, not once per message; on
    PostgreSQL the batch's inserts (messages and their recipients) are
    one statement: one round trip for the batch."""
    from sqlalchemy import event

    from gateway.queue import store as store_module

    runs: dict[str, list[int]] = {}
    for name in ("_INSERT_MESSAGE", "_INSERT_CONTENT", "_INSERT_RECIPIENTS", "_UPDATE_RECIPIENT",
                 "_UPDATE_MESSAGE", "_DELETE_CONTENT"):
        prepared = getattr(store_module, name)

        def counted(dialect, rows, _prepare=prepared._prepare, _name=name):
            runs.setdefault(_name, []).append(len(rows))
            return _prepare(dialect, rows)

        monkeypatch.setattr(prepared, "_prepare", counted)
    a = stores.open("worker-a")
    inserts: list[str] = []  # PostgreSQL's (SQLite's writer runs sqlite3 directly)

    def seen(conn, cursor, statement, parameters, context, executemany) -> None:
        if "INSERT" in statement:
            inserts.append(statement)

    event.listen(a.engine.sync_engine, "before_cursor_execute", seen)
    before = a.writer.batches
    queued = await asyncio.gather(
        *(a.enqueue(NewMessage(envelope=envelope(n), content=b"body\r\n")) for n in range(5))
    )
    await asyncio.gather(*(
        a.record_attempt(q, [RecipientOutcome(r, RecipientState.DELIVERED, 250, "ok")
                             for r in q.envelope.rcpt_tos], QueueState.DELIVERED)
        for q in queued
    ))
    assert a.writer.batches == before + 2
    assert runs == {"_INSERT_MESSAGE": [5], "_INSERT_CONTENT": [5], "_INSERT_RECIPIENTS": [10],
                    "_UPDATE_RECIPIENT": [10], "_UPDATE_MESSAGE": [5], "_DELETE_CONTENT": [5]}
    if a.engine.dialect.name == "postgresql":
        assert len(inserts) == 1
        assert "INSERT INTO queue_messages" in inserts[0]
        assert "INSERT INTO queue_contents" in inserts[0]
        assert "INSERT INTO queue_recipients" in inserts[0]
    assert (await a.depth_by_state()) == {"delivered": 5}
    for q in queued:
        loaded = await a.get(q.id)
        assert [r.state for r in loaded.recipients] == ["delivered", "delivered"]


async def test_a_claim_in_the_batch_of_a_finished_attempt_sees_it_finished(stores):
    """The attempt's updates wait to be written with the batch's others, but
    not past a statement of another operation: a claim in the same batch
    must not take back a message just delivered whose lease ran out."""
    a = stores.open("worker-a", lease=0.05)
    queued = await a.enqueue(NewMessage(envelope=envelope(), content=b"body\r\n"))
    assert queued.state == "active"
    await asyncio.sleep(0.2)  # the lease has run out: claimable again, but for the attempt
    before = a.writer.batches
    _, claimed = await asyncio.gather(
        a.record_attempt(queued, [RecipientOutcome(r, RecipientState.DELIVERED, 250, "ok")
                                  for r in queued.envelope.rcpt_tos], QueueState.DELIVERED),
        a.claim_due(10),
    )
    assert a.writer.batches == before + 1
    assert claimed == []
    assert (await a.depth_by_state()) == {"delivered": 1}


@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
async def test_the_writer_renews_a_connection_the_server_closed(stores, db_url, pg_admin):
    """The Writer keeps its PostgreSQL connection between batches (no ping
    per batch).  When the server has closed it (a restart, a killed
    backend), the next batch runs on a new one: the caller sees nothing."""
    from sqlalchemy.engine import make_url

    a = stores.open("worker-a")
    first = await a.enqueue(NewMessage(envelope=envelope(1), content=b"body\r\n"))
    name = make_url(db_url).database
    pg_admin.execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        f"WHERE datname = '{name}' AND pid <> pg_backend_pid()"
    )
    second = await a.enqueue(NewMessage(envelope=envelope(2), content=b"body\r\n"))
    assert {m.id for m in await a.list()} == {first.id, second.id}


@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
async def test_a_batch_whose_commit_lost_the_connection_is_not_run_again(stores, monkeypatch):
    """Lost during the commit, a batch may have been committed: running it
    once more could write it twice, so the caller is told it failed."""
    from sqlalchemy.exc import OperationalError
    from sqlalchemy.ext.asyncio import AsyncTransaction

    from gateway.errors import StoreError

    a = stores.open("worker-a")
    await a.enqueue(NewMessage(envelope=envelope(1), content=b"body\r\n"))  # a kept connection
    ran: list[int] = []

    async def lost(self) -> None:
        raise OperationalError("COMMIT", None, ConnectionError("connection lost"),
                               connection_invalidated=True)

    async def counted(conn) -> None:
        ran.append(1)

    monkeypatch.setattr(AsyncTransaction, "commit", lost)
    with pytest.raises(StoreError):
        await a.writer.submit(counted)
    assert ran == [1]


async def test_content_cleared_and_queued_in_one_batch_reuses_the_pages(sqlite_url):
    """A delivered message's content cleared in the same commit as a new
    message is queued: the new content takes the freed pages, so the WAL
    gets each page once, not secure_delete's zeros and then the content."""
    path = sqlite_url.removeprefix("sqlite+aiosqlite:///")
    stores = Stores(sqlite_url)
    try:
        store = stores.open("worker-a")
        size = 200 * 1024
        first = await store.enqueue(NewMessage(envelope=envelope(), content=os.urandom(size)))
        with sqlite3.connect(path) as db:
            page_size = db.execute("PRAGMA page_size").fetchone()[0]
            assert db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0] == 0
        delivered = [RecipientOutcome(r, RecipientState.DELIVERED, 250, "ok")
                     for r in first.envelope.rcpt_tos]
        batches = store.writer.batches
        second, _ = await asyncio.gather(
            store.enqueue(NewMessage(envelope=envelope(1), content=os.urandom(size))),
            store.record_attempt(first, delivered, QueueState.DELIVERED),
        )
        assert store.writer.batches == batches + 1
        with sqlite3.connect(path) as db:
            _, frames, _ = db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        content_pages = size // page_size + 1
        # The content's pages plus one or two each of the tables and indexes
        # the rows are in (the messages' and two indexes, the contents' and
        # its key's, the recipients' and theirs, the free list); written
        # twice (freed, then taken) it would be twice the content's pages.
        assert content_pages <= frames < 2 * content_pages
        assert (await store.get(first.id)).content == b""
        assert len((await store.get(second.id)).content) == size
    finally:
        await stores.close()


async def test_held_messages_are_not_claimed_until_released(stores):
    a = stores.open("worker-a")
    held = await a.enqueue(NewMessage(envelope=envelope(), content=b"x\r\n",
                                      state=QueueState.HELD))
    assert held.state == QueueState.HELD
    assert await a.claim_due(10) == []
    assert await a.set_state(held.id, QueueState.QUEUED, expect=QueueState.HELD)
    assert [m.id for m in await a.claim_due(10)] == [held.id]


@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
async def test_concurrent_claims_on_postgres_never_overlap(stores):
    loader = stores.open("loader")
    total = 300
    ids = set()
    for n in range(total):
        queued = await loader.enqueue(NewMessage(envelope=envelope(n), content=b"x\r\n"),
                                      claim=False)
        ids.add(queued.id)
    workers = [stores.open(f"worker-{n}") for n in range(4)]

    async def drain(store: QueueStore) -> list[str]:
        taken: list[str] = []
        while True:
            batch = await store.claim_due(7)
            if not batch:
                return taken
            taken.extend(m.id for m in batch)

    results = await asyncio.gather(*[drain(w) for w in workers])
    flat = [i for r in results for i in r]
    assert len(flat) == len(set(flat)) == total
    assert set(flat) == ids


async def wait_delivered(gw, queue_id: str) -> None:
    """The sink has it; the gateway records the result a moment later."""
    for _ in range(200):
        if (await gw.store.get(queue_id)).state == "delivered":
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{queue_id} not recorded as delivered")


# --------------------------------------------------------------------------
# the gateway takes back its own claims at start


async def test_restarted_gateway_takes_back_its_own_claims_at_once(
    gateway_factory, stores, sink
):
    crashed = stores.open("gw-1", lease=3600)  # a long lease: only "own claims" can help
    message = make_message()
    queued = await crashed.enqueue(NewMessage(
        envelope=Envelope("alice@sender.example", ("bob@recipient.example",)), content=message))
    assert queued.state == QueueState.ACTIVE
    gw = await gateway_factory(worker_id="gw-1")
    (got,) = await sink.wait(1, timeout=10)
    assert got.content == message
    await wait_delivered(gw, queued.id)


async def test_other_process_claims_wait_for_their_lease(gateway_factory, stores, sink):
    long_lease = stores.open("gw-dead-1", lease=3600)
    short_lease = stores.open("gw-dead-2", lease=1.0)
    kept = await long_lease.enqueue(NewMessage(
        envelope=Envelope("alice@sender.example", ("kept@recipient.example",)),
        content=make_message()))
    returned = await short_lease.enqueue(NewMessage(
        envelope=Envelope("alice@sender.example", ("back@recipient.example",)),
        content=make_message()))
    gw = await gateway_factory(worker_id="gw-2")
    (got,) = await sink.wait(1, timeout=10)
    assert got.rcpt_tos == ("back@recipient.example",)
    await wait_delivered(gw, returned.id)
    # The other claim's lease has not run out: it is left alone.
    await asyncio.sleep(1.0)
    still = await gw.store.get(kept.id)
    assert (still.state, still.claimed_by) == ("active", "gw-dead-1")
    assert len(sink.snapshot()) == 1


# --------------------------------------------------------------------------
# `gateway queue list|show|retry`


@pytest.fixture
def cli_config(tmp_path, db_url):
    from gwtest import gateway_config

    return write_config(tmp_path / "cli.toml", gateway_config(tmp_path, db_url, 2526))


async def run_main(*argv: str) -> int:
    return await asyncio.to_thread(main, list(argv))


async def test_queue_commands(stores, cli_config, capsys):
    store = stores.open("worker-a")
    delivered = await store.enqueue(NewMessage(envelope=envelope(1), content=b"x\r\n"))
    await store.record_attempt(
        delivered,
        [RecipientOutcome(r, RecipientState.DELIVERED, 250, "ok")
         for r in delivered.envelope.rcpt_tos],
        QueueState.DELIVERED,
    )
    deferred = await store.enqueue(NewMessage(envelope=envelope(2), content=b"x\r\n"))
    await store.record_attempt(deferred, [], QueueState.DEFERRED,
                               next_attempt_at=time.time() + 3600, last_error="451 4.3.0 later")
    capsys.readouterr()

    assert await run_main("queue", "list", "--config", str(cli_config)) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].split()[:3] == ["ID", "STATE", "TRIES"]
    assert any(deferred.id in line and "deferred" in line and "bob2@recipient.example" in line
               for line in lines)
    # As mailq: what is still to be delivered; the finished one with --all.
    assert not any(delivered.id in line for line in lines)
    assert lines[-1] == "1 message(s) still to be delivered"
    assert await run_main("queue", "list", "--all", "--config", str(cli_config)) == 0
    lines = capsys.readouterr().out.splitlines()
    assert any(delivered.id in line and "delivered" in line for line in lines)
    assert lines[-1] == "2 message(s)"
    (done,) = [line for line in lines if delivered.id in line]
    assert done.split()[3] == "-"  # a finished message has no next attempt

    assert await run_main("queue", "list", "--state", "deferred", "--json",
                          "--config", str(cli_config)) == 0
    (row,) = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert row["id"] == deferred.id and row["state"] == "deferred" and row["attempts"] == 1
    assert row["last_error"] == "451 4.3.0 later"
    assert row["sender"] == "alice@sender.example"

    # An address from the envelope (SMTPUTF8 allows any letter) is shown
    # as it reads: an override character named, not obeyed by the terminal.
    spoofed = await store.enqueue(NewMessage(
        envelope=dataclasses.replace(envelope(3), mail_from="\u202emoc.xe@eve"),
        content=b"x\r\n"))
    assert await run_main("queue", "list", "--config", str(cli_config)) == 0
    (line,) = [x for x in capsys.readouterr().out.splitlines() if spoofed.id in x]
    assert "<U+202E>moc.xe@eve -> bob3@recipient.example" in line and "\u202e" not in line

    assert await run_main("queue", "show", deferred.id, "--config", str(cli_config)) == 0
    shown = json.loads(capsys.readouterr().out)
    assert [r["address"] for r in shown["recipients"]] == [
        "bob2@recipient.example", "carol2@recipient.example"]
    assert shown["recipients"][0]["state"] == "pending"
    assert "x\r\n" not in json.dumps(shown)  # never the content

    assert await run_main("queue", "show", "NOSUCHID", "--config", str(cli_config)) == 1
    assert "NOSUCHID" in capsys.readouterr().out

    assert await run_main("queue", "retry", deferred.id, "--config", str(cli_config)) == 0
    assert "tried again" in capsys.readouterr().out
    assert (await store.get(deferred.id)).next_attempt_at <= time.time()
    assert await run_main("queue", "retry", delivered.id, "--config", str(cli_config)) == 1
    assert "not a queued or deferred" in capsys.readouterr().out


async def test_claims_come_in_due_order_from_every_way_of_being_due(stores):
    a = stores.open("worker-a", lease=30)
    crashed = stores.open("worker-crashed", lease=0.5)
    now = time.time()
    queued = await a.enqueue(NewMessage(envelope=envelope(1), content=b"x\r\n"), claim=False)
    deferred = await a.enqueue(NewMessage(envelope=envelope(2), content=b"x\r\n"))
    await a.record_attempt(deferred, [], QueueState.DEFERRED, next_attempt_at=now - 60)
    orphan = await crashed.enqueue(NewMessage(envelope=envelope(3), content=b"x\r\n"))
    later = await a.enqueue(NewMessage(envelope=envelope(4), content=b"x\r\n"), claim=False)
    await a.record_attempt(later, [], QueueState.DEFERRED, next_attempt_at=now + 3600)
    await asyncio.sleep(0.6)  # the crashed worker's lease runs out
    # Due order is next_attempt_at: the deferred one (due a minute ago),
    # the queued one, then the orphan (queued after it, its lease run out);
    # the one deferred for an hour is not due.
    first = await a.claim_due(2)
    rest = await a.claim_due(10)
    assert [m.id for m in first] == [deferred.id, queued.id]
    assert [m.id for m in rest] == [orphan.id]
    assert {m.claimed_by for m in first + rest} == {"worker-a"}


async def test_a_claim_costs_the_same_however_long_the_backlog(sqlite_url):
    """SQLite reads the due messages in index order and stops at the limit:
    a claim from a backlog of 2000 does the work of one from 100."""
    from gateway.queue.store import _DUE_SQLITE, _INSERT_MESSAGE
    from gateway.queue.writer import sqlite_connection

    engine = create_engine(sqlite_url)
    writer = Writer(engine)
    writer.start()
    now = time.time()

    def rows(start: int, count: int) -> list[dict[str, object]]:
        return [{"id": f"m{n:05d}", "created_at": now, "mail_from": "a@sender.example",
                 "envelope": "{}", "content": b"x\r\n", "size": 3, "state": "queued",
                 "attempts": 0, "next_attempt_at": now - 100 + n / 1000, "claimed_by": None,
                 "lease_until": None, "audit_id": None, "updated_at": now}
                for n in range(start, start + count)]

    async def steps_of_a_claim(conn) -> int:
        raw = sqlite_connection(conn)
        assert raw is not None
        counted = [0]

        def count() -> int:
            counted[0] += 1
            return 0

        raw.set_progress_handler(count, 1)  # called every virtual machine instruction
        try:
            found = await _DUE_SQLITE.fetch(conn, {"now": now, "limit": 16})
        finally:
            raw.set_progress_handler(None, 1)
        assert [row[0] for row in found] == [f"m{n:05d}" for n in range(16)]
        return counted[0]

    try:
        await writer.submit(lambda conn: _INSERT_MESSAGE.run(conn, rows(0, 100)))
        short = await writer.submit(steps_of_a_claim)
        await writer.submit(lambda conn: _INSERT_MESSAGE.run(conn, rows(100, 1900)))
        long = await writer.submit(steps_of_a_claim)
        assert long < short * 1.5, (short, long)
    finally:
        await writer.stop()
        await engine.dispose()


async def test_a_batch_waits_for_another_process_s_lock_for_a_bounded_time(
    sqlite_url, monkeypatch
):
    """SQLite: another process holding the write lock (a purge) past the
    Writer's wait fails the batch's messages once, together (each is told
    451 and sent again), rather than each alone after as long again; once
    the lock is free the next batch is written."""
    from gateway.errors import StoreError
    from gateway.queue import writer as writer_module

    monkeypatch.setattr(writer_module, "SQLITE_LOCK_WAIT", 0.3)
    stores = Stores(sqlite_url)
    holder = sqlite3.connect(sqlite_url.removeprefix("sqlite+aiosqlite:///"),
                             isolation_level=None)
    try:
        store = stores.open("worker-a")
        batches = []
        transaction = store.writer._transaction

        async def counted(operations):
            batches.append(len(operations))
            return await transaction(operations)

        monkeypatch.setattr(store.writer, "_transaction", counted)
        holder.execute("BEGIN IMMEDIATE")
        results = await asyncio.gather(
            *(store.enqueue(NewMessage(envelope=envelope(), content=make_message()))
              for _ in range(3)),
            return_exceptions=True,
        )
        assert all(isinstance(r, StoreError) for r in results), results
        assert all("OperationalError" in str(r) for r in results)
        assert batches == [3]  # one batch, not retried message by message
        holder.execute("ROLLBACK")
        queued = await store.enqueue(NewMessage(envelope=envelope(), content=make_message()))
        assert (await store.get(queued.id)) is not None
    finally:
        holder.close()
        await stores.close()


async def test_queue_list_shows_the_live_queue_behind_many_finished(stores, cli_config, capsys):
    """With more finished messages kept than --limit, the default list was
    the oldest finished ones: a message deferred in an outage did not show,
    and the footer gave the number shown as the total."""
    store = stores.open("worker-a")
    for n in range(12):
        done = await store.enqueue(NewMessage(envelope=envelope(n), content=b"x\r\n"))
        await store.record_attempt(
            done, [RecipientOutcome(r, RecipientState.DELIVERED, 250, "ok")
                   for r in done.envelope.rcpt_tos], QueueState.DELIVERED)
    stuck = await store.enqueue(NewMessage(envelope=envelope(99), content=b"x\r\n"))
    await store.record_attempt(stuck, [], QueueState.DEFERRED,
                               next_attempt_at=time.time() + 3600, last_error="451 4.3.0 later")
    capsys.readouterr()
    assert await run_main("queue", "list", "--limit", "5", "--config", str(cli_config)) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines[1:-1]] == [stuck.id]
    assert lines[-1] == "1 message(s) still to be delivered"
    assert await run_main("queue", "list", "--all", "--limit", "5",
                          "--config", str(cli_config)) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 7 and stuck.id not in "".join(lines)
    assert lines[-1] == "showing 5 of 13 message(s) (--limit to see more)"
    assert await run_main("queue", "list", "--state", "delivered", "--state", "deferred",
                          "--limit", "20", "--config", str(cli_config)) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "13 message(s)"


async def test_queue_list_default_finds_the_deferred_one_behind_a_hundred_delivered(
    stores, cli_config, capsys
):
    """IT's case: more delivered messages kept (keep_finished) than the
    default --limit of 100, all older than the one deferred in an outage."""
    store = stores.open("worker-a")

    async def delivered(n: int) -> None:
        done = await store.enqueue(NewMessage(envelope=envelope(n), content=b"x\r\n"))
        await store.record_attempt(
            done, [RecipientOutcome(r, RecipientState.DELIVERED, 250, "ok")
                   for r in done.envelope.rcpt_tos], QueueState.DELIVERED)

    await asyncio.gather(*(delivered(n) for n in range(101)))
    stuck = await store.enqueue(NewMessage(envelope=envelope(200), content=b"x\r\n"))
    await store.record_attempt(stuck, [], QueueState.DEFERRED,
                               next_attempt_at=time.time() + 3600, last_error="451 4.3.0 later")
    capsys.readouterr()

    assert await run_main("queue", "list", "--config", str(cli_config)) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[:2] for line in lines[1:-1]] == [[stuck.id, "deferred"]]
    assert lines[-1] == "1 message(s) still to be delivered"

    assert await run_main("queue", "list", "--json", "--config", str(cli_config)) == 0
    (row,) = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert row["id"] == stuck.id and row["last_error"] == "451 4.3.0 later"

    # Every state: the oldest 100, and a footer that says what was left out.
    assert await run_main("queue", "list", "--all", "--config", str(cli_config)) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 102 and {line.split()[1] for line in lines[1:-1]} == {"delivered"}
    assert lines[-1] == "showing 100 of 102 message(s) (--limit to see more)"

    assert await run_main("queue", "list", "--state", "delivered", "--limit", "500",
                          "--config", str(cli_config)) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 103 and lines[-1] == "101 message(s)"
