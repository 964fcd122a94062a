"""Held messages for the approvers' pages: why each is held, and the decision.

The decision is the same transaction as `gateway held approve|reject`
(gateway/cli/held.py): the queue row leaves HELD only if it is still HELD
(two approvers cannot both decide), and the `approved` / `rejected` audit
event on the message's own record is committed with it.  Approval names the
console user as `authorised_by`; rejection wipes the content, which will
never be sent.  It runs on the gateway's own Writer rather than the CLI's
(which opens an engine per call), so on SQLite the process keeps one writer.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.audit import AuditEvent, AuditQuery, AuditTrail, EventType
from gateway.db import queue_messages
from gateway.model import RecipientEntry
from gateway.policy.recipients import RecipientList
from gateway.queue import QueuedMessage, QueueState, QueueStore
from gateway.settings import HoldSettings

NOTE_LIMIT = 1000


@dataclass(frozen=True, slots=True)
class HeldRecipient:
    address: str
    entry: RecipientEntry | None  # the allow-list row, None when not allowed


@dataclass(frozen=True, slots=True)
class HeldMessage:
    message: QueuedMessage
    record: dict[str, Any]  # the audit record document ({} when missing)
    recipients: tuple[HeldRecipient, ...]
    why: tuple[str, ...]

    @property
    def id(self) -> str:
        return self.message.id

    @property
    def held_since(self) -> datetime:
        return datetime.fromtimestamp(self.message.created_at, UTC)


def hold_explanation(record: dict[str, Any], hold: HoldSettings) -> tuple[str, ...]:
    """Why the policy held it, in words, from what the record says was found."""
    types = record.get("information_types") or []
    out = []
    if hold.special_category and "special_category" in types:
        out.append("special category data (health, safeguarding, ethnicity, religion, "
                   "sexuality…) was found, which needs a named authoriser")
    if hold.min_people:
        out.append(f"the hold rule applies to personal data about {hold.min_people} or more "
                   "people")
    if record.get("marking"):
        out.append(f"it carries the protective marking {record['marking']}")
    for reason in record.get("reasons") or []:
        out.append(f"{reason.get('code')}: {reason.get('text')}")
    return tuple(out) or ("the hold rule matched the personal data found",)


async def held_messages(
    store: QueueStore,
    query: AuditQuery,
    allow_list: RecipientList,
    hold: HoldSettings,
    ids: Sequence[str] | None = None,
    limit: int = 200,
) -> list[HeldMessage]:
    """Held messages (oldest first), each with its record and allow-list rows."""
    if ids is None:
        messages = await store.list([QueueState.HELD], limit)
    else:
        found = [await store.get(i) for i in ids]
        messages = [m for m in found if m is not None and m.state == QueueState.HELD.value]
    out = []
    for message in messages:
        record = await query.get(message.audit_id or message.id) or {}
        record.pop("events", None)
        recipients = tuple(HeldRecipient(r.address, allow_list.match(r.address))
                           for r in message.recipients)
        out.append(HeldMessage(message, record, recipients, hold_explanation(record, hold)))
    return out


async def decide(
    store: QueueStore,
    trail: AuditTrail,
    message_id: str,
    approve: bool,
    by: str,
    note: str,
) -> str | None:
    """Approve or reject a held message; None when done, else why not."""
    message = await store.get(message_id)
    if message is None:
        return f"There is no held message {message_id}."
    if message.state != QueueState.HELD.value:
        return f"{message_id} is no longer held (it is {message.state})."
    now = time.time()
    values: dict[str, Any] = {
        "state": (QueueState.QUEUED if approve else QueueState.REJECTED).value,
        "next_attempt_at": now,
        "updated_at": now,
    }
    if not approve:
        values["content"] = b""  # refused: the personal data is not kept to be sent
    detail: dict[str, Any] = {"by": by, "note": note[:NOTE_LIMIT], "via": "web console"}
    if approve:
        detail["authorised_by"] = by
    else:
        detail["reasons"] = ["not_authorised"]
    event = AuditEvent(EventType.APPROVED if approve else EventType.REJECTED,
                       datetime.now(UTC), detail)
    events_op = trail.events_op(message.audit_id or message.id, [event])

    async def write(conn: AsyncConnection) -> bool:
        result = await conn.execute(
            update(queue_messages)
            .where(queue_messages.c.id == message_id,
                   queue_messages.c.state == QueueState.HELD.value)
            .values(**values)
        )
        if not result.rowcount:
            return False  # someone else decided first
        await events_op(conn)
        return True

    if not await store.writer.submit(write):
        return f"{message_id} is no longer held: someone decided first."
    return None
