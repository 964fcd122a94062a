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
    func,
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
# `lease_until` implement claiming (a crashed worker's lease runs out).  Its
# content is a row of `queue_contents` (migration 0017).
queue_messages = Table(
    "queue_messages",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("created_at", Float, nullable=False),
    Column("mail_from", Text, nullable=False),
    Column("envelope", Text, nullable=False),  # JSON: DSN parameters, peer, auth
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

# A queued message's content, apart from its state: SQLite rewrites a whole
# row on any UPDATE, so a claim, a deferral or a delivery of a 25 MB message
# held in its state row read, copied and wrote 25 MB again (about 80 MB of
# SQLite's memory and 200 ms on the writer).  The content is written once
# and deleted once; `content` is the last column, so a large one inserted as
# a zeroblob and filled with blob I/O is never built whole in memory
# (gateway.queue.store).  No row: nothing left to send (delivered, bounced,
# refused).
queue_contents = Table(
    "queue_contents",
    metadata,
    Column(
        "message_id",
        String(32),
        ForeignKey("queue_messages.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("content", LargeBinary, nullable=False),
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

# The audit trail (gateway/audit).  One hash chain runs through
# audit_records and audit_events: `seq` is the chain position, unique across
# both tables, assigned by the appender as head + 1 (not autoincrement) so the
# primary key itself refuses a fork and verify can name a missing position.
# Rows are append-only (triggers in migration 0002; PostgreSQL role
# gateway_app has INSERT/SELECT only).  Column meanings are documented for
# auditors through the views audit_records_v / audit_events_v.
_Seq = BigInteger().with_variant(Integer, "sqlite")

audit_records = Table(
    "audit_records",
    metadata,
    Column("seq", _Seq, primary_key=True, autoincrement=False),
    Column("id", String(32), nullable=False, unique=True),
    Column("message_id", Text),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Column("sender", Text, nullable=False),
    Column("verdict", String(16), nullable=False),
    Column("marking", Text),
    Column("purpose", Text),
    Column("terms", Text, nullable=False),  # the search terms below, hashed with the row
    Column("document", Text, nullable=False),  # the audit record JSON (DESIGN.md)
    # The events the record was written with (received, then queued, held
    # or rejected), hashed with the row: JSON [{"at", "detail", "type"}],
    # NULL on rows written before migration 0007.  Later events are rows of
    # audit_events.  audit_events_v shows both.
    Column("events", Text),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    Index("ix_audit_records_received_at", "received_at", "seq"),
)
# Sender search and the report's per-sender counts are case-insensitive.
Index("ix_audit_records_sender", func.lower(audit_records.c.sender))

audit_events = Table(
    "audit_events",
    metadata,
    Column("seq", _Seq, primary_key=True, autoincrement=False),
    Column("record_id", String(64), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("type", String(32), nullable=False),
    Column("detail", Text, nullable=False),  # JSON, never content or passwords
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    Index("ix_audit_events_record", "record_id", "type"),
)

# The search index of the multi-valued fields (recipient address,
# organisation, information type, reason) as written (`value`) and as matched
# (`key`: Python's casefold, so case-insensitive search does not depend on
# the database's lower(), which is ASCII-only on SQLite), with the record's
# received_at copied in so that "recipient X between dates" or "counts by type
# this quarter" is one index range.  Derived from the record at insert; verify
# compares it with the record's hashed `terms` column.
audit_record_terms = Table(
    "audit_record_terms",
    metadata,
    Column("record_seq", _Seq, primary_key=True, autoincrement=False),
    Column("field", String(16), primary_key=True),
    Column("value", Text, primary_key=True),
    Column("key", Text, nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Index("ix_audit_record_terms_lookup", "field", "key", "received_at", "record_seq"),
)

# Signed positions of the chain: `periodic` every [audit] checkpoint_every
# rows, `cut` where a purge removed everything up to `seq`, `manual` from
# `gateway audit checkpoint`.  signature = HMAC-SHA256 (hex) or NULL when no
# key was configured; key_id tells which key signed.
audit_checkpoints = Table(
    "audit_checkpoints",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("seq", BigInteger, nullable=False),
    Column("hash", String(64), nullable=False),
    Column("detail", Text, nullable=False),
    Column("key_id", String(16)),
    Column("signature", String(64)),
    # The chain's head read (every appending transaction) finds the last
    # `cut` here: one probe however many checkpoints there are (migration 0009).
    Index("ix_audit_checkpoints_kind_seq", "kind", "seq"),
)

# SQLite has no session settings: `gateway audit purge` inserts the one row
# here, deletes, and removes the row again in the same transaction; the
# append-only DELETE triggers let a delete through only while the row exists.
# (PostgreSQL uses SET LOCAL gateway.audit_purge = 'on' instead.)
audit_purge_guard = Table(
    "audit_purge_guard",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
)
