"""Validating the bodies of the user-identity endpoints: identifiers, prioritization, limits.

Everything here is pure and raises a Braze-shaped 400 (`BrazeError`) naming the offending
field, so a bad request is refused whole before anything is written. Identifier limits are the
ones `/users/track` applies (heron.ingest.identifiers), so every stored identifier passes both.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from heron.http.errors import BrazeError, bad_request
from heron.ingest.identifiers import (
    MAX_ALIAS_PART_LENGTH,
    MAX_EMAIL_LENGTH,
    MAX_IDENTIFIER_LENGTH,
)
from heron.ingest.records import UserRef

MAX_IDS = 50
TOO_MANY_IDS = "The max number of ids per request was exceeded"
TOO_MANY_IDS_AND_ALIASES = "The max number of external_ids and aliases per request was exceeded"

IDENTIFIED = "identified"
UNIDENTIFIED = "unidentified"
MOST_RECENTLY_UPDATED = "most_recently_updated"
LEAST_RECENTLY_UPDATED = "least_recently_updated"
# /users/identify accepts all four; /users/delete and /users/merge the first three.
IDENTIFY_PRIORITIES = (IDENTIFIED, UNIDENTIFIED, MOST_RECENTLY_UPDATED, LEAST_RECENTLY_UPDATED)
PRIORITIES = (IDENTIFIED, UNIDENTIFIED, MOST_RECENTLY_UPDATED)


@dataclass(frozen=True, slots=True)
class Target:
    """A user named by one identifier; email/phone carry the order that picks among matches."""

    ref: UserRef
    prioritization: tuple[str, ...] = ()


def string(
    value: object, where: str, limit: int = MAX_IDENTIFIER_LENGTH, *, lookup: bool = False
) -> str:
    """A non-empty string of at most `limit` characters, or a 400.

    An identifier that will be stored must not contain NUL; one only looked up (`lookup`) may,
    and simply matches nobody (no stored identifier contains NUL).
    """
    if not isinstance(value, str) or not value:
        raise bad_request(f"{where} must be a non-empty string")
    if len(value) > limit:
        raise bad_request(f"{where} must be at most {limit} characters")
    if not lookup and "\x00" in value:
        raise bad_request(f"{where} must not contain NUL characters")
    return value


def obj(value: object, where: str) -> Mapping[str, Any]:
    """A JSON object, or a 400."""
    if not isinstance(value, dict):
        raise bad_request(f"{where} must be an object")
    return value


def array(
    body: Mapping[str, Any],
    key: str,
    *,
    limit: int = MAX_IDS,
    too_many: str = TOO_MANY_IDS,
    required: bool = False,
) -> list[Any] | None:
    """`body[key]` as an array of at most `limit` items (None when absent/null), or a 400."""
    value = body.get(key)
    if value is None:
        if required:
            raise bad_request(f"'{key}' is required and must be an array")
        return None
    if not isinstance(value, list):
        raise bad_request(f"'{key}' must be an array")
    if len(value) > limit:
        raise bad_request(
            too_many, [f"'{key}' has {len(value)} items; at most {limit} are allowed"]
        )
    return value


def alias(value: object, where: str, *, lookup: bool = False) -> UserRef:
    """A user alias object `{"alias_name", "alias_label"}`, or a 400."""
    found = obj(value, where)
    limit = MAX_ALIAS_PART_LENGTH
    name = string(found.get("alias_name"), f"{where}.alias_name", limit, lookup=lookup)
    label = string(found.get("alias_label"), f"{where}.alias_label", limit, lookup=lookup)
    return UserRef("user_alias", name, label)


def email(value: object, where: str) -> str:
    """An email address to look up (matched case-insensitively), or a 400."""
    found = string(value, where, MAX_EMAIL_LENGTH, lookup=True)
    if "@" not in found:
        raise bad_request(f"{where} is not a valid email address")
    return found


def phone(value: object, where: str) -> str:
    """A phone number to look up (E.164 recommended; matched on its digits), or a 400."""
    found = string(value, where, lookup=True)
    if not any(ch.isdigit() for ch in found):
        raise bad_request(f"{where} is not a valid phone number")
    return found


def prioritization(value: object, where: str, allowed: tuple[str, ...]) -> tuple[str, ...]:
    """Braze's ordered `prioritization` array, or a 400 (required with email and phone)."""
    if not isinstance(value, list) or not value:
        raise bad_request(
            f"{where} is required with an email or phone: a non-empty array of "
            + ", ".join(f"'{p}'" for p in allowed)
        )
    seen: list[str] = []
    for item in value:
        if item not in allowed:
            raise bad_request(
                f"{where} values must be one of " + ", ".join(f"'{p}'" for p in allowed)
            )
        if item in seen:
            raise bad_request(f"{where} must not repeat '{item}'")
        seen.append(item)
    if IDENTIFIED in seen and UNIDENTIFIED in seen:
        raise bad_request(f"{where} may hold only one of 'identified' and 'unidentified'")
    return tuple(seen)


def contact(
    entry: Mapping[str, Any], kind: str, where: str, allowed: tuple[str, ...] = PRIORITIES
) -> Target:
    """An `{"email"|"phone": ..., "prioritization": [...]}` identifier, or a 400."""
    raw = entry.get(kind)
    value = email(raw, f"{where}.email") if kind == "email" else phone(raw, f"{where}.phone")
    order = prioritization(entry.get("prioritization"), f"{where}.prioritization", allowed)
    return Target(UserRef("email" if kind == "email" else "phone", value), order)


MERGE_IDENTIFIER_ERROR = (
    "identifiers must be objects with an 'external_id' property that is a string, or "
    "'user_alias' property that is an object"
)


def merge_identifier(value: object, where: str) -> Target:
    """One side of a merge update: external_id, user_alias, email or phone (with priority)."""
    if not isinstance(value, dict):
        raise bad_request(MERGE_IDENTIFIER_ERROR, [f"{where} is not an object"])
    kinds = [k for k in ("external_id", "user_alias", "email", "phone") if value.get(k) is not None]
    if len(kinds) != 1:
        raise bad_request(
            MERGE_IDENTIFIER_ERROR,
            [
                f"{where} must name its user with exactly one of external_id, user_alias, email,"
                " phone"
            ],
        )
    kind = kinds[0]
    try:
        if kind == "external_id":
            external_id = string(value[kind], f"{where}.external_id", lookup=True)
            return Target(UserRef("external_id", external_id))
        if kind == "user_alias":
            return Target(alias(value[kind], f"{where}.user_alias", lookup=True))
        return contact(value, kind, where)
    except BrazeError as exc:
        raise bad_request(MERGE_IDENTIFIER_ERROR, [exc.message]) from None
