"""receipts waiting indexed: the timeout sweep reads only what still waits

Revision ID: 0010
Revises: 0009

Every [receipts] check_interval the receipts desk looks for recipients
whose receipt is overdue: relayed before the deadline, with no receipt of
any kind and no timeout yet (gateway.receipts.desk).  Rows stay after
their receipt comes in, so the index it had, on (timeout_at, relayed_at),
held every confirmed request ever made under `timeout_at IS NULL`, and the
sweep read them all to find none: 60 ms at 500,000 confirmed requests, a
writer transaction on SQLite's event loop, every minute, growing with the
trail.  A partial index on relayed_at holding only the requests that
still wait is read from its start, up to the deadline.  It replaces the
old index, which served nothing else.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

# The sweep's own conditions, word for word: SQLite uses a partial index
# only for a query whose WHERE clause names each of its terms.
WAITING = "timeout_at IS NULL AND delivered_at IS NULL AND read_at IS NULL AND failed_at IS NULL"


def upgrade() -> None:
    op.create_index("ix_receipt_requests_waiting", "receipt_requests", ["relayed_at"],
                    sqlite_where=sa.text(WAITING), postgresql_where=sa.text(WAITING))
    op.drop_index("ix_receipt_requests_due", table_name="receipt_requests")


def downgrade() -> None:
    op.create_index("ix_receipt_requests_due", "receipt_requests", ["timeout_at", "relayed_at"])
    op.drop_index("ix_receipt_requests_waiting", table_name="receipt_requests")
