"""campaigns, their sends and engagement, daily aggregates, user activity

Revision ID: 0007
Revises: 0001
Create Date: 2026-11-22 08:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0001"
branch_labels = None
depends_on = None

_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_NAME = sa.String(255).with_variant(sa.String(255, collation="C"), "postgresql")


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "campaigns",
        sa.Column("id", _BIG_ID, nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("api_id", sa.String(64), nullable=False),
        sa.Column("name", _NAME, nullable=False),
        sa.Column("archived", sa.Boolean(), server_default="0", nullable=False),
        sa.Column("definition", sa.Text(), nullable=False),
        sa.Column("created_at_ms", sa.BigInteger(), nullable=False),
        sa.Column("updated_at_ms", sa.BigInteger(), nullable=False),
        sa.Column("first_sent_ms", sa.BigInteger(), nullable=True),
        sa.Column("last_sent_ms", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["workspace_id"], ["workspaces.id"], name=op.f("fk_campaigns_workspace_id_workspaces")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaigns")),
        sa.UniqueConstraint("workspace_id", "api_id", name="uq_campaigns_workspace_api_id"),
    )
    op.create_index(
        "ix_campaigns_workspace_created", "campaigns", ["workspace_id", "created_at_ms"]
    )
    op.create_table(
        "campaign_receipts",
        sa.Column("id", _BIG_ID, nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.BigInteger(), nullable=False),
        sa.Column("variation_id", sa.Text(), nullable=False),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("time_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaign_receipts")),
    )
    op.create_index(
        "ix_campaign_receipts_campaign_time", "campaign_receipts", ["campaign_id", "time_ms"]
    )
    op.create_table(
        "campaign_engagements",
        sa.Column("id", _BIG_ID, nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.BigInteger(), nullable=False),
        sa.Column("variation_id", sa.Text(), nullable=False),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("time_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaign_engagements")),
    )
    op.create_index(
        "ix_campaign_engagements_campaign_kind_time",
        "campaign_engagements",
        ["campaign_id", "kind", "time_ms"],
    )
    keys = ["campaign_id", "variation_id", "channel", "day", "metric"]
    op.create_table(
        "campaign_daily",
        sa.Column("campaign_id", sa.BigInteger(), nullable=False),
        sa.Column("variation_id", sa.Text(), nullable=False),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("day", sa.Integer(), nullable=False),
        sa.Column("metric", sa.String(32), nullable=False),
        sa.Column("total", sa.BigInteger(), nullable=False),
        sa.Column("uniques", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(*keys, name=op.f("pk_campaign_daily")),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "campaign_daily_users",
        sa.Column("campaign_id", sa.BigInteger(), nullable=False),
        sa.Column("variation_id", sa.Text(), nullable=False),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("day", sa.Integer(), nullable=False),
        sa.Column("metric", sa.String(32), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(*keys, "user_id", name=op.f("pk_campaign_daily_users")),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "user_activity",
        sa.Column("id", _BIG_ID, nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("app_id", sa.Integer(), nullable=True),
        sa.Column("time_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_user_activity")),
    )
    op.create_index("ix_user_activity_user_time", "user_activity", ["user_id", "time_ms"])


def downgrade() -> None:
    """Revert this revision."""
    op.drop_index("ix_user_activity_user_time", table_name="user_activity")
    op.drop_table("user_activity")
    op.drop_table("campaign_daily_users")
    op.drop_table("campaign_daily")
    op.drop_index("ix_campaign_engagements_campaign_kind_time", table_name="campaign_engagements")
    op.drop_table("campaign_engagements")
    op.drop_index("ix_campaign_receipts_campaign_time", table_name="campaign_receipts")
    op.drop_table("campaign_receipts")
    op.drop_index("ix_campaigns_workspace_created", table_name="campaigns")
    op.drop_table("campaigns")
