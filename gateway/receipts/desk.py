"""The receipts desk: asking for receipts, taking them in, releasing passwords.

Flow
    acceptance   `wants_receipts(decision)`; `request_op` writes one
                 receipt_requests row per recipient in the enqueue
                 transaction; under `release = "sender"`, `sender_release_op`
                 releases the password to the sender there too, unless
                 the message is held for authorisation (then `tick` does
                 once it is approved; a rejection destroys it).
    delivery     the worker sends each recipient its own transaction
                 (request.py) and `hop_op` marks who was relayed (the
                 timeout counts from there) or failed at the upstream.
    inbound      `Gateway._accept` hands over mail whose every recipient is
                 on `[receipts] domain` (`route`); `accept` authenticates the
                 token, reads the report (parse.py), checks it is about the
                 token's message and recipient, and in ONE transaction marks
                 the row, appends the audit event, queues the sender's copy
                 when they asked, and (on-receipt) releases that recipient's
                 password and queues the email carrying it: the row stays
                 sealed (`queued`) until that email is delivered.  A delivery or
                 read receipt whose final recipient is a mailbox neither the
                 recipient nor allowed by the allow-list (an auto-forward out
                 of the organisation) confirms nothing: `receipt_other` with
                 `why: final_recipient_not_allowed`, no release, no copy, and
                 the timeout still tells the sender.  Receipts are never
                 relayed.
                 A genuine failure report destroys that recipient's held
                 password (`password_destroyed`, reason delivery_failed);
                 a text bounce is one only when its own words say so
                 (parse.py); one whose final recipient is another mailbox,
                 not the recipient's by the allow-list (their system's
                 forward, refused further on), fails nothing:
                 `receipt_other` with `why: forwarded_copy_failed`, nothing
                 destroyed, no copy.  An automatic reply (out of office) is
                 no report: dropped (`receipt_dropped`, reason auto_reply).
                 A delivery or read receipt after the recipient's password
                 was destroyed (not at its ttl: `_expired_before`) tells
                 the sender they cannot open it, once (`_destroyed_before`).
    the email    `email_finished_op`, in the delivery worker's record of a
                 gateway-made email: a password email delivered releases its
                 rows (`password_released`); one refused or expired in the
                 queue holds them again (`password_release_failed` on the
                 message's record) and, released on receipt, tells the
                 sender the recipient's name and telephone.
    periodic     `run` (started by Gateway.start): `expire_due` destroys
                 held passwords past their ttl; under `release = "sender"`
                 the passwords of approved messages go to their senders; a
                 recipient whose receipt has not come `[receipts] timeout`
                 after relaying gets the sender a notice with their name
                 and telephone, once: no receipt at all, or (on-receipt,
                 `release_on = "read"`) delivered but not read while their
                 password is still held.  The notice names what did come
                 back about each (`_came_back`, from the trail): a forward
                 outside the allow-list, a deletion unread, delays, reports
                 without the token.

Answers (replies.py):
    - a genuine token: 250, whether or not the report changed anything
      (a replay, a mismatch, an unreadable report are logged and dropped);
    - a token-shaped address whose HMAC does not verify (forged, or made
      with a key no longer configured): 250 and `receipt_dropped`, so a
      prober cannot tell a good guess from a bad one;
    - any other address on the receipts domain (postmaster@, a mangled
      token): the report is correlated by Original-Envelope-Id or
      Original-Message-ID and audited as `receipt_unverified` (anyone can
      write one: never a confirmation or a failure, never releasing a
      password, never changing what a genuine receipt would), 250; when
      nothing correlates, 550 5.1.1;
    - on either path, a report about a recipient the message has not been
      handed to yet (deferred, held for authorisation): 451 4.3.0.

Replays change nothing: each receipt kind sets its column once (an UPDATE
... WHERE column IS NULL), and a password row is released at most once.
Logs carry queue ids, indexes and reasons, never addresses, content or
passwords.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Literal

import structlog
from sqlalchemy import and_, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.audit import AuditEvent, AuditTrail, EventType
from gateway.audit.record import utc
from gateway.db import audit_events, audit_records
from gateway.db.prepared import Prepared, flush_writes
from gateway.errors import VaultError
from gateway.model import Action, Envelope, RecipientDsn
from gateway.passwords import HeldPassword, HeldState, PasswordStore, held_passwords
from gateway.pipeline import Decision
from gateway.policy.recipients import RecipientList
from gateway.queue import NewMessage, QueuedMessage, QueueStore
from gateway.queue.store import new_queue_id
from gateway.receipts.letters import (
    CameBack,
    Contact,
    destroyed_before_receipt_notice,
    expired_before_receipt_notice,
    forwarded_receipt,
    password_email_failed_notice,
    password_to_recipient,
    password_to_sender,
    timeout_notice,
)
from gateway.receipts.parse import (
    Outcome,
    Receipt,
    RecipientStatus,
    auto_reply,
    message_id_core,
    parse_receipt,
    same_mailbox,
)
from gateway.receipts.request import Operation
from gateway.receipts.schema import receipt_requests
from gateway.receipts.tokens import ReceiptAddressing, ReceiptRef, parse_envelope_id
from gateway.receive import replies
from gateway.settings import Settings
from gateway.transform.outbound import PROTECTED_METHOD

log = structlog.get_logger(__name__)

Route = Literal["relay", "receipt", "mixed"]

# Receipt outcome -> (receipt_requests column it sets once, audit event).
_RECORDED: dict[Outcome, tuple[str, EventType]] = {
    Outcome.DELIVERED: ("delivered_at", EventType.DELIVERY_CONFIRMED),
    Outcome.FAILED: ("failed_at", EventType.DELIVERY_FAILED),
    Outcome.DISPLAYED: ("read_at", EventType.READ_CONFIRMED),
}
# Receipt outcomes audited each time one arrives (no column records them once).
# A DSN saying "relayed" or "expanded" confirms nothing (RFC 3464: no
# delivery report will follow): `receipt_other` with its outcome, no release,
# and the recipient still counts as waiting for the timeout.
_NOTED: dict[Outcome, EventType] = {
    Outcome.DELAYED: EventType.DELIVERY_DELAYED,
    Outcome.DELETED: EventType.DELETED_UNREAD,
    Outcome.RELAYED: EventType.RECEIPT_OTHER,
    Outcome.EXPANDED: EventType.RECEIPT_OTHER,
    Outcome.OTHER: EventType.RECEIPT_OTHER,
}
# Which status to act on when a report has several for one recipient.
_PRECEDENCE = {
    Outcome.DISPLAYED: 0,
    Outcome.DELIVERED: 1,
    Outcome.FAILED: 2,
    Outcome.RELAYED: 3,
    Outcome.EXPANDED: 4,
    Outcome.DELAYED: 5,
    Outcome.DELETED: 6,
    Outcome.OTHER: 7,
}
_TIMEOUT_BATCH = 200
# The events whose reports the timeout notice names (CameBack): none of
# them a receipt the gateway counts, each something the sender should know.
_CAME_BACK = (EventType.RECEIPT_OTHER, EventType.DELETED_UNREAD,
              EventType.DELIVERY_DELAYED, EventType.RECEIPT_UNVERIFIED)

# Collected with the enqueue's other rows in the Writer's batch (gateway.db.prepared).
_REQUEST = Prepared(receipt_requests.insert())


def _at(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


def _msgid(value: str | None) -> str:
    """A Message-ID as compared: its core (comments gone), without case."""
    return message_id_core(value).lower()


def _same(a: str | None, b: str | None) -> bool:
    return (a or "").strip().lower() == (b or "").strip().lower()


class ReceiptDesk:
    def __init__(
        self,
        settings: Settings,
        addressing: ReceiptAddressing | None,
        queue: QueueStore,
        trail: AuditTrail,
        passwords: PasswordStore,
        wake: Callable[[], None] = lambda: None,
        allow_list: Callable[[], RecipientList] = RecipientList,
    ) -> None:
        """`allow_list`: the allow-list in force (RecipientsFile.current),
        asked whether a receipt's final recipient, when it is not the
        recipient itself, may have the message; without it, none may."""
        self.settings = settings
        self.addressing = addressing
        self.queue = queue
        self.trail = trail
        self.passwords = passwords
        self.wake = wake
        self.allow_list = allow_list
        self.domain = settings.receipts.domain.lower().rstrip(".")
        self.hostname = settings.server.hostname
        self.marking = settings.policy.subject_marking

    # -- routing ---------------------------------------------------------------

    def route(self, envelope: Envelope) -> Route:
        """"receipt" when every recipient is on the receipts domain."""
        if not self.domain or not envelope.rcpt_tos:
            return "relay"
        ours = [
            r.rpartition("@")[2].lower().rstrip(".") == self.domain for r in envelope.rcpt_tos
        ]
        if all(ours):
            return "receipt"
        return "mixed" if any(ours) else "relay"

    # -- acceptance: asking ------------------------------------------------------

    def wants_receipts(self, decision: Decision) -> bool:
        receipts = self.settings.receipts
        if self.addressing is None or not (receipts.request_dsn or receipts.request_mdn):
            return False
        verdict = decision.verdict
        if verdict.action == Action.REJECT:
            return False
        return verdict.personal_data or decision.password is not None or bool(verdict.marking)

    def request_op(
        self, queue_id: str, envelope: Envelope, decision: Decision, sender_mdn: bool
    ) -> Operation:
        """One receipt_requests row per recipient, in the enqueue transaction."""
        now = time.time()
        rows: list[dict[str, Any]] = []
        entries = decision.recipients or tuple(None for _ in envelope.rcpt_tos)
        for index, address in enumerate(envelope.rcpt_tos):
            dsn = envelope.rcpt_dsn[index] if index < len(envelope.rcpt_dsn) else RecipientDsn()
            entry = entries[index] if index < len(entries) else None
            rows.append(
                {
                    "queue_id": queue_id,
                    "idx": index,
                    "recipient": address,
                    "route": decision.routes[index] if index < len(decision.routes)
                    else "upstream",
                    "sender": envelope.mail_from,
                    "message_id": decision.message_id,
                    "name": entry.name if entry else None,
                    "telephone": entry.telephone if entry else None,
                    "sender_notify": ",".join(dsn.notify) or None,
                    "sender_orcpt": dsn.orcpt,
                    "sender_envid": envelope.dsn_envid,
                    "sender_mdn": sender_mdn,
                    "created_at": now,
                }
            )

        async def write(conn: AsyncConnection) -> None:
            await _REQUEST.run_later(conn, rows)

        return write

    def sender_release_op(
        self, queue_id: str, envelope: Envelope, decision: Decision
    ) -> Operation:
        """`release = "sender"`: the password goes to the sender at acceptance,
        with each recipient's name and telephone, in the enqueue transaction."""
        sender, message_id = envelope.mail_from, decision.message_id
        entries = decision.recipients or tuple(None for _ in envelope.rcpt_tos)
        contacts = [
            Contact(address, e.name if e else None, e.telephone if e else None)
            for address, e in zip(envelope.rcpt_tos, entries, strict=False)
        ]

        async def write(conn: AsyncConnection) -> None:
            if not sender:
                return  # nobody to tell: stays held for a manual release
            rows = (
                await conn.execute(
                    select(held_passwords.c.id).where(
                        held_passwords.c.queue_id == queue_id,
                        held_passwords.c.state == HeldState.HELD.value,
                    )
                )
            ).all()
            await self._to_sender(conn, queue_id, sender, message_id, contacts,
                                  [r.id for r in rows], time.time())

        return write

    async def _to_sender(
        self,
        conn: AsyncConnection,
        queue_id: str,
        sender: str,
        message_id: str | None,
        contacts: list[Contact],
        held_ids: list[str],
        at: float,
    ) -> int:
        """Release the message's held passwords to its sender and queue the
        email that carries them, in the caller's transaction; how many.
        VaultError, with nothing written, when any of them cannot go."""
        for held_id in held_ids:
            await self.passwords.check_in(conn, held_id, at)
        email = new_queue_id()
        released = [
            await self.passwords.release_in(conn, held_id, to=sender, how="sender", at=at,
                                            email=email)
            for held_id in held_ids
        ]
        if not released:
            return 0
        content = password_to_sender(
            hostname=self.hostname,
            marking=self.marking,
            sender=sender,
            queue_id=queue_id,
            message_id=message_id,
            password=released[0].password,
            contacts=contacts,
        )
        await self._queue(conn, sender, content, email=email)
        log.info("password_queued", queue_id=queue_id, how="sender", count=len(released),
                 email=email)
        return len(released)

    def _approved_op(self, at: float) -> Callable[[AsyncConnection], Any]:
        """`release = "sender"` for messages held for authorisation: nothing
        went at acceptance; once approved, the sender gets the password.
        The approval is made by `gateway held approve` or the web console,
        often in another process, so it is found here by its audit event."""
        hp = held_passwords.c

        async def write(conn: AsyncConnection) -> int:
            approved = (
                select(audit_events.c.seq)
                .where(
                    audit_events.c.record_id == func.coalesce(hp.audit_id, hp.queue_id),
                    audit_events.c.type == EventType.APPROVED.value,
                )
                .exists()
            )
            query = (
                select(hp.id, hp.queue_id, hp.audit_id, hp.sender, hp.recipient)
                .where(hp.state == HeldState.HELD.value, hp.expires_at > at,
                       hp.sender.is_not(None), hp.sender != "", approved,
                       # Its email to the sender failed: sent again by hand
                       # only (their address refused it once).
                       hp.release_queue_id.is_(None))
                .order_by(hp.created_at)
                .limit(_TIMEOUT_BATCH)
            )
            rows = (await conn.execute(query)).all()
            by_message: dict[str, list[Any]] = {}
            for row in rows:
                by_message.setdefault(str(row.queue_id), []).append(row)
            count = 0
            for queue_id, group in by_message.items():
                record_id = str(group[0].audit_id or queue_id)
                message_id, contacts = await self._record_contacts(conn, record_id)
                if not contacts:
                    contacts = [Contact(str(r.recipient)) for r in group]
                try:
                    count += await self._to_sender(
                        conn, queue_id, str(group[0].sender), message_id, contacts,
                        [str(r.id) for r in group], at,
                    )
                except VaultError as exc:
                    # Nothing was written for it: it stays held (manual
                    # release, or expiry), and is tried again next round.
                    # Its text names addresses: the log keeps to ids.
                    log.error("password_release_failed", queue_id=queue_id, how="sender",
                              error=type(exc).__name__)
            return count

        return write

    @staticmethod
    async def _record_contacts(
        conn: AsyncConnection, record_id: str
    ) -> tuple[str | None, list[Contact]]:
        """(Message-ID, each recipient as the allow-list named them) from the
        message's audit record, written at acceptance."""
        row = (
            await conn.execute(
                select(audit_records.c.message_id, audit_records.c.document).where(
                    audit_records.c.id == record_id
                )
            )
        ).first()
        if row is None:
            return None, []
        try:
            document = json.loads(row.document)
            recipients = document.get("recipients") or []
            contacts = [
                Contact(str(r["address"]), r.get("name") or None, r.get("telephone") or None)
                for r in recipients
            ]
        except (ValueError, TypeError, KeyError, AttributeError):
            contacts = []  # a damaged record: the addresses alone, from the held rows
        return row.message_id, contacts

    async def _queue(self, conn: AsyncConnection, to: str, content: bytes,
                     route: str = "upstream", email: str | None = None) -> None:
        """Queue a gateway-made email (null sender: no bounce loops), as
        `email` when given (a password's, whose row names it)."""
        message = NewMessage(
            # An internationalised address (RFC 6531) can only be written
            # under SMTPUTF8.
            envelope=Envelope(mail_from="", rcpt_tos=(to,), peer="local", helo=self.hostname,
                              smtputf8=not to.isascii()),
            content=content,
            routes=(route,),
            id=email or new_queue_id(),
        )
        insert, _ = self.queue.insert_op(message)
        await insert(conn)

    # -- inbound ---------------------------------------------------------------

    async def accept(self, envelope: Envelope, content: bytes) -> str:
        """Take in one inbound receipt; the SMTP reply."""
        if self.addressing is None:
            log.warning("receipt_dropped", reason="no_receipts_key")
            return replies.S550_NO_SUCH_RECEIPT
        refs: dict[tuple[str, int], ReceiptRef] = {}
        forged = 0
        for address in envelope.rcpt_tos:
            ref = self.addressing.parse(address)
            if ref is not None:
                refs.setdefault((ref.queue_id, ref.index), ref)
            elif self.addressing.token_shaped(address):
                forged += 1
        if forged:
            log.warning("receipt_dropped", reason="forged_token", count=forged)
        receipt = parse_receipt(content)
        if receipt is None:
            if refs or forged:
                # An automatic reply (out of office) to the return path says
                # nothing of delivery (RFC 3834): dropped like any other
                # non-report, the password untouched; named so in the log.
                log.info("receipt_dropped",
                         reason="auto_reply" if auto_reply(content) else "unreadable",
                         queue_ids=sorted({q for q, _ in refs}))
                return replies.S250_RECEIPT
            # Neither a receipt address nor a report: mail for the receipts
            # domain that is no receipt at all (spam, a misdirected message).
            log.info("receipt_refused", reason="not_a_receipt", peer=envelope.peer,
                     recipients=len(envelope.rcpt_tos))
            return replies.S550_NO_SUCH_RECEIPT
        if refs:
            queued, early = await self.queue.writer.submit(
                self._apply_op(list(refs.values()), receipt, time.time())
            )
            if queued:
                self.wake()
            # A report about a message not sent on yet (still deferred, or
            # held for authorisation) cannot be true: it is taken when it
            # comes again, after the relay (the recording is idempotent), so
            # the race of a very fast receipt loses nothing.
            return replies.S451_RECEIPT_TOO_EARLY if early else replies.S250_RECEIPT
        if forged:
            return replies.S250_RECEIPT
        found, early = await self.queue.writer.submit(
            self._unauthenticated_op(receipt, time.time()))
        if not found:
            log.info("receipt_refused", reason="matches_no_message", peer=envelope.peer,
                     recipients=len(envelope.rcpt_tos))
            return replies.S550_NO_SUCH_RECEIPT
        return replies.S451_RECEIPT_TOO_EARLY if early else replies.S250_RECEIPT

    async def _row(
        self, conn: AsyncConnection, queue_id: str, index: int, lock: bool = True
    ) -> dict[str, Any] | None:
        query = select(receipt_requests).where(
            receipt_requests.c.queue_id == queue_id, receipt_requests.c.idx == index
        )
        if lock and conn.dialect.name == "postgresql":
            query = query.with_for_update()
        row = (await conn.execute(query)).first()
        return None if row is None else dict(row._mapping)

    @staticmethod
    def _about(
        receipt: Receipt, envid: str, row: dict[str, Any], token: bool = False
    ) -> RecipientStatus | None:
        """The status of `receipt` that is about this row's message and
        recipient, or None when the report is about something else.

        On the recipient's `token`, the token already names the message and
        the recipient: a returned Message-ID that is not the message's own
        is the caller's to judge (`_names_another`: a rewritten or mangled
        one is no reason to drop the report), and a lone status is the
        recipient's whatever address it names (an alias, Exchange's X.500
        address; `_outside` then judges that address), with or without an
        ENVID.  Without a token the Message-ID must agree."""
        recipient = str(row["recipient"])
        if not token and row["message_id"] and receipt.original_message_id and (
            _msgid(receipt.original_message_id) != _msgid(row["message_id"])
        ):
            return None  # the returned headers name another message
        statuses = list(receipt.statuses)
        lone = statuses if len(statuses) == 1 else []
        if receipt.original_envelope_id is not None:
            if not _same(receipt.original_envelope_id, envid):
                return None
            named = [s for s in statuses if s.names(recipient)]
            # With a matching ENVID a lone status is ours even when an alias
            # changed the final recipient.
            candidates = named or lone
        else:
            candidates = [
                s for s in statuses
                if s.names(recipient) or (s.final_recipient is None
                                          and s.original_recipient is None)
            ] or (lone if token else [])
        if not candidates:
            return None
        return min(candidates, key=lambda s: _PRECEDENCE[s.outcome])

    @staticmethod
    async def _names_another(conn: AsyncConnection, receipt: Receipt, row: dict[str, Any],
                             ) -> bool:
        """Do the report's returned headers name another message of ours
        (one that asked for receipts) than the row's?  A Message-ID that
        names none of ours (rewritten on the way, as Exchange can) does not."""
        returned = receipt.original_message_id
        if returned is None or not _msgid(returned) or (
                _msgid(returned) == _msgid(row["message_id"])):
            return False
        other = (
            await conn.execute(
                select(receipt_requests.c.queue_id).where(
                    receipt_requests.c.message_id.in_(_as_stored(returned)),
                    receipt_requests.c.queue_id != row["queue_id"],
                ).limit(1)
            )
        ).first()
        return other is not None

    def _apply_op(
        self, refs: list[ReceiptRef], receipt: Receipt, at: float
    ) -> Callable[[AsyncConnection], Any]:
        async def write(conn: AsyncConnection) -> tuple[int, int]:
            queued = early = 0
            for ref in refs:
                row = await self._row(conn, ref.queue_id, ref.index)
                if row is None:
                    log.info("receipt_dropped", reason="unknown_message", queue_id=ref.queue_id,
                             index=ref.index)
                    continue
                status = None if await self._names_another(conn, receipt, row) else (
                    self._about(receipt, ref.envid, row, token=True))
                if status is None:
                    log.warning("receipt_dropped", reason="other_message",
                                queue_id=ref.queue_id, index=ref.index)
                    continue
                if row["relayed_at"] is None and row["failed_at"] is None:
                    # Not handed on yet: no system can have received it.
                    log.warning("receipt_deferred", reason="not_relayed_yet",
                                queue_id=ref.queue_id, index=ref.index)
                    early += 1
                    continue
                queued += await self._apply(conn, ref, row, receipt, status, at)
            return queued, early

        return write

    async def _apply(
        self,
        conn: AsyncConnection,
        ref: ReceiptRef,
        row: dict[str, Any],
        receipt: Receipt,
        status: RecipientStatus,
        at: float,
    ) -> int:
        outcome = status.outcome
        # Delivered to, or read by, a mailbox that is neither the recipient
        # nor one the allow-list allows (an auto-forward out of the
        # organisation): it confirms nothing for the recipient, releases
        # nothing, and the recipient still waits for the timeout.
        outside = self._outside(receipt, status, row)
        # A failure about a copy the recipient's own system forwarded to
        # another mailbox (Exchange refusing an auto-forward out, 5.7.520)
        # says nothing about the recipient's mailbox: no failure, nothing
        # destroyed, no copy to the sender (the failed copy was never theirs
        # to send); their own receipt, or the timeout, still comes.
        forwarded = self._forwarded_failure(receipt, status, row)
        outside = outside or forwarded
        recorded = None if outside else _RECORDED.get(outcome)
        # A delay can be reported more than once, and each report is part of
        # the message's story (_NOTED); the others count once per recipient.
        event_type = EventType.RECEIPT_OTHER if outside else _NOTED.get(outcome)
        if recorded is not None:
            column, event_type = recorded
            result = await conn.execute(
                update(receipt_requests)
                .where(
                    receipt_requests.c.queue_id == ref.queue_id,
                    receipt_requests.c.idx == ref.index,
                    receipt_requests.c[column].is_(None),
                )
                .values({column: at})
            )
            if result.rowcount != 1:
                log.info("receipt_replayed", queue_id=ref.queue_id, index=ref.index,
                         outcome=outcome.value)
                return 0
        if event_type is not None:
            detail = self._detail(ref.index, row, receipt, status, authenticated=True)
            if forwarded:
                detail["why"] = "forwarded_copy_failed"
            elif outside:
                detail["why"] = "final_recipient_not_allowed"
            if recorded is None and receipt.report_id:
                # Each report once: the same report received again (its own
                # Message-ID, hashed: it may name a mailbox) is a replay.
                detail["report"] = hashlib.sha256(receipt.report_id.encode()).hexdigest()[:16]
                if await self._report_audited(conn, ref.queue_id, ref.index, event_type,
                                              detail["report"]):
                    log.info("receipt_replayed", queue_id=ref.queue_id, index=ref.index,
                             outcome=outcome.value)
                    return 0
            await self.trail.append_events(
                conn, ref.queue_id, [AuditEvent(event_type, _at(at), detail)],
            )
        log.info("receipt_received", queue_id=ref.queue_id, index=ref.index,
                 kind=receipt.kind, outcome=outcome.value)
        if outside:
            log.warning("receipt_not_confirming", queue_id=ref.queue_id, index=ref.index,
                        reason="forwarded_copy_failed" if forwarded
                        else "final_recipient_not_allowed")
            return 0
        queued = 0
        if self._sender_asked(row, receipt, outcome):
            content = forwarded_receipt(
                hostname=self.hostname,
                sender=str(row["sender"]),
                receipt=receipt,
                status=status,
                recipient=str(row["recipient"]),
                queue_id=ref.queue_id,
                message_id=row["message_id"],
                sender_envid=row["sender_envid"],
                sender_orcpt=row["sender_orcpt"],
            )
            await self._queue(conn, str(row["sender"]), content)
            queued += 1
        if self._releases(outcome):
            queued += await self._release(conn, ref, row, at)
        elif recorded is not None and outcome in (Outcome.DELIVERED, Outcome.DISPLAYED):
            # Releasing nothing here (release_on = "read", manual, sender):
            # a password destroyed before it is still news to the sender.
            queued += await self._destroyed_before(conn, ref, row, at)
        elif recorded is not None and outcome is Outcome.FAILED:
            # The recipient's system says it never arrived: a password
            # kept for content nobody holds is only a risk (the sender is
            # told the failure above, as they would have been directly).
            await self.passwords.destroy_for_recipient_in(
                conn, ref.queue_id, str(row["recipient"]), "delivery_failed", at)
        return queued

    def _outside(self, receipt: Receipt, status: RecipientStatus, row: dict[str, Any]) -> bool:
        """Does this delivery or read receipt say the message reached a
        mailbox that is neither the recipient nor allowed by the allow-list?
        The recipient's mailbox without its +subaddress is the recipient
        (`same_mailbox`).  A final recipient that is no address (no domain)
        is not judged."""
        if status.outcome not in (Outcome.DELIVERED, Outcome.DISPLAYED):
            return False
        final = _final_recipient(receipt, status)
        if final is None or "@" not in final or same_mailbox(final, str(row["recipient"])):
            return False
        return self.allow_list().match(final) is None

    def _forwarded_failure(
        self, receipt: Receipt, status: RecipientStatus, row: dict[str, Any]
    ) -> bool:
        """Does this failure report say a copy sent on to another mailbox
        failed, not the recipient's own?  Its final recipient is an address
        other than the recipient's, and not one the allow-list names as the
        recipient (the same row: an alias of theirs).  A final recipient
        that is no address (no domain) is not judged: the failure stands."""
        if status.outcome is not Outcome.FAILED:
            return False
        final = _final_recipient(receipt, status)
        recipient = str(row["recipient"])
        if final is None or "@" not in final or _same(final, recipient):
            return False
        allowed = self.allow_list()
        theirs = allowed.match(final)
        return theirs is None or theirs != allowed.match(recipient)

    @staticmethod
    def _detail(
        index: int, row: dict[str, Any], receipt: Receipt, status: RecipientStatus,
        authenticated: bool, correlated_by: str = "token",
    ) -> dict[str, Any]:
        detail: dict[str, Any] = {
            "recipient": row["recipient"],
            "index": index,
            "kind": receipt.kind,
            "outcome": status.outcome.value,
            "authenticated": authenticated,
            "correlated_by": correlated_by,
        }
        if status.status:
            detail["status"] = status.status
        if status.action and status.action != status.outcome.value:
            detail["action"] = status.action  # what a self-contradicting DSN claimed
        final = _final_recipient(receipt, status)
        if final and not _same(final, str(row["recipient"])):
            detail["final_recipient"] = final  # an alias, or a forward
        if status.disposition:
            detail["disposition"] = status.disposition[:100]
        if not receipt.standard:
            detail["standard"] = False
        return detail

    @staticmethod
    def _sender_asked(row: dict[str, Any], receipt: Receipt, outcome: Outcome) -> bool:
        if not row["sender"]:
            return False
        if receipt.kind == "mdn":
            return bool(row["sender_mdn"])
        notify = set(filter(None, str(row["sender_notify"] or "").split(",")))
        if "NEVER" in notify:
            return False
        if outcome in (Outcome.DELIVERED, Outcome.RELAYED, Outcome.EXPANDED):
            return "SUCCESS" in notify  # RFC 3461: all three answer NOTIFY=SUCCESS
        if outcome is Outcome.DELAYED:
            return "DELAY" in notify
        # Without NOTIFY a failure is reported (RFC 3461 section 4.1), as it
        # would have been had the sender's own address been the return path.
        return outcome is Outcome.FAILED and (not notify or "FAILURE" in notify)

    def _releases(self, outcome: Outcome) -> bool:
        if self.settings.passwords.release != "on-receipt":
            return False
        if outcome is Outcome.DISPLAYED:
            return True  # a read receipt proves delivery as well
        return outcome is Outcome.DELIVERED and self.settings.receipts.release_on == "delivery"

    async def _release(
        self, conn: AsyncConnection, ref: ReceiptRef, row: dict[str, Any], at: float
    ) -> int:
        recipient = str(row["recipient"])
        held = (
            await conn.execute(
                select(held_passwords.c.id)
                .where(
                    held_passwords.c.queue_id == ref.queue_id,
                    func.lower(held_passwords.c.recipient) == recipient.lower(),
                    held_passwords.c.state == HeldState.HELD.value,
                )
                .order_by(held_passwords.c.created_at.desc())
                .limit(1)
            )
        ).first()
        if held is None:
            return (await self._destroyed_before(conn, ref, row, at)
                    or await self._expired_before(conn, ref, row, at))
        email = new_queue_id()
        try:
            released = await self.passwords.release_in(
                conn, held.id, to=recipient, how="on-receipt", at=at, email=email
            )
        except VaultError as exc:
            # Nothing was written for it: the receipt is still recorded, the
            # password stays held (manual release, or expiry).
            # Its text names addresses: the log keeps to ids.
            log.error("password_release_failed", queue_id=ref.queue_id, index=ref.index,
                      held_id=held.id, error=type(exc).__name__)
            return 0
        content = password_to_recipient(
            hostname=self.hostname,
            marking=self.marking,
            recipient=recipient,
            queue_id=ref.queue_id,
            message_id=row["message_id"],
            password=released.password,
            sent_at=float(row["created_at"]),
            sender=released.entry.sender,
        )
        await self._queue(conn, recipient, content, route=str(row["route"]), email=email)
        log.info("password_queued", queue_id=ref.queue_id, index=ref.index, how="on-receipt",
                 email=email)
        return 1

    # -- the password's email ----------------------------------------------------

    def email_finished_op(
        self,
        message: QueuedMessage,
        delivered: bool,
        why: str = "",
        code: int | None = None,
        reply: str = "",
    ) -> Operation | None:
        """For the delivery worker's record of a gateway-made email (null
        sender) that is finished: the password rows it carries are released
        (delivered) or held again (failed for good: `why`, the reply `code`
        and `reply`, its code and status for the sender's notice).  A
        password released on receipt whose email failed gets the sender a
        notice naming the recipient and their telephone: nobody else would
        know (that email's own bounce goes nowhere).  One to the sender
        that failed tells nobody by email (their address is what failed):
        the log and the trail say so, and IT releases it by hand."""
        if message.envelope.mail_from not in ("", "<>"):
            return None
        email = message.id

        async def write(conn: AsyncConnection) -> None:
            at = time.time()
            again = await self.passwords.email_finished_in(
                conn, email, delivered, at, why=why, code=code)
            for entry in again:
                log.warning("password_release_failed", queue_id=entry.queue_id,
                            held_id=entry.id, email=email, code=code, held_again=True)
                if entry.sender and entry.released_how != "sender":
                    await self._email_failed_notice(conn, entry, reply or why)

        return write

    async def _email_failed_notice(
        self, conn: AsyncConnection, entry: HeldPassword, reply: str
    ) -> None:
        """The sender's notice that a recipient's password email failed,
        with that recipient as the allow-list named them.  Not for a
        release to the sender (`entry.sender` was its recipient)."""
        request = (
            await conn.execute(
                select(receipt_requests).where(
                    receipt_requests.c.queue_id == entry.queue_id,
                    func.lower(receipt_requests.c.recipient) == entry.recipient.lower(),
                ).limit(1)
            )
        ).first()
        row = dict(request._mapping) if request is not None else None
        content = password_email_failed_notice(
            hostname=self.hostname,
            marking=self.marking,
            sender=str(entry.sender),
            queue_id=entry.queue_id,
            message_id=row["message_id"] if row else None,
            contact=_contact(row) if row else Contact(entry.recipient),
            reply=reply,
            expires=entry.expires_at,
        )
        await self._queue(conn, str(entry.sender), content)

    async def _expired_before(
        self, conn: AsyncConnection, ref: ReceiptRef, row: dict[str, Any], at: float
    ) -> int:
        """No password left to release: when it expired at its ttl before
        this first releasing receipt came, the sender is told that the
        recipient cannot open what they got (otherwise nobody would be: the
        receipt timeout's notice came and went days ago).  Once: a read
        receipt after a delivery receipt that could have released is not
        the first.  Released, destroyed (a rejection) or never held: nothing."""
        sender = str(row["sender"] or "")
        first = self.settings.receipts.release_on == "read" or row["delivered_at"] is None
        if not sender or not first:
            return 0
        recipient = str(row["recipient"])
        expired = (
            await conn.execute(
                select(func.max(held_passwords.c.expires_at)).where(
                    held_passwords.c.queue_id == ref.queue_id,
                    func.lower(held_passwords.c.recipient) == recipient.lower(),
                    held_passwords.c.state == HeldState.EXPIRED.value,
                )
            )
        ).scalar()
        if expired is None or await self._released_to(conn, ref.queue_id, recipient):
            return 0
        content = expired_before_receipt_notice(
            hostname=self.hostname,
            marking=self.marking,
            sender=sender,
            queue_id=ref.queue_id,
            message_id=row["message_id"],
            contact=_contact(row),
            confirmed_at=at,
            expired_at=float(expired),
        )
        await self._queue(conn, sender, content)
        log.warning("password_expired_before_receipt", queue_id=ref.queue_id, index=ref.index)
        return 1

    async def _destroyed_before(
        self, conn: AsyncConnection, ref: ReceiptRef, row: dict[str, Any], at: float
    ) -> int:
        """A confirmation (delivery or read, whatever `release` says) from a
        recipient whose password was destroyed before it, not at its ttl
        (`_expired_before` has those): most often a failure report that was
        wrong, or about a copy of theirs.  They hold content nobody can
        open, and the sender is told so, once: not when a confirmation
        already came after the password went."""
        sender = str(row["sender"] or "")
        if not sender:
            return 0
        recipient = str(row["recipient"])
        hp = held_passwords.c
        newest = (
            await conn.execute(
                select(hp.id, hp.queue_id, hp.audit_id, hp.state)
                .where(hp.queue_id == ref.queue_id,
                       func.lower(hp.recipient) == recipient.lower())
                .order_by(hp.created_at.desc())
                .limit(1)
            )
        ).first()
        if newest is None or newest.state != HeldState.DESTROYED.value:
            return 0  # held, on its way, released, expired, or never held
        destroyed_at, reason = await self._destruction(
            conn, str(newest.audit_id or newest.queue_id), str(newest.id))
        if any(row[column] is not None and float(row[column]) >= destroyed_at
               for column in ("delivered_at", "read_at")):
            return 0  # told at that confirmation
        content = destroyed_before_receipt_notice(
            hostname=self.hostname,
            marking=self.marking,
            sender=sender,
            queue_id=ref.queue_id,
            message_id=row["message_id"],
            contact=_contact(row),
            confirmed_at=at,
            destroyed_at=destroyed_at,
            reason=reason,
        )
        await self._queue(conn, sender, content)
        log.warning("password_destroyed_before_receipt", queue_id=ref.queue_id,
                    index=ref.index, reason=reason)
        return 1

    @staticmethod
    async def _destruction(
        conn: AsyncConnection, record_id: str, held_id: str
    ) -> tuple[float, str]:
        """(when, reason) of the held password's `password_destroyed`
        event; (0, "") when the trail has none (then any confirmation
        already recorded counts as having told the sender)."""
        await flush_writes(conn)  # a destruction earlier in this batch
        rows = await conn.execute(
            select(audit_events.c.at, audit_events.c.detail).where(
                audit_events.c.record_id == record_id,
                audit_events.c.type == EventType.PASSWORD_DESTROYED.value,
            )
        )
        for when, text in rows.all():
            detail = json.loads(text)
            if detail.get("held_id") == held_id:
                stamp = when if when.tzinfo is not None else when.replace(tzinfo=UTC)
                return stamp.timestamp(), str(detail.get("reason") or "")
        return 0.0, ""

    @staticmethod
    async def _released_to(conn: AsyncConnection, queue_id: str, recipient: str) -> bool:
        """Was a password of this message released for this recipient (a
        newer row than the expired one: `passwords release` by hand)?"""
        released = (
            await conn.execute(
                select(func.count()).select_from(held_passwords).where(
                    held_passwords.c.queue_id == queue_id,
                    func.lower(held_passwords.c.recipient) == recipient.lower(),
                    held_passwords.c.state.in_(
                        [HeldState.RELEASED.value, HeldState.QUEUED.value]),
                )
            )
        ).scalar()
        return bool(released)

    def _unauthenticated_op(
        self, receipt: Receipt, at: float
    ) -> Callable[[AsyncConnection], Any]:
        """A receipt without a token: audited as `receipt_unverified` when it
        correlates, nothing more.  (found, early): did it correlate, and how
        many of its recipients the gateway has not handed the message to."""

        async def write(conn: AsyncConnection) -> tuple[bool, int]:
            rows: list[tuple[dict[str, Any], str, RecipientStatus]] = []
            envid = parse_envelope_id(receipt.original_envelope_id)
            if envid is not None:
                row = await self._row(conn, envid[0], envid[1], lock=False)
                status = None if row is None else self._about(
                    receipt, f"{envid[0]}-{envid[1]}", row)
                if row is not None and status is not None:
                    rows.append((row, "envid", status))
            elif receipt.original_message_id:
                candidates = (
                    await conn.execute(
                        select(receipt_requests).where(receipt_requests.c.message_id.in_(
                            _as_stored(receipt.original_message_id)))
                    )
                ).all()
                for candidate in candidates:
                    row = dict(candidate._mapping)
                    named = [s for s in receipt.statuses if s.names(str(row["recipient"]))]
                    if named:
                        rows.append((row, "message_id", named[0]))
            if not rows:
                log.info("receipt_dropped", reason="uncorrelated")
                return False, 0
            early = 0
            for row, how, status in rows:
                queue_id, index = str(row["queue_id"]), int(row["idx"])
                if row["relayed_at"] is None and row["failed_at"] is None:
                    # The same rule as a genuine receipt's (_apply_op): not
                    # handed on yet, so no system can have received it.
                    log.warning("receipt_deferred", reason="not_relayed_yet",
                                queue_id=queue_id, index=index, authenticated=False)
                    early += 1
                    continue
                if status.outcome not in _RECORDED:
                    continue
                if await self._already_audited(conn, queue_id, index, status.outcome):
                    continue
                await self.trail.append_events(conn, queue_id, [AuditEvent(
                    EventType.RECEIPT_UNVERIFIED, _at(at),
                    self._detail(index, row, receipt, status, authenticated=False,
                                 correlated_by=how),
                )])
                log.info("receipt_unauthenticated", queue_id=queue_id, index=index,
                         outcome=status.outcome.value)
            return True, early

        return write

    @staticmethod
    async def _details(
        conn: AsyncConnection, queue_id: str, event_type: EventType
    ) -> list[dict[str, Any]]:
        """The details of the message's events of one type."""
        # Events appended earlier in this batch wait for its end: write them
        # first, so a second receipt in the same batch sees the first.
        await flush_writes(conn)
        rows = await conn.execute(
            select(audit_events.c.detail).where(
                audit_events.c.record_id == queue_id, audit_events.c.type == event_type.value
            )
        )
        return [json.loads(text) for text in rows.scalars()]

    @classmethod
    async def _already_audited(
        cls, conn: AsyncConnection, queue_id: str, index: int, outcome: Outcome
    ) -> bool:
        """An unauthenticated receipt is audited once per recipient and what
        it reported."""
        return any(
            detail.get("index") == index and detail.get("outcome") == outcome.value
            for detail in await cls._details(conn, queue_id, EventType.RECEIPT_UNVERIFIED)
        )

    @classmethod
    async def _report_audited(
        cls, conn: AsyncConnection, queue_id: str, index: int, event_type: EventType, report: str
    ) -> bool:
        """Was this very report (by its hashed Message-ID) audited for the recipient?"""
        return any(
            detail.get("index") == index and detail.get("report") == report
            for detail in await cls._details(conn, queue_id, event_type)
        )

    # -- periodic --------------------------------------------------------------

    async def run(self) -> None:
        """Expire held passwords and send receipt timeouts, until cancelled."""
        interval = max(self.settings.receipts.check_interval.total_seconds(), 0.05)
        while True:
            # Sleep first: a start-up is busy enough, and nothing here is
            # urgent to the second (expiry and timeouts are hours apart).
            await asyncio.sleep(interval)
            try:
                await self.tick()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the next round tries again
                log.error("housekeeping_failed", error=type(exc).__name__)

    async def tick(self, now: float | None = None) -> tuple[int, int]:
        """One round: (passwords expired, recipients timed out)."""
        at = time.time() if now is None else now
        expired = await self.passwords.expire_due(at)
        if expired:
            log.info("passwords_expired", count=expired)
        if self.settings.passwords.release == "sender":
            approved: int = await self.queue.writer.submit(self._approved_op(at))
            if approved:
                self.wake()
        timed_out: int = await self.queue.writer.submit(self._timeouts_op(at))
        if timed_out:
            log.info("receipts_timed_out", count=timed_out)
            self.wake()
        return expired, timed_out

    def _timeouts_op(self, at: float) -> Callable[[AsyncConnection], Any]:
        waited = self.settings.receipts.timeout
        deadline = at - waited.total_seconds()
        c = receipt_requests.c
        hp = held_passwords.c
        # Under on-receipt release with release_on = "read" a delivery
        # receipt releases nothing: a recipient whose password is still held
        # waits for the read receipt, and times out without it too.
        read_releases = (self.settings.passwords.release == "on-receipt"
                         and self.settings.receipts.release_on == "read")

        async def write(conn: AsyncConnection) -> int:
            # Word for word the partial index's terms (migration 0010).
            query = (
                select(receipt_requests)
                .where(
                    c.timeout_at.is_(None),
                    c.relayed_at.is_not(None),
                    c.relayed_at <= deadline,
                    c.delivered_at.is_(None),
                    c.read_at.is_(None),
                    c.failed_at.is_(None),
                )
                .order_by(c.relayed_at)
                .limit(_TIMEOUT_BATCH)
            )
            if conn.dialect.name == "postgresql":
                query = query.with_for_update(skip_locked=True)
            rows = [(dict(r._mapping), False) for r in (await conn.execute(query)).all()]
            if read_releases:
                # From the held passwords (few, indexed by state), not from
                # every delivered request ever made.
                unread = (
                    select(receipt_requests)
                    .join(held_passwords, and_(
                        hp.queue_id == c.queue_id,
                        func.lower(hp.recipient) == func.lower(c.recipient),
                    ))
                    .where(
                        hp.state == HeldState.HELD.value,
                        c.timeout_at.is_(None),
                        c.relayed_at.is_not(None),
                        c.relayed_at <= deadline,
                        c.delivered_at.is_not(None),
                        c.read_at.is_(None),
                        c.failed_at.is_(None),
                    )
                    .order_by(c.relayed_at)
                    .limit(_TIMEOUT_BATCH)
                )
                if conn.dialect.name == "postgresql":
                    unread = unread.with_for_update(of=receipt_requests, skip_locked=True)
                rows += [(dict(r._mapping), True) for r in (await conn.execute(unread)).all()]
            by_message: dict[str, list[tuple[dict[str, Any], bool]]] = {}
            for row, delivered in rows:
                by_message.setdefault(str(row["queue_id"]), []).append((row, delivered))
            count = 0
            came_back = await self._came_back(conn, list(by_message)) if by_message else {}
            for queue_id, group in by_message.items():
                taken: list[tuple[dict[str, Any], bool]] = []
                for row, delivered in group:
                    result = await conn.execute(
                        update(receipt_requests)
                        .where(c.queue_id == queue_id, c.idx == row["idx"],
                               c.timeout_at.is_(None))
                        .values(timeout_at=at)
                    )
                    if result.rowcount == 1:
                        taken.append((row, delivered))
                if not taken:
                    continue
                count += len(taken)
                events = []
                for r, delivered in taken:
                    detail: dict[str, Any] = {
                        "recipient": r["recipient"], "index": r["idx"],
                        "waited_seconds": int(waited.total_seconds()),
                        "sender_told": bool(r["sender"]),
                    }
                    if delivered:
                        detail["awaited"] = "read"  # delivered, not read: still held
                    heard = _came_back_words(
                        came_back.get((queue_id, int(r["idx"])), CameBack()))
                    if heard:
                        # What the notice named, in words; the addresses stay
                        # in the events that reported them.
                        detail["came_back"] = heard
                    events.append(AuditEvent(EventType.RECEIPT_TIMEOUT, _at(at), detail))
                await self.trail.append_events(conn, queue_id, events)
                first = taken[0][0]
                sender = str(first["sender"] or "")
                if not sender:
                    continue
                held, expires = (
                    await conn.execute(
                        select(func.count(), func.min(hp.expires_at)).select_from(
                            held_passwords).where(
                            hp.queue_id == queue_id,
                            hp.state == HeldState.HELD.value,
                        )
                    )
                ).one()
                content = timeout_notice(
                    hostname=self.hostname,
                    marking=self.marking,
                    sender=sender,
                    queue_id=queue_id,
                    message_id=first["message_id"],
                    contacts=[_contact(r) for r, delivered in taken if not delivered],
                    unread=[_contact(r) for r, delivered in taken if delivered],
                    waited=waited,
                    password_held=bool(held),
                    sender_has_password=bool(held) and await self._sender_wrote_password(
                        conn, queue_id),
                    password_expires=float(expires) if expires is not None else None,
                    came_back={str(r["recipient"]): came_back[(queue_id, int(r["idx"]))]
                               for r, _ in taken if (queue_id, int(r["idx"])) in came_back},
                )
                await self._queue(conn, sender, content)
            return count

        return write

    @staticmethod
    async def _came_back(
        conn: AsyncConnection, queue_ids: list[str]
    ) -> dict[tuple[str, int], CameBack]:
        """By message and recipient index, what came back about these
        messages that is no receipt the gateway counts, as their trail
        recorded it: without it the timeout notice said "no receipt" of a
        recipient whose mail system reported a forward to a personal mailbox."""
        await flush_writes(conn)  # a report earlier in this batch counts too
        rows = await conn.execute(
            select(audit_events.c.record_id, audit_events.c.type, audit_events.c.at,
                   audit_events.c.detail)
            .where(audit_events.c.record_id.in_(queue_ids),
                   audit_events.c.type.in_([t.value for t in _CAME_BACK]))
            .order_by(audit_events.c.seq)
        )
        heard: dict[tuple[str, int], dict[str, Any]] = {}
        for row in rows:
            try:
                detail = json.loads(row.detail)
                key = (str(row.record_id), int(detail["index"]))
            except (ValueError, TypeError, KeyError):
                continue  # not one about a recipient: nothing to name
            outcome = str(detail.get("outcome") or "")
            one = heard.setdefault(key, {"delivered_outside": [], "opened_outside": [],
                                           "unverified": []})
            if row.type == EventType.RECEIPT_UNVERIFIED.value:
                one["unverified"].append(outcome)
            elif row.type == EventType.DELETED_UNREAD.value:
                one["deleted_unread"] = True
            elif row.type == EventType.DELIVERY_DELAYED.value:
                one["delayed_last"] = utc(row.at).timestamp()  # in seq order: the last
            elif detail.get("why") == "final_recipient_not_allowed":
                final = str(detail.get("final_recipient") or "")
                side = "opened_outside" if outcome == Outcome.DISPLAYED.value \
                    else "delivered_outside"
                one[side].append(final or "a mailbox it did not name")
            elif outcome == Outcome.RELAYED.value:
                one["passed_on"] = True
            elif outcome == Outcome.EXPANDED.value:
                one["to_a_list"] = True
            else:
                one["unclear"] = True
        return {
            key: CameBack(**{
                **one,
                "delivered_outside": tuple(dict.fromkeys(one["delivered_outside"])),
                "opened_outside": tuple(dict.fromkeys(one["opened_outside"])),
                "unverified": tuple(dict.fromkeys(one["unverified"])),
            })
            for key, one in heard.items()
        }

    @staticmethod
    async def _sender_wrote_password(conn: AsyncConnection, queue_id: str) -> bool:
        """Is the held password one the sender wrote (so they know it), not
        one the gateway made when it protected the message itself?  Told by
        the record's `method` (PROTECTED_METHOD names the gateway's own
        container).  Unknown: no, so the notice never
        tells the sender to read out a password they may not have."""
        document = (
            await conn.execute(
                select(audit_records.c.document).where(audit_records.c.id == queue_id)
            )
        ).scalar()
        try:
            method = str(json.loads(document or "{}").get("method") or "")
        except (ValueError, AttributeError):
            return False
        return "password held" in method and PROTECTED_METHOD not in method


def _final_recipient(receipt: Receipt, status: RecipientStatus) -> str | None:
    """Whom the report says the message reached: its Final-Recipient, or,
    for a read receipt naming none, the reader the report is from."""
    if status.final_recipient:
        return status.final_recipient
    return receipt.from_address if receipt.kind == "mdn" else None


def _came_back_words(came_back: CameBack) -> list[str]:
    """What the timeout notice named for a recipient, for its audit event."""
    words = {
        "forwarded_outside": came_back.forwarded,
        "relayed": came_back.passed_on,
        "expanded": came_back.to_a_list,
        "deleted_unread": came_back.deleted_unread,
        "delayed": came_back.delayed_last is not None,
        "unverified": bool(came_back.unverified),
        "unclear": came_back.unclear,
    }
    return [word for word, said in words.items() if said]


def _as_stored(message_id: str) -> list[str]:
    """The ways a Message-ID named in a report may be stored (receipt_requests.
    message_id, as the message had it): as written, or its core in brackets."""
    return list(dict.fromkeys([message_id.strip(), f"<{message_id_core(message_id)}>"]))


def _contact(row: dict[str, Any]) -> Contact:
    return Contact(str(row["recipient"]), row["name"], row["telephone"])


__all__ = ["ReceiptDesk", "Route"]
