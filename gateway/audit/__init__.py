"""The audit trail: records and events in a tamper-evident hash chain."""

from gateway.audit.record import (
    AuditAttachment,
    AuditEvent,
    AuditReason,
    AuditRecipient,
    AuditRecord,
    EventType,
)
from gateway.audit.trail import AuditTrail, chain_hash

__all__ = [
    "AuditAttachment",
    "AuditEvent",
    "AuditReason",
    "AuditRecipient",
    "AuditRecord",
    "AuditTrail",
    "EventType",
    "chain_hash",
]
