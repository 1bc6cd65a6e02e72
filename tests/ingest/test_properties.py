"""`properties` of events and purchases: names, value types, nesting, size and count limits."""

from __future__ import annotations

import json
from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from heron.ingest.properties import INVALID_PROPERTIES, validate_properties

LIMIT = 102_400
PREFIX = f"{INVALID_PROPERTIES}: "


def check(value: object, max_nested_bytes: int = LIMIT) -> tuple[str | None, dict[str, str]]:
    """Validate with the event limit unless told otherwise."""
    return validate_properties(value, max_nested_bytes=max_nested_bytes)


def error_of(value: object, max_nested_bytes: int = LIMIT) -> str:
    """The ValueError message validation raises for `value`."""
    with pytest.raises(ValueError) as excinfo:
        validate_properties(value, max_nested_bytes=max_nested_bytes)
    message = str(excinfo.value)
    assert message.startswith(INVALID_PROPERTIES)
    return message


def nested_list(depth: int) -> list[Any]:
    """A list nested `depth` levels deep: depth 1 is `[]`, depth 2 is `[[]]`."""
    value: list[Any] = []
    for _ in range(depth - 1):
        value = [value]
    return value


def nested_object(depth: int) -> dict[str, Any]:
    """An object nested `depth` levels deep: depth 1 is `{}`, depth 2 is `{"a": {}}`."""
    value: dict[str, Any] = {}
    for _ in range(depth - 1):
        value = {"a": value}
    return value


def json_size(value: object) -> int:
    """Compact UTF-8 JSON size, as heron counts nested payloads."""
    return len(msgspec.json.encode(value))


# --- presence and shape --------------------------------------------------------------------------


def test_absent_null_and_empty_mean_no_properties() -> None:
    assert check(None) == (None, {})
    assert check({}) == (None, {})


@pytest.mark.parametrize("value", [[], [{"a": 1}], "a=1", 1, 1.5, True, False])
def test_properties_must_be_an_object(value: object) -> None:
    assert error_of(value) == f"{PREFIX}must be an object"


def test_the_documented_example() -> None:
    text, types = check({"movie": "The Sad Egg", "director": "Dan Alexander"})
    assert text == '{"movie":"The Sad Egg","director":"Dan Alexander"}'
    assert types == {"movie": "String", "director": "String"}


def test_every_data_type_and_the_json_text() -> None:
    props: dict[str, Any] = {
        "count": 3,
        "price": 9.99,
        "negative": -2,
        "zero_float": 0.0,
        "flag": True,
        "off": False,
        "title": "Hello",
        "when": "2013-07-16T19:20:30+01:00",
        "day": "07/16/2013",
        "nothing": None,
        "tags": ["a", 1, None, "2013-07-16"],
        "meta": {"k": [1, {"deep": "x"}], "z": None},
    }
    text, types = check(props)
    assert types == {
        "count": "Number",
        "price": "Number",
        "negative": "Number",
        "zero_float": "Number",
        "flag": "Boolean",
        "off": "Boolean",
        "title": "String",
        "when": "Time",
        "day": "Time",
        "tags": "Array",
        "meta": "Object",
    }
    assert "nothing" not in types  # null is kept but gets no type
    assert text is not None
    assert json.loads(text) == props  # datetimes are kept as sent, null kept, order kept
    assert list(json.loads(text)) == list(props)


def test_bool_is_boolean_not_number() -> None:
    text, types = check({"a": True, "b": 1, "c": False, "d": 0})
    assert types == {"a": "Boolean", "b": "Number", "c": "Boolean", "d": "Number"}
    assert text == '{"a":true,"b":1,"c":false,"d":0}'


def test_only_nulls_still_give_json_text() -> None:
    assert check({"a": None}) == ('{"a":null}', {})


def test_unicode_is_kept_unescaped() -> None:
    text, types = check({"café": "naïve 😀"})
    assert text == '{"café":"naïve 😀"}'
    assert types == {"café": "String"}


# --- names ---------------------------------------------------------------------------------------


def test_name_length_boundary_is_in_characters() -> None:
    assert check({"k" * 255: 1})[1] == {"k" * 255: "Number"}
    emoji = "😀" * 255  # 255 characters, 1020 UTF-8 bytes
    assert check({emoji: 1})[1] == {emoji: "Number"}
    message = error_of({"k" * 256: 1})
    assert message == f"{PREFIX}property name '{'k' * 64}...' is longer than 255 characters"
    assert "longer than 255 characters" in error_of({"😀" * 256: 1})


def test_empty_name_is_refused() -> None:
    assert error_of({"": 1}) == f"{PREFIX}property names must not be empty"


@pytest.mark.parametrize("name", ["$price", "$", "$$", "$time"])
def test_dollar_names_are_refused(name: str) -> None:
    assert error_of({"ok": 1, name: 1}) == f"{PREFIX}property name '{name}' must not start with '$'"


def test_dollar_elsewhere_in_the_name_is_fine() -> None:
    assert check({"price$": 1, "a$b": 2})[1] == {"price$": "Number", "a$b": "Number"}


@pytest.mark.parametrize("name", ["time", "event_name"])
def test_reserved_names_give_exactly_the_documented_message(name: str) -> None:
    assert error_of({"ok": 1, name: "x"}) == "Invalid 'properties' field"


def test_reserved_names_are_case_sensitive() -> None:
    _, types = check({"Time": "x", "EVENT_NAME": "y", "event_name_2": 1, "times": 2})
    assert types == {
        "Time": "String",
        "EVENT_NAME": "String",
        "event_name_2": "Number",
        "times": "Number",
    }


def test_nul_in_names_is_refused() -> None:
    # PostgreSQL text cannot hold NUL; in values it is escaped as \u0000 inside the JSON text
    assert error_of({"a\x00b": 1}) == f"{PREFIX}property names must not contain NUL characters"
    assert check({"a": "x\x00y"}) == ('{"a":"x\\u0000y"}', {"a": "String"})


def test_lone_surrogates_from_python_callers_are_refused() -> None:
    message = f"{PREFIX}contains text that is not valid Unicode"
    assert error_of({"a": "x\ud800"}) == message
    assert error_of({"a\udfff": 1}) == message
    assert (
        error_of({"n": ["\ud800"]})
        == f"{PREFIX}value of 'n' contains text that is not valid Unicode"
    )


def test_non_string_names_from_python_callers_are_refused() -> None:
    assert error_of({1: "x"}) == f"{PREFIX}property names must be strings"


def test_a_bad_name_is_refused_every_time() -> None:
    # good names are remembered for speed; bad ones must never be
    for _ in range(3):
        assert "must not start with '$'" in error_of({"$x": 1})
        assert error_of({"time": 1}) == INVALID_PROPERTIES


# --- scalar values -------------------------------------------------------------------------------


def test_string_length_boundary_is_in_characters() -> None:
    assert check({"s": "x" * 255})[1] == {"s": "String"}
    assert check({"s": "😀" * 255})[1] == {"s": "String"}
    assert error_of({"s": "x" * 256}) == f"{PREFIX}value of 's' is longer than 255 characters"
    assert "longer than 255" in error_of({"s": "😀" * 256})


def test_empty_string_is_a_string() -> None:
    assert check({"s": ""}) == ('{"s":""}', {"s": "String"})


def test_integer_range_is_signed_64_bit() -> None:
    top, bottom = 2**63 - 1, -(2**63)
    text, types = check({"top": top, "bottom": bottom})
    assert text == f'{{"top":{top},"bottom":{bottom}}}'
    assert types == {"top": "Number", "bottom": "Number"}
    message = f"{PREFIX}value of 'n' is outside the signed 64-bit integer range"
    assert error_of({"n": 2**63}) == message
    assert error_of({"n": -(2**63) - 1}) == message
    assert error_of({"n": 10**100}) == message


@pytest.mark.parametrize("number", [float("nan"), float("inf"), float("-inf")])
def test_non_finite_floats_are_refused(number: float) -> None:
    assert error_of({"x": number}) == f"{PREFIX}value of 'x' must be a finite number"


def test_extreme_finite_floats_are_numbers() -> None:
    text, types = check({"big": 1.7976931348623157e308, "tiny": 5e-324, "neg": -0.0})
    assert types == {"big": "Number", "tiny": "Number", "neg": "Number"}
    assert text is not None
    assert json.loads(text) == {"big": 1.7976931348623157e308, "tiny": 5e-324, "neg": -0.0}


@pytest.mark.parametrize(
    ("value", "type_name"),
    [((1, 2), "tuple"), (b"x", "bytes"), ({1, 2}, "set"), (object(), "object"), (1j, "complex")],
)
def test_values_that_are_not_json_are_refused(value: object, type_name: str) -> None:
    assert error_of({"v": value}) == f"{PREFIX}value of 'v' has an unsupported type ({type_name})"


def test_datetime_strings_are_time_and_kept_as_sent() -> None:
    props = {
        "iso": "2013-07-16T19:20:30+01:00",
        "braze": "2013-07-16T19:20:30:045+0100",
        "local": "2013-07-16 19:20:30",
        "date": "2013-07-16",
        "us": "07/16/2013",
        "long": "Wed 07 16 19:20:30.000 +0100 2013",
        "not_a_date": "2013-02-30",
        "number_text": "12345678",
        "weekday_word": "Wednesday",
    }
    text, types = check(props)
    assert types == {
        "iso": "Time",
        "braze": "Time",
        "local": "Time",
        "date": "Time",
        "us": "Time",
        "long": "Time",
        "not_a_date": "String",
        "number_text": "String",
        "weekday_word": "String",
    }
    assert text is not None
    assert json.loads(text) == props


# --- arrays and objects --------------------------------------------------------------------------


def test_nested_values_hold_any_json() -> None:
    value: dict[str, Any] = {
        "$dollar": "allowed inside",
        "time": "reserved only at the top",
        "": "empty key allowed inside",
        "long": "x" * 1000,
        "list": [[], {}, None, True, 1.5, -(2**63), 2**63 - 1],
    }
    text, types = check({"obj": value, "arr": [value]})
    assert types == {"obj": "Object", "arr": "Array"}
    assert text is not None
    assert json.loads(text) == {"obj": value, "arr": [value]}


def test_datetimes_inside_arrays_are_plain_strings() -> None:
    text, types = check({"dates": ["2013-07-16", "2013-07-17"]})
    assert types == {"dates": "Array"}
    assert text == '{"dates":["2013-07-16","2013-07-17"]}'


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ([float("nan")], "contains a number that is not finite"),
        ({"a": {"b": float("inf")}}, "contains a number that is not finite"),
        ([2**63], "contains an integer outside the signed 64-bit range"),
        ({"a": [-(2**63) - 1]}, "contains an integer outside the signed 64-bit range"),
        ({1: "x"}, "contains an object key that is not a string"),
        ([{"a": {2: 3}}], "contains an object key that is not a string"),
        ([(1, 2)], "contains an unsupported type (tuple)"),
        ({"a": b"x"}, "contains an unsupported type (bytes)"),
    ],
)
def test_nested_values_must_be_json(value: object, problem: str) -> None:
    assert error_of({"n": value}) == f"{PREFIX}value of 'n' {problem}"


@pytest.mark.parametrize("make", [nested_list, nested_object])
def test_nesting_depth_limit_is_50_levels(make: Any) -> None:
    text, types = check({"deep": make(50)})
    assert types["deep"] in {"Array", "Object"}
    assert text is not None
    assert json.loads(text) == {"deep": make(50)}
    assert (
        error_of({"deep": make(51)}) == f"{PREFIX}value of 'deep' is nested deeper than 50 levels"
    )


def test_depth_counts_mixed_arrays_and_objects() -> None:
    value: Any = "leaf"  # scalars add no level
    for level in range(50):
        value = [value] if level % 2 else {"k": value}
    check({"mixed": value})
    assert "deeper than 50" in error_of({"mixed": [value]})


def test_very_deep_input_fails_cleanly() -> None:
    assert "deeper than 50" in error_of({"deep": nested_list(5000)})


def test_nested_size_at_the_limit_and_one_byte_over() -> None:
    value = ["x" * 96]  # ["xxx..."] is 96 + 4 bytes of JSON
    assert json_size(value) == 100
    assert check({"a": value}, max_nested_bytes=100)[1] == {"a": "Array"}
    message = error_of({"a": value}, max_nested_bytes=99)
    assert message == f"{PREFIX}array and object values exceed 99 bytes of JSON (at 'a')"


def test_nested_size_is_summed_over_all_array_and_object_values() -> None:
    a, b = ["x" * 46], {"k": "y" * 42}  # 50 bytes each
    assert json_size(a) == 50
    assert json_size(b) == 50
    assert check({"a": a, "s": "z" * 200, "b": b}, max_nested_bytes=100)[1]["b"] == "Object"
    message = error_of({"a": a, "s": "z" * 200, "b": b}, max_nested_bytes=99)
    assert message == f"{PREFIX}array and object values exceed 99 bytes of JSON (at 'b')"


def test_nested_size_counts_utf8_bytes() -> None:
    value = ["é" * 48]  # 48 characters, 96 bytes of UTF-8, plus 4
    assert json_size(value) == 100
    check({"a": value}, max_nested_bytes=100)
    assert "exceed 99 bytes" in error_of({"a": value}, max_nested_bytes=99)


def test_scalar_strings_do_not_count_toward_the_nested_size() -> None:
    props = {f"s{i}": "x" * 255 for i in range(10)}
    assert check(props, max_nested_bytes=0)[1] == {f"s{i}": "String" for i in range(10)}


@pytest.mark.parametrize("limit", [102_400, 51_200])
def test_real_limits_at_the_boundary(limit: int) -> None:
    value = ["x" * (limit - 4)]
    assert json_size(value) == limit
    check({"big": value}, max_nested_bytes=limit)
    assert "exceed" in error_of({"big": ["x" * (limit - 3)]}, max_nested_bytes=limit)


# --- count limit ---------------------------------------------------------------------------------


def test_256_properties_are_all_kept() -> None:
    props = {f"p{i}": i for i in range(256)}
    text, types = check(props)
    assert len(types) == 256
    assert text is not None
    assert json.loads(text) == props


def test_properties_past_256_are_dropped_in_object_order() -> None:
    props = {f"p{i}": i for i in range(300)}
    text, types = check(props)
    assert list(types) == [f"p{i}" for i in range(256)]
    assert text is not None
    assert list(json.loads(text)) == [f"p{i}" for i in range(256)]


def test_dropped_properties_are_not_checked() -> None:
    props: dict[str, Any] = {f"p{i}": i for i in range(256)}
    props["$bad"] = float("nan")
    props["time"] = 1
    text, types = check(props)
    assert len(types) == 256
    assert text is not None
    assert "$bad" not in json.loads(text)


def test_the_256th_property_is_still_checked() -> None:
    props: dict[str, Any] = {f"p{i}": i for i in range(255)}
    props["time"] = 1
    assert error_of(props) == INVALID_PROPERTIES


def test_nulls_count_toward_the_256() -> None:
    props: dict[str, Any] = {f"n{i}": None for i in range(256)}
    props["late"] = 1
    text, types = check(props)
    assert types == {}
    assert text is not None
    assert "late" not in json.loads(text)


# --- messages ------------------------------------------------------------------------------------


def test_messages_name_the_offending_key() -> None:
    assert "'the_key'" in error_of({"fine": 1, "the_key": "x" * 300})
    assert "'emoji😀'" in error_of({"emoji😀": float("nan")})


# --- generated input ----------------------------------------------------------------------------

JSON_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**64), max_value=2**64)
    | st.floats()
    | st.text(max_size=300)
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4)
    ),
    max_leaves=20,
)


@given(st.dictionaries(st.text(max_size=260), JSON_VALUES, max_size=8), st.integers(0, 400))
def test_any_json_object_is_accepted_or_refused_cleanly(props: dict[str, Any], limit: int) -> None:
    try:
        text, types = check(props, max_nested_bytes=limit)
    except ValueError as exc:
        assert str(exc).startswith(INVALID_PROPERTIES)
        return
    if text is None:
        assert props == {}
        return
    kept = msgspec.json.decode(text)
    assert list(kept) == list(props)
    assert set(types) == {name for name, value in props.items() if value is not None}
    assert all(not name.startswith("$") and 0 < len(name) <= 255 for name in kept)
