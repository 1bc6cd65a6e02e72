"""Sums of rollup buckets per range (heron.analytics.rollups.*_in_ranges), recent and hourly."""

from __future__ import annotations

import pytest
from sqlalchemy import insert
from sqlalchemy.engine import Engine

from heron.analytics.rollups import event_counts_in_ranges, purchase_totals_in_ranges
from heron.store.schema import (
    event_rollups_hourly,
    event_rollups_recent,
    purchase_rollups_hourly,
    purchase_rollups_recent,
)

H = 3600


def event_row(hour: int, count: int, event_id: int = 7, app_id: int = 0) -> dict[str, int]:
    """An event rollup row of workspace 1."""
    return {"workspace_id": 1, "event_id": event_id, "app_id": app_id, "hour": hour, "count": count}


def purchase_row(
    hour: int, n: int, quantity: int, revenue: float, product_id: int = 0, app_id: int = 0
) -> dict[str, object]:
    """A purchase rollup row of workspace 1."""
    return {
        "workspace_id": 1,
        "product_id": product_id,
        "app_id": app_id,
        "hour": hour,
        "purchases": n,
        "quantity": quantity,
        "revenue": revenue,
    }


def test_event_counts_sum_both_tables_per_range_and_ignore_the_rest(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(
            insert(event_rollups_hourly),
            [
                event_row(9 * H, 1000),  # before the first range
                event_row(10 * H, 1),
                event_row(12 * H, 2),
                event_row(13 * H, 4),
                event_row(13 * H, 8, app_id=3),  # another app
                event_row(13 * H, 16, event_id=8),  # another event
                event_row(15 * H, 2000),  # at the end bound: excluded
            ],
        )
        conn.execute(insert(event_rollups_recent), [event_row(12 * H, 32), event_row(14 * H, 64)])
    with engine.connect() as conn:
        bounds = [10 * H, 12 * H, 13 * H, 14 * H, 15 * H]
        assert event_counts_in_ranges(conn, 1, 7, bounds) == [1, 34, 4, 64]
        assert event_counts_in_ranges(conn, 1, 7, bounds, app_id=3) == [0, 0, 8, 0]
        assert event_counts_in_ranges(conn, 2, 7, bounds) == [0, 0, 0, 0]
        assert event_counts_in_ranges(conn, 1, 7, [13 * H, 13 * H + 1]) == [4]


def test_purchase_totals_per_range(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(
            insert(purchase_rollups_hourly),
            [purchase_row(10 * H, 1, 2, 3.5), purchase_row(11 * H, 1, 1, 0.1, product_id=5)],
        )
        conn.execute(insert(purchase_rollups_recent), [purchase_row(10 * H, 2, 4, -1.25)])
    with engine.connect() as conn:
        bounds = [10 * H, 11 * H, 12 * H]
        assert purchase_totals_in_ranges(conn, 1, bounds) == [(3, 6, 2.25), (0, 0, 0.0)]
        assert purchase_totals_in_ranges(conn, 1, bounds, product_id=5) == [
            (0, 0, 0.0),
            (1, 1, pytest.approx(0.1)),
        ]


@pytest.mark.parametrize("ranges", [1, 2, 3, 7, 64, 100])
def test_every_number_of_ranges_places_each_bucket_in_its_range(
    engine: Engine, ranges: int
) -> None:
    with engine.begin() as conn:
        conn.execute(insert(event_rollups_hourly), [event_row(k * H, k + 1) for k in range(ranges)])
    bounds = [k * H for k in range(ranges + 1)]
    with engine.connect() as conn:
        assert event_counts_in_ranges(conn, 1, 7, bounds) == [k + 1 for k in range(ranges)]


@pytest.mark.parametrize("bounds", [[], [5], [5, 5], [6, 5], [1, 3, 2]])
def test_bounds_must_increase(engine: Engine, bounds: list[int]) -> None:
    with engine.connect() as conn, pytest.raises(ValueError):
        event_counts_in_ranges(conn, 1, 7, bounds)
