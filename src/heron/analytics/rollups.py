"""Reading the hourly rollups: the one place that knows how counts are laid out in storage.

Counts live in two tables of one shape: `*_rollups_recent` (what ingest adds to) and
`*_rollups_hourly` (closed hours, folded in by the writer; see heron.analytics.compaction).
Every read sums both, so a series is right whether or not a fold has happened yet.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from sqlalchemy import (
    Select,
    Table,
    func,
    select,
    union_all,
)
from sqlalchemy.engine import Connection

from heron.store.schema import (
    ALL_APPS,
    ALL_PRODUCTS,
    event_rollups_hourly,
    event_rollups_recent,
    purchase_rollups_hourly,
    purchase_rollups_recent,
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


@lru_cache(maxsize=256)
def _sqlite_sql(tables: tuple[str, str], key: str, values: tuple[str, ...], ranges: int) -> str:
    """One row: for each range, then each of `values`, its sum over both tables (0 if none)."""

    def total(table: str, value: str, i: int) -> str:
        zero = "0.0" if value == "revenue" else "0"
        return (
            f"coalesce((SELECT sum({value}) FROM {table} WHERE workspace_id = :w"
            f" AND {key} = :k AND app_id = :a AND hour >= :b{i} AND hour < :b{i + 1}), {zero})"
        )

    columns = (
        " + ".join(total(table, value, i) for table in tables)
        for i in range(ranges)
        for value in values
    )
    return "SELECT " + ", ".join(columns)


@lru_cache(maxsize=8)
def _postgres_sql(tables: tuple[str, str], key: str, values: tuple[str, ...]) -> str:
    """Rows (range number from 1, sums of `values`) for the ranges that have buckets."""
    wanted = ", ".join(values)
    parts = " UNION ALL ".join(
        f"SELECT hour, {wanted} FROM {table} WHERE workspace_id = %(w)s AND {key} = %(k)s"
        f" AND app_id = %(a)s AND hour >= %(first)s AND hour < %(end)s"
        for table in tables
    )
    sums = ", ".join(f"sum({value})" for value in values)
    return (
        f"SELECT width_bucket(hour, %(starts)s::bigint[]), {sums} FROM ({parts}) AS buckets"
        " GROUP BY 1"
    )


def _sums_in_ranges(
    conn: Connection,
    tables: tuple[Table, Table],
    key: str,
    key_value: int,
    values: tuple[str, ...],
    workspace_id: int,
    app_id: int,
    bounds: Sequence[int],
) -> list[tuple[Any, ...]]:
    """For each range `[bounds[i], bounds[i+1])`, the sums of `values` over both tables."""
    if len(bounds) < 2 or any(a >= b for a, b in itertools.pairwise(bounds)):
        raise ValueError("bounds must be at least two strictly increasing bucket starts")
    names = (tables[0].name, tables[1].name)
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
        for number, *totals in conn.exec_driver_sql(_postgres_sql(names, key, values), parameters):
            sums[int(number) - 1] = tuple(totals)
        return sums
    parameters = {"w": workspace_id, "k": key_value, "a": app_id}
    parameters.update({f"b{i}": int(bound) for i, bound in enumerate(bounds)})
    row = conn.exec_driver_sql(_sqlite_sql(names, key, values, ranges), parameters).one()
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
        (event_rollups_hourly, event_rollups_recent),
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
        (purchase_rollups_hourly, purchase_rollups_recent),
        "product_id",
        product_id,
        ("purchases", "quantity", "revenue"),
        workspace_id,
        app_id,
        bounds,
    )
    return [(int(n), int(quantity), float(revenue)) for n, quantity, revenue in sums]
