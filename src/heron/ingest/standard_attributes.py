"""Braze user profile fields (`first_name`, `country`, `push_tokens`, ...): check and normalize.

`STANDARD_FIELDS` maps each writable field to a checker `(value, now_ms) -> normalized value`;
`None` (JSON `null`) means "remove the field" wherever Braze allows it. A checker raises
ValueError with the object's error message: heron keeps malformed profile data out of storage
instead of storing or silently dropping it (the one exception is Braze's own documented rule
that an unmappable `country` is stored as null).
"""

from __future__ import annotations

import functools
import re
import zoneinfo
from collections.abc import Callable
from datetime import date
from typing import Any

from heron.ingest.attribute_values import (
    MAX_STRING_LENGTH,
    format_epoch_ms,
    is_finite_number,
    normalized_time,
)
from heron.ingest.iso_codes import country_code, language_code
from heron.ingest.timefmt import parse_datetime_value

Checker = Callable[[Any, int], Any]

_SUBSCRIBE_STATES = frozenset({"opted_in", "unsubscribed", "subscribed"})
_GROUP_STATES = frozenset({"subscribed", "unsubscribed"})
_GENDERS = frozenset({"M", "F", "O", "N", "P"})
_DOB = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
# local@domain.tld: no spaces, one `@`, a dotted domain without empty labels.
_EMAIL = re.compile(r"[^@\s\x00]+@(?:[^@\s.\x00]+\.)+[^@\s.\x00]+")
_MIN_DATETIME_MS = -62_135_596_800_000  # 0001-01-01T00:00:00Z
_FACEBOOK_FIELDS: dict[str, Callable[[Any], bool]] = {
    "id": lambda v: isinstance(v, str) and len(v) <= MAX_STRING_LENGTH,
    "likes": lambda v: (
        isinstance(v, list)
        and all(isinstance(like, str) and len(like) <= MAX_STRING_LENGTH for like in v)
    ),
    "num_friends": lambda v: isinstance(v, int) and is_finite_number(v),
}
_TWITTER_FIELDS: dict[str, Callable[[Any], bool]] = {
    "id": lambda v: isinstance(v, int) and is_finite_number(v),
    "screen_name": lambda v: isinstance(v, str) and len(v) <= MAX_STRING_LENGTH,
    "followers_count": lambda v: isinstance(v, int) and is_finite_number(v),
    "friends_count": lambda v: isinstance(v, int) and is_finite_number(v),
    "statuses_count": lambda v: isinstance(v, int) and is_finite_number(v),
}


def _short_string(field: str) -> Checker:
    """Checker for a free-text field: a string of at most 255 characters, or null."""

    def check(value: Any, now_ms: int) -> str | None:
        """Accept a string <= 255 characters or null."""
        if value is None or (isinstance(value, str) and len(value) <= MAX_STRING_LENGTH):
            return value
        raise ValueError(f"'{field}' must be a string of at most {MAX_STRING_LENGTH} characters")

    return check


def _boolean(field: str) -> Checker:
    """Checker for a true/false field."""

    def check(value: Any, now_ms: int) -> bool | None:
        """Accept true, false or null."""
        if value is None or isinstance(value, bool):
            return value
        raise ValueError(f"'{field}' must be true or false")

    return check


def _subscribe(field: str) -> Checker:
    """Checker for `email_subscribe` / `push_subscribe` (any case, stored lower-case)."""

    def check(value: Any, now_ms: int) -> str | None:
        """Accept opted_in, unsubscribed, subscribed or null."""
        if value is None:
            return None
        if isinstance(value, str) and value.lower() in _SUBSCRIBE_STATES:
            return value.lower()
        raise ValueError(f"'{field}' must be one of 'opted_in', 'unsubscribed', 'subscribed'")

    return check


def _past_datetime(field: str) -> Checker:
    """Checker for a moment that already happened: normalized to ISO 8601 UTC, future -> now."""

    def check(value: Any, now_ms: int) -> str | None:
        """Accept a Braze datetime string (clamped to `now_ms`) or null."""
        if value is None:
            return None
        ms = parse_datetime_value(value) if isinstance(value, str) else None
        if ms is None or ms < _MIN_DATETIME_MS:
            raise ValueError(f"'{field}' must be a datetime string such as 2024-01-31T12:00:00Z")
        return normalized_time(value, ms) if ms <= now_ms else format_epoch_ms(now_ms)

    return check


def _object(field: str, known: dict[str, Callable[[Any], bool]]) -> Checker:
    """Checker for `facebook` / `twitter`: documented sub-fields type-checked, others dropped."""

    def check(value: Any, now_ms: int) -> dict[str, Any] | None:
        """Accept an object whose documented sub-fields have the documented types, or null."""
        if value is None:
            return None
        if not isinstance(value, dict):
            raise ValueError(f"'{field}' must be an object")
        kept: dict[str, Any] = {}
        for key, valid in known.items():
            item = value.get(key)
            if item is None:
                continue
            if not valid(item):
                raise ValueError(f"'{field}.{key}' has the wrong type")
            kept[key] = item
        return kept

    return check


def _country(value: Any, now_ms: int) -> str | None:
    """ISO 3166-1 alpha-2 (or a name/alpha-3 heron can map); unmappable -> null, as Braze does."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError("'country' must be a string (ISO 3166-1 alpha-2 code)")
    return country_code(value)


def _current_location(value: Any, now_ms: int) -> dict[str, float] | None:
    """`{"longitude": -180..180, "latitude": -90..90}`, both finite numbers."""
    if value is None:
        return None
    if isinstance(value, dict):
        lon: Any = value.get("longitude")
        lat: Any = value.get("latitude")
        if (
            is_finite_number(lon)
            and is_finite_number(lat)
            and -180 <= lon <= 180
            and -90 <= lat <= 90
        ):
            return {"longitude": float(lon), "latitude": float(lat)}
    raise ValueError(
        "'current_location' must be an object with numeric 'longitude' (-180 to 180) "
        "and 'latitude' (-90 to 90)"
    )


def _dob(value: Any, now_ms: int) -> str | None:
    """Date of birth as a real calendar date `YYYY-MM-DD`."""
    if value is None:
        return None
    if isinstance(value, str) and _DOB.fullmatch(value):
        try:
            date.fromisoformat(value)
        except ValueError:
            pass
        else:
            return value
    raise ValueError("'dob' must be a date in the format YYYY-MM-DD")


def _email(value: Any, now_ms: int) -> str | None:
    """A plausible email address of at most 255 characters."""
    if value is None:
        return None
    if isinstance(value, str) and len(value) <= MAX_STRING_LENGTH and _EMAIL.fullmatch(value):
        return value
    raise ValueError("'email' is not a valid email address")


def _gender(value: Any, now_ms: int) -> str | None:
    """M, F, O, N, P in any case; U (the SDKs' "unknown") and null mean unknown."""
    if value is None:
        return None
    if isinstance(value, str):
        upper = value.upper()
        if upper in _GENDERS:
            return upper
        if upper == "U":
            return None
    raise ValueError("'gender' must be one of 'M', 'F', 'O', 'N', 'P' or null")


def _language(value: Any, now_ms: int) -> str | None:
    """ISO 639-1 two-letter code, any case, stored lower-case."""
    if value is None:
        return None
    code = language_code(value) if isinstance(value, str) else None
    if code is None:
        raise ValueError("'language' must be an ISO 639-1 language code such as 'en'")
    return code


def _phone(value: Any, now_ms: int) -> str | None:
    """A non-empty string of at most 255 characters (Braze recommends, not requires, E.164)."""
    if value is None or (isinstance(value, str) and 0 < len(value) <= MAX_STRING_LENGTH):
        return value
    raise ValueError(
        f"'phone' must be a non-empty string of at most {MAX_STRING_LENGTH} characters"
    )


def _push_tokens(value: Any, now_ms: int) -> list[dict[str, str]]:
    """`[{"app_id", "token", "device_id"?}]`; non-empty strings, later duplicates win."""
    message = (
        "'push_tokens' must be an array of objects with string 'app_id' and 'token' "
        "and an optional string 'device_id'"
    )
    if not isinstance(value, list):
        raise ValueError(message)
    tokens: dict[tuple[str, str], dict[str, str]] = {}
    for item in value:
        if not isinstance(item, dict):
            raise ValueError(message)
        app_id, token, device_id = item.get("app_id"), item.get("token"), item.get("device_id")
        if not (isinstance(app_id, str) and app_id and isinstance(token, str) and token):
            raise ValueError(message)
        entry = {"app_id": app_id, "token": token}
        if device_id is not None:
            if not (isinstance(device_id, str) and device_id):
                raise ValueError(message)
            entry["device_id"] = device_id
        tokens.pop((app_id, token), None)
        tokens[(app_id, token)] = entry
    return list(tokens.values())


def _subscription_groups(value: Any, now_ms: int) -> list[dict[str, str]]:
    """`[{"subscription_group_id", "subscription_state"}]`; later entries for a group win."""
    message = (
        "'subscription_groups' must be an array of objects with a string "
        "'subscription_group_id' and 'subscription_state' 'subscribed' or 'unsubscribed'"
    )
    if not isinstance(value, list):
        raise ValueError(message)
    groups: dict[str, dict[str, str]] = {}
    for item in value:
        if not isinstance(item, dict):
            raise ValueError(message)
        group, state = item.get("subscription_group_id"), item.get("subscription_state")
        if not (isinstance(group, str) and group and isinstance(state, str)):
            raise ValueError(message)
        state = state.lower()
        if state not in _GROUP_STATES:
            raise ValueError(message)
        groups.pop(group, None)
        groups[group] = {"subscription_group_id": group, "subscription_state": state}
    return list(groups.values())


@functools.cache
def time_zone_names() -> dict[str, str]:
    """Every IANA zone name by lower-case form; scanned once (~0.1 s), so call it at startup."""
    return {name.lower(): name for name in zoneinfo.available_timezones()}


def _time_zone(value: Any, now_ms: int) -> str | None:
    """An IANA time zone name (any case), stored in its canonical spelling."""
    if value is None:
        return None
    name = time_zone_names().get(value.lower()) if isinstance(value, str) else None
    if name is None:
        raise ValueError("'time_zone' must be an IANA time zone name such as 'America/New_York'")
    return name


STANDARD_FIELDS: dict[str, Checker] = {
    "country": _country,
    "current_location": _current_location,
    "date_of_first_session": _past_datetime("date_of_first_session"),
    "date_of_last_session": _past_datetime("date_of_last_session"),
    "dob": _dob,
    "email": _email,
    "email_click_tracking_disabled": _boolean("email_click_tracking_disabled"),
    "email_open_tracking_disabled": _boolean("email_open_tracking_disabled"),
    "email_subscribe": _subscribe("email_subscribe"),
    "facebook": _object("facebook", _FACEBOOK_FIELDS),
    "first_name": _short_string("first_name"),
    "gender": _gender,
    "home_city": _short_string("home_city"),
    "language": _language,
    "last_name": _short_string("last_name"),
    "marked_email_as_spam_at": _past_datetime("marked_email_as_spam_at"),
    "phone": _phone,
    "push_subscribe": _subscribe("push_subscribe"),
    "push_tokens": _push_tokens,
    "subscription_groups": _subscription_groups,
    "time_zone": _time_zone,
    "twitter": _object("twitter", _TWITTER_FIELDS),
}
