"""Tables.  Queue times are epoch seconds (float) so that SQLite and
PostgreSQL compare them the same way; audit times are timezone-aware."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
)

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# One row per accepted message.  `state` is a QueueState; `claimed_by` and
# `lease_until` implement claiming (a crashed worker's lease runs out).
queue_messages = Table(
    "queue_messages",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("created_at", Float, nullable=False),
    Column("mail_from", Text, nullable=False),
    Column("envelope", Text, nullable=False),  # JSON: DSN parameters, peer, auth
    Column("content", LargeBinary, nullable=False),
    Column("size", Integer, nullable=False),
    Column("state", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", Float, nullable=False),
    Column("claimed_by", String(200)),
    Column("lease_until", Float),
    Column("last_error", Text),
    Column("audit_id", String(32)),
    Column("updated_at", Float, nullable=False),
    Index("ix_queue_due", "state", "next_attempt_at"),
)

queue_recipients = Table(
    "queue_recipients",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column(
        "message_id",
        String(32),
        ForeignKey("queue_messages.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    Column("position", Integer, nullable=False),
    Column("address", Text, nullable=False),
    Column("state", String(16), nullable=False),  # pending | delivered | failed
    Column("route", String(100), nullable=False, default="upstream"),
    Column("notify", String(100)),
    Column("orcpt", Text),
    Column("last_code", Integer),
    Column("last_reply", Text),
)

# The audit trail.  Append-only: rows are only ever inserted; `seq` orders the
# hash chain across both tables.
audit_records = Table(
    "audit_records",
    metadata,
    Column("seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("id", String(32), nullable=False, unique=True),
    Column("message_id", Text),
    Column("received_at", DateTime(timezone=True), nullable=False, index=True),
    Column("sender", Text, nullable=False, index=True),
    Column("verdict", String(16), nullable=False),
    Column("document", Text, nullable=False),  # the audit record JSON
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
)

audit_events = Table(
    "audit_events",
    metadata,
    Column("seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("record_id", String(32), nullable=False, index=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("type", String(32), nullable=False, index=True),
    Column("detail", Text, nullable=False),  # JSON, never content or passwords
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
)

audit_checkpoints = Table(
    "audit_checkpoints",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("table_name", String(32), nullable=False),
    Column("seq", BigInteger, nullable=False),
    Column("hash", String(64), nullable=False),
    Column("signature", String(128), nullable=False),
)
