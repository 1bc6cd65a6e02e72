"""Braze's campaign exports: `GET /campaigns/list`, `/campaigns/details`, `/data_series`."""

from __future__ import annotations

import time
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from heron.analytics.params import optional_text, parse_ending_at, parse_length
from heron.campaigns import shapes, store
from heron.campaigns.params import parse_bool, parse_edited_after, parse_page, parse_sort
from heron.campaigns.series import campaign_series
from heron.http.auth import authenticate
from heron.http.errors import BrazeError, JSONResponse, bad_request

__all__ = ["find_campaign", "not_found", "routes"]


def not_found(api_id: str) -> BrazeError:
    """The 404 for a campaign id this workspace does not have."""
    return BrazeError(404, f"campaign '{api_id}' does not exist")


def campaign_id_param(request: Request) -> str:
    """`campaign_id`: required."""
    value = request.query_params.get("campaign_id")
    if not value:
        raise bad_request("'campaign_id' is required")
    return value


async def find_campaign(request: Request, workspace_id: int, api_id: str) -> store.Campaign:
    """A campaign of the workspace, or a 404."""

    def read() -> store.Campaign | None:
        with request.app.state.engine.connect() as conn:
            return store.get(conn, workspace_id, api_id)

    found = await run_in_threadpool(read)
    if found is None:
        raise not_found(api_id)
    return found


async def campaign_list(request: Request) -> Response:
    """`GET /campaigns/list`: 100 per page, oldest first unless `sort_direction=desc`."""
    principal = await authenticate(request, "campaigns.list")
    params = request.query_params
    number = parse_page(params)
    include_archived = parse_bool(params, "include_archived")
    newest_first = parse_sort(params)
    edited_after = parse_edited_after(params, principal.workspace_time_zone)

    def read() -> list[store.Campaign]:
        with request.app.state.engine.connect() as conn:
            return store.page(
                conn,
                principal.workspace_id,
                number,
                include_archived=include_archived,
                newest_first=newest_first,
                edited_after_ms=edited_after,
            )

    found = await run_in_threadpool(read)
    items = [shapes.list_item(c) for c in found]
    return JSONResponse({"message": "success", "campaigns": items})


async def campaign_details(request: Request) -> Response:
    """`GET /campaigns/details`: every field of one campaign."""
    principal = await authenticate(request, "campaigns.details")
    api_id = campaign_id_param(request)
    parse_bool(request.query_params, "post_launch_draft_version")  # no post-launch drafts
    campaign = await find_campaign(request, principal.workspace_id, api_id)
    return JSONResponse({"message": "success", **shapes.details(campaign)})


async def campaign_data_series(request: Request) -> Response:
    """`GET /campaigns/data_series`: daily sends, engagement, conversions and revenue."""
    principal = await authenticate(request, "campaigns.data_series")
    params = request.query_params
    api_id = campaign_id_param(request)
    length = parse_length(params)
    raw_ending = optional_text(params, "ending_at")
    zone = principal.workspace_time_zone
    ending_ms = int(time.time() * 1000) if raw_ending is None else parse_ending_at(raw_ending, zone)
    campaign = await find_campaign(request, principal.workspace_id, api_id)

    def read() -> list[dict[str, Any]]:
        with request.app.state.engine.connect() as conn:
            return campaign_series(conn, campaign, length, ending_ms, zone)

    data = await run_in_threadpool(read)
    return JSONResponse({"message": "success", "data": data})


routes = [
    Route("/campaigns/list", campaign_list, methods=["GET"]),
    Route("/campaigns/details", campaign_details, methods=["GET"]),
    Route("/campaigns/data_series", campaign_data_series, methods=["GET"]),
]
