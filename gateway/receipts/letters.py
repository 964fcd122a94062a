"""The emails the receipts stage writes, each from postmaster@<hostname>.

- `password_to_recipient`: only the password and the reference of the
  message it opens (on-receipt release);
- `password_to_sender`: the password with each recipient's name and
  telephone from the allow-list, to be read out (`release = "sender"`);
- `timeout_notice`: no receipt came in time; who to telephone, and what
  did come back about each of them (`CameBack`: a forward outside the
  allow-list, a deletion unread, a delay, a report it could not verify);
- `expired_before_receipt_notice`, `destroyed_before_receipt_notice`: a
  recipient confirmed receipt after their password was gone (its ttl; a
  failure report, or the gateway's own delivery giving up): send again;
- `password_email_failed_notice`: the email carrying a recipient's
  password failed for good; it is held again; who to telephone;
- `forwarded_receipt`: a copy of a receipt the sender asked for, rebuilt
  from its parsed fields (so nothing else from outside passes through) with
  the sender's own ENVID and ORCPT put back.  Its report part is ASCII, as
  RFC 3464 and RFC 8098 fields are, whatever the receipt held: an
  internationalised address as RFC 6533's `utf-8` type, any other
  character of a field as `\\x{HEX}`; the words as written are in its
  text part.  To an internationalised sender it is UTF-8 (RFC 6532) and
  goes under SMTPUTF8.

None of them carries the original subject or content: the subject may hold
personal data, and the reference (gateway id and Message-ID) is enough to
find the message.
"""

from __future__ import annotations

import email.utils
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage, Message
from email.policy import SMTP, SMTPUTF8

from gateway.audit.display import visible
from gateway.deliver.bounce import dsn_address, dsn_orcpt
from gateway.receipts.parse import Outcome, Receipt, RecipientStatus


@dataclass(frozen=True, slots=True)
class Contact:
    """A recipient as the allow-list names them, for the sender to telephone."""

    address: str
    name: str | None = None
    telephone: str | None = None

    def line(self) -> str:
        who = self.name or "(not on the allow-list)"
        phone = self.telephone or "no telephone number on the allow-list"
        return f"  {self.address}: {who}, telephone {phone}"


def _reference(queue_id: str, message_id: str | None) -> str:
    text = f"gateway reference {queue_id}"
    return f"{text}, Message-ID {message_id}" if message_id else text


def _base(hostname: str, to: str, subject: str, references: str | None) -> EmailMessage:
    msg = EmailMessage(policy=SMTP)
    msg["From"] = f"postmaster@{hostname}"
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = email.utils.format_datetime(datetime.now(UTC))
    msg["Message-ID"] = email.utils.make_msgid(idstring=uuid.uuid4().hex[:12], domain=hostname)
    msg["Auto-Submitted"] = "auto-generated"
    if references:
        msg["References"] = references
    return msg


def _written(msg: EmailMessage) -> bytes:
    """The letter's bytes: UTF-8 (RFC 6532) to an internationalised address,
    which goes under SMTPUTF8; the SMTP policy would write its To: field
    as an encoded word, which may not stand in an address."""
    return msg.as_bytes(policy=SMTP if str(msg["To"]).isascii() else SMTPUTF8)


def _when(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%d %B %Y %H:%M UTC")


def password_to_recipient(
    *,
    hostname: str,
    marking: str,
    recipient: str,
    queue_id: str,
    message_id: str | None,
    password: str,
    sent_at: float,
    sender: str | None = None,
    to: str | None = None,
    confirmed: bool = True,
) -> bytes:
    """The separate email with one recipient's password, to them (or `to`,
    when released by hand to someone else).  It names the message by who
    sent it and when, so a busy shared inbox can tell which file it opens,
    and by its references; never by its subject or content."""
    msg = _base(hostname, to or recipient, f"{marking}: password for a protected message",
                message_id)
    sent_by = f" from {sender}" if sender else ""
    msg.set_content(
        "\n".join(
            [
                f"This is the password for the protected content of a message{sent_by} "
                f"sent to {recipient} on {_when(sent_at)} ({_reference(queue_id, message_id)}).",
                *(["Your mail system has confirmed that the message arrived."]
                  if confirmed else []),
                "",
                "Password:",
                password,
                "",
                "It is sent separately from the message it opens, as the secure-sharing rules "
                "require. Do not forward it, and delete this email once you have opened the "
                "content.",
                "",
            ]
        )
    )
    return _written(msg)


def password_to_sender(
    *,
    hostname: str,
    marking: str,
    sender: str,
    queue_id: str,
    message_id: str | None,
    password: str,
    contacts: Sequence[Contact],
) -> bytes:
    msg = _base(hostname, sender, f"{marking}: password to telephone to your recipients",
                message_id)
    msg.set_content(
        "\n".join(
            [
                "The password that opens the protected content of your message "
                f"({_reference(queue_id, message_id)}) is not sent to its recipients by "
                "email. Please telephone it to each recipient:",
                "",
                *(c.line() for c in contacts),
                "",
                "Password:",
                password,
                "",
                "Check that you are speaking to the right person before you read it out. "
                "Delete this email afterwards.",
                "",
            ]
        )
    )
    return _written(msg)


def duration_words(waited: timedelta) -> str:
    """A duration as people write it: "1 hour", "2 days", "30 seconds"."""
    seconds = int(waited.total_seconds())
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            count = seconds // size
            return f"{count} {unit}" + ("" if count == 1 else "s")
    if seconds < 1:
        return "less than a second"
    return f"{seconds} second" + ("" if seconds == 1 else "s")


@dataclass(frozen=True, slots=True)
class CameBack:
    """What did come back about one recipient by the receipt timeout, none
    of it a receipt the gateway counts: the sender is told each, since the
    bare "no receipt" would hide a forward out of the organisation (a
    possible breach), a deletion unread, or a report someone else wrote."""

    # Mailboxes outside the allow-list a genuine report said it was
    # delivered to / opened at (an automatic forward): whom to ring, and
    # what the data protection officer needs.
    delivered_outside: tuple[str, ...] = ()
    opened_outside: tuple[str, ...] = ()
    passed_on: bool = False  # DSN relayed: to a system that sends no receipts
    to_a_list: bool = False  # DSN expanded: to a list's members
    unclear: bool = False  # a report contradicting itself, or another MDN
    deleted_unread: bool = False
    delayed_last: float | None = None  # when the last delay report came
    # What reports without the recipient's token said (delivered,
    # displayed, failed): anyone can write one, so only named, never relied on.
    unverified: tuple[str, ...] = ()

    @property
    def forwarded(self) -> bool:
        return bool(self.delivered_outside or self.opened_outside)

    def __bool__(self) -> bool:
        return bool(self.forwarded or self.passed_on or self.to_a_list or self.unclear
                    or self.deleted_unread or self.delayed_last is not None
                    or self.unverified)

    def lines(self) -> list[str]:
        """One line a report, for under the recipient's line."""
        out: list[str] = []
        for mailbox in dict.fromkeys((*self.delivered_outside, *self.opened_outside)):
            where = (f"{visible(mailbox)}, a mailbox outside the organisations you may "
                     "share with")
            if mailbox not in self.delivered_outside:
                out.append(f"their mail system reported that it was opened at {where}.")
                continue
            opened = ", and opened there" if mailbox in self.opened_outside else ""
            out.append(f"their mail system reported that it was forwarded to {where}{opened}.")
        if self.passed_on:
            out.append("their mail system passed it on to another system that sends no "
                       "receipts, so no receipt will come.")
        if self.to_a_list:
            out.append("their mail system passed it on to the members of a mailing list, "
                       "so no receipt will come from each of them.")
        if self.deleted_unread:
            out.append("they deleted it without reading it.")
        if self.delayed_last is not None:
            out.append("their mail system reported that delivery was delayed (last report "
                       f"on {_when(self.delayed_last)}).")
        for said in self.unverified:
            what = {"delivered": "it was delivered", "displayed": "it was read",
                    "failed": "it could not be delivered"}.get(said, "something else")
            out.append(f"a report came that the gateway could not verify, saying {what}; "
                       "it does not count as a receipt.")
        if self.unclear:
            out.append("a report came that the gateway could not make sense of; it does "
                       "not count as a receipt.")
        return [f"    - {line}" for line in out]


def timeout_notice(
    *,
    hostname: str,
    marking: str,
    sender: str,
    queue_id: str,
    message_id: str | None,
    contacts: Sequence[Contact],
    waited: timedelta,
    password_held: bool,
    sender_has_password: bool = False,
    unread: Sequence[Contact] = (),
    password_expires: float | None = None,
    came_back: Mapping[str, CameBack] | None = None,
) -> bytes:
    """`contacts` sent no receipt at all; `unread` confirmed delivery but
    sent no read receipt, which (release_on = "read") their password waits
    for.  `sender_has_password`: the held password is one the sender wrote;
    one the gateway made (it protected the message itself) they never had.
    `came_back`, by recipient address: what did come back about them that
    is no receipt, named under their line (a forward outside first of all)."""
    msg = _base(hostname, sender, f"{marking}: no receipt yet for your message", message_id)
    reference = _reference(queue_id, message_id)
    heard = came_back or {}

    def named(contact: Contact) -> list[str]:
        return [contact.line(), *heard.get(contact.address, CameBack()).lines()]

    silent = [c for c in contacts if not heard.get(c.address)]
    reported = [c for c in contacts if heard.get(c.address)]
    forwarded = [c for c in (*contacts, *unread)
                 if heard.get(c.address, CameBack()).forwarded]
    lines = [f"Your message ({reference}) was relayed more than"
             f" {duration_words(waited)} ago."]
    if forwarded:
        # First: a possible breach, which the sender may have to report.
        lines += [
            "",
            "The mail system of "
            + ("this recipient" if len(forwarded) == 1 else "these recipients")
            + " reported that your message went on to a mailbox outside the organisations "
            "you may share with (named below). Please telephone them before anything else "
            "is sent to them, and tell your data protection officer if the forward was not "
            "expected.",
        ]
    lines.append("")
    if silent:
        lines += [
            "No delivery or read receipt has come back from these recipients:",
            "",
            *(c.line() for c in silent),
            "",
        ]
    if reported:
        lines += [
            "No receipt confirming that it reached these recipients has come back, but "
            "other reports about it have:",
            "",
            *(line for c in reported for line in named(c)),
            "",
        ]
    if unread:
        lines += [
            "Their mail system confirmed delivery, but no read receipt has come back "
            "from these recipients, and their password is sent only once they have read "
            "the message:",
            "",
            *(line for c in unread for line in named(c)),
            "",
        ]
    lines.append("Please telephone them to check that it arrived.")
    find = f"gateway passwords list --queue-id {queue_id}"
    if password_held and sender_has_password:
        lines.append(
            "The password of its protected content is still held by the gateway. It is "
            "the one you wrote in your message: once you have spoken to them you may read "
            "it out, or ask IT to send it to them by email (gateway passwords release; "
            f"{find})."
        )
    elif password_held:
        lines.append(
            "The gateway protected the content with a password of its own, which you do "
            "not have; it still holds it. Once you have spoken to them, ask IT to send "
            "it: gateway passwords release emails it to the recipient, or to you with "
            f"--to, to read out to them ({find})."
        )
    if password_held and forwarded:
        # Emailed to them, it would follow the message to the same mailbox.
        lines.append(
            "Do not have the password emailed to "
            + " or ".join(c.address for c in forwarded)
            + ": their mail system would pass it on as it did the message."
        )
    if password_held and password_expires is not None:
        # After that nobody is told again, and what was sent cannot be opened.
        lines.append(
            f"The gateway destroys the password on {_when(password_expires)}: after that "
            "the protected content cannot be opened, and the message would have to be "
            "sent again."
        )
    lines.append("")
    msg.set_content("\n".join(lines))
    return _written(msg)


def expired_before_receipt_notice(
    *,
    hostname: str,
    marking: str,
    sender: str,
    queue_id: str,
    message_id: str | None,
    contact: Contact,
    confirmed_at: float,
    expired_at: float,
) -> bytes:
    """A recipient confirmed receipt after the password of what they got
    had been destroyed at its ttl: they hold content nobody can open, and
    only the sender can put that right."""
    msg = _base(hostname, sender,
                f"{marking}: your recipient cannot open your message", message_id)
    msg.set_content("\n".join([
        f"Your message ({_reference(queue_id, message_id)}) reached this recipient, "
        f"who confirmed receipt on {_when(confirmed_at)}:",
        "",
        contact.line(),
        "",
        "The gateway sends the password of its protected content only once receipt is "
        f"confirmed, and it had already destroyed that password on {_when(expired_at)}, "
        "when it had been kept for as long as the gateway keeps passwords. Nobody can "
        "send it now, so the recipient cannot open what they received.",
        "",
        "If they still need it, please send the message again; you may want to "
        "telephone them first to say it is coming.",
        "",
    ]))
    return _written(msg)


# Why a password was destroyed before its recipient confirmed receipt
# (password_destroyed's reason), as the sender's notice says it.
_DESTROYED_BECAUSE = {
    "delivery_failed": "because it was told that the message could not be delivered "
                       "to them, and a password is not kept for a message that never "
                       "arrived",
    "rejected": "because the message was refused when it was held for authorisation",
}


def destroyed_before_receipt_notice(
    *,
    hostname: str,
    marking: str,
    sender: str,
    queue_id: str,
    message_id: str | None,
    contact: Contact,
    confirmed_at: float,
    destroyed_at: float,
    reason: str,
) -> bytes:
    """A recipient confirmed receipt after the password of what they got
    had been destroyed, not at its ttl (`expired_before_receipt_notice`
    has that): most often a failure report that proved wrong.  They hold
    content nobody can open, and only the sender can put that right."""
    msg = _base(hostname, sender,
                f"{marking}: your recipient cannot open your message", message_id)
    when = f" on {_when(destroyed_at)}" if destroyed_at > 0 else ""
    because = _DESTROYED_BECAUSE.get(reason)
    msg.set_content("\n".join([
        f"Your message ({_reference(queue_id, message_id)}) reached this recipient, "
        f"who confirmed receipt on {_when(confirmed_at)}:",
        "",
        contact.line(),
        "",
        f"The gateway had already destroyed the password of its protected content{when}"
        + (f", {because}." if because else "."),
        "Nobody can send that password now, so the recipient cannot open what they "
        "received.",
        "",
        "If they still need it, please send the message again; you may want to "
        "telephone them first to say it is coming.",
        "",
    ]))
    return msg.as_bytes()


def password_email_failed_notice(
    *,
    hostname: str,
    marking: str,
    sender: str,
    queue_id: str,
    message_id: str | None,
    contact: Contact,
    reply: str,
    expires: float,
) -> bytes:
    """The email carrying this recipient's password, sent once their receipt
    came, failed for good (`reply`: its code and status, or why the gateway
    gave up): the password is held again, and the sender is the one who
    knows whom to ring.  Never the password itself."""
    msg = _base(hostname, sender,
                f"{marking}: the password of your message could not be emailed", message_id)
    find = f"gateway passwords list --queue-id {queue_id}"
    msg.set_content("\n".join([
        f"Your message ({_reference(queue_id, message_id)}) reached this recipient, but "
        f"the separate email with the password of its protected content could not be "
        f"delivered to them ({reply}):",
        "",
        contact.line(),
        "",
        "They cannot open the protected content yet. The gateway still holds the "
        "password: please telephone them, then ask IT to send it again by email "
        f"(gateway passwords release; {find}), to them or to you to read out.",
        f"The gateway destroys the password on {_when(expires)}: after that the "
        "protected content cannot be opened, and the message would have to be sent again.",
        "",
    ]))
    return _written(msg)


_DSN_SUBJECTS = {
    Outcome.DELIVERED: "Delivery report: delivered",
    Outcome.FAILED: "Delivery report: failed",
    Outcome.DELAYED: "Delivery report: delayed",
    Outcome.RELAYED: "Delivery report: relayed",
    Outcome.EXPANDED: "Delivery report: expanded",
}
# The DSN Action of each outcome a delivery report can carry.
_DSN_ACTIONS = {Outcome.DELIVERED: "delivered", Outcome.FAILED: "failed",
                Outcome.DELAYED: "delayed", Outcome.RELAYED: "relayed",
                Outcome.EXPANDED: "expanded"}


def _ascii_field(text: str) -> str:
    """A report field's text in ASCII: each other character as RFC 6533's
    `\\x{HEX}`.  A receipt may carry UTF-8 fields (SMTPUTF8 systems, RFC
    6533's global reports: "552 5.2.2 Postfach voll – Jürgen"); an ASCII
    report cannot hold them as they are, and the email package refuses to
    write them (the copy, and with it the receipt, would fail for ever)."""
    return "".join(c if " " <= c <= "~" else f"\\x{{{ord(c):02X}}}" for c in text)


def forwarded_receipt(
    *,
    hostname: str,
    sender: str,
    receipt: Receipt,
    status: RecipientStatus,
    recipient: str,
    queue_id: str,
    message_id: str | None,
    sender_envid: str | None,
    sender_orcpt: str | None,
) -> bytes:
    """The sender's copy of one recipient's receipt, as a multipart/report."""
    mdn = receipt.kind == "mdn"
    subject = (
        f"Read report: {status.outcome.value}"
        if mdn
        else _DSN_SUBJECTS.get(status.outcome, "Delivery report")
    )
    report = _base(hostname, sender, subject, message_id)
    if not mdn:
        report.replace_header("From", f"Mail Delivery System <MAILER-DAEMON@{hostname}>")
    report.replace_header("Auto-Submitted", "auto-replied")
    what = {
        Outcome.DELIVERED: "was delivered to",
        Outcome.FAILED: "could not be delivered to",
        Outcome.DELAYED: "is delayed on its way to",
        Outcome.RELAYED: "was passed on, by a system that sends no delivery reports, towards",
        Outcome.EXPANDED: "was passed on to the members of the list",
        Outcome.DISPLAYED: "was displayed by",
        Outcome.DELETED: "was deleted unread by",
    }.get(status.outcome, f"was {status.outcome.value} by")
    lines = [
        f"Your message ({_reference(queue_id, message_id)}) {what} {recipient}.",
        f"Reported by: {receipt.reporting or 'the receiving system'}.",
    ]
    if status.status:
        lines.append(f"Status: {status.status}")
    if status.diagnostic:
        lines.append(f"Remote reply: {status.diagnostic}")
    # Not "because you asked": failures are reported unasked (RFC 3461's
    # default), and the gateway asks for the others itself ([receipts]).
    lines += ["", "The secure-sharing gateway received this report about your message and "
              "forwards you a copy.", ""]
    report.set_content("\n".join(lines))

    fields = Message()
    if mdn:
        fields["Reporting-UA"] = _ascii_field(receipt.reporting or hostname)
        if sender_orcpt:
            fields["Original-Recipient"] = dsn_orcpt(sender_orcpt)
        fields["Final-Recipient"] = dsn_address(status.final_recipient or recipient)
        if message_id:
            fields["Original-Message-ID"] = _ascii_field(message_id)
        fields["Disposition"] = _ascii_field(status.disposition or (
            f"automatic-action/MDN-sent-automatically; {status.outcome.value}"
        ))
        blocks: list[Message] = [fields]
        ctype, report_type = "message/disposition-notification", "disposition-notification"
    else:
        fields["Reporting-MTA"] = _ascii_field(receipt.reporting or f"dns; {hostname}")
        if sender_envid:
            fields["Original-Envelope-Id"] = _ascii_field(sender_envid)
        block = Message()
        if sender_orcpt:
            block["Original-Recipient"] = dsn_orcpt(sender_orcpt)
        block["Final-Recipient"] = dsn_address(status.final_recipient or recipient)
        block["Action"] = _DSN_ACTIONS.get(status.outcome, "failed")
        block["Status"] = _ascii_field(status.status) if status.status else (
            "2.0.0" if status.outcome in (Outcome.DELIVERED, Outcome.RELAYED,
                                          Outcome.EXPANDED) else
            "4.0.0" if status.outcome is Outcome.DELAYED else "5.0.0"
        )
        if status.diagnostic:
            block["Diagnostic-Code"] = _ascii_field(status.diagnostic)
        blocks = [fields, block]
        ctype, report_type = "message/delivery-status", "delivery-status"

    report.make_mixed()
    report.replace_header("Content-Type", f'multipart/report; report-type="{report_type}"')
    part = EmailMessage(policy=SMTP)
    part["Content-Type"] = ctype
    if mdn:
        # Folded as the delivery-status blocks are: an escaped field can be
        # longer than a line may be.
        part.set_payload("".join(SMTP.fold(k, v) for k, v in fields.items()))
    else:
        part.set_payload(blocks)  # type: ignore[arg-type]
    report.attach(part)
    return _written(report)
