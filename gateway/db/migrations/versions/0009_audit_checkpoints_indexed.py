"""audit checkpoints indexed: the chain's head is read in constant time

Revision ID: 0009
Revises: 0008

Every transaction that appends to the trail reads the chain's head first:
the last record, the last event, and the last `cut` checkpoint (where a
purge left the chain, gateway.audit.trail).  The first two are primary-key
lookups; audit_checkpoints had no index but its id, so the last cut was
found by reading every checkpoint there is.  There is one every
[audit] checkpoint_every chain rows (1,000 by default), and a purge keeps
them: a trail of a few years holds tens of thousands.  At 100,000 that read
took 7 ms on PostgreSQL, in every batch of the Writer and under the lock
that serialises the chain's writers, so it bounded every gateway sharing
the database to about 140 batches a second; SQLite's took as long.  An
index on (kind, seq) makes it one index probe at any size (the query binds
`kind` as a parameter, which a partial index on `kind = 'cut'` would not
serve on SQLite).  `gateway audit purge`'s search for the last cut uses it
too.  Building it reads the table once, milliseconds at that size.
"""

from __future__ import annotations

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_audit_checkpoints_kind_seq", "audit_checkpoints", ["kind", "seq"])


def downgrade() -> None:
    op.drop_index("ix_audit_checkpoints_kind_seq", table_name="audit_checkpoints")
