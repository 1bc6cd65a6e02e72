"""Folding closed hours from the small `*_rollups_recent` tables into the large `*_hourly` ones.

Ingest only ever adds to the recent tables, so a commit touches a few dozen pages however much
history exists; this fold writes each closed (event, app, hour) once, in bulk. It moves rows
atomically: on PostgreSQL a `DELETE ... RETURNING` feeds the upsert in one statement, so a
concurrent ingest transaction can never add to a row between its copy and its deletion; on
SQLite the writer holds the database's only write lock.
"""

from __future__ import annotations

from sqlalchemy.engine import Connection

# Keep this many seconds of recent hours in the small tables (late events still land there).
KEEP_RECENT_SECONDS = 2 * 3600

_EVENT_COLUMNS = "workspace_id, event_id, app_id, hour"
_PURCHASE_COLUMNS = "workspace_id, product_id, app_id, hour"

_POSTGRES = (
    "WITH moved AS (DELETE FROM event_rollups_recent WHERE hour < %(before)s "
    f"RETURNING {_EVENT_COLUMNS}, count) "
    f"INSERT INTO event_rollups_hourly ({_EVENT_COLUMNS}, count) "
    f"SELECT {_EVENT_COLUMNS}, sum(count) FROM moved GROUP BY {_EVENT_COLUMNS} "
    f"ORDER BY {_EVENT_COLUMNS} "
    f"ON CONFLICT ({_EVENT_COLUMNS}) DO UPDATE SET count = event_rollups_hourly.count + "
    "excluded.count",
    "WITH moved AS (DELETE FROM purchase_rollups_recent WHERE hour < %(before)s "
    f"RETURNING {_PURCHASE_COLUMNS}, purchases, quantity, revenue) "
    f"INSERT INTO purchase_rollups_hourly ({_PURCHASE_COLUMNS}, purchases, quantity, revenue) "
    f"SELECT {_PURCHASE_COLUMNS}, sum(purchases), sum(quantity), sum(revenue) FROM moved "
    f"GROUP BY {_PURCHASE_COLUMNS} ORDER BY {_PURCHASE_COLUMNS} "
    f"ON CONFLICT ({_PURCHASE_COLUMNS}) DO UPDATE SET "
    "purchases = purchase_rollups_hourly.purchases + excluded.purchases, "
    "quantity = purchase_rollups_hourly.quantity + excluded.quantity, "
    "revenue = purchase_rollups_hourly.revenue + excluded.revenue",
)

_SQLITE = (
    f"INSERT INTO event_rollups_hourly ({_EVENT_COLUMNS}, count) "
    f"SELECT {_EVENT_COLUMNS}, count FROM event_rollups_recent WHERE hour < :before "
    f"ORDER BY {_EVENT_COLUMNS} "
    f"ON CONFLICT ({_EVENT_COLUMNS}) DO UPDATE SET count = event_rollups_hourly.count + "
    "excluded.count",
    "DELETE FROM event_rollups_recent WHERE hour < :before",
    f"INSERT INTO purchase_rollups_hourly ({_PURCHASE_COLUMNS}, purchases, quantity, revenue) "
    f"SELECT {_PURCHASE_COLUMNS}, purchases, quantity, revenue FROM purchase_rollups_recent "
    f"WHERE hour < :before ORDER BY {_PURCHASE_COLUMNS} "
    f"ON CONFLICT ({_PURCHASE_COLUMNS}) DO UPDATE SET "
    "purchases = purchase_rollups_hourly.purchases + excluded.purchases, "
    "quantity = purchase_rollups_hourly.quantity + excluded.quantity, "
    "revenue = purchase_rollups_hourly.revenue + excluded.revenue",
    "DELETE FROM purchase_rollups_recent WHERE hour < :before",
)


def compact(conn: Connection, before_hour: int) -> None:
    """Move every recent rollup row of an hour before `before_hour` into the hourly tables.

    Call inside a write transaction. `before_hour` of 2**62 folds everything (tests, rebuilds).
    """
    raw = conn.connection.driver_connection
    assert raw is not None
    cur = raw.cursor()
    try:
        if conn.dialect.name == "postgresql":
            for statement in _POSTGRES:
                cur.execute(statement, {"before": before_hour})
        else:
            for statement in _SQLITE:
                cur.execute(statement, {"before": before_hour})
    finally:
        cur.close()


def compact_all(conn: Connection) -> None:
    """Fold every recent row (used by tests and offline maintenance)."""
    compact(conn, 2**62)
