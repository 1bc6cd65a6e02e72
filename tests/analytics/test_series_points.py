"""Series points (heron.analytics.series): local hours and calendar days, labels, zero-filling."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from heron.analytics.buckets import hour_bucket, zone
from heron.analytics.series import (
    MAX_ENDING_MS,
    MIN_ENDING_MS,
    Points,
    clamp_ending,
    points,
)

ZONES = [
    "UTC",
    "America/New_York",
    "Asia/Kolkata",
    "Asia/Kathmandu",
    "Australia/Lord_Howe",  # 30-minute DST shift
    "Pacific/Chatham",  # +12:45 / +13:45
    "America/Santiago",
    "Europe/London",
]


def ms(text: str) -> int:
    """Epoch milliseconds of an ISO 8601 date-time with offset."""
    return int(datetime.fromisoformat(text).timestamp() * 1000)


def hours_of(series: Points) -> list[float]:
    """Length in hours of each point of a day series."""
    return [(b - a) / 3600 for a, b in pairwise([*series.starts, series.end])]


def test_utc_hours_are_labelled_with_z_and_end_with_the_hour_holding_ending_at() -> None:
    p = points("hour", 3, ms("2026-11-22T05:59:59+00:00"), "UTC")
    assert p.labels == ("2026-11-22T03:00:00Z", "2026-11-22T04:00:00Z", "2026-11-22T05:00:00Z")
    assert p.starts == tuple(ms("2026-11-22T03:00:00+00:00") // 1000 + 3600 * k for k in range(3))
    assert p.end == p.starts[-1] + 1


def test_utc_days_cross_midnight_and_year_boundaries() -> None:
    p = points("day", 3, ms("2027-01-01T00:00:00+00:00"), "UTC")
    assert p.labels == ("2026-12-30", "2026-12-31", "2027-01-01")
    assert hours_of(p) == [24, 24, 24]


def test_new_york_spring_forward_day_has_23_hours_and_fall_back_day_25() -> None:
    spring = points("day", 3, ms("2026-03-09T12:00:00-04:00"), "America/New_York")
    assert spring.labels == ("2026-03-07", "2026-03-08", "2026-03-09")
    assert hours_of(spring) == [24, 23, 24]
    assert spring.starts[1] == ms("2026-03-08T00:00:00-05:00") // 1000
    fall = points("day", 3, ms("2026-11-02T12:00:00-05:00"), "America/New_York")
    assert fall.labels == ("2026-10-31", "2026-11-01", "2026-11-02")
    assert hours_of(fall) == [24, 25, 24]


def test_hour_series_shows_the_repeated_hour_twice_with_its_offsets() -> None:
    p = points("hour", 4, ms("2026-11-01T01:30:00-05:00"), "America/New_York")
    assert p.labels == (
        "2026-10-31T23:00:00-04:00",
        "2026-11-01T00:00:00-04:00",
        "2026-11-01T01:00:00-04:00",
        "2026-11-01T01:00:00-05:00",
    )
    skipped = points("hour", 3, ms("2026-03-08T03:10:00-04:00"), "America/New_York")
    assert skipped.labels == (
        "2026-03-08T00:00:00-05:00",
        "2026-03-08T01:00:00-05:00",
        "2026-03-08T03:00:00-04:00",
    )


def test_half_hour_zone_days_and_hours_start_at_half_past_utc() -> None:
    day = points("day", 2, ms("2026-11-22T05:59:00+00:00"), "Asia/Kolkata")
    assert day.labels == ("2026-11-21", "2026-11-22")
    assert datetime.fromtimestamp(day.starts[0], UTC) == datetime(2026, 11, 20, 18, 30, tzinfo=UTC)
    hour = points("hour", 2, ms("2026-11-22T05:59:00+00:00"), "Asia/Kolkata")
    assert hour.labels == ("2026-11-22T10:00:00+05:30", "2026-11-22T11:00:00+05:30")
    assert hour.starts[-1] % 3600 == 1800


def test_bounds_are_the_starts_then_the_end() -> None:
    p = points("day", 2, ms("2026-03-08T12:00:00-04:00"), "America/New_York")
    assert p.bounds == (*p.starts, p.end)
    assert p.end - p.starts[-1] == 23 * 3600


def test_length_is_checked() -> None:
    with pytest.raises(ValueError):
        points("day", 0, 0, "UTC")
    with pytest.raises(ValueError):
        points("hour", 101, 0, "UTC")


@pytest.mark.parametrize("name", ZONES)
@pytest.mark.parametrize("unit", ["day", "hour"])
def test_extreme_instants_are_clamped_to_labellable_series(name: str, unit: str) -> None:
    low = points(unit, 100, -(10**18), name)  # type: ignore[arg-type]
    high = points(unit, 100, 10**18, name)  # type: ignore[arg-type]
    assert low.labels[0].startswith("0001-")
    assert high.labels[-1].startswith("9999-12-")
    assert clamp_ending(-(10**18)) == MIN_ENDING_MS
    assert clamp_ending(10**18) == MAX_ENDING_MS


@settings(max_examples=200, deadline=None)
@given(
    name=st.sampled_from(ZONES),
    instant=st.integers(ms("1990-01-01T00:00:00+00:00"), ms("2040-01-01T00:00:00+00:00")),
    length=st.integers(1, 100),
)
def test_points_agree_with_the_buckets_ingest_writes(name: str, instant: int, length: int) -> None:
    tz = zone(name)
    bucket = hour_bucket(instant, tz)
    hours = points("hour", length, instant, name)
    assert hours.starts[-1] == bucket
    # the points are exactly the buckets ingest writes for instants in the series' span
    # (brute force, every 5 minutes: the shortest local hour, at a 30-minute DST shift, is 30)
    written = {hour_bucket(t, tz) for t in range(hours.starts[0] * 1000, instant + 1, 300_000)}
    assert list(hours.starts) == sorted(written | {bucket})
    days = points("day", length, instant, name)
    assert days.starts[-1] <= bucket < days.end
    local = datetime.fromtimestamp(instant // 1000, ZoneInfo(name))
    assert days.labels[-1] == local.date().isoformat()
    assert days.labels[0] == (local.date() - timedelta(days=length - 1)).isoformat()
    assert all(21 <= h <= 27 for h in hours_of(days))
