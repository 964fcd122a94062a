"""`gateway` with the audit trail switched off: bench/relay.py's `noaudit` scenario.

Issue #7 asks what writing the audit record costs the relay.  This runs the
very same `gateway` command line with the trail's writes replaced by nothing:
no audit record is built, and no record, event or search-term row is written
(the queue's own rows still are).  A benchmark aid only; the gateway itself
has no way to run without its trail.

    python bench/no_audit.py serve --config gateway.toml

With `NO_AUDIT_BUILD=1` in the environment the audit record and its rows are
still built (the record from the decision, its JSON, the hashed content,
in the Writer's batch as the trail builds them) and only the database
writes are left out: the difference from the full gateway is then what
writing the rows costs, the difference from plain `noaudit` what building
them costs.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.app import Gateway
from gateway.audit.record import AuditRecord
from gateway.audit.trail import AuditTrail, Operation, _pending_events, _PendingRecord
from gateway.cli import main


async def _nothing(conn: AsyncConnection) -> None:
    return None


def _no_record_op(self: AuditTrail, record: Any, events: Sequence[Any] = ()) -> Operation:
    return _nothing


def _no_events_op(self: AuditTrail, record_id: str, events: Sequence[Any]) -> Operation:
    return _nothing


def _no_record(self: Gateway, *args: Any) -> Any:
    return None


def _built_record_op(self: AuditTrail, record: Any, events: Sequence[Any] = ()) -> Operation:
    async def build(conn: AsyncConnection) -> None:
        # In the Writer's batch, where the trail builds its rows too.
        built = record if isinstance(record, AuditRecord) else record()
        _PendingRecord.of(built, events)

    return build


def _built_events_op(self: AuditTrail, record_id: str, events: Sequence[Any]) -> Operation:
    async def build(conn: AsyncConnection) -> None:
        _pending_events(record_id, events)

    return build


if os.environ.get("NO_AUDIT_BUILD"):
    AuditTrail.record_op = _built_record_op  # type: ignore[method-assign]
    AuditTrail.events_op = _built_events_op  # type: ignore[method-assign]
else:
    AuditTrail.record_op = _no_record_op  # type: ignore[method-assign]
    AuditTrail.events_op = _no_events_op  # type: ignore[method-assign]
    Gateway._audit_record = _no_record  # type: ignore[method-assign]

if __name__ == "__main__":
    sys.exit(main())
