"""KPI pairs being folded, a key range at a time (SQLite ingest)

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-23 08:00:00.000000

`heron.analytics.kpi` takes a batch of `kpi_pending` into `kpi_folding` (once per pair, in key
order) and folds it into the KPI tables a key range per transaction, so that big batches,
which share `kpi_users` pages best, never hold the write lock for long.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "kpi_folding",
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("app_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("day", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(
            "workspace_id", "app_id", "user_id", "day", name=op.f("pk_kpi_folding")
        ),
        sqlite_with_rowid=False,
    )


def downgrade() -> None:
    """Revert this revision; a batch being folded goes back to `kpi_pending`."""
    op.execute(
        "INSERT INTO kpi_pending (workspace_id, app_id, user_id, day) "
        "SELECT workspace_id, app_id, user_id, day FROM kpi_folding"
    )
    op.drop_table("kpi_folding")
