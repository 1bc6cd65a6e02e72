"""daily KPIs: active user days, users' active ranges, daily counts

Revision ID: 0003
Revises: 0001
Create Date: 2026-11-23 12:00:00.000000

Existing raw rows are not counted here: run `heron.analytics.kpi.rebuild_kpis` per workspace
to count data stored before this revision.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "kpi_user_days",
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("app_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("day", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(
            "workspace_id", "app_id", "user_id", "day", name=op.f("pk_kpi_user_days")
        ),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "kpi_users",
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("app_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("first_day", sa.Integer(), nullable=False),
        sa.Column("last_day", sa.Integer(), nullable=False),
        sa.Column("prev_first_day", sa.Integer(), nullable=True),
        sa.Column("prev_last_day", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("workspace_id", "app_id", "user_id", name=op.f("pk_kpi_users")),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "kpi_daily",
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("app_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Integer(), nullable=False),
        sa.Column("dau", sa.BigInteger(), nullable=False),
        sa.Column("new_users", sa.BigInteger(), nullable=False),
        sa.Column("mau_delta", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("workspace_id", "app_id", "day", name=op.f("pk_kpi_daily")),
        sqlite_with_rowid=False,
    )


def downgrade() -> None:
    """Revert this revision."""
    op.drop_table("kpi_daily")
    op.drop_table("kpi_users")
    op.drop_table("kpi_user_days")
