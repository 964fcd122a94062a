"""A queued message's content lives apart from its state (migration 0017).

SQLite rewrites a whole row on any UPDATE: with the content in the state
row, each claim, deferral or delivery of a large message copied all of it
again (in SQLite's memory and into the write-ahead log).  Here the content
is written once and deleted once; the state changes write a few pages."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import sys
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import func, inspect, select, text

from gateway.db import create_engine, queue_contents
from gateway.db.migrate import alembic_config
from gateway.model import Envelope
from gateway.queue import NewMessage, QueueState, QueueStore, Writer
from gateway.queue.states import RecipientState
from gateway.queue.store import RecipientOutcome
from gateway.settings import sqlite_path

LARGE = 4 * 1024 * 1024  # above the size written with SQLite's blob I/O (1 MiB)


def _envelope() -> Envelope:
    return Envelope(mail_from="alice@sender.example", rcpt_tos=("bob@recipient.example",))


def _content(size: int) -> bytes:
    head = b"Subject: large synthetic attachment\r\n\r\n"
    return head + os.urandom(size - len(head))


async def _stored_contents(store: QueueStore) -> int:
    async with store.engine.connect() as conn:
        return int((await conn.execute(
            select(func.count()).select_from(queue_contents))).scalar_one())


@pytest.fixture
async def store(db_url):
    engine = create_engine(db_url)
    writer = Writer(engine)
    writer.start()
    yield QueueStore(engine, writer, worker_id="worker-a", lease_seconds=30)
    await writer.stop()
    await engine.dispose()


def _wal_bytes(url: str) -> int:
    path = sqlite_path(url)
    assert path is not None
    wal = Path(f"{path}-wal")
    return wal.stat().st_size if wal.exists() else 0


def _checkpoint(url: str) -> None:
    path = sqlite_path(url)
    with sqlite3.connect(path) as db:
        busy, _, _ = db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    assert busy == 0


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_a_claim_and_a_deferral_do_not_write_a_large_content_again(db_url, store):
    content = _content(LARGE)
    queued = await store.enqueue(NewMessage(envelope=_envelope(), content=content), claim=False)
    _checkpoint(db_url)
    assert _wal_bytes(db_url) == 0
    (claimed,) = await store.claim_due(10)
    assert claimed.id == queued.id and claimed.content == content
    await store.record_attempt(
        claimed, [RecipientOutcome("bob@recipient.example", RecipientState.PENDING, 451, "later")],
        QueueState.DEFERRED, last_error="451 later",
    )
    # Two commits of a few 16 KiB pages each (the state row, its index, the
    # recipient): with the content in the state row, each was 4 MiB more.
    written = _wal_bytes(db_url)
    assert 0 < written < LARGE // 8, written
    assert (await store.get(queued.id)).content == content


async def test_a_finished_message_keeps_its_row_but_not_its_content(store):
    sizes = (LARGE, 2000)
    queued = [await store.enqueue(NewMessage(envelope=_envelope(), content=_content(size)))
              for size in sizes]
    assert await _stored_contents(store) == 2
    for message in queued:
        await store.record_attempt(
            message, [RecipientOutcome("bob@recipient.example", RecipientState.DELIVERED,
                                       250, "ok")], QueueState.DELIVERED,
        )
    assert await _stored_contents(store) == 0
    for message in queued:
        kept = await store.get(message.id)
        assert kept is not None and kept.state == "delivered" and kept.content == b""


async def test_deleting_a_message_deletes_its_content(store):
    queued = await store.enqueue(NewMessage(envelope=_envelope(), content=_content(LARGE)),
                                 claim=False)
    await store.delete(queued.id)
    assert await store.get(queued.id) is None
    assert await _stored_contents(store) == 0


async def test_the_migration_moves_queued_contents_and_back(db_url):
    """0017 moves every content left to send into queue_contents (a
    finished message's empty one is not copied) and its downgrade puts them
    back: a queue kept over the upgrade sends the same bytes."""
    config = alembic_config(db_url)
    await asyncio.to_thread(command.downgrade, config, "0016")
    small, large = _content(3000), _content(2 * 1024 * 1024)
    engine = create_engine(db_url)
    try:
        async with engine.begin() as conn:
            for n, (state, content) in enumerate(
                (("queued", small), ("deferred", large), ("delivered", b""))
            ):
                await conn.execute(text(
                    "INSERT INTO queue_messages (id, created_at, mail_from, envelope, content,"
                    " size, state, attempts, next_attempt_at, updated_at) VALUES"
                    " (:id, 1.0, 'alice@sender.example', '{}', :content, :size, :state, 0,"
                    " 1.0, 1.0)"), {"id": f"m{n}", "content": content, "size": len(content),
                                    "state": state})
        await engine.dispose()
        await asyncio.to_thread(command.upgrade, config, "head")
        engine = create_engine(db_url)
        async with engine.connect() as conn:
            moved = dict((await conn.execute(
                select(queue_contents.c.message_id, queue_contents.c.content))).all())
            assert moved == {"m0": small, "m1": large}
            columns = await conn.run_sync(
                lambda sync: inspect(sync).get_columns("queue_messages"))
            assert "content" not in {c["name"] for c in columns}
        writer = Writer(engine)
        writer.start()
        try:
            store = QueueStore(engine, writer, worker_id="worker-a")
            assert (await store.get("m1")).content == large
            assert (await store.get("m2")).content == b""
        finally:
            await writer.stop()
        await engine.dispose()
        await asyncio.to_thread(command.downgrade, config, "0016")
        engine = create_engine(db_url)
        async with engine.connect() as conn:
            back = dict((await conn.execute(text(
                "SELECT id, content FROM queue_messages ORDER BY id"))).all())
        assert back == {"m0": small, "m1": large, "m2": b""}
        await engine.dispose()
        await asyncio.to_thread(command.upgrade, config, "head")
    finally:
        await engine.dispose()


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_the_writer_gives_the_cache_back_after_a_large_content_only(
    db_url, store, monkeypatch
):
    """A batch that wrote or read a large content with blob I/O frees the
    writer's cached pages once committed; others keep their cache."""
    from gateway.queue import writer as writer_module

    given_back: list[int] = []
    real = writer_module._give_back_cache
    monkeypatch.setattr(writer_module, "_give_back_cache",
                        lambda conn: (given_back.append(1), real(conn)))
    await store.enqueue(NewMessage(envelope=_envelope(), content=_content(2000)), claim=False)
    assert given_back == []
    large = await store.enqueue(NewMessage(envelope=_envelope(), content=_content(LARGE)),
                                claim=False)
    assert given_back == [1]  # written
    claimed = {m.id: m for m in await store.claim_due(10)}
    assert len(claimed[large.id].content) == LARGE
    assert given_back == [1, 1]  # read back for delivery


def test_giving_back_free_memory_works_here():
    from gateway.operate.memory import give_back_free_memory

    assert give_back_free_memory() is sys.platform.startswith("linux")
