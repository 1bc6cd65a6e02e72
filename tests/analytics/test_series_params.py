"""Query parameters of the series endpoints (heron.analytics.params): values and 400 messages."""

from __future__ import annotations

from datetime import datetime

import pytest

from heron.analytics.params import (
    parse_ending_at,
    parse_length,
    parse_unit,
    required_text,
    series_query,
)
from heron.analytics.series import MAX_ENDING_MS, MIN_ENDING_MS
from heron.http.errors import BrazeError


def ms(text: str) -> int:
    """Epoch milliseconds of an ISO 8601 date-time with offset."""
    return int(datetime.fromisoformat(text).timestamp() * 1000)


def message(call: object, *args: object) -> str:
    """The 400 message a parse raises."""
    with pytest.raises(BrazeError) as caught:
        call(*args)  # type: ignore[operator]
    assert caught.value.status == 400
    return caught.value.message


@pytest.mark.parametrize(
    ("value", "time_zone", "expected"),
    [
        ("2026-11-22T05:00:00Z", "America/New_York", "2026-11-22T05:00:00+00:00"),
        ("2026-11-22t05:00:00z", "UTC", "2026-11-22T05:00:00+00:00"),
        ("2014-12-10T23:59:59-05:00", "UTC", "2014-12-11T04:59:59+00:00"),
        ("2014-12-10T23:59:59-0500", "UTC", "2014-12-11T04:59:59+00:00"),
        ("2014-12-10T23:59:59+05", "UTC", "2014-12-10T18:59:59+00:00"),
        ("2014-12-10T23:59:59-5:00", "UTC", "2014-12-11T04:59:59+00:00"),
        ("2014-12-10T23:59:59 05:30", "UTC", "2014-12-10T18:29:59+00:00"),  # `+` unencoded
        ("2014-12-10 23:59", "UTC", "2014-12-10T23:59:00+00:00"),
        ("2014-12-10T23", "UTC", "2014-12-10T23:00:00+00:00"),
        ("2014-12-10T23:59:59.5Z", "UTC", "2014-12-10T23:59:59.500+00:00"),
        ("2014-12-10T23:59:59:250Z", "UTC", "2014-12-10T23:59:59.250+00:00"),
        ("2014-12-10T23:59:59.123456789Z", "UTC", "2014-12-10T23:59:59.123+00:00"),
        # no offset: wall-clock time of the workspace; a date is its local midnight
        ("2026-11-22", "UTC", "2026-11-22T00:00:00+00:00"),
        ("2026-11-22", "America/New_York", "2026-11-22T00:00:00-05:00"),
        ("2026-07-01", "America/New_York", "2026-07-01T00:00:00-04:00"),
        ("2026-11-22", "Asia/Kolkata", "2026-11-22T00:00:00+05:30"),
        ("2026-11-22T09:15", "Asia/Kathmandu", "2026-11-22T09:15:00+05:45"),
        # skipped and repeated wall-clock times: the offset in effect before the change
        ("2026-03-08T02:30", "America/New_York", "2026-03-08T02:30:00-05:00"),
        ("2026-11-01T01:30", "America/New_York", "2026-11-01T01:30:00-04:00"),
    ],
)
def test_ending_at_forms(value: str, time_zone: str, expected: str) -> None:
    assert parse_ending_at(value, time_zone) == ms(expected)


@pytest.mark.parametrize(
    "value",
    ["0001-01-01", "0001-01-01T00:00:00+23:59", "0001-04-14T23:59:59Z"],
)
def test_ending_at_near_year_one_is_clamped(value: str) -> None:
    assert parse_ending_at(value, "America/New_York") == MIN_ENDING_MS


@pytest.mark.parametrize("value", ["9999-12-31", "9999-12-31T23:59:59-23:59"])
def test_ending_at_near_year_9999_is_clamped(value: str) -> None:
    assert parse_ending_at(value, "Pacific/Kiritimati") == MAX_ENDING_MS


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("yesterday", "must be an ISO 8601 date-time"),
        ("20261122", "must be an ISO 8601 date-time"),
        ("2026-W47-7", "must be an ISO 8601 date-time"),
        ("2026-11-22T05:00:00 ", "must be an ISO 8601 date-time"),
        ("1732252800", "must be an ISO 8601 date-time"),
        ("\uff12\uff10\uff12\uff16-11-22", "must be an ISO 8601 date-time"),
        ("2026-02-30", "not a valid date-time: day is out of range"),
        ("2026-13-01", "not a valid date-time: month must be in 1..12"),
        ("2026-11-22T24:00", "not a valid date-time: hour must be in 0..23"),
        ("2026-11-22T05:60", "not a valid date-time: minute must be in 0..59"),
        ("2026-11-22T05:00+24:00", "invalid UTC offset"),
        ("2026-11-22T05:00+05:60", "invalid UTC offset"),
    ],
)
def test_bad_ending_at_is_a_400_naming_it(value: str, fragment: str) -> None:
    text = message(parse_ending_at, value, "UTC")
    assert text.startswith("'ending_at'")
    assert fragment in text


@pytest.mark.parametrize(("value", "expected"), [("1", 1), ("100", 100), ("024", 24), (" 7 ", 7)])
def test_length_accepts_1_to_100(value: str, expected: int) -> None:
    assert parse_length({"length": value}) == expected


@pytest.mark.parametrize(
    "value", ["0", "101", "-1", "+5", "1.0", "1e2", "ten", "٣", "99999999999999999999"]
)
def test_length_outside_1_to_100_is_a_400(value: str) -> None:
    assert message(parse_length, {"length": value}) == (
        "'length' must be an integer between 1 and 100"
    )


def test_missing_or_empty_required_parameters_are_a_400_naming_them() -> None:
    assert message(parse_length, {}) == "'length' is required"
    assert message(parse_length, {"length": ""}) == "'length' is required"
    assert message(required_text, {"event": ""}, "event") == "'event' is required"


def test_unit_defaults_to_day_and_is_case_insensitive() -> None:
    assert parse_unit({}) == "day"
    assert parse_unit({"unit": ""}) == "day"
    assert parse_unit({"unit": "HOUR"}) == "hour"
    assert parse_unit({"unit": "Day"}) == "day"
    assert message(parse_unit, {"unit": "14"}) == "'unit' must be 'day' or 'hour'"
    assert message(parse_unit, {"unit": "week"}) == "'unit' must be 'day' or 'hour'"


def test_series_query_defaults_and_error_order() -> None:
    now = ms("2026-11-22T05:00:00+00:00")
    query = series_query({"length": "5", "app_id": ""}, "UTC", now)
    assert (query.length, query.unit, query.ending_ms, query.app_id) == (5, "day", now, None)
    # the first invalid parameter in Braze's documented order wins
    bad = {"length": "0", "unit": "x", "ending_at": "x"}
    assert message(series_query, bad, "UTC", now).startswith("'length'")
    assert message(series_query, {**bad, "length": "1"}, "UTC", now).startswith("'unit'")
    assert message(series_query, {**bad, "length": "1", "unit": "hour"}, "UTC", now).startswith(
        "'ending_at'"
    )
