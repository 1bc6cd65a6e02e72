"""KPI pairs pending a batched fold (SQLite ingest)

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-22 23:10:00.000000

SQLite ingest groups append the (user, app, day) pairs their KPI filter does not know to
`kpi_pending`; `heron.analytics.kpi.fold_pending` moves them into the KPI tables in batches.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "kpi_pending",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("app_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("day", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kpi_pending")),
    )


def downgrade() -> None:
    """Revert this revision."""
    op.drop_table("kpi_pending")
