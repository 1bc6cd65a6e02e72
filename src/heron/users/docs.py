"""The user-identity endpoints in the OpenAPI document: request bodies exactly as the server
accepts them (so schema-valid requests succeed) and Braze's answers."""

from __future__ import annotations

from typing import Any

from heron.ingest.identifiers import MAX_ALIAS_PART_LENGTH, MAX_EMAIL_LENGTH, MAX_IDENTIFIER_LENGTH
from heron.openapi.registry import add_schema, braze_errors, json_response, register
from heron.users.export import EXPORT_FIELDS
from heron.users.parse import IDENTIFIED, IDENTIFY_PRIORITIES, MAX_IDS, PRIORITIES, UNIDENTIFIED

JSONObject = dict[str, Any]


def _string(
    description: str, max_length: int = MAX_IDENTIFIER_LENGTH, *, stored: bool = False, **extra: Any
) -> JSONObject:
    """A non-empty string; one that is stored may not contain NUL (one looked up may)."""
    if stored:
        extra["pattern"] = "^[^\\u0000]*$"
    return {
        "type": "string",
        "minLength": 1,
        "maxLength": max_length,
        "description": description,
        **extra,
    }


def _prioritization(allowed: tuple[str, ...]) -> JSONObject:
    """The `prioritization` schema for one endpoint's allowed values (not both (un)identified)."""
    return {
        "type": "array",
        "minItems": 1,
        "uniqueItems": True,
        "anyOf": [
            {"items": {"type": "string", "enum": [p for p in allowed if p != excluded]}}
            for excluded in (IDENTIFIED, UNIDENTIFIED)
        ],
        "description": "Ordered rules picking one profile when several match: "
        + ", ".join(f"`{p}`" for p in allowed)
        + " (at most one of `identified` and `unidentified`). Still several: nothing happens.",
    }


ALIAS = add_schema(
    "UserAliasIdentifier",
    {
        "type": "object",
        "required": ["alias_name", "alias_label"],
        "properties": {
            "alias_name": _string("The alias.", MAX_ALIAS_PART_LENGTH),
            "alias_label": _string(
                "The alias's label (a profile has one alias per label).", MAX_ALIAS_PART_LENGTH
            ),
        },
    },
)
_EXTERNAL_ID = _string("A user's external ID.")
_NEW_EXTERNAL_ID = _string("The external ID to give.", stored=True)
_EMAIL = _string("An email address (matched case-insensitively).", MAX_EMAIL_LENGTH, pattern="@")
_PHONE = _string("A phone number (E.164 recommended; matched on its digits).", pattern="[0-9]")


def _contact(kind: str, allowed: tuple[str, ...]) -> JSONObject:
    """An email or phone identifier with its prioritization."""
    return {
        "type": "object",
        "required": [kind, "prioritization"],
        "properties": {
            kind: _EMAIL if kind == "email" else _PHONE,
            "prioritization": _prioritization(allowed),
        },
    }


def _exclusive(branches: dict[str, JSONObject]) -> list[JSONObject]:
    """`anyOf` branches, one per identifier kind, each closed to the others' keys."""
    return [
        {**schema, "type": "object", "additionalProperties": False} for schema in branches.values()
    ]


def _closed(properties: JSONObject, *required: str) -> JSONObject:
    """One exclusive shape of an export request (with optional `fields_to_export`)."""
    return {
        "type": "object",
        "required": list(required),
        "properties": {**properties, "fields_to_export": _FIELDS},
        "additionalProperties": False,
    }


def _body(schema: JSONObject) -> JSONObject:
    """A required JSON request body."""
    return {"required": True, "content": {"application/json": {"schema": schema}}}


def _array(items: JSONObject, description: str, max_items: int = MAX_IDS) -> JSONObject:
    """An array of at most `max_items` items."""
    return {"type": "array", "items": items, "maxItems": max_items, "description": description}


_PROCESSED = add_schema(
    "AliasesProcessed",
    {
        "type": "object",
        "required": ["aliases_processed", "message"],
        "properties": {
            "aliases_processed": {
                "type": "integer",
                "minimum": 0,
                "description": "Entries of the request accepted.",
            },
            "message": {"type": "string", "enum": ["success"]},
        },
        "additionalProperties": False,
    },
)
_ERRORS = braze_errors(400, 413, 503)
_FIELDS = {
    "type": "array",
    "items": {"type": "string", "enum": list(EXPORT_FIELDS)},
    "description": "Fields to export (default: every field).",
}


def _register_aliases() -> None:
    """`/users/alias/new` and `/users/alias/update`."""
    register(
        "/users/alias/new",
        "post",
        {
            "summary": "Create new user aliases",
            "description": "Adds aliases to identified users (`external_id`), or creates"
            " alias-only users (no `external_id`). An unknown external_id, a taken alias or a"
            " label the user already has: the entry changes nothing. At most 50 entries.",
            "requestBody": _body(
                {
                    "type": "object",
                    "required": ["user_aliases"],
                    "properties": {
                        "user_aliases": _array(
                            {
                                "type": "object",
                                "required": ["alias_name", "alias_label"],
                                "properties": {
                                    "external_id": _EXTERNAL_ID,
                                    "alias_name": _string(
                                        "The alias.", MAX_ALIAS_PART_LENGTH, stored=True
                                    ),
                                    "alias_label": _string(
                                        "Its label.", MAX_ALIAS_PART_LENGTH, stored=True
                                    ),
                                },
                            },
                            "New user alias objects.",
                        )
                    },
                }
            ),
            "responses": {"201": json_response("Aliases processed", _PROCESSED), **_ERRORS},
        },
        permission="users.alias.new",
    )
    register(
        "/users/alias/update",
        "post",
        {
            "summary": "Update user aliases",
            "description": "Renames the alias (`alias_label`, `old_alias_name`) to"
            " `new_alias_name`; an unknown alias or a taken new name changes nothing."
            " At most 50 entries.",
            "requestBody": _body(
                {
                    "type": "object",
                    "required": ["alias_updates"],
                    "properties": {
                        "alias_updates": _array(
                            {
                                "type": "object",
                                "required": ["alias_label", "old_alias_name", "new_alias_name"],
                                "properties": {
                                    "alias_label": _string("The label.", MAX_ALIAS_PART_LENGTH),
                                    "old_alias_name": _string("The name.", MAX_ALIAS_PART_LENGTH),
                                    "new_alias_name": _string(
                                        "The new name.", MAX_ALIAS_PART_LENGTH, stored=True
                                    ),
                                },
                            },
                            "Update user alias objects.",
                        )
                    },
                }
            ),
            "responses": {"201": json_response("Aliases processed", _PROCESSED), **_ERRORS},
        },
        permission="users.alias.update",
    )


def _register_identify() -> None:
    """`/users/identify`."""

    def entry(kind: str) -> JSONObject:
        """One entry of an identify list."""
        if kind == "user_alias":
            return {
                "type": "object",
                "required": ["external_id", "user_alias"],
                "properties": {"external_id": _NEW_EXTERNAL_ID, "user_alias": ALIAS},
            }
        contact = _contact(kind, IDENTIFY_PRIORITIES)
        return {
            **contact,
            "required": ["external_id", *contact["required"]],
            "properties": {"external_id": _NEW_EXTERNAL_ID, **contact["properties"]},
        }

    register(
        "/users/identify",
        "post",
        {
            "summary": "Identify users",
            "description": "Gives alias-, email- or phone-only users an external_id; when a user"
            " with that external_id exists, the anonymous user is merged into it (fields only"
            " it has, counts summed, first dates the earlier, last dates the later) and removed."
            " At least one list; at most 50 entries in all.",
            "requestBody": _body(
                {
                    "type": "object",
                    "anyOf": [
                        {"required": [key]}
                        for key in (
                            "aliases_to_identify",
                            "emails_to_identify",
                            "phone_numbers_to_identify",
                        )
                    ],
                    "properties": {
                        "aliases_to_identify": _array(entry("user_alias"), "Aliases.", 16),
                        "emails_to_identify": _array(entry("email"), "Emails.", 16),
                        "phone_numbers_to_identify": _array(entry("phone"), "Phones.", 16),
                        "merge_behavior": {
                            "type": "string",
                            "enum": ["merge", "none"],
                            "description": "`merge` (default) or `none` (keep only aliases and"
                            " push tokens of the anonymous user).",
                        },
                    },
                }
            ),
            "responses": {"201": json_response("Entries processed", _PROCESSED), **_ERRORS},
        },
        permission="users.identify",
    )


def _merge_identifier() -> JSONObject:
    """One side of a merge update."""
    return {
        "type": "object",
        "anyOf": _exclusive(
            {
                "external_id": {
                    "required": ["external_id"],
                    "properties": {"external_id": _EXTERNAL_ID},
                },
                "user_alias": {"required": ["user_alias"], "properties": {"user_alias": ALIAS}},
                "email": _contact("email", PRIORITIES),
                "phone": _contact("phone", PRIORITIES),
            },
        ),
    }


def _register_merge_and_delete() -> None:
    """`/users/merge` and `/users/delete`."""
    side = _merge_identifier()
    register(
        "/users/merge",
        "post",
        {
            "summary": "Merge users",
            "description": "Folds each `identifier_to_merge` user into its `identifier_to_keep`"
            " user (fields the target lacks, custom attributes it lacks, events and purchases,"
            " aliases) and removes it. At most 50 merge updates.",
            "requestBody": _body(
                {
                    "type": "object",
                    "required": ["merge_updates"],
                    "properties": {
                        "merge_updates": _array(
                            {
                                "type": "object",
                                "required": ["identifier_to_merge", "identifier_to_keep"],
                                "properties": {
                                    "identifier_to_merge": side,
                                    "identifier_to_keep": side,
                                },
                                "additionalProperties": False,
                            },
                            "Merge updates.",
                        )
                    },
                }
            ),
            "responses": {
                "202": json_response(
                    "Accepted and applied",
                    {
                        "type": "object",
                        "required": ["message"],
                        "properties": {"message": {"type": "string", "enum": ["success"]}},
                        "additionalProperties": False,
                    },
                ),
                **_ERRORS,
            },
        },
        permission="users.merge",
    )
    lists = {
        "external_ids": _array(_EXTERNAL_ID, "External IDs."),
        "user_aliases": _array(ALIAS, "User aliases."),
        "braze_ids": _array(_string("A Braze ID."), "Braze IDs."),
        "email_addresses": _array(_contact("email", PRIORITIES), "Emails."),
        "phone_numbers": _array(_contact("phone", PRIORITIES), "Phone numbers."),
    }
    register(
        "/users/delete",
        "post",
        {
            "summary": "Delete users",
            "description": "Deletes users with their aliases, events and purchases (aggregate"
            " series are not decremented). Exactly one kind of identifier list, at most 50.",
            "requestBody": _body(
                {
                    "type": "object",
                    "anyOf": _exclusive(
                        {
                            key: {"required": [key], "properties": {key: schema}}
                            for key, schema in lists.items()
                        }
                    ),
                }
            ),
            "responses": {
                "201": json_response(
                    "Users deleted",
                    {
                        "type": "object",
                        "required": ["deleted", "message"],
                        "properties": {
                            "deleted": {"type": "integer", "minimum": 0},
                            "message": {"type": "string", "enum": ["success"]},
                        },
                        "additionalProperties": False,
                    },
                ),
                **_ERRORS,
            },
        },
        permission="users.delete",
    )


def _register_export() -> None:
    """`/users/export/ids`."""
    summary = {
        "type": "object",
        "properties": {
            "name": {"type": "string"},
            "first": {"type": "string"},
            "last": {"type": "string"},
            "count": {"type": "integer"},
        },
    }
    user = add_schema(
        "UserExport",
        {
            "type": "object",
            "description": "Braze's user export object; empty fields are left out.",
            "properties": {
                "created_at": {"type": "string"},
                "external_id": {"type": "string"},
                "user_aliases": {"type": "array", "items": ALIAS},
                "braze_id": {"type": "string"},
                "random_bucket": {"type": "integer"},
                "custom_attributes": {"type": "object"},
                "custom_events": {"type": "array", "items": summary},
                "purchases": {"type": "array", "items": summary},
                "total_revenue": {"type": "number"},
                "push_tokens": {"type": "array", "items": {"type": "object"}},
                "last_coordinates": {"type": "array", "items": {"type": "number"}},
            },
        },
    )
    lists = {
        "external_ids": _array(_EXTERNAL_ID, "External IDs.", 25),
        "user_aliases": _array(ALIAS, "User aliases.", 25),
    }
    singles = {
        "device_id": _string("A device ID (heron keeps no devices)."),
        "braze_id": _string("A Braze ID."),
        "email_address": _EMAIL,
        "phone": _PHONE,
    }
    register(
        "/users/export/ids",
        "post",
        {
            "summary": "Export user profiles by identifier",
            "description": "Profiles by `external_ids` and/or `user_aliases` (at most 50 in all),"
            " or by exactly one `device_id`, `braze_id`, `email_address` or `phone`."
            " `fields_to_export` narrows each object (default: every field).",
            "requestBody": _body(
                {
                    "type": "object",
                    "anyOf": [
                        _closed({"external_ids": lists["external_ids"]}, "external_ids"),
                        _closed({"user_aliases": lists["user_aliases"]}, "user_aliases"),
                        _closed(lists, "external_ids", "user_aliases"),
                        *(_closed({key: schema}, key) for key, schema in singles.items()),
                    ],
                }
            ),
            "responses": {
                "201": json_response(
                    "The users found",
                    {
                        "type": "object",
                        "required": ["users", "message"],
                        "properties": {
                            "users": {"type": "array", "items": user},
                            "invalid_user_ids": {"type": "array", "items": {"type": "string"}},
                            "message": {"type": "string", "enum": ["success"]},
                        },
                        "additionalProperties": False,
                    },
                ),
                **_ERRORS,
            },
        },
        permission="users.export.ids",
    )


_register_aliases()
_register_identify()
_register_merge_and_delete()
_register_export()
