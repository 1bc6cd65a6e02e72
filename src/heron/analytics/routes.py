"""Data-series endpoints: `/events/data_series`, `/purchases/quantity_series`, `revenue_series`.

Each request is one indexed lookup of the name (custom event or product) and one indexed range
read of the rollups covering the series, summed per point in the database (the points come
from `heron.analytics.series`); absent buckets count zero. Hourly series read the hourly rollups
(`heron.analytics.rollups.*_in_ranges`), daily ones the daily rollups, one row per day, plus
what is still in the recent tables (`*_in_days`).

Unknown event or product names answer zeros: Braze does not document this case, and a client
plotting a series expects a series. Revenue is the sum of `price * quantity` as sent, whatever
the currency (heron converts nothing), rounded to 6 decimal places to drop binary
floating-point noise.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.engine import Connection, Engine
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from heron.analytics import document as _document  # noqa: F401  (registers the OpenAPI entries)
from heron.analytics import params, rollups, series
from heron.http.auth import Principal, authenticate
from heron.http.errors import JSONResponse, bad_request
from heron.segments import rollups as segment_rollups
from heron.segments.tracked import tracked_segment
from heron.store.schema import ALL_APPS, ALL_PRODUCTS, custom_events, products

__all__ = ["routes"]

# Names longer than this, or holding NUL, were never stored (ingest refuses them): no lookup.
_MAX_NAME_LENGTH = 255
_REVENUE_DECIMALS = 6
# Built once: a statement built per request costs more than the indexed lookup itself.
_EVENT_ID = select(custom_events.c.id).where(
    custom_events.c.workspace_id == bindparam("workspace_id"),
    custom_events.c.name == bindparam("name"),
)
_PRODUCT_ID = select(products.c.id).where(
    products.c.workspace_id == bindparam("workspace_id"), products.c.name == bindparam("name")
)


def _storable(name: str) -> bool:
    """False for a name no custom event or product can have."""
    return len(name) <= _MAX_NAME_LENGTH and "\x00" not in name


async def _app_key(request: Request, principal: Principal, app_id: str | None) -> int:
    """The internal key of `app_id` in the caller's workspace (ALL_APPS when absent); else 400."""
    if app_id is None:
        return ALL_APPS
    apps = await request.app.state.apps.for_workspace(principal.workspace_id, {app_id})
    key = apps.get(app_id)
    if key is None:
        raise bad_request("'app_id' is not the identifier of an app in this workspace")
    return int(key)


def _read(engine: Engine, work: Callable[[Connection], Any]) -> Any:
    """Run a read in a worker thread's connection."""
    with engine.connect() as conn:
        return work(conn)


def _event_series(
    conn: Connection,
    workspace_id: int,
    name: str,
    app_key: int,
    points: series.Points,
    segment_id: str | None = None,
) -> list[int]:
    """Occurrences of one custom event in each point (by a tracked segment's members)."""
    segment = None if segment_id is None else tracked_segment(conn, workspace_id, segment_id)
    event_id = (
        conn.execute(_EVENT_ID, {"workspace_id": workspace_id, "name": name}).scalar()
        if _storable(name)
        else None
    )
    if event_id is None:
        return [0] * len(points.starts)
    if segment is not None:
        return segment_rollups.event_counts_in_ranges(
            conn, segment, int(event_id), segment_rollups.bounds_of(points), app_key
        )
    if points.unit == "day":
        return rollups.event_counts_in_days(conn, workspace_id, int(event_id), points, app_key)
    return rollups.event_counts_in_ranges(conn, workspace_id, int(event_id), points.bounds, app_key)


def _purchase_series(
    conn: Connection,
    workspace_id: int,
    product: str | None,
    app_key: int,
    points: series.Points,
    segment_id: str | None = None,
) -> list[tuple[int, int, float]]:
    """(purchases, quantity, revenue) in each point, for one product or all of them."""
    segment = None if segment_id is None else tracked_segment(conn, workspace_id, segment_id)
    product_key = ALL_PRODUCTS
    if product is not None:
        found = (
            conn.execute(_PRODUCT_ID, {"workspace_id": workspace_id, "name": product}).scalar()
            if _storable(product)
            else None
        )
        if found is None:
            return [(0, 0, 0.0)] * len(points.starts)
        product_key = int(found)
    if segment is not None:
        return segment_rollups.purchase_totals_in_ranges(
            conn, segment, segment_rollups.bounds_of(points), app_key, product_key
        )
    if points.unit == "day":
        return rollups.purchase_totals_in_days(conn, workspace_id, points, app_key, product_key)
    return rollups.purchase_totals_in_ranges(
        conn, workspace_id, points.bounds, app_key, product_key
    )


def _now_ms() -> int:
    """Wall-clock time in epoch milliseconds."""
    return time.time_ns() // 1_000_000


async def events_data_series(request: Request) -> Response:
    """Braze's `GET /events/data_series`: occurrences of a custom event per day or hour."""
    principal = await authenticate(request, "events.data_series")
    query = request.query_params
    event = params.required_text(query, "event")
    wanted = params.series_query(query, principal.workspace_time_zone, _now_ms())
    app_key = await _app_key(request, principal, wanted.app_id)
    segment_id = params.optional_text(query, "segment_id")
    points = series.points(
        wanted.unit, wanted.length, wanted.ending_ms, principal.workspace_time_zone
    )
    counts: list[int] = await run_in_threadpool(
        _read,
        request.app.state.engine,
        lambda conn: _event_series(
            conn, principal.workspace_id, event, app_key, points, segment_id
        ),
    )
    return JSONResponse(
        {
            "message": "success",
            "data": [
                {"time": label, "count": count}
                for label, count in zip(points.labels, counts, strict=True)
            ],
        }
    )


async def _purchases(
    request: Request, permission: str
) -> tuple[series.Points, list[tuple[int, int, float]]]:
    """Shared part of the purchase series: parameters, then the rollup read."""
    principal = await authenticate(request, permission)
    query = request.query_params
    wanted = params.series_query(query, principal.workspace_time_zone, _now_ms())
    app_key = await _app_key(request, principal, wanted.app_id)
    product = params.optional_text(query, "product")
    segment_id = params.optional_text(query, "segment_id")
    points = series.points(
        wanted.unit, wanted.length, wanted.ending_ms, principal.workspace_time_zone
    )
    totals: list[tuple[int, int, float]] = await run_in_threadpool(
        _read,
        request.app.state.engine,
        lambda conn: _purchase_series(
            conn, principal.workspace_id, product, app_key, points, segment_id
        ),
    )
    return points, totals


async def purchases_quantity_series(request: Request) -> Response:
    """Braze's `GET /purchases/quantity_series`: items purchased (sum of quantity) per point."""
    points, totals = await _purchases(request, "purchases.quantity_series")
    quantities = [quantity for _, quantity, _ in totals]
    return JSONResponse(
        {
            "message": "success",
            "data": [
                {"time": label, "purchase_quantity": quantity}
                for label, quantity in zip(points.labels, quantities, strict=True)
            ],
        }
    )


async def purchases_revenue_series(request: Request) -> Response:
    """Braze's `GET /purchases/revenue_series`: sum of price * quantity per point."""
    points, totals = await _purchases(request, "purchases.revenue_series")
    revenues = [revenue for _, _, revenue in totals]
    return JSONResponse(
        {
            "message": "success",
            "data": [
                {"time": label, "revenue": round(revenue, _REVENUE_DECIMALS) + 0.0}
                for label, revenue in zip(points.labels, revenues, strict=True)
            ],
        }
    )


routes = [
    Route("/events/data_series", events_data_series, methods=["GET"]),
    Route("/purchases/quantity_series", purchases_quantity_series, methods=["GET"]),
    Route("/purchases/revenue_series", purchases_revenue_series, methods=["GET"]),
]
