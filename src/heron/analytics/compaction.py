"""Folding closed hours from the small `*_rollups_recent` tables into the large `*_hourly` ones.

Ingest only ever adds to the recent tables, so a commit touches a few dozen pages however much
history exists; this fold writes each closed (event, app, hour) once, in bulk, and adds it to the
row of its local day in the `*_rollups_daily` tables (heron.analytics.dayrollups) in the same
transaction, so the daily rows always equal the hourly rows summed per day.

It moves rows atomically. On PostgreSQL one statement per kind deletes the recent rows of the
(workspace, hour) pairs whose day was computed and feeds both upserts (`DELETE ... USING ...
RETURNING`), so a row an ingest transaction adds meanwhile for a new pair simply waits for the
next fold; the fold first takes the rollup tables in ROW EXCLUSIVE mode, which waits for a
time-zone rebuild in progress (it holds them EXCLUSIVE) before the zones are read. On SQLite the
writer holds the database's only write lock.
"""

from __future__ import annotations

from sqlalchemy.engine import Connection

from heron.analytics import dayrollups
from heron.store.driver import raw_cursor

# Keep this many seconds of recent hours in the small tables (late events still land there).
KEEP_RECENT_SECONDS = 2 * 3600

_EVENT_COLUMNS = "workspace_id, event_id, app_id, hour"
_PURCHASE_COLUMNS = "workspace_id, product_id, app_id, hour"
_EVENT_DAYS = "workspace_id, event_id, app_id, day"
_PURCHASE_DAYS = "workspace_id, product_id, app_id, day"

# Waits for a zone rebuild (EXCLUSIVE) to commit; same table order as heron.analytics.rebuild.
_POSTGRES_LOCK = (
    "LOCK TABLE event_rollups_recent, event_rollups_hourly, event_rollups_daily,"
    " purchase_rollups_recent, purchase_rollups_hourly, purchase_rollups_daily"
    " IN ROW EXCLUSIVE MODE"
)
_PENDING = (
    "SELECT workspace_id, hour FROM event_rollups_recent WHERE hour < {before}"
    " UNION SELECT workspace_id, hour FROM purchase_rollups_recent WHERE hour < {before}"
)

_POSTGRES = (
    f"WITH moved AS (DELETE FROM event_rollups_recent AS r USING {dayrollups.POSTGRES_MAP} "
    "WHERE r.workspace_id = m.workspace_id AND r.hour = m.hour "
    "RETURNING r.workspace_id, r.event_id, r.app_id, r.hour, m.day, r.count), "
    f"hourly AS (INSERT INTO event_rollups_hourly ({_EVENT_COLUMNS}, count) "
    f"SELECT {_EVENT_COLUMNS}, sum(count) FROM moved GROUP BY {_EVENT_COLUMNS} "
    f"ORDER BY {_EVENT_COLUMNS} "
    f"ON CONFLICT ({_EVENT_COLUMNS}) DO UPDATE SET count = event_rollups_hourly.count + "
    "excluded.count) "
    f"INSERT INTO event_rollups_daily ({_EVENT_DAYS}, count) "
    f"SELECT {_EVENT_DAYS}, sum(count) FROM moved GROUP BY {_EVENT_DAYS} ORDER BY {_EVENT_DAYS} "
    f"ON CONFLICT ({_EVENT_DAYS}) DO UPDATE SET count = event_rollups_daily.count + "
    "excluded.count",
    f"WITH moved AS (DELETE FROM purchase_rollups_recent AS r USING {dayrollups.POSTGRES_MAP} "
    "WHERE r.workspace_id = m.workspace_id AND r.hour = m.hour "
    "RETURNING r.workspace_id, r.product_id, r.app_id, r.hour, m.day, "
    "r.purchases, r.quantity, r.revenue), "
    f"hourly AS (INSERT INTO purchase_rollups_hourly ({_PURCHASE_COLUMNS}, purchases, quantity, "
    f"revenue) SELECT {_PURCHASE_COLUMNS}, sum(purchases), sum(quantity), sum(revenue) FROM moved "
    f"GROUP BY {_PURCHASE_COLUMNS} ORDER BY {_PURCHASE_COLUMNS} "
    f"ON CONFLICT ({_PURCHASE_COLUMNS}) DO UPDATE SET "
    "purchases = purchase_rollups_hourly.purchases + excluded.purchases, "
    "quantity = purchase_rollups_hourly.quantity + excluded.quantity, "
    "revenue = purchase_rollups_hourly.revenue + excluded.revenue) "
    f"INSERT INTO purchase_rollups_daily ({_PURCHASE_DAYS}, purchases, quantity, revenue) "
    f"SELECT {_PURCHASE_DAYS}, sum(purchases), sum(quantity), sum(revenue) FROM moved "
    f"GROUP BY {_PURCHASE_DAYS} ORDER BY {_PURCHASE_DAYS} "
    f"ON CONFLICT ({_PURCHASE_DAYS}) DO UPDATE SET "
    "purchases = purchase_rollups_daily.purchases + excluded.purchases, "
    "quantity = purchase_rollups_daily.quantity + excluded.quantity, "
    "revenue = purchase_rollups_daily.revenue + excluded.revenue",
)

_SQLITE_MAP = dayrollups.SQLITE_MAP_TABLE
_SQLITE = (
    f"INSERT INTO event_rollups_daily ({_EVENT_DAYS}, count) "
    "SELECT r.workspace_id, r.event_id, r.app_id, m.day, sum(r.count) "
    f"FROM event_rollups_recent AS r JOIN {_SQLITE_MAP} AS m "
    "ON m.workspace_id = r.workspace_id AND m.hour = r.hour WHERE r.hour < :before "
    "GROUP BY r.workspace_id, r.event_id, r.app_id, m.day ORDER BY 1, 2, 3, 4 "
    f"ON CONFLICT ({_EVENT_DAYS}) DO UPDATE SET count = event_rollups_daily.count + "
    "excluded.count",
    f"INSERT INTO event_rollups_hourly ({_EVENT_COLUMNS}, count) "
    f"SELECT {_EVENT_COLUMNS}, count FROM event_rollups_recent WHERE hour < :before "
    f"ORDER BY {_EVENT_COLUMNS} "
    f"ON CONFLICT ({_EVENT_COLUMNS}) DO UPDATE SET count = event_rollups_hourly.count + "
    "excluded.count",
    "DELETE FROM event_rollups_recent WHERE hour < :before",
    f"INSERT INTO purchase_rollups_daily ({_PURCHASE_DAYS}, purchases, quantity, revenue) "
    "SELECT r.workspace_id, r.product_id, r.app_id, m.day, "
    "sum(r.purchases), sum(r.quantity), sum(r.revenue) "
    f"FROM purchase_rollups_recent AS r JOIN {_SQLITE_MAP} AS m "
    "ON m.workspace_id = r.workspace_id AND m.hour = r.hour WHERE r.hour < :before "
    "GROUP BY r.workspace_id, r.product_id, r.app_id, m.day ORDER BY 1, 2, 3, 4 "
    f"ON CONFLICT ({_PURCHASE_DAYS}) DO UPDATE SET "
    "purchases = purchase_rollups_daily.purchases + excluded.purchases, "
    "quantity = purchase_rollups_daily.quantity + excluded.quantity, "
    "revenue = purchase_rollups_daily.revenue + excluded.revenue",
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

    Each moved row is added to its local day's row in the daily tables too. Call inside a write
    transaction. `before_hour` of 2**62 folds everything (tests, rebuilds).
    """
    postgres = conn.dialect.name == "postgresql"
    cur = raw_cursor(conn)
    try:
        if postgres:
            cur.execute(_POSTGRES_LOCK)
            cur.execute(_PENDING.format(before="%(before)s"), {"before": before_hour})
        else:
            cur.execute(_PENDING.format(before=":before"), {"before": before_hour})
        pairs = [(int(w), int(h)) for w, h in cur.fetchall()]
        if not pairs:
            return
        mapping = dayrollups.day_map(conn, pairs)
        if postgres:
            parameters = dayrollups.postgres_map_parameters(mapping)
            for statement in _POSTGRES:
                cur.execute(statement, parameters)
        else:
            dayrollups.load_sqlite_map(cur, mapping)
            for statement in _SQLITE:
                cur.execute(statement, {"before": before_hour})
    finally:
        cur.close()


def compact_all(conn: Connection) -> None:
    """Fold every recent row (used by tests and offline maintenance)."""
    compact(conn, 2**62)
