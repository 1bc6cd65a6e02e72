"""heron's campaign management API (`/heron/v1/campaigns...`, permission `heron.campaigns.manage`).

- `GET /heron/v1/campaigns`: every campaign, 100 per `page`, with its full definition
  (`include_archived` as in Braze's list);
- `POST /heron/v1/campaigns`: create from a definition (`heron.campaigns.definition`), with an
  optional `id` (keep a campaign's Braze API identifier when moving it over; 409 if taken);
- `GET /heron/v1/campaigns/details?campaign_id=`: one campaign;
- `POST /heron/v1/campaigns/update`: `campaign_id` and the fields to change (top-level fields
  replace the stored ones, the rest are kept; the result is validated as a whole);
- `POST /heron/v1/campaigns/archive` and `/unarchive`: `{"campaign_id": ...}`.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

import msgspec
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from heron.campaigns import shapes, store
from heron.campaigns.definition import CampaignDefinition, DefinitionError, load_definition
from heron.campaigns.exports import find_campaign
from heron.campaigns.params import parse_bool, parse_page
from heron.http.auth import authenticate
from heron.http.body import read_json_object
from heron.http.errors import BrazeError, JSONResponse, bad_request

__all__ = ["API_ID_PATTERN", "PERMISSION", "PREFIX", "item", "merged_definition", "routes"]

PERMISSION = "heron.campaigns.manage"
PREFIX = "/heron/v1/campaigns"
API_ID_PATTERN = store.API_ID_PATTERN
_API_ID = re.compile(API_ID_PATTERN)


def _now_ms() -> int:
    """The current time in epoch milliseconds."""
    return int(time.time() * 1000)


def item(campaign: store.Campaign) -> dict[str, Any]:
    """A campaign as the management API shows it: its id and every details field."""
    return {"id": campaign.api_id, **shapes.details(campaign)}


def definition_of(body: dict[str, Any]) -> CampaignDefinition:
    """A body's definition, or a 400 naming the bad field."""
    try:
        return load_definition(body)
    except DefinitionError as exc:
        raise bad_request(f"Invalid campaign definition: {exc}") from None


def merged_definition(current: CampaignDefinition, changes: dict[str, Any]) -> CampaignDefinition:
    """The stored definition with `changes` replacing its top-level fields."""
    fields = msgspec.to_builtins(current)
    fields.update(changes)
    return definition_of(fields)


def _api_id(value: object, field: str) -> str:
    """A campaign API identifier from a body field, or a 400."""
    if not isinstance(value, str) or not _API_ID.fullmatch(value):
        raise bad_request(f"'{field}' must be 1 to 64 letters, digits, '_' or '-'")
    return value


def _campaign_id(body: dict[str, Any]) -> str:
    """`campaign_id` of a body: required."""
    if "campaign_id" not in body:
        raise bad_request("'campaign_id' is required")
    return _api_id(body.pop("campaign_id"), "campaign_id")


async def _run(work: Callable[[], store.Campaign]) -> store.Campaign:
    """Run a change in a worker thread; map refusals to Braze-shaped errors."""
    try:
        return await run_in_threadpool(work)
    except store.CampaignError as exc:
        raise BrazeError(exc.status, exc.message) from None


async def _one(campaign: store.Campaign, status_code: int = 200) -> Response:
    """`{"message": "success", "campaign": ...}`."""
    return JSONResponse({"message": "success", "campaign": item(campaign)}, status_code=status_code)


async def collection(request: Request) -> Response:
    """`GET` lists every campaign (100 per page); `POST` creates one (201)."""
    principal = await authenticate(request, PERMISSION)
    engine = request.app.state.engine
    if request.method == "GET":
        number = parse_page(request.query_params)
        archived = parse_bool(request.query_params, "include_archived")

        def read() -> list[store.Campaign]:
            with engine.connect() as conn:
                return store.page(conn, principal.workspace_id, number, include_archived=archived)

        found = await run_in_threadpool(read)
        return JSONResponse({"message": "success", "campaigns": [item(c) for c in found]})
    body = await read_json_object(request)
    api_id = _api_id(body.pop("id"), "id") if "id" in body else None
    definition = definition_of(body)
    created = await _run(
        lambda: store.create(engine, principal.workspace_id, definition, _now_ms(), api_id)
    )
    return await _one(created, 201)


async def details(request: Request) -> Response:
    """`GET /heron/v1/campaigns/details?campaign_id=`."""
    principal = await authenticate(request, PERMISSION)
    api_id = request.query_params.get("campaign_id")
    if not api_id:
        raise bad_request("'campaign_id' is required")
    return await _one(await find_campaign(request, principal.workspace_id, api_id))


async def update(request: Request) -> Response:
    """`POST /heron/v1/campaigns/update`: change some fields of one campaign."""
    principal = await authenticate(request, PERMISSION)
    body = await read_json_object(request)
    api_id = _campaign_id(body)
    current = await find_campaign(request, principal.workspace_id, api_id)
    definition = merged_definition(current.definition, body)
    engine = request.app.state.engine
    return await _one(
        await _run(
            lambda: store.edit(engine, principal.workspace_id, api_id, definition, _now_ms())
        )
    )


def _archiving(archived: bool) -> Callable[[Request], Any]:
    """`POST /heron/v1/campaigns/archive` or `/unarchive`."""

    async def handler(request: Request) -> Response:
        principal = await authenticate(request, PERMISSION)
        body = await read_json_object(request)
        api_id = _campaign_id(body)
        engine = request.app.state.engine
        changed = await _run(
            lambda: store.set_archived(engine, principal.workspace_id, api_id, archived, _now_ms())
        )
        return await _one(changed)

    handler.__doc__ = f"{'Archive' if archived else 'Unarchive'} one campaign."
    return handler


routes = [
    Route(PREFIX, collection, methods=["GET", "POST"]),
    Route(f"{PREFIX}/details", details, methods=["GET"]),
    Route(f"{PREFIX}/update", update, methods=["POST"]),
    Route(f"{PREFIX}/archive", _archiving(True), methods=["POST"]),
    Route(f"{PREFIX}/unarchive", _archiving(False), methods=["POST"]),
]
