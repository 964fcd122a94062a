"""The `receipt_requests` table: one row per (message, recipient) whose receipts
were requested.

The row is what a receipt is checked against and what it changes: who the
recipient at that index is, which route their mail took, the original
sender and what that sender asked for (their NOTIFY, ORCPT and ENVID, and
whether they wanted a read receipt), the Message-ID an MDN names, and the
allow-list's name and telephone for the sender's notices.  The `*_at`
columns (epoch seconds, like the queue's) record when the message was
relayed and when each kind of receipt first came in; a replayed receipt
finds its column already set and changes nothing.  `timeout_at` is set once
the sender has been told that no receipt came.  Created by migration 0004;
the timeout sweep's index is 0010's.
"""

from __future__ import annotations

from sqlalchemy import Boolean, Column, Float, Index, Integer, String, Table, Text, text

from gateway.db.schema import metadata

_WAITING = (
    "timeout_at IS NULL AND delivered_at IS NULL AND read_at IS NULL AND failed_at IS NULL"
)

receipt_requests = Table(
    "receipt_requests",
    metadata,
    Column("queue_id", String(32), primary_key=True),
    Column("idx", Integer, primary_key=True, autoincrement=False),
    Column("recipient", Text, nullable=False),
    Column("route", String(100), nullable=False),
    Column("sender", Text, nullable=False),
    Column("message_id", Text),
    Column("name", Text),
    Column("telephone", Text),
    Column("sender_notify", String(100)),
    Column("sender_orcpt", Text),
    Column("sender_envid", Text),
    Column("sender_mdn", Boolean, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("relayed_at", Float),
    Column("delivered_at", Float),
    Column("read_at", Float),
    Column("failed_at", Float),
    Column("timeout_at", Float),
    # The timeout sweep's: only the requests still waiting for a receipt
    # (migration 0010; the sweep's WHERE clause names each term).
    Index(
        "ix_receipt_requests_waiting",
        "relayed_at",
        sqlite_where=text(_WAITING),
        postgresql_where=text(_WAITING),
    ),
    Index("ix_receipt_requests_message_id", "message_id"),
)
