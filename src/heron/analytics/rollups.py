"""Reading the hourly rollups: the one place that knows how counts are laid out in storage.

Counts live in two tables of one shape: `*_rollups_recent` (what ingest adds to) and
`*_rollups_hourly` (closed hours, folded in by the writer; see heron.analytics.compaction).
Every read sums both, so a series is right whether or not a fold has happened yet.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, Table, func, select, union_all
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
