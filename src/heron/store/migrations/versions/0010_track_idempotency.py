"""Idempotency-Key ledger for /users/track

Revision ID: 0010
Revises: 0001
Create Date: 2026-11-22 11:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "track_idempotency",
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("idempotency_key", sa.String(length=255), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("response", sa.LargeBinary(), nullable=False),
        sa.Column("created_at_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("workspace_id", "idempotency_key", name="pk_track_idempotency"),
    )
    op.create_index("ix_track_idempotency_created_at_ms", "track_idempotency", ["created_at_ms"])


def downgrade() -> None:
    """Revert this revision."""
    op.drop_index("ix_track_idempotency_created_at_ms", table_name="track_idempotency")
    op.drop_table("track_idempotency")
