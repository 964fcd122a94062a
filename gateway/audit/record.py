"""What the audit trail holds: one AuditRecord per message, AuditEvents after.

The record answers the guidance's questions (date and time, purpose, type of
information, who authorised it, how it was shared, and the recipient's name,
job title, organisation and telephone).  It never holds the personal data
itself, the matched values, or a password.  The subject is stored as the
caller passes it: the policy layer hands over a redacted subject when the
subject itself carries personal data.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any


class EventType(StrEnum):
    RECEIVED = "received"
    REJECTED = "rejected"
    HELD = "held"
    APPROVED = "approved"
    QUEUED = "queued"
    RELAYED = "relayed"
    DELIVERY_FAILED = "delivery_failed"
    DELIVERY_CONFIRMED = "delivery_confirmed"
    READ_CONFIRMED = "read_confirmed"
    # Receipts that say neither "arrived" nor "read": a DSN reporting a
    # delay (each one received), an MDN saying the message was deleted
    # unread, and any other MDN disposition (processed, dispatched, denied).
    DELIVERY_DELAYED = "delivery_delayed"
    DELETED_UNREAD = "deleted_unread"
    RECEIPT_OTHER = "receipt_other"
    # A report without the recipient's token (postmaster@, a mangled
    # address), correlated only by its ENVID or the original's Message-ID:
    # anyone can write one, so it confirms nothing and no failure either.
    # Its detail says what it reported (`outcome`: delivered, failed,
    # displayed), how it was correlated and for which recipient.  Records
    # written before it existed have such reports as delivery_confirmed,
    # read_confirmed or delivery_failed with `authenticated: false`.
    RECEIPT_UNVERIFIED = "receipt_unverified"
    PASSWORD_HELD = "password_held"
    # The email carrying a password left (released on receipt or to the
    # sender: once the delivery worker handed it on; by hand: once sent).
    PASSWORD_RELEASED = "password_released"
    # The email carrying a released password failed for good (refused, or
    # expired in the queue): the detail says why and with which code; the
    # password is held again (`held_again`) for another release.
    PASSWORD_RELEASE_FAILED = "password_release_failed"
    PASSWORD_EXPIRED = "password_expired"
    # Destroyed before its TTL because the message will never go: the
    # approver refused it.  Not `password_expired`: an IG report counting
    # those reads "a recipient could not open what we sent".
    PASSWORD_DESTROYED = "password_destroyed"
    # No delivery or read receipt within [receipts] timeout: the sender was told.
    RECEIPT_TIMEOUT = "receipt_timeout"
    # `gateway audit purge` audits itself: record_id is "purge-<time>" and the
    # detail says what was removed and where the chain was cut.
    PURGED = "purged"


def utc(value: datetime) -> datetime:
    """The same instant in UTC; a naive time (SQLite hands those back) is UTC."""
    zone = value.tzinfo
    if zone is UTC:
        return value  # the usual case: no copy
    if zone is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


@dataclass(frozen=True, slots=True)
class AuditRecipient:
    address: str
    name: str = ""
    job_title: str = ""
    department: str = ""
    organisation: str = ""
    telephone: str = ""
    # The allow-list row the identity above comes from: the address itself,
    # or "@domain" when a domain's row allowed it (then the name and job
    # title are that row's, not necessarily this person's); None when the
    # address is not on the allow-list.
    listed_as: str | None = None


@dataclass(frozen=True, slots=True)
class AuditAttachment:
    filename: str | None
    content_type: str
    encryption: str
    read_only: bool | None


@dataclass(frozen=True, slots=True)
class AuditReason:
    code: str
    text: str


@dataclass(frozen=True, slots=True)
class AuditRecord:
    id: str
    message_id: str | None
    received_at: datetime
    sender: str
    recipients: tuple[AuditRecipient, ...]
    subject: str
    verdict: str
    reasons: tuple[AuditReason, ...] = ()
    purpose: str | None = None
    consent: str | None = None
    authorised_by: str | None = None
    information_types: tuple[str, ...] = ()
    marking: str | None = None
    method: str = ""
    attachments: tuple[AuditAttachment, ...] = ()
    queue_id: str | None = None

    def document(self) -> dict[str, Any]:
        """The JSON document of DESIGN.md without `events` (they are rows of
        their own, appended as the message's life goes on)."""
        return {
            "id": self.id,
            "message_id": self.message_id,
            "received_at": utc(self.received_at).isoformat(),
            "sender": self.sender,
            "recipients": [
                {
                    "address": r.address,
                    "name": r.name,
                    "job_title": r.job_title,
                    "department": r.department,
                    "organisation": r.organisation,
                    "telephone": r.telephone,
                    "listed_as": r.listed_as,
                }
                for r in self.recipients
            ],
            "subject": self.subject,
            "purpose": self.purpose,
            "consent": self.consent,
            "authorised_by": self.authorised_by,
            "information_types": list(self.information_types),
            "marking": self.marking,
            "verdict": self.verdict,
            "reasons": [{"code": r.code, "text": r.text} for r in self.reasons],
            "method": self.method,
            "attachments": [
                {
                    "filename": a.filename,
                    "content_type": a.content_type,
                    "encryption": a.encryption,
                    "read_only": a.read_only,
                }
                for a in self.attachments
            ],
            "queue_id": self.queue_id,
        }

    def terms(self) -> list[tuple[str, str]]:
        """The record's searchable multi-valued fields, sorted (searches match
        them case-insensitively; reports show them as written)."""
        found = {("recipient", r.address) for r in self.recipients if r.address}
        found |= {("organisation", r.organisation) for r in self.recipients if r.organisation}
        found |= {("type", t) for t in self.information_types if t}
        found |= {("reason", r.code) for r in self.reasons if r.code}
        return sorted(found)


@dataclass(frozen=True, slots=True)
class AuditEvent:
    type: EventType
    at: datetime
    detail: dict[str, Any] = field(default_factory=dict)
