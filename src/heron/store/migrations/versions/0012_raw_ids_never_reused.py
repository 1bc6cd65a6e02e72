"""SQLite: raw event and purchase ids are never reused (AUTOINCREMENT)

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-22 15:00:00.000000

Without AUTOINCREMENT SQLite gives a new row max(id) + 1, so deleting the newest rows (a user
delete, a catalog purge) hands their ids out again, below the id watermarks of the history
indexer and the segment evaluator, which then never see the new rows. SQLite cannot add
AUTOINCREMENT to a table, so both tables are rebuilt (rows, ids and order kept) and the
sequence starts above every id a watermark has passed. PostgreSQL sequences never reuse ids:
nothing to do there.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

_TABLES = {
    "events": (
        "id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT, workspace_id INTEGER NOT NULL, "
        "user_id BIGINT NOT NULL, event_id INTEGER NOT NULL, app_id INTEGER, "
        "time_ms BIGINT NOT NULL, properties TEXT",
        "id, workspace_id, user_id, event_id, app_id, time_ms, properties",
    ),
    "purchases": (
        "id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT, workspace_id INTEGER NOT NULL, "
        "user_id BIGINT NOT NULL, product_id INTEGER NOT NULL, app_id INTEGER, "
        "currency VARCHAR(3) NOT NULL, price FLOAT NOT NULL, quantity INTEGER NOT NULL, "
        "time_ms BIGINT NOT NULL, properties TEXT",
        "id, workspace_id, user_id, product_id, app_id, currency, price, quantity, time_ms, "
        "properties",
    ),
}
_KIND = {"events": 1, "purchases": 2}  # user_history_state.kind


def _passed(bind: sa.engine.Connection, table: str) -> int:
    """The highest id any watermark has passed for this table (0 if none)."""
    found = [
        bind.execute(
            sa.text("SELECT indexed_upto FROM user_history_state WHERE kind = :k"),
            {"k": _KIND[table]},
        ).scalar()
    ]
    if sa.inspect(bind).has_table("segment_progress"):
        found.append(
            bind.execute(
                sa.text("SELECT max(value) FROM segment_progress WHERE name = :n"),
                {"n": table},
            ).scalar()
        )
    return max(int(value or 0) for value in found)


def upgrade() -> None:
    """Rebuild events and purchases with AUTOINCREMENT on SQLite."""
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        return
    for table, (columns, names) in _TABLES.items():
        op.execute(f"CREATE TABLE {table}_new ({columns})")
        op.execute(f"INSERT INTO {table}_new ({names}) SELECT {names} FROM {table} ORDER BY id")
        op.execute(f"DROP TABLE {table}")
        op.execute(f"ALTER TABLE {table}_new RENAME TO {table}")
        floor = _passed(bind, table)
        # the sequence must start above ids a watermark passed, even if their rows are gone
        op.execute(
            sa.text(
                "UPDATE sqlite_sequence SET seq = max(seq, :floor) WHERE name = :name"
            ).bindparams(floor=floor, name=table)
        )
        op.execute(
            sa.text(
                "INSERT INTO sqlite_sequence (name, seq) SELECT :name, :floor "
                "WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = :name)"
            ).bindparams(floor=floor, name=table)
        )


def downgrade() -> None:
    """Rebuild the tables without AUTOINCREMENT (SQLite)."""
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        return
    for table, (columns, names) in _TABLES.items():
        plain = columns.replace(" AUTOINCREMENT", "")
        op.execute(f"CREATE TABLE {table}_old ({plain})")
        op.execute(f"INSERT INTO {table}_old ({names}) SELECT {names} FROM {table} ORDER BY id")
        op.execute(f"DROP TABLE {table}")
        op.execute(f"ALTER TABLE {table}_old RENAME TO {table}")
