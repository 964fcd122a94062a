"""receipt requests: one row per recipient whose receipts were requested

Revision ID: 0004
Revises: 0003
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "receipt_requests",
        sa.Column("queue_id", sa.String(32), nullable=False),
        sa.Column("idx", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("recipient", sa.Text(), nullable=False),
        sa.Column("route", sa.String(100), nullable=False),
        sa.Column("sender", sa.Text(), nullable=False),
        sa.Column("message_id", sa.Text(), nullable=True),
        sa.Column("name", sa.Text(), nullable=True),
        sa.Column("telephone", sa.Text(), nullable=True),
        sa.Column("sender_notify", sa.String(100), nullable=True),
        sa.Column("sender_orcpt", sa.Text(), nullable=True),
        sa.Column("sender_envid", sa.Text(), nullable=True),
        sa.Column("sender_mdn", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("relayed_at", sa.Float(), nullable=True),
        sa.Column("delivered_at", sa.Float(), nullable=True),
        sa.Column("read_at", sa.Float(), nullable=True),
        sa.Column("failed_at", sa.Float(), nullable=True),
        sa.Column("timeout_at", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("queue_id", "idx", name="pk_receipt_requests"),
    )
    op.create_index("ix_receipt_requests_due", "receipt_requests", ["timeout_at", "relayed_at"])
    op.create_index("ix_receipt_requests_message_id", "receipt_requests", ["message_id"])


def downgrade() -> None:
    op.drop_index("ix_receipt_requests_message_id", table_name="receipt_requests")
    op.drop_index("ix_receipt_requests_due", table_name="receipt_requests")
    op.drop_table("receipt_requests")
