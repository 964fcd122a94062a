"""The console audits itself: sign-ins (and failures), sign-outs, downloads,
integrity checks.

These are events of the one hash chain, appended through the process's
Writer like every other audit write.  They belong to no message, so, as
`gateway audit purge` does with its `purge-<time>` record id, they are filed
under a record id of their own: `console-YYYY-MM-DD` (UTC), one per day, so
an auditor can list a day's console activity by record id with the same
index as a message's timeline.  Decisions on held messages are not here:
they are `approved` / `rejected` events on the message's own record.

Event types are `console_*` strings.  EventType (gateway/audit/record.py)
has no member for them yet; the chain, query and verify code treat the type
as text, so the event is built with the string and typed as EventType at
this one place.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, cast

from gateway.audit import AuditEvent, AuditTrail, EventType
from gateway.queue import Writer

RECORD_PREFIX = "console-"


class ConsoleEvent(StrEnum):
    SIGNED_IN = "console_signed_in"
    SIGN_IN_FAILED = "console_sign_in_failed"
    SIGNED_OUT = "console_signed_out"
    EXPORTED = "console_exported"
    VERIFIED = "console_verified"


def record_id_for(at: datetime) -> str:
    return f"{RECORD_PREFIX}{at.astimezone(UTC):%Y-%m-%d}"


def _event_type(kind: ConsoleEvent) -> EventType:
    # A known member when the audit module grows one of this name, else the
    # string itself (see the module docstring).
    try:
        return EventType(kind.value)
    except ValueError:
        return cast(EventType, kind)


class Activity:
    def __init__(
        self, writer: Writer, trail: AuditTrail, now: Callable[[], datetime]
    ) -> None:
        self.writer = writer
        self.trail = trail
        self.now = now

    async def record(self, kind: ConsoleEvent, **detail: Any) -> None:
        """Append one console event durably (returns after the commit)."""
        at = self.now()
        event = AuditEvent(_event_type(kind), at, {k: v for k, v in detail.items()
                                                   if v is not None})
        await self.writer.submit(self.trail.events_op(record_id_for(at), [event]))
