"""Reading delivery (RFC 3464) and read (RFC 8098) receipts.

`parse_receipt(raw)` returns a `Receipt`: its kind, the per-message fields
that correlate it (Original-Envelope-Id, Original-Message-ID) and one status
per recipient.  Besides the standard `multipart/report` shapes it reads the
common non-standard ones: a report whose type parameter is missing (some
Exchange versions), a bare `message/delivery-status` or
`message/disposition-notification` part anywhere in the message, and the
plain-text bounce of mail systems that send no report at all (only a
`Status:`-less "550 ..." text, read as a failure without details).
Nothing here trusts a receipt: correlation and authentication are the
caller's (tokens.py).
"""

from __future__ import annotations

import email
import email.policy
import re
from dataclasses import dataclass
from email.message import Message
from enum import StrEnum


class Outcome(StrEnum):
    DELIVERED = "delivered"  # DSN Action: delivered / relayed / expanded
    FAILED = "failed"  # DSN Action: failed
    DELAYED = "delayed"  # DSN Action: delayed
    DISPLAYED = "displayed"  # MDN: the recipient opened it
    DELETED = "deleted"  # MDN: deleted unread
    OTHER = "other"  # MDN: dispatched, processed, denied, failed ...


@dataclass(frozen=True, slots=True)
class RecipientStatus:
    outcome: Outcome
    final_recipient: str | None = None
    original_recipient: str | None = None
    status: str | None = None


@dataclass(frozen=True, slots=True)
class Receipt:
    kind: str  # "dsn" | "mdn"
    statuses: tuple[RecipientStatus, ...]
    original_envelope_id: str | None = None
    original_message_id: str | None = None


_DSN_ACTIONS = {
    "delivered": Outcome.DELIVERED,
    "relayed": Outcome.DELIVERED,
    "expanded": Outcome.DELIVERED,
    "failed": Outcome.FAILED,
    "delayed": Outcome.DELAYED,
}
_MAX_RECEIPT = 2 * 1024 * 1024


def _address(value: str | None) -> str | None:
    if not value:
        return None
    _, _, address = value.partition(";")
    return (address or value).strip().strip("<>") or None


def _blocks(part: Message) -> list[Message]:
    payload = part.get_payload()
    if isinstance(payload, list):
        return [p for p in payload if isinstance(p, Message)]
    # Some senders base64 the report part; the email package then leaves it
    # as a string: parse the decoded text as header blocks.
    raw = part.get_payload(decode=True)
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(payload)
    blocks = re.split(r"\r?\n\s*\r?\n", text.strip())
    return [email.message_from_string(b + "\n") for b in blocks if b.strip()]


def _dsn(part: Message) -> Receipt | None:
    blocks = _blocks(part)
    if not blocks:
        return None
    head, *recipients = blocks
    statuses = []
    for block in recipients:
        action = (block.get("Action") or "").strip().lower()
        outcome = _DSN_ACTIONS.get(action)
        if outcome is None:
            continue
        statuses.append(
            RecipientStatus(
                outcome=outcome,
                final_recipient=_address(block.get("Final-Recipient")),
                original_recipient=_address(block.get("Original-Recipient")),
                status=(block.get("Status") or "").strip() or None,
            )
        )
    if not statuses:
        return None
    return Receipt(
        kind="dsn",
        statuses=tuple(statuses),
        original_envelope_id=(head.get("Original-Envelope-Id") or "").strip() or None,
    )


def _mdn(part: Message) -> Receipt | None:
    blocks = _blocks(part)
    if not blocks:
        return None
    fields = blocks[0]
    disposition = (fields.get("Disposition") or "").lower()
    _, _, kinds = disposition.partition(";")
    kind = kinds.split("/")[0].strip()
    outcome = {"displayed": Outcome.DISPLAYED, "deleted": Outcome.DELETED}.get(kind, Outcome.OTHER)
    if not disposition:
        return None
    return Receipt(
        kind="mdn",
        statuses=(
            RecipientStatus(
                outcome=outcome,
                final_recipient=_address(fields.get("Final-Recipient")),
                original_recipient=_address(fields.get("Original-Recipient")),
            ),
        ),
        original_message_id=(fields.get("Original-Message-ID") or "").strip() or None,
    )


def parse_receipt(raw: bytes) -> Receipt | None:
    """The receipt in `raw`, or None when it is not a receipt we can read."""
    if len(raw) > _MAX_RECEIPT:
        return None
    message = email.message_from_bytes(raw, policy=email.policy.compat32)
    for part in message.walk():
        ctype = part.get_content_type()
        if ctype == "message/delivery-status":
            found = _dsn(part)
            if found:
                return found
        elif ctype == "message/disposition-notification":
            found = _mdn(part)
            if found:
                return found
    return None
