"""Braze time formats: `time` fields of events/purchases and datetime-typed property values."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from heron.ingest.timefmt import DATETIME_FIRST_CHARS, parse_datetime_value, parse_event_time

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
FORMAT_ERROR = "'time' must be an ISO 8601 or yyyy-MM-dd'T'HH:mm:ss:SSSZ date-time string"


def utc_ms(
    year: int,
    month: int,
    day: int,
    hour: int = 0,
    minute: int = 0,
    second: int = 0,
    millis: int = 0,
    *,
    offset_minutes: int = 0,
) -> int:
    """Expected epoch ms of a wall-clock time at a fixed UTC offset, computed independently."""
    wall = datetime(year, month, day, hour, minute, second, millis * 1000, tzinfo=UTC)
    return (wall - timedelta(minutes=offset_minutes) - EPOCH) // timedelta(milliseconds=1)


# --- parse_event_time: accepted shapes -----------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # ISO 8601 with offsets (the examples of the Braze event object page)
        ("2013-07-16T19:20:30+01:00", utc_ms(2013, 7, 16, 18, 20, 30)),
        ("2013-07-16T19:20:45+01:00", utc_ms(2013, 7, 16, 18, 20, 45)),
        ("2013-07-16T19:20:30+0100", utc_ms(2013, 7, 16, 18, 20, 30)),
        ("2013-07-16T19:20:30+01", utc_ms(2013, 7, 16, 18, 20, 30)),
        ("2013-07-16T19:20:30-08:00", utc_ms(2013, 7, 17, 3, 20, 30)),
        ("2013-07-16T19:20:30+05:30", utc_ms(2013, 7, 16, 13, 50, 30)),
        ("2013-07-16T19:20:30+05:45", utc_ms(2013, 7, 16, 13, 35, 30)),
        ("2013-07-16T19:20:30-09:30", utc_ms(2013, 7, 17, 4, 50, 30)),
        ("2013-07-16T19:20:30+14:00", utc_ms(2013, 7, 16, 5, 20, 30)),
        ("2013-07-16T19:20:30-12:00", utc_ms(2013, 7, 17, 7, 20, 30)),
        ("2013-07-16T19:20:30+23:59", utc_ms(2013, 7, 15, 19, 21, 30)),
        # Z, -00:00, +00:00 and no zone are all UTC
        ("2013-07-16T19:20:30Z", utc_ms(2013, 7, 16, 19, 20, 30)),
        ("2013-07-16T19:20:30z", utc_ms(2013, 7, 16, 19, 20, 30)),
        ("2013-07-16t19:20:30Z", utc_ms(2013, 7, 16, 19, 20, 30)),
        ("2013-07-16T19:20:30-00:00", utc_ms(2013, 7, 16, 19, 20, 30)),
        ("2013-07-16T19:20:30+00:00", utc_ms(2013, 7, 16, 19, 20, 30)),
        ("2013-07-16T19:20:30", utc_ms(2013, 7, 16, 19, 20, 30)),
        ("2013-07-16 19:20:30", utc_ms(2013, 7, 16, 19, 20, 30)),
        ("2013-07-16T19:20", utc_ms(2013, 7, 16, 19, 20)),
        # bare date = midnight UTC
        ("2013-07-16", utc_ms(2013, 7, 16)),
        # fractional seconds of any precision, truncated to the millisecond
        ("2013-07-16T19:20:30.1Z", utc_ms(2013, 7, 16, 19, 20, 30, 100)),
        ("2013-07-16T19:20:30.12Z", utc_ms(2013, 7, 16, 19, 20, 30, 120)),
        ("2013-07-16T19:20:30.123Z", utc_ms(2013, 7, 16, 19, 20, 30, 123)),
        ("2013-07-16T19:20:30.1239Z", utc_ms(2013, 7, 16, 19, 20, 30, 123)),
        ("2013-07-16T19:20:30.123456Z", utc_ms(2013, 7, 16, 19, 20, 30, 123)),
        ("2013-07-16T19:20:30.123456789Z", utc_ms(2013, 7, 16, 19, 20, 30, 123)),
        ("2013-07-16T19:20:30.999999999+01:00", utc_ms(2013, 7, 16, 18, 20, 30, 999)),
        ("2013-07-16T19:20:30,5Z", utc_ms(2013, 7, 16, 19, 20, 30, 500)),
        ("2013-07-16T19:20:30.5+01:00", utc_ms(2013, 7, 16, 18, 20, 30, 500)),
        # Braze's yyyy-MM-dd'T'HH:mm:ss:SSSZ
        ("2013-07-16T19:20:30:045+0100", utc_ms(2013, 7, 16, 18, 20, 30, 45)),
        ("2013-07-16T19:20:30:045Z", utc_ms(2013, 7, 16, 19, 20, 30, 45)),
        ("2013-07-16T19:20:30:045+01:00", utc_ms(2013, 7, 16, 18, 20, 30, 45)),
        ("2013-07-16T19:20:30:045-0530", utc_ms(2013, 7, 17, 0, 50, 30, 45)),
        ("2013-07-16T19:20:30:999", utc_ms(2013, 7, 16, 19, 20, 30, 999)),
        ("2013-07-16T19:20:30:000z", utc_ms(2013, 7, 16, 19, 20, 30)),
    ],
)
def test_parse_event_time_accepts(text: str, expected: int) -> None:
    assert parse_event_time(text) == expected


def test_offset_math_crosses_day_month_and_year_boundaries() -> None:
    assert parse_event_time("2013-01-01T00:30:00+01:00") == utc_ms(2012, 12, 31, 23, 30)
    assert parse_event_time("2012-12-31T23:30:00-01:00") == utc_ms(2013, 1, 1, 0, 30)
    assert parse_event_time("2012-03-01T00:00:00+00:01") == utc_ms(2012, 2, 29, 23, 59)
    assert parse_event_time("2013-03-01T00:00:00+00:01") == utc_ms(2013, 2, 28, 23, 59)


def test_offsets_are_fixed_with_no_daylight_saving_rules() -> None:
    # 02:30 on 2013-03-10 does not exist in New York (clocks jump 02:00 -> 03:00); a fixed
    # offset is plain arithmetic, so both offsets give times exactly one hour apart.
    est = parse_event_time("2013-03-10T02:30:00-05:00")
    edt = parse_event_time("2013-03-10T02:30:00-04:00")
    assert est == utc_ms(2013, 3, 10, 7, 30)
    assert est - edt == 3_600_000
    # the same wall time in summer and winter at the same offset differs by whole days only
    summer = parse_event_time("2013-07-01T12:00:00+01:00")
    winter = parse_event_time("2013-01-01T12:00:00+01:00")
    assert (summer - winter) % 86_400_000 == 0


def test_equal_instants_in_every_format_parse_equal() -> None:
    instant = utc_ms(2013, 7, 16, 18, 20, 30, 45)
    for text in (
        "2013-07-16T19:20:30.045+01:00",
        "2013-07-16T18:20:30.045Z",
        "2013-07-16T19:20:30:045+0100",
        "2013-07-16T17:20:30:045-01:00",
        "2013-07-16T18:20:30.045",
    ):
        assert parse_event_time(text) == instant, text


def test_epoch_and_times_before_it() -> None:
    assert parse_event_time("1970-01-01T00:00:00Z") == 0
    assert parse_event_time("1970-01-01T01:00:00+01:00") == 0
    assert parse_event_time("1969-12-31T23:59:59.999Z") == -1
    # sub-millisecond digits are floored, also before 1970
    assert parse_event_time("1969-12-31T23:59:59.9995Z") == -1
    assert parse_event_time("1969-12-31T23:59:59.0001Z") == -1000


def test_year_range_is_1_to_9999_as_written() -> None:
    assert parse_event_time("0001-01-01T00:00:00Z") == utc_ms(1, 1, 1)
    assert parse_event_time("9999-12-31T23:59:59.999Z") == utc_ms(9999, 12, 31, 23, 59, 59, 999)
    # the UTC instant may leave 1..9999 when the offset pushes it over the edge
    assert parse_event_time("0001-01-01T00:00:00+01:00") == utc_ms(1, 1, 1) - 3_600_000
    assert parse_event_time("9999-12-31T23:00:00-01:00") == utc_ms(9999, 12, 31, 23) + 3_600_000


def test_leap_days() -> None:
    assert parse_event_time("2012-02-29") == utc_ms(2012, 2, 29)
    assert parse_event_time("2000-02-29T12:00:00Z") == utc_ms(2000, 2, 29, 12)


# --- parse_event_time: rejections ----------------------------------------------------------------


@pytest.mark.parametrize("value", [None, 1373998830, 1373998830.5, True, b"2013-07-16", ["x"], {}])
def test_parse_event_time_rejects_non_strings(value: object) -> None:
    with pytest.raises(ValueError, match=r"^'time' must be a string$"):
        parse_event_time(value)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "now",
        "2013",
        "2013-07",
        "20130716",  # basic format is not accepted
        "20130716T192030Z",
        "2013-W29-2",  # week date
        "2013-197",  # ordinal date
        "2013-7-16",
        "2013/07/16",
        "07/16/2013",  # property-only format
        "Wed 07 16 19:20:30.000 +0100 2013",  # property-only format
        "2013-07-16X19:20:30",
        "2013-07-16_19:20:30",
        " 2013-07-16T19:20:30Z",
        "2013-07-16T19:20:30Z ",
        "2013-07-16T19:20:30\n",
        "2013-07-16T",
        "2013-07-16T19:20:30.",
        "2013-07-16T19:20:30ZZ",
        "2013-07-16T19:20:30UTC",
        "2013-07-16T19:20:30+01:00Z",
        "2013-07-16T19:20:30:45Z",  # Braze milliseconds are exactly three digits
        "2013-07-16T19:20:30:4",
        "2013-07-16T19:20:30:0450",
        "2013-07-16T19:20:30:045+1",
        "+2013-07-16T19:20:30Z",
        "-2013-07-16T19:20:30Z",
        "10000-01-01T00:00:00Z",
        "２０１３-07-16T19:20:30Z",  # noqa: RUF001 - full-width digits
        "2013-07-16T19:20:30+01:00 extra",
    ],
)
def test_parse_event_time_rejects_malformed(text: str) -> None:
    with pytest.raises(ValueError) as excinfo:
        parse_event_time(text)
    assert str(excinfo.value) == FORMAT_ERROR


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("0000-01-01", "year 0 is out of range"),
        ("0000-12-31T23:59:59Z", "year 0 is out of range"),
        ("2013-13-01T00:00:00Z", "month must be in 1..12"),
        ("2013-00-10T00:00:00Z", "month must be in 1..12"),
        ("2013-02-29", "day is out of range for month"),
        ("2013-02-30T00:00:00Z", "day is out of range for month"),
        ("2013-04-31T00:00:00:000Z", "day is out of range for month"),
        ("2013-07-16T24:00:00Z", "hour must be in 0..23"),
        ("2013-07-16T19:60:00Z", "minute must be in 0..59"),
        ("2013-07-16T19:20:60Z", "second must be in 0..59"),  # no leap seconds
        ("2013-07-16T19:20:30:045+2400", "UTC offset out of range"),
        ("2013-07-16T19:20:30+24:00", "UTC offset out of range"),
        ("2013-07-16T19:20:30+01:60", "UTC offset out of range"),
        ("2013-07-16T19:20:30-0199", "UTC offset out of range"),
    ],
)
def test_parse_event_time_rejects_out_of_range(text: str, reason: str) -> None:
    with pytest.raises(ValueError) as excinfo:
        parse_event_time(text)
    assert str(excinfo.value) == f"'time' is not a valid date-time: {reason}"


# --- parse_datetime_value ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # ISO 8601
        ("2013-07-16T19:20:30+01:00", utc_ms(2013, 7, 16, 18, 20, 30)),
        ("2013-07-16T19:20:30.123Z", utc_ms(2013, 7, 16, 19, 20, 30, 123)),
        # yyyy-MM-ddTHH:mm:ss:SSSZ
        ("2013-07-16T19:20:30:045+0100", utc_ms(2013, 7, 16, 18, 20, 30, 45)),
        ("2013-07-16T19:20:30:045Z", utc_ms(2013, 7, 16, 19, 20, 30, 45)),
        # yyyy-MM-ddTHH:mm:ss and yyyy-MM-dd HH:mm:ss: no zone = UTC
        ("2013-07-16T19:20:30", utc_ms(2013, 7, 16, 19, 20, 30)),
        ("2013-07-16 19:20:30", utc_ms(2013, 7, 16, 19, 20, 30)),
        # yyyy-MM-dd and MM/dd/yyyy: midnight UTC
        ("2013-07-16", utc_ms(2013, 7, 16)),
        ("07/16/2013", utc_ms(2013, 7, 16)),
        ("7/4/2013", utc_ms(2013, 7, 4)),
        ("12/31/9999", utc_ms(9999, 12, 31)),
        ("02/29/2012", utc_ms(2012, 2, 29)),
        # ddd MM dd HH:mm:ss.TZD YYYY, read as "Wed 07 16 19:20:30.000 +0100 2013"
        ("Wed 07 16 19:20:30.000 +0100 2013", utc_ms(2013, 7, 16, 18, 20, 30)),
        ("Wed 07 16 19:20:30.045 +01:00 2013", utc_ms(2013, 7, 16, 18, 20, 30, 45)),
        ("Wed 07 16 19:20:30.5 Z 2013", utc_ms(2013, 7, 16, 19, 20, 30, 500)),
        ("Wed 07 16 19:20:30 -0800 2013", utc_ms(2013, 7, 17, 3, 20, 30)),
        ("Wed 07 16 19:20:30.000 2013", utc_ms(2013, 7, 16, 19, 20, 30)),
        ("Wed Jul 16 19:20:30 +0000 2013", utc_ms(2013, 7, 16, 19, 20, 30)),
        ("wed jul 16 19:20:30 +0000 2013", utc_ms(2013, 7, 16, 19, 20, 30)),
        ("Sun 12 1 00:00:00 Z 2013", utc_ms(2013, 12, 1)),
        # the weekday is not checked against the date (2013-07-16 was a Tuesday)
        ("Fri 07 16 19:20:30.000 +0100 2013", utc_ms(2013, 7, 16, 18, 20, 30)),
    ],
)
def test_parse_datetime_value_formats(text: str, expected: int) -> None:
    assert parse_datetime_value(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "a",
        "hello world",
        "The Sad Egg",
        "Dan Alexander",
        "Wednesday",
        "Wed",
        "Sat night at the movies",
        "Thu 07 16 19:20:30.000 +0100",  # no year
        "Xyz 07 16 19:20:30.000 +0100 2013",
        "Wed 13 16 19:20:30.000 +0100 2013",  # month 13
        "Wed 07 32 19:20:30.000 +0100 2013",
        "Wed 07 16 19:20:30.000 +2400 2013",
        "12345678",
        "1234567890",
        "555-1234-5678",
        "2013-07-16X19:20:30",
        "2013-07-16T19:20:30:45Z",
        "0000-01-01",
        "2013-02-29",
        "2013-13-01",
        "13/16/2013",
        "02/30/2013",
        "07/16/13",
        "07/16/2013 19:20",
        "7-16-2013",
        "20130716",
        "2013-W29-2",
        "2013-07-16T19:20:30.000" + "0" * 60,  # too long to be worth parsing
        "１２/16/2013",  # noqa: RUF001 - full-width digits
    ],
)
def test_parse_datetime_value_rejects(text: str) -> None:
    assert parse_datetime_value(text) is None


def test_datetime_first_chars_cover_every_accepted_format() -> None:
    for text in ("2013-07-16", "07/16/2013", "Wed 07 16 19:20:30 2013", "mon 07 16 19:20:30 2013"):
        assert text[0] in DATETIME_FIRST_CHARS
        assert parse_datetime_value(text) is not None
    for weekday in ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"):
        assert weekday[0] in DATETIME_FIRST_CHARS
        assert parse_datetime_value(f"{weekday} 07 16 19:20:30 2013") is not None
    assert "a" not in DATETIME_FIRST_CHARS
    assert " " not in DATETIME_FIRST_CHARS


# --- properties over generated input ------------------------------------------------------------

FIXED_OFFSETS = st.integers(min_value=-(24 * 60 - 1), max_value=24 * 60 - 1).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)
AWARE_DATETIMES = st.datetimes(
    min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=FIXED_OFFSETS
)


def expected_ms(dt: datetime) -> int:
    """Epoch ms of an aware datetime, floored, by datetime arithmetic."""
    return (dt - EPOCH) // timedelta(milliseconds=1)


def offset_text(dt: datetime, colon: bool) -> str:
    """The `±HH:MM` / `±HHMM` offset of an aware datetime."""
    offset = dt.utcoffset()
    assert offset is not None
    minutes = offset // timedelta(minutes=1)
    sign = "-" if minutes < 0 else "+"
    hours, mins = divmod(abs(minutes), 60)
    return f"{sign}{hours:02d}:{mins:02d}" if colon else f"{sign}{hours:02d}{mins:02d}"


@given(AWARE_DATETIMES)
def test_iso_round_trip(dt: datetime) -> None:
    assert parse_event_time(dt.isoformat()) == expected_ms(dt)
    assert parse_datetime_value(dt.isoformat()) == expected_ms(dt)


@given(AWARE_DATETIMES, st.booleans())
def test_braze_format_round_trip(dt: datetime, colon: bool) -> None:
    text = (
        f"{dt.year:04d}-{dt.month:02d}-{dt.day:02d}T{dt.hour:02d}:{dt.minute:02d}:"
        f"{dt.second:02d}:{dt.microsecond // 1000:03d}{offset_text(dt, colon)}"
    )
    assert parse_event_time(text) == expected_ms(
        dt.replace(microsecond=dt.microsecond // 1000 * 1000)
    )


@given(st.text(max_size=80))
def test_arbitrary_text_never_crashes(text: str) -> None:
    result = parse_datetime_value(text)
    assert result is None or isinstance(result, int)
    try:
        parse_event_time(text)
    except ValueError as exc:
        assert str(exc).startswith("'time' ")


@given(st.from_regex(r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9:.,+\-Zz]{0,20}", fullmatch=True))
def test_date_like_text_never_crashes(text: str) -> None:
    result = parse_datetime_value(text)
    assert result is None or isinstance(result, int)
    try:
        assert parse_event_time(text) == result
    except ValueError as exc:
        assert result is None
        assert str(exc).startswith("'time' ")
