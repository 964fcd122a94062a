"""The audit trail: records and events in a tamper-evident hash chain.

- `record`: what is recorded (AuditRecord, AuditEvent, EventType);
- `chain`: hashing and checkpoint signatures (pure functions, AuditKeys);
- `trail`: appending inside the queue's transaction (AuditTrail);
- `query`: search, show, export, report (AuditQuery, SearchFilter);
- `verify`: recomputing the chain (verify -> VerifyReport);
- `purge`: retention with a signed cut (purge -> PurgeResult);
- `display`: recorded text as shown to a person (visible).
"""

from gateway.audit.chain import AuditKeys, chain_hash
from gateway.audit.display import visible
from gateway.audit.purge import PurgeResult, purge
from gateway.audit.query import AuditQuery, EventFilter, SearchFilter
from gateway.audit.record import (
    AuditAttachment,
    AuditEvent,
    AuditReason,
    AuditRecipient,
    AuditRecord,
    EventType,
)
from gateway.audit.trail import AuditTrail, Checkpoint
from gateway.audit.verify import VerifyReport, verify

__all__ = [
    "AuditAttachment",
    "AuditEvent",
    "AuditKeys",
    "AuditQuery",
    "AuditReason",
    "AuditRecipient",
    "AuditRecord",
    "AuditTrail",
    "Checkpoint",
    "EventFilter",
    "EventType",
    "PurgeResult",
    "SearchFilter",
    "VerifyReport",
    "chain_hash",
    "purge",
    "verify",
    "visible",
]
