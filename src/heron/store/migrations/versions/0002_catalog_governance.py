"""catalog governance: blocklist/trash times; descriptions and tags for products

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 10:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision."""
    for table in ("custom_events", "custom_attributes"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("blocklisted_at_ms", sa.BigInteger(), nullable=True))
            batch.add_column(sa.Column("trashed_at_ms", sa.BigInteger(), nullable=True))
    with op.batch_alter_table("products") as batch:
        batch.add_column(sa.Column("description", sa.Text(), server_default="", nullable=False))
        batch.add_column(sa.Column("tags", sa.Text(), server_default="[]", nullable=False))
        batch.add_column(sa.Column("blocklisted_at_ms", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table("products") as batch:
        batch.drop_column("blocklisted_at_ms")
        batch.drop_column("tags")
        batch.drop_column("description")
    for table in ("custom_attributes", "custom_events"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("trashed_at_ms")
            batch.drop_column("blocklisted_at_ms")
