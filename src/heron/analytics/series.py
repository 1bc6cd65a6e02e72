"""Data-series points: which hourly rollup buckets make up each point, and their labels.

Pure functions, no I/O. A series has `length` points, oldest first, the last one being the
bucket that holds `ending_ms`:

- `unit="hour"`: each point is one hourly bucket (the local hour of the workspace's zone, keyed
  by the epoch second at which it starts, as `heron.analytics.buckets` writes them). Its label is
  the local start with its UTC offset, `2026-11-22T00:00:00-05:00`, or `2026-11-22T05:00:00Z`
  in a UTC workspace (and in the rare historical zones whose offset has seconds).
- `unit="day"`: each point is one calendar day of the zone: every hourly bucket whose start
  falls in `[local midnight, next local midnight)`, so a DST day holds 23 or 25 buckets and a
  +05:30 day starts at 18:30 UTC. Its label is the local date, `2026-11-22`.

Instants are clamped to `[MIN_ENDING_MS, MAX_ENDING_MS]` so that every point of any series has
a year between 1 and 9999 (the range of ISO 8601 four-digit years and of Python's datetime).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from heron.analytics.buckets import hour_bucket, local_midnight, zone

__all__ = [
    "MAX_ENDING_MS",
    "MAX_LENGTH",
    "MIN_ENDING_MS",
    "Points",
    "Unit",
    "clamp_ending",
    "points",
]

Unit = Literal["day", "hour"]
MAX_LENGTH = 100
_DAY = 86_400
_HOUR = 3_600
# A 100-day series plus a day of margin on each side for any UTC offset stays within 1..9999.
MIN_ENDING_MS = int(datetime(1, 4, 15, tzinfo=UTC).timestamp()) * 1000
MAX_ENDING_MS = int(datetime(9999, 12, 29, tzinfo=UTC).timestamp()) * 1000


@dataclass(frozen=True, slots=True)
class Points:
    """The points of a series: each one's first hourly bucket, the range end, and labels."""

    unit: Unit
    starts: tuple[int, ...]  # epoch seconds; point i holds buckets in [starts[i], starts[i+1])
    end: int  # exclusive end of the last point: read rollup buckets in [starts[0], end)
    labels: tuple[str, ...]
    time_zone: str = "UTC"  # the workspace zone the points were laid out in

    @property
    def bounds(self) -> tuple[int, ...]:
        """Range boundaries: point i holds the buckets that start in `[bounds[i], bounds[i+1])`."""
        return (*self.starts, self.end)


def clamp_ending(ending_ms: int) -> int:
    """Keep an instant within the range every series can be labelled in."""
    return min(max(ending_ms, MIN_ENDING_MS), MAX_ENDING_MS)


def points(unit: Unit, length: int, ending_ms: int, time_zone: str) -> Points:
    """The `length` points of a series ending with the one that holds `ending_ms`."""
    if not 1 <= length <= MAX_LENGTH:
        raise ValueError(f"length must be between 1 and {MAX_LENGTH}")
    tz = zone(time_zone)
    last_hour = hour_bucket(clamp_ending(ending_ms), tz)
    if unit == "hour":
        return _hours(length, last_hour, tz, time_zone)
    return _days(length, last_hour, tz, time_zone)


def _hours(length: int, last: int, tz: ZoneInfo | None, time_zone: str) -> Points:
    """Hourly points: step back one local hour at a time (hours are not always 3600 s apart)."""
    if tz is None:
        starts = [last - _HOUR * k for k in range(length - 1, -1, -1)]
        dates: dict[int, str] = {}
        labels = []
        for start in starts:
            day, second = divmod(start, _DAY)
            text = dates.get(day)
            if text is None:
                text = dates[day] = _date_of(day).isoformat()
            labels.append(f"{text}T{second // _HOUR:02d}:00:00Z")
        return Points("hour", tuple(starts), last + 1, tuple(labels), time_zone)
    starts = [last]
    while len(starts) < length:
        starts.append(hour_bucket((starts[-1] - 1) * 1000, tz))
    starts.reverse()
    labels = [_hour_label(s, tz) for s in starts]
    return Points("hour", tuple(starts), last + 1, tuple(labels), time_zone)


def _hour_label(start: int, tz: ZoneInfo) -> str:
    """ISO 8601 local date-time of a bucket's start with its offset (UTC `Z` if it has seconds)."""
    local = datetime.fromtimestamp(start, tz)
    offset = local.utcoffset()
    if offset is not None and offset.total_seconds() % 60 == 0:
        return local.isoformat(timespec="seconds")
    day, second = divmod(start, _DAY)
    minute, second = divmod(second % _HOUR, 60)
    return f"{_date_of(day).isoformat()}T{start % _DAY // _HOUR:02d}:{minute:02d}:{second:02d}Z"


def _days(length: int, last_hour: int, tz: ZoneInfo | None, time_zone: str) -> Points:
    """Daily points: the local dates ending with the one of `last_hour`, and their midnights."""
    if tz is None:
        last_day = last_hour // _DAY
        first = last_day - length + 1
        starts = tuple(d * _DAY for d in range(first, last_day + 1))
        labels = tuple(_date_of(d).isoformat() for d in range(first, last_day + 1))
        return Points("day", starts, (last_day + 1) * _DAY, labels, time_zone)
    last_date = datetime.fromtimestamp(last_hour, tz).date()
    dates = [last_date - timedelta(days=k) for k in range(length - 1, -1, -1)]
    starts = tuple(local_midnight(d, tz) for d in dates)
    end = local_midnight(last_date + timedelta(days=1), tz)
    return Points("day", starts, end, tuple(d.isoformat() for d in dates), time_zone)


def _date_of(epoch_day: int) -> date:
    """The UTC date of a day number since 1970-01-01."""
    return date(1970, 1, 1) + timedelta(days=epoch_day)
