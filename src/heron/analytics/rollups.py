"""Reading the hourly rollups: the one place that knows how counts are laid out in storage.

Series endpoints ask for per-hour totals over a range of hourly buckets; how those totals are
stored (one table today, possibly split into recent and compacted parts later) stays here.
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from heron.store.schema import ALL_APPS, ALL_PRODUCTS, event_rollups_hourly, purchase_rollups_hourly


def event_counts(
    conn: Connection,
    workspace_id: int,
    event_id: int,
    start_hour: int,
    end_hour: int,
    app_id: int = ALL_APPS,
) -> dict[int, int]:
    """Occurrences per hourly bucket in `[start_hour, end_hour)` (epoch seconds of bucket start)."""
    t = event_rollups_hourly
    rows = conn.execute(
        select(t.c.hour, func.sum(t.c.count))
        .where(
            t.c.workspace_id == workspace_id,
            t.c.event_id == event_id,
            t.c.app_id == app_id,
            t.c.hour >= start_hour,
            t.c.hour < end_hour,
        )
        .group_by(t.c.hour)
    ).all()
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
    t = purchase_rollups_hourly
    rows = conn.execute(
        select(t.c.hour, func.sum(t.c.purchases), func.sum(t.c.quantity), func.sum(t.c.revenue))
        .where(
            t.c.workspace_id == workspace_id,
            t.c.product_id == product_id,
            t.c.app_id == app_id,
            t.c.hour >= start_hour,
            t.c.hour < end_hour,
        )
        .group_by(t.c.hour)
    ).all()
    return {int(h): (int(p), int(q), float(r)) for h, p, q, r in rows}
