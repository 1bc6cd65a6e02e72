"""Which user a `/users/track` object names, and whether it may create that user.

Braze requires one of `external_id`, `user_alias`, `braze_id`, `email`, `phone`. When several
are present heron takes the strongest, in this order: `external_id`, `braze_id`, `user_alias`,
`email`, `phone` ("email wins over phone" is Braze's documented rule; the rest is heron's
choice, written down in docs/ingest.md). In an attributes object a weaker `email`/`phone` next to
a stronger identifier is then an ordinary attribute update.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from heron.ingest.records import UserRef

MAX_IDENTIFIER_LENGTH = 512
# Alias names/labels and emails are indexed; 255 characters keep any index entry within
# PostgreSQL's btree row limit (about 2.7 KB) even for 4-byte UTF-8 characters.
MAX_ALIAS_PART_LENGTH = 255
MAX_EMAIL_LENGTH = 255
MISSING_IDENTIFIER = "'external_id', 'braze_id', 'user_alias', 'email' or 'phone' is required"


def _identifier_string(
    obj: Mapping[str, Any], key: str, limit: int = MAX_IDENTIFIER_LENGTH
) -> str | None:
    """Return a non-empty identifier string, or raise ValueError with Braze-style text."""
    value = obj[key]
    if not isinstance(value, str) or not value:
        raise ValueError(f"'{key}' must be a non-empty string")
    if len(value) > limit:
        raise ValueError(f"'{key}' must be at most {limit} characters")
    if "\x00" in value:
        raise ValueError(f"'{key}' must not contain NUL characters")
    return value


def parse_user_ref(obj: Mapping[str, Any]) -> UserRef | str:
    """Pick the identifier of one object; a str result is the error message."""
    try:
        if "external_id" in obj and obj["external_id"] is not None:
            return UserRef("external_id", _identifier_string(obj, "external_id") or "")
        if "braze_id" in obj and obj["braze_id"] is not None:
            return UserRef("braze_id", _identifier_string(obj, "braze_id") or "")
        if "user_alias" in obj and obj["user_alias"] is not None:
            return _parse_alias(obj["user_alias"])
        if "email" in obj and obj["email"] is not None:
            email = _identifier_string(obj, "email", MAX_EMAIL_LENGTH) or ""
            if "@" not in email:
                return "'email' is not a valid email address"
            return UserRef("email", email)
        if "phone" in obj and obj["phone"] is not None:
            return UserRef("phone", _identifier_string(obj, "phone") or "")
    except ValueError as exc:
        return str(exc)
    return MISSING_IDENTIFIER


def _parse_alias(alias: object) -> UserRef | str:
    """Validate a user alias object `{"alias_name": ..., "alias_label": ...}`."""
    if not isinstance(alias, dict):
        return "'user_alias' must be an object with 'alias_name' and 'alias_label'"
    name, label = alias.get("alias_name"), alias.get("alias_label")
    if not isinstance(name, str) or not name or not isinstance(label, str) or not label:
        return "'user_alias' requires non-empty string 'alias_name' and 'alias_label'"
    if len(name) > MAX_ALIAS_PART_LENGTH or len(label) > MAX_ALIAS_PART_LENGTH:
        return f"'user_alias' name and label must be at most {MAX_ALIAS_PART_LENGTH} characters"
    if "\x00" in name or "\x00" in label:
        return "'user_alias' name and label must not contain NUL characters"
    return UserRef("user_alias", name, label)


def update_existing_only(
    obj: Mapping[str, Any], ref: UserRef, *, alias_may_create: bool
) -> bool | str:
    """Resolve `_update_existing_only` for one object; a str result is the error message.

    Braze's rules: omitted means "create when unknown"; with a `user_alias` update-only is the
    default, and only an attributes object (`alias_may_create=True`) may turn it off to create
    an alias-only profile. A `braze_id` is assigned by the server, so it never creates a user.
    """
    raw = obj.get("_update_existing_only")
    if raw is not None and not isinstance(raw, bool):
        return "'_update_existing_only' must be a boolean"
    if ref.kind == "braze_id":
        return True
    if ref.kind == "user_alias":
        return True if not alias_may_create else raw is not False
    return bool(raw)
