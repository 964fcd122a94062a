"""What the audit trail holds: one AuditRecord per message, AuditEvents after.

The record answers the guidance's questions (date and time, purpose, type of
information, who authorised it, how it was shared, and the recipient's name,
job title, organisation and telephone).  It never holds the personal data
itself, the matched values, or a password.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
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
    PASSWORD_HELD = "password_held"
    PASSWORD_RELEASED = "password_released"
    PASSWORD_EXPIRED = "password_expired"


@dataclass(frozen=True, slots=True)
class AuditRecipient:
    address: str
    name: str = ""
    job_title: str = ""
    department: str = ""
    organisation: str = ""
    telephone: str = ""


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
        """The JSON document of DESIGN.md (without events)."""
        doc = asdict(self)
        doc["received_at"] = self.received_at.isoformat()
        return doc


@dataclass(frozen=True, slots=True)
class AuditEvent:
    type: EventType
    at: datetime
    detail: dict[str, Any] = field(default_factory=dict)
