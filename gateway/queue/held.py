"""Deciding a message held for authorisation: one transaction moves it out
of HELD and appends its `approved` or `rejected` audit event; the approver
becomes the record's `authorised_by`.  A refused message keeps no content,
and its held password is destroyed (nothing will be sent for it to open).
A message whose password expired while it waited cannot be approved: it
would go out with a file nobody could open.

Used by `gateway held approve|reject` and by the web console.
"""

from __future__ import annotations

import functools
import time
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.audit import AuditEvent, AuditTrail, EventType
from gateway.db import audit_records, queue_contents, queue_messages
from gateway.detect import DetectionEngine, build_engine
from gateway.model import Envelope
from gateway.passwords import PasswordStore, held_passwords
from gateway.passwords.store import HeldState
from gateway.pipeline import redact_decision
from gateway.policy.notify import build_hold_notice
from gateway.queue.states import QueueState
from gateway.queue.store import NewMessage, QueueStore

NOTE_LIMIT = 1000


# Built on the first decision a process makes (a third of a second), then kept.
@functools.lru_cache(maxsize=1)
def _detection() -> DetectionEngine:
    return build_engine()


async def password_expired(conn: AsyncConnection, message_id: str) -> bool:
    """True when the message's held passwords expired (`ttl`) and none is
    held any more: what it would send could no longer be opened."""
    states = set((await conn.execute(
        select(held_passwords.c.state).where(held_passwords.c.queue_id == message_id)
    )).scalars())
    return HeldState.EXPIRED.value in states and HeldState.HELD.value not in states


async def decide_held(
    store: QueueStore,
    trail: AuditTrail,
    message_id: str,
    approve: bool,
    by: str,
    note: str = "",
    via: str | None = None,
    hostname: str | None = None,
    account: str | None = None,
) -> str | None:
    """Approve or reject a held message; None when done, else why not.

    With `hostname` (the gateway's), a refusal queues the sender's notice
    in the same transaction: their mail client said "sent" when the message
    was held."""
    message = await store.get(message_id)
    if message is None and message_id.strip().upper() != message_id:
        # Queue ids are upper-case letters and digits: one typed in lower
        # case (from a phone call, a ticket) is the same id.
        message = await store.get(message_id.strip().upper())
    if message is None:
        return f"no held message {message_id}"
    message_id = message.id
    if message.state != QueueState.HELD.value:
        return f"{message_id} is no longer held: it is {message.state}"
    now = time.time()
    values: dict[str, Any] = {
        "state": (QueueState.QUEUED if approve else QueueState.REJECTED).value,
        "next_attempt_at": now,
        "updated_at": now,
    }
    # The trail keeps the name and note redacted (personal data, a password),
    # as it keeps the purpose; the sender's notice quotes them as typed.
    kept_by, kept_note = redact_decision(_detection(), by, note)
    detail: dict[str, Any] = {"by": kept_by, "note": kept_note[:NOTE_LIMIT]}
    if via:
        detail["via"] = via
    if account:
        # Who decided, as the system knows them (the console's account, the
        # operating-system user who ran the command): `by` is the name given.
        detail["account"] = account
    if approve:
        detail["authorised_by"] = kept_by
    else:
        detail["reasons"] = ["not_authorised"]
    event = AuditEvent(
        EventType.APPROVED if approve else EventType.REJECTED, datetime.now(UTC), detail
    )
    events_op = trail.events_op(message.audit_id or message.id, [event])

    async def write(conn: AsyncConnection) -> str | None:
        record_id = message.audit_id or message.id
        if message.audit_id and (await conn.execute(
            select(audit_records.c.seq).where(audit_records.c.id == record_id)
        )).first() is None:
            # The decision would be an event of a record the trail no longer
            # has: refused until someone finds out what happened to it.
            return (f"{message_id}'s audit record is missing from the trail: it cannot be "
                    "decided until `gateway audit verify` has been run and the record's "
                    "loss looked into")
        if approve and await password_expired(conn, message_id):
            return (f"{message_id}'s password expired while it waited ([passwords] ttl): "
                    "approved, it would go out with a file nobody could open, and no "
                    "password to follow. Reject it (`gateway held reject`) and ask the "
                    "sender to send it again.")
        result = await conn.execute(
            update(queue_messages)
            .where(queue_messages.c.id == message_id,
                   queue_messages.c.state == QueueState.HELD.value)
            .values(**values)
        )
        if not result.rowcount:
            return f"{message_id} is no longer held: someone decided first"
        if not approve:
            # Refused: the personal data is not kept to be sent.
            await conn.execute(delete(queue_contents)
                               .where(queue_contents.c.message_id == message_id))
        await events_op(conn)
        if not approve and hostname and message.envelope.mail_from:
            original = (await conn.execute(
                select(audit_records.c.message_id)
                .where(audit_records.c.id == (message.audit_id or message.id))
            )).scalar()
            notice = build_hold_notice(
                hostname=hostname, sender=message.envelope.mail_from, reference=message_id,
                recipients=[r.address for r in message.recipients], subject=None,
                message_id=original, when=datetime.now(UTC), refused_by=by, note=note,
            )
            insert, _ = store.insert_op(NewMessage(
                envelope=Envelope(mail_from="", rcpt_tos=(message.envelope.mail_from,),
                                  peer="local", helo=hostname,
                                  smtputf8=not message.envelope.mail_from.isascii()),
                content=notice,
            ))
            await insert(conn)
        return None

    refused: str | None = await store.writer.submit(write)
    if refused is not None:
        return refused
    if not approve:
        await PasswordStore(store.engine, store.writer, trail=trail).destroy_for_queue(
            message_id, reason="message rejected by authoriser"
        )
    return None
