"""Reading tracked segments' rollups: sums per series point, the way heron.analytics reads its own.

Segment rollups are keyed by 15-minute UTC buckets. A series point is a range of bucket starts
`[bounds[i], bounds[i+1])` (local hours and midnights, which fall on quarter hours in every
zone in use today), summed in the database: one scalar subquery per point on SQLite (an index
range seek each), one grouped range read with `width_bucket` on PostgreSQL.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from sqlalchemy.engine import Connection

from heron.analytics.series import Points
from heron.store.schema import ALL_APPS, ALL_PRODUCTS

__all__ = ["bounds_of", "event_counts_in_ranges", "purchase_totals_in_ranges"]

_HOUR = 3600


def bounds_of(points: Points) -> tuple[int, ...]:
    """A series' range boundaries in bucket starts.

    An hourly series ends its last point one second after that hour's start (it holds one
    hourly bucket); here the hour holds four quarter-hour buckets, so it ends an hour later.
    """
    if points.unit == "hour":
        return (*points.starts, points.starts[-1] + _HOUR)
    return points.bounds


@lru_cache(maxsize=64)
def _sqlite_sql(table: str, key: str, values: tuple[str, ...], ranges: int) -> str:
    """One row: for each range, then each of `values`, its sum (0 if none)."""
    columns = []
    for i in range(ranges):
        for value in values:
            zero = "0.0" if value == "revenue" else "0"
            columns.append(
                f"coalesce((SELECT sum({value}) FROM {table} WHERE segment_id = :s"
                f" AND {key} = :k AND app_id = :a AND bucket >= :b{i} AND bucket < :b{i + 1}),"
                f" {zero})"
            )
    return "SELECT " + ", ".join(columns)


@lru_cache(maxsize=8)
def _postgres_sql(table: str, key: str, values: tuple[str, ...]) -> str:
    """Rows (range number from 1, sums) for the ranges that have buckets."""
    sums = ", ".join(f"sum({value})" for value in values)
    return (
        f"SELECT width_bucket(bucket, %(starts)s::bigint[]), {sums} FROM {table}"
        f" WHERE segment_id = %(s)s AND {key} = %(k)s AND app_id = %(a)s"
        f" AND bucket >= %(first)s AND bucket < %(end)s GROUP BY 1"
    )


def _sums(
    conn: Connection,
    table: str,
    key: str,
    key_value: int,
    values: tuple[str, ...],
    segment: int,
    app_id: int,
    bounds: Sequence[int],
) -> list[tuple[Any, ...]]:
    """For each range `[bounds[i], bounds[i+1])`, the sums of `values`."""
    if len(bounds) < 2 or any(a >= b for a, b in itertools.pairwise(bounds)):
        raise ValueError("bounds must be at least two strictly increasing bucket starts")
    ranges = len(bounds) - 1
    if conn.dialect.name == "postgresql":
        zero = tuple(0.0 if value == "revenue" else 0 for value in values)
        sums = [zero] * ranges
        parameters: dict[str, Any] = {
            "s": segment,
            "k": key_value,
            "a": app_id,
            "first": int(bounds[0]),
            "end": int(bounds[-1]),
            "starts": [int(b) for b in bounds[:-1]],
        }
        for number, *totals in conn.exec_driver_sql(_postgres_sql(table, key, values), parameters):
            sums[int(number) - 1] = tuple(totals)
        return sums
    parameters = {"s": segment, "k": key_value, "a": app_id}
    parameters.update({f"b{i}": int(bound) for i, bound in enumerate(bounds)})
    row = conn.exec_driver_sql(_sqlite_sql(table, key, values, ranges), parameters).one()
    width = len(values)
    return [tuple(row[i : i + width]) for i in range(0, len(row), width)]


def event_counts_in_ranges(
    conn: Connection, segment: int, event_id: int, bounds: Sequence[int], app_id: int = ALL_APPS
) -> list[int]:
    """Occurrences by the segment's members in each range of bucket starts."""
    sums = _sums(
        conn, "segment_event_rollups", "event_id", event_id, ("count",), segment, app_id, bounds
    )
    return [int(total) for (total,) in sums]


def purchase_totals_in_ranges(
    conn: Connection,
    segment: int,
    bounds: Sequence[int],
    app_id: int = ALL_APPS,
    product_id: int = ALL_PRODUCTS,
) -> list[tuple[int, int, float]]:
    """(purchases, quantity, revenue) by the segment's members in each range of bucket starts."""
    sums = _sums(
        conn,
        "segment_purchase_rollups",
        "product_id",
        product_id,
        ("purchases", "quantity", "revenue"),
        segment,
        app_id,
        bounds,
    )
    return [(int(n), int(q), float(r)) for n, q, r in sums]
