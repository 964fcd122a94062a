"""`gateway queue list|show|retry|bounce`: the outbound queue, for IT.

`list` shows, as Postfix's mailq does, what is still to be done: the
messages in a state that is not final.  Finished ones (delivered, bounced,
rejected) stay for `[queue] keep_finished` for `show`; `--state` or
`--all` lists them too.  Its last line says how many there are in all, and
how many were left out by `--limit`.  A bounced message some of whose
recipients were delivered says so (`bounced (2 of 3 delivered)`): the
stored state stays `bounced` (at least one recipient failed for good).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time

from gateway.audit import AuditTrail, visible
from gateway.cli.common import (
    add_config,
    at_least_one,
    open_database,
    run_async,
    settings_or_exit,
)
from gateway.deliver.transport import SmtpTransport
from gateway.deliver.worker import Dispatcher
from gateway.passwords import PasswordStore
from gateway.queue import QueuedMessage, QueueState, QueueStore, Writer
from gateway.queue.states import FINISHED, RecipientState
from gateway.receipts.desk import ReceiptDesk


def _outcome(message: QueuedMessage) -> str:
    """The message's state as a person reads it: "bounced" alone would say
    that no one got a message most of whose recipients did."""
    if message.state != QueueState.BOUNCED:
        return str(message.state)
    delivered = sum(1 for r in message.recipients if r.state == RecipientState.DELIVERED)
    if not delivered:
        return str(message.state)
    return f"{message.state} ({delivered} of {len(message.recipients)} delivered)"


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    queue = commands.add_parser("queue", help="the outbound queue")
    actions = queue.add_subparsers(dest="queue_command", metavar="ACTION", required=True)
    listing = actions.add_parser(
        "list", help="messages still to be delivered (finished ones with --state or --all)")
    add_config(listing)
    shown = listing.add_mutually_exclusive_group()
    shown.add_argument("--state", choices=[s.value for s in QueueState], action="append",
                       help="only messages in this state (repeatable), finished ones too")
    shown.add_argument("--all", action="store_true",
                       help="every message kept, finished ones (delivered, bounced, "
                            "rejected) too")
    listing.add_argument("--limit", type=at_least_one, default=100)
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(handler=_list)
    show = actions.add_parser("show", help="one message's envelope and recipients")
    add_config(show)
    show.add_argument("id")
    show.set_defaults(handler=_show)
    retry = actions.add_parser(
        "retry", help="try a deferred message (or, with --all, every one) again now"
    )
    add_config(retry)
    which = retry.add_mutually_exclusive_group(required=True)
    which.add_argument("id", nargs="?", help="the queue id (from `gateway queue list`)")
    which.add_argument(
        "--all", action="store_true",
        help="every deferred or queued message (as Postfix's postqueue -f), e.g. once "
        "the upstream is back after an outage",
    )
    retry.set_defaults(handler=_retry)
    bounce = actions.add_parser(
        "bounce",
        help="give up on a deferred or queued message: the sender gets a bounce, the audit "
        "trail delivery_failed",
    )
    add_config(bounce)
    bounce.add_argument("id", help="the queue id (from `gateway queue list`)")
    bounce.set_defaults(handler=_bounce)


def _describe(message: QueuedMessage) -> dict[str, object]:
    return {
        "id": message.id,
        "state": message.state,
        "outcome": _outcome(message),
        "sender": message.envelope.mail_from or "<>",
        "attempts": message.attempts,
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(message.created_at)),
        "next_attempt_at": time.strftime(
            "%Y-%m-%dT%H:%M:%SZ", time.gmtime(message.next_attempt_at)
        ),
        "last_error": message.last_error,
        "recipients": [
            {"address": r.address, "state": r.state, "route": r.route, "code": r.last_code,
             "reply": r.last_reply}
            for r in message.recipients
        ],
    }


def _list(args: argparse.Namespace) -> int:
    settings = settings_or_exit(args)
    if args.state:
        states = [QueueState(s) for s in args.state]
    elif args.all:
        states = []
    else:
        states = [s for s in QueueState if s not in FINISHED]

    async def run() -> tuple[list[QueuedMessage], int]:
        engine = open_database(settings)
        try:
            store = QueueStore(engine, Writer(engine))
            return await store.list(states, args.limit), await store.count(states)
        finally:
            await engine.dispose()

    messages, total = run_async(run)
    if args.json:
        for message in messages:
            print(json.dumps(_describe(message)))
        return 0
    print(f"{'ID':<17} {'STATE':<10} {'TRIES':>5}  {'NEXT ATTEMPT':<20} SENDER -> RECIPIENTS")
    for message in messages:
        d = _describe(message)
        # As mailq: a finished message has no next attempt, and the
        # recipients listed are those still to be delivered (all, once done).
        finished = message.state in {s.value for s in FINISHED}
        pending = message.recipients if finished else message.pending or message.recipients
        recipients = ", ".join(r.address for r in pending)
        next_at = "-" if finished else d["next_attempt_at"]
        print(visible(f"{message.id:<17} {_outcome(message):<10} {message.attempts:>5}  "
                      f"{next_at!s:<20} {d['sender']} -> {recipients}"))
    which = "" if args.state or args.all else " still to be delivered"
    if total > len(messages):
        print(f"showing {len(messages)} of {total} message(s){which} (--limit to see more)")
    else:
        print(f"{total} message(s){which}")
    return 0


def _show(args: argparse.Namespace) -> int:
    settings = settings_or_exit(args)

    async def run() -> QueuedMessage | None:
        engine = open_database(settings)
        try:
            return await QueueStore(engine, Writer(engine)).get(args.id)
        finally:
            await engine.dispose()

    message = run_async(run)
    if message is None:
        print(f"error: no queued message {args.id}")
        return 1
    print(json.dumps(_describe(message), indent=2))
    return 0


def _retry(args: argparse.Namespace) -> int:
    settings = settings_or_exit(args)

    async def run() -> int:
        engine = open_database(settings)
        writer = Writer(engine)
        writer.start()
        try:
            store = QueueStore(engine, writer)
            if args.all:
                return await store.retry_all_now()
            return int(await store.retry_now(args.id))
        finally:
            await writer.stop()
            await engine.dispose()

    count = run_async(run)
    if args.all:
        print(f"{count} deferred or queued message(s): will be tried again now")
        return 0
    if count:
        print(f"{args.id}: will be tried again now")
        return 0
    print(f"error: {args.id} is not a queued or deferred message")
    return 1


# How long `queue bounce` waits for a delivery attempt under way to end.
_BOUNCE_WAIT = 60.0


async def _claim_between_attempts(
    store: QueueStore, queue_id: str, wait: float
) -> QueuedMessage | None:
    """Claim `queue_id` for giving up on it; a message a worker is trying
    right now (active) is claimed once that attempt ends, within `wait`
    seconds.  An administrator gives up on a message that keeps failing:
    with a short retry it is often in an attempt, and refusing then would
    make them race the worker (Postfix's postsuper -d waits for no one, but
    has no lease to honour)."""
    deadline = time.monotonic() + wait
    told = False
    while True:
        message = await store.claim(queue_id)
        if message is not None:
            return message
        current = await store.get(queue_id)
        if current is None or current.state != QueueState.ACTIVE.value:
            return None
        if time.monotonic() >= deadline:
            return None
        if not told:
            print(f"{queue_id}: a delivery attempt is under way; waiting for it to end",
                  file=sys.stderr)
            told = True
        await asyncio.sleep(0.2)


def _bounce(args: argparse.Namespace) -> int:
    settings = settings_or_exit(args)

    async def run() -> QueuedMessage | None:
        engine = open_database(settings)
        writer = Writer(engine)
        writer.start()
        try:
            lease = settings.queue.lease.total_seconds()
            store = QueueStore(engine, writer, lease_seconds=lease)
            message = await _claim_between_attempts(store, args.id, min(lease, _BOUNCE_WAIT))
            if message is not None:
                routes = settings.all_routes
                # Nothing is sent: the transport is only the Dispatcher's to hold.
                transport = SmtpTransport(routes, settings.server.hostname,
                                          str(settings.config_dir))
                trail = AuditTrail.from_settings(settings)
                # A password's email given up on holds its password again;
                # a recipient given up on has their held password destroyed.
                passwords = PasswordStore(engine, writer, None, trail)
                desk = ReceiptDesk(settings, None, store, trail, passwords)
                await Dispatcher(store, transport, settings, trail,
                                 finished=desk.email_finished_op,
                                 undelivered=passwords.undelivered_op).give_up(message)
            return message
        finally:
            await writer.stop()
            await engine.dispose()

    message = run_async(run)
    if message is None:
        print(f"error: {args.id} is not a queued or deferred message "
              "(still being delivered, held, or done with: `gateway queue show` says which)",
              file=sys.stderr)
        return 1
    told = ("the sender is sent a bounce, as for any failed delivery"
            if message.envelope.mail_from else "no bounce: it had a null sender")
    print(f"{args.id}: given up; {len(message.pending)} recipient(s) failed; {told}")
    return 0
