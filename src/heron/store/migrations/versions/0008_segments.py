"""segments: definitions, members, evaluator progress, daily sizes, tracked-segment rollups

Revision ID: 0008
Revises: 0001
Create Date: 2026-11-22 08:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0001"
branch_labels = None
depends_on = None

_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "segments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("segment_id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("description", sa.Text(), server_default="", nullable=False),
        sa.Column("tags", sa.Text(), server_default="[]", nullable=False),
        sa.Column("filter", sa.Text(), nullable=False),
        sa.Column("analytics_tracking", sa.Boolean(), server_default="0", nullable=False),
        sa.Column("tracking_events_after", sa.BigInteger(), nullable=True),
        sa.Column("tracking_purchases_after", sa.BigInteger(), nullable=True),
        sa.Column("archived", sa.Boolean(), server_default="0", nullable=False),
        sa.Column("size", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("backfill_after", sa.BigInteger(), nullable=True),
        sa.Column("created_at_ms", sa.BigInteger(), nullable=False),
        sa.Column("updated_at_ms", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"], ["workspaces.id"], name=op.f("fk_segments_workspace_id_workspaces")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_segments")),
        sa.UniqueConstraint("segment_id", name=op.f("uq_segments_segment_id")),
    )
    op.create_index(op.f("ix_segments_workspace_id"), "segments", ["workspace_id"])
    op.create_table(
        "segment_members",
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("segment_id", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("user_id", "segment_id", name=op.f("pk_segment_members")),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "segment_user_changes",
        sa.Column("id", _BIG_ID, nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_segment_user_changes")),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "segment_rechecks",
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("due_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_segment_rechecks")),
    )
    op.create_index(op.f("ix_segment_rechecks_due_ms"), "segment_rechecks", ["due_ms"])
    op.create_table(
        "segment_progress",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.Column("owner", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_segment_progress")),
    )
    op.create_table(
        "segment_daily_sizes",
        sa.Column("segment_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Integer(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("segment_id", "day", name=op.f("pk_segment_daily_sizes")),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "segment_event_rollups",
        sa.Column("segment_id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("app_id", sa.Integer(), nullable=False),
        sa.Column("bucket", sa.BigInteger(), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(
            "segment_id", "event_id", "app_id", "bucket", name=op.f("pk_segment_event_rollups")
        ),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "segment_purchase_rollups",
        sa.Column("segment_id", sa.Integer(), nullable=False),
        sa.Column("product_id", sa.Integer(), nullable=False),
        sa.Column("app_id", sa.Integer(), nullable=False),
        sa.Column("bucket", sa.BigInteger(), nullable=False),
        sa.Column("purchases", sa.BigInteger(), nullable=False),
        sa.Column("quantity", sa.BigInteger(), nullable=False),
        sa.Column("revenue", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint(
            "segment_id",
            "product_id",
            "app_id",
            "bucket",
            name=op.f("pk_segment_purchase_rollups"),
        ),
        sqlite_with_rowid=False,
    )


def downgrade() -> None:
    """Revert this revision."""
    for table in (
        "segment_purchase_rollups",
        "segment_event_rollups",
        "segment_daily_sizes",
        "segment_progress",
    ):
        op.drop_table(table)
    op.drop_index(op.f("ix_segment_rechecks_due_ms"), table_name="segment_rechecks")
    op.drop_table("segment_rechecks")
    op.drop_table("segment_user_changes")
    op.drop_table("segment_members")
    op.drop_index(op.f("ix_segments_workspace_id"), table_name="segments")
    op.drop_table("segments")
