"""Time buckets in a workspace's time zone: the hour a rollup row counts, the day it belongs to.

An hourly bucket is the *local* hour that holds the instant, keyed by the UTC epoch second at
which that local hour starts. For whole-hour zones this is the UTC hour; for zones such as
Asia/Kolkata (+05:30) or Asia/Kathmandu (+05:45) it starts at :30 or :45 UTC, so a local day is
always an exact set of hourly buckets, including 23- and 25-hour days at DST changes.

A daily bucket is keyed by the epoch second of its local midnight (`local_midnight`), and an
hourly bucket belongs to the day whose `[midnight, next midnight)` holds its start (`day_start`):
the same rule by which a daily series point sums hourly buckets (`heron.analytics.series`).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo


@lru_cache(maxsize=256)
def zone(name: str) -> ZoneInfo | None:
    """The ZoneInfo for a workspace zone; None for UTC (the fast path)."""
    if name in ("UTC", "Etc/UTC", "GMT", "Etc/GMT"):
        return None
    return ZoneInfo(name)


# Instants whose local time would fall outside Python's datetime range (years 1..9999) take
# the offset of a moment two days inside it: no zone changes its offset in those years.
_FIRST_SAFE_SECOND = -62135596800 + 2 * 86400  # 0001-01-03T00:00:00Z
_LAST_SAFE_SECOND = 253402300799 - 2 * 86400  # 9999-12-29T23:59:59Z


def hour_bucket(time_ms: int, tz: ZoneInfo | None) -> int:
    """Epoch seconds of the start of the local hour that contains `time_ms`."""
    seconds = time_ms // 1000
    if tz is None:
        return seconds - seconds % 3600
    probe = min(max(seconds, _FIRST_SAFE_SECOND), _LAST_SAFE_SECOND)
    offset = datetime.fromtimestamp(probe, tz).utcoffset()
    shift = int(offset.total_seconds()) if offset is not None else 0
    local = seconds + shift
    return local - local % 3600 - shift


_DAY = 86_400


def local_midnight(day: date, tz: ZoneInfo | None) -> int:
    """Epoch seconds at which `day` starts in `tz` (a skipped midnight: the moment clocks jump)."""
    if tz is None:
        return (day - date(1970, 1, 1)).days * _DAY
    return int(datetime(day.year, day.month, day.day, tzinfo=tz).timestamp())


def day_start(hour: int, tz: ZoneInfo | None) -> int:
    """Epoch seconds of the local midnight starting the day that holds the bucket `hour`.

    That is the midnight `m` with `m <= hour < next midnight`, checked against `local_midnight`
    itself so that a daily row and a daily series point agree on every day, 23 and 25 hours
    long included. Instants outside years 1..9999 use the offset at the nearest safe moment.
    """
    if tz is None:
        return hour - hour % _DAY
    if not _FIRST_SAFE_SECOND <= hour <= _LAST_SAFE_SECOND:
        probe = min(max(hour, _FIRST_SAFE_SECOND), _LAST_SAFE_SECOND)
        offset = datetime.fromtimestamp(probe, tz).utcoffset()
        shift = int(offset.total_seconds()) if offset is not None else 0
        local = hour + shift
        return local - local % _DAY - shift
    day = datetime.fromtimestamp(hour, tz).date()
    start = local_midnight(day, tz)
    while start > hour:
        day -= timedelta(days=1)
        start = local_midnight(day, tz)
    while local_midnight(day + timedelta(days=1), tz) <= hour:
        day += timedelta(days=1)
        start = local_midnight(day, tz)
    return start
