"""`validate_attributes`: identifiers, Braze profile fields and custom attributes."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest

from heron.ingest.attribute_values import MAX_NESTED_BYTES, json_size
from heron.ingest.attributes import validate_attributes
from heron.ingest.identifiers import MISSING_IDENTIFIER
from heron.ingest.records import AttributeOp, AttributeRecord, UserRef

NOW = 1_700_000_000_000  # 2023-11-14T22:13:20.000Z
NOW_ISO = "2023-11-14T22:13:20.000Z"


def ok(obj: dict[str, Any], **kwargs: Any) -> AttributeRecord:
    """Validate an object that must pass."""
    result = validate_attributes(obj, NOW, **kwargs)
    assert isinstance(result, AttributeRecord), result
    return result


def err(obj: object, **kwargs: Any) -> str:
    """Validate an object that must fail and return its message."""
    result = validate_attributes(obj, NOW, **kwargs)
    assert isinstance(result, str), result
    return result


def std(field: str, value: Any) -> Any:
    """Normalized value of one standard field sent with an external_id."""
    record = ok({"external_id": "u1", field: value})
    assert record.custom == []
    return record.standard[field]


def op(name: str, value: Any, **kwargs: Any) -> AttributeOp:
    """The single op produced by one custom attribute."""
    record = ok({"external_id": "u1", name: value}, **kwargs)
    assert record.standard == {}
    assert len(record.custom) == 1, record.custom
    return record.custom[0]


def ops(name: str, value: Any, **kwargs: Any) -> list[AttributeOp]:
    """All ops produced by one custom attribute."""
    return ok({"external_id": "u1", name: value}, **kwargs).custom


def nested_of_size(size: int) -> dict[str, str]:
    """An object whose compact JSON is exactly `size` bytes (values stay <= 255 chars)."""
    obj: dict[str, str] = {}
    i = 0
    while True:
        remaining = size - json_size(obj) - 1  # one comma more once obj is non-empty
        entry = len(f'"k{i:05d}":""')
        if remaining - entry <= 250:
            obj[f"k{i:05d}"] = "x" * (remaining - entry + (0 if obj else 1))
            break
        obj[f"k{i:05d}"] = "x" * 200
        i += 1
    assert json_size(obj) == size
    return obj


def nested_of_depth(depth: int) -> dict[str, Any]:
    """An object `depth` levels deep (the outermost object is level 1)."""
    value: dict[str, Any] = {"leaf": 1}
    for _ in range(depth - 1):
        value = {"a": value}
    return value


# -- shape and identifiers -------------------------------------------------------------------


@pytest.mark.parametrize("obj", [None, [], "x", 1, [{"external_id": "u1"}]])
def test_non_object_is_an_error(obj: object) -> None:
    assert err(obj) == "attributes objects must be JSON objects"


def test_missing_identifier() -> None:
    assert err({"first_name": "Jon"}) == MISSING_IDENTIFIER
    assert err({"external_id": None, "first_name": "Jon"}) == MISSING_IDENTIFIER


def test_identifier_error_comes_from_identifiers_module() -> None:
    assert err({"external_id": ""}) == "'external_id' must be a non-empty string"
    assert err({"email": "not-an-address"}) == "'email' is not a valid email address"


def test_external_id_identifier_is_not_an_attribute() -> None:
    record = ok({"external_id": "u1", "first_name": "Jon"})
    assert record.user == UserRef("external_id", "u1")
    assert record.update_existing_only is False
    assert record.standard == {"first_name": "Jon"}
    assert record.custom == []


def test_email_as_identifier_is_not_an_attribute() -> None:
    record = ok({"email": "Jon@Example.com", "first_name": "Jon"})
    assert record.user == UserRef("email", "Jon@Example.com")
    assert record.standard == {"first_name": "Jon"}


def test_email_next_to_a_stronger_identifier_is_an_attribute() -> None:
    record = ok({"external_id": "u1", "email": "jon@example.com"})
    assert record.user.kind == "external_id"
    assert record.standard == {"email": "jon@example.com"}


def test_email_attribute_is_validated_but_email_identifier_only_loosely() -> None:
    # As identifier, identifiers.py only requires an "@"; as an attribute heron checks more.
    assert ok({"email": "jon@localhost"}).user == UserRef("email", "jon@localhost")
    assert err({"external_id": "u1", "email": "jon@localhost"}) == (
        "'email' is not a valid email address"
    )


def test_email_attribute_null_removes_it() -> None:
    assert ok({"braze_id": "b1", "email": None}).standard == {"email": None}


def test_phone_as_identifier_and_as_attribute() -> None:
    record = ok({"phone": "+15551234567", "first_name": "Jon"})
    assert record.user == UserRef("phone", "+15551234567")
    assert record.standard == {"first_name": "Jon"}
    # email wins over phone, so phone is then an ordinary attribute update
    record = ok({"email": "a@b.co", "phone": "+15551234567"})
    assert record.user == UserRef("email", "a@b.co")
    assert record.standard == {"phone": "+15551234567"}


def test_braze_id_is_update_only_and_read_only() -> None:
    record = ok({"braze_id": "abc", "first_name": "Jon"})
    assert record.user == UserRef("braze_id", "abc")
    assert record.update_existing_only is True
    record = ok({"external_id": "u1", "braze_id": "abc"})
    assert record.standard == {} and record.custom == []


def test_alias_is_update_only_unless_false() -> None:
    alias = {"alias_name": "n", "alias_label": "l"}
    assert ok({"user_alias": alias}).update_existing_only is True
    assert ok({"user_alias": alias, "_update_existing_only": True}).update_existing_only is True
    record = ok({"user_alias": alias, "_update_existing_only": False})
    assert record.update_existing_only is False
    assert record.user == UserRef("user_alias", "n", "l")
    assert record.custom == []


def test_update_existing_only_flag() -> None:
    assert ok({"external_id": "u1", "_update_existing_only": True}).update_existing_only is True
    assert ok({"external_id": "u1", "_update_existing_only": None}).update_existing_only is False
    assert err({"external_id": "u1", "_update_existing_only": "yes"}) == (
        "'_update_existing_only' must be a boolean"
    )


def test_read_only_and_removed_fields_are_ignored() -> None:
    record = ok({"external_id": "u1", "alias_name": "x", "alias_label": "y", "bio": "hi"})
    assert record.standard == {} and record.custom == []


def test_push_token_import() -> None:
    tokens = [{"app_id": "app", "token": "t1"}]
    alias = {"alias_name": "n", "alias_label": "l"}
    record = ok({"user_alias": alias, "push_token_import": True, "push_tokens": tokens})
    assert record.standard == {"push_tokens": tokens}
    assert record.custom == []
    assert ok({"external_id": "u1", "push_token_import": False}).custom == []
    assert err({"external_id": "u1", "push_token_import": "yes"}) == (
        "'push_token_import' must be a boolean"
    )
    assert err({"external_id": "u1", "push_token_import": True, "push_tokens": tokens}) == (
        "'push_token_import' requires that 'external_id' and 'braze_id' are absent"
    )
    assert err({"user_alias": alias, "push_token_import": True}) == (
        "'push_token_import' requires 'push_tokens'"
    )
    assert err({"push_token_import": True, "push_tokens": tokens}) == (
        "'push_token_import' without a user identifier is not supported"
    )


def test_merge_objects_flag() -> None:
    assert ok({"external_id": "u1", "_merge_objects": False, "o": {"a": 1}}).custom == [
        AttributeOp("o", "set", {"a": 1}, "Object")
    ]
    assert "not supported" in err({"external_id": "u1", "_merge_objects": True})
    assert err({"external_id": "u1", "_merge_objects": 1}) == "'_merge_objects' must be a boolean"


def test_standard_field_names_are_case_sensitive() -> None:
    assert op("First_Name", "Jon") == AttributeOp("First_Name", "set", "Jon", "String")


def test_an_invalid_standard_value_rejects_the_whole_object() -> None:
    message = err({"external_id": "u1", "first_name": "Jon", "plan": "gold", "gender": "X"})
    assert message == "'gender' must be one of 'M', 'F', 'O', 'N', 'P' or null"


# -- standard fields -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sent", "stored"),
    [
        ("US", "US"),
        ("us", "US"),
        ("uS", "US"),
        ("USA", "US"),
        ("United States", "US"),
        ("australia", "AU"),
        ("Côte d'Ivoire", "CI"),
        ("cote d'ivoire", "CI"),
        ("South Korea", "KR"),
        ("uk", "GB"),
        (" fr ", "FR"),
        ("Narnia", None),
        ("XX", None),
        ("", None),
        (None, None),
    ],
)
def test_country(sent: Any, stored: str | None) -> None:
    assert std("country", sent) == stored


@pytest.mark.parametrize("sent", [1, True, ["US"], {"code": "US"}])
def test_country_must_be_a_string(sent: Any) -> None:
    assert err({"external_id": "u1", "country": sent}) == (
        "'country' must be a string (ISO 3166-1 alpha-2 code)"
    )


@pytest.mark.parametrize(
    ("sent", "stored"),
    [
        ({"longitude": -73.991443, "latitude": 40.753824}, (-73.991443, 40.753824)),
        ({"longitude": 180, "latitude": -90}, (180.0, -90.0)),
        ({"longitude": -180, "latitude": 90, "altitude": 3}, (-180.0, 90.0)),
    ],
)
def test_current_location(sent: dict[str, Any], stored: tuple[float, float]) -> None:
    value = std("current_location", sent)
    assert value == {"longitude": stored[0], "latitude": stored[1]}
    assert all(type(v) is float for v in value.values())


@pytest.mark.parametrize(
    "sent",
    [
        {"longitude": 180.0001, "latitude": 0},
        {"longitude": 0, "latitude": 90.5},
        {"longitude": 0, "latitude": -91},
        {"longitude": 0},
        {"latitude": 0},
        {"longitude": math.nan, "latitude": 0},
        {"longitude": 0, "latitude": math.inf},
        {"longitude": True, "latitude": 0},
        {"longitude": "1", "latitude": "2"},
        [1, 2],
        "40.7,-73.9",
    ],
)
def test_current_location_invalid(sent: Any) -> None:
    assert err({"external_id": "u1", "current_location": sent}).startswith("'current_location'")


def test_current_location_null_removes() -> None:
    assert std("current_location", None) is None


DATETIME_FIELDS = ["date_of_first_session", "date_of_last_session", "marked_email_as_spam_at"]


@pytest.mark.parametrize("field", DATETIME_FIELDS)
@pytest.mark.parametrize(
    ("sent", "stored"),
    [
        ("2023-01-31T12:00:00Z", "2023-01-31T12:00:00.000Z"),
        ("2023-01-31T12:00:00.123Z", "2023-01-31T12:00:00.123Z"),
        ("2023-01-31T14:00:00+02:00", "2023-01-31T12:00:00.000Z"),
        ("2023-01-31T12:00:00:250-0100", "2023-01-31T13:00:00.250Z"),
        ("2023-01-31", "2023-01-31T00:00:00.000Z"),
        ("2023-01-31 12:00:00", "2023-01-31T12:00:00.000Z"),
        ("2099-01-01T00:00:00Z", NOW_ISO),  # a session cannot start in the future
        (None, None),
    ],
)
def test_datetime_fields(field: str, sent: str | None, stored: str | None) -> None:
    assert std(field, sent) == stored


@pytest.mark.parametrize("field", DATETIME_FIELDS)
@pytest.mark.parametrize("sent", ["yesterday", "2023-13-01", "2023-02-30", 1700000000, True, ""])
def test_datetime_fields_invalid(field: str, sent: Any) -> None:
    assert err({"external_id": "u1", field: sent}) == (
        f"'{field}' must be a datetime string such as 2024-01-31T12:00:00Z"
    )


@pytest.mark.parametrize("sent", ["1980-12-21", "2000-02-29", "0001-01-01", None])
def test_dob_valid(sent: str | None) -> None:
    assert std("dob", sent) == sent


@pytest.mark.parametrize(
    "sent",
    [
        "2001-02-29",
        "1980-13-01",
        "1980-1-1",
        "1980-12-21T00:00:00",
        "21/12/1980",
        "\uff11\uff19\uff18\uff10-12-21",  # full-width digits
        1980,
    ],
)
def test_dob_invalid(sent: Any) -> None:
    assert (
        err({"external_id": "u1", "dob": sent}) == "'dob' must be a date in the format YYYY-MM-DD"
    )


@pytest.mark.parametrize(
    "sent",
    [
        "jon@example.com",
        "jon.doe+tag@mail.example.co.uk",
        "ü@exämple.de",
        "a" * 243 + "@example.com",
    ],
)
def test_email_valid(sent: str) -> None:
    assert std("email", sent) == sent


@pytest.mark.parametrize(
    "sent",
    [
        "jon",
        "jon@",
        "@example.com",
        "jon@example",
        "jon@@example.com",
        "jon doe@example.com",
        "jon@example..com",
        "jon@.example.com",
        " jon@example.com",
        "a" * 244 + "@example.com",  # 256 characters
        "",
        42,
    ],
)
def test_email_invalid(sent: Any) -> None:
    assert err({"external_id": "u1", "email": sent}) == "'email' is not a valid email address"


@pytest.mark.parametrize("field", ["email_subscribe", "push_subscribe"])
@pytest.mark.parametrize(
    ("sent", "stored"),
    [
        ("opted_in", "opted_in"),
        ("unsubscribed", "unsubscribed"),
        ("subscribed", "subscribed"),
        ("OPTED_IN", "opted_in"),
        (None, None),
    ],
)
def test_subscribe_states(field: str, sent: str | None, stored: str | None) -> None:
    assert std(field, sent) == stored


@pytest.mark.parametrize("field", ["email_subscribe", "push_subscribe"])
@pytest.mark.parametrize("sent", ["yes", "opted in", "", True, 1])
def test_subscribe_states_invalid(field: str, sent: Any) -> None:
    assert err({"external_id": "u1", field: sent}) == (
        f"'{field}' must be one of 'opted_in', 'unsubscribed', 'subscribed'"
    )


@pytest.mark.parametrize("field", ["email_open_tracking_disabled", "email_click_tracking_disabled"])
def test_tracking_flags(field: str) -> None:
    assert std(field, True) is True
    assert std(field, False) is False
    assert std(field, None) is None
    for bad in (1, 0, "true", "false"):
        assert err({"external_id": "u1", field: bad}) == f"'{field}' must be true or false"


def test_facebook() -> None:
    value = {"id": "fb1", "likes": ["Braze", "heron"], "num_friends": 12, "extra": "dropped"}
    assert std("facebook", value) == {"id": "fb1", "likes": ["Braze", "heron"], "num_friends": 12}
    assert std("facebook", {}) == {}
    assert std("facebook", {"id": None, "num_friends": 3}) == {"num_friends": 3}
    assert std("facebook", None) is None
    assert err({"external_id": "u1", "facebook": {"id": 1}}) == "'facebook.id' has the wrong type"
    assert err({"external_id": "u1", "facebook": {"likes": ["a", 1]}}) == (
        "'facebook.likes' has the wrong type"
    )
    assert err({"external_id": "u1", "facebook": {"num_friends": True}}) == (
        "'facebook.num_friends' has the wrong type"
    )
    assert err({"external_id": "u1", "facebook": "fb1"}) == "'facebook' must be an object"


def test_twitter() -> None:
    value = {
        "id": 123,
        "screen_name": "heron",
        "followers_count": 1,
        "friends_count": 2,
        "statuses_count": 3,
    }
    assert std("twitter", value) == value
    assert err({"external_id": "u1", "twitter": {"id": "123"}}) == (
        "'twitter.id' has the wrong type"
    )
    assert err({"external_id": "u1", "twitter": {"followers_count": 1.5}}) == (
        "'twitter.followers_count' has the wrong type"
    )
    assert err({"external_id": "u1", "twitter": ["heron"]}) == "'twitter' must be an object"


@pytest.mark.parametrize("field", ["first_name", "last_name", "home_city"])
def test_short_strings(field: str) -> None:
    assert std(field, "Jon") == "Jon"
    assert std(field, "") == ""
    assert std(field, "x" * 255) == "x" * 255
    assert std(field, "😀" * 255) == "😀" * 255  # characters, not bytes
    assert std(field, None) is None
    message = f"'{field}' must be a string of at most 255 characters"
    assert err({"external_id": "u1", field: "x" * 256}) == message
    assert err({"external_id": "u1", field: 5}) == message
    assert err({"external_id": "u1", field: ["Jon"]}) == message


@pytest.mark.parametrize(
    ("sent", "stored"),
    [
        ("M", "M"),
        ("F", "F"),
        ("O", "O"),
        ("N", "N"),
        ("P", "P"),
        ("m", "M"),
        ("p", "P"),
        ("u", None),
        ("U", None),
        (None, None),
    ],
)
def test_gender(sent: str | None, stored: str | None) -> None:
    assert std("gender", sent) == stored


@pytest.mark.parametrize("sent", ["X", "male", "", 1, True])
def test_gender_invalid(sent: Any) -> None:
    assert err({"external_id": "u1", "gender": sent}) == (
        "'gender' must be one of 'M', 'F', 'O', 'N', 'P' or null"
    )


@pytest.mark.parametrize(
    ("sent", "stored"), [("en", "en"), ("EN", "en"), ("zh", "zh"), ("yo", "yo"), (None, None)]
)
def test_language(sent: str | None, stored: str | None) -> None:
    assert std("language", sent) == stored


@pytest.mark.parametrize("sent", ["xx", "eng", "en-US", "en_US", "", "English", 1])
def test_language_invalid(sent: Any) -> None:
    assert err({"external_id": "u1", "language": sent}) == (
        "'language' must be an ISO 639-1 language code such as 'en'"
    )


def test_phone_attribute() -> None:
    assert std("phone", "+15551234567") == "+15551234567"
    assert std("phone", "x" * 255) == "x" * 255
    assert std("phone", None) is None
    message = "'phone' must be a non-empty string of at most 255 characters"
    assert err({"external_id": "u1", "phone": ""}) == message
    assert err({"external_id": "u1", "phone": "1" * 256}) == message
    assert err({"external_id": "u1", "phone": 15551234567}) == message


def test_push_tokens() -> None:
    tokens = [
        {"app_id": "a1", "token": "t1", "device_id": "d1"},
        {"app_id": "a1", "token": "t2", "extra": "dropped"},
        {"app_id": "a2", "token": "t1", "device_id": None},
    ]
    assert std("push_tokens", tokens) == [
        {"app_id": "a1", "token": "t1", "device_id": "d1"},
        {"app_id": "a1", "token": "t2"},
        {"app_id": "a2", "token": "t1"},
    ]
    assert std("push_tokens", []) == []
    # the same app and token twice: the later entry wins, in its own position
    twice = [
        {"app_id": "a", "token": "t", "device_id": "old"},
        {"app_id": "a", "token": "u"},
        {"app_id": "a", "token": "t", "device_id": "new"},
    ]
    assert std("push_tokens", twice) == [
        {"app_id": "a", "token": "u"},
        {"app_id": "a", "token": "t", "device_id": "new"},
    ]


@pytest.mark.parametrize(
    "sent",
    [
        None,
        {"app_id": "a", "token": "t"},
        ["t"],
        [{"app_id": "a"}],
        [{"token": "t"}],
        [{"app_id": "", "token": "t"}],
        [{"app_id": "a", "token": 5}],
        [{"app_id": "a", "token": "t", "device_id": 7}],
        [{"app_id": "a", "token": "t", "device_id": ""}],
    ],
)
def test_push_tokens_invalid(sent: Any) -> None:
    assert err({"external_id": "u1", "push_tokens": sent}).startswith("'push_tokens' must be")


def test_subscription_groups() -> None:
    groups = [
        {"subscription_group_id": "g1", "subscription_state": "subscribed"},
        {"subscription_group_id": "g2", "subscription_state": "UNSUBSCRIBED", "x": 1},
        {"subscription_group_id": "g1", "subscription_state": "unsubscribed"},
    ]
    assert std("subscription_groups", groups) == [
        {"subscription_group_id": "g2", "subscription_state": "unsubscribed"},
        {"subscription_group_id": "g1", "subscription_state": "unsubscribed"},
    ]


@pytest.mark.parametrize(
    "sent",
    [
        None,
        [{"subscription_group_id": "g1", "subscription_state": "opted_in"}],
        [{"subscription_group_id": "g1"}],
        [{"subscription_state": "subscribed"}],
        [{"subscription_group_id": 1, "subscription_state": "subscribed"}],
        [{"subscription_group_id": "", "subscription_state": "subscribed"}],
        ["g1"],
    ],
)
def test_subscription_groups_invalid(sent: Any) -> None:
    message = err({"external_id": "u1", "subscription_groups": sent})
    assert message.startswith("'subscription_groups' must be")


@pytest.mark.parametrize(
    ("sent", "stored"),
    [
        ("America/New_York", "America/New_York"),
        ("america/new_york", "America/New_York"),
        ("UTC", "UTC"),
        ("Asia/Kolkata", "Asia/Kolkata"),
        (None, None),
    ],
)
def test_time_zone(sent: str | None, stored: str | None) -> None:
    assert std("time_zone", sent) == stored


@pytest.mark.parametrize("sent", ["Eastern Time (US & Canada)", "Mars/Base", "+02:00", "", 5])
def test_time_zone_invalid(sent: Any) -> None:
    assert err({"external_id": "u1", "time_zone": sent}) == (
        "'time_zone' must be an IANA time zone name such as 'America/New_York'"
    )


# -- custom attributes: scalars --------------------------------------------------------------


def test_scalars_and_bool_versus_int() -> None:
    record = ok(
        {"external_id": "u1", "s": "gold", "t": True, "f": False, "one": 1, "half": 0.5, "z": 0}
    )
    assert record.custom == [
        AttributeOp("s", "set", "gold", "String"),
        AttributeOp("t", "set", True, "Boolean"),
        AttributeOp("f", "set", False, "Boolean"),
        AttributeOp("one", "set", 1, "Number"),
        AttributeOp("half", "set", 0.5, "Number"),
        AttributeOp("z", "set", 0, "Number"),
    ]
    assert type(record.custom[1].value) is bool
    assert type(record.custom[3].value) is int


def test_null_unsets() -> None:
    assert op("plan", None) == AttributeOp("plan", "unset")


@pytest.mark.parametrize("value", [2**63 - 1, -(2**63), 1e308, -1e-308])
def test_numbers_in_range(value: float) -> None:
    assert op("n", value) == AttributeOp("n", "set", value, "Number")


@pytest.mark.parametrize("value", [2**63, -(2**63) - 1, math.nan, math.inf, -math.inf])
def test_numbers_out_of_range(value: float) -> None:
    assert err({"external_id": "u1", "n": value}) == (
        "custom attribute 'n' must be a finite 64-bit number"
    )


def test_string_length_counts_characters() -> None:
    assert op("s", "x" * 255).value == "x" * 255
    assert op("s", "é" * 255).value == "é" * 255
    assert op("s", "").value == ""
    assert err({"external_id": "u1", "s": "x" * 256}) == (
        "custom attribute 's' must be at most 255 characters"
    )


@pytest.mark.parametrize(
    ("sent", "stored"),
    [
        ("2024-01-01", "2024-01-01T00:00:00.000Z"),
        ("2024-01-01T10:00:00+02:00", "2024-01-01T08:00:00.000Z"),
        ("2024-01-01T10:00:00.123Z", "2024-01-01T10:00:00.123Z"),
        ("2024-01-01T10:00:00:123Z", "2024-01-01T10:00:00.123Z"),
        ("2024-01-01 10:00:00", "2024-01-01T10:00:00.000Z"),
        ("12/25/2023", "2023-12-25T00:00:00.000Z"),
        ("Wed 07 16 19:20:30.000 +0100 2013", "2013-07-16T18:20:30.000Z"),
        ("3000-12-31T23:59:59Z", "3000-12-31T23:59:59.000Z"),
        ("2099-06-01", "2099-06-01T00:00:00.000Z"),  # custom times are not clamped to now
        ("0001-01-01T00:00:00Z", "0001-01-01T00:00:00.000Z"),
    ],
)
def test_time_values(sent: str, stored: str) -> None:
    assert op("when", sent) == AttributeOp("when", "set", stored, "Time")


@pytest.mark.parametrize(
    "sent", ["3001-01-01", "9999-12-31T00:00:00Z", "2024-02-30", "soon", "20240101", "1700000000"]
)
def test_strings_that_are_not_times_stay_strings(sent: str) -> None:
    assert op("when", sent) == AttributeOp("when", "set", sent, "String")


def test_unicode_names_and_values() -> None:
    assert op("лучший_цвет 🎨", "синий") == AttributeOp("лучший_цвет 🎨", "set", "синий", "String")


def test_name_limits() -> None:
    assert op("k" * 255, 1).name == "k" * 255
    assert op("a$b", 1).name == "a$b"
    assert op("with space", 1).name == "with space"
    assert err({"external_id": "u1", "k" * 256: 1}) == (
        f"custom attribute name '{'k' * 64}...' is longer than 255 characters"
    )
    assert err({"external_id": "u1", "": 1}) == "custom attribute names must not be empty"
    assert (
        err({"external_id": "u1", "$x": 1}) == "custom attribute name '$x' must not start with '$'"
    )
    assert err({"external_id": "u1", 7: 1}) == "custom attribute names must be strings"


def test_unsupported_python_values_are_errors() -> None:
    assert err({"external_id": "u1", "t": (1, 2)}) == (
        "custom attribute 't' has an unsupported value type"
    )


def test_ops_keep_object_order() -> None:
    record = ok({"b": 1, "external_id": "u1", "a": 2, "first_name": "J", "c": None})
    assert [o.name for o in record.custom] == ["b", "a", "c"]


# -- custom attributes: arrays ---------------------------------------------------------------


def test_array_set_deduplicates_keeping_last_position() -> None:
    assert op("tags", ["a", "b", "a", "c", "b"]) == AttributeOp(
        "tags", "set", ["a", "c", "b"], "Array"
    )
    assert op("tags", ["hotdog", "hotdog", "hotdog", "pizza"]).value == ["hotdog", "pizza"]


def test_array_equality_numbers_and_bools() -> None:
    assert op("xs", [1, 1.0]).value == [1.0]
    assert op("xs", [True, 1, False, 0, "1"]).value == [True, 1, False, 0, "1"]


def test_array_set_caps_to_last_items() -> None:
    items = [f"i{n}" for n in range(30)]
    assert op("xs", items).value == items[-25:]
    assert op("xs", items[:25]).value == items[:25]
    assert op("xs", items, max_array_length=100).value == items
    assert op("xs", items, max_array_length=3).value == items[-3:]
    assert op("xs", items, max_array_length=0).value == []
    # de-duplication happens before the cap
    assert op("xs", ["a"] * 40 + ["b"]).value == ["a", "b"]


def test_empty_array() -> None:
    assert op("xs", []) == AttributeOp("xs", "set", [], "Array")


@pytest.mark.parametrize(
    "items",
    [["a", None], ["a", ["b"]], [math.nan], [2**63], ["a", {"b": 1}], [{"b": 1}, "a"]],
)
def test_array_items_invalid(items: list[Any]) -> None:
    assert err({"external_id": "u1", "xs": items}) == (
        "custom attribute 'xs': array items must all be strings, finite numbers or booleans, "
        "or all be objects"
    )


def test_array_strings_are_limited() -> None:
    assert op("xs", ["x" * 255]).value == ["x" * 255]
    assert err({"external_id": "u1", "xs": ["x" * 256]}) == (
        "custom attribute 'xs': array strings must be at most 255 characters"
    )


def test_array_items_that_look_like_times_stay_strings() -> None:
    assert op("xs", ["2024-01-01"]).value == ["2024-01-01"]


def test_object_array_is_kept_as_sent_without_cap() -> None:
    pets = [{"id": n, "name": f"pet{n}"} for n in range(30)] + [{"id": 0, "name": "pet0"}]
    assert op("pets", pets) == AttributeOp("pets", "set", pets, "Object Array")


def test_object_array_items_are_validated() -> None:
    assert err({"external_id": "u1", "pets": [{"id": 1}, {"id": None}]}) == (
        "custom attribute 'pets' has an invalid nested value at '[1].id': null is not allowed "
        "in nested values"
    )


def test_object_array_size_limit() -> None:
    first = nested_of_size((MAX_NESTED_BYTES - 3) // 2)  # "[" first "," second "]"
    second = nested_of_size(MAX_NESTED_BYTES - 3 - json_size(first))
    assert json_size([first, second]) == MAX_NESTED_BYTES
    assert op("big", [first, second]).data_type == "Object Array"
    bigger = nested_of_size(json_size(second) + 1)
    assert err({"external_id": "u1", "big": [first, bigger]}) == (
        "custom attribute 'big' is larger than 100 KB"
    )


# -- custom attributes: operators ------------------------------------------------------------


@pytest.mark.parametrize("amount", [1, -3, 2.5, 0, 2**63 - 1])
def test_inc(amount: float) -> None:
    assert op("n", {"inc": amount}) == AttributeOp("n", "inc", amount, "Number")


@pytest.mark.parametrize("amount", [True, "1", None, math.nan, math.inf, [1], 2**63])
def test_inc_invalid(amount: Any) -> None:
    assert err({"external_id": "u1", "n": {"inc": amount}}) == (
        "custom attribute 'n': 'inc' must be a finite number"
    )


def test_inc_with_other_keys_is_a_nested_object() -> None:
    assert op("n", {"inc": 1, "by": 2}) == AttributeOp("n", "set", {"inc": 1, "by": 2}, "Object")


def test_add_and_remove() -> None:
    assert op("xs", {"add": ["a", "b"]}) == AttributeOp("xs", "add", ["a", "b"], "Array")
    assert op("xs", {"remove": ["a"]}) == AttributeOp("xs", "remove", ["a"], "Array")
    # both: remove first, then add (so an item in both lists ends up present)
    assert ops("xs", {"add": ["a"], "remove": ["a", "b"]}) == [
        AttributeOp("xs", "remove", ["a", "b"], "Array"),
        AttributeOp("xs", "add", ["a"], "Array"),
    ]


def test_add_list_is_deduplicated_and_capped() -> None:
    assert op("xs", {"add": ["a", "b", "a"]}).value == ["b", "a"]
    items = [str(n) for n in range(40)]
    assert op("xs", {"add": items}).value == items[-25:]
    assert op("xs", {"add": items}, max_array_length=100).value == items
    assert op("xs", {"remove": items}).value == items  # removal lists are not capped


def test_empty_add_or_remove_produces_no_op() -> None:
    assert ops("xs", {"add": []}) == []
    assert ops("xs", {"add": [], "remove": ["a"]}) == [AttributeOp("xs", "remove", ["a"], "Array")]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"add": "a"}, "custom attribute 'xs': 'add' must be an array"),
        ({"remove": None}, "custom attribute 'xs': 'remove' must be an array"),
        (
            {"add": [{"a": 1}]},
            "custom attribute 'xs': array items must all be strings, finite numbers or "
            "booleans, or all be objects",
        ),
        (
            {"remove": [None]},
            "custom attribute 'xs': array items must all be strings, finite numbers or "
            "booleans, or all be objects",
        ),
    ],
)
def test_add_remove_invalid(value: dict[str, Any], message: str) -> None:
    assert err({"external_id": "u1", "xs": value}) == message


def test_object_array_add_and_remove() -> None:
    matcher = {"$identifier_key": "id", "$identifier_value": 1}
    assert ops("pets", {"$remove": [matcher], "$add": [{"id": 3, "name": "Doug"}]}) == [
        AttributeOp("pets", "add", [{"id": 3, "name": "Doug"}], "Object Array"),
        AttributeOp("pets", "remove", [matcher], "Object Array"),
    ]


@pytest.mark.parametrize(
    ("value", "needle"),
    [
        ({"$update": []}, "'$update' is not supported"),
        ({"$add": [1]}, "'$add' items must be objects"),
        ({"$add": {"id": 1}}, "'$add' must be an array"),
        ({"$add": [{"id": None}]}, "null is not allowed"),
        ({"$remove": [{"$identifier_key": "id"}]}, "'$remove' items must be objects"),
        ({"$remove": [{"$identifier_key": "", "$identifier_value": 1}]}, "'$remove' items"),
        ({"$remove": [{"$identifier_key": "id", "$identifier_value": {}}]}, "'$remove' items"),
    ],
)
def test_object_array_operators_invalid(value: dict[str, Any], needle: str) -> None:
    message = err({"external_id": "u1", "pets": value})
    assert message.startswith("custom attribute 'pets'")
    assert needle in message


# -- custom attributes: nested objects -------------------------------------------------------


def test_nested_object() -> None:
    song = {
        "song_name": "Solea",
        "artist": "Miles Davis",
        "play_analytics": {"count": 1000, "top_10_listeners": True, "ratio": 0.5},
        "tags": ["jazz", "jazz", 1],
        "released": "1960-01-01",
        "empty": {},
    }
    result = op("most_played_song", song)
    assert result == AttributeOp("most_played_song", "set", song, "Object")
    assert result.value["released"] == "1960-01-01"  # nested times are plain strings
    assert result.value["tags"] == ["jazz", "jazz", 1]  # nested arrays are kept as sent


def test_nested_time_values() -> None:
    dates = {"birthday": {"$time": "1980-01-01"}, "wed": {"$time": "2020-05-28T10:00:00+02:00"}}
    assert op("important_dates", dates).value == {
        "birthday": {"$time": "1980-01-01T00:00:00.000Z"},
        "wed": {"$time": "2020-05-28T08:00:00.000Z"},
    }
    for bad in ("not a date", "3001-01-01", None, 1):
        message = err({"external_id": "u1", "d": {"b": {"$time": bad}}})
        assert message == (
            "custom attribute 'd' has an invalid nested value at 'b': '$time' must be a "
            "datetime string between years 0 and 3000"
        )


@pytest.mark.parametrize(
    ("value", "where", "problem"),
    [
        ({"a": None}, "a", "null is not allowed in nested values"),
        ({"a": {"b": [1, None]}}, "a.b[1]", "null is not allowed in nested values"),
        ({"a": math.nan}, "a", "numbers must be finite and fit in 64 bits"),
        ({"a": 2**64}, "a", "numbers must be finite and fit in 64 bits"),
        ({"a": "x" * 256}, "a", "strings must be at most 255 characters"),
        ({"a.b": 1}, "a.b", "keys must not contain '.', '$' or spaces"),
        ({"a b": 1}, "a b", "keys must not contain '.', '$' or spaces"),
        ({"$a": 1}, "$a", "keys must not contain '.', '$' or spaces"),
        (
            {"a": {"$time": "2020-01-01", "x": 1}},
            "a.$time",
            "keys must not contain '.', '$' or spaces",
        ),
        ({"": 1}, "", "keys must be non-empty strings"),
        ({"k" * 256: 1}, "k" * 64 + "...", "keys must be at most 255 characters"),
        ({"a": (1,)}, "a", "unsupported value type"),
    ],
)
def test_nested_invalid(value: dict[str, Any], where: str, problem: str) -> None:
    location = f" at '{where}'" if where else ""
    assert err({"external_id": "u1", "first_name": "Jon", "o": value}) == (
        f"custom attribute 'o' has an invalid nested value{location}: {problem}"
    )


def test_nested_keys_may_be_unicode_and_255_long() -> None:
    value = {"ключ": "значение", "k" * 255: "v"}
    assert op("o", value).value == value


def test_nested_depth_limit() -> None:
    assert op("o", nested_of_depth(50)).data_type == "Object"
    message = err({"external_id": "u1", "o": nested_of_depth(51)})
    assert message.startswith("custom attribute 'o' has an invalid nested value at 'a.a.a")
    assert message.endswith("nesting is deeper than 50 levels")
    # arrays count as levels too: an object holding 49 nested arrays is 50 levels
    deep: Any = 1
    for _ in range(49):
        deep = [deep]
    assert op("o", {"a": deep}).data_type == "Object"
    assert "deeper than 50" in err({"external_id": "u1", "o": {"a": [deep]}})


def test_nested_size_limit() -> None:
    at_limit = nested_of_size(MAX_NESTED_BYTES)
    assert op("o", at_limit).value == at_limit
    over = nested_of_size(MAX_NESTED_BYTES + 1)
    assert err({"external_id": "u1", "o": over}) == "custom attribute 'o' is larger than 100 KB"


def test_nested_size_counts_utf8_bytes() -> None:
    # 2-byte characters: half as many fit
    value = {f"k{i:04d}": "é" * 200 for i in range(300)}
    assert json_size(value) > MAX_NESTED_BYTES
    assert "larger than 100 KB" in err({"external_id": "u1", "o": value})


def test_nested_value_is_a_copy() -> None:
    sent = {"a": {"b": 1}}
    stored = op("o", sent).value
    assert stored == sent
    assert stored is not sent and stored["a"] is not sent["a"]


def test_records_are_json_serializable() -> None:
    record = ok(
        {
            "external_id": "u1",
            "country": "fr",
            "current_location": {"longitude": 1, "latitude": 2},
            "o": {"t": {"$time": "2020-01-01"}, "xs": [1, "a", True]},
            "pets": [{"id": 1}],
            "n": {"inc": 1},
            "when": "2024-01-01",
        }
    )
    json.dumps(record.standard, allow_nan=False)
    json.dumps([(o.name, o.kind, o.value, o.data_type) for o in record.custom], allow_nan=False)
