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
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.audit import AuditTrail, visible
from gateway.cli.common import (
    add_config,
    at_least_one,
    open_database,
    os_account,
    run_async,
    settings_or_exit,
)
from gateway.db import audit_records
from gateway.queue import QueuedMessage, QueueState, QueueStore, Writer
from gateway.queue.held import decide_held, password_expired
from gateway.settings import Settings


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    held = commands.add_parser("held", help="messages held for authorisation")
    actions = held.add_subparsers(dest="held_command", metavar="ACTION", required=True)
    listing = actions.add_parser("list", help="messages waiting for an authoriser")
    add_config(listing)
    listing.add_argument("--json", action="store_true", help="one JSON object per line")
    listing.add_argument("--limit", type=at_least_one, default=100)
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
        engine = open_database(settings)
        try:
            messages = await QueueStore(engine, Writer(engine)).list([QueueState.HELD], args.limit)
            docs = await _documents(engine, [m.audit_id or m.id for m in messages])
            async with engine.connect() as conn:
                expired = {m.id for m in messages if await password_expired(conn, m.id)}
        finally:
            await engine.dispose()
        return [{**_describe(m, docs.get(m.audit_id or m.id, {})),
                 "password_expired": m.id in expired} for m in messages]

    rows = run_async(run)
    if args.json:
        for row in rows:
            print(json.dumps(row))
        return 0
    for row in rows:
        # Text from mail, each line shown as it reads (gateway.audit.display).
        print(visible(f"{row['id']}  held since {row['held_since']}  {row['sender']} -> "
                      f"{', '.join(row['recipients'])}"))
        print(visible(f"    subject: {row['subject']}"))
        types = ", ".join(row["information_types"]) or "-"
        print(visible(f"    information: {types}"
                      + (f"; marking {row['marking']}" if row["marking"] else "")))
        if row["purpose"]:
            print(visible(f"    purpose: {row['purpose']}"))
        if row["password_expired"]:
            print("    password: expired while it waited: it cannot be approved; reject it "
                  "and ask the sender to send it again")
    print(f"{len(rows)} held message(s)")
    return 0


async def _apply(
    settings: Settings, message_id: str, approve: bool, by: str, note: str
) -> str | None:
    """Move the message out of HELD with its audit event; an error text or None."""
    engine = open_database(settings)
    writer = Writer(engine)
    writer.start()
    try:
        store = QueueStore(engine, writer)
        trail = AuditTrail.from_settings(settings)
        return await decide_held(store, trail, message_id, approve, by, note,
                                 via="command line", account=os_account(),
                                 hostname=settings.server.hostname)
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
