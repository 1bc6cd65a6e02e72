"""The segment endpoints in the OpenAPI document: Braze's exports and heron's management API."""

from __future__ import annotations

from typing import Any

from heron.analytics.series import MAX_LENGTH
from heron.openapi.registry import add_schema, braze_errors, json_response, register
from heron.segments.definition import (
    APP_OPS,
    ATTRIBUTE_OPS,
    HISTORY_OPS,
    STANDARD_ATTRIBUTES,
    WINDOW_DAYS,
)
from heron.segments.manage import BASE, PERMISSION
from heron.segments.routes import PAGE_SIZE
from heron.segments.service import (
    MAX_DESCRIPTION_LENGTH,
    MAX_NAME_LENGTH,
    MAX_TAG_LENGTH,
    MAX_TAGS,
)

JSONObject = dict[str, Any]


def _query(name: str, description: str, schema: JSONObject, required: bool = False) -> JSONObject:
    """A query parameter."""
    return {
        "name": name,
        "in": "query",
        "required": required,
        "description": description,
        "schema": schema,
    }


def _not_found(description: str) -> JSONObject:
    """A Braze-shaped 404."""
    return json_response(
        description, braze_errors(404)["404"]["content"]["application/json"]["schema"]
    )


_SEGMENT_ID = _query(
    "segment_id",
    "The segment's `id` (from `/segments/list`).",
    {"type": "string", "minLength": 1},
    required=True,
)
_UNKNOWN = _not_found("No segment of this workspace has that id.")
_NO_NUL = "^[^\\u0000]*$"
_TAGS_SCHEMA = {
    "type": "array",
    "items": {"type": "string", "minLength": 1, "maxLength": MAX_TAG_LENGTH, "pattern": _NO_NUL},
    "maxItems": MAX_TAGS,
}

register(
    "/segments/list",
    "get",
    {
        "operationId": "segmentsList",
        "summary": "List segments",
        "description": f"{PAGE_SIZE} segments per page, archived ones left out.",
        "tags": ["Export: segments"],
        "parameters": [
            _query(
                "page",
                "Page number from 0 (the default).",
                {"type": "integer", "minimum": 0},
            ),
            _query(
                "sort_direction",
                "`asc` (default): oldest first by creation time; `desc`: newest first.",
                {"type": "string", "enum": ["asc", "desc"]},
            ),
        ],
        "responses": {
            "200": json_response(
                "A page of segments.",
                {
                    "type": "object",
                    "required": ["message", "segments"],
                    "properties": {
                        "message": {"type": "string", "enum": ["success"]},
                        "segments": {
                            "type": "array",
                            "maxItems": PAGE_SIZE,
                            "items": add_schema(
                                "SegmentListItem",
                                {
                                    "type": "object",
                                    "required": [
                                        "id",
                                        "name",
                                        "analytics_tracking_enabled",
                                        "tags",
                                    ],
                                    "properties": {
                                        "id": {"type": "string"},
                                        "name": {"type": "string"},
                                        "analytics_tracking_enabled": {"type": "boolean"},
                                        "tags": {"type": "array", "items": {"type": "string"}},
                                    },
                                    "additionalProperties": False,
                                },
                            ),
                        },
                    },
                    "additionalProperties": False,
                },
            ),
            **braze_errors(400),
        },
    },
    permission="segments.list",
)

register(
    "/segments/details",
    "get",
    {
        "operationId": "segmentsDetails",
        "summary": "A segment's details",
        "description": "`description` describes the filter in words; `text_description` is the"
        " segment's own description.",
        "tags": ["Export: segments"],
        "parameters": [_SEGMENT_ID],
        "responses": {
            "200": json_response(
                "The segment.",
                {
                    "type": "object",
                    "required": [
                        "message",
                        "created_at",
                        "updated_at",
                        "name",
                        "description",
                        "text_description",
                        "tags",
                        "teams",
                    ],
                    "properties": {
                        "message": {"type": "string", "enum": ["success"]},
                        "created_at": {"type": "string", "format": "date-time"},
                        "updated_at": {"type": "string", "format": "date-time"},
                        "name": {"type": "string"},
                        "description": {"type": "string"},
                        "text_description": {"type": "string"},
                        "tags": {"type": "array", "items": {"type": "string"}},
                        "teams": {"type": "array", "items": {"type": "string"}},
                    },
                    "additionalProperties": False,
                },
            ),
            "404": _UNKNOWN,
            **braze_errors(400),
        },
    },
    permission="segments.details",
)

register(
    "/segments/data_series",
    "get",
    {
        "operationId": "segmentsDataSeries",
        "summary": "A segment's size per day",
        "description": "Past days: the size the server's daily snapshot recorded (the latest"
        " earlier snapshot when a day has none; 0 before the segment existed). Today: the live"
        " size. Days are calendar days of the workspace's time zone.",
        "tags": ["Export: segments"],
        "parameters": [
            _SEGMENT_ID,
            _query(
                "length",
                f"Number of days up to and including the one holding `ending_at`, 1 to"
                f" {MAX_LENGTH}.",
                {"type": "integer", "minimum": 1, "maximum": MAX_LENGTH},
                required=True,
            ),
            _query(
                "ending_at",
                "The series ends with the day holding this instant (default: now); ISO 8601.",
                {"type": "string", "format": "date-time"},
            ),
        ],
        "responses": {
            "200": json_response(
                "The series.",
                {
                    "type": "object",
                    "required": ["message", "data"],
                    "properties": {
                        "message": {"type": "string", "enum": ["success"]},
                        "data": {
                            "type": "array",
                            "minItems": 1,
                            "maxItems": MAX_LENGTH,
                            "items": add_schema(
                                "SegmentSizePoint",
                                {
                                    "type": "object",
                                    "required": ["time", "size"],
                                    "properties": {
                                        "time": {"type": "string", "format": "date"},
                                        "size": {"type": "integer", "minimum": 0},
                                    },
                                    "additionalProperties": False,
                                },
                            ),
                        },
                    },
                    "additionalProperties": False,
                },
            ),
            "404": _UNKNOWN,
            **braze_errors(400),
        },
    },
    permission="segments.data_series",
)

# -- management API ----------------------------------------------------------------------------

_FILTER = add_schema(
    "SegmentFilter",
    {
        "type": "object",
        "description": 'A filter tree: `{"and": [...]}` / `{"or": [...]}` of filters, or a'
        " leaf with one of `standard_attribute` (" + ", ".join(STANDARD_ATTRIBUTES) + "),"
        " `custom_attribute` (ops " + ", ".join(ATTRIBUTE_OPS) + "), `custom_event` or"
        " `purchase` (a product name, or null for any product; ops "
        + ", ".join(HISTORY_OPS)
        + "; counts may add `within_last_days`, one of "
        + ", ".join(map(str, WINDOW_DAYS))
        + "), `app` (an app identifier; ops "
        + ", ".join(APP_OPS)
        + "), with `op` and `value`. See docs/segments.md. A filter that breaks these rules"
        " is refused with a 400 naming the node (the schema does not spell every rule out).",
        "additionalProperties": True,
    },
)
_FIELDS = {
    "name": {"type": "string", "minLength": 1, "maxLength": MAX_NAME_LENGTH, "pattern": _NO_NUL},
    "description": {"type": "string", "maxLength": MAX_DESCRIPTION_LENGTH, "pattern": _NO_NUL},
    "tags": _TAGS_SCHEMA,
    "filter": _FILTER,
}
_ITEM = add_schema(
    "ManagedSegment",
    {
        "type": "object",
        "required": [
            "segment_id",
            "name",
            "description",
            "tags",
            "filter",
            "analytics_tracking_enabled",
            "archived",
            "size",
            "membership_current",
            "created_at",
            "updated_at",
        ],
        "properties": {
            "segment_id": {"type": "string"},
            "name": {"type": "string"},
            "description": {"type": "string"},
            "tags": {"type": "array", "items": {"type": "string"}},
            "filter": _FILTER,
            "analytics_tracking_enabled": {"type": "boolean"},
            "archived": {"type": "boolean"},
            "size": {"type": "integer", "minimum": 0},
            "membership_current": {
                "type": "boolean",
                "description": "False while a new or edited filter is being evaluated for"
                " every user of the workspace.",
            },
            "created_at": {"type": "string", "format": "date-time"},
            "updated_at": {"type": "string", "format": "date-time"},
        },
        "additionalProperties": False,
    },
)
_ONE = {
    "type": "object",
    "required": ["message", "segment"],
    "properties": {"message": {"type": "string", "enum": ["success"]}, "segment": _ITEM},
    "additionalProperties": False,
}
_SUCCESS = {
    "type": "object",
    "required": ["message"],
    "properties": {"message": {"type": "string", "enum": ["success"]}},
    "additionalProperties": False,
}


def _body(properties: JSONObject, required: list[str]) -> JSONObject:
    """A required JSON request body."""
    return {
        "required": True,
        "content": {
            "application/json": {
                "schema": {"type": "object", "required": required, "properties": properties}
            }
        },
    }


register(
    BASE,
    "get",
    {
        "operationId": "manageSegmentsList",
        "summary": "List segment definitions",
        "tags": ["Management: segments"],
        "parameters": [
            _query(
                "include_archived",
                "`true` to list archived segments too (default `false`).",
                {"type": "string", "enum": ["true", "false"]},
            )
        ],
        "responses": {
            "200": json_response(
                "Every segment of the workspace, oldest first.",
                {
                    "type": "object",
                    "required": ["message", "segments"],
                    "properties": {
                        "message": {"type": "string", "enum": ["success"]},
                        "segments": {"type": "array", "items": _ITEM},
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
    BASE,
    "post",
    {
        "operationId": "manageSegmentsCreate",
        "summary": "Create a segment",
        "description": "An invalid filter is refused with a 400 naming the bad node as a JSON"
        " path (`$.filter.and[1].op: ...`).",
        "tags": ["Management: segments"],
        "requestBody": _body(_FIELDS, ["name", "filter"]),
        "responses": {
            "201": json_response("Created; membership is computed in the background.", _ONE),
            **braze_errors(400, 413),
        },
    },
    permission=PERMISSION,
)
register(
    f"{BASE}/details",
    "get",
    {
        "operationId": "manageSegmentsDetails",
        "summary": "One segment definition",
        "tags": ["Management: segments"],
        "parameters": [_SEGMENT_ID],
        "responses": {
            "200": json_response("The segment.", _ONE),
            "404": _not_found("No segment of this workspace has that id."),
            **braze_errors(400),
        },
    },
    permission=PERMISSION,
)
_ID_FIELD = {"segment_id": {"type": "string", "minLength": 1}}
for action, summary, extra, required, answer in (
    ("update", "Edit a segment", _FIELDS, [], _ONE),
    ("archive", "Archive a segment", {}, [], _ONE),
    ("unarchive", "Unarchive a segment", {}, [], _ONE),
    ("delete", "Delete a segment with its members and analytics", {}, [], _SUCCESS),
    (
        "tracking",
        "Turn analytics tracking on or off",
        {"enabled": {"type": "boolean"}},
        ["enabled"],
        _ONE,
    ),
):
    register(
        f"{BASE}/{action}",
        "post",
        {
            "operationId": f"manageSegments{action.title()}",
            "summary": summary,
            "tags": ["Management: segments"],
            "requestBody": _body({**_ID_FIELD, **extra}, ["segment_id", *required]),
            "responses": {
                "200": json_response("Done.", answer),
                "404": _not_found("No segment of this workspace has that id."),
                **braze_errors(400, 413),
            },
        },
        permission=PERMISSION,
    )
