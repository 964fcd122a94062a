"""`gateway passwords list|release|expire|rekey|keygen`: held passwords, for IT.

`list` never prints a password, and needs no key.  `release ID [--to ADDR]`
sends one recipient's password in an email of its own (only the password
and the reference of the message it opens) through the recipient's route.
It claims the row first (no receipt and no other admin can release it while
the email is on the wire), sends, then records the release; a failed send
gives the claim back, so it stays held, to be tried again.  A release
stopped mid-send (killed, the machine lost) leaves its claim: `--again`
takes it over once it is older than any send could take (the email it was
sending may have left, and the release's audit event says so), where
otherwise it would wait for the password's ttl.

A password for a recipient the message has not reached (still queued or
deferred, held for authorisation, or refused for good) is refused, exit 1,
saying so: it would open nothing they hold, and the release is most often
a mistake (the wrong id, or a message thought delivered).  `--force` sends
it all the same, and its `password_released` event says what the queue
said (`undelivered`).  A message the queue no longer keeps (finished,
past `[queue] keep_finished`) is not judged.

`--to` takes one plain address (`<a@b>` and spaces are read as `a@b`):
the recipient, the original sender, or an address the allow-list allows
(matched as the policy matches it, `@domain` rows included).  The password
is the key to personal data, so no other address may receive it.  An
address the allow-list pins to a secure route gets it through that route.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from email.utils import parseaddr

from sqlalchemy import func, select

from gateway.audit import AuditTrail, visible
from gateway.cli.common import (
    add_config,
    at_least_one,
    open_database,
    os_account,
    run_async,
    settings_or_exit,
)
from gateway.db import audit_records, queue_messages, queue_recipients
from gateway.deliver.transport import Outbound as SmtpOutbound
from gateway.deliver.transport import OutboundRecipient, SmtpTransport
from gateway.errors import ConfigError, DeliveryError, VaultError
from gateway.model import RecipientEntry
from gateway.passwords import (
    HeldPassword,
    HeldState,
    PasswordStore,
    PasswordVault,
    Released,
    generate_key,
)
from gateway.policy.recipients import RecipientList, load_recipients
from gateway.queue import Writer
from gateway.queue.states import RecipientState
from gateway.receipts.letters import duration_words, password_to_recipient
from gateway.settings import Settings

# `release --again`: a claim older than this many of its route's timeouts
# belongs to a release that stopped (a send waits at most one timeout per
# reply: connect, EHLO, STARTTLS, EHLO, AUTH, MAIL, RCPT, DATA, the end).
UNFINISHED_AFTER_TIMEOUTS = 10


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    group = commands.add_parser("passwords", help="held passwords")
    actions = group.add_subparsers(dest="passwords_command", metavar="ACTION", required=True)

    listing = actions.add_parser("list", help="held passwords (the passwords are never shown)")
    add_config(listing)
    listing.add_argument("--state", choices=[s.value for s in HeldState], action="append")
    listing.add_argument("--queue-id", default=None)
    listing.add_argument("--limit", type=at_least_one, default=100)
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(handler=_list)

    release = actions.add_parser(
        "release", help="send one held password to its recipient (or --to) in a separate email"
    )
    add_config(release)
    release.add_argument("id")
    release.add_argument("--to", metavar="ADDR", default=None,
                         help="send it to this address instead of the recipient: the "
                              "sender, or an address on the allow-list")
    release.add_argument("--again", action="store_true",
                         help="take over a release that was stopped before it finished "
                              f"(claimed at least {UNFINISHED_AFTER_TIMEOUTS} times the "
                              "route's timeout, and its data_done_timeout, ago); its "
                              "email may have gone, and the "
                              "audit trail says so")
    release.add_argument("--force", action="store_true",
                         help="send it even though the message has not reached the "
                              "recipient (queued, deferred, held for authorisation, or "
                              "refused); the audit trail says so")
    release.set_defaults(handler=_release)

    expire = actions.add_parser("expire", help="destroy held passwords past their ttl now")
    add_config(expire)
    expire.set_defaults(handler=_expire)

    rekey = actions.add_parser(
        "rekey", help="re-seal held passwords with the newest key (old keys can go once"
        " [passwords] ttl has passed: receipts of mail already sent may be signed with them)"
    )
    add_config(rekey)
    rekey.set_defaults(handler=_rekey)

    keygen = actions.add_parser("keygen", help="print a new random key for GATEWAY_PASSWORD_KEY")
    keygen.set_defaults(handler=_keygen)


def _when(epoch: float | None) -> str:
    if epoch is None:
        return ""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def _describe(entry: HeldPassword) -> dict[str, object]:
    return {
        "id": entry.id,
        "queue_id": entry.queue_id,
        "recipient": entry.recipient,
        "state": entry.state.value,
        "created_at": _when(entry.created_at),
        "expires_at": _when(entry.expires_at),
        "released_at": _when(entry.released_at) or None,
        "released_how": entry.released_how,
        "released_to": entry.released_to,
    }


def _list(args: argparse.Namespace) -> int:
    settings = settings_or_exit(args)
    states = [HeldState(s) for s in args.state or []]

    async def run() -> list[HeldPassword]:
        engine = open_database(settings)
        try:
            store = PasswordStore(engine, Writer(engine))
            return await store.list(states, args.limit, queue_id=args.queue_id)
        finally:
            await engine.dispose()

    entries = run_async(run)
    if args.json:
        for entry in entries:
            print(json.dumps(_describe(entry)))
        return 0
    print(f"{'ID':<17} {'QUEUE ID':<17} {'STATE':<10} {'EXPIRES':<21} RECIPIENT")
    for entry in entries:
        # The recipient is what the sender's RCPT said: shown, not obeyed.
        print(visible(f"{entry.id:<17} {entry.queue_id:<17} {entry.state.value:<10} "
                      f"{_when(entry.expires_at):<21} {entry.recipient}"))
    print(f"{len(entries)} password(s)")
    return 0


def _vault_or_exit(settings: Settings) -> PasswordVault:
    try:
        return PasswordVault.from_settings(settings)
    except VaultError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(1) from None


def password_email(
    settings: Settings, released: Released, to: str, message_id: str | None
) -> bytes:
    """The separate email: the password and the reference of its message, nothing else."""
    entry = released.entry
    return password_to_recipient(
        hostname=settings.server.hostname, marking=settings.policy.subject_marking,
        recipient=entry.recipient, queue_id=entry.queue_id, message_id=message_id,
        password=released.password, sent_at=entry.created_at, sender=entry.sender, to=to,
        confirmed=False,
    )


async def _lookups(
    settings: Settings, entry: HeldPassword
) -> tuple[str | None, str | None]:
    """(route the recipient's mail took, if still queued; Message-ID of the
    original message)."""
    engine = open_database(settings)
    try:
        async with engine.connect() as conn:
            route = (
                await conn.execute(
                    select(queue_recipients.c.route).where(
                        queue_recipients.c.message_id == entry.queue_id,
                        queue_recipients.c.address == entry.recipient,
                    )
                )
            ).scalar()
            message_id = (
                await conn.execute(
                    select(audit_records.c.message_id).where(
                        audit_records.c.id == entry.record_id
                    )
                )
            ).scalar()
    finally:
        await engine.dispose()
    return (None if route is None else str(route),
            None if message_id is None else str(message_id))


async def send_password(
    settings: Settings, route: str, to: str, content: bytes
) -> None:
    routes = settings.all_routes
    if route not in routes:
        # A recipient pinned to a route that is gone must not fall back to a weaker one.
        raise DeliveryError(f"route {route!r} is no longer configured")
    transport = SmtpTransport(
        {route: routes[route]}, settings.server.hostname, str(settings.config_dir)
    )
    try:
        result = await transport.send(
            route,
            SmtpOutbound(
                mail_from=f"postmaster@{settings.server.hostname}",
                recipients=(OutboundRecipient(to),),
                content=content,
                smtputf8=not to.isascii(),
            ),
        )
    except (OSError, TimeoutError) as exc:
        raise DeliveryError(f"upstream unreachable ({type(exc).__name__})") from exc
    except Exception as exc:  # aiosmtplib's own errors
        raise DeliveryError(f"sending failed ({type(exc).__name__})") from exc
    finally:
        await transport.close()
    (outcome,) = result.recipients
    if not outcome.ok:
        raise DeliveryError(f"upstream refused {to}: {outcome.code} {outcome.message}")


async def _not_reached(settings: Settings, entry: HeldPassword) -> str | None:
    """Where the message stands for the password's recipient when it has
    not reached them: "queued", "deferred", "held" (for authorisation),
    "active" (being sent now) or "failed"; None once it was delivered, or
    when the queue no longer knows the message (finished and forgotten)."""
    engine = open_database(settings)
    try:
        async with engine.connect() as conn:
            rows = (
                await conn.execute(
                    select(queue_messages.c.state, queue_recipients.c.state.label("each"))
                    .join(queue_recipients,
                          queue_recipients.c.message_id == queue_messages.c.id)
                    .where(
                        queue_messages.c.id == entry.queue_id,
                        func.lower(queue_recipients.c.address)
                        == entry.recipient.strip().lower(),
                    )
                )
            ).all()
    finally:
        await engine.dispose()
    if not rows or any(r.each == RecipientState.DELIVERED.value for r in rows):
        return None
    if all(r.each == RecipientState.FAILED.value for r in rows):
        return "failed"
    return str(rows[0].state)


# What `_not_reached` found, as the refusal says it.
_NOT_REACHED = {
    "queued": "it is still in the gateway's queue",
    "active": "it is being sent to them now",
    "deferred": "their mail system has not accepted it yet: its delivery is deferred",
    "held": "it is held for authorisation",
    "failed": "it could not be delivered to them",
}


def _plain_address(value: str) -> str | None:
    """`a@b`, `<a@b>` or ` a@b ` as `a@b`; None when it is not one address."""
    name, address = parseaddr(value)
    address = address.strip()
    if name or not address or "@" not in address or any(c.isspace() for c in address):
        return None
    return address


def _allow_list(settings: Settings) -> RecipientList:
    try:
        return load_recipients(settings.recipients_path, settings.routes.keys())
    except ConfigError as exc:
        raise VaultError(f"the allow-list cannot be read ({exc}): --to is refused") from None


async def _sender_of(settings: Settings, entry: HeldPassword) -> str:
    """The original sender: the held row's, else the audit record's."""
    if entry.sender:
        return entry.sender
    engine = open_database(settings)
    try:
        async with engine.connect() as conn:
            sender = (
                await conn.execute(
                    select(audit_records.c.sender).where(audit_records.c.id == entry.record_id)
                )
            ).scalar()
    finally:
        await engine.dispose()
    return str(sender or "")


async def _destination(
    settings: Settings, entry: HeldPassword, to: str | None
) -> tuple[str, str, str | None]:
    """(address, route, Message-ID of the original message) of the password
    email; VaultError when `to` may not receive it."""
    queue_route, message_id = await _lookups(settings, entry)
    recipient = entry.recipient.strip()
    if to is None or to.lower() == recipient.lower():
        if queue_route is not None and queue_route != "upstream":
            return recipient, queue_route, message_id
        pinned = _allow_list_or_none(settings, recipient)
        return recipient, (pinned.secure_route if pinned else "") or "upstream", message_id
    allowed = _allow_list(settings).match(to)
    if allowed is not None:
        return to, allowed.secure_route or "upstream", message_id
    if to.lower() == (await _sender_of(settings, entry)).strip().lower():
        return to, "upstream", message_id
    raise VaultError(
        f"--to {to} is not the recipient, not the sender, and not on the allow-list: "
        "the password may only go to an allowed recipient"
    )


def _allow_list_or_none(settings: Settings, address: str) -> RecipientEntry | None:
    """The recipient's allow-list row when the list can be read (it only adds
    a pinned route to what the message's own route says)."""
    try:
        return load_recipients(settings.recipients_path, settings.routes.keys()).match(address)
    except ConfigError:
        return None


def _release(args: argparse.Namespace) -> int:
    settings = settings_or_exit(args)
    vault = _vault_or_exit(settings)
    wanted: str | None = None
    if args.to is not None:
        wanted = _plain_address(args.to)
        if wanted is None:
            print(f"error: --to {args.to!r} is not a plain address", file=sys.stderr)
            return 2

    async def run() -> HeldPassword:
        engine = open_database(settings)
        writer = Writer(engine)
        writer.start()
        try:
            store = PasswordStore(engine, writer, vault, AuditTrail.from_settings(settings))
            entry = await store.get(args.id)
            if entry is None:
                raise VaultError(f"no held password {args.id}")
            to, route, message_id = await _destination(settings, entry, wanted)
            undelivered = await _not_reached(settings, entry)
            if undelivered is not None and not args.force:
                why = _NOT_REACHED.get(undelivered, f"it is {undelivered}")
                raise VaultError(
                    f"message {entry.queue_id} has not reached {entry.recipient} "
                    f"({why}): the password would open nothing they hold; release it "
                    "once the message has been delivered, or with --force to send it "
                    "now all the same")
            # Claim, send, record: while the email is on the wire nothing
            # else can release it, and an email that left is always audited.
            # A release still sending has its answer within a few of the
            # route's timeouts (one per reply); one claimed longer ago than
            # this was stopped mid-send.
            # ... and the end of DATA's own wait: a release still waiting
            # for that reply is not stopped.
            unfinished_after = (UNFINISHED_AFTER_TIMEOUTS
                                * settings.all_routes[route].timeout.total_seconds()
                                + settings.all_routes[route].data_done_timeout.total_seconds()
                                if args.again and route in settings.all_routes else None)
            claimed = await store.claim(args.id, to=to, how="manual",
                                        unfinished_after=unfinished_after)
            try:
                await send_password(settings, route, to,
                                    password_email(settings, claimed, to, message_id))
            except BaseException:
                await store.give_back(claimed)
                raise
            return await store.finish(claimed, account=os_account(),
                                      undelivered=undelivered)
        finally:
            await writer.stop()
            await engine.dispose()

    entry = run_async(run)  # a refusal (already released, expired) exits 1 with its reason
    print(visible(f"{entry.id}: password sent to {entry.released_to} (message {entry.queue_id})"))
    return 0


def _expire(args: argparse.Namespace) -> int:
    settings = settings_or_exit(args)

    async def run() -> int:
        engine = open_database(settings)
        writer = Writer(engine)
        writer.start()
        try:
            return await PasswordStore(engine, writer,
                                       trail=AuditTrail.from_settings(settings)).expire_due()
        finally:
            await writer.stop()
            await engine.dispose()

    print(f"{run_async(run)} password(s) expired")
    return 0


def _rekey(args: argparse.Namespace) -> int:
    settings = settings_or_exit(args)
    vault = _vault_or_exit(settings)

    async def run() -> int:
        engine = open_database(settings)
        writer = Writer(engine)
        writer.start()
        try:
            return await PasswordStore(engine, writer, vault,
                                       AuditTrail.from_settings(settings)).rekey()
        finally:
            await writer.stop()
            await engine.dispose()

    print(f"{run_async(run)} password(s) re-sealed with key {vault.key_id}")
    if not settings.receipts.key.strip() and not settings.receipts.key_file:
        # The receipts key is derived from the password keys (receipts.keys):
        # the receipt addresses of mail already out are signed with the old
        # one, and their receipts would be dropped as forged without it.
        print(f"Keep the old key(s) configured until [passwords] ttl"
              f" ({duration_words(settings.passwords.ttl)}) has passed: the receipt addresses of mail"
              " already sent are signed with keys derived from them, and without them those"
              " receipts release nothing.")
    return 0


def _keygen(_args: argparse.Namespace) -> int:
    print(generate_key())
    return 0
