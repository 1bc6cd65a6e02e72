"""Braze time formats: event/purchase `time` fields and datetime-typed property values.

Accepted shapes (spec §4), all read as UTC when they carry no zone:

- ISO 8601 with an extended calendar date: `YYYY-MM-DD`, optionally followed by `T` (or `t`
  or one space) and a time `HH[:MM[:SS[.fraction]]]`, optionally followed by `Z`/`z` or an
  offset `±HH`, `±HHMM`, `±HH:MM`. The fraction may have any number of digits (`.` or `,`);
  digits past the millisecond are truncated. Week dates, ordinal dates and the basic
  (dash-less) date form are not accepted; whatever else `datetime.fromisoformat` reads after
  such a date (a basic-format time, a space before the offset, offset seconds) is accepted.
- Braze's `yyyy-MM-dd'T'HH:mm:ss:SSSZ`: milliseconds after a colon, exactly three digits, zone
  `±HHMM`, `±HH:MM`, `Z` or none.

Property values additionally accept `MM/dd/yyyy` (month and day may have one digit) and
`ddd MM dd HH:mm:ss.TZD YYYY`, read as `Wed 07 16 19:20:30.000 +0100 2013`: an English weekday
abbreviation (not checked against the date), the month as two digits or an English
abbreviation, the day, the time with an optional fraction, an optional zone (`Z`, `±HHMM`,
`±HH:MM`) and a four-digit year; names are case-insensitive.

Offsets are fixed (no daylight-saving rules): hours below 24, minutes 00..59. Years are
1..9999 as written (the UTC instant may fall just outside); results are UTC epoch
milliseconds, floored. Property strings longer than 64 characters are never datetimes.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone, tzinfo

__all__ = ["DATETIME_FIRST_CHARS", "parse_datetime_value", "parse_event_time"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_ORDINAL = _EPOCH.toordinal()
_MS = timedelta(milliseconds=1)
_MICROSECOND = timedelta(microseconds=1)
_OFFSET_CACHE_SIZE = 4096  # distinct offsets are few in practice; bound it against odd input
_OFFSET_MICROS: dict[tzinfo, int] = {}
_fromisoformat = datetime.fromisoformat

_FORMAT_ERROR = "'time' must be an ISO 8601 or yyyy-MM-dd'T'HH:mm:ss:SSSZ date-time string"

# Fallback grammar for what `datetime.fromisoformat` rejects or reads too loosely: lower-case
# `z`, Braze's `:SSS` milliseconds, and re-parsing out-of-range values for a precise message.
_ISO_FALLBACK = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})"
    r"(?:[Tt ](\d{2})(?::(\d{2})(?::(\d{2})(?:[.,](\d+)|:(\d{3}))?)?)?"
    r"(?:[Zz]|([+-])(\d{2})(?::?(\d{2}))?)?)?",
    re.ASCII,
)
_MONTH_DAY_YEAR = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4})", re.ASCII)
_WEEKDAY_FORMAT = re.compile(
    r"(?:mon|tue|wed|thu|fri|sat|sun) "
    r"(\d{2}|jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec) (\d{1,2}) "
    r"(\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?"
    r"(?: (?:z|([+-])(\d{2}):?(\d{2})))? (\d{4})",
    re.ASCII | re.IGNORECASE,
)
_MONTHS = {
    name: index + 1
    for index, name in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
    )
}
_WEEKDAYS = frozenset(("mon", "tue", "wed", "thu", "fri", "sat", "sun"))
_WEEKDAY_INITIALS = frozenset("MTWFSmtwfs")
# A string can only be a datetime when it starts with one of these; callers may pre-filter.
DATETIME_FIRST_CHARS = frozenset("0123456789") | _WEEKDAY_INITIALS
_MIN_WEEKDAY_FORMAT_LENGTH = len("Wed 07 16 19:20:30 2013")
_MAX_VALUE_LENGTH = 64  # longest datetime string worth trying for a property value


def parse_event_time(value: object) -> int:
    """Parse an event/purchase `time` to UTC epoch ms; ValueError carries a Braze-style message."""
    if type(value) is not str:
        raise ValueError("'time' must be a string")
    try:
        ms = _parse_iso(value)
    except ValueError as exc:
        raise ValueError(f"'time' is not a valid date-time: {exc}") from None
    if ms is None:
        raise ValueError(_FORMAT_ERROR)
    return ms


def parse_datetime_value(s: str) -> int | None:
    """Return UTC epoch ms when a property/attribute string is a Braze datetime, else None."""
    n = len(s)
    if n < 8 or n > _MAX_VALUE_LENGTH:
        return None
    first = s[0]
    try:
        if "0" <= first <= "9":
            if s[4] == "-" and s[7] == "-":
                return _parse_iso(s)
            if s[1] == "/" or s[2] == "/":
                return _parse_month_day_year(s)
            return None
        if (
            first in _WEEKDAY_INITIALS
            and n >= _MIN_WEEKDAY_FORMAT_LENGTH
            and s[3] == " "
            and s[:3].lower() in _WEEKDAYS
        ):
            return _parse_weekday_format(s)
    except ValueError:
        return None
    return None


def _parse_iso(s: str) -> int | None:
    """ISO 8601 or `:SSSZ` text to epoch ms; None when malformed, ValueError when out of range."""
    n = len(s)
    if n < 10 or s[4] != "-" or s[7] != "-":
        return None
    if n > 10:
        if s[10] not in "Tt ":
            return None
        if n > 19 and s[19] == ":":  # Braze's `:SSS` milliseconds: fromisoformat reads it loosely
            return _parse_iso_fallback(s)
    try:
        dt = _fromisoformat(s)
    except ValueError:
        return _parse_iso_fallback(s)
    # Integer arithmetic on the fields: several times faster than aware datetime subtraction.
    micros = (
        (dt.toordinal() - _EPOCH_ORDINAL) * 86_400 + dt.hour * 3_600 + dt.minute * 60 + dt.second
    ) * 1_000_000 + dt.microsecond
    tz = dt.tzinfo
    if tz is not None and tz is not UTC:
        if s[-2] > "5" and (s[-3] == ":" or s[-5] in "+-"):
            # fromisoformat reads "+01:60" as two hours; the fallback rejects minutes >= 60.
            return _parse_iso_fallback(s)
        offset = _OFFSET_MICROS.get(tz)
        if offset is None:
            offset = _offset_micros(tz)
        micros -= offset
    return micros // 1_000


def _offset_micros(tz: tzinfo) -> int:
    """UTC offset of a fixed-offset zone in microseconds, memoized for the common offsets."""
    delta = tz.utcoffset(None)
    offset = 0 if delta is None else delta // _MICROSECOND
    if len(_OFFSET_MICROS) < _OFFSET_CACHE_SIZE:
        _OFFSET_MICROS[tz] = offset
    return offset


def _parse_iso_fallback(s: str) -> int | None:
    """Parse the shapes `fromisoformat` rejects (or misreads) with the strict fallback grammar."""
    m = _ISO_FALLBACK.fullmatch(s)
    if m is None:
        return None
    year, month, day, hour, minute, second, fraction, millis, sign, off_h, off_m = m.groups()
    if fraction is not None:
        micro = int(fraction[:6].ljust(6, "0"))
    elif millis is not None:
        micro = int(millis) * 1000
    else:
        micro = 0
    return _epoch_ms(
        int(year),
        int(month),
        int(day),
        int(hour or 0),
        int(minute or 0),
        int(second or 0),
        micro,
        _offset_minutes(sign, off_h, off_m),
    )


def _parse_month_day_year(s: str) -> int | None:
    """Parse `MM/dd/yyyy` (midnight UTC)."""
    m = _MONTH_DAY_YEAR.fullmatch(s)
    if m is None:
        return None
    month, day, year = m.groups()
    return _epoch_ms(int(year), int(month), int(day), 0, 0, 0, 0, 0)


def _parse_weekday_format(s: str) -> int | None:
    """Parse `ddd MM dd HH:mm:ss.TZD YYYY`, e.g. `Wed 07 16 19:20:30.000 +0100 2013`."""
    m = _WEEKDAY_FORMAT.fullmatch(s)
    if m is None:
        return None
    month, day, hour, minute, second, fraction, sign, off_h, off_m, year = m.groups()
    month_number = int(month) if month[0].isdigit() else _MONTHS[month.lower()]
    micro = int(fraction[:6].ljust(6, "0")) if fraction is not None else 0
    return _epoch_ms(
        int(year),
        month_number,
        int(day),
        int(hour),
        int(minute),
        int(second),
        micro,
        _offset_minutes(sign, off_h, off_m),
    )


def _offset_minutes(sign: str | None, hours: str | None, minutes: str | None) -> int:
    """Signed UTC offset in minutes from regex groups; ValueError when out of range."""
    if sign is None or hours is None:
        return 0
    h, m = int(hours), int(minutes or 0)
    if h > 23 or m > 59:
        raise ValueError("UTC offset out of range")
    total = h * 60 + m
    return -total if sign == "-" else total


def _epoch_ms(
    year: int,
    month: int,
    day: int,
    hour: int,
    minute: int,
    second: int,
    micro: int,
    offset_minutes: int,
) -> int:
    """Validate calendar fields (ValueError when out of range) and return UTC epoch ms."""
    tz = timezone(timedelta(minutes=offset_minutes)) if offset_minutes else UTC
    dt = datetime(year, month, day, hour, minute, second, micro, tzinfo=tz)
    return (dt - _EPOCH) // _MS
