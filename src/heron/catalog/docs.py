"""The catalog endpoints in the OpenAPI document: Braze's exports and heron's management API."""

from __future__ import annotations

from typing import Any

from heron.catalog import cursor, queries
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
from heron.catalog.manage import PERMISSION, PREFIX, actions
from heron.openapi.registry import ERROR_SCHEMA, add_schema, braze_errors, json_response, register

JSONObject = dict[str, Any]

_NO_NUL = "^[^\\u0000]*$"
_TIME = {"type": "string", "format": "date-time", "nullable": True}
_TAGS = {
    "type": "array",
    "items": {"type": "string", "minLength": 1, "maxLength": MAX_TAG_LENGTH, "pattern": _NO_NUL},
    "maxItems": MAX_TAGS,
    "description": f"Tag names (at most {MAX_TAGS}; duplicates are dropped, order is kept).",
}
_STATUS = {
    "type": "string",
    "enum": list(LISTED),
    "description": "`Active`; `Blocklisted` (new data is dropped at ingest); `Trashed` (deleted:"
    " still blocklisted, restorable for 7 days, then purged and no longer listed).",
}
_LINK = {
    "Link": {
        "description": 'Braze\'s paging header: `</path?cursor=X>; rel="prev",</path?cursor=Y>;'
        ' rel="next"` (relative URIs; no `prev` on the first page, no `next` on the last, no'
        " header when everything fits one page).",
        "schema": {"type": "string"},
    }
}
_CURSOR_PARAMETER = {
    "name": "cursor",
    "in": "query",
    "required": False,
    "description": "Where the page starts: take it from the previous answer's `Link` header"
    " (opaque; it never expires). Braze's sample cursors, base64 of `skip:<n>`, are read as an"
    " offset. A malformed cursor is a 400.",
    "schema": {"type": "string", "pattern": cursor.CURSOR_PATTERN},
}
_PAGE_DESCRIPTION = "Page number, from 0 (the default); a page past the end is an empty list."


def _not_found(what: str) -> JSONObject:
    """A 404 response for unknown names."""
    return json_response(f"Not Found: {what}", ERROR_SCHEMA)


_CONFLICT = json_response(
    "Conflict: the change is not allowed in an entry's current status (or the name exists"
    " already, or the blocklist is full); `errors` says why for each name. Nothing changed.",
    ERROR_SCHEMA,
)


def _name_schema(kind: Kind) -> JSONObject:
    """The schema of one name of a catalog."""
    pattern = "^[^$\\u0000][^\\u0000]*$" if kind is ATTRIBUTES else _NO_NUL
    return {
        "type": "string",
        "minLength": 1,
        "maxLength": kind.max_name_length,
        "pattern": pattern,
        "description": f"The {kind.singular} name (case-sensitive).",
    }


def _object(properties: JSONObject, required: list[str] | None = None) -> JSONObject:
    """A closed object schema whose every property is required (unless told)."""
    return {
        "type": "object",
        "required": list(properties) if required is None else required,
        "properties": properties,
        "additionalProperties": False,
    }


EXPORT_EVENT = add_schema(
    "ExportedCustomEvent",
    _object(
        {
            "name": {"type": "string"},
            "description": {"type": "string"},
            "included_in_analytics_report": {"type": "boolean"},
            "status": _STATUS,
            "tag_names": {"type": "array", "items": {"type": "string"}},
        }
    ),
)
EXPORT_ATTRIBUTE = add_schema(
    "ExportedCustomAttribute",
    _object(
        {
            "name": {"type": "string"},
            "description": {"type": "string"},
            "data_type": {"type": "string", "enum": list(ATTRIBUTE_DATA_TYPES)},
            "array_length": {
                "type": "integer",
                "nullable": True,
                "description": "For `Array` attributes, the most items an array keeps (the"
                " server's setting); null for every other data type.",
            },
            "status": _STATUS,
            "tag_names": {"type": "array", "items": {"type": "string"}},
        }
    ),
)


def _managed_schema(kind: Kind) -> JSONObject:
    """heron's management item of a catalog."""
    properties: JSONObject = {
        "name": {"type": "string"},
        "description": {"type": "string"},
        "status": _STATUS,
        "tag_names": {"type": "array", "items": {"type": "string"}},
    }
    if kind is EVENTS:
        properties["included_in_analytics_report"] = {"type": "boolean"}
    if kind is ATTRIBUTES:
        properties["data_type"] = {"type": "string", "enum": list(ATTRIBUTE_DATA_TYPES)}
        properties["array_length"] = {"type": "integer", "nullable": True}
    properties.update(
        {
            "created_at": {**_TIME, "description": "When heron first knew the name."},
            "first_seen": {**_TIME, "description": "Earliest tracked time (null if never)."},
            "last_seen": {**_TIME, "description": "Latest tracked time (to the minute)."},
            "blocklisted_at": {**_TIME, "description": "When it was blocklisted, else null."},
        }
    )
    if kind.trashable:
        properties.update(
            {
                "trashable_at": {**_TIME, "description": "From when it may be trashed."},
                "trashed_at": {**_TIME, "description": "When it was trashed, else null."},
                "purge_at": {**_TIME, "description": "When a Trashed entry is purged."},
            }
        )
    name = {"events": "ManagedCustomEvent", "custom_attributes": "ManagedCustomAttribute"}
    return add_schema(name.get(kind.key, "ManagedProduct"), _object(properties))


def _body(schema: JSONObject) -> JSONObject:
    """A required JSON request body."""
    return {"required": True, "content": {"application/json": {"schema": schema}}}


def _fields_schema(kind: Kind) -> JSONObject:
    """The editable fields of a catalog entry."""
    properties: JSONObject = {
        "name": _name_schema(kind),
        "description": {
            "type": "string",
            "maxLength": MAX_DESCRIPTION_LENGTH,
            "pattern": _NO_NUL,
        },
        "tag_names": _TAGS,
    }
    if kind is EVENTS:
        properties["included_in_analytics_report"] = {"type": "boolean"}
    if kind is ATTRIBUTES:
        properties["data_type"] = {
            "type": "string",
            "enum": list(ATTRIBUTE_DATA_TYPES),
            "description": "A label (default `String`); heron does not coerce tracked values.",
        }
    return {
        "type": "object",
        "required": ["name"],
        "properties": properties,
        "additionalProperties": True,
    }


def _register_exports() -> None:
    """Braze's four catalog exports."""
    for kind, path, permission, schema in (
        (EVENTS, "/events", "events.get", EXPORT_EVENT),
        (ATTRIBUTES, "/custom_attributes", "custom_attributes.get", EXPORT_ATTRIBUTE),
    ):
        register(
            path,
            "get",
            {
                "operationId": f"export_{kind.key}",
                "summary": f"Export {kind.singular}s ({queries.PAGE_SIZE} per page)",
                "description": f"Every {kind.singular} of the workspace that is not purged,"
                " sorted by name case-sensitively (code-point order), with its governance"
                " status. Further pages through the `Link` header.",
                "tags": ["Export"],
                "parameters": [_CURSOR_PARAMETER],
                "responses": {
                    "200": {
                        **json_response(
                            "One page.",
                            _object(
                                {
                                    "message": {"type": "string", "enum": ["success"]},
                                    kind.key: {
                                        "type": "array",
                                        "items": schema,
                                        "maxItems": queries.PAGE_SIZE,
                                    },
                                }
                            ),
                        ),
                        "headers": dict(_LINK),
                    },
                    **braze_errors(400),
                },
            },
            permission=permission,
        )
    for path, permission, key, size, summary in (
        ("/events/list", "events.list", "events", queries.NAMES_PAGE_SIZE, "custom event names"),
        (
            "/purchases/product_list",
            "purchases.product_list",
            "products",
            queries.PRODUCTS_PAGE_SIZE,
            "product names",
        ),
    ):
        register(
            path,
            "get",
            {
                "operationId": path.strip("/").replace("/", "_"),
                "summary": f"List {summary} ({size} per page)",
                "description": f"Active {summary} (not blocklisted, trashed or purged), sorted"
                f" by name case-sensitively, {size} per page. Braze types `page` as a string:"
                " any run of digits is accepted; anything else is a 400.",
                "tags": ["Export"],
                "parameters": [
                    {
                        "name": "page",
                        "in": "query",
                        "required": False,
                        "description": _PAGE_DESCRIPTION,
                        "schema": {"type": "integer", "minimum": 0},
                    }
                ],
                "responses": {
                    "200": json_response(
                        "One page of names.",
                        _object(
                            {
                                "message": {"type": "string", "enum": ["success"]},
                                key: {
                                    "type": "array",
                                    "items": {"type": "string"},
                                    "maxItems": size,
                                },
                            }
                        ),
                    ),
                    **braze_errors(400),
                },
            },
            permission=permission,
        )


_ACTION_TEXT = {
    "blocklist": "Blocklist: from now on `/users/track` drops new data for these names (reported"
    " in `errors`). Already blocklisted names are left as they are.",
    "unblock": "Unblock blocklisted names (back to `Active`). Active names are left as they are.",
    "trash": "Delete (trash) blocklisted names: allowed once a name has been blocklisted for 7"
    " days; it stays blocklisted and restorable for 7 days (`Trashed`), then is purged.",
    "restore": "Restore trashed names back to `Blocklisted`.",
}


def _register_management(kind: Kind) -> None:
    """The management operations of one catalog."""
    base = f"{PREFIX}/{kind.key}"
    item = _managed_schema(kind)
    one = _object({"message": {"type": "string", "enum": ["success"]}, kind.item_key: item})
    many = _object(
        {
            "message": {"type": "string", "enum": ["success"]},
            kind.key: {"type": "array", "items": item},
        }
    )
    tags = ["Catalog management"]
    register(
        base,
        "get",
        {
            "operationId": f"manage_list_{kind.key}",
            "summary": f"List {kind.singular}s with their governance fields",
            "description": f"{queries.PAGE_SIZE} per page by name, like Braze's exports.",
            "tags": tags,
            "parameters": [
                _CURSOR_PARAMETER,
                {
                    "name": "status",
                    "in": "query",
                    "required": False,
                    "description": "Only entries with this status.",
                    "schema": {"type": "string", "enum": list(LISTED)},
                },
            ],
            "responses": {
                "200": {**json_response("One page.", many), "headers": dict(_LINK)},
                **braze_errors(400),
            },
        },
        permission=PERMISSION,
    )
    register(
        base,
        "post",
        {
            "operationId": f"manage_create_{kind.key}",
            "summary": f"Pre-create a {kind.singular}",
            "description": "Adds the name (`Active`) before it is ever tracked, with optional"
            " fields. A purged name can be created again.",
            "tags": tags,
            "requestBody": _body(_fields_schema(kind)),
            "responses": {
                "201": json_response("Created.", one),
                "409": _CONFLICT,
                **braze_errors(400, 413),
            },
        },
        permission=PERMISSION,
    )
    register(
        f"{base}/details",
        "get",
        {
            "operationId": f"manage_details_{kind.key}",
            "summary": f"One {kind.singular}",
            "tags": tags,
            "parameters": [
                {"name": "name", "in": "query", "required": True, "schema": _name_schema(kind)}
            ],
            "responses": {
                "200": json_response("The entry.", one),
                "404": _not_found("no such name (or it was purged)."),
                **braze_errors(400),
            },
        },
        permission=PERMISSION,
    )
    register(
        f"{base}/update",
        "post",
        {
            "operationId": f"manage_update_{kind.key}",
            "summary": f"Describe and tag a {kind.singular}",
            "description": "Sets the fields given; the others are left as they are.",
            "tags": tags,
            "requestBody": _body(_fields_schema(kind)),
            "responses": {
                "200": json_response("The entry after the change.", one),
                "404": _not_found("no such name (or it was purged)."),
                **braze_errors(400, 413),
            },
        },
        permission=PERMISSION,
    )
    names = {
        "type": "object",
        "required": ["names"],
        "properties": {
            "names": {
                "type": "array",
                "items": _name_schema(kind),
                "minItems": 1,
                "maxItems": MAX_NAMES_PER_REQUEST,
            }
        },
        "additionalProperties": True,
    }
    for action in actions(kind):
        register(
            f"{base}/{action}",
            "post",
            {
                "operationId": f"manage_{action}_{kind.key}",
                "summary": f"{action.capitalize()} {kind.singular}s",
                "description": f"{_ACTION_TEXT[action]} All or nothing: if one name cannot"
                f" change, none does. At most {MAX_NAMES_PER_REQUEST} names per request.",
                "tags": tags,
                "requestBody": _body(names),
                "responses": {
                    "200": json_response("The entries after the change, by name.", many),
                    "404": _not_found("one of the names does not exist; `errors` lists them."),
                    "409": _CONFLICT,
                    **braze_errors(400, 413),
                },
            },
            permission=PERMISSION,
        )


def register_all() -> None:
    """Document every catalog endpoint."""
    _register_exports()
    for kind in KINDS.values():
        _register_management(kind)


register_all()
