"""Custom attributes of a `/users/track` attributes object: one key and value -> ordered ops.

Braze's rules (docs "User attributes object", "Nested custom attributes", "Array of objects"):
`null` removes; booleans, numbers, strings (<= 255 characters) and datetimes are scalars; a list
is an array (unique items, default maximum 25) or an array of objects; `{"inc": n}`,
`{"add": [...]}`, `{"remove": [...]}` change numbers and arrays; `{"$add": [...]}` and
`{"$remove": [...]}` change arrays of objects; any other object is a nested object (no `null`
inside, times as `{"$time": ...}`, <= 100 KB, keys without `.`, `$` or spaces).
Every rule violation raises ValueError with the Braze-style message for the whole object.
"""

from __future__ import annotations

from typing import Any, NoReturn

from heron.ingest.attribute_values import (
    END_TIME_MS,
    MAX_NESTED_BYTES,
    MAX_NESTED_DEPTH,
    MAX_STRING_LENGTH,
    MIN_TIME_MS,
    dedupe_keep_last,
    is_finite_number,
    json_size,
    keep_last,
    normalized_time,
)
from heron.ingest.records import AttributeOp
from heron.ingest.timefmt import parse_datetime_value

_ARRAY_OPERATORS = frozenset({"add", "remove"})
_OBJECT_ARRAY_OPERATORS = frozenset({"$add", "$remove", "$update"})
_IDENTIFIER_KEYS = frozenset({"$identifier_key", "$identifier_value"})
_NAME_IN_MESSAGE = 64


def quoted(name: str) -> str:
    """Quote an attribute name for a message, shortening very long names."""
    if len(name) > _NAME_IN_MESSAGE:
        name = name[:_NAME_IN_MESSAGE] + "..."
    return f"'{name}'"


def custom_ops(name: object, value: Any, max_array_length: int, out: list[AttributeOp]) -> None:
    """Append the op(s) for one custom attribute to `out`, or raise ValueError.

    Dispatches on the exact JSON type: this runs for every custom key on the ingest hot path.
    """
    if (
        not isinstance(name, str)
        or not 0 < len(name) <= MAX_STRING_LENGTH
        or name[0] == "$"
        or "\x00" in name
    ):
        _bad_name(name)
    kind = type(value)
    if kind is str:
        if len(value) > MAX_STRING_LENGTH:
            raise ValueError(
                f"custom attribute {quoted(name)} must be at most {MAX_STRING_LENGTH} characters"
            )
        ms = parse_datetime_value(value)
        if ms is not None and MIN_TIME_MS <= ms < END_TIME_MS:
            out.append(AttributeOp(name, "set", normalized_time(value, ms), "Time"))
        else:  # not a datetime, or year > 3000: Braze keeps it as a string
            out.append(AttributeOp(name, "set", value, "String"))
    elif kind is int or kind is float:
        if not is_finite_number(value):
            raise ValueError(f"custom attribute {quoted(name)} must be a finite 64-bit number")
        out.append(AttributeOp(name, "set", value, "Number"))
    elif kind is bool:
        out.append(AttributeOp(name, "set", value, "Boolean"))
    elif value is None:
        out.append(AttributeOp(name, "unset"))
    elif kind is list:
        out.append(_list_op(name, value, max_array_length))
    elif kind is dict:
        _object_ops(name, value, max_array_length, out)
    else:
        raise ValueError(f"custom attribute {quoted(name)} has an unsupported value type")


def _bad_name(name: object) -> NoReturn:
    """Raise the message for an invalid custom attribute name."""
    if not isinstance(name, str):
        raise ValueError("custom attribute names must be strings")
    if not name:
        raise ValueError("custom attribute names must not be empty")
    if len(name) > MAX_STRING_LENGTH:
        raise ValueError(
            f"custom attribute name {quoted(name)} is longer than {MAX_STRING_LENGTH} characters"
        )
    if "\x00" in name:
        # PostgreSQL text cannot hold NUL, and the name is a catalog key.
        raise ValueError(f"custom attribute name {quoted(name)} must not contain NUL characters")
    raise ValueError(f"custom attribute name {quoted(name)} must not start with '$'")


def _list_op(name: str, items: list[Any], max_array_length: int) -> AttributeOp:
    """Scalars make an Array (unique, last `max_array_length`); objects an Object Array."""
    if items and all(isinstance(item, dict) for item in items):
        objects = [_nested(name, item, 2, f"[{i}]") for i, item in enumerate(items)]
        _check_size(name, objects)
        return AttributeOp(name, "set", objects, "Object Array")
    unique = dedupe_keep_last(_scalar_items(name, items))
    return AttributeOp(name, "set", keep_last(unique, max_array_length), "Array")


def _scalar_items(name: str, items: list[Any]) -> list[Any]:
    """Check that array items are strings (<= 255), finite numbers or booleans."""
    for item in items:
        if isinstance(item, str):
            if len(item) > MAX_STRING_LENGTH:
                raise ValueError(
                    f"custom attribute {quoted(name)}: array strings must be at most "
                    f"{MAX_STRING_LENGTH} characters"
                )
        elif not (isinstance(item, bool) or is_finite_number(item)):
            raise ValueError(
                f"custom attribute {quoted(name)}: array items must all be strings, finite "
                "numbers or booleans, or all be objects"
            )
    return items


def _object_ops(
    name: str, value: dict[str, Any], max_array_length: int, out: list[AttributeOp]
) -> None:
    """Dispatch an object value: `inc`, `add`/`remove`, `$add`/`$remove`, or a nested object."""
    keys = value.keys()
    if len(value) == 1 and "inc" in value:
        amount = value["inc"]
        if not is_finite_number(amount):
            raise ValueError(f"custom attribute {quoted(name)}: 'inc' must be a finite number")
        out.append(AttributeOp(name, "inc", amount, "Number"))
    elif keys and keys <= _ARRAY_OPERATORS:
        # Both present: remove first, then add, so an item in both ends up present (at the end).
        for operator in ("remove", "add"):
            if operator in value:
                items = _operator_list(name, operator, value[operator])
                unique = dedupe_keep_last(_scalar_items(name, items))
                if operator == "add":
                    unique = keep_last(unique, max_array_length)
                if unique:
                    out.append(AttributeOp(name, operator, unique, "Array"))
    elif keys and keys <= _OBJECT_ARRAY_OPERATORS:
        _object_array_ops(name, value, out)
    else:
        nested = _nested(name, value, 1, "")
        _check_size(name, nested)
        out.append(AttributeOp(name, "set", nested, "Object"))


def _object_array_ops(name: str, value: dict[str, Any], out: list[AttributeOp]) -> None:
    """`$add` then `$remove` (Braze's order) for arrays of objects; `$update` is unsupported.

    `$update` is a deep merge (it needs `_merge_objects`), which `AttributeOp` cannot express.
    """
    if "$update" in value:
        raise ValueError(f"custom attribute {quoted(name)}: '$update' is not supported")
    if "$add" in value:
        items = _operator_list(name, "$add", value["$add"])
        objects = []
        for i, item in enumerate(items):
            if not isinstance(item, dict):
                raise ValueError(f"custom attribute {quoted(name)}: '$add' items must be objects")
            objects.append(_nested(name, item, 2, f"$add[{i}]"))
        _check_size(name, objects)
        if objects:
            out.append(AttributeOp(name, "add", objects, "Object Array"))
    if "$remove" in value:
        matchers = [
            _identifier(name, item) for item in _operator_list(name, "$remove", value["$remove"])
        ]
        if matchers:
            out.append(AttributeOp(name, "remove", matchers, "Object Array"))


def _identifier(name: str, item: object) -> dict[str, Any]:
    """Validate one `$remove` matcher `{"$identifier_key": str, "$identifier_value": scalar}`."""
    if isinstance(item, dict) and item.keys() == _IDENTIFIER_KEYS:
        key, match = item["$identifier_key"], item["$identifier_value"]
        if (
            isinstance(key, str)
            and key
            and (isinstance(match, str | bool) or is_finite_number(match))
        ):
            return {"$identifier_key": key, "$identifier_value": match}
    raise ValueError(
        f"custom attribute {quoted(name)}: '$remove' items must be objects with a string "
        "'$identifier_key' and a string, number or boolean '$identifier_value'"
    )


def _operator_list(name: str, operator: str, items: object) -> list[Any]:
    """The argument of an array operator must be a list."""
    if not isinstance(items, list):
        raise ValueError(f"custom attribute {quoted(name)}: '{operator}' must be an array")
    return items


def _check_size(name: str, value: Any) -> None:
    """Nested values and arrays of objects are limited to 100 KB of compact JSON."""
    if json_size(value) > MAX_NESTED_BYTES:
        raise ValueError(
            f"custom attribute {quoted(name)} is larger than {MAX_NESTED_BYTES // 1024} KB"
        )


def _nested(name: str, value: Any, depth: int, path: str) -> Any:
    """Validate and copy one nested value at `depth` (the attribute's own object is depth 1)."""
    if isinstance(value, str):
        if len(value) > MAX_STRING_LENGTH:
            _nested_error(name, path, f"strings must be at most {MAX_STRING_LENGTH} characters")
        return value
    if isinstance(value, bool) or is_finite_number(value):
        return value
    if value is None:
        _nested_error(name, path, "null is not allowed in nested values")
    if isinstance(value, int | float):
        _nested_error(name, path, "numbers must be finite and fit in 64 bits")
    if depth > MAX_NESTED_DEPTH:
        _nested_error(name, path, f"nesting is deeper than {MAX_NESTED_DEPTH} levels")
    if isinstance(value, list):
        return [_nested(name, item, depth + 1, f"{path}[{i}]") for i, item in enumerate(value)]
    if isinstance(value, dict):
        if len(value) == 1 and "$time" in value:
            return {"$time": _nested_time(name, value["$time"], path)}
        copy: dict[str, Any] = {}
        for key, item in value.items():
            child = f"{path}.{key}" if path else str(key)
            _check_nested_key(name, key, child)
            copy[key] = _nested(name, item, depth + 1, child)
        return copy
    _nested_error(name, path, "unsupported value type")


def _check_nested_key(name: str, key: object, path: str) -> None:
    """Nested keys: non-empty strings <= 255 characters without `.`, `$` or spaces (Braze)."""
    if not isinstance(key, str) or not key:
        _nested_error(name, path, "keys must be non-empty strings")
    elif len(key) > MAX_STRING_LENGTH:
        _nested_error(name, path, f"keys must be at most {MAX_STRING_LENGTH} characters")
    elif "." in key or "$" in key or " " in key:
        _nested_error(name, path, "keys must not contain '.', '$' or spaces")


def _nested_time(name: str, raw: object, path: str) -> str:
    """`{"$time": ...}` must hold a Braze datetime in years 0-3000; stored as ISO 8601 UTC."""
    if isinstance(raw, str):
        ms = parse_datetime_value(raw)
        if ms is not None and MIN_TIME_MS <= ms < END_TIME_MS:
            return normalized_time(raw, ms)
    _nested_error(name, path, "'$time' must be a datetime string between years 0 and 3000")


def _nested_error(name: str, path: str, problem: str) -> NoReturn:
    """Raise the message for an invalid value inside a nested custom attribute."""
    where = f" at {quoted(path)}" if path else ""
    raise ValueError(
        f"custom attribute {quoted(name)} has an invalid nested value{where}: {problem}"
    )
