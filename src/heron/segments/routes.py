"""Braze's segment exports: `GET /segments/list`, `/segments/details`, `/segments/data_series`.

- list: 100 per page (`page` from 0), oldest first unless `sort_direction=desc`; archived
  segments are left out.
- details: the filter described in words (`description`) and the segment's own description
  (`text_description`).
- data_series: the daily size (heron.segments.sizes), `length` 1 to 100 days ending with the
  local day holding `ending_at` (default now).

An unknown `segment_id` (or one of another workspace) answers 404 naming the parameter.
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import select
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from heron.analytics import params, series
from heron.catalog.exports import page_number
from heron.http.auth import authenticate
from heron.http.errors import BrazeError, JSONResponse, bad_request
from heron.segments import service
from heron.segments.sizes import size_series
from heron.segments.tracked import UNKNOWN_SEGMENT
from heron.store.schema import segments

__all__ = ["PAGE_SIZE", "routes"]

PAGE_SIZE = 100

_decode = service._decode


def _now_ms() -> int:
    """Wall-clock time in epoch milliseconds."""
    return time.time_ns() // 1_000_000


def _sort_direction(request: Request) -> bool:
    """`sort_direction`: True for `desc` (newest first); `asc` or absent is oldest first."""
    raw = params.optional_text(request.query_params, "sort_direction")
    if raw is None or raw.lower() == "asc":
        return False
    if raw.lower() == "desc":
        return True
    raise bad_request("'sort_direction' must be 'asc' or 'desc'")


async def segments_list(request: Request) -> Response:
    """Braze's `GET /segments/list`."""
    principal = await authenticate(request, "segments.list")
    page = page_number(request)
    newest_first = _sort_direction(request)

    def read() -> list[Any]:
        order = (segments.c.created_at_ms, segments.c.id)
        query = (
            select(
                segments.c.segment_id,
                segments.c.name,
                segments.c.analytics_tracking,
                segments.c.tags,
            )
            .where(
                segments.c.workspace_id == principal.workspace_id,
                segments.c.archived.is_(False),
            )
            .order_by(*(c.desc() for c in order) if newest_first else order)
            .limit(PAGE_SIZE)
            .offset(min(page, 10**12) * PAGE_SIZE)
        )
        with request.app.state.engine.connect() as conn:
            return list(conn.execute(query).all())

    rows = await run_in_threadpool(read)
    return JSONResponse(
        {
            "message": "success",
            "segments": [
                {
                    "id": row.segment_id,
                    "name": row.name,
                    "analytics_tracking_enabled": bool(row.analytics_tracking),
                    "tags": _decode(row.tags),
                }
                for row in rows
            ],
        }
    )


async def segments_details(request: Request) -> Response:
    """Braze's `GET /segments/details`."""
    principal = await authenticate(request, "segments.details")
    segment_id = params.required_text(request.query_params, "segment_id")

    def read() -> Any:
        with request.app.state.engine.connect() as conn:
            return service.find(conn, principal.workspace_id, segment_id)

    row = await run_in_threadpool(read)
    if row is None:
        raise BrazeError(404, UNKNOWN_SEGMENT)
    return JSONResponse(service.details_item(row))


async def segments_data_series(request: Request) -> Response:
    """Braze's `GET /segments/data_series`: estimated size per day."""
    principal = await authenticate(request, "segments.data_series")
    query = request.query_params
    segment_id = params.required_text(query, "segment_id")
    length = params.parse_length(query)
    now_ms = _now_ms()
    raw_ending = params.optional_text(query, "ending_at")
    zone_name = principal.workspace_time_zone
    ending_ms = now_ms if raw_ending is None else params.parse_ending_at(raw_ending, zone_name)
    points = series.points("day", length, ending_ms, zone_name)

    def read() -> list[int] | None:
        with request.app.state.engine.connect() as conn:
            row = service.find(conn, principal.workspace_id, segment_id)
            if row is None:
                return None
            return size_series(conn, row, points.labels, zone_name, now_ms)

    sizes = await run_in_threadpool(read)
    if sizes is None:
        raise BrazeError(404, UNKNOWN_SEGMENT)
    return JSONResponse(
        {
            "message": "success",
            "data": [
                {"time": label, "size": size}
                for label, size in zip(points.labels, sizes, strict=True)
            ],
        }
    )


routes = [
    Route("/segments/list", segments_list, methods=["GET"]),
    Route("/segments/details", segments_details, methods=["GET"]),
    Route("/segments/data_series", segments_data_series, methods=["GET"]),
]
