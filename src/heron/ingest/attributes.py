"""Validate one `/users/track` user-attributes object into an `AttributeRecord` (pure, no I/O).

The object names its user (`heron.ingest.identifiers`), may carry the control keys
`_update_existing_only`, `push_token_import` and `_merge_objects`, and otherwise holds
attribute updates: Braze profile fields (`heron.ingest.standard_attributes`) and custom
attributes (`heron.ingest.custom_attributes`). Any invalid value makes the whole object an
error, so nothing malformed reaches storage.

Example:
    >>> record = validate_attributes({"external_id": "u1", "plan": "gold"}, now_ms=0)
    >>> record.custom[0].name, record.custom[0].value, record.custom[0].data_type
    ('plan', 'gold', 'String')
"""

from __future__ import annotations

from typing import Any

from heron.ingest.custom_attributes import custom_ops
from heron.ingest.identifiers import parse_user_ref, update_existing_only
from heron.ingest.records import AttributeOp, AttributeRecord
from heron.ingest.standard_attributes import STANDARD_FIELDS

DEFAULT_MAX_ARRAY_LENGTH = 25

# Keys that are never attribute updates: identifiers, control flags and read-only fields
# (`alias_name`/`alias_label`/`braze_id`; `bio` is a removed Braze field, not a custom one).
_NOT_ATTRIBUTES = frozenset(
    {
        "external_id",
        "braze_id",
        "user_alias",
        "_update_existing_only",
        "push_token_import",
        "_merge_objects",
        "alias_name",
        "alias_label",
        "bio",
    }
)


def validate_attributes(
    obj: object, now_ms: int, *, max_array_length: int = DEFAULT_MAX_ARRAY_LENGTH
) -> AttributeRecord | str:
    """Turn one attributes object into a record of normalized updates, or its error message."""
    if not isinstance(obj, dict):
        return "attributes objects must be JSON objects"
    ref = parse_user_ref(obj)
    if isinstance(ref, str):
        if obj.get("push_token_import") is True:
            return "'push_token_import' without a user identifier is not supported"
        return ref
    update_only = update_existing_only(obj, ref, alias_may_create=True)
    if isinstance(update_only, str):
        return update_only
    if "push_token_import" in obj or "_merge_objects" in obj:
        problem = _check_flags(obj)
        if problem is not None:
            return problem
    identifier_key = ref.kind if ref.kind == "email" or ref.kind == "phone" else None
    standard: dict[str, Any] = {}
    custom: list[AttributeOp] = []
    fields = STANDARD_FIELDS
    try:
        for key, value in obj.items():
            if key in _NOT_ATTRIBUTES or key == identifier_key:
                continue
            check = fields.get(key)
            if check is not None:
                standard[key] = check(value, now_ms)
            else:
                custom_ops(key, value, max_array_length, custom)
    except ValueError as exc:
        return str(exc)
    return AttributeRecord(ref, update_only, standard, custom)


def _check_flags(obj: dict[str, Any]) -> str | None:
    """Check `push_token_import` and `_merge_objects`; return an error message or None."""
    token_import = obj.get("push_token_import")
    if token_import is not None and not isinstance(token_import, bool):
        return "'push_token_import' must be a boolean"
    if token_import:
        if obj.get("external_id") is not None or obj.get("braze_id") is not None:
            return "'push_token_import' requires that 'external_id' and 'braze_id' are absent"
        if not obj.get("push_tokens"):
            return "'push_token_import' requires 'push_tokens'"
    merge = obj.get("_merge_objects")
    if merge is not None and not isinstance(merge, bool):
        return "'_merge_objects' must be a boolean"
    if merge:
        return "'_merge_objects' is not supported; send the whole object"
    return None
