"""heron's catalog management API (`/heron/v1/...`): what Braze users do in the dashboard.

For each catalog (`events`, `custom_attributes`, `products`): list with governance fields,
details of one name, pre-create, edit description/tags/flags, and the status actions
(blocklist, unblock; trash and restore for events and attributes). Every change takes effect
for this process's ingest at once (the drop lists are invalidated) and for other processes
within `heron.catalog.blocklist.REFRESH_SECONDS`.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from heron.catalog import queries, service
from heron.catalog.blocklist import drop_list_cache
from heron.catalog.exports import cursor_page, paged_response
from heron.catalog.items import managed_item
from heron.catalog.kinds import (
    ATTRIBUTE_DATA_TYPES,
    ATTRIBUTES,
    EVENTS,
    KINDS,
    LISTED,
    MAX_DESCRIPTION_LENGTH,
    MAX_NAMES_PER_REQUEST,
    MAX_TAG_LENGTH,
    MAX_TAGS,
    Kind,
)
from heron.http.auth import Principal, authenticate
from heron.http.body import read_json_object
from heron.http.errors import BrazeError, JSONResponse, bad_request

PERMISSION = "heron.catalog.manage"
PREFIX = "/heron/v1"

Handler = Callable[[Request], Awaitable[Response]]


def _now_ms() -> int:
    """The current time in epoch milliseconds."""
    return int(time.time() * 1000)


def _name(kind: Kind, value: object, where: str = "'name'") -> str:
    """A valid name of this catalog, or a 400."""
    problem = kind.name_error(value)
    if problem is not None:
        raise bad_request(f"{where}: {problem}")
    assert isinstance(value, str)
    return value


def _text(value: object, field: str, limit: int) -> str:
    """A string field without NUL of at most `limit` characters, or a 400."""
    if not isinstance(value, str):
        raise bad_request(f"'{field}' must be a string")
    if len(value) > limit:
        raise bad_request(f"'{field}' must be at most {limit} characters")
    if "\x00" in value:
        raise bad_request(f"'{field}' must not contain NUL characters")
    return value


def _tags(value: object) -> tuple[str, ...]:
    """`tag_names`: a list of non-empty strings (duplicates dropped, order kept), or a 400."""
    if not isinstance(value, list):
        raise bad_request("'tag_names' must be an array of strings")
    tags: dict[str, None] = {}
    for tag in value:
        tag = _text(tag, "tag_names", MAX_TAG_LENGTH)
        if not tag:
            raise bad_request("'tag_names' must not contain empty strings")
        tags[tag] = None
    if len(tags) > MAX_TAGS:
        raise bad_request(f"'tag_names' must hold at most {MAX_TAGS} tags")
    return tuple(tags)


def _fields(kind: Kind, body: dict[str, Any]) -> service.Fields:
    """The editable fields a body sets (keys it does not know are ignored, as Braze does)."""
    description = body.get("description")
    if description is not None:
        description = _text(description, "description", MAX_DESCRIPTION_LENGTH)
    tags = body.get("tag_names")
    flag = body.get("included_in_analytics_report")
    if flag is not None:
        if kind is not EVENTS:
            raise bad_request("'included_in_analytics_report' applies to custom events only")
        if not isinstance(flag, bool):
            raise bad_request("'included_in_analytics_report' must be a boolean")
    data_type = body.get("data_type")
    if data_type is not None:
        if kind is not ATTRIBUTES:
            raise bad_request("'data_type' applies to custom attributes only")
        if data_type not in ATTRIBUTE_DATA_TYPES:
            raise bad_request(f"'data_type' must be one of {', '.join(ATTRIBUTE_DATA_TYPES)}")
    return service.Fields(
        description=description,
        tag_names=None if tags is None else _tags(tags),
        included_in_analytics_report=flag,
        data_type=data_type,
    )


def _names(kind: Kind, body: dict[str, Any]) -> list[str]:
    """`names`: 1 to 100 names, or a 400."""
    names = body.get("names")
    if not isinstance(names, list) or not names:
        raise bad_request("'names' must be a non-empty array of names")
    if len(names) > MAX_NAMES_PER_REQUEST:
        raise bad_request(f"'names' may hold at most {MAX_NAMES_PER_REQUEST} names per request")
    return [_name(kind, name, "'names'") for name in names]


async def _call(request: Request, principal: Principal, work: Callable[[], Any]) -> Any:
    """Run a governance change in a worker thread; map refusals to Braze errors; invalidate."""
    try:
        result = await run_in_threadpool(work)
    except service.CatalogError as exc:
        raise BrazeError(exc.status, exc.message, exc.errors) from None
    drop_list_cache(request.app).invalidate(principal.workspace_id)
    return result


def _item(request: Request, kind: Kind, row: Any) -> dict[str, Any]:
    """A management item for a row."""
    return managed_item(kind, row, request.app.state.settings.max_array_length)


def _list_handler(kind: Kind) -> Handler:
    """`GET /heron/v1/<kind>`: 50 entries per page with governance fields; `status` filter."""

    async def handler(request: Request) -> Response:
        principal = await authenticate(request, PERMISSION)
        status = request.query_params.get("status")
        if status is not None and status not in LISTED:
            raise bad_request(f"'status' must be one of {', '.join(LISTED)}")
        statuses = LISTED if status is None else (status,)
        page = await cursor_page(request, kind, principal.workspace_id, statuses)
        items = [_item(request, kind, row) for row in page.rows]
        params = {} if status is None else {"status": status}
        return paged_response(f"{PREFIX}/{kind.key}", params, kind.key, items, page)

    return handler


def _details_handler(kind: Kind) -> Handler:
    """`GET /heron/v1/<kind>/details?name=`: one entry."""

    async def handler(request: Request) -> Response:
        principal = await authenticate(request, PERMISSION)
        name = _name(kind, request.query_params.get("name"))

        def read() -> Any:
            with request.app.state.engine.connect() as conn:
                return queries.entry(conn, kind, principal.workspace_id, name)

        row = await run_in_threadpool(read)
        if row is None:
            raise BrazeError(404, f"{kind.singular} '{name}' does not exist")
        return JSONResponse({"message": "success", kind.item_key: _item(request, kind, row)})

    return handler


def _create_handler(kind: Kind) -> Handler:
    """`POST /heron/v1/<kind>`: pre-create a name (201)."""

    async def handler(request: Request) -> Response:
        principal = await authenticate(request, PERMISSION)
        body = await read_json_object(request)
        name = _name(kind, body.get("name"))
        fields = _fields(kind, body)
        row = await _call(
            request,
            principal,
            lambda: service.create(
                request.app.state.engine, kind, principal.workspace_id, name, fields, _now_ms()
            ),
        )
        item = _item(request, kind, row)
        return JSONResponse({"message": "success", kind.item_key: item}, status_code=201)

    return handler


def _update_handler(kind: Kind) -> Handler:
    """`POST /heron/v1/<kind>/update`: set description, tags, flags of one name."""

    async def handler(request: Request) -> Response:
        principal = await authenticate(request, PERMISSION)
        body = await read_json_object(request)
        name = _name(kind, body.get("name"))
        fields = _fields(kind, body)
        row = await _call(
            request,
            principal,
            lambda: service.edit(
                request.app.state.engine, kind, principal.workspace_id, name, fields
            ),
        )
        return JSONResponse({"message": "success", kind.item_key: _item(request, kind, row)})

    return handler


def _action_handler(kind: Kind, action: service.Action) -> Handler:
    """`POST /heron/v1/<kind>/<action>`: change the status of up to 100 names at once."""

    async def handler(request: Request) -> Response:
        principal = await authenticate(request, PERMISSION)
        names = _names(kind, await read_json_object(request))
        rows = await _call(
            request,
            principal,
            lambda: service.change_status(
                request.app.state.engine, kind, principal.workspace_id, names, action, _now_ms()
            ),
        )
        items = [_item(request, kind, row) for row in rows]
        return JSONResponse({"message": "success", kind.key: items})

    return handler


def _collection_handler(kind: Kind) -> Handler:
    """`/heron/v1/<kind>`: GET lists, POST creates (one route, so a 405 names both)."""
    list_entries, create_entry = _list_handler(kind), _create_handler(kind)

    async def handler(request: Request) -> Response:
        if request.method == "POST":
            return await create_entry(request)
        return await list_entries(request)

    return handler


def actions(kind: Kind) -> tuple[service.Action, ...]:
    """The status actions a catalog supports."""
    return service.ACTIONS if kind.trashable else ("blocklist", "unblock")


def _routes() -> list[Route]:
    """Every management route."""
    found = []
    for kind in KINDS.values():
        base = f"{PREFIX}/{kind.key}"
        found.append(Route(base, _collection_handler(kind), methods=["GET", "POST"]))
        found.append(Route(f"{base}/details", _details_handler(kind), methods=["GET"]))
        found.append(Route(f"{base}/update", _update_handler(kind), methods=["POST"]))
        for action in actions(kind):
            found.append(Route(f"{base}/{action}", _action_handler(kind, action), methods=["POST"]))
    return found


routes = _routes()
