"""The queue's durable store: enqueue, claim, record attempts, inspect.

A claim is the message's row in state active with `claimed_by` (this
process) and `lease_until`: once the lease runs out, any worker may claim
it again.  The exact `lease_until` a claim wrote is that claim's own
(`QueuedMessage.lease_until`): every claim writes a new one, so it tells
this process's claim from a later one of the same process (its poller's
after the lease ran out), where `claimed_by` alone would not.  `renew`
moves a claim's lease on while its delivery runs; `record_attempt`, given
the lease, writes the result only over that same claim (`ClaimLost`).
"""

from __future__ import annotations

import json
import os
import secrets
import sqlite3
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Float,
    Integer,
    and_,
    bindparam,
    case,
    delete,
    func,
    or_,
    select,
    union_all,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from gateway.db import is_postgres, queue_contents, queue_messages, queue_recipients
from gateway.db.prepared import Prepared
from gateway.errors import ClaimLost
from gateway.model import Envelope, RecipientDsn
from gateway.queue.states import FINISHED, QueueState, RecipientState
from gateway.queue.writer import Writer, note_large_content, sqlite_connection

Operation = Callable[[AsyncConnection], Awaitable[Any]]

_ALPHABET = "0123456789BCDFGHJKLMNPQRSTVWXZ"


# The statements every message goes through, compiled once per dialect
# (gateway.db.prepared): Core's per-call overhead was most of the writer's time.
# In the Writer's batch, the enqueue's and the attempt's rows are collected
# (`run_later`) and written one executemany per statement: one round trip
# for the batch's messages on PostgreSQL, not one each.  They commute: new
# messages and updates of messages already committed; a message's row is
# collected before its recipients'.
_INSERT_MESSAGE = Prepared(queue_messages.insert())
_INSERT_CONTENT = Prepared(queue_contents.insert())
# A finished message's content goes: nothing is left to send.
_DELETE_CONTENT = Prepared(
    delete(queue_contents).where(queue_contents.c.message_id == bindparam("m_id"))
)
_INSERT_RECIPIENTS = Prepared(queue_recipients.insert())
_UPDATE_RECIPIENT = Prepared(
    update(queue_recipients)
    .where(
        queue_recipients.c.message_id == bindparam("m_id"),
        queue_recipients.c.address == bindparam("m_address"),
        queue_recipients.c.state == bindparam("m_pending"),
    )
    .values(state=bindparam("state"), last_code=bindparam("last_code"),
            last_reply=bindparam("last_reply"))
)
_MESSAGE_ATTEMPT: dict[str, Any] = {
    "state": bindparam("state"),
    "attempts": queue_messages.c.attempts + bindparam("tried"),
    "next_attempt_at": bindparam("next_attempt_at"),
    "claimed_by": None,
    "lease_until": None,
    "last_error": bindparam("last_error"),
    "updated_at": bindparam("updated_at"),
}
_UPDATE_MESSAGE = Prepared(
    update(queue_messages).where(queue_messages.c.id == bindparam("m_id")).values(_MESSAGE_ATTEMPT)
)
_CLAIM = Prepared(
    update(queue_messages).where(queue_messages.c.id == bindparam("m_id"))
    .values(state=QueueState.ACTIVE.value, claimed_by=bindparam("claimed_by"),
            lease_until=bindparam("lease_until"), updated_at=bindparam("updated_at"))
)


def _due_ways() -> tuple[ColumnElement[bool], ...]:
    """The ways a message is due: its time came, or its claimer's lease ran out."""
    m, now = queue_messages.c, bindparam("now", type_=Float)
    return (
        and_(m.state == QueueState.QUEUED.value, m.next_attempt_at <= now),
        and_(m.state == QueueState.DEFERRED.value, m.next_attempt_at <= now),
        and_(m.state == QueueState.ACTIVE.value, m.lease_until < now),
    )


def _due_sqlite() -> Prepared:
    """Due messages in due order, one branch per way, each cut at the limit.

    Written with OR, the condition makes SQLite collect every queued message
    and sort them before the limit applies: a claim then costs as much as the
    backlog is long, and a busy gateway claims dozens of times a second with
    thousands waiting.  Each branch here reads ix_queue_due in order and
    stops at the limit.  (PostgreSQL keeps the OR: FOR UPDATE is not allowed
    with UNION.)
    """
    m, limit = queue_messages.c, bindparam("limit", type_=Integer)
    branches = [
        select(m.id, m.size, m.next_attempt_at).where(way)
        .order_by(m.next_attempt_at).limit(limit).subquery(f"due_{n}")
        for n, way in enumerate(_due_ways())
    ]
    due = union_all(*(select(b) for b in branches)).subquery("due")
    return Prepared(select(due.c.id, due.c.size).order_by(due.c.next_attempt_at).limit(limit))


_DUE_SQLITE = _due_sqlite()


def _digits(number: int, count: int) -> str:
    """The last `count` digits of `number` in `_ALPHABET`'s base."""
    out = ""
    for _ in range(count):
        number, digit = divmod(number, len(_ALPHABET))
        out = _ALPHABET[digit] + out
    return out


# One draw for the seven random characters (one `secrets.choice` each was
# seven reads of the system's random source per message).
_RANDOM_SPACE = len(_ALPHABET) ** 7


def new_queue_id() -> str:
    """Time-ordered, unguessable: 9 characters of milliseconds, 7 random."""
    return _digits(int(time.time() * 1000), 9) + _digits(secrets.randbelow(_RANDOM_SPACE), 7)


def envelope_to_json(envelope: Envelope, receipts: bool = False) -> str:
    return json.dumps(
        {
            # Receipts requested: the delivery workers send each recipient its
            # own transaction with a VERP return path (gateway/receipts).  The
            # row's mail_from stays the original sender, so the gateway's own
            # bounces still go to them.
            **({"receipts": True} if receipts else {}),
            "ret": envelope.dsn_ret,
            "envid": envelope.dsn_envid,
            "smtputf8": envelope.smtputf8,
            "body_8bit": envelope.body_8bit,
            "peer": envelope.peer,
            "helo": envelope.helo,
            "auth_user": envelope.auth_user,
            "tls": envelope.tls,
        },
        separators=(",", ":"),
    )


@dataclass(frozen=True, slots=True)
class QueuedRecipient:
    address: str
    route: str = "upstream"
    state: str = RecipientState.PENDING
    notify: tuple[str, ...] = ()
    orcpt: str | None = None
    last_code: int | None = None
    last_reply: str | None = None


@dataclass(frozen=True, slots=True)
class NewMessage:
    """An accepted message on its way into the queue."""

    envelope: Envelope
    content: bytes = field(repr=False)
    routes: tuple[str, ...] = ()  # per recipient; empty means all "upstream"
    state: QueueState = QueueState.QUEUED
    audit_id: str | None = None
    id: str = field(default_factory=new_queue_id)
    receipts: bool = False  # request delivery/read receipts per recipient
    # Every CR and LF of `content` is in a CRLF and it has no NUL: the
    # received content as the receive stage checked it, behind a header
    # the gateway wrote.  Not stored: a message loaded again is checked.
    line_endings_checked: bool = False


@dataclass(frozen=True, slots=True)
class QueuedMessage:
    id: str
    envelope: Envelope
    content: bytes = field(repr=False)
    recipients: tuple[QueuedRecipient, ...]
    state: str
    attempts: int
    created_at: float
    next_attempt_at: float
    audit_id: str | None = None
    last_error: str | None = None
    claimed_by: str | None = None
    receipts: bool = False
    line_endings_checked: bool = False  # see NewMessage; never from the database
    # The lease its claim wrote (None when not claimed): the claim's own, as
    # the module's docstring says.
    lease_until: float | None = None

    @property
    def pending(self) -> tuple[QueuedRecipient, ...]:
        return tuple(r for r in self.recipients if r.state == RecipientState.PENDING)


@dataclass(frozen=True, slots=True)
class RecipientOutcome:
    address: str
    state: RecipientState
    # The receiving system's last reply for it: None when none ever answered
    # (a failure of the gateway's own is the message's last_error instead).
    code: int | None
    reply: str | None


def default_worker_id() -> str:
    return f"{os.uname().nodename}:{os.getpid()}"


class QueueStore:
    """All queue reads and writes.  Writes go through the group-commit Writer."""

    def __init__(
        self,
        engine: AsyncEngine,
        writer: Writer,
        worker_id: str | None = None,
        lease_seconds: float = 300.0,
    ) -> None:
        self.engine = engine
        self.writer = writer
        self.worker_id = worker_id or default_worker_id()
        self.lease_seconds = lease_seconds

    # -- writing -------------------------------------------------------------

    async def enqueue(
        self,
        message: NewMessage,
        also: Sequence[Operation] = (),
        claim: bool = True,
    ) -> QueuedMessage:
        """Store the message (and `also`: audit writes) in one durable commit."""
        insert, queued = self.insert_op(message, claim)

        async def write(conn: AsyncConnection) -> None:
            await insert(conn)
            for op in also:
                await op(conn)

        await self.writer.submit(write)
        return queued

    def insert_op(self, message: NewMessage, claim: bool = False) -> tuple[Operation, QueuedMessage]:
        """The write that queues `message`, to run inside another transaction."""
        now = time.time()
        env = message.envelope
        routes = message.routes or tuple("upstream" for _ in env.rcpt_tos)
        claimed = claim and message.state == QueueState.QUEUED
        state = QueueState.ACTIVE if claimed else message.state
        claimed_by = self.worker_id if claimed else None
        lease_until = now + self.lease_seconds if claimed else None
        message_row: dict[str, Any] = {
            "id": message.id,
            "created_at": now,
            "mail_from": env.mail_from,
            "envelope": envelope_to_json(env, message.receipts),
            "size": len(message.content),
            "state": state.value,
            "attempts": 0,
            "next_attempt_at": now,
            "claimed_by": claimed_by,
            "lease_until": lease_until,
            "audit_id": message.audit_id,
            "updated_at": now,
        }
        recipients = []
        recipient_rows = []
        for position, address in enumerate(env.rcpt_tos):
            dsn = env.rcpt_dsn[position] if position < len(env.rcpt_dsn) else RecipientDsn()
            recipients.append(
                QueuedRecipient(address, routes[position], RecipientState.PENDING, dsn.notify, dsn.orcpt)
            )
            recipient_rows.append(
                {
                    "message_id": message.id,
                    "position": position,
                    "address": address,
                    "state": RecipientState.PENDING.value,
                    "route": routes[position],
                    "notify": ",".join(dsn.notify) or None,
                    "orcpt": dsn.orcpt,
                }
            )

        async def write(conn: AsyncConnection) -> None:
            await _INSERT_MESSAGE.run_later(conn, [message_row])
            raw = sqlite_connection(conn) if len(message.content) >= _BLOB_STREAM else None
            if raw is None:
                await _INSERT_CONTENT.run_later(
                    conn, [{"message_id": message.id, "content": message.content}]
                )
            else:
                # Its message's row is written first (a statement settles
                # the rows collected before it), then the zeroed content.
                await conn.execute(
                    queue_contents.insert().values(content=func.zeroblob(len(message.content))),
                    {"message_id": message.id},
                )
                _write_blob(raw, message.id, message.content)
                note_large_content(conn)
            await _INSERT_RECIPIENTS.run_later(conn, recipient_rows)

        queued = QueuedMessage(
            id=message.id,
            envelope=env,
            content=message.content,
            recipients=tuple(recipients),
            state=state.value,
            attempts=0,
            created_at=now,
            next_attempt_at=now,
            audit_id=message.audit_id,
            claimed_by=claimed_by,
            receipts=message.receipts,
            line_endings_checked=message.line_endings_checked,
            lease_until=lease_until,
        )
        return write, queued

    async def record_attempt(
        self,
        message: QueuedMessage,
        outcomes: Sequence[RecipientOutcome],
        state: QueueState,
        next_attempt_at: float | None = None,
        last_error: str | None = None,
        also: Sequence[Operation] = (),
        tried: bool = True,
        holding: float | None = None,
    ) -> None:
        """Store one attempt's per-recipient results and the message's new
        state; `tried` False when nothing was sent (the administrator gave
        up on it): the attempts stay as the bounce counts them.

        `holding`: the lease of this process's claim, which may have run
        out (its renewal failed): the result is written only while that
        claim is still the message's, else nothing is and ClaimLost is
        raised.  One statement more, so only when the lease may be gone."""
        now = time.time()

        done = state in (QueueState.DELIVERED, QueueState.BOUNCED)
        recipient_rows = [
            {"m_id": message.id, "m_address": outcome.address,
             "m_pending": RecipientState.PENDING.value, "state": outcome.state.value,
             "last_code": outcome.code,
             "last_reply": outcome.reply[:1000] if outcome.reply is not None else None}
            for outcome in outcomes
        ]
        message_row = {
            "m_id": message.id, "state": state.value,
            "next_attempt_at": next_attempt_at if next_attempt_at is not None else now,
            "last_error": last_error[:1000] if last_error else None, "updated_at": now,
            "tried": 1 if tried else 0,
        }

        # The rows alone: this write must not keep `message` (and its
        # content) alive for as long as the Writer keeps the write.
        finished = [{"m_id": message.id}] if done else []
        message_id = message.id

        async def write(conn: AsyncConnection) -> None:
            if holding is not None:
                await self._confirm_claim(conn, message_id, holding)
            await _UPDATE_RECIPIENT.run_later(conn, recipient_rows)
            await _UPDATE_MESSAGE.run_later(conn, [message_row])
            # Delivered and bounced messages keep their row for `queue
            # show`, but not their content: nothing left to send.
            await _DELETE_CONTENT.run_later(conn, finished)
            for op in also:
                await op(conn)

        await self.writer.submit(write, frees=done)

    async def _confirm_claim(self, conn: AsyncConnection, message_id: str, lease: float) -> None:
        """ClaimLost unless the claim that wrote `lease` still holds the
        message.  An update, not a read: the row stays locked (PostgreSQL)
        until the transaction ends, so no replica claims it in between."""
        m = queue_messages.c
        result = await conn.execute(
            update(queue_messages)
            .where(m.id == message_id, m.state == QueueState.ACTIVE.value,
                   m.claimed_by == self.worker_id, m.lease_until == lease)
            .values(lease_until=lease)
        )
        if result.rowcount != 1:
            raise ClaimLost(f"queue message {message_id} was claimed by another worker")

    async def renew(self, leases: Sequence[tuple[str, float]]) -> list[float | None]:
        """Move on the lease of this process's claims (message id and the
        lease the claim wrote, or last renewed to): for each, the new lease,
        or None when that claim no longer holds the message (its lease ran
        out and another worker claimed it, or it was recorded meanwhile)."""
        now = time.time()
        until = now + self.lease_seconds
        m = queue_messages.c

        async def write(conn: AsyncConnection) -> list[float | None]:
            renewed: list[float | None] = []
            for message_id, lease in leases:
                result = await conn.execute(
                    update(queue_messages)
                    .where(m.id == message_id, m.state == QueueState.ACTIVE.value,
                           m.claimed_by == self.worker_id, m.lease_until == lease)
                    .values(lease_until=until)
                )
                renewed.append(until if result.rowcount == 1 else None)
            return renewed

        return await self.writer.submit(write)

    async def claim_due(
        self, limit: int, max_bytes: int | None = None, at_least_one: bool = True
    ) -> list[QueuedMessage]:
        """Claim messages whose time has come, or whose claimer's lease ran out.

        With `max_bytes`, only those (in due order) whose content fits in
        that many bytes together -- and, when `at_least_one`, the first due
        message whatever its size -- so a backlog of large messages is not
        loaded into memory at once.
        """
        now = time.time()
        postgres = is_postgres(self.engine)

        async def write(conn: AsyncConnection) -> list[QueuedMessage]:
            if postgres:
                due = (
                    select(queue_messages.c.id, queue_messages.c.size)
                    .where(or_(*_due_ways()))
                    .order_by(queue_messages.c.next_attempt_at)
                    .limit(limit)
                    .with_for_update(skip_locked=True)
                )
                found = list(await conn.execute(due, {"now": now}))
            else:
                found = await _DUE_SQLITE.fetch(conn, {"now": now, "limit": limit})
            rows = [(row[0], int(row[1] or 0)) for row in found]
            if max_bytes is not None:
                rows = _within(rows, max_bytes, at_least_one)
            ids = [message_id for message_id, _ in rows]
            if not ids:
                return []
            await _CLAIM.run(conn, [
                {"m_id": message_id, "claimed_by": self.worker_id,
                 "lease_until": now + self.lease_seconds, "updated_at": now}
                for message_id in ids
            ])
            return await _load(conn, ids)

        return await self.writer.submit(write)

    async def claim(self, message_id: str) -> QueuedMessage | None:
        """Claim one deferred or queued message, as a worker would (a lease,
        so that a crash gives it back); None when it is in any other state."""
        now = time.time()

        async def write(conn: AsyncConnection) -> QueuedMessage | None:
            result = await conn.execute(
                update(queue_messages)
                .where(
                    queue_messages.c.id == message_id,
                    queue_messages.c.state.in_(
                        [QueueState.DEFERRED.value, QueueState.QUEUED.value]
                    ),
                )
                .values(state=QueueState.ACTIVE.value, claimed_by=self.worker_id,
                        lease_until=now + self.lease_seconds, updated_at=now)
            )
            if not result.rowcount:
                return None
            (message,) = await _load(conn, [message_id])
            return message

        return await self.writer.submit(write)

    async def release_claims(self, own_only: bool = True) -> int:
        """Give back this process's claims (shutdown, or restart after a crash)."""
        now = time.time()

        async def write(conn: AsyncConnection) -> int:
            result = await conn.execute(
                update(queue_messages)
                .where(
                    queue_messages.c.state == QueueState.ACTIVE.value,
                    queue_messages.c.claimed_by == self.worker_id,
                )
                .values(
                    state=case(
                        (queue_messages.c.attempts > 0, QueueState.DEFERRED.value),
                        else_=QueueState.QUEUED.value,
                    ),
                    claimed_by=None,
                    lease_until=None,
                    next_attempt_at=now,
                    updated_at=now,
                )
            )
            return int(result.rowcount or 0)

        return await self.writer.submit(write)

    async def forget_finished(self, before: float, limit: int = 1000) -> int:
        """Remove the rows of up to `limit` messages that finished (delivered,
        bounced, refused) before `before`, their recipients' with them; how
        many.  Their audit records stay: the trail keeps what happened."""
        m = queue_messages.c
        # A finished message's next_attempt_at is when it finished (every
        # way of finishing sets it to now), so this is one index range.
        old = (m.state.in_([s.value for s in FINISHED]), m.next_attempt_at < before)

        async def write(conn: AsyncConnection) -> int:
            ids = list((await conn.execute(select(m.id).where(*old).limit(limit))).scalars())
            if not ids:
                return 0
            await conn.execute(delete(queue_recipients)
                               .where(queue_recipients.c.message_id.in_(ids)))
            await conn.execute(delete(queue_contents)
                               .where(queue_contents.c.message_id.in_(ids)))
            result = await conn.execute(delete(queue_messages).where(m.id.in_(ids), *old))
            return int(result.rowcount or 0)

        return int(await self.writer.submit(write, frees=True))

    async def retry_now(self, message_id: str) -> bool:
        """`gateway queue retry ID`: a deferred message is tried at once."""
        return bool(await self._retry_now(queue_messages.c.id == message_id))

    async def retry_all_now(self) -> int:
        """`gateway queue retry --all` (Postfix's `postqueue -f`): every
        deferred or queued message is tried at once, e.g. once the upstream
        is back after an outage; how many."""
        return await self._retry_now()

    async def _retry_now(self, *where: Any) -> int:
        now = time.time()

        async def write(conn: AsyncConnection) -> int:
            result = await conn.execute(
                update(queue_messages)
                .where(
                    *where,
                    queue_messages.c.state.in_(
                        [QueueState.DEFERRED.value, QueueState.QUEUED.value]
                    ),
                )
                .values(next_attempt_at=now, updated_at=now)
            )
            return int(result.rowcount or 0)

        return await self.writer.submit(write)

    async def set_state(self, message_id: str, state: QueueState, expect: QueueState) -> bool:
        """Move a message between states (held -> queued on approval)."""
        now = time.time()

        async def write(conn: AsyncConnection) -> int:
            result = await conn.execute(
                update(queue_messages)
                .where(queue_messages.c.id == message_id, queue_messages.c.state == expect.value)
                .values(state=state.value, next_attempt_at=now, updated_at=now)
            )
            return int(result.rowcount or 0)

        return bool(await self.writer.submit(write))

    async def delete(self, message_id: str) -> None:
        async def write(conn: AsyncConnection) -> None:
            await conn.execute(delete(queue_contents)
                               .where(queue_contents.c.message_id == message_id))
            await conn.execute(delete(queue_messages).where(queue_messages.c.id == message_id))

        await self.writer.submit(write, frees=True)

    # -- reading -------------------------------------------------------------

    async def get(self, message_id: str) -> QueuedMessage | None:
        async with self.engine.connect() as conn:
            found = await _load(conn, [message_id])
        return found[0] if found else None

    async def list(self, states: Sequence[QueueState] = (), limit: int = 100) -> list[QueuedMessage]:
        query = select(queue_messages.c.id).order_by(queue_messages.c.created_at).limit(limit)
        if states:
            query = query.where(queue_messages.c.state.in_([s.value for s in states]))
        async with self.engine.connect() as conn:
            ids = [row[0] for row in await conn.execute(query)]
            return await _load(conn, ids, with_content=False)

    async def count(self, states: Sequence[QueueState] = ()) -> int:
        """How many messages are in `states` (every state when empty)."""
        query = select(func.count()).select_from(queue_messages)
        if states:
            query = query.where(queue_messages.c.state.in_([s.value for s in states]))
        async with self.engine.connect() as conn:
            return int((await conn.execute(query)).scalar_one())

    async def depth_by_state(self) -> dict[str, int]:
        query = select(queue_messages.c.state, func.count()).group_by(queue_messages.c.state)
        async with self.engine.connect() as conn:
            return {state: int(count) for state, count in await conn.execute(query)}


# Content from this size on is written to SQLite with its incremental blob
# I/O, in pieces: bound as a parameter, SQLite would copy it whole, and the
# cached statement would keep that copy until its next use.
_BLOB_STREAM = 1024 * 1024
_BLOB_PIECE = 1024 * 1024


def _content_rowid(raw: sqlite3.Connection, message_id: str) -> int:
    found = raw.execute(
        "SELECT rowid FROM queue_contents WHERE message_id = ?", (message_id,)
    ).fetchone()
    if found is None:
        raise LookupError(f"queue row {message_id} not found for its content")
    return int(found[0])


def _write_blob(raw: sqlite3.Connection, message_id: str, content: bytes) -> None:
    """Fill the zeroed content of `message_id` (just inserted, in the same
    transaction) with `content`."""
    view = memoryview(content)
    with raw.blobopen("queue_contents", "content", _content_rowid(raw, message_id)) as blob:
        for start in range(0, len(content), _BLOB_PIECE):
            blob.write(view[start : start + _BLOB_PIECE])


def _read_blob(raw: sqlite3.Connection, message_id: str) -> bytes:
    rowid = _content_rowid(raw, message_id)
    with raw.blobopen("queue_contents", "content", rowid, readonly=True) as blob:
        return blob.read()


def _content(row: Any, raw: sqlite3.Connection | None) -> bytes:
    if row["stored"] is None:
        return b""  # finished or refused: nothing left to send
    if row["content"] is not None:
        return bytes(row["content"])
    if raw is None:
        raise LookupError(f"queue row {row['id']} has no content")
    return _read_blob(raw, row["id"])


def _within(
    rows: list[tuple[str, int]], max_bytes: int, at_least_one: bool
) -> list[tuple[str, int]]:
    """The leading rows whose sizes add up to at most `max_bytes`."""
    taken: list[tuple[str, int]] = []
    total = 0
    for row in rows:
        if total + row[1] > max_bytes and (taken or not at_least_one):
            break
        taken.append(row)
        total += row[1]
    return taken


async def _load(
    conn: AsyncConnection, ids: Sequence[str], with_content: bool = True
) -> list[QueuedMessage]:
    if not ids:
        return []
    columns: list[Any] = list(queue_messages.c)
    source: Any = queue_messages
    raw = sqlite_connection(conn) if with_content else None
    if with_content:
        content: Any = queue_contents.c.content
        if raw is not None:
            # Large content is read with SQLite's blob I/O below, straight
            # into one bytes object (a column value would be copied once more).
            content = case((queue_messages.c.size < _BLOB_STREAM, content), else_=None)
        columns += [content.label("content"), queue_contents.c.message_id.label("stored")]
        source = queue_messages.outerjoin(
            queue_contents, queue_contents.c.message_id == queue_messages.c.id
        )
    query = select(*columns).select_from(source).where(queue_messages.c.id.in_(ids))
    rows = (await conn.execute(query)).mappings()
    by_id = {row["id"]: row for row in rows}
    recipient_rows = (
        await conn.execute(
            select(queue_recipients)
            .where(queue_recipients.c.message_id.in_(ids))
            .order_by(queue_recipients.c.message_id, queue_recipients.c.position)
        )
    ).mappings()
    recipients: dict[str, list[QueuedRecipient]] = {}
    for r in recipient_rows:
        recipients.setdefault(r["message_id"], []).append(
            QueuedRecipient(
                address=r["address"],
                route=r["route"],
                state=r["state"],
                notify=tuple(r["notify"].split(",")) if r["notify"] else (),
                orcpt=r["orcpt"],
                last_code=r["last_code"],
                last_reply=r["last_reply"],
            )
        )
    if raw is not None and any(row["stored"] is not None and row["content"] is None
                               for row in by_id.values()):
        note_large_content(conn)  # read below with blob I/O, through the cache
    loaded = []
    for message_id in ids:
        row = by_id.get(message_id)
        if row is None:
            continue
        extra = json.loads(row["envelope"])
        rcpts = recipients.get(message_id, [])
        envelope = Envelope(
            mail_from=row["mail_from"],
            rcpt_tos=tuple(r.address for r in rcpts),
            rcpt_dsn=tuple(RecipientDsn(r.notify, r.orcpt) for r in rcpts),
            dsn_ret=extra.get("ret"),
            dsn_envid=extra.get("envid"),
            smtputf8=bool(extra.get("smtputf8")),
            body_8bit=bool(extra.get("body_8bit")),
            peer=extra.get("peer", ""),
            helo=extra.get("helo", ""),
            auth_user=extra.get("auth_user"),
            tls=bool(extra.get("tls", False)),
        )
        loaded.append(
            QueuedMessage(
                id=message_id,
                envelope=envelope,
                content=_content(row, raw) if with_content else b"",
                recipients=tuple(rcpts),
                state=row["state"],
                attempts=int(row["attempts"]),
                created_at=float(row["created_at"]),
                next_attempt_at=float(row["next_attempt_at"]),
                audit_id=row["audit_id"],
                last_error=row["last_error"],
                claimed_by=row["claimed_by"],
                receipts=bool(extra.get("receipts")),
                lease_until=row["lease_until"],
            )
        )
    return loaded
