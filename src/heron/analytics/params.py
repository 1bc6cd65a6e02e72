"""Query parameters of the data-series endpoints, parsed into values or Braze-shaped 400s.

Every message names the parameter it is about. Rules shared by every series endpoint:

- An empty value (`?unit=`) counts as absent; for a required parameter that is a 400.
- A repeated parameter takes its last value (as Rails-style servers such as Braze's do).
- `length`: decimal digits only (surrounding spaces ignored), 1..100.
- `unit`: `day` (default) or `hour`, case-insensitive.
- `ending_at` (default: now): ISO 8601 `YYYY-MM-DD`, optionally followed by `T` (or a space)
  and `HH[:MM[:SS[.fraction]]]`, optionally followed by `Z` or an offset `±HH[:MM]`/`±HHMM`
  (`±H:MM` too, as one of Braze's examples writes `-5:00`).
  Braze's `HH:mm:ss:SSS` milliseconds are accepted too. With an offset (or `Z`) it is that
  instant; without one it is wall-clock time in the workspace's zone (a bare date is the local
  midnight that starts that day; a wall-clock time skipped or repeated by a DST change is
  read with the offset in effect before the change). A `+` sent unencoded arrives as a space
  (`...T10:00:00 05:30`) and is read as `+`. Instants beyond what a series can be labelled in
  are clamped (see `heron.analytics.series`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone, tzinfo

from heron.analytics.buckets import zone as workspace_zone
from heron.analytics.series import MAX_LENGTH, Unit, clamp_ending
from heron.http.errors import bad_request

__all__ = [
    "SeriesQuery",
    "optional_text",
    "parse_ending_at",
    "parse_length",
    "parse_unit",
    "required_text",
    "series_query",
]

_ISO = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})"
    r"(?:[Tt ](\d{2})(?::(\d{2})(?::(\d{2})(?:[.,](\d+)|:(\d{3}))?)?)?"
    r"(?:([Zz])|([+\- ])(\d{1,2})(?::?(\d{2}))?)?)?",
    re.ASCII,
)
_ENDING_AT_FORMAT = (
    "'ending_at' must be an ISO 8601 date-time (e.g. 2026-11-22T05:00:00Z or"
    " 2026-11-22T00:00:00-05:00) or date (2026-11-22)"
)


@dataclass(frozen=True, slots=True)
class SeriesQuery:
    """The parameters every series endpoint shares, parsed."""

    length: int
    unit: Unit
    ending_ms: int
    app_id: str | None  # the app's API identifier as sent; resolved against the workspace later


def optional_text(params: Mapping[str, str], name: str) -> str | None:
    """A parameter's value, or None when it is absent or empty."""
    value = params.get(name)
    return value if value else None


def required_text(params: Mapping[str, str], name: str) -> str:
    """A parameter's value; 400 when it is absent or empty."""
    value = params.get(name)
    if not value:
        raise bad_request(f"'{name}' is required")
    return value


def parse_length(params: Mapping[str, str]) -> int:
    """`length`: required, an integer from 1 to 100."""
    raw = required_text(params, "length").strip()
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= MAX_LENGTH:
        raise bad_request(f"'length' must be an integer between 1 and {MAX_LENGTH}")
    return int(raw)


def parse_unit(params: Mapping[str, str]) -> Unit:
    """`unit`: `day` (the default) or `hour`."""
    raw = optional_text(params, "unit")
    if raw is None:
        return "day"
    unit = raw.strip().lower()
    if unit == "day":
        return "day"
    if unit == "hour":
        return "hour"
    raise bad_request("'unit' must be 'day' or 'hour'")


def parse_ending_at(value: str, time_zone: str) -> int:
    """An `ending_at` value as epoch milliseconds (see the module docstring for the forms)."""
    match = _ISO.fullmatch(value)
    if match is None:
        raise bad_request(_ENDING_AT_FORMAT)
    year, month, day, hour, minute, second, fraction, millis, z, sign, off_h, off_m = match.groups()
    zone: tzinfo
    if z is not None:
        zone = UTC
    elif sign is not None:
        if int(off_h) > 23 or int(off_m or 0) > 59:
            raise bad_request("'ending_at' has an invalid UTC offset")
        offset = timedelta(hours=int(off_h), minutes=int(off_m or 0))
        zone = timezone(-offset if sign == "-" else offset)
    else:
        zone = workspace_zone(time_zone) or UTC
    digits = fraction or millis or ""
    try:
        moment = datetime(
            int(year),
            int(month),
            int(day),
            int(hour or 0),
            int(minute or 0),
            int(second or 0),
            int(digits[:6].ljust(6, "0")) if digits else 0,
            tzinfo=zone,
        )
    except ValueError as exc:
        raise bad_request(f"'ending_at' is not a valid date-time: {exc}") from None
    since_epoch = moment - datetime(1970, 1, 1, tzinfo=UTC)
    return clamp_ending(since_epoch // timedelta(milliseconds=1))


def series_query(params: Mapping[str, str], time_zone: str, now_ms: int) -> SeriesQuery:
    """Parse `length`, `unit`, `ending_at` and `app_id` (in that order: the first error wins)."""
    length = parse_length(params)
    unit = parse_unit(params)
    raw_ending = optional_text(params, "ending_at")
    ending_ms = now_ms if raw_ending is None else parse_ending_at(raw_ending, time_zone)
    return SeriesQuery(length, unit, ending_ms, optional_text(params, "app_id"))
