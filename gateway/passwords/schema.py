"""The `held_passwords` table: one row per (message, recipient).

One row per recipient, not per message, so that each recipient's password
can be released on that recipient's own receipt, exactly once, and its
release recorded (when, how, to which address).  `ciphertext` is the vault's
sealed blob; it becomes NULL when the password is released, expires or is
destroyed, so a row that is no longer `held` (or `releasing`, or `queued`:
its email not delivered yet) holds nothing to steal.  Times
are epoch seconds (float), like the queue's, so SQLite and PostgreSQL compare
them the same way.  Created by migration 0003; `release_queue_id` by 0019.
"""

from __future__ import annotations

from sqlalchemy import Column, Float, Index, LargeBinary, String, Table, Text

from gateway.db.schema import metadata

held_passwords = Table(
    "held_passwords",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("queue_id", String(32), nullable=False),
    Column("audit_id", String(32)),
    Column("sender", Text),
    Column("recipient", Text, nullable=False),
    Column("ciphertext", LargeBinary),  # NULL once released, expired or destroyed
    Column("key_id", String(16)),
    Column("created_at", Float, nullable=False),
    Column("expires_at", Float, nullable=False),
    Column("state", String(16), nullable=False),  # HeldState
    Column("released_at", Float),
    Column("released_how", String(32)),
    Column("released_to", Text),
    # The queued email that carries (or carried, or failed to carry) it:
    # set when a release queues one (migration 0019).
    Column("release_queue_id", String(32)),
    Index("ix_held_passwords_queue", "queue_id", "recipient"),
    Index("ix_held_passwords_due", "state", "expires_at"),
    Index("ix_held_passwords_release", "release_queue_id"),
)
