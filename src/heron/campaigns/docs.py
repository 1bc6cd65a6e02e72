"""The campaign endpoints in the OpenAPI document (request schemas generated from the Structs)."""

from __future__ import annotations

from typing import Any

import msgspec

from heron.analytics.series import MAX_LENGTH
from heron.campaigns import definition as d
from heron.campaigns.manage import API_ID_PATTERN, PERMISSION, PREFIX
from heron.campaigns.stats import SERIES_KEYS
from heron.campaigns.store import PAGE_SIZE
from heron.openapi.registry import ERROR_SCHEMA, add_schema, braze_errors, json_response, register

JSONObject = dict[str, Any]
_PREFIX = "Campaign"  # component names: CampaignEmail, CampaignClicksEmail, ...
_REF = "#/components/schemas/"


def _openapi(schema: Any) -> Any:
    """JSON Schema from msgspec -> OpenAPI 3.0: `null` branches become `nullable`, enums typed."""
    if isinstance(schema, list):
        return [_openapi(x) for x in schema]
    if not isinstance(schema, dict):
        return schema
    out = {key: _openapi(value) for key, value in schema.items()}
    ref = out.get("$ref")
    if isinstance(ref, str) and ref.startswith(_REF):
        out["$ref"] = _REF + _PREFIX + ref[len(_REF) :]
    mapping = out.get("discriminator", {}).get("mapping")
    if mapping:
        for tag, target in mapping.items():
            mapping[tag] = _REF + _PREFIX + target[len(_REF) :]
    branches = out.get("anyOf")
    if isinstance(branches, list) and {"type": "null"} in branches:
        rest = [b for b in branches if b != {"type": "null"}]
        out.pop("anyOf")
        if len(rest) == 1 and "$ref" not in rest[0]:
            out = {**rest[0], **out, "nullable": True}
        else:
            out = {**out, "allOf" if len(rest) == 1 else "anyOf": rest, "nullable": True}
    if "enum" in out and "type" not in out:
        out["type"] = "string"
    return out


def _components() -> JSONObject:
    """Every Struct's schema, registered under `Campaign<Name>`; returns the definition's."""
    (_definition, message, _control), components = msgspec.json.schema_components(
        [d.CampaignDefinition, d.Message, d.Control], ref_template=_REF + "{name}"
    )
    refs = {}
    for name, component in components.items():
        component.pop("title", None)
        refs[name] = add_schema(_PREFIX + name, _openapi(component))
    variation = add_schema(
        "CampaignVariation",
        {
            "description": "One message variation: a message of its channel, or a control group"
            ' (`"type": "control"`, `channel` = the channel it controls).',
            "anyOf": [_openapi(message), refs["Control"]],
        },
    )
    schema: JSONObject = dict(_openapi(components["CampaignDefinition"]))
    schema["properties"]["messages"]["additionalProperties"] = variation
    schema["properties"]["messages"]["description"] = (
        "Message variations keyed by variation id (any string; they become the keys of"
        " `messages` in `/campaigns/details`)."
    )
    return schema


_DEFINITION = _components()
_ID = {"type": "string", "pattern": API_ID_PATTERN}
_CREATE = add_schema(
    "CampaignCreate",
    {
        **_DEFINITION,
        "properties": {
            "id": {**_ID, "description": "The API identifier to use (default: a new UUID)."},
            **_DEFINITION["properties"],
        },
    },
)
_UPDATE = add_schema(
    "CampaignUpdate",
    {
        **_DEFINITION,
        "required": ["campaign_id"],
        "properties": {
            "campaign_id": _ID,
            **{
                k: {key: v for key, v in s.items() if key != "default"}
                for k, s in _DEFINITION["properties"].items()
            },
        },
    },
)
_TIME = {"type": "string", "format": "date-time"}
_MESSAGE = {"type": "string", "enum": ["success"]}
_DETAILS_PROPERTIES: JSONObject = {
    "created_at": _TIME,
    "updated_at": _TIME,
    "archived": {"type": "boolean"},
    "draft": {"type": "boolean"},
    "enabled": {"type": "boolean"},
    "has_post_launch_draft": {"type": "boolean"},
    "name": {"type": "string"},
    "description": {"type": "string"},
    "schedule_type": {"type": "string"},
    "channels": {"type": "array", "items": {"type": "string", "enum": list(d.CHANNELS)}},
    "first_sent": {**_TIME, "nullable": True},
    "last_sent": {**_TIME, "nullable": True},
    "tags": {"type": "array", "items": {"type": "string"}},
    "teams": {"type": "array", "items": {"type": "string"}},
    "messages": {
        "type": "object",
        "description": "Keyed by message variation id: `channel`, `name` and the channel's fields.",
        "additionalProperties": {
            "type": "object",
            "required": ["channel", "name"],
            "properties": {
                "channel": {"type": "string", "enum": list(d.CHANNELS)},
                "name": {"type": "string"},
            },
        },
    },
    "conversion_behaviors": {
        "type": "array",
        "items": {
            "type": "object",
            "required": ["type", "window"],
            "properties": {
                "type": {"type": "string", "enum": list(d.BEHAVIOR_TYPES)},
                "window": {"type": "integer"},
                "product": {"type": "string"},
                "custom_event_name": {"type": "string"},
                "app_ids": {"type": "array", "items": {"type": "string"}, "nullable": True},
            },
        },
    },
}
_DETAILS = add_schema(
    "CampaignDetails",
    {
        "type": "object",
        "required": ["message", *_DETAILS_PROPERTIES],
        "properties": {"message": _MESSAGE, **_DETAILS_PROPERTIES},
        "additionalProperties": False,
    },
)
_MANAGED = add_schema(
    "ManagedCampaign",
    {
        "type": "object",
        "required": ["id", *_DETAILS_PROPERTIES],
        "properties": {"id": {"type": "string"}, **_DETAILS_PROPERTIES},
        "additionalProperties": False,
    },
)
_COUNT = {"type": "integer", "minimum": 0}
_POINT = add_schema(
    "CampaignDataPoint",
    {
        "type": "object",
        "required": ["time", "unique_recipients", "revenue", "messages"],
        "properties": {
            "time": {"type": "string", "format": "date", "description": "The local day."},
            "unique_recipients": _COUNT,
            **{
                f"conversions{n or ''}{suffix}": _COUNT
                for n in range(d.MAX_BEHAVIORS)
                for suffix in ("", "_by_send_time")
            },
            "revenue": {"type": "number"},
            "messages": {
                "type": "object",
                "description": "Per channel, one entry per variation (control: `enrolled`).",
                "properties": {
                    key: {"type": "array", "items": {"type": "object"}}
                    for key in sorted(set(SERIES_KEYS.values()))
                },
                "additionalProperties": False,
            },
        },
        "additionalProperties": False,
    },
)


def _query(name: str, schema: JSONObject, description: str, required: bool = False) -> JSONObject:
    """A query parameter."""
    return {
        "name": name,
        "in": "query",
        "required": required,
        "description": description,
        "schema": schema,
    }


_CAMPAIGN_ID = _query(
    "campaign_id", {"type": "string", "minLength": 1}, "The campaign's API id.", True
)
_PAGE = _query(
    "page",
    {"type": "integer", "minimum": 0},
    f"Page from 0, {PAGE_SIZE} per page; past the end: empty.",
)
_ARCHIVED = _query(
    "include_archived", {"type": "boolean"}, "Include archived campaigns (default false)."
)
_NOT_FOUND = json_response("Not Found: no campaign with this id in the workspace.", ERROR_SCHEMA)
_CONFLICT = json_response("Conflict: a campaign with this `id` exists already.", ERROR_SCHEMA)


def _body(schema: JSONObject) -> JSONObject:
    """A required JSON request body."""
    return {"required": True, "content": {"application/json": {"schema": schema}}}


def _one(description: str) -> JSONObject:
    """A response holding one managed campaign."""
    return json_response(
        description,
        {
            "type": "object",
            "required": ["message", "campaign"],
            "properties": {"message": _MESSAGE, "campaign": _MANAGED},
            "additionalProperties": False,
        },
    )


def _register_exports() -> None:
    """Braze's three campaign exports."""
    register(
        "/campaigns/list",
        "get",
        {
            "operationId": "campaigns_list",
            "summary": f"List campaigns ({PAGE_SIZE} per page)",
            "description": "Oldest first by creation time unless `sort_direction=desc`;"
            " archived campaigns only with `include_archived=true`.",
            "tags": ["Export"],
            "parameters": [
                _PAGE,
                _ARCHIVED,
                _query("sort_direction", {"type": "string", "enum": ["asc", "desc"]}, "Order."),
                _query(
                    "last_edit.time[gt]",
                    {"type": "string", "format": "date-time"},
                    "Only campaigns edited after this date or date-time (no offset: the"
                    " workspace's zone).",
                ),
            ],
            "responses": {
                "200": json_response(
                    "One page.",
                    {
                        "type": "object",
                        "required": ["message", "campaigns"],
                        "properties": {
                            "message": _MESSAGE,
                            "campaigns": {
                                "type": "array",
                                "maxItems": PAGE_SIZE,
                                "items": {
                                    "type": "object",
                                    "required": [
                                        "id",
                                        "last_edited",
                                        "name",
                                        "is_api_campaign",
                                        "tags",
                                    ],
                                    "properties": {
                                        "id": {"type": "string"},
                                        "last_edited": _TIME,
                                        "name": {"type": "string"},
                                        "is_api_campaign": {"type": "boolean"},
                                        "tags": {"type": "array", "items": {"type": "string"}},
                                    },
                                    "additionalProperties": False,
                                },
                            },
                        },
                        "additionalProperties": False,
                    },
                ),
                **braze_errors(400),
            },
        },
        permission="campaigns.list",
    )
    register(
        "/campaigns/details",
        "get",
        {
            "operationId": "campaigns_details",
            "summary": "Export one campaign's details",
            "tags": ["Export"],
            "parameters": [
                _CAMPAIGN_ID,
                _query(
                    "post_launch_draft_version",
                    {"type": "boolean"},
                    "Accepted; heron keeps no post-launch drafts (`has_post_launch_draft` is"
                    " false), so the answer is the same.",
                ),
            ],
            "responses": {
                "200": json_response("The campaign.", _DETAILS),
                "404": _NOT_FOUND,
                **braze_errors(400),
            },
        },
        permission="campaigns.details",
    )
    register(
        "/campaigns/data_series",
        "get",
        {
            "operationId": "campaigns_data_series",
            "summary": "Daily sends, engagement, conversions and revenue of one campaign",
            "tags": ["Export"],
            "parameters": [
                _CAMPAIGN_ID,
                _query(
                    "length",
                    {"type": "integer", "minimum": 1, "maximum": MAX_LENGTH},
                    "Number of days.",
                    True,
                ),
                _query(
                    "ending_at",
                    {"type": "string", "format": "date-time"},
                    "End of the series (default: now); its day is the last point.",
                ),
            ],
            "responses": {
                "200": json_response(
                    "The daily points, oldest first.",
                    {
                        "type": "object",
                        "required": ["message", "data"],
                        "properties": {
                            "message": _MESSAGE,
                            "data": {"type": "array", "items": _POINT},
                        },
                        "additionalProperties": False,
                    },
                ),
                "404": _NOT_FOUND,
                **braze_errors(400),
            },
        },
        permission="campaigns.data_series",
    )


def _register_management() -> None:
    """heron's campaign management operations."""
    tags = ["Campaign management"]
    by_id = _body(
        {
            "type": "object",
            "required": ["campaign_id"],
            "properties": {"campaign_id": _ID},
            "additionalProperties": False,
        }
    )
    register(
        PREFIX,
        "get",
        {
            "operationId": "manage_list_campaigns",
            "summary": "List campaigns with their full definitions",
            "tags": tags,
            "parameters": [_PAGE, _ARCHIVED],
            "responses": {
                "200": json_response(
                    "One page.",
                    {
                        "type": "object",
                        "required": ["message", "campaigns"],
                        "properties": {
                            "message": _MESSAGE,
                            "campaigns": {"type": "array", "items": _MANAGED},
                        },
                        "additionalProperties": False,
                    },
                ),
                **braze_errors(400),
            },
        },
        permission=PERMISSION,
    )
    register(
        PREFIX,
        "post",
        {
            "operationId": "manage_create_campaign",
            "summary": "Create a campaign",
            "description": "A refused definition is a 400 whose message names the bad field.",
            "tags": tags,
            "requestBody": _body(_CREATE),
            "responses": {
                "201": _one("Created."),
                "409": _CONFLICT,
                **braze_errors(400, 413),
            },
        },
        permission=PERMISSION,
    )
    register(
        f"{PREFIX}/details",
        "get",
        {
            "operationId": "manage_campaign_details",
            "summary": "One campaign with its full definition",
            "tags": tags,
            "parameters": [_CAMPAIGN_ID],
            "responses": {"200": _one("The campaign."), "404": _NOT_FOUND, **braze_errors(400)},
        },
        permission=PERMISSION,
    )
    register(
        f"{PREFIX}/update",
        "post",
        {
            "operationId": "manage_update_campaign",
            "summary": "Change some fields of a campaign",
            "description": "Top-level fields given replace the stored ones; `updated_at` moves.",
            "tags": tags,
            "requestBody": _body(_UPDATE),
            "responses": {
                "200": _one("The changed campaign."),
                "404": _NOT_FOUND,
                **braze_errors(400, 413),
            },
        },
        permission=PERMISSION,
    )
    for action in ("archive", "unarchive"):
        register(
            f"{PREFIX}/{action}",
            "post",
            {
                "operationId": f"manage_{action}_campaign",
                "summary": f"{action.capitalize()} a campaign",
                "tags": tags,
                "requestBody": by_id,
                "responses": {
                    "200": _one("The campaign."),
                    "404": _NOT_FOUND,
                    **braze_errors(400, 413),
                },
            },
            permission=PERMISSION,
        )


_register_exports()
_register_management()
