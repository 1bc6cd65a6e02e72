"""Reading the rollups: the one place that knows how counts are laid out in storage.

Counts live in two tables of one shape: `*_rollups_recent` (what ingest adds to) and
`*_rollups_hourly` (closed hours, folded in by the writer; see heron.analytics.compaction).
Every read sums both, so a series is right whether or not a fold has happened yet.

The `*_rollups_daily` tables hold the hourly rows summed per local day of the workspace's zone
(heron.analytics.dayrollups). A daily series point reads its daily row plus its rows still in
the recent table (`*_in_days`): the same sums as the hourly rows, from one row per day.
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from sqlalchemy import (
    Select,
    Table,
    bindparam,
    func,
    select,
    union_all,
)
from sqlalchemy.engine import Connection

from heron.analytics.series import Points
from heron.store.schema import (
    ALL_APPS,
    ALL_PRODUCTS,
    event_rollups_daily,
    event_rollups_hourly,
    event_rollups_recent,
    purchase_rollups_daily,
    purchase_rollups_hourly,
    purchase_rollups_recent,
    workspaces,
)


def event_counts(
    conn: Connection,
    workspace_id: int,
    event_id: int,
    start_hour: int,
    end_hour: int,
    app_id: int = ALL_APPS,
) -> dict[int, int]:
    """Occurrences per hourly bucket in `[start_hour, end_hour)` (epoch seconds of bucket start)."""

    def part(t: Table) -> Select[Any]:
        return select(t.c.hour, t.c.count).where(
            t.c.workspace_id == workspace_id,
            t.c.event_id == event_id,
            t.c.app_id == app_id,
            t.c.hour >= start_hour,
            t.c.hour < end_hour,
        )

    both = union_all(part(event_rollups_hourly), part(event_rollups_recent)).subquery()
    rows = conn.execute(select(both.c.hour, func.sum(both.c.count)).group_by(both.c.hour)).all()
    return {int(hour): int(total) for hour, total in rows}


def purchase_totals(
    conn: Connection,
    workspace_id: int,
    start_hour: int,
    end_hour: int,
    app_id: int = ALL_APPS,
    product_id: int = ALL_PRODUCTS,
) -> dict[int, tuple[int, int, float]]:
    """(purchases, quantity, revenue) per hourly bucket in `[start_hour, end_hour)`."""

    def part(t: Table) -> Select[Any]:
        return select(t.c.hour, t.c.purchases, t.c.quantity, t.c.revenue).where(
            t.c.workspace_id == workspace_id,
            t.c.product_id == product_id,
            t.c.app_id == app_id,
            t.c.hour >= start_hour,
            t.c.hour < end_hour,
        )

    both = union_all(part(purchase_rollups_hourly), part(purchase_rollups_recent)).subquery()
    rows = conn.execute(
        select(
            both.c.hour,
            func.sum(both.c.purchases),
            func.sum(both.c.quantity),
            func.sum(both.c.revenue),
        ).group_by(both.c.hour)
    ).all()
    return {int(h): (int(p), int(q), float(r)) for h, p, q, r in rows}


# -- sums over ranges of buckets (the data-series endpoints) ----------------------------------
#
# A series point is a range of hourly buckets (one local hour, or the 23 to 25 of a local
# day); these sum each point in the database, so a 100-day series returns 100 sums, not 2,400
# rows. The SQL is written per database and sent as is with named parameters (SQLAlchemy's
# per-execution handling of a statement with hundreds of bound parameters cost more than the
# reads themselves):
# - SQLite: one scalar subquery per point and table, each an index range seek; one row holds
#   every point's sums. (Grouping the rows instead makes SQLite sort them: 3 times slower.)
# - PostgreSQL: one index range read per table, grouped by `width_bucket(hour, starts)` (a
#   hash aggregate). Its text does not depend on the number of points, so it is planned once;
#   200 subqueries would be planned at every execution.
# Daily series on SQLite read the rows instead (`_sqlite_day_rows`): at most one daily row per
# point and the few recent rows, already unique per bucket, so there is nothing to sort or
# group, and bucketing ~100 rows in Python costs less than 200 subqueries.


# A part is (table, the column holding its bucket start): ("event_rollups_hourly", "hour"),
# ("event_rollups_daily", "day"), ...
_Parts = tuple[tuple[str, str], ...]


def _parts(*tables: tuple[Table, str]) -> _Parts:
    """(table name, bucket column) pairs for the SQL builders."""
    return tuple((table.name, column) for table, column in tables)


@lru_cache(maxsize=256)
def _sqlite_sql(parts: _Parts, key: str, values: tuple[str, ...], ranges: int) -> str:
    """One row: for each range, then each of `values`, its sum over all parts (0 if none)."""

    def total(table: str, at: str, value: str, i: int) -> str:
        zero = "0.0" if value == "revenue" else "0"
        return (
            f"coalesce((SELECT sum({value}) FROM {table} WHERE workspace_id = :w"
            f" AND {key} = :k AND app_id = :a AND {at} >= :b{i} AND {at} < :b{i + 1}), {zero})"
        )

    columns = (
        " + ".join(total(table, at, value, i) for table, at in parts)
        for i in range(ranges)
        for value in values
    )
    return "SELECT " + ", ".join(columns)


@lru_cache(maxsize=16)
def _postgres_sql(parts: _Parts, key: str, values: tuple[str, ...]) -> str:
    """Rows (range number from 1, sums of `values`) for the ranges that have buckets."""
    wanted = ", ".join(values)
    union = " UNION ALL ".join(
        f"SELECT {at} AS at, {wanted} FROM {table} WHERE workspace_id = %(w)s AND {key} = %(k)s"
        f" AND app_id = %(a)s AND {at} >= %(first)s AND {at} < %(end)s"
        for table, at in parts
    )
    sums = ", ".join(f"sum({value})" for value in values)
    return (
        f"SELECT width_bucket(at, %(starts)s::bigint[]), {sums} FROM ({union}) AS buckets"
        " GROUP BY 1"
    )


@lru_cache(maxsize=8)
def _sqlite_rows_sql(parts: _Parts, key: str, values: tuple[str, ...]) -> str:
    """Rows (bucket start, `values`) of every part in `[first, end)`, unsorted."""
    wanted = ", ".join(values)
    return " UNION ALL ".join(
        f"SELECT {at}, {wanted} FROM {table} WHERE workspace_id = :w AND {key} = :k"
        f" AND app_id = :a AND {at} >= :first AND {at} < :end"
        for table, at in parts
    )


def _sqlite_day_rows(
    conn: Connection,
    parts: _Parts,
    key: str,
    key_value: int,
    values: tuple[str, ...],
    workspace_id: int,
    app_id: int,
    bounds: Sequence[int],
) -> list[tuple[Any, ...]]:
    """Like `_sums_in_ranges` on SQLite, summing the fetched rows per range in Python."""
    zero = [0.0 if value == "revenue" else 0 for value in values]
    sums = [list(zero) for _ in range(len(bounds) - 1)]
    parameters = {
        "w": workspace_id,
        "k": key_value,
        "a": app_id,
        "first": int(bounds[0]),
        "end": int(bounds[-1]),
    }
    for at, *totals in conn.exec_driver_sql(_sqlite_rows_sql(parts, key, values), parameters):
        target = sums[bisect.bisect_right(bounds, at) - 1]
        for i, total in enumerate(totals):
            target[i] += total
    return [tuple(point) for point in sums]


def _sums_in_ranges(
    conn: Connection,
    parts: _Parts,
    key: str,
    key_value: int,
    values: tuple[str, ...],
    workspace_id: int,
    app_id: int,
    bounds: Sequence[int],
) -> list[tuple[Any, ...]]:
    """For each range `[bounds[i], bounds[i+1])`, the sums of `values` over all parts."""
    if len(bounds) < 2 or any(a >= b for a, b in itertools.pairwise(bounds)):
        raise ValueError("bounds must be at least two strictly increasing bucket starts")
    ranges = len(bounds) - 1
    zero = tuple(0.0 if value == "revenue" else 0 for value in values)
    if conn.dialect.name == "postgresql":
        sums = [zero] * ranges
        parameters: dict[str, Any] = {
            "w": workspace_id,
            "k": key_value,
            "a": app_id,
            "first": int(bounds[0]),
            "end": int(bounds[-1]),
            "starts": [int(b) for b in bounds[:-1]],
        }
        for number, *totals in conn.exec_driver_sql(_postgres_sql(parts, key, values), parameters):
            sums[int(number) - 1] = tuple(totals)
        return sums
    parameters = {"w": workspace_id, "k": key_value, "a": app_id}
    parameters.update({f"b{i}": int(bound) for i, bound in enumerate(bounds)})
    row = conn.exec_driver_sql(_sqlite_sql(parts, key, values, ranges), parameters).one()
    width = len(values)
    return [tuple(row[i : i + width]) for i in range(0, len(row), width)]


def event_counts_in_ranges(
    conn: Connection,
    workspace_id: int,
    event_id: int,
    bounds: Sequence[int],
    app_id: int = ALL_APPS,
) -> list[int]:
    """Occurrences in each range `[bounds[i], bounds[i+1])` of hourly buckets (by bucket start)."""
    sums = _sums_in_ranges(
        conn,
        _EVENT_HOURS,
        "event_id",
        event_id,
        ("count",),
        workspace_id,
        app_id,
        bounds,
    )
    return [int(total) for (total,) in sums]


def purchase_totals_in_ranges(
    conn: Connection,
    workspace_id: int,
    bounds: Sequence[int],
    app_id: int = ALL_APPS,
    product_id: int = ALL_PRODUCTS,
) -> list[tuple[int, int, float]]:
    """(purchases, quantity, revenue) in each range `[bounds[i], bounds[i+1])` of hourly buckets."""
    sums = _sums_in_ranges(
        conn,
        _PURCHASE_HOURS,
        "product_id",
        product_id,
        ("purchases", "quantity", "revenue"),
        workspace_id,
        app_id,
        bounds,
    )
    return [(int(n), int(quantity), float(revenue)) for n, quantity, revenue in sums]


_EVENT_HOURS = _parts((event_rollups_hourly, "hour"), (event_rollups_recent, "hour"))
_PURCHASE_HOURS = _parts((purchase_rollups_hourly, "hour"), (purchase_rollups_recent, "hour"))
_EVENT_DAYS = _parts((event_rollups_daily, "day"), (event_rollups_recent, "hour"))
_PURCHASE_DAYS = _parts((purchase_rollups_daily, "day"), (purchase_rollups_recent, "hour"))
_ZONE = select(workspaces.c.time_zone).where(workspaces.c.id == bindparam("workspace_id"))


def _day_sums(
    conn: Connection,
    parts: _Parts,
    key: str,
    key_value: int,
    values: tuple[str, ...],
    workspace_id: int,
    app_id: int,
    bounds: Sequence[int],
) -> list[tuple[Any, ...]]:
    """Per-point sums over daily and recent rows: rows bucketed in Python on SQLite."""
    if conn.dialect.name == "postgresql":
        return _sums_in_ranges(conn, parts, key, key_value, values, workspace_id, app_id, bounds)
    if len(bounds) < 2 or any(a >= b for a, b in itertools.pairwise(bounds)):
        raise ValueError("bounds must be at least two strictly increasing bucket starts")
    return _sqlite_day_rows(conn, parts, key, key_value, values, workspace_id, app_id, bounds)


def _days_readable(conn: Connection, workspace_id: int, points: Points) -> bool:
    """True when the daily rows can answer these points: days of the workspace's current zone.

    The daily rows are keyed by the midnights of the zone stored with the workspace; points laid
    out in another zone (a server that has not yet seen a zone change) read the hourly rows.
    """
    if points.unit != "day":
        raise ValueError("daily rollups answer only day points")
    stored = conn.execute(_ZONE, {"workspace_id": workspace_id}).scalar()
    return stored == points.time_zone


def event_counts_in_days(
    conn: Connection,
    workspace_id: int,
    event_id: int,
    points: Points,
    app_id: int = ALL_APPS,
) -> list[int]:
    """Occurrences in each point of a daily series: daily rows plus rows still recent.

    The same numbers as `event_counts_in_ranges(..., points.bounds, ...)`, from one row per day.
    """
    if not _days_readable(conn, workspace_id, points):
        return event_counts_in_ranges(conn, workspace_id, event_id, points.bounds, app_id)
    sums = _day_sums(
        conn, _EVENT_DAYS, "event_id", event_id, ("count",), workspace_id, app_id, points.bounds
    )
    return [int(total) for (total,) in sums]


def purchase_totals_in_days(
    conn: Connection,
    workspace_id: int,
    points: Points,
    app_id: int = ALL_APPS,
    product_id: int = ALL_PRODUCTS,
) -> list[tuple[int, int, float]]:
    """(purchases, quantity, revenue) in each point of a daily series, from the daily rows."""
    if not _days_readable(conn, workspace_id, points):
        return purchase_totals_in_ranges(conn, workspace_id, points.bounds, app_id, product_id)
    sums = _day_sums(
        conn,
        _PURCHASE_DAYS,
        "product_id",
        product_id,
        ("purchases", "quantity", "revenue"),
        workspace_id,
        app_id,
        points.bounds,
    )
    return [(int(n), int(quantity), float(revenue)) for n, quantity, revenue in sums]
