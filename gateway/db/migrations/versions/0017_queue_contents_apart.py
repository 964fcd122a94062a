"""queue contents apart: a queued message's content moves to queue_contents

Revision ID: 0017
Revises: 0016

SQLite stores a row as one record and rewrites all of it on any UPDATE.
With the content in queue_messages, every change of a message's state (its
claim, a deferral, its delivery) read the content, built a new record with
it and wrote every page of it again: for a 25 MB message about 80 MB of
SQLite's memory and 200 ms on the connection's thread each time, and 25 MB
more in the write-ahead log.  (PostgreSQL keeps a large value out of line
and does not copy it when other columns change; it gets the same layout, so
the code has one.)

queue_contents holds one row per message that still has something to send,
`content` its last column: a large content is inserted as a zeroblob and
filled piece by piece, and SQLite builds a zeroblob that ends its record
without its zeros (one in the middle it builds whole, twice).  A finished
message's content was emptied in place; now its row is deleted.  Rows go
with their message (ON DELETE CASCADE, and the code deletes them first).

Upgrade copies every non-empty content and drops the old column; downgrade
puts them back.  On PostgreSQL gateway_app gets the queue's rights on the
new table, as 0002 gave them on queue_messages.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "queue_contents",
        sa.Column("message_id", sa.String(32), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["message_id"], ["queue_messages.id"], ondelete="CASCADE",
            name="fk_queue_contents_message_id_queue_messages",
        ),
        sa.PrimaryKeyConstraint("message_id", name="pk_queue_contents"),
    )
    op.execute(
        "INSERT INTO queue_contents (message_id, content) "
        "SELECT id, content FROM queue_messages WHERE length(content) > 0"
    )
    # SQLite (3.35 and later) and PostgreSQL both drop a column in place.
    op.execute("ALTER TABLE queue_messages DROP COLUMN content")
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            """
            DO $$
            BEGIN
                IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'gateway_app') THEN
                    GRANT SELECT, INSERT, UPDATE, DELETE ON queue_contents TO gateway_app;
                END IF;
            END
            $$
            """
        )


def downgrade() -> None:
    column = ("BYTEA NOT NULL DEFAULT ''::bytea" if op.get_bind().dialect.name == "postgresql"
              else "BLOB NOT NULL DEFAULT x''")
    op.execute(f"ALTER TABLE queue_messages ADD COLUMN content {column}")
    op.execute(
        "UPDATE queue_messages SET content = (SELECT c.content FROM queue_contents c "
        "WHERE c.message_id = queue_messages.id) "
        "WHERE id IN (SELECT message_id FROM queue_contents)"
    )
    op.drop_table("queue_contents")
