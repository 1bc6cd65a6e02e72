"""Braze's catalog exports: `/events`, `/events/list`, `/custom_attributes`, product list."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from heron.catalog import cursor, queries
from heron.catalog.items import export_item
from heron.catalog.kinds import ATTRIBUTES, EVENTS, LISTED, PRODUCTS, Kind
from heron.http.auth import authenticate
from heron.http.errors import JSONResponse, bad_request

_MAX_PAGE_DIGITS = 18  # longer page numbers are past any catalog's end
_PAST_THE_END = 10**18


def page_number(request: Request) -> int:
    """The `page` query parameter: a non-negative integer, 0 when absent; 400 otherwise."""
    raw = request.query_params.get("page")
    if raw is None:
        return 0
    if not (raw.isascii() and raw.isdigit()):
        raise bad_request(f"'page' must be a non-negative integer, not {raw[:40]!r}")
    if len(raw.lstrip("0")) > _MAX_PAGE_DIGITS:
        return _PAST_THE_END
    return int(raw)


def position(request: Request) -> cursor.Position | None:
    """The `cursor` query parameter as a position (None: first page); 400 when malformed."""
    raw = request.query_params.get("cursor")
    if raw is None or raw == "":
        return None
    try:
        return cursor.decode(raw)
    except ValueError as exc:
        raise bad_request(str(exc)) from None


def paged_response(
    path: str,
    params: dict[str, str],
    key: str,
    items: list[dict[str, Any]],
    page: queries.Page,
) -> Response:
    """`{"message": "success", key: items}` with Braze's `Link` header when there are neighbours."""
    link = cursor.link_header(path, params, page.prev, page.next)
    headers = {"Link": link} if link else None
    return JSONResponse({"message": "success", key: items}, headers=headers)


async def cursor_page(
    request: Request,
    kind: Kind,
    workspace_id: int,
    statuses: Sequence[str] = LISTED,
) -> queries.Page:
    """Read the page the request's cursor names."""
    where = position(request)

    def read() -> queries.Page:
        with request.app.state.engine.connect() as conn:
            return queries.page(conn, kind, workspace_id, where, statuses)

    return await run_in_threadpool(read)


async def export(request: Request, kind: Kind, permission: str, path: str) -> Response:
    """One page of `/events` or `/custom_attributes`."""
    principal = await authenticate(request, permission)
    page = await cursor_page(request, kind, principal.workspace_id)
    max_array_length = request.app.state.settings.max_array_length
    items = [export_item(kind, row, max_array_length) for row in page.rows]
    return paged_response(path, {}, kind.key, items, page)


async def list_events(request: Request) -> Response:
    """`GET /events`: 50 custom events per page, by name, with their governance fields."""
    return await export(request, EVENTS, "events.get", "/events")


async def list_custom_attributes(request: Request) -> Response:
    """`GET /custom_attributes`: 50 custom attributes per page, by name."""
    return await export(request, ATTRIBUTES, "custom_attributes.get", "/custom_attributes")


async def _names(request: Request, kind: Kind, workspace_id: int, size: int) -> list[str]:
    """One page of Active names."""
    number = page_number(request)

    def read() -> list[str]:
        with request.app.state.engine.connect() as conn:
            return queries.names(conn, kind, workspace_id, number, size)

    return await run_in_threadpool(read)


async def list_event_names(request: Request) -> Response:
    """`GET /events/list`: 250 Active event names per `page`."""
    principal = await authenticate(request, "events.list")
    names = await _names(request, EVENTS, principal.workspace_id, queries.NAMES_PAGE_SIZE)
    return JSONResponse({"message": "success", "events": names})


async def list_products(request: Request) -> Response:
    """`GET /purchases/product_list`: 100 Active product names per `page`."""
    principal = await authenticate(request, "purchases.product_list")
    names = await _names(request, PRODUCTS, principal.workspace_id, queries.PRODUCTS_PAGE_SIZE)
    return JSONResponse({"products": names, "message": "success"})


routes = [
    Route("/events", list_events, methods=["GET"]),
    Route("/events/list", list_event_names, methods=["GET"]),
    Route("/custom_attributes", list_custom_attributes, methods=["GET"]),
    Route("/purchases/product_list", list_products, methods=["GET"]),
]
