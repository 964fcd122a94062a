"""Database schema and engine: SQLite (embedded default) or PostgreSQL.

The schema is SQLAlchemy Core metadata; Alembic migrations under
`gateway/db/migrations` create it (`gateway db upgrade`).  SQLite runs in WAL
mode with `synchronous=FULL`, so a commit is on disk before the gateway says
250; PostgreSQL commits are durable by default.
"""

from __future__ import annotations

from gateway.db.engine import create_engine, dialect_of, is_postgres
from gateway.db.schema import (
    audit_checkpoints,
    audit_events,
    audit_records,
    metadata,
    queue_contents,
    queue_messages,
    queue_recipients,
)

__all__ = [
    "audit_checkpoints",
    "audit_events",
    "audit_records",
    "create_engine",
    "dialect_of",
    "is_postgres",
    "metadata",
    "queue_contents",
    "queue_messages",
    "queue_recipients",
]
