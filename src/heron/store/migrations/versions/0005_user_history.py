"""per-user history index of raw events and purchases, built behind ingest

Revision ID: 0005
Revises: 0001
Create Date: 2026-11-22 10:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision (existing raw rows are indexed by the first passes after it)."""
    op.create_table(
        "user_history",
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.Integer(), nullable=False),
        sa.Column("time_ms", sa.BigInteger(), nullable=False),
        sa.Column("row_id", sa.BigInteger(), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("user_id", "kind", "time_ms", "row_id", name="pk_user_history"),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "user_history_state",
        sa.Column("kind", sa.Integer(), nullable=False),
        sa.Column("indexed_upto", sa.BigInteger(), nullable=False),
        sa.Column("pass_upto", sa.BigInteger(), nullable=False),
        sa.Column("user_done", sa.BigInteger(), nullable=False),
        sa.Column("user_last", sa.BigInteger(), nullable=False),
        sa.Column("user_span", sa.BigInteger(), nullable=False),
        sa.Column("passed_at_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("kind", name="pk_user_history_state"),
    )
    state = sa.table(
        "user_history_state",
        *(
            sa.column(name)
            for name in (
                "kind",
                "indexed_upto",
                "pass_upto",
                "user_done",
                "user_last",
                "user_span",
                "passed_at_ms",
            )
        ),
    )
    op.bulk_insert(
        state,
        [
            {
                "kind": kind,
                "indexed_upto": 0,
                "pass_upto": 0,
                "user_done": 0,
                "user_last": -1,
                "user_span": 1,
                "passed_at_ms": 0,
            }
            for kind in (1, 2)
        ],
    )


def downgrade() -> None:
    """Revert this revision."""
    op.drop_table("user_history_state")
    op.drop_table("user_history")
