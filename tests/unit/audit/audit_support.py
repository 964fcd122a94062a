"""Record factories for the audit tests (imported by their conftest and by
the test modules; a module of its own, since `conftest` is a name every
test folder has)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from itertools import count
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.audit import (
    AuditAttachment,
    AuditEvent,
    AuditReason,
    AuditRecipient,
    AuditRecord,
    EventType,
)

AUDIT_TABLES = ("audit_records", "audit_events", "audit_record_terms", "audit_checkpoints")
T0 = datetime(2026, 3, 2, 9, 30, 0, 123456, tzinfo=UTC)
_ids = count(1)


def make_record(
    id: str | None = None,
    received_at: datetime = T0,
    sender: str = "Alice.Smith@council.example",
    recipients: tuple[AuditRecipient, ...] | None = None,
    verdict: str = "protect",
    information_types: tuple[str, ...] = ("uk_nhs_number", "date_of_birth"),
    reasons: tuple[AuditReason, ...] | None = None,
    purpose: str | None = "Child protection case conference",
    marking: str | None = "OFFICIAL-SENSITIVE",
) -> AuditRecord:
    return AuditRecord(
        id=id or f"rec{next(_ids):06d}",
        message_id="<abc123@council.example>",
        received_at=received_at,
        sender=sender,
        recipients=recipients if recipients is not None else (
            AuditRecipient("Dr.Jones@nhs.example", "Dr Rhys Jones", "Named GP for safeguarding",
                           "Safeguarding", "Riverside NHS Trust", "01632 960001",
                           listed_as="dr.jones@nhs.example"),
        ),
        subject="Private and Confidential: case conference",
        verdict=verdict,
        reasons=reasons if reasons is not None else (
            AuditReason("unencrypted_attachment", "report.docx is not encrypted"),
        ),
        purpose=purpose,
        consent="Share with the GP only",
        authorised_by="J Patel, Team Manager",
        information_types=information_types,
        marking=marking,
        method="email, AES-256 zip, password released on receipt by separate email",
        attachments=(AuditAttachment("report.zip", "application/zip", "aes-256", True),),
        queue_id="Q1",
    )


def life(record: AuditRecord) -> list[AuditEvent]:
    at = record.received_at
    return [
        AuditEvent(EventType.RECEIVED, at, {"size": 2048}),
        AuditEvent(EventType.PASSWORD_HELD, at + timedelta(milliseconds=5)),
        AuditEvent(EventType.QUEUED, at + timedelta(milliseconds=10), {"queue_id": record.id}),
    ]


def owner_tamper(engine: AsyncEngine) -> Callable[..., Awaitable[None]]:
    """Run SQL with the append-only triggers out of the way (what a database
    owner or superuser could do): PostgreSQL replica mode, SQLite dropped
    triggers, made again as they were afterwards (as an attacker covering
    their tracks would: verify names a trigger missing)."""

    async def run(*statements: str, **params: Any) -> None:
        async with engine.begin() as conn:
            restore: list[str] = []
            if conn.dialect.name == "postgresql":
                await conn.execute(text("SET LOCAL session_replication_role = replica"))
            else:
                for table in AUDIT_TABLES:
                    for kind in ("update", "delete"):
                        made = (await conn.execute(text(
                            "SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = :n"
                        ), {"n": f"{table}_no_{kind}"})).scalar()
                        if made is not None:
                            restore.append(str(made))
                        await conn.execute(text(f"DROP TRIGGER IF EXISTS {table}_no_{kind}"))
            for statement in statements:
                await conn.execute(text(statement), params)
            for made in restore:
                await conn.execute(text(made))

    return run
