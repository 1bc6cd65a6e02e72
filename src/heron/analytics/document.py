"""The data-series endpoints in the OpenAPI document (spec §6 and §9)."""

from __future__ import annotations

from typing import Any

from heron.analytics.series import MAX_LENGTH
from heron.openapi.registry import add_schema, braze_errors, json_response, register

JSONObject = dict[str, Any]

_TIME = {
    "type": "string",
    "description": "The point's start. `unit=day`: the workspace-local date, `YYYY-MM-DD`."
    " `unit=hour`: the local start of the hour with the workspace's UTC offset,"
    " `2026-11-22T00:00:00-05:00` (`2026-11-22T05:00:00Z` in a UTC workspace).",
}


def _query(name: str, description: str, schema: JSONObject, required: bool = False) -> JSONObject:
    """A query parameter."""
    return {
        "name": name,
        "in": "query",
        "required": required,
        "description": description,
        "schema": schema,
    }


_SERIES_PARAMETERS = [
    _query(
        "length",
        f"Number of points (days or hours) up to and including the one holding `ending_at`,"
        f" 1 to {MAX_LENGTH}.",
        {"type": "integer", "minimum": 1, "maximum": MAX_LENGTH},
        required=True,
    ),
    _query(
        "unit",
        "`day` (default): calendar days of the workspace's time zone (23 or 25 hours at DST"
        " changes); `hour`: its local hours. Case-insensitive.",
        {"type": "string", "enum": ["day", "hour"], "default": "day"},
    ),
    _query(
        "ending_at",
        "The series ends with the point holding this instant (default: now). An ISO 8601"
        " date-time (`2026-11-22T05:00:00Z`, `2014-12-10T23:59:59-05:00`) or date"
        " (`2026-11-22`). Without an offset it is wall-clock time in the workspace's zone; a"
        " bare date is the local midnight that starts that day. Instants too close to year 1 or"
        " 9999 for a 100-point series are clamped.",
        {"type": "string", "format": "date-time"},
    ),
    _query(
        "app_id",
        "Only count what carried this app's identifier (an app of the key's workspace, else"
        " 400). Omitted: all apps, including data sent without an `app_id`.",
        {"type": "string"},
    ),
]

_SEGMENT = _query(
    "segment_id",
    "Only count what the members of this segment did (the `id` of `/segments/list`). The"
    " segment must have analytics tracking enabled, else 400; counting starts when tracking"
    " is turned on (docs/segments.md). Empty means no segment.",
    {"type": "string"},
)


def _series_response(name: str, value_name: str, value: JSONObject) -> JSONObject:
    """The `{"message": "success", "data": [{"time", value_name}]}` body schema."""
    point = add_schema(
        name,
        {
            "type": "object",
            "required": ["time", value_name],
            "properties": {"time": _TIME, value_name: value},
            "additionalProperties": False,
        },
    )
    return {
        "type": "object",
        "required": ["message", "data"],
        "properties": {
            "message": {"type": "string", "enum": ["success"]},
            "data": {
                "type": "array",
                "items": point,
                "minItems": 1,
                "maxItems": MAX_LENGTH,
                "description": "Exactly `length` points, oldest first, zero-filled.",
            },
        },
        "additionalProperties": False,
    }


_ERRORS_400 = braze_errors(400, 404)
_ERRORS_400["400"]["description"] = (
    "A parameter is missing or invalid; `message` names it (for example"
    " `'length' must be an integer between 1 and 100`, or a `segment_id` whose segment does"
    " not have analytics tracking enabled)."
)
_ERRORS_400["404"]["description"] = "`segment_id` is not the id of a segment of this workspace."

register(
    "/events/data_series",
    "get",
    {
        "operationId": "eventsDataSeries",
        "summary": "Occurrences of a custom event over time",
        "description": "Counts of one custom event per day or hour, read from the hourly"
        " rollups counted at ingest. An event name never tracked answers zeros.",
        "tags": ["Export: custom events"],
        "parameters": [
            _query(
                "event",
                "The custom event's name.",
                {"type": "string", "minLength": 1},
                required=True,
            ),
            *_SERIES_PARAMETERS,
            _SEGMENT,
        ],
        "responses": {
            "200": json_response(
                "The series.",
                _series_response("EventSeriesPoint", "count", {"type": "integer", "minimum": 0}),
            ),
            **_ERRORS_400,
        },
    },
    permission="events.data_series",
)

_PRODUCT = _query(
    "product",
    "Only this product (its `product_id` as tracked); a name never tracked answers zeros."
    " Omitted: all products.",
    {"type": "string"},
)

register(
    "/purchases/quantity_series",
    "get",
    {
        "operationId": "purchasesQuantitySeries",
        "summary": "Items purchased over time",
        "description": "Sum of purchase `quantity` per day or hour.",
        "tags": ["Export: purchases"],
        "parameters": [*_SERIES_PARAMETERS, _PRODUCT, _SEGMENT],
        "responses": {
            "200": json_response(
                "The series.",
                _series_response(
                    "PurchaseQuantityPoint", "purchase_quantity", {"type": "integer", "minimum": 0}
                ),
            ),
            **_ERRORS_400,
        },
    },
    permission="purchases.quantity_series",
)

register(
    "/purchases/revenue_series",
    "get",
    {
        "operationId": "purchasesRevenueSeries",
        "summary": "Revenue over time",
        "description": "Sum of `price * quantity` per day or hour, in the currencies as sent"
        " (heron converts nothing, so mixed currencies add up as plain numbers), rounded to 6"
        " decimal places.",
        "tags": ["Export: purchases"],
        "parameters": [*_SERIES_PARAMETERS, _PRODUCT, _SEGMENT],
        "responses": {
            "200": json_response(
                "The series.",
                _series_response("PurchaseRevenuePoint", "revenue", {"type": "number"}),
            ),
            **_ERRORS_400,
        },
    },
    permission="purchases.revenue_series",
)
