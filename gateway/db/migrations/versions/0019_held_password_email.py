"""held password email: a released password stays sealed until its email is delivered

Revision ID: 0019
Revises: 0018

A password released on receipt (or to the sender) went into a queued email
and its row was marked released, its ciphertext destroyed, at once: when
that email then bounced or expired in the queue, the password was gone and
nobody was told.  Now the row waits in the new state `queued`, sealed,
naming the email in `release_queue_id`; the delivery worker finishes it
(released, ciphertext destroyed) once that email is delivered, or holds it
again once it failed for good.

Downgrade: the code before this knows no `queued` row, and released a
password the moment its email was queued; such rows become what it would
have made of them (released, ciphertext destroyed), their email still in
the queue.  The column goes.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("held_passwords", sa.Column("release_queue_id", sa.String(32), nullable=True))
    op.create_index("ix_held_passwords_release", "held_passwords", ["release_queue_id"])


def downgrade() -> None:
    op.execute("UPDATE held_passwords SET state = 'released', ciphertext = NULL "
               "WHERE state = 'queued'")
    op.drop_index("ix_held_passwords_release", table_name="held_passwords")
    # SQLite (3.35 and later) and PostgreSQL both drop a column in place.
    op.execute("ALTER TABLE held_passwords DROP COLUMN release_queue_id")
