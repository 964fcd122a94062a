"""Delivery status notifications to the sender (RFC 3464), from the null sender.

A bounce tells the sender which recipients failed and why, and carries the
original headers only, unless the sender asked for the whole message back
(RET=FULL, RFC 3461 4.3) and it is no larger than `FULL_RETURN_LIMIT` (as
Postfix's bounce_size_limit): otherwise the body, which may hold personal
data, is never echoed back.  A bounce at `[queue] max_age` says how many
attempts were made over how long before the gateway gave up.

An internationalised address (RFC 6531) is written in a DSN field as RFC
6533's `utf-8` type, its non-ASCII characters as `\\x{HEX}`, so the report
stays readable by every DSN parser; the report to such a sender is itself
UTF-8 (RFC 6532) and goes with SMTPUTF8.
"""

from __future__ import annotations

import email.utils
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage, Message
from email.parser import BytesHeaderParser
from email.policy import SMTP, SMTPUTF8

from gateway.model import RecipientResult

# The largest message a bounce returns whole when the sender asked for it
# (RET=FULL); a larger one is returned as its headers (Postfix:
# bounce_size_limit = 50000).
FULL_RETURN_LIMIT = 50_000


@dataclass(frozen=True, slots=True)
class Expiry:
    """The message was given up at `[queue] max_age`: after `attempts`
    attempts over `seconds` since it was queued."""

    attempts: int
    seconds: float


def _duration(seconds: float) -> str:
    """`seconds` as a person says it: "5 days", "3 hours 20 minutes"."""
    minutes = int(seconds // 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    parts = [f"{n} {unit}{'' if n == 1 else 's'}"
             for n, unit in ((days, "day"), (hours, "hour"), (minutes, "minute")) if n]
    if not parts:
        return f"{int(seconds)} second{'' if int(seconds) == 1 else 's'}"
    return " ".join(parts[:2])


def _status(code: int, reply: str) -> str:
    words = reply.split()
    if words and words[0].count(".") == 2 and words[0][0] in "245":
        return words[0]
    return f"{str(code)[0]}.0.0"


def _without_status(reply: str) -> str:
    """`reply` without its leading enhanced status code."""
    first, _, rest = reply.partition(" ")
    return rest if first.count(".") == 2 and first[:1] in "245" else reply


def _xtext(address: str) -> str:
    """RFC 6533's utf-8-addr-xtext: `address` in ASCII, each character
    that may not stand as it is written as `\\x{HEX}`."""
    return "".join(
        c if "!" <= c <= "~" and c not in "+=\\" else f"\\x{{{ord(c):02X}}}" for c in address
    )


def dsn_address(address: str) -> str:
    """`address` as a DSN recipient field's value (RFC 3464 2.3.2, RFC 6533 3)."""
    return f"rfc822; {address}" if address.isascii() else f"utf-8; {_xtext(address)}"


def dsn_orcpt(orcpt: str) -> str:
    """An ORCPT as a DSN's Original-Recipient field, in ASCII: under
    SMTPUTF8 it may be UTF-8 text (RFC 6533's utf-8-addr-unitext), which
    an ASCII report writes as utf-8-addr-xtext."""
    return orcpt if orcpt.isascii() else f"utf-8; {_xtext(orcpt.partition(';')[2].strip())}"


def build_bounce(
    *,
    reporting_mta: str,
    sender: str,
    queue_id: str,
    original: bytes,
    failed: Sequence[RecipientResult],
    envid: str | None = None,
    orcpts: dict[str, str] | None = None,
    arrival: datetime | None = None,
    ret: str | None = None,
    expiry: Expiry | None = None,
    relayed: bool = False,
) -> bytes:
    """A multipart/report; report-type=delivery-status message, as bytes;
    the whole `original` with `ret` "FULL" when it is small enough.

    With `relayed`, the report is no bounce: `failed` are recipients
    delivered to a smarthost that does not offer DSN, whose sender asked
    for NOTIFY=SUCCESS (RFC 3461 5.2.2: Action "relayed"; no later
    notification will come for them)."""
    now = datetime.now(UTC)
    report = EmailMessage(policy=SMTP)
    report["From"] = f"Mail Delivery System <MAILER-DAEMON@{reporting_mta}>"
    report["To"] = sender
    report["Subject"] = ("Relayed Mail Delivery Report" if relayed
                         else "Undelivered Mail Returned to Sender")
    report["Date"] = email.utils.format_datetime(now)
    report["Message-ID"] = email.utils.make_msgid(domain=reporting_mta)
    report["Auto-Submitted"] = "auto-replied"

    lines = [
        f"This is the mail system at {reporting_mta}.",
        "",
        "Your message could not be delivered to the recipients below.",
        "The reason is shown for each one." if any(r.by_gateway for r in failed)
        else "The reply from the receiving system is shown for each one.",
        "",
    ]
    if relayed:
        lines = [
            f"This is the mail system at {reporting_mta}.",
            "",
            "Your message was passed on to the recipients' mail system, which does not",
            "return delivery notifications: no confirmation of delivery will follow for",
            "the recipients below.",
            "",
        ]
    if expiry is not None:
        tries = f"{expiry.attempts} attempt{'' if expiry.attempts == 1 else 's'}"
        lines += [
            f"The gateway gave up after {tries} over {_duration(expiry.seconds)}:",
            "each time the receiving system answered with a temporary failure,",
            "or could not be reached.",
            "",
        ]
    # RFC 3461 4.3: RET is for failed DSNs; a success report gives headers.
    whole = ret == "FULL" and len(original) <= FULL_RETURN_LIMIT and not relayed
    for result in failed:
        if result.by_gateway:
            # No receiving system refused it: say who stopped it, and what
            # the receiving system last said, if it said anything.
            line = f"<{result.address}>: {_without_status(result.message)}."
            if result.last_remote:
                line += f" The last reply from the receiving system: {result.last_remote}"
            lines.append(line)
        else:
            lines.append(f"<{result.address}>: {result.code} {result.message}")
    if ret == "FULL" and not whole and not relayed:
        lines += ["", f"Your message is larger than {FULL_RETURN_LIMIT} bytes: only its "
                  "headers are returned."]
    lines += ["", f"Reference: {queue_id}", ""]
    report.set_content("\n".join(lines))

    per_message = Message()
    per_message["Reporting-MTA"] = f"dns; {reporting_mta}"
    per_message["X-Queue-ID"] = queue_id
    if envid:
        per_message["Original-Envelope-Id"] = envid
    if arrival:
        per_message["Arrival-Date"] = email.utils.format_datetime(arrival)
    blocks: list[Message | str] = [per_message]
    for result in failed:
        block = Message()
        if orcpts and result.address in orcpts:
            block["Original-Recipient"] = dsn_orcpt(orcpts[result.address])
        block["Final-Recipient"] = dsn_address(result.address)
        block["Action"] = "relayed" if relayed else "failed"
        block["Status"] = _status(result.code, result.message)
        if result.by_gateway:
            # Diagnostic-type `smtp` (RFC 3464 2.3.6) says a remote server
            # gave this reply; the gateway's own reason gets a type of its
            # own, as Postfix's `X-Postfix;`, and DSN readers still find it.
            block["Diagnostic-Code"] = f"X-Gateway; {_without_status(result.message)}"[:900]
            if result.last_remote:
                block["X-Gateway-Last-Remote-Reply"] = result.last_remote[:900]
        else:
            block["Diagnostic-Code"] = f"smtp; {result.code} {result.message}"[:900]
        blocks.append(block)

    report.make_mixed()
    report.replace_header(
        "Content-Type", 'multipart/report; report-type="delivery-status"'
    )
    # The email package writes message/delivery-status from a list of
    # header blocks, one per-message block then one per recipient.
    status_part = EmailMessage(policy=SMTP)
    status_part["Content-Type"] = "message/delivery-status"
    status_part.set_payload(blocks)
    report.attach(status_part)

    # The report as a whole is UTF-8 to an internationalised sender (its
    # To: field as it is: an encoded word may not stand in an address).
    policy = SMTP if sender.isascii() else SMTPUTF8
    if whole:
        # The original's bytes as they are, put in place of a marker after
        # the report is written: the email package would fold and re-encode it.
        marker = f"returned-message-{secrets.token_hex(16)}"
        returned = EmailMessage(policy=SMTP)
        # RFC 6532 3.7: a message with UTF-8 header fields is message/global.
        utf8_headers = not original.split(b"\r\n\r\n", 1)[0].isascii()
        returned["Content-Type"] = "message/global" if utf8_headers else "message/rfc822"
        if not original.isascii():
            returned["Content-Transfer-Encoding"] = "8bit"
        returned.set_payload(marker)
        report.attach(returned)
        # A boundary the returned message does not hold (the package
        # checks only the text it writes itself).
        boundary = f"=_{secrets.token_hex(16)}"
        while boundary.encode("ascii") in original:
            boundary = f"=_{secrets.token_hex(16)}"
        report.set_boundary(boundary)
        written = report.as_bytes(policy=policy)
        body = original if original.endswith(b"\r\n") else original + b"\r\n"
        head, found, tail = written.partition(marker.encode("ascii") + b"\r\n")
        assert found, "the marker is written once"
        return head + body + tail
    headers = BytesHeaderParser(policy=SMTP).parsebytes(original)
    header_text = "".join(f"{k}: {v}\r\n" for k, v in headers.items()) if headers else ""
    header_part = EmailMessage(policy=SMTP)
    if header_text.isascii():
        header_part["Content-Type"] = "text/rfc822-headers"
        header_part.set_payload(header_text)
    else:
        # UTF-8 headers (RFC 6532): the email package writes a text payload
        # without a charset as ASCII only.
        header_part.set_content(header_text, subtype="rfc822-headers", charset="utf-8")
    report.attach(header_part)
    return report.as_bytes(policy=policy)
