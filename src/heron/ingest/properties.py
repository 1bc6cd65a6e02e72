"""Validation of the `properties` object of `/users/track` events and purchases (spec §4).

Rules heron applies (the ones Braze leaves open are heron's choice, see docs/ingest.md):

- `null` or `{}` means "no properties"; anything else must be a JSON object.
- Only the first 256 properties (object order) are kept; the rest are dropped unchecked.
- Names: non-empty strings of at most 255 characters, not starting with `$` and without NUL
  (PostgreSQL text cannot hold it); `time` and `event_name` are reserved (exact match).
- Values: finite numbers (ints in signed 64-bit range), booleans, strings of at most 255
  characters (datetime strings get type `Time`), `null` (kept, untyped), arrays and objects
  holding any JSON, nested at most 50 levels (the property's own array/object is level 1).
- The compact UTF-8 JSON of all array/object values together is at most `max_nested_bytes`.
"""

from __future__ import annotations

from itertools import islice
from math import isfinite
from typing import Any, NoReturn

import msgspec

from heron.ingest.timefmt import DATETIME_FIRST_CHARS, parse_datetime_value

__all__ = [
    "INVALID_PROPERTIES",
    "MAX_NAME_LENGTH",
    "MAX_NESTING_DEPTH",
    "MAX_PROPERTIES",
    "MAX_STRING_LENGTH",
    "validate_properties",
]

INVALID_PROPERTIES = "Invalid 'properties' field"  # the one literal string Braze documents
MAX_PROPERTIES = 256
MAX_NAME_LENGTH = 255
MAX_STRING_LENGTH = 255
MAX_NESTING_DEPTH = 50
RESERVED_NAMES = frozenset(("time", "event_name"))

_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1
_QUOTED_NAME_MAX = 64  # property names longer than this are shortened in messages
_encode = msgspec.json.encode
# Valid names seen so far, so the per-name checks run once per distinct name, not per event.
# Only `str` instances are added (a str subclass could change equality), and the set is bounded.
_GOOD_NAMES: set[str] = set()
_GOOD_NAMES_MAX = 65_536


def validate_properties(
    value: object, *, max_nested_bytes: int
) -> tuple[str | None, dict[str, str]]:
    """Check `properties`; return (JSON text or None, name -> data type) or raise ValueError."""
    if value is None:
        return None, {}
    if not isinstance(value, dict):
        raise ValueError(f"{INVALID_PROPERTIES}: must be an object")
    if not value:
        return None, {}
    kept: dict[Any, Any] = value
    if len(value) > MAX_PROPERTIES:
        kept = dict(islice(value.items(), MAX_PROPERTIES))
    types: dict[str, str] = {}
    nested_bytes = 0
    good_names = _GOOD_NAMES
    for key, item in kept.items():
        if key not in good_names:
            _check_name(key)
        kind = type(item)
        if kind is str:
            if len(item) > MAX_STRING_LENGTH:
                raise _error(key, f"is longer than {MAX_STRING_LENGTH} characters")
            if item[:1] in DATETIME_FIRST_CHARS and parse_datetime_value(item) is not None:
                types[key] = "Time"
            else:
                types[key] = "String"
        elif kind is bool:
            types[key] = "Boolean"
        elif kind is int:
            if not _INT64_MIN <= item <= _INT64_MAX:
                raise _error(key, "is outside the signed 64-bit integer range")
            types[key] = "Number"
        elif kind is float:
            if not isfinite(item):
                raise _error(key, "must be a finite number")
            types[key] = "Number"
        elif item is None:
            continue
        elif kind is dict or kind is list:
            _check_nested(item, key, 1)
            try:
                nested_bytes += len(_encode(item))
            except UnicodeEncodeError:
                raise _error(key, "contains text that is not valid Unicode") from None
            if nested_bytes > max_nested_bytes:
                raise ValueError(
                    f"{INVALID_PROPERTIES}: array and object values exceed {max_nested_bytes}"
                    f" bytes of JSON (at {_quote(key)})"
                )
            types[key] = "Object" if kind is dict else "Array"
        else:
            raise _error(key, f"has an unsupported type ({kind.__name__})")
    try:
        text = _encode(kept).decode()
    except UnicodeEncodeError:  # lone surrogates; only reachable from Python callers
        raise ValueError(f"{INVALID_PROPERTIES}: contains text that is not valid Unicode") from None
    return text, types


def _check_nested(value: Any, key: str, depth: int) -> None:
    """Check an array/object value holds only JSON values and nests at most 50 levels."""
    if depth > MAX_NESTING_DEPTH:
        raise _error(key, f"is nested deeper than {MAX_NESTING_DEPTH} levels")
    if type(value) is dict:
        for name in value:
            if type(name) is not str:
                raise _error(key, "contains an object key that is not a string")
        items: Any = value.values()
    else:
        items = value
    for item in items:
        kind = type(item)
        if kind is str or kind is bool or item is None:
            continue
        if kind is int:
            if not _INT64_MIN <= item <= _INT64_MAX:
                raise _error(key, "contains an integer outside the signed 64-bit range")
        elif kind is float:
            if not isfinite(item):
                raise _error(key, "contains a number that is not finite")
        elif kind is dict or kind is list:
            _check_nested(item, key, depth + 1)
        else:
            raise _error(key, f"contains an unsupported type ({kind.__name__})")


def _check_name(key: object) -> None:
    """Check a property name not seen before; remember good ones (names repeat across events)."""
    if (
        type(key) is not str
        or not key
        or len(key) > MAX_NAME_LENGTH
        or key[0] == "$"
        or key in RESERVED_NAMES
        or "\x00" in key
    ):
        _raise_bad_name(key)
    if len(_GOOD_NAMES) < _GOOD_NAMES_MAX:
        _GOOD_NAMES.add(key)


def _raise_bad_name(key: object) -> NoReturn:
    """Raise the precise error for an invalid property name."""
    if type(key) is not str:
        raise ValueError(f"{INVALID_PROPERTIES}: property names must be strings")
    if key in RESERVED_NAMES:
        raise ValueError(INVALID_PROPERTIES)
    if not key:
        raise ValueError(f"{INVALID_PROPERTIES}: property names must not be empty")
    if len(key) > MAX_NAME_LENGTH:
        raise ValueError(
            f"{INVALID_PROPERTIES}: property name {_quote(key)} is longer than"
            f" {MAX_NAME_LENGTH} characters"
        )
    if key[0] == "$":
        raise ValueError(
            f"{INVALID_PROPERTIES}: property name {_quote(key)} must not start with '$'"
        )
    raise ValueError(f"{INVALID_PROPERTIES}: property names must not contain NUL characters")


def _error(key: str, problem: str) -> ValueError:
    """Build the error for a bad value of property `key`."""
    return ValueError(f"{INVALID_PROPERTIES}: value of {_quote(key)} {problem}")


def _quote(key: str) -> str:
    """Quote a property name for a message, shortening very long names."""
    if len(key) > _QUOTED_NAME_MAX:
        return f"'{key[:_QUOTED_NAME_MAX]}...'"
    return f"'{key}'"
