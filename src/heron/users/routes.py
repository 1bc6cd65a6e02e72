"""HTTP handlers of the user-identity endpoints: parse, authorize, run the change, answer.

Every change runs on the ingest writer thread (`GroupCommitWriter.run`): under the same write
lock as `/users/track` and in its own transaction, so it serializes with ingest, and a request
is either applied whole or not at all. The export is a plain read.
"""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from heron.http.auth import authenticate
from heron.http.body import read_json_object
from heron.http.errors import JSONResponse, bad_request
from heron.http.writes import run_on_writer
from heron.ingest.identifiers import MAX_ALIAS_PART_LENGTH
from heron.ingest.records import UserRef
from heron.users import docs as _docs  # registers the OpenAPI entries
from heron.users import export, parse
from heron.users.aliases import AliasRename, NewAlias, add_aliases, rename_aliases
from heron.users.delete import delete_users
from heron.users.identify import Identification, identify
from heron.users.merge import merge_users
from heron.users.parse import (
    IDENTIFY_PRIORITIES,
    MAX_IDS,
    TOO_MANY_IDS,
    TOO_MANY_IDS_AND_ALIASES,
    Target,
)
from heron.users.profiles import now_ms

del _docs
_CHANGE = "identity change"  # what a failed write is logged as

DELETE_KEYS = ("external_ids", "user_aliases", "braze_ids", "email_addresses", "phone_numbers")
IDENTIFY_KEYS = ("aliases_to_identify", "emails_to_identify", "phone_numbers_to_identify")
EXPORT_SINGLE_KEYS = ("device_id", "braze_id", "email_address", "phone")
MERGE_BEHAVIORS = ("merge", "none")
MERGE_UPDATE_KEYS = frozenset({"identifier_to_merge", "identifier_to_keep"})


def _objects(items: list[Any], key: str) -> list[tuple[str, dict[str, Any]]]:
    """Each item of `key` with its position for messages; every item must be an object."""
    found = []
    for index, item in enumerate(items):
        where = f"'{key}'[{index}]"
        found.append((where, dict(parse.obj(item, where))))
    return found


async def alias_new(request: Request) -> Response:
    """`POST /users/alias/new`: add aliases to identified users, or create alias-only users."""
    principal = await authenticate(request, "users.alias.new")
    body = await read_json_object(request)
    items = parse.array(body, "user_aliases", too_many=TOO_MANY_IDS_AND_ALIASES, required=True)
    entries = []
    for where, item in _objects(items or [], "user_aliases"):
        ref = parse.alias(item, where)
        external_id = item.get("external_id")
        if external_id is not None:
            external_id = parse.string(external_id, f"{where}.external_id", lookup=True)
        assert ref.label is not None
        entries.append(NewAlias(ref.value, ref.label, external_id))
    ws, now = principal.workspace_id, now_ms()
    await run_on_writer(request, lambda conn: add_aliases(conn, ws, entries, now), _CHANGE)
    return JSONResponse({"aliases_processed": len(entries), "message": "success"}, status_code=201)


async def alias_update(request: Request) -> Response:
    """`POST /users/alias/update`: rename aliases within their label."""
    principal = await authenticate(request, "users.alias.update")
    body = await read_json_object(request)
    items = parse.array(body, "alias_updates", too_many=TOO_MANY_IDS_AND_ALIASES, required=True)
    entries = []
    for where, item in _objects(items or [], "alias_updates"):
        limit = MAX_ALIAS_PART_LENGTH
        entries.append(
            AliasRename(
                parse.string(item.get("alias_label"), f"{where}.alias_label", limit, lookup=True),
                parse.string(
                    item.get("old_alias_name"), f"{where}.old_alias_name", limit, lookup=True
                ),
                parse.string(item.get("new_alias_name"), f"{where}.new_alias_name", limit),
            )
        )
    ws, now = principal.workspace_id, now_ms()
    await run_on_writer(request, lambda conn: rename_aliases(conn, ws, entries, now), _CHANGE)
    return JSONResponse({"aliases_processed": len(entries), "message": "success"}, status_code=201)


def _identifications(body: dict[str, Any]) -> list[Identification]:
    """Every entry of the three identify lists (at least one list; at most 50 entries)."""
    lists = {key: body.get(key) for key in IDENTIFY_KEYS if body.get(key) is not None}
    if not lists:
        raise bad_request(
            "One of 'aliases_to_identify', 'emails_to_identify' or 'phone_numbers_to_identify'"
            " is required"
        )
    total = 0
    entries = []
    for key in lists:
        items = parse.array(body, key, too_many=TOO_MANY_IDS_AND_ALIASES) or []
        total += len(items)
        if total > MAX_IDS:
            raise bad_request(
                TOO_MANY_IDS_AND_ALIASES, [f"at most {MAX_IDS} entries are allowed in all lists"]
            )
        for where, item in _objects(items, key):
            external_id = parse.string(item.get("external_id"), f"{where}.external_id")
            anonymous: Target
            if key == "aliases_to_identify":
                anonymous = Target(
                    parse.alias(item.get("user_alias"), f"{where}.user_alias", lookup=True)
                )
            else:
                kind = "email" if key == "emails_to_identify" else "phone"
                anonymous = parse.contact(item, kind, where, IDENTIFY_PRIORITIES)
            entries.append(Identification(external_id, anonymous))
    return entries


async def users_identify(request: Request) -> Response:
    """`POST /users/identify`: identify alias-, email- or phone-only users with external_ids."""
    principal = await authenticate(request, "users.identify")
    body = await read_json_object(request)
    entries = _identifications(body)
    behavior = body.get("merge_behavior")
    if behavior is not None and behavior not in MERGE_BEHAVIORS:
        raise bad_request("'merge_behavior' must be 'none' or 'merge'")
    keep_data = behavior != "none"
    ws, now = principal.workspace_id, now_ms()
    await run_on_writer(
        request, lambda conn: identify(conn, ws, entries, now, keep_data=keep_data), _CHANGE
    )
    return JSONResponse({"aliases_processed": len(entries), "message": "success"}, status_code=201)


async def users_merge(request: Request) -> Response:
    """`POST /users/merge`: fold users into others (202, as Braze)."""
    principal = await authenticate(request, "users.merge")
    body = await read_json_object(request)
    items = body.get("merge_updates")
    if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
        raise bad_request("'merge_updates' must be an array of objects")
    if len(items) > MAX_IDS:
        raise bad_request(f"a single request may not contain more than {MAX_IDS} merge updates")
    updates = []
    for index, item in enumerate(items):
        if set(item) != MERGE_UPDATE_KEYS:
            raise bad_request(
                "'merge_updates' must only have 'identifier_to_merge' and 'identifier_to_keep'"
            )
        where = f"'merge_updates'[{index}]"
        updates.append(
            (
                parse.merge_identifier(item["identifier_to_merge"], f"{where}.identifier_to_merge"),
                parse.merge_identifier(item["identifier_to_keep"], f"{where}.identifier_to_keep"),
            )
        )
    ws, now = principal.workspace_id, now_ms()
    await run_on_writer(request, lambda conn: merge_users(conn, ws, updates, now), _CHANGE)
    return JSONResponse({"message": "success"}, status_code=202)


def _delete_targets(body: dict[str, Any]) -> list[Target]:
    """The identifiers of a delete request: exactly one kind of list, at most 50 entries."""
    given = [key for key in DELETE_KEYS if body.get(key) is not None]
    if len(given) != 1:
        names = ", ".join(f"'{key}'" for key in DELETE_KEYS)
        raise bad_request(
            f"Exactly one of {names} is required per request"
            if not given
            else f"Only one of {names} may be given per request"
        )
    key = given[0]
    items = parse.array(body, key, too_many=TOO_MANY_IDS) or []
    targets = []
    for index, item in enumerate(items):
        where = f"'{key}'[{index}]"
        if key == "external_ids":
            targets.append(Target(UserRef("external_id", parse.string(item, where, lookup=True))))
        elif key == "braze_ids":
            targets.append(Target(UserRef("braze_id", parse.string(item, where, lookup=True))))
        elif key == "user_aliases":
            targets.append(Target(parse.alias(item, where, lookup=True)))
        else:
            kind = "email" if key == "email_addresses" else "phone"
            targets.append(parse.contact(parse.obj(item, where), kind, where))
    return targets


async def users_delete(request: Request) -> Response:
    """`POST /users/delete`: delete users with everything stored about them."""
    principal = await authenticate(request, "users.delete")
    targets = _delete_targets(await read_json_object(request))
    ws = principal.workspace_id
    deleted = await run_on_writer(request, lambda conn: delete_users(conn, ws, targets), _CHANGE)
    return JSONResponse({"deleted": deleted, "message": "success"}, status_code=201)


def _export_targets(body: dict[str, Any]) -> list[tuple[str, Target | None]]:
    """(as reported when unknown, identifier) for an export; None for a device_id (no devices)."""
    singles = [key for key in EXPORT_SINGLE_KEYS if body.get(key) is not None]
    lists = [key for key in ("external_ids", "user_aliases") if body.get(key) is not None]
    if len(singles) > 1 or (singles and lists):
        raise bad_request(
            "Give 'external_ids' and/or 'user_aliases', or exactly one of 'device_id', "
            "'braze_id', 'email_address', 'phone'"
        )
    if not singles and not lists:
        raise bad_request(
            "One of 'external_ids', 'user_aliases', 'device_id', 'braze_id', 'email_address' "
            "or 'phone' is required"
        )
    found: list[tuple[str, Target | None]] = []
    if singles:
        key = singles[0]
        where = f"'{key}'"
        if key == "email_address":
            value = parse.email(body[key], where)
            return [(value, Target(UserRef("email", value)))]
        if key == "phone":
            value = parse.phone(body[key], where)
            return [(value, Target(UserRef("phone", value)))]
        value = parse.string(body[key], where, lookup=True)
        return [(value, Target(UserRef("braze_id", value)) if key == "braze_id" else None)]
    external_ids = parse.array(body, "external_ids", too_many=TOO_MANY_IDS_AND_ALIASES) or []
    aliases = parse.array(body, "user_aliases", too_many=TOO_MANY_IDS_AND_ALIASES) or []
    if len(external_ids) + len(aliases) > MAX_IDS:
        raise bad_request(
            TOO_MANY_IDS_AND_ALIASES,
            [f"at most {MAX_IDS} external_ids and user_aliases are allowed together"],
        )
    for index, item in enumerate(external_ids):
        value = parse.string(item, f"'external_ids'[{index}]", lookup=True)
        found.append((value, Target(UserRef("external_id", value))))
    for index, item in enumerate(aliases):
        ref = parse.alias(item, f"'user_aliases'[{index}]", lookup=True)
        found.append((ref.value, Target(ref)))
    return found


def _fields(body: dict[str, Any]) -> frozenset[str]:
    """`fields_to_export` (default: every field)."""
    value = body.get("fields_to_export")
    if value is None:
        return frozenset(export.EXPORT_FIELDS)
    if not isinstance(value, list):
        raise bad_request("'fields_to_export' must be an array of field names")
    unknown = [f for f in value if f not in export.EXPORT_FIELDS]
    if unknown:
        raise bad_request(
            "'fields_to_export' holds unknown fields",
            [f"{f!r} is not an exportable field" for f in unknown[:10]],
        )
    return frozenset(value)


async def users_export_ids(request: Request) -> Response:
    """`POST /users/export/ids`: profiles by identifier; unknown identifiers are listed."""
    principal = await authenticate(request, "users.export.ids")
    body = await read_json_object(request)
    targets = _export_targets(body)
    fields = _fields(body)
    ws, now = principal.workspace_id, now_ms()

    def read() -> tuple[list[dict[str, Any]], list[str]]:
        """Resolve and export in one read transaction."""
        with request.app.state.engine.connect() as conn:
            user_ids: list[int] = []
            invalid: list[str] = []
            for shown, target in targets:
                found = [] if target is None else export.find(conn, ws, target)
                if not found:
                    invalid.append(shown)
                user_ids.extend(uid for uid in found if uid not in user_ids)
            return export.export_users(conn, ws, user_ids, fields, now), invalid

    users, invalid = await run_in_threadpool(read)
    answer: dict[str, Any] = {"users": users}
    if invalid:
        answer["invalid_user_ids"] = invalid
    answer["message"] = "success"
    return JSONResponse(answer, status_code=201)


routes = [
    Route("/users/alias/new", alias_new, methods=["POST"]),
    Route("/users/alias/update", alias_update, methods=["POST"]),
    Route("/users/identify", users_identify, methods=["POST"]),
    Route("/users/merge", users_merge, methods=["POST"]),
    Route("/users/delete", users_delete, methods=["POST"]),
    Route("/users/export/ids", users_export_ids, methods=["POST"]),
]
