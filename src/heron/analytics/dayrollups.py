"""Per-local-day rollups: which day of its workspace's zone each hourly bucket belongs to.

`event_rollups_daily` and `purchase_rollups_daily` hold, per (workspace, event or product, app,
local day), the sum of that day's rows in the `*_rollups_hourly` tables, the day being keyed by
the epoch second of its local midnight (`heron.analytics.buckets.day_start`, 23 or 25 hours
across DST changes). That equality is the one invariant, kept by every writer of the hourly
tables:

- the writer's periodic fold (`heron.analytics.compaction`) adds every recent row it moves into
  an hourly row to its day row too, in the same transaction (no work at ingest);
- a time-zone change rebuilds them after the hourly rows (`rebuild_days`, called by
  `heron.analytics.rebuild.rebuild_rollups`), and so did the migration that added them;
- purging an event deletes its daily rows with its hourly ones.

A daily series point is then its daily row plus the point's rows still in `*_rollups_recent`
(`heron.analytics.rollups.*_in_days`): at most one row per day at any data size, and the same
sums as the hourly rows it replaces.

The day of each (workspace, hour) pair is computed in Python (the zone rules are Python's
zoneinfo, as for series points) and handed to the database as a small mapping: a temporary
table on SQLite, arrays through `unnest` on PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy.engine import Connection

from heron.analytics.buckets import day_start, zone
from heron.store.driver import raw_cursor

__all__ = [
    "SQLITE_MAP_TABLE",
    "DayMap",
    "day_map",
    "load_sqlite_map",
    "postgres_map_parameters",
    "rebuild_all_days",
    "rebuild_days",
]

# (workspace_id, hour, day) triples: each hourly bucket and the local midnight of its day.
DayMap = list[tuple[int, int, int]]

SQLITE_MAP_TABLE = "temp.heron_day_map"
_SQLITE_CREATE_MAP = (
    "CREATE TEMP TABLE IF NOT EXISTS heron_day_map (workspace_id INTEGER NOT NULL,"
    " hour INTEGER NOT NULL, day INTEGER NOT NULL, PRIMARY KEY (workspace_id, hour))"
    " WITHOUT ROWID"
)
# PostgreSQL: the mapping as a relation `m(workspace_id, hour, day)` from three arrays.
POSTGRES_MAP = (
    "unnest(%(map_w)s::integer[], %(map_h)s::bigint[], %(map_d)s::bigint[])"
    " AS m(workspace_id, hour, day)"
)

_EVENT_KEYS = "workspace_id, event_id, app_id, day"
_PURCHASE_KEYS = "workspace_id, product_id, app_id, day"


def workspace_zones(conn: Connection) -> dict[int, str]:
    """Every workspace's time-zone name, by id."""
    rows = conn.exec_driver_sql("SELECT id, time_zone FROM workspaces").all()
    return {int(ws): str(tz) for ws, tz in rows}


def day_map(conn: Connection, pairs: Iterable[tuple[int, int]]) -> DayMap:
    """The local day of each (workspace_id, hour) in its workspace's current zone.

    A workspace without a row (rollups of a deleted workspace) counts in UTC, so that every
    pair has a day and nothing is moved into the hourly tables without its daily row.
    """
    zones = workspace_zones(conn)
    found: DayMap = []
    for workspace_id, hour in pairs:
        tz = zone(zones.get(int(workspace_id), "UTC"))
        found.append((int(workspace_id), int(hour), day_start(int(hour), tz)))
    return found


def load_sqlite_map(cursor: Any, mapping: DayMap) -> None:
    """Fill SQLite's per-connection temporary mapping table with `mapping` (replacing it)."""
    cursor.execute(_SQLITE_CREATE_MAP)
    cursor.execute(f"DELETE FROM {SQLITE_MAP_TABLE}")
    cursor.executemany(
        f"INSERT INTO {SQLITE_MAP_TABLE} (workspace_id, hour, day) VALUES (?, ?, ?)", mapping
    )


def postgres_map_parameters(mapping: Sequence[tuple[int, int, int]]) -> dict[str, list[int]]:
    """The three arrays `POSTGRES_MAP` reads."""
    return {
        "map_w": [w for w, _, _ in mapping],
        "map_h": [h for _, h, _ in mapping],
        "map_d": [d for _, _, d in mapping],
    }


def _rebuild_sql(dialect: str) -> tuple[str, ...]:
    """Statements that replace one workspace's daily rows with its hourly rows summed by day."""
    if dialect == "postgresql":
        source, w = POSTGRES_MAP, "%(w)s"
    else:
        source, w = f"{SQLITE_MAP_TABLE} AS m", ":w"
    return (
        f"DELETE FROM event_rollups_daily WHERE workspace_id = {w}",
        f"DELETE FROM purchase_rollups_daily WHERE workspace_id = {w}",
        f"INSERT INTO event_rollups_daily ({_EVENT_KEYS}, count)"
        " SELECT r.workspace_id, r.event_id, r.app_id, m.day, sum(r.count)"
        f" FROM event_rollups_hourly AS r JOIN {source}"
        " ON m.workspace_id = r.workspace_id AND m.hour = r.hour"
        f" WHERE r.workspace_id = {w}"
        " GROUP BY r.workspace_id, r.event_id, r.app_id, m.day ORDER BY 1, 2, 3, 4",
        f"INSERT INTO purchase_rollups_daily ({_PURCHASE_KEYS}, purchases, quantity, revenue)"
        " SELECT r.workspace_id, r.product_id, r.app_id, m.day,"
        " sum(r.purchases), sum(r.quantity), sum(r.revenue)"
        f" FROM purchase_rollups_hourly AS r JOIN {source}"
        " ON m.workspace_id = r.workspace_id AND m.hour = r.hour"
        f" WHERE r.workspace_id = {w}"
        " GROUP BY r.workspace_id, r.product_id, r.app_id, m.day ORDER BY 1, 2, 3, 4",
    )


def rebuild_days(conn: Connection, workspace_id: int, time_zone: str) -> None:
    """Replace a workspace's daily rollups with its hourly rollups summed per day of `time_zone`.

    Runs inside the caller's write transaction (a zone change, a migration); it reads each
    hourly table once for its distinct hours, then once more to sum them.
    """
    dialect = conn.dialect.name
    marker = "%(w)s" if dialect == "postgresql" else ":w"
    hours = conn.exec_driver_sql(
        f"SELECT hour FROM event_rollups_hourly WHERE workspace_id = {marker}"
        f" UNION SELECT hour FROM purchase_rollups_hourly WHERE workspace_id = {marker}",
        {"w": workspace_id},
    ).scalars()
    tz = zone(time_zone)
    mapping = [(workspace_id, int(hour), day_start(int(hour), tz)) for hour in hours]
    cur = raw_cursor(conn)
    try:
        if dialect == "postgresql":
            parameters: dict[str, Any] = {"w": workspace_id, **postgres_map_parameters(mapping)}
        else:
            load_sqlite_map(cur, mapping)
            parameters = {"w": workspace_id}
        for statement in _rebuild_sql(dialect):
            cur.execute(statement, parameters)
    finally:
        cur.close()


def rebuild_all_days(conn: Connection) -> None:
    """Rebuild every workspace's daily rollups in its current zone (the migration's backfill)."""
    for workspace_id, time_zone in sorted(workspace_zones(conn).items()):
        rebuild_days(conn, workspace_id, time_zone)
