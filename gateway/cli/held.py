"""`gateway held list|approve|reject`: messages waiting for a named authoriser.

The hold rule ([policy.hold]) parks sensitive messages in the queue's HELD
state.  Approving one moves it to QUEUED (delivery starts on the next poll of
any running gateway) and appends an `approved` audit event naming who
authorised it; rejecting one moves it to REJECTED, wipes its content (it will
never be sent) and appends a `rejected` event.  The state change and its
audit event are one transaction: an approval is never unrecorded.  A
rejected message's held password is destroyed as well.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from gateway.audit import AuditEvent, AuditTrail, EventType
from gateway.cli.common import add_config, run_async, settings_or_exit
from gateway.db import audit_records, create_engine, queue_messages
from gateway.passwords import PasswordStore
from gateway.queue import QueuedMessage, QueueState, QueueStore, Writer
from gateway.settings import Settings


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    held = commands.add_parser("held", help="messages held for authorisation")
    actions = held.add_subparsers(dest="held_command", metavar="ACTION", required=True)
    listing = actions.add_parser("list", help="messages waiting for an authoriser")
    add_config(listing)
    listing.add_argument("--json", action="store_true", help="one JSON object per line")
    listing.add_argument("--limit", type=int, default=100)
    listing.set_defaults(handler=_list)
    for name, helptext in (
        ("approve", "authorise a held message: it is delivered"),
        ("reject", "refuse a held message: it is never delivered"),
    ):
        action = actions.add_parser(name, help=helptext)
        add_config(action)
        action.add_argument("id", help="the queue id shown by `gateway held list`")
        action.add_argument("--by", required=True, metavar="NAME",
                            help="the authoriser's name (recorded in the audit trail)")
        action.add_argument("--note", default="", metavar="TEXT", help="why (recorded)")
        action.set_defaults(handler=_decide, approve=name == "approve")


async def _documents(engine: AsyncEngine, ids: list[str]) -> dict[str, dict[str, Any]]:
    if not ids:
        return {}
    query = select(audit_records.c.id, audit_records.c.document).where(audit_records.c.id.in_(ids))
    async with engine.connect() as conn:
        return {row[0]: json.loads(row[1]) for row in await conn.execute(query)}


def _describe(message: QueuedMessage, document: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": message.id,
        "held_since": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(message.created_at)),
        "sender": message.envelope.mail_from or "<>",
        "recipients": [r.address for r in message.recipients],
        "subject": document.get("subject", ""),
        "purpose": document.get("purpose"),
        "information_types": document.get("information_types", []),
        "marking": document.get("marking"),
        "reasons": [r.get("code") for r in document.get("reasons", [])],
    }


def _list(args: argparse.Namespace) -> int:
    settings = settings_or_exit(args)

    async def run() -> list[dict[str, Any]]:
        engine = create_engine(settings.database.url)
        try:
            messages = await QueueStore(engine, Writer(engine)).list([QueueState.HELD], args.limit)
            docs = await _documents(engine, [m.audit_id or m.id for m in messages])
        finally:
            await engine.dispose()
        return [_describe(m, docs.get(m.audit_id or m.id, {})) for m in messages]

    rows = run_async(run)
    if args.json:
        for row in rows:
            print(json.dumps(row))
        return 0
    for row in rows:
        print(f"{row['id']}  held since {row['held_since']}  {row['sender']} -> "
              f"{', '.join(row['recipients'])}")
        print(f"    subject: {row['subject']}")
        types = ", ".join(row["information_types"]) or "-"
        print(f"    information: {types}" + (f"; marking {row['marking']}" if row["marking"] else ""))
        if row["purpose"]:
            print(f"    purpose: {row['purpose']}")
    print(f"{len(rows)} held message(s)")
    return 0


async def _apply(
    settings: Settings, message_id: str, approve: bool, by: str, note: str
) -> str | None:
    """Move the message out of HELD with its audit event; an error text or None."""
    engine = create_engine(settings.database.url)
    writer = Writer(engine)
    writer.start()
    try:
        store = QueueStore(engine, writer)
        message = await store.get(message_id)
        if message is None:
            return f"no queued message {message_id}"
        if message.state != QueueState.HELD.value:
            return f"{message_id} is not held (it is {message.state})"
        now = time.time()
        new_state = QueueState.QUEUED if approve else QueueState.REJECTED
        values: dict[str, Any] = {"state": new_state.value, "next_attempt_at": now,
                                  "updated_at": now}
        if not approve:
            values["content"] = b""  # refused: the personal data is not kept to be sent
        detail: dict[str, Any] = {"by": by, "note": note}
        if approve:
            detail["authorised_by"] = by
        else:
            detail["reasons"] = ["not_authorised"]
        event = AuditEvent(EventType.APPROVED if approve else EventType.REJECTED,
                           datetime.now(UTC), detail)
        trail = AuditTrail.from_settings(settings)
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

        if not await writer.submit(write):
            return f"{message_id} is no longer held"
        if not approve:
            # Nothing will be sent, so the held password has nothing to open.
            await PasswordStore(engine, writer, trail=trail).destroy_for_queue(
                message_id, reason="message rejected by authoriser"
            )
        return None
    finally:
        await writer.stop()
        await engine.dispose()


def _decide(args: argparse.Namespace) -> int:
    settings = settings_or_exit(args)
    by = " ".join(args.by.split())
    if not by:
        print("error: --by needs the authoriser's name", file=sys.stderr)
        return 2
    error = run_async(lambda: _apply(settings, args.id, args.approve, by, args.note.strip()))
    if error is not None:
        print(f"error: {error}", file=sys.stderr)
        return 1
    if args.approve:
        print(f"{args.id}: approved by {by}; it will be delivered")
    else:
        print(f"{args.id}: rejected by {by}; it will not be delivered")
    return 0
