"""Writing the audit trail: append-only rows in one hash chain.

Writes are operations run inside the queue's group-commit transaction, so a
record is committed with the queue change it describes.  One chain runs
through audit_records and audit_events in `seq` order; an append reads the
chain's head, assigns head + 1, head + 2, ... and links each row to the one
before.

The events known when a record is written (`received`, then `queued`,
`held` or `rejected`) are kept in the record's own row (`events`, hashed
with it; migration 0007); the events of the message's later life are rows
of audit_events.  Two chain rows per message fewer, each an insert, two
index entries and a sha256: an eighth of the trail's instructions
(docs/performance.md).

Concurrency: on PostgreSQL a transaction-scoped advisory lock serialises
appends of every process sharing the database (taken before the head is read,
by one function call: under READ COMMITTED the function's query after the
lock sees the last committed head, migration 0005).
On SQLite the process's single writer serialises its own, and the
database's write lock, taken before the head is read, those of other
processes (`gateway audit purge`, `gateway audit checkpoint`).  In both cases `seq`
is the primary key, so two appenders that somehow read the same head cannot
fork the chain: the second insert fails and the Writer retries it alone.

Cost on the hot path: the lock and the head read happen once per
transaction, not per message; the head is remembered for the rest of that
transaction only (keyed by the transaction object, forgotten with it), since
nobody else can append while the lock is held.  Per message that leaves
building the rows (their JSON and hashed content), a sha256 per row and
the rows themselves.  Inside the Writer's batch all of it waits for the
batch's end (gateway.db.prepared: `at_flush`, `run_later`): the rows are
built and linked there, the batch's one after the other in the order the
operations ran, and inserted with one executemany per table for the whole
batch (on PostgreSQL one statement for the three tables).  So the lock is
taken after the batch's queue statements and held only for the trail's
inserts and the commit: two processes sharing the database run their queue
work side by side and queue only for the chain.
(Taken at the batch's first append, it held the other process off for
the whole batch.)  A writer operation that reads the trail back flushes
first (`flush_writes`).

On PostgreSQL the database itself links a batch's rows (migration 0006's
`audit_chain_link`: the lock, the head, and each row's place and hash,
given the hashed content the gateway built).  The trail's inserts join on
what it returns, in the statement that writes the batch's queue rows
(`gateway.db.prepared.settle_with`): the lock, the head and the three
inserts cost the batch no round trip of their own, where they cost two,
each about 0.1 ms of the gateway's CPU.  The new head comes back with the
statement, for checkpoints and any later append in the transaction.
Outside the Writer's batch (purge, the receipts desk's own transactions)
rows are linked by the gateway as on SQLite.
"""

from __future__ import annotations

import json
import weakref
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any, TypeAlias

from sqlalchemy import select, text, union_all
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.audit.chain import (
    GENESIS,
    AuditKeys,
    checkpoint_message,
    event_content,
    link,
    record_content,
    term_key,
    terms_text,
    ts,
)
from gateway.audit.record import AuditEvent, AuditRecord, utc
from gateway.db.prepared import (
    Prepared,
    Tail,
    at_flush,
    collecting,
    flush_writes,
    settle,
    settle_with,
    transaction_of,
)
from gateway.db.schema import audit_checkpoints, audit_events, audit_record_terms, audit_records

Operation = Callable[[AsyncConnection], Awaitable[Any]]

CHAIN_LOCK = 0x5EC5A7E  # pg_advisory_xact_lock key shared by every chain writer


@dataclass(slots=True)
class Head:
    seq: int
    hash: str


# Transaction -> chain head after this transaction's own appends.  Weak keys:
# the entry disappears with the transaction, so nothing outlives a commit.
_HEADS: weakref.WeakKeyDictionary[Any, Head] = weakref.WeakKeyDictionary()


# One encoder for every row: json.dumps with options builds a new one per call.
_ENCODE = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode


def _json(value: Any) -> str:
    if not value and isinstance(value, dict):
        return "{}"  # most events have no detail: what dumps would write
    return _ENCODE(value)


# The hot path's statements, compiled once per dialect (gateway.db.prepared).
_HEAD = Prepared(union_all(
    select(audit_records.c.seq, audit_records.c.hash)
    .order_by(audit_records.c.seq.desc()).limit(1).subquery().select(),
    select(audit_events.c.seq, audit_events.c.hash)
    .order_by(audit_events.c.seq.desc()).limit(1).subquery().select(),
    select(audit_checkpoints.c.seq, audit_checkpoints.c.hash)
    .where(audit_checkpoints.c.kind == "cut")
    .order_by(audit_checkpoints.c.seq.desc()).limit(1).subquery().select(),
))
# PostgreSQL: the lock and the head in one round trip (migration 0005).
_LOCKED_HEAD = Prepared(text(
    f"SELECT head_seq, head_hash FROM audit_chain_head({CHAIN_LOCK})"
))
# PostgreSQL, in the Writer's batch: the batch's rows linked into the chain
# by the database, and inserted, in the statement that writes the batch's
# queue rows (migration 0006; see the module's docstring).  $1 is the hashed
# content of every row in chain order; the rows of each table come as
# arrays, each row with its place (`ord`) in $1.
_LINK_AND_INSERT = Tail(
    with_=(
        f"chain AS (SELECT * FROM audit_chain_link({CHAIN_LOCK}, $1::bytea[])), "
        "r AS (INSERT INTO audit_records (seq, id, message_id, received_at, sender, verdict,"
        " marking, purpose, terms, document, events, prev_hash, hash)"
        " SELECT chain.link_seq, u.id, u.message_id, u.received_at, u.sender, u.verdict,"
        " u.marking, u.purpose, u.terms, u.document, u.events, chain.link_prev, chain.link_hash"
        " FROM unnest($2::integer[], $3::text[], $4::text[], $5::timestamptz[], $6::text[],"
        " $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::text[])"
        " AS u(ord, id, message_id, received_at, sender, verdict, marking, purpose, terms,"
        " document, events) JOIN chain ON chain.link_ord = u.ord), "
        "t AS (INSERT INTO audit_record_terms (record_seq, field, value, key, received_at)"
        " SELECT chain.link_seq, u.field, u.value, u.key, u.received_at"
        " FROM unnest($13::integer[], $14::text[], $15::text[], $16::text[],"
        " $17::timestamptz[]) AS u(ord, field, value, key, received_at)"
        " JOIN chain ON chain.link_ord = u.ord), "
        "e AS (INSERT INTO audit_events (seq, record_id, at, type, detail, prev_hash, hash)"
        " SELECT chain.link_seq, u.record_id, u.at, u.type, u.detail, chain.link_prev,"
        " chain.link_hash"
        " FROM unnest($18::integer[], $19::text[], $20::timestamptz[], $21::text[], $22::text[])"
        " AS u(ord, record_id, at, type, detail) JOIN chain ON chain.link_ord = u.ord)"
    ),
    select="SELECT link_seq, link_hash FROM chain ORDER BY link_ord DESC LIMIT 1",
)
_INSERT_RECORD = Prepared(audit_records.insert())
_INSERT_TERMS = Prepared(audit_record_terms.insert())
_INSERT_EVENTS = Prepared(audit_events.insert())


async def read_head(conn: AsyncConnection) -> Head:
    """The last row of the chain, or the purge cut when the chain is empty."""
    return _head_of(await _HEAD.fetch(conn))


async def lock_and_read_head(conn: AsyncConnection) -> Head:
    """Serialise chain writers across processes, then `read_head`.

    PostgreSQL: the advisory lock and the head in one statement (a function
    of migration 0005).  SQLite: the database's write lock, then the head.
    The process's one Writer serialises its own appends, but `gateway audit
    purge` and `gateway audit checkpoint` run in processes of their own."""
    if conn.dialect.name == "postgresql":
        return _head_of(await _LOCKED_HEAD.fetch(conn))
    await _take_write_lock(conn)
    return await read_head(conn)


async def _take_write_lock(conn: AsyncConnection) -> None:
    """SQLite: hold the write lock from here to the commit.

    sqlite3 opens a transaction only at a transaction's first INSERT,
    UPDATE or DELETE; a head read before it runs outside any, and another
    process could append at head + 1 before this one writes there.  Its row
    and this one's would share a place, each in its own table, where no
    primary key refuses the second: a fork.  BEGIN IMMEDIATE takes the lock
    now, waiting for it as any write does (the busy timeout; in the Writer,
    its own wait on the event loop).  A transaction
    already open has written, so it holds the lock already; the rows a
    Writer's batch has collected are written first (as before any
    statement), and they open it."""
    await settle(conn)
    driver = conn.sync_connection.connection.driver_connection  # type: ignore[union-attr]
    # Without a driver to ask, BEGIN runs: inside a transaction SQLite
    # refuses it, and the append fails rather than risk a fork.
    if driver is None or not driver.in_transaction:
        await conn.exec_driver_sql("BEGIN IMMEDIATE")


def _head_of(rows: Sequence[Any]) -> Head:
    if not rows:
        return Head(0, GENESIS)
    seq, hash_ = max(rows, key=lambda r: int(r[0]))
    return Head(int(seq), str(hash_))


async def _head(conn: AsyncConnection) -> Head:
    tx = transaction_of(conn)
    if tx is not None and tx in _HEADS:
        return _HEADS[tx]
    head = await lock_and_read_head(conn)
    tx = transaction_of(conn)
    if tx is not None:
        _HEADS[tx] = head
    return head


@dataclass(frozen=True, slots=True)
class _PendingRecord:
    """A record's row and search terms, all but its place in the chain."""

    row: dict[str, Any]  # every column but seq, prev_hash and hash
    content: bytes  # what the row's hash covers (chain.record_content)
    terms: tuple[dict[str, Any], ...]  # term rows without record_seq

    @classmethod
    def of(cls, record: AuditRecord, events: Sequence[AuditEvent] = ()) -> _PendingRecord:
        received_at = utc(record.received_at)
        terms = record.terms()
        row: dict[str, Any] = {
            "id": record.id,
            "message_id": record.message_id,
            "received_at": received_at,
            "sender": record.sender,
            "verdict": record.verdict,
            "marking": record.marking,
            "purpose": record.purpose,
            "terms": terms_text(terms),
            "document": _json(record.document()),
            "events": kept_events(events),
        }
        content = record_content(
            row["id"], row["message_id"], received_at, row["sender"], row["verdict"],
            row["marking"], row["purpose"], row["terms"], row["document"], row["events"],
        )
        return cls(row, content, tuple(
            {"field": f, "value": v, "key": term_key(v), "received_at": received_at}
            for f, v in terms
        ))


def kept_events(events: Sequence[AuditEvent]) -> str | None:
    """The `events` column: the events a record is written with, kept in its
    row (migration 0007) rather than a chain row each; None without any."""
    if not events:
        return None
    # `type` as it is: an EventType is a str, which JSON writes as its
    # value (`.value` is a Python-level property, dearer than the rest).
    return _ENCODE([
        {"at": ts(event.at), "detail": event.detail, "type": event.type}
        for event in events
    ])


@dataclass(frozen=True, slots=True)
class _PendingEvent:
    """An event's row, all but its place in the chain."""

    row: dict[str, Any]  # every column but seq, prev_hash and hash
    content: bytes  # what the row's hash covers (chain.event_content)


def _pending_events(record_id: str, events: Sequence[AuditEvent]) -> tuple[_PendingEvent, ...]:
    pending = []
    for event in events:
        at = utc(event.at)
        detail = _json(event.detail)
        type_ = str(event.type)  # the value, as a plain str
        pending.append(_PendingEvent(
            {"record_id": record_id, "at": at, "type": type_, "detail": detail},
            event_content(record_id, at, type_, detail),
        ))
    return tuple(pending)


_Unlinked: TypeAlias = _PendingRecord | _PendingEvent

# What an append hands over: a record (or what builds it) and the events it
# is written with, or a record's id and later events.
_ToLink: TypeAlias = tuple[AuditRecord | Callable[[], AuditRecord] | str, tuple[AuditEvent, ...]]


def _built(items: Sequence[_ToLink]) -> list[_Unlinked]:
    """The rows of `items`, in order, all but their places in the chain."""
    entries: list[_Unlinked] = []
    for subject, events in items:
        if isinstance(subject, str):
            entries.extend(_pending_events(subject, events))
        else:
            record = subject if isinstance(subject, AuditRecord) else subject()
            entries.append(_PendingRecord.of(record, events))
    return entries


# Transaction -> what was appended in it and waits for the flush, in the
# order appended.  Weak keys, as _HEADS.
_UNLINKED: weakref.WeakKeyDictionary[Any, list[_ToLink]] = weakref.WeakKeyDictionary()


def _link_and_insert_values(entries: Sequence[_Unlinked]) -> list[Any]:
    """`_LINK_AND_INSERT`'s parameters for `entries`, in chain order."""
    contents: list[bytes] = []
    records: list[tuple[Any, ...]] = []
    terms: list[tuple[Any, ...]] = []
    events: list[tuple[Any, ...]] = []
    for place, entry in enumerate(entries, 1):
        contents.append(entry.content)
        row = entry.row
        if isinstance(entry, _PendingRecord):
            records.append((place, row["id"], row["message_id"], row["received_at"],
                            row["sender"], row["verdict"], row["marking"], row["purpose"],
                            row["terms"], row["document"], row["events"]))
            terms.extend((place, t["field"], t["value"], t["key"], t["received_at"])
                         for t in entry.terms)
        else:
            events.append((place, row["record_id"], row["at"], row["type"], row["detail"]))
    values: list[Any] = [contents]
    for rows, width in ((records, 11), (terms, 5), (events, 5)):
        columns = zip(*rows, strict=True) if rows else ((),) * width
        values.extend(list(column) for column in columns)
    return values


@dataclass(frozen=True, slots=True)
class Checkpoint:
    id: int
    at: datetime
    kind: str
    seq: int
    hash: str
    detail: str
    key_id: str | None
    signature: str | None


class AuditTrail:
    """Builds the operations that append to the trail.

    `keys` sign checkpoints (unsigned without); a periodic checkpoint is
    written whenever the chain passes a multiple of `checkpoint_every`.
    """

    def __init__(self, keys: AuditKeys | None = None, checkpoint_every: int = 1000) -> None:
        self.keys = keys or AuditKeys(())
        self.checkpoint_every = max(1, checkpoint_every)

    @classmethod
    def from_settings(cls, settings: Any) -> AuditTrail:
        return cls(AuditKeys.from_settings(settings), settings.audit.checkpoint_every)

    # -- operations for the Writer -------------------------------------------
    #
    # An operation only hands its record or events over: in the Writer's
    # batch their rows are built at the batch's end, all of them one after
    # the other with the linking (`_link_waiting`).  Built in each caller's task,
    # between the rest of that message's work, the same code ran two to
    # three times slower than in a loop of its own (its instructions and
    # data no longer in the processor's caches), and the process is bound
    # by its event loop's CPU either way.

    def record_op(
        self, record: AuditRecord | Callable[[], AuditRecord], events: Sequence[AuditEvent] = ()
    ) -> Operation:
        """Append `record` with the `events` known as it is written (kept
        in its row); later events are `events_op`'s.  `record` may be a
        function that builds it, called with the rest of the batch's: it
        must hold nothing large (the Writer's batch holds it until its
        commit)."""
        item: _ToLink = (record, tuple(events))

        async def write(conn: AsyncConnection) -> None:
            await self._append(conn, item)

        return write

    def events_op(self, record_id: str, events: Sequence[AuditEvent]) -> Operation:
        item: _ToLink = (record_id, tuple(events))

        async def write(conn: AsyncConnection) -> None:
            await self._append(conn, item)

        return write

    # -- appends (inside the caller's transaction) ----------------------------

    async def append_record(
        self, conn: AsyncConnection, record: AuditRecord, events: Sequence[AuditEvent] = ()
    ) -> None:
        await self._append(conn, (record, tuple(events)))

    async def append_events(
        self, conn: AsyncConnection, record_id: str, events: Sequence[AuditEvent]
    ) -> None:
        await self._append(conn, (record_id, tuple(events)))

    # In the Writer's batch the linking waits for the batch's end
    # (gateway.db.prepared.at_flush), where `_head` takes the chain's lock,
    # and links all of the batch's rows at once: see the module's docstring.

    async def _append(self, conn: AsyncConnection, item: _ToLink) -> None:
        """In a batch that collects writes, keep `item` for the flush, which
        builds and links the batch's rows together; elsewhere now."""
        tx = transaction_of(conn)
        waiting = _UNLINKED.get(tx) if tx is not None else None
        if waiting is None:
            if not collecting(conn):
                entries = _built((item,))
                if entries:
                    await self._link(conn, entries)
                return
            waiting = _UNLINKED[tx] = []
            # Not the transaction itself: what waits for the flush must not
            # keep alive a transaction rolled back before it.
            await at_flush(conn, partial(self._link_waiting, conn))
        waiting.append(item)

    async def _link_waiting(self, conn: AsyncConnection) -> None:
        entries = _built(_UNLINKED.pop(transaction_of(conn), ()))
        if not entries:
            return
        if conn.dialect.name != "postgresql":
            await self._link(conn, entries)
            return
        ((last_seq, last_hash),) = await settle_with(
            conn, _LINK_AND_INSERT, _link_and_insert_values(entries)
        )
        await self._advance(conn, int(last_seq) - len(entries), Head(int(last_seq), str(last_hash)))

    async def _link(self, conn: AsyncConnection, entries: Sequence[_Unlinked]) -> None:
        """Link `entries` into the chain after its head, in order, and write
        them (one executemany per table)."""
        head = await _head(conn)
        seq, prev = head.seq, head.hash
        records: list[dict[str, Any]] = []
        terms: list[dict[str, Any]] = []
        events: list[dict[str, Any]] = []
        for entry in entries:
            seq += 1
            hash_ = link(prev, entry.content)
            row = dict(entry.row, seq=seq, prev_hash=prev, hash=hash_)
            prev = hash_
            if isinstance(entry, _PendingRecord):
                records.append(row)
                terms.extend(dict(term, record_seq=seq) for term in entry.terms)
            else:
                events.append(row)
        # Records before their terms and events (foreign keys).
        await _INSERT_RECORD.run_later(conn, records)
        await _INSERT_TERMS.run_later(conn, terms)
        await _INSERT_EVENTS.run_later(conn, events)
        await self._advance(conn, head.seq, Head(seq, prev))

    async def _advance(self, conn: AsyncConnection, start: int, head: Head) -> None:
        """Remember the new head for this transaction; checkpoint on a boundary."""
        tx = transaction_of(conn)
        if tx is not None:
            _HEADS[tx] = head
        if head.seq // self.checkpoint_every > start // self.checkpoint_every:
            # The spacing goes with the signature: verify holds the chain to
            # it even after the setting changes.  So does where the chain
            # was before these rows (`from`): the one before this checkpoint
            # was taken when the chain passed the last multiple at or before
            # `from`, so a periodic checkpoint deleted between two others
            # shows (gateway.audit.verify).
            await self.write_checkpoint(conn, "periodic", head,
                                        {"every": self.checkpoint_every, "from": start})

    # -- checkpoints ------------------------------------------------------------

    async def write_checkpoint(
        self,
        conn: AsyncConnection,
        kind: str,
        head: Head | None = None,
        detail: dict[str, Any] | None = None,
    ) -> Checkpoint:
        """Sign (seq, hash) of `head` (default: the current head)."""
        if head is None:
            await flush_writes(conn)  # appends waiting in this transaction first
            head = await _head(conn)
        at = datetime.now(UTC)
        detail_text = _json(detail or {})
        signature = self.keys.sign(checkpoint_message(kind, head.seq, head.hash, at, detail_text))
        result = await conn.execute(
            audit_checkpoints.insert().returning(audit_checkpoints.c.id),
            {"at": at, "kind": kind, "seq": head.seq, "hash": head.hash, "detail": detail_text,
             "key_id": signature.key_id if signature else None,
             "signature": signature.value if signature else None},
        )
        return Checkpoint(int(result.scalar_one()), at, kind, head.seq, head.hash, detail_text,
                          signature.key_id if signature else None,
                          signature.value if signature else None)
