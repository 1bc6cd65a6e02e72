"""Value rules shared by attribute validation and profile updates: numbers, times, array sets.

Braze compares array items by value, so `1` and `1.0` are the same item while `true` and `1`
are not; `array_item_key` encodes that once for de-duplication and removal on both sides.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any

import msgspec

MAX_STRING_LENGTH = 255
MAX_NESTED_BYTES = 100 * 1024  # Braze: "Objects have a maximum size of 100 KB"
MAX_NESTED_DEPTH = 50
INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
# Braze keeps a custom time whose year is < 0 or > 3000 as a string: [0000-01-01, 3001-01-01).
MIN_TIME_MS = -62_167_219_200_000
END_TIME_MS = 32_535_216_000_000

_encode = msgspec.json.Encoder(order="sorted").encode
_NAIVE_EPOCH = datetime(1970, 1, 1)
_ONE_MS = timedelta(milliseconds=1)
_SELF_KEYED = frozenset({str, int, float})  # types whose values are their own array key


def is_finite_number(value: object) -> bool:
    """Tell whether `value` is a JSON number heron stores: an int64 or a finite float, no bool."""
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return INT64_MIN <= value <= INT64_MAX
    return isinstance(value, float) and math.isfinite(value)


def format_epoch_ms(ms: int) -> str:
    """Render UTC epoch ms as `YYYY-MM-DDTHH:MM:SS.sssZ` (C-speed for years 1-9999, else math)."""
    try:
        return (_NAIVE_EPOCH + ms * _ONE_MS).isoformat(timespec="milliseconds") + "Z"
    except OverflowError:
        return _format_any_year(ms)


def normalized_time(text: str, ms: int) -> str:
    """ISO 8601 UTC form of a parsed datetime; text already in that form is returned as is."""
    if len(text) == 24 and text[10] == "T" and text[19] == "." and text[23] == "Z":
        return text
    return format_epoch_ms(ms)


def _format_any_year(ms: int) -> str:
    """`format_epoch_ms` by pure arithmetic (Hinnant's civil_from_days), for year 0."""
    days, rem = divmod(ms, 86_400_000)
    secs, milli = divmod(rem, 1000)
    hour, rem = divmod(secs, 3600)
    minute, sec = divmod(rem, 60)
    # Howard Hinnant's civil_from_days, valid for the proleptic Gregorian calendar.
    z = days + 719_468
    era = z // 146_097
    doe = z - era * 146_097
    yoe = (doe - doe // 1460 + doe // 36_524 - doe // 146_096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = mp + 3 if mp < 10 else mp - 9
    year = yoe + era * 400 + (1 if month <= 2 else 0)
    return f"{year:04d}-{month:02d}-{day:02d}T{hour:02d}:{minute:02d}:{sec:02d}.{milli:03d}Z"


def json_size(value: Any) -> int:
    """Return the size in bytes of `value` as compact JSON, the measure of Braze's 100 KB limit."""
    return len(_encode(value))


def array_item_key(item: Any) -> Any:
    """Return a hashable identity for an array item: equal numbers match, bools stay apart."""
    if isinstance(item, str):
        return item
    if isinstance(item, bool):
        return (bool, item)
    if isinstance(item, int | float):
        return item
    return (dict, _encode(item))


def keep_last(items: list[Any], limit: int) -> list[Any]:
    """The last `limit` items (all of them when there are fewer): Braze's array cap."""
    return items[max(len(items) - limit, 0) :]


def dedupe_keep_last(items: list[Any]) -> list[Any]:
    """De-duplicate keeping each item at its last position ("re-adding moves it to the end")."""
    if _SELF_KEYED.issuperset(map(type, items)):  # no bools or containers: C-speed path
        return list(dict.fromkeys(reversed(items)))[::-1]
    seen: set[Any] = set()
    kept: list[Any] = []
    for item in reversed(items):
        key = array_item_key(item)
        if key not in seen:
            seen.add(key)
            kept.append(item)
    kept.reverse()
    return kept
