"""per-user history indexes on raw events and purchases

Revision ID: 0005
Revises: 0001
Create Date: 2026-11-22 10:00:00.000000
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_index("ix_events_user_time", "events", ["user_id", "time_ms"])
    op.create_index("ix_purchases_user_time", "purchases", ["user_id", "time_ms"])


def downgrade() -> None:
    """Revert this revision."""
    op.drop_index("ix_purchases_user_time", table_name="purchases")
    op.drop_index("ix_events_user_time", table_name="events")
