"""per-workspace rate-limit overrides

Revision ID: 0004
Revises: 0001
Create Date: 2026-11-23 09:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "rate_limits",
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("bucket", sa.String(length=64), nullable=False),
        sa.Column("max_requests", sa.Integer(), nullable=False),
        sa.Column("period_seconds", sa.Integer(), nullable=False),
        sa.Column("updated_at_ms", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_rate_limits_workspace_id_workspaces"),
        ),
        sa.PrimaryKeyConstraint("workspace_id", "bucket", name=op.f("pk_rate_limits")),
    )


def downgrade() -> None:
    """Revert this revision."""
    op.drop_table("rate_limits")
