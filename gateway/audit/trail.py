"""Writing the audit trail: append-only rows in a hash chain.

Each row stores the hash of its own canonical content and of the row before
it (`prev_hash`), so editing, deleting or inserting a row breaks the chain.
Writes are operations run inside the queue's transaction (the record is
committed with the queue change it describes).  On PostgreSQL a transaction
advisory lock serialises chain appends across processes sharing a database;
on SQLite the single writer already does.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from sqlalchemy import Table, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.audit.record import AuditEvent, AuditRecord
from gateway.db import audit_events, audit_records

Operation = Callable[[AsyncConnection], Awaitable[Any]]

GENESIS = "0" * 64
_CHAIN_LOCK = 0x5EC5A7E  # pg_advisory_xact_lock key for chain appends


def canonical(data: dict[str, Any]) -> bytes:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def chain_hash(prev_hash: str, content: dict[str, Any]) -> str:
    return hashlib.sha256(prev_hash.encode() + b"\n" + canonical(content)).hexdigest()


def record_content(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "message_id": row["message_id"],
        "received_at": _iso(row["received_at"]),
        "sender": row["sender"],
        "verdict": row["verdict"],
        "document": row["document"],
    }


def event_content(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "record_id": row["record_id"],
        "at": _iso(row["at"]),
        "type": row["type"],
        "detail": row["detail"],
    }


def _iso(value: Any) -> str:
    # SQLite hands back naive datetimes; the chain must hash the same text
    # whichever database wrote or reads the row.
    text_value: str = value.isoformat() if hasattr(value, "isoformat") else str(value)
    return text_value.replace("+00:00", "")


async def _lock_chain(conn: AsyncConnection) -> None:
    if conn.dialect.name == "postgresql":
        await conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _CHAIN_LOCK})


async def _head(conn: AsyncConnection, table: Table) -> str:
    row = (
        await conn.execute(select(table.c.hash).order_by(table.c.seq.desc()).limit(1))
    ).first()
    return str(row[0]) if row else GENESIS


class AuditTrail:
    """Builds the operations that append to the trail."""

    def record_op(self, record: AuditRecord, events: Sequence[AuditEvent] = ()) -> Operation:
        async def write(conn: AsyncConnection) -> None:
            await _lock_chain(conn)
            row: dict[str, Any] = {
                "id": record.id,
                "message_id": record.message_id,
                "received_at": record.received_at,
                "sender": record.sender,
                "verdict": record.verdict,
                "document": json.dumps(record.document(), sort_keys=True, separators=(",", ":")),
            }
            prev = await _head(conn, audit_records)
            row["prev_hash"] = prev
            row["hash"] = chain_hash(prev, record_content(row))
            await conn.execute(audit_records.insert(), [row])
            await self._append_events(conn, record.id, events)

        return write

    def events_op(self, record_id: str, events: Sequence[AuditEvent]) -> Operation:
        async def write(conn: AsyncConnection) -> None:
            await _lock_chain(conn)
            await self._append_events(conn, record_id, events)

        return write

    async def _append_events(
        self, conn: AsyncConnection, record_id: str, events: Sequence[AuditEvent]
    ) -> None:
        if not events:
            return
        prev = await _head(conn, audit_events)
        rows = []
        for event in events:
            row: dict[str, Any] = {
                "record_id": record_id,
                "at": event.at,
                "type": event.type.value,
                "detail": json.dumps(event.detail, sort_keys=True, separators=(",", ":")),
            }
            row["prev_hash"] = prev
            row["hash"] = prev = chain_hash(prev, event_content(row))
            rows.append(row)
        await conn.execute(audit_events.insert(), rows)
