"""Asking for receipts: what each recipient's copy of a message goes out with.

At acceptance (`Gateway._accept`) a message that carries personal data (or
a held password, or a protective marking) is queued with `receipts=True`
after `take_header` removed the sender's own Disposition-Notification-To
(the gateway asks for read receipts itself, and forwards a copy to the
sender when they had asked).  At delivery the worker sends each recipient a
transaction of its own, shaped by `for_recipient`:

    MAIL FROM:<dsn+Q-i-tag@receipts domain> RET=HDRS ENVID=Q-i
    RCPT TO:<recipient> NOTIFY=SUCCESS,FAILURE,DELAY ORCPT=rfc822;recipient
    Disposition-Notification-To: <mdn+Q-i-tag@receipts domain>   (added below Received:)

The DSN parameters reach the upstream only when it advertises DSN (the
transport decides); the VERP return path works either way, since any
bounce comes back to it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, update
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.receipts.schema import receipt_requests
from gateway.receipts.tokens import ReceiptAddressing, envelope_id
from gateway.settings import ReceiptSettings

Operation = Callable[[AsyncConnection], Awaitable[Any]]

RECEIPT_NOTIFY = ("SUCCESS", "FAILURE", "DELAY")
MDN_HEADER = "Disposition-Notification-To"


@dataclass(frozen=True, slots=True)
class RecipientRequest:
    """The envelope and extra header of one recipient's copy."""

    mail_from: str
    notify: tuple[str, ...]
    orcpt: str | None
    ret: str | None
    envid: str | None
    header: bytes  # added to the content (add_header); b"" when no read receipt is asked


def xtext(value: str) -> str:
    """RFC 3461 xtext: '+', '=', controls and non-ASCII as +HH."""
    out = []
    for byte in value.encode("utf-8"):
        if 33 <= byte <= 126 and byte not in (ord("+"), ord("=")):
            out.append(chr(byte))
        else:
            out.append(f"+{byte:02X}")
    return "".join(out)


def for_recipient(
    addressing: ReceiptAddressing,
    settings: ReceiptSettings,
    queue_id: str,
    index: int,
    recipient: str,
    *,
    sender: str,
    sender_notify: tuple[str, ...] = (),
    sender_orcpt: str | None = None,
    sender_ret: str | None = None,
    sender_envid: str | None = None,
) -> RecipientRequest:
    """How recipient `index` of message `queue_id` is sent with receipts asked."""
    header = b""
    if settings.request_mdn:
        header = f"{MDN_HEADER}: <{addressing.mdn_address(queue_id, index)}>\r\n".encode("ascii")
    if not settings.request_dsn:
        # Read receipts only: the sender's own envelope, untouched.
        return RecipientRequest(sender, sender_notify, sender_orcpt, sender_ret, sender_envid,
                                header)
    return RecipientRequest(
        mail_from=addressing.return_path(queue_id, index),
        notify=RECEIPT_NOTIFY,
        orcpt=sender_orcpt or f"rfc822;{xtext(recipient)}",
        ret="HDRS",
        envid=envelope_id(queue_id, index),
        header=header,
    )


def add_header(content: bytes, header: bytes) -> bytes:
    """`content` with the `header` line(s) added below its leading trace
    (Received:) fields, which stay on top (RFC 5321 section 4.4)."""
    if not header:
        return content
    position = 0
    while content[position:position + 9].lower() == b"received:":
        end = content.find(b"\r\n", position)
        while end >= 0 and content[end + 2:end + 3] in (b" ", b"\t"):
            end = content.find(b"\r\n", end + 2)
        if end < 0:
            break
        position = end + 2
    return content[:position] + header + content[position:]


def take_header(content: bytes, name: str) -> tuple[bytes, tuple[str, ...]]:
    """`content` without every `name:` header field, and the values removed.

    Works on the raw bytes of the header section so nothing else in the
    message changes (no re-serialisation).
    """
    end = content.find(b"\r\n\r\n")
    head_end = len(content) if end < 0 else end + 2
    lines = content[:head_end].split(b"\r\n")
    prefix = name.lower().encode("ascii") + b":"
    kept: list[bytes] = []
    found: list[str] = []
    dropping = False
    for line in lines:
        if line[:1] in (b" ", b"\t") and line.strip():
            if dropping:
                found[-1] += " " + line.decode("utf-8", "replace").strip()
                continue
            kept.append(line)
            continue
        dropping = line.lower().startswith(prefix)
        if dropping:
            found.append(line[len(prefix):].decode("utf-8", "replace").strip())
        else:
            kept.append(line)
    if not found:
        return content, ()
    return b"\r\n".join(kept) + content[head_end:], tuple(found)


def hop_op(
    queue_id: str, delivered: Sequence[str], failed: Sequence[str], at: float
) -> Operation:
    """The worker's write: these recipients were relayed (the receipt timeout
    starts) or refused by the upstream (no timeout notice: the sender gets
    the gateway's own bounce)."""

    async def write(conn: AsyncConnection) -> None:
        for addresses, column in ((delivered, "relayed_at"), (failed, "failed_at")):
            if not addresses:
                continue
            target = receipt_requests.c[column]
            await conn.execute(
                update(receipt_requests)
                .where(
                    receipt_requests.c.queue_id == queue_id,
                    func.lower(receipt_requests.c.recipient).in_([a.lower() for a in addresses]),
                    target.is_(None),
                )
                .values({column: at})
            )

    return write
