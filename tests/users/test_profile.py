"""`apply_attributes`: profile fields and custom-attribute ops applied to stored documents."""

from __future__ import annotations

import json
from typing import Any

import pytest

from heron.ingest.attribute_values import MAX_NESTED_BYTES, json_size
from heron.ingest.attributes import validate_attributes
from heron.ingest.records import AttributeOp, AttributeRecord, UserRef
from heron.users.profile import apply_attributes

NOW = 1_700_000_000_000
USER = UserRef("external_id", "u1")


def record(*ops: AttributeOp, **standard: Any) -> AttributeRecord:
    """A record with the given custom ops and standard fields."""
    return AttributeRecord(USER, False, dict(standard), list(ops))


def custom_after(custom: dict[str, Any], *ops: AttributeOp, **kwargs: Any) -> dict[str, Any]:
    """Apply custom ops to a copy of `custom` and return it."""
    result = json.loads(json.dumps(custom))
    apply_attributes({}, result, record(*ops), **kwargs)
    return result  # type: ignore[no-any-return]


def track(standard: dict[str, Any], custom: dict[str, Any], obj: dict[str, Any]) -> None:
    """Validate an attributes object and apply it, as `/users/track` does."""
    validated = validate_attributes({"external_id": "u1", **obj}, NOW)
    assert isinstance(validated, AttributeRecord), validated
    apply_attributes(standard, custom, validated)


# -- standard fields -------------------------------------------------------------------------


def test_standard_set_replace_and_remove() -> None:
    standard: dict[str, Any] = {"first_name": "Old", "gender": "M"}
    apply_attributes(standard, {}, record(first_name="Jon", country="US", gender=None))
    assert standard == {"first_name": "Jon", "country": "US"}
    apply_attributes(standard, {}, record(home_city=None))  # removing a missing field is fine
    assert standard == {"first_name": "Jon", "country": "US"}


def test_push_tokens_merge_by_app_and_token() -> None:
    standard: dict[str, Any] = {
        "push_tokens": [
            {"app_id": "a", "token": "t1", "device_id": "d1"},
            {"app_id": "a", "token": "t2"},
        ]
    }
    update = [{"app_id": "a", "token": "t1", "device_id": "d9"}, {"app_id": "b", "token": "t1"}]
    apply_attributes(standard, {}, record(push_tokens=update))
    assert standard["push_tokens"] == [
        {"app_id": "a", "token": "t1", "device_id": "d9"},
        {"app_id": "a", "token": "t2"},
        {"app_id": "b", "token": "t1"},
    ]
    apply_attributes(standard, {}, record(push_tokens=[]))
    assert len(standard["push_tokens"]) == 3


def test_subscription_groups_merge_by_group() -> None:
    standard: dict[str, Any] = {}
    track(
        standard,
        {},
        {
            "subscription_groups": [
                {"subscription_group_id": "g1", "subscription_state": "subscribed"},
                {"subscription_group_id": "g2", "subscription_state": "subscribed"},
            ]
        },
    )
    track(
        standard,
        {},
        {
            "subscription_groups": [
                {"subscription_group_id": "g1", "subscription_state": "unsubscribed"}
            ]
        },
    )
    assert standard["subscription_groups"] == [
        {"subscription_group_id": "g1", "subscription_state": "unsubscribed"},
        {"subscription_group_id": "g2", "subscription_state": "subscribed"},
    ]


def test_standard_list_fields_replace_corrupt_stored_values() -> None:
    standard: dict[str, Any] = {"push_tokens": "garbage"}
    apply_attributes(standard, {}, record(push_tokens=[{"app_id": "a", "token": "t"}]))
    assert standard["push_tokens"] == [{"app_id": "a", "token": "t"}]


# -- set / unset -----------------------------------------------------------------------------


def test_set_and_unset() -> None:
    custom = custom_after(
        {"old": 1, "plan": "free"},
        AttributeOp("plan", "set", "gold", "String"),
        AttributeOp("old", "unset"),
        AttributeOp("never_there", "unset"),
        AttributeOp("vip", "set", True, "Boolean"),
    )
    assert custom == {"plan": "gold", "vip": True}


def test_set_array_is_capped_to_the_configured_maximum() -> None:
    items = [str(n) for n in range(30)]
    op = AttributeOp("xs", "set", items, "Array")
    assert custom_after({}, op)["xs"] == items[-25:]
    assert custom_after({}, op, max_array_length=100)["xs"] == items
    assert custom_after({}, op, max_array_length=0)["xs"] == []
    objects = [{"id": n} for n in range(30)]
    assert custom_after({}, AttributeOp("o", "set", objects, "Object Array"))["o"] == objects


def test_set_replaces_any_type() -> None:
    assert custom_after({"x": [1, 2]}, AttributeOp("x", "set", {"a": 1}, "Object")) == {
        "x": {"a": 1}
    }


# -- inc -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("current", "amount", "result"),
    [
        (None, 1, 1),
        (5, 2, 7),
        (5, -7, -2),
        (1.5, 1, 2.5),
        (2, 0.5, 2.5),
        ("12", 1, 1),  # non-numeric counts as 0
        ([1], 3, 3),
        ({"a": 1}, 3, 3),
        (True, 1, 1),  # a boolean is not a number
        (2**63 - 2, 1, 2**63 - 1),
    ],
)
def test_inc(current: Any, amount: float, result: float) -> None:
    start = {} if current is None else {"n": current}
    after = custom_after(start, AttributeOp("n", "inc", amount, "Number"))
    assert after["n"] == result
    assert type(after["n"]) is type(result)


@pytest.mark.parametrize(
    ("current", "amount"), [(2**63 - 1, 1), (-(2**63), -1), (1.7e308, 1.7e308), (-1.7e308, -1e308)]
)
def test_inc_out_of_range_leaves_value_unchanged(current: float, amount: float) -> None:
    assert custom_after({"n": current}, AttributeOp("n", "inc", amount, "Number")) == {"n": current}


def test_inc_sequence() -> None:
    custom: dict[str, Any] = {}
    track({}, custom, {"visits": {"inc": 1}})
    track({}, custom, {"visits": {"inc": 1}})
    track({}, custom, {"visits": {"inc": -5}})
    assert custom == {"visits": -3}


# -- add / remove ----------------------------------------------------------------------------


def test_add_to_missing_or_non_array_starts_empty() -> None:
    add = AttributeOp("xs", "add", ["a", "b"], "Array")
    assert custom_after({}, add) == {"xs": ["a", "b"]}
    assert custom_after({"xs": "a string"}, add) == {"xs": ["a", "b"]}
    assert custom_after({"xs": 3}, add) == {"xs": ["a", "b"]}
    assert custom_after({"xs": [{"id": 1}]}, add) == {"xs": ["a", "b"]}  # not a simple array


def test_re_adding_moves_to_end() -> None:
    add = AttributeOp("xs", "add", ["a", "d"], "Array")
    assert custom_after({"xs": ["a", "b", "c"]}, add) == {"xs": ["b", "c", "a", "d"]}


def test_add_deduplicates_stored_duplicates() -> None:
    add = AttributeOp("xs", "add", ["z"], "Array")
    assert custom_after({"xs": ["a", "b", "a"]}, add) == {"xs": ["b", "a", "z"]}


def test_add_equality_numbers_and_bools() -> None:
    add = AttributeOp("xs", "add", [1.0, True], "Array")
    assert custom_after({"xs": [1, "1", 0]}, add) == {"xs": ["1", 0, 1.0, True]}


def test_add_caps_to_last_items() -> None:
    stored = [str(n) for n in range(25)]
    add = AttributeOp("xs", "add", ["new1", "new2"], "Array")
    assert custom_after({"xs": stored}, add) == {"xs": [*stored[2:], "new1", "new2"]}
    assert custom_after({"xs": stored}, add, max_array_length=100) == {
        "xs": [*stored, "new1", "new2"]
    }
    # re-adding an existing item at the cap moves it to the end, dropping nothing
    again = AttributeOp("xs", "add", ["0"], "Array")
    assert custom_after({"xs": stored}, again) == {"xs": [*stored[1:], "0"]}


def test_remove_drops_all_equal_items() -> None:
    remove = AttributeOp("xs", "remove", ["a", 1], "Array")
    assert custom_after({"xs": ["a", "b", "a", 1.0, True, "1"]}, remove) == {"xs": ["b", True, "1"]}


def test_remove_from_missing_or_non_array_is_a_no_op() -> None:
    remove = AttributeOp("xs", "remove", ["a"], "Array")
    assert custom_after({}, remove) == {}
    assert custom_after({"xs": "a"}, remove) == {"xs": "a"}


def test_remove_everything_leaves_an_empty_array() -> None:
    assert custom_after({"xs": ["a"]}, AttributeOp("xs", "remove", ["a"], "Array")) == {"xs": []}


def test_add_and_remove_in_one_object_remove_first() -> None:
    custom: dict[str, Any] = {"xs": ["a", "b", "c"]}
    track({}, custom, {"xs": {"add": ["b", "d"], "remove": ["b", "c"]}})
    assert custom == {"xs": ["a", "b", "d"]}


def test_sequence_across_requests() -> None:
    custom: dict[str, Any] = {}
    track({}, custom, {"xs": ["a", "b"]})
    track({}, custom, {"xs": {"add": ["c", "a"]}})
    track({}, custom, {"xs": {"remove": ["b"]}})
    track({}, custom, {"xs": {"add": [str(n) for n in range(30)]}})
    assert custom["xs"] == [str(n) for n in range(5, 30)]
    track({}, custom, {"xs": None})
    assert custom == {}


# -- arrays of objects -----------------------------------------------------------------------


PETS = [{"id": 1, "type": "dog"}, {"id": 2, "type": "cat"}, {"id": 3, "type": "dog"}]


def test_object_add_appends_without_deduplication() -> None:
    add = AttributeOp("pets", "add", [{"id": 1, "type": "dog"}], "Object Array")
    assert custom_after({"pets": PETS}, add) == {"pets": [*PETS, {"id": 1, "type": "dog"}]}
    assert custom_after({}, add) == {"pets": [{"id": 1, "type": "dog"}]}
    assert custom_after({"pets": ["a"]}, add) == {"pets": [{"id": 1, "type": "dog"}]}


def test_object_add_is_not_capped() -> None:
    add = AttributeOp("pets", "add", [{"id": n} for n in range(30)], "Object Array")
    assert len(custom_after({"pets": PETS}, add)["pets"]) == 33


def test_object_add_over_100_kb_is_dropped() -> None:
    big = [{"k": "x" * 250} for _ in range(380)]  # ~97 KB
    assert json_size(big) < MAX_NESTED_BYTES
    add = AttributeOp("pets", "add", [{"k": "x" * 250} for _ in range(20)], "Object Array")
    assert custom_after({"pets": big}, add) == {"pets": big}
    small = AttributeOp("pets", "add", [{"k": "y"}], "Object Array")
    assert custom_after({"pets": big}, small) == {"pets": [*big, {"k": "y"}]}


def test_object_remove_by_identifier() -> None:
    remove = AttributeOp(
        "pets",
        "remove",
        [
            {"$identifier_key": "type", "$identifier_value": "dog"},
            {"$identifier_key": "id", "$identifier_value": 2.0},
        ],
        "Object Array",
    )
    assert custom_after({"pets": PETS}, remove) == {"pets": []}
    one = AttributeOp(
        "pets", "remove", [{"$identifier_key": "id", "$identifier_value": 2}], "Object Array"
    )
    assert custom_after({"pets": PETS}, one) == {"pets": [PETS[0], PETS[2]]}
    missing_key = AttributeOp(
        "pets", "remove", [{"$identifier_key": "name", "$identifier_value": 2}], "Object Array"
    )
    assert custom_after({"pets": PETS}, missing_key) == {"pets": PETS}
    assert custom_after({}, one) == {}


def test_object_remove_keeps_bools_and_numbers_apart() -> None:
    flags = [{"on": True}, {"on": 1}, {"on": "1"}]
    remove = AttributeOp(
        "f", "remove", [{"$identifier_key": "on", "$identifier_value": 1}], "Object Array"
    )
    assert custom_after({"f": flags}, remove) == {"f": [{"on": True}, {"on": "1"}]}


def test_object_add_then_remove_in_one_object() -> None:
    custom: dict[str, Any] = {"pets": list(PETS)}
    track(
        {},
        custom,
        {
            "pets": {
                "$add": [{"id": 4, "type": "fish"}],
                "$remove": [{"$identifier_key": "id", "$identifier_value": 4}],
            }
        },
    )
    assert custom == {"pets": PETS}  # Braze runs $add before $remove


# -- whole objects ---------------------------------------------------------------------------


def test_round_trip_keeps_documents_json_serializable() -> None:
    standard: dict[str, Any] = {}
    custom: dict[str, Any] = {"n": "x", "tags": ["a"]}
    track(
        standard,
        custom,
        {
            "first_name": "Jon",
            "country": "australia",
            "date_of_last_session": "2023-01-01T00:00:00+01:00",
            "n": {"inc": 0.5},
            "tags": {"add": [True, 2]},
            "when": "2024-02-29",
            "song": {"name": "Solea", "at": {"$time": "1960-01-01"}},
            "pets": [{"id": 1}],
        },
    )
    assert standard == {
        "first_name": "Jon",
        "country": "AU",
        "date_of_last_session": "2022-12-31T23:00:00.000Z",
    }
    assert custom == {
        "n": 0.5,
        "tags": ["a", True, 2],
        "when": "2024-02-29T00:00:00.000Z",
        "song": {"name": "Solea", "at": {"$time": "1960-01-01T00:00:00.000Z"}},
        "pets": [{"id": 1}],
    }
    assert json.loads(json.dumps(standard, allow_nan=False)) == standard
    assert json.loads(json.dumps(custom, allow_nan=False)) == custom


def test_stored_values_are_not_mutated_in_place() -> None:
    tags = ["a", "b"]
    custom: dict[str, Any] = {"tags": tags}
    apply_attributes({}, custom, record(AttributeOp("tags", "add", ["c"], "Array")))
    apply_attributes({}, custom, record(AttributeOp("tags", "remove", ["a"], "Array")))
    assert tags == ["a", "b"]
    assert custom == {"tags": ["b", "c"]}


def test_one_record_applied_to_two_profiles_stays_independent() -> None:
    rec = record(AttributeOp("xs", "set", ["a"], "Array"))
    first: dict[str, Any] = {}
    second: dict[str, Any] = {}
    apply_attributes({}, first, rec)
    apply_attributes({}, second, rec)
    apply_attributes({}, first, record(AttributeOp("xs", "add", ["b"], "Array")))
    assert first == {"xs": ["a", "b"]}
    assert second == {"xs": ["a"]}
    assert rec.custom[0].value == ["a"]
