"""`POST /users/track` in the OpenAPI document (spec §4): Braze's objects and answers."""

from __future__ import annotations

from typing import Any

from heron.ingest.attribute_values import MAX_STRING_LENGTH
from heron.ingest.events import MAX_NAME_LENGTH, MAX_QUANTITY
from heron.ingest.identifiers import MAX_IDENTIFIER_LENGTH
from heron.openapi.registry import add_schema, braze_errors, json_response, register

# Same as heron.ingest.routes.MAX_OBJECTS_PER_ARRAY (a test keeps them equal); not imported so
# that the routes module may import heron.openapi without an import cycle.
MAX_OBJECTS_PER_ARRAY = 75
ARRAYS = ("attributes", "events", "purchases")

JSONObject = dict[str, Any]


def _string(description: str, max_length: int = MAX_STRING_LENGTH, **extra: Any) -> JSONObject:
    """A non-empty string schema."""
    return {
        "type": "string",
        "minLength": 1,
        "maxLength": max_length,
        "description": description,
        **extra,
    }


def _nullable(schema: JSONObject) -> JSONObject:
    """The schema, also accepting `null` (which removes a profile field)."""
    if "enum" in schema:
        return {**schema, "nullable": True, "enum": [*schema["enum"], None]}
    return {**schema, "nullable": True}


_DATETIME = {
    "type": "string",
    "format": "date-time",
    "description": "ISO 8601 date-time (Braze also reads `yyyy-MM-dd'T'HH:mm:ss:SSSZ`); read as"
    " UTC when it has no zone; a future time is clamped to now.",
}

USER_ALIAS = add_schema(
    "UserAlias",
    {
        "type": "object",
        "required": ["alias_name", "alias_label"],
        "properties": {
            "alias_name": _string("The alias.", MAX_IDENTIFIER_LENGTH),
            "alias_label": _string("The alias's label (its namespace).", MAX_IDENTIFIER_LENGTH),
        },
        "additionalProperties": True,
    },
)

# One of these names the user; with several, heron picks external_id, braze_id, user_alias,
# email, phone in that order.
_IDENTIFIERS: JSONObject = {
    "external_id": _string("The user's external ID.", MAX_IDENTIFIER_LENGTH),
    "braze_id": _string(
        "The user's Braze ID (assigned by the server; never creates a user).",
        MAX_IDENTIFIER_LENGTH,
    ),
    "user_alias": USER_ALIAS,
    "email": _string(
        "The user's email address (creates an email-only profile when unknown).",
        MAX_IDENTIFIER_LENGTH,
        format="email",
    ),
    "phone": _string("The user's phone number (E.164 recommended).", MAX_IDENTIFIER_LENGTH),
    "_update_existing_only": {
        "type": "boolean",
        "description": "true: only update an existing user. Omitted: an unknown external_id,"
        " email or phone creates the user; a user_alias only updates (except attributes"
        " objects sent with `false`).",
    },
}
_ONE_IDENTIFIER = [
    {"required": [name]} for name in ("external_id", "braze_id", "user_alias", "email", "phone")
]
_IDENTIFIER_TEXT = (
    "Names its user with one of `external_id`, `braze_id`, `user_alias`, `email`, `phone`."
)

PROPERTIES = add_schema(
    "EventProperties",
    {
        "type": "object",
        "description": "Custom properties: names are non-empty strings of at most 255 characters,"
        " not starting with `$`; `time` and `event_name` are reserved. Values are numbers,"
        " booleans, strings of at most 255 characters, datetime strings, null, arrays and"
        " objects (nested data at most 100 KB for an event, 50 KB for a purchase). Only the first"
        " 256 properties are kept.",
        "additionalProperties": True,
    },
)

EVENT = add_schema(
    "Event",
    {
        "type": "object",
        "description": f"A custom event. {_IDENTIFIER_TEXT} Unknown keys are ignored.",
        "required": ["name", "time"],
        "anyOf": _ONE_IDENTIFIER,
        "properties": {
            **_IDENTIFIERS,
            "app_id": {"type": "string", "description": "An app identifier of this workspace."},
            "name": _string("The event name (case-sensitive).", MAX_NAME_LENGTH),
            "time": _DATETIME,
            "properties": PROPERTIES,
        },
        "additionalProperties": True,
    },
)

PURCHASE = add_schema(
    "Purchase",
    {
        "type": "object",
        "description": f"A purchase. {_IDENTIFIER_TEXT} Unknown keys are ignored.",
        "required": ["product_id", "currency", "price", "time"],
        "anyOf": _ONE_IDENTIFIER,
        "properties": {
            **_IDENTIFIERS,
            "app_id": {"type": "string", "description": "An app identifier of this workspace."},
            "product_id": _string("The product identifier.", MAX_NAME_LENGTH),
            "currency": {
                "type": "string",
                "pattern": "^[A-Za-z]{3}$",
                "description": "ISO 4217 alphabetic currency code, such as `USD`.",
            },
            "price": {
                "type": "number",
                "description": "Unit price in the currency's base unit (negative for refunds).",
            },
            "quantity": {
                "type": "integer",
                "minimum": 1,
                "maximum": MAX_QUANTITY,
                "default": 1,
                "description": "Number of items; revenue is price x quantity.",
            },
            "time": _DATETIME,
            "properties": PROPERTIES,
        },
        "additionalProperties": True,
    },
)

_SUBSCRIBE_STATES = {"type": "string", "enum": ["opted_in", "unsubscribed", "subscribed"]}
_PAST_DATETIME = {**_DATETIME, "description": "A datetime string; a future time becomes now."}

USER_ATTRIBUTES = add_schema(
    "UserAttributes",
    {
        "type": "object",
        "description": f"User profile updates. {_IDENTIFIER_TEXT} Keys other than the"
        " identifiers, control flags and the standard profile fields below are custom attributes:"
        ' any JSON value (`null` removes the attribute; `{"inc": n}` increments a number;'
        ' `{"add": [...]}` / `{"remove": [...]}` edit an array; strings are at most 255'
        " characters; arrays hold at most 25 items by default).",
        "anyOf": _ONE_IDENTIFIER,
        "properties": {
            **_IDENTIFIERS,
            "email": _nullable(
                _string(
                    "The user's email address: identifies the user when no stronger"
                    " identifier is given, else updates the profile's email.",
                    format="email",
                )
            ),
            "phone": _nullable(
                _string(
                    "The user's phone number: identifies the user when no stronger identifier"
                    " is given, else updates the profile's phone."
                )
            ),
            "push_token_import": {
                "type": "boolean",
                "description": "true: import `push_tokens` for an anonymous user.",
            },
            "country": _nullable(
                {"type": "string", "description": "ISO 3166-1 alpha-2 country code."}
            ),
            "current_location": _nullable(
                {
                    "type": "object",
                    "required": ["longitude", "latitude"],
                    "properties": {
                        "longitude": {"type": "number", "minimum": -180, "maximum": 180},
                        "latitude": {"type": "number", "minimum": -90, "maximum": 90},
                    },
                    "additionalProperties": True,
                }
            ),
            "date_of_first_session": _nullable(_PAST_DATETIME),
            "date_of_last_session": _nullable(_PAST_DATETIME),
            "dob": _nullable(
                {"type": "string", "format": "date", "description": "Date of birth, YYYY-MM-DD."}
            ),
            "email_subscribe": _nullable(_SUBSCRIBE_STATES),
            "email_open_tracking_disabled": _nullable({"type": "boolean"}),
            "email_click_tracking_disabled": _nullable({"type": "boolean"}),
            "facebook": _nullable(
                {
                    "type": "object",
                    "properties": {
                        "id": {"type": "string", "maxLength": MAX_STRING_LENGTH},
                        "likes": {
                            "type": "array",
                            "items": {"type": "string", "maxLength": MAX_STRING_LENGTH},
                        },
                        "num_friends": {"type": "integer"},
                    },
                    "additionalProperties": True,
                }
            ),
            "first_name": _nullable({"type": "string", "maxLength": MAX_STRING_LENGTH}),
            "gender": _nullable(
                {
                    "type": "string",
                    "enum": ["M", "F", "O", "N", "P"],
                    "description": "Male, female, other, not applicable, prefer not to say.",
                }
            ),
            "home_city": _nullable({"type": "string", "maxLength": MAX_STRING_LENGTH}),
            "language": _nullable(
                {"type": "string", "description": "ISO 639-1 language code, such as `en`."}
            ),
            "last_name": _nullable({"type": "string", "maxLength": MAX_STRING_LENGTH}),
            "marked_email_as_spam_at": _nullable(_PAST_DATETIME),
            "push_subscribe": _nullable(_SUBSCRIBE_STATES),
            "push_tokens": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["app_id", "token"],
                    "properties": {
                        "app_id": {"type": "string", "minLength": 1},
                        "token": {"type": "string", "minLength": 1},
                        "device_id": {"type": "string", "minLength": 1},
                    },
                    "additionalProperties": True,
                },
            },
            "subscription_groups": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["subscription_group_id", "subscription_state"],
                    "properties": {
                        "subscription_group_id": {"type": "string", "minLength": 1},
                        "subscription_state": {
                            "type": "string",
                            "enum": ["subscribed", "unsubscribed"],
                        },
                    },
                    "additionalProperties": True,
                },
            },
            "time_zone": _nullable(
                {"type": "string", "description": "IANA time zone name, such as `Europe/Paris`."}
            ),
            "twitter": _nullable(
                {
                    "type": "object",
                    "properties": {
                        "id": {"type": "integer"},
                        "screen_name": {"type": "string", "maxLength": MAX_STRING_LENGTH},
                        "followers_count": {"type": "integer"},
                        "friends_count": {"type": "integer"},
                        "statuses_count": {"type": "integer"},
                    },
                    "additionalProperties": True,
                }
            ),
        },
        "additionalProperties": True,
    },
)

_ITEMS = {"attributes": USER_ATTRIBUTES, "events": EVENT, "purchases": PURCHASE}

REQUEST = add_schema(
    "UsersTrackRequest",
    {
        "type": "object",
        "description": "At least one of the three arrays; each holds at most"
        f" {MAX_OBJECTS_PER_ARRAY} objects. Objects are processed attributes first, then events,"
        " then purchases. Other keys are ignored.",
        "anyOf": [{"required": [name]} for name in ARRAYS],
        "properties": {
            name: {"type": "array", "maxItems": MAX_OBJECTS_PER_ARRAY, "items": item}
            for name, item in _ITEMS.items()
        },
        "additionalProperties": True,
    },
)

RESPONSE = add_schema(
    "UsersTrackResponse",
    {
        "type": "object",
        "description": "Each `*_processed` count is present only when that array was sent."
        " Invalid objects are not fatal: each is reported in `errors` and the rest is stored.",
        "required": ["message"],
        "properties": {
            "message": {"type": "string", "enum": ["success"]},
            **{
                f"{name}_processed": {
                    "type": "integer",
                    "minimum": 0,
                    "maximum": MAX_OBJECTS_PER_ARRAY,
                    "description": f"How many `{name}` objects were stored.",
                }
                for name in ARRAYS
            },
            "errors": {
                "type": "array",
                "minItems": 1,
                "items": {
                    "type": "object",
                    "required": ["type", "input_array", "index"],
                    "properties": {
                        "type": {
                            "type": "string",
                            "minLength": 1,
                            "description": "Why the object was refused (a human message).",
                        },
                        "input_array": {"type": "string", "enum": list(ARRAYS)},
                        "index": {
                            "type": "integer",
                            "minimum": 0,
                            "maximum": MAX_OBJECTS_PER_ARRAY - 1,
                            "description": "The object's 0-based position in its array.",
                        },
                    },
                    "additionalProperties": False,
                },
            },
        },
        "additionalProperties": False,
    },
)

register(
    "/users/track",
    "post",
    {
        "operationId": "usersTrack",
        "summary": "Record user attributes, custom events and purchases",
        "description": "Braze's `/users/track`: validates each object, stores the valid ones"
        " durably and answers 201 after they are committed. Body at most 4 MB.",
        "tags": ["User data"],
        "parameters": [
            {
                "name": "Idempotency-Key",
                "in": "header",
                "required": False,
                "description": "heron extension: a repeat of a stored request with the same key"
                " (within 24 h) gets the first answer and stores nothing again; the same key"
                " with another body is a 409. Braze ignores it.",
                "schema": {
                    "type": "string",
                    "minLength": 1,
                    "maxLength": 255,
                    "pattern": "^[!-~]+$",
                },
            }
        ],
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": REQUEST}},
        },
        "responses": {
            "201": json_response(
                "Stored: counts per array sent, plus the objects that were refused.", RESPONSE
            ),
            **braze_errors(400, 401, 403, 409, 413, 429, 503),
        },
    },
    permission="users.track",
)
