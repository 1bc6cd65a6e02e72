"""heron's workspace-settings API: `GET`/`PUT /heron/v1/workspace` (the key's own workspace).

`PUT` with `{"time_zone": "America/New_York"}` changes the zone day buckets follow and rebuilds
the workspace's hourly rollups in it (`heron.analytics.rebuild.set_time_zone`, one transaction;
ingest waits meanwhile). An unchanged zone is a no-op. After the change, this process forgets
its cached API keys so its next requests carry the new zone at once; other server processes
pick it up within `KEY_CACHE_SECONDS` (2 s), as they do a revoked key.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Engine
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from heron.analytics.rebuild import (
    TimeZoneChange,
    UnknownTimeZone,
    set_time_zone,
    valid_time_zones,
)
from heron.http.auth import KeyRing, authenticate
from heron.http.body import read_json_object
from heron.http.errors import JSONResponse, bad_request
from heron.openapi.registry import add_schema, braze_errors, json_response, register
from heron.store.schema import workspaces

__all__ = ["routes"]

PERMISSION = "heron.workspace.manage"
SETTABLE = ("time_zone",)


def _settings(engine: Engine, workspace_id: int) -> dict[str, Any]:
    """The workspace's name and settings as the API shows them."""
    with engine.connect() as conn:
        row = conn.execute(
            select(workspaces.c.name, workspaces.c.time_zone).where(workspaces.c.id == workspace_id)
        ).one()
    return {"name": row.name, "time_zone": row.time_zone}


async def _put(request: Request, workspace_id: int) -> Response:
    """Apply a settings change (only `time_zone` today)."""
    body = await read_json_object(request)
    unknown = sorted(set(body) - set(SETTABLE))
    if unknown:
        raise bad_request(
            f"unknown field(s): {', '.join(repr(k) for k in unknown)}; settable: time_zone"
        )
    time_zone = body.get("time_zone")
    if time_zone is None:
        raise bad_request("'time_zone' is required")
    if not isinstance(time_zone, str):
        raise bad_request("'time_zone' must be a string (an IANA zone name)")
    engine: Engine = request.app.state.engine
    try:
        change: TimeZoneChange = await run_in_threadpool(
            set_time_zone, engine, workspace_id, time_zone
        )
    except UnknownTimeZone as exc:
        raise bad_request(f"'time_zone': {exc}") from None
    if change.rebuilt is not None:
        keyring: KeyRing = request.app.state.keyring
        keyring.forget_principals()
    return JSONResponse(
        {
            "message": "success",
            "workspace": {"name": change.name, "time_zone": change.time_zone},
            "rollups_rebuilt": change.rebuilt is not None,
        }
    )


async def workspace(request: Request) -> Response:
    """`GET` shows the key's workspace settings; `PUT` changes them."""
    principal = await authenticate(request, PERMISSION)
    if request.method == "PUT":
        return await _put(request, principal.workspace_id)
    settings = await run_in_threadpool(_settings, request.app.state.engine, principal.workspace_id)
    return JSONResponse({"message": "success", "workspace": settings})


routes = [Route("/heron/v1/workspace", workspace, methods=["GET", "PUT"])]


_WORKSPACE = add_schema(
    "HeronWorkspace",
    {
        "type": "object",
        "required": ["name", "time_zone"],
        "properties": {
            "name": {"type": "string"},
            "time_zone": {"type": "string", "description": "IANA zone day buckets follow."},
        },
        "additionalProperties": False,
    },
)

register(
    "/heron/v1/workspace",
    "get",
    {
        "operationId": "heronWorkspaceGet",
        "summary": "The key's workspace and its settings (heron management API)",
        "tags": ["heron: workspace"],
        "responses": {
            "200": json_response(
                "The workspace.",
                {
                    "type": "object",
                    "required": ["message", "workspace"],
                    "properties": {
                        "message": {"type": "string", "enum": ["success"]},
                        "workspace": _WORKSPACE,
                    },
                    "additionalProperties": False,
                },
            )
        },
    },
    permission=PERMISSION,
)

register(
    "/heron/v1/workspace",
    "put",
    {
        "operationId": "heronWorkspacePut",
        "summary": "Change the key's workspace settings (heron management API)",
        "description": "Sets the workspace's time zone. A new zone rebuilds the workspace's"
        " hourly rollups and daily KPIs from its raw events and purchases in one transaction"
        " (ingest waits meanwhile); the same zone changes nothing. This server uses the new"
        " zone at once; other server processes within 2 seconds.",
        "tags": ["heron: workspace"],
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "required": ["time_zone"],
                        "properties": {
                            "time_zone": {
                                "type": "string",
                                "description": "An IANA time zone name.",
                                "enum": sorted(valid_time_zones()),
                            }
                        },
                        "additionalProperties": False,
                    }
                }
            },
        },
        "responses": {
            "200": json_response(
                "The workspace after the change.",
                {
                    "type": "object",
                    "required": ["message", "workspace", "rollups_rebuilt"],
                    "properties": {
                        "message": {"type": "string", "enum": ["success"]},
                        "workspace": _WORKSPACE,
                        "rollups_rebuilt": {
                            "type": "boolean",
                            "description": "False when the zone was already the one asked.",
                        },
                    },
                    "additionalProperties": False,
                },
            ),
            **braze_errors(400, 413),
        },
    },
    permission=PERMISSION,
)
