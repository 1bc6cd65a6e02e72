"""per-workspace identity generation (user merge, identify, delete invalidate ingest caches)

Revision ID: 0006
Revises: 0001
Create Date: 2026-11-22 12:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision."""
    with op.batch_alter_table("workspaces") as batch:
        batch.add_column(
            sa.Column("identity_generation", sa.BigInteger(), nullable=False, server_default="0")
        )


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table("workspaces") as batch:
        batch.drop_column("identity_generation")
