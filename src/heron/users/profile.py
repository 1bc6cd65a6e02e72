"""Apply a validated `AttributeRecord` to a stored profile's two JSON documents, in place.

A profile keeps its Braze profile fields in `standard` and its custom attributes in `custom`
(the `users.standard` / `users.custom` JSON columns). Values are never mutated in place, only
replaced, so a record's values may be shared with the documents safely.

Example:
    >>> from heron.ingest.records import AttributeOp, AttributeRecord, UserRef
    >>> custom = {"visits": 2}
    >>> record = AttributeRecord(UserRef("external_id", "u1"), False,
    ...                          custom=[AttributeOp("visits", "inc", 1)])
    >>> apply_attributes({}, custom, record)
    >>> custom
    {'visits': 3}
"""

from __future__ import annotations

import math
from typing import Any

from heron.ingest.attribute_values import (
    INT64_MAX,
    INT64_MIN,
    MAX_NESTED_BYTES,
    array_item_key,
    dedupe_keep_last,
    json_size,
    keep_last,
)
from heron.ingest.records import AttributeOp, AttributeRecord

OBJECT_ARRAY = "Object Array"


def apply_attributes(
    standard: dict[str, Any],
    custom: dict[str, Any],
    record: AttributeRecord,
    *,
    max_array_length: int = 25,
) -> None:
    """Set/remove the record's profile fields, then run its custom-attribute ops in order."""
    for key, value in record.standard.items():
        if value is None:
            standard.pop(key, None)
        elif key == "push_tokens":
            standard[key] = _merge_by(standard.get(key), value, ("app_id", "token"))
        elif key == "subscription_groups":
            standard[key] = _merge_by(standard.get(key), value, ("subscription_group_id",))
        else:
            standard[key] = value
    for op in record.custom:
        _apply_op(custom, op, max_array_length)


def _apply_op(custom: dict[str, Any], op: AttributeOp, max_array_length: int) -> None:
    """Run one custom-attribute op against the `custom` document."""
    name, kind = op.name, op.kind
    if kind == "set":
        value = op.value
        if op.data_type == "Array" and len(value) > max_array_length:
            value = keep_last(value, max_array_length)
        custom[name] = value
    elif kind == "unset":
        custom.pop(name, None)
    elif kind == "inc":
        total = _increment(custom.get(name), op.value)
        if total is not None:
            custom[name] = total
    elif kind == "add":
        if op.data_type == OBJECT_ARRAY:
            _add_objects(custom, name, op.value)
        else:
            added = dedupe_keep_last(_scalar_array(custom.get(name)) + op.value)
            custom[name] = keep_last(added, max_array_length)
    elif kind == "remove":
        current = custom.get(name)
        if not isinstance(current, list):
            return
        if op.data_type == OBJECT_ARRAY:
            custom[name] = [item for item in current if not _matches_any(item, op.value)]
        else:
            drop = {array_item_key(item) for item in op.value}
            custom[name] = [item for item in current if array_item_key(item) not in drop]


def _increment(current: Any, amount: int | float) -> int | float | None:
    """Add `amount` to a numeric value (anything else counts as 0); None if out of range."""
    if isinstance(current, bool) or not isinstance(current, int | float):
        current = 0
    total = current + amount
    if isinstance(total, int):
        return total if INT64_MIN <= total <= INT64_MAX else None
    return total if math.isfinite(total) else None


def _scalar_array(current: Any) -> list[Any]:
    """The current value as a simple array, or [] when it is missing or not one."""
    if isinstance(current, list) and not any(isinstance(item, dict | list) for item in current):
        return current
    return []


def _add_objects(custom: dict[str, Any], name: str, objects: list[dict[str, Any]]) -> None:
    """`$add`: append objects; like Braze, drop the update if the array would pass 100 KB."""
    current = custom.get(name)
    base = (
        current if isinstance(current, list) and all(isinstance(i, dict) for i in current) else []
    )
    combined = base + objects
    if json_size(combined) <= MAX_NESTED_BYTES:
        custom[name] = combined


def _matches_any(item: Any, matchers: list[dict[str, Any]]) -> bool:
    """Whether an object matches one `$remove` matcher (`item[key] == value`, bools distinct)."""
    if not isinstance(item, dict):
        return False
    for matcher in matchers:
        key = matcher["$identifier_key"]
        if key in item and array_item_key(item[key]) == array_item_key(
            matcher["$identifier_value"]
        ):
            return True
    return False


def _merge_by(current: Any, updates: list[dict[str, Any]], key: tuple[str, ...]) -> list[Any]:
    """Merge list entries by identity `key`: an update replaces its old entry, new ones append."""
    merged: dict[tuple[Any, ...], dict[str, Any]] = {}
    if isinstance(current, list):
        for entry in current:
            if isinstance(entry, dict):
                merged[tuple(entry.get(part) for part in key)] = entry
    for entry in updates:
        merged[tuple(entry.get(part) for part in key)] = entry
    return list(merged.values())
