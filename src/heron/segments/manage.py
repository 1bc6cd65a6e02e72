"""heron's segment management API (`/heron/v1/segments...`, permission `heron.segments.manage`).

- `GET /heron/v1/segments` (`include_archived=true` to list archived ones too) and
  `POST /heron/v1/segments` (create: `name`, `description`, `tags`, `filter`; 201);
- `GET /heron/v1/segments/details?segment_id=`;
- `POST /heron/v1/segments/update` (`segment_id` and any of the create fields);
- `POST /heron/v1/segments/archive`, `/unarchive`, `/delete` (`segment_id`);
- `POST /heron/v1/segments/tracking` (`segment_id`, `enabled`: analytics tracking on or off).

Bodies and answers are JSON; refusals are Braze-shaped (`{"message": ...}`), an invalid filter
names the bad node as a JSON path.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from heron.http.auth import Principal, authenticate
from heron.http.body import read_json_object
from heron.http.errors import BrazeError, JSONResponse, bad_request
from heron.segments import service

__all__ = ["PERMISSION", "routes"]

PERMISSION = "heron.segments.manage"
BASE = "/heron/v1/segments"

Handler = Callable[[Request], Awaitable[Response]]


def _now_ms() -> int:
    """Wall-clock time in epoch milliseconds."""
    return time.time_ns() // 1_000_000


def _segment_id(value: object) -> str:
    """A `segment_id` field or parameter, or a 400."""
    if not isinstance(value, str) or not value:
        raise bad_request("'segment_id' is required")
    return value


async def _call(work: Callable[[], Any]) -> Any:
    """Run a change in a worker thread; refusals become Braze errors."""
    try:
        return await run_in_threadpool(work)
    except service.SegmentError as exc:
        raise BrazeError(exc.status, exc.message) from None


def _fields(body: dict[str, Any], *, creating: bool) -> service.Fields:
    """The body's editable fields, or a 400."""
    try:
        return service.parse_fields(body, creating=creating)
    except service.SegmentError as exc:
        raise BrazeError(exc.status, exc.message) from None


def _item(row: Any) -> dict[str, Any]:
    """One segment as answered."""
    return {"message": "success", "segment": service.management_item(row)}


async def collection(request: Request) -> Response:
    """`GET` lists the workspace's segments; `POST` creates one."""
    principal = await authenticate(request, PERMISSION)
    engine = request.app.state.engine
    if request.method == "POST":
        fields = _fields(await read_json_object(request), creating=True)
        row = await _call(lambda: service.create(engine, principal.workspace_id, fields, _now_ms()))
        return JSONResponse(_item(row), status_code=201)
    flag = request.query_params.get("include_archived", "false").lower()
    if flag not in ("true", "false"):
        raise bad_request("'include_archived' must be 'true' or 'false'")

    def read() -> list[Any]:
        with engine.connect() as conn:
            return service.list_all(conn, principal.workspace_id, include_archived=flag == "true")

    rows = await run_in_threadpool(read)
    return JSONResponse(
        {"message": "success", "segments": [service.management_item(r) for r in rows]}
    )


async def details(request: Request) -> Response:
    """`GET /heron/v1/segments/details?segment_id=`."""
    principal = await authenticate(request, PERMISSION)
    segment_id = _segment_id(request.query_params.get("segment_id"))

    def read() -> Any:
        with request.app.state.engine.connect() as conn:
            return service.find(conn, principal.workspace_id, segment_id)

    row = await run_in_threadpool(read)
    if row is None:
        raise BrazeError(404, f"segment '{segment_id}' does not exist")
    return JSONResponse(_item(row))


def _action(work: Callable[[Request, Principal, dict[str, Any], str], Any]) -> Handler:
    """A POST handler taking `segment_id` and acting on it."""

    async def handler(request: Request) -> Response:
        principal = await authenticate(request, PERMISSION)
        body = await read_json_object(request)
        segment_id = _segment_id(body.get("segment_id"))
        row = await _call(lambda: work(request, principal, body, segment_id))
        if row is None:
            return JSONResponse({"message": "success"})
        return JSONResponse(_item(row))

    return handler


def _update(request: Request, principal: Principal, body: dict[str, Any], segment_id: str) -> Any:
    """Edit fields (an unknown segment is a 404 whatever the body holds)."""
    with request.app.state.engine.connect() as conn:
        if service.find(conn, principal.workspace_id, segment_id) is None:
            raise service.SegmentError(404, f"segment '{segment_id}' does not exist")
    fields = service.parse_fields(body, creating=False)
    return service.edit(
        request.app.state.engine, principal.workspace_id, segment_id, fields, _now_ms()
    )


def _archiver(archived: bool) -> Callable[[Request, Principal, dict[str, Any], str], Any]:
    """Archive or unarchive."""

    def work(request: Request, principal: Principal, _body: dict[str, Any], segment_id: str) -> Any:
        return service.archive(
            request.app.state.engine, principal.workspace_id, segment_id, archived, _now_ms()
        )

    return work


def _delete(request: Request, principal: Principal, _body: dict[str, Any], segment_id: str) -> Any:
    """Delete for good."""
    service.remove(request.app.state.engine, principal.workspace_id, segment_id)
    return None


def _tracking(request: Request, principal: Principal, body: dict[str, Any], segment_id: str) -> Any:
    """Analytics tracking on or off."""
    enabled = body.get("enabled")
    if not isinstance(enabled, bool):
        raise service.SegmentError(400, "'enabled' must be a boolean")
    return service.set_tracking(
        request.app.state.engine,
        principal.workspace_id,
        segment_id,
        enabled,
        _now_ms(),
        request.app.state.settings.max_tracked_segments,
    )


routes = [
    Route(BASE, collection, methods=["GET", "POST"]),
    Route(f"{BASE}/details", details, methods=["GET"]),
    Route(f"{BASE}/update", _action(_update), methods=["POST"]),
    Route(f"{BASE}/archive", _action(_archiver(True)), methods=["POST"]),
    Route(f"{BASE}/unarchive", _action(_archiver(False)), methods=["POST"]),
    Route(f"{BASE}/delete", _action(_delete), methods=["POST"]),
    Route(f"{BASE}/tracking", _action(_tracking), methods=["POST"]),
]
