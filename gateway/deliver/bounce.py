"""Delivery status notifications to the sender (RFC 3464), from the null sender.

A bounce tells the sender which recipients failed and why, and carries the
original headers only (never the body: the body may hold personal data that
the gateway must not echo back in clear).
"""

from __future__ import annotations

import email.utils
from collections.abc import Sequence
from datetime import UTC, datetime
from email.message import EmailMessage, Message
from email.parser import BytesHeaderParser
from email.policy import SMTP

from gateway.model import RecipientResult


def _status(code: int, reply: str) -> str:
    words = reply.split()
    if words and words[0].count(".") == 2 and words[0][0] in "245":
        return words[0]
    return f"{str(code)[0]}.0.0"


def _without_status(reply: str) -> str:
    """`reply` without its leading enhanced status code."""
    first, _, rest = reply.partition(" ")
    return rest if first.count(".") == 2 and first[:1] in "245" else reply


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
) -> bytes:
    """A multipart/report; report-type=delivery-status message, as bytes."""
    now = datetime.now(UTC)
    report = EmailMessage(policy=SMTP)
    report["From"] = f"Mail Delivery System <MAILER-DAEMON@{reporting_mta}>"
    report["To"] = sender
    report["Subject"] = "Undelivered Mail Returned to Sender"
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
            block["Original-Recipient"] = orcpts[result.address]
        block["Final-Recipient"] = f"rfc822; {result.address}"
        block["Action"] = "failed"
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

    headers = BytesHeaderParser(policy=SMTP).parsebytes(original)
    header_part = EmailMessage(policy=SMTP)
    header_part["Content-Type"] = "text/rfc822-headers"
    header_part.set_payload(
        "".join(f"{k}: {v}\r\n" for k, v in headers.items()) if headers else ""
    )
    report.attach(header_part)
    return report.as_bytes(policy=SMTP)
