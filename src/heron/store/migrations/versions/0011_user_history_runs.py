"""per-user history as sorted runs merged in tiers (an LSM layout) instead of one sorted index

Revision ID: 0011
Revises: 0005
Create Date: 2026-11-22 14:00:00.000000

The rows already indexed become one run per kind (run id 4 + kind, the level its size gives);
a pass in progress is simply forgotten: its rows past `indexed_upto` are indexed again by the
first pass after the upgrade, and rows of it already in the old index are dropped first.
"""

from __future__ import annotations

import math

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0005"
branch_labels = None
depends_on = None

# heron.users.history_index's tiers at the time of this revision (a migration must not import
# code that later revisions may change)
FANOUT = 10
BASE_RUN_ROWS = 20_000


def _level(rows: int) -> int:
    """The tier of a run of `rows` rows."""
    if rows < BASE_RUN_ROWS * FANOUT:
        return 0
    return int(math.log(rows / BASE_RUN_ROWS, FANOUT))


def upgrade() -> None:
    """Rebuild user_history keyed by run first; add user_history_runs; simplify the state."""
    bind = op.get_bind()
    marks = {
        int(kind): int(upto)
        for kind, upto in bind.execute(sa.text("SELECT kind, indexed_upto FROM user_history_state"))
    }
    op.create_table(
        "user_history_runs",
        sa.Column("run", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.Integer(), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("rows", sa.BigInteger(), nullable=False),
        sa.Column("merging_into", sa.BigInteger(), nullable=True),
        sa.Column("user_done", sa.BigInteger(), nullable=True),
        sa.Column("user_last", sa.BigInteger(), nullable=True),
        sa.Column("user_span", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("run", name="pk_user_history_runs"),
    )
    op.create_table(
        "user_history_new",
        sa.Column("run", sa.BigInteger(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.Integer(), nullable=False),
        sa.Column("time_ms", sa.BigInteger(), nullable=False),
        sa.Column("row_id", sa.BigInteger(), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(
            "run", "user_id", "kind", "time_ms", "row_id", name="pk_user_history_new"
        ),
        sqlite_with_rowid=False,
    )
    for kind, upto in marks.items():
        run = 4 + kind
        rows = bind.execute(
            sa.text(
                "INSERT INTO user_history_new (run, user_id, kind, time_ms, row_id, item_id) "
                "SELECT :run, user_id, kind, time_ms, row_id, item_id FROM user_history "
                "WHERE kind = :kind AND row_id <= :upto ORDER BY user_id, kind, time_ms, row_id"
            ),
            {"run": run, "kind": kind, "upto": upto},
        ).rowcount
        if rows > 0:
            bind.execute(
                sa.text(
                    "INSERT INTO user_history_runs (run, kind, level, rows) "
                    "VALUES (:run, :kind, :level, :rows)"
                ),
                {"run": run, "kind": kind, "level": _level(rows), "rows": rows},
            )
    op.drop_table("user_history")
    op.rename_table("user_history_new", "user_history")
    if bind.dialect.name == "postgresql":
        op.execute(
            "ALTER TABLE user_history RENAME CONSTRAINT pk_user_history_new TO pk_user_history"
        )
    with op.batch_alter_table("user_history_state") as batch:
        batch.drop_column("pass_upto")
        batch.drop_column("user_done")
        batch.drop_column("user_last")
        batch.drop_column("user_span")
        batch.add_column(sa.Column("next_run", sa.BigInteger(), nullable=False, server_default="2"))


def downgrade() -> None:
    """Back to one index sorted by user (runs flattened; the pass columns reset)."""
    bind = op.get_bind()
    op.create_table(
        "user_history_old",
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.Integer(), nullable=False),
        sa.Column("time_ms", sa.BigInteger(), nullable=False),
        sa.Column("row_id", sa.BigInteger(), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("user_id", "kind", "time_ms", "row_id", name="pk_user_history_old"),
        sqlite_with_rowid=False,
    )
    bind.execute(
        sa.text(
            "INSERT INTO user_history_old (user_id, kind, time_ms, row_id, item_id) "
            "SELECT user_id, kind, time_ms, row_id, item_id FROM user_history "
            "ORDER BY user_id, kind, time_ms, row_id"
        )
    )
    op.drop_table("user_history")
    op.rename_table("user_history_old", "user_history")
    if bind.dialect.name == "postgresql":
        op.execute(
            "ALTER TABLE user_history RENAME CONSTRAINT pk_user_history_old TO pk_user_history"
        )
    op.drop_table("user_history_runs")
    with op.batch_alter_table("user_history_state") as batch:
        batch.drop_column("next_run")
        batch.add_column(
            sa.Column("pass_upto", sa.BigInteger(), nullable=False, server_default="0")
        )
        batch.add_column(
            sa.Column("user_done", sa.BigInteger(), nullable=False, server_default="0")
        )
        batch.add_column(
            sa.Column("user_last", sa.BigInteger(), nullable=False, server_default="-1")
        )
        batch.add_column(
            sa.Column("user_span", sa.BigInteger(), nullable=False, server_default="1")
        )
    bind.execute(sa.text("UPDATE user_history_state SET pass_upto = indexed_upto"))
