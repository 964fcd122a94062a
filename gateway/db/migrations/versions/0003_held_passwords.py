"""held passwords: one row per recipient, sealed by the password vault

Revision ID: 0003
Revises: 0002
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "held_passwords",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("queue_id", sa.String(32), nullable=False),
        sa.Column("audit_id", sa.String(32), nullable=True),
        sa.Column("sender", sa.Text(), nullable=True),
        sa.Column("recipient", sa.Text(), nullable=False),
        sa.Column("ciphertext", sa.LargeBinary(), nullable=True),
        sa.Column("key_id", sa.String(16), nullable=True),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("released_at", sa.Float(), nullable=True),
        sa.Column("released_how", sa.String(32), nullable=True),
        sa.Column("released_to", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_held_passwords"),
    )
    op.create_index("ix_held_passwords_queue", "held_passwords", ["queue_id", "recipient"])
    op.create_index("ix_held_passwords_due", "held_passwords", ["state", "expires_at"])
    # 0002's default privileges already give gateway_app full use of tables
    # created later by the same role; nothing else may read the ciphertexts.
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            """
            DO $$
            BEGIN
                IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'gateway_auditor') THEN
                    REVOKE ALL ON held_passwords FROM gateway_auditor;
                END IF;
            END
            $$
            """
        )


def downgrade() -> None:
    op.drop_index("ix_held_passwords_due", table_name="held_passwords")
    op.drop_index("ix_held_passwords_queue", table_name="held_passwords")
    op.drop_table("held_passwords")
