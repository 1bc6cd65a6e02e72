"""per-local-day event and purchase rollups, filled from the hourly rollups

Revision ID: 0009
Revises: 0001
Create Date: 2026-11-22 12:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision: create the daily tables, then fold every workspace's hourly rows."""
    op.create_table(
        "event_rollups_daily",
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("app_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.BigInteger(), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(
            "workspace_id", "event_id", "app_id", "day", name=op.f("pk_event_rollups_daily")
        ),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "purchase_rollups_daily",
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("product_id", sa.Integer(), nullable=False),
        sa.Column("app_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.BigInteger(), nullable=False),
        sa.Column("purchases", sa.BigInteger(), nullable=False),
        sa.Column("quantity", sa.BigInteger(), nullable=False),
        sa.Column("revenue", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint(
            "workspace_id", "product_id", "app_id", "day", name=op.f("pk_purchase_rollups_daily")
        ),
        sqlite_with_rowid=False,
    )
    # Existing data: the same fold a time-zone change runs (heron.analytics.dayrollups).
    from heron.analytics.dayrollups import rebuild_all_days

    rebuild_all_days(op.get_bind())


def downgrade() -> None:
    """Revert this revision."""
    op.drop_table("purchase_rollups_daily")
    op.drop_table("event_rollups_daily")
