"""`/users/track` event and purchase objects: validation into records or Braze-style messages."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from heron.ingest.currencies import ISO_4217_CODES, normalize_currency
from heron.ingest.events import validate_event, validate_purchase
from heron.ingest.identifiers import MISSING_IDENTIFIER
from heron.ingest.properties import INVALID_PROPERTIES
from heron.ingest.records import EventRecord, PurchaseRecord, UserRef

APPS = {"your-app-id": 7, "other-app": 8}
NOW_MS = int(datetime(2024, 5, 1, 12, 0, tzinfo=UTC).timestamp() * 1000)
T_2013 = int(datetime(2013, 7, 16, 18, 20, 30, tzinfo=UTC).timestamp() * 1000)


def event(**fields: Any) -> dict[str, Any]:
    """The documented example event, with fields replaced (None values are kept as null)."""
    obj: dict[str, Any] = {
        "external_id": "user1",
        "app_id": "your-app-id",
        "name": "rented_movie",
        "time": "2013-07-16T19:20:30+01:00",
        "properties": {"movie": "The Sad Egg", "director": "Dan Alexander"},
    }
    obj.update(fields)
    return obj


def purchase(**fields: Any) -> dict[str, Any]:
    """A valid purchase object, with fields replaced (None values are kept as null)."""
    obj: dict[str, Any] = {
        "external_id": "user1",
        "app_id": "your-app-id",
        "product_id": "movie_rental",
        "currency": "USD",
        "price": 3.99,
        "quantity": 2,
        "time": "2013-07-16T19:20:30+01:00",
    }
    obj.update(fields)
    return obj


def without(obj: dict[str, Any], *keys: str) -> dict[str, Any]:
    """A copy of `obj` without `keys`."""
    return {k: v for k, v in obj.items() if k not in keys}


def ok_event(obj: object) -> EventRecord:
    """Validate an event that must pass."""
    result = validate_event(obj, NOW_MS, APPS)
    assert isinstance(result, EventRecord), result
    return result


def ok_purchase(obj: object) -> PurchaseRecord:
    """Validate a purchase that must pass."""
    result = validate_purchase(obj, NOW_MS, APPS)
    assert isinstance(result, PurchaseRecord), result
    return result


def event_error(obj: object) -> str:
    """Validate an event that must fail; return its message."""
    result = validate_event(obj, NOW_MS, APPS)
    assert isinstance(result, str), result
    return result


def purchase_error(obj: object) -> str:
    """Validate a purchase that must fail; return its message."""
    result = validate_purchase(obj, NOW_MS, APPS)
    assert isinstance(result, str), result
    return result


# --- events: the whole record --------------------------------------------------------------------


def test_documented_example_event() -> None:
    record = ok_event(event())
    assert record == EventRecord(
        user=UserRef("external_id", "user1"),
        update_existing_only=False,
        app=7,
        name="rented_movie",
        time_ms=T_2013,
        properties='{"movie":"The Sad Egg","director":"Dan Alexander"}',
        property_types={"movie": "String", "director": "String"},
    )


def test_minimal_event() -> None:
    record = ok_event({"external_id": "u", "name": "e", "time": "2013-07-16"})
    assert record.app is None
    assert record.properties is None
    assert record.property_types == {}
    assert record.time_ms == int(datetime(2013, 7, 16, tzinfo=UTC).timestamp() * 1000)


def test_unknown_keys_are_ignored() -> None:
    assert ok_event(event(extra="x", another={"a": 1})).name == "rented_movie"


@pytest.mark.parametrize("obj", [None, [], "event", 1, [event()]])
def test_event_must_be_an_object(obj: object) -> None:
    assert event_error(obj) == "event must be an object"


# --- identifiers and update-only -----------------------------------------------------------------


def test_missing_identifier() -> None:
    assert event_error(without(event(), "external_id")) == MISSING_IDENTIFIER
    assert purchase_error(without(purchase(), "external_id")) == MISSING_IDENTIFIER


def test_identifier_errors_come_from_the_shared_parser() -> None:
    assert event_error(event(external_id="")) == "'external_id' must be a non-empty string"
    assert purchase_error(purchase(external_id=5)) == "'external_id' must be a non-empty string"


def test_user_alias_is_update_only() -> None:
    alias = {"alias_name": "device123", "alias_label": "my_device_identifier"}
    obj = without(event(user_alias=alias), "external_id")
    record = ok_event(obj)
    assert record.user == UserRef("user_alias", "device123", "my_device_identifier")
    assert record.update_existing_only is True
    # an event cannot create an alias-only user, even with an explicit false
    assert ok_event(dict(obj, _update_existing_only=False)).update_existing_only is True
    assert ok_purchase(without(purchase(user_alias=alias), "external_id")).update_existing_only


def test_braze_id_is_update_only() -> None:
    record = ok_event(without(event(braze_id="b1"), "external_id"))
    assert record.user == UserRef("braze_id", "b1")
    assert record.update_existing_only is True


def test_update_existing_only_flag() -> None:
    assert ok_event(event(_update_existing_only=True)).update_existing_only is True
    assert ok_event(event(_update_existing_only=False)).update_existing_only is False
    assert ok_event(event(_update_existing_only=None)).update_existing_only is False
    assert event_error(event(_update_existing_only="true")) == (
        "'_update_existing_only' must be a boolean"
    )
    assert ok_purchase(purchase(_update_existing_only=True)).update_existing_only is True


def test_email_and_phone_identifiers() -> None:
    record = ok_event(without(event(email="a@example.com", phone="+15551234"), "external_id"))
    assert record.user == UserRef("email", "a@example.com")
    assert ok_event(without(event(phone="+15551234"), "external_id")).user.kind == "phone"


# --- events: name --------------------------------------------------------------------------------


def test_name_is_required() -> None:
    assert event_error(without(event(), "name")) == "'name' is required"
    assert event_error(event(name=None)) == "'name' is required"
    assert event_error(event(name="")) == "'name' must not be empty"
    assert event_error(event(name=42)) == "'name' must be a string"
    assert event_error(event(name=["a"])) == "'name' must be a string"


def test_name_length_is_in_characters() -> None:
    assert ok_event(event(name="n" * 255)).name == "n" * 255
    assert ok_event(event(name="🎬" * 255)).name == "🎬" * 255
    assert event_error(event(name="n" * 256)) == "'name' must be at most 255 characters"
    assert event_error(event(name="🎬" * 256)) == "'name' must be at most 255 characters"


def test_nul_characters_are_refused_in_names() -> None:
    assert event_error(event(name="a\x00b")) == "'name' must not contain NUL characters"
    assert purchase_error(purchase(product_id="\x00")) == (
        "'product_id' must not contain NUL characters"
    )


def test_name_is_case_sensitive_and_kept_as_sent() -> None:
    assert ok_event(event(name="Rented_Movie ")).name == "Rented_Movie "
    assert ok_event(event(name="rented_movie")).name == "rented_movie"
    assert ok_event(event(name="été 🎬")).name == "été 🎬"


# --- time ----------------------------------------------------------------------------------------


def test_time_is_required() -> None:
    assert event_error(without(event(), "time")) == "'time' is required"
    assert event_error(event(time=None)) == "'time' is required"
    assert purchase_error(without(purchase(), "time")) == "'time' is required"


def test_time_formats() -> None:
    assert ok_event(event(time="2013-07-16T19:20:30:000+0100")).time_ms == T_2013
    assert ok_event(event(time="2013-07-16T18:20:30Z")).time_ms == T_2013
    assert ok_event(event(time="2013-07-16T18:20:30")).time_ms == T_2013
    assert ok_purchase(purchase(time="2013-07-16T19:20:30:000+01:00")).time_ms == T_2013


def test_bad_times() -> None:
    assert event_error(event(time=1373998830)) == "'time' must be a string"
    assert event_error(event(time="yesterday")) == (
        "'time' must be an ISO 8601 or yyyy-MM-dd'T'HH:mm:ss:SSSZ date-time string"
    )
    assert event_error(event(time="2013-02-30T00:00:00Z")) == (
        "'time' is not a valid date-time: day is out of range for month"
    )
    assert purchase_error(purchase(time="07/16/2013")).startswith("'time' must be an ISO 8601")


def test_future_times_are_clamped_to_now() -> None:
    assert ok_event(event(time="2999-01-01T00:00:00Z")).time_ms == NOW_MS
    one_ms_later = datetime.fromtimestamp((NOW_MS + 1) / 1000, UTC).isoformat()
    assert ok_event(event(time=one_ms_later)).time_ms == NOW_MS
    assert ok_purchase(purchase(time="9999-12-31T23:59:59Z")).time_ms == NOW_MS


def test_present_and_past_times_are_kept() -> None:
    exactly_now = datetime.fromtimestamp(NOW_MS / 1000, UTC).isoformat()
    assert ok_event(event(time=exactly_now)).time_ms == NOW_MS
    one_ms_earlier = datetime.fromtimestamp((NOW_MS - 1) / 1000, UTC).isoformat()
    assert ok_event(event(time=one_ms_earlier)).time_ms == NOW_MS - 1
    assert ok_event(event(time="1900-01-01T00:00:00Z")).time_ms == -2_208_988_800_000


# --- app_id --------------------------------------------------------------------------------------


def test_app_id_maps_to_the_internal_app_key() -> None:
    assert ok_event(event(app_id="your-app-id")).app == 7
    assert ok_event(event(app_id="other-app")).app == 8
    assert ok_purchase(purchase(app_id="other-app")).app == 8


def test_app_id_is_optional() -> None:
    assert ok_event(without(event(), "app_id")).app is None
    assert ok_event(event(app_id=None)).app is None
    assert ok_purchase(purchase(app_id=None)).app is None


def test_unknown_app_id() -> None:
    message = "'app_id' 'not-mine' is not an app of this workspace"
    assert event_error(event(app_id="not-mine")) == message
    assert purchase_error(purchase(app_id="not-mine")) == message
    assert event_error(event(app_id="")) == "'app_id' '' is not an app of this workspace"
    assert event_error(event(app_id="YOUR-APP-ID")).endswith("is not an app of this workspace")


def test_unknown_app_id_is_shortened_in_the_message() -> None:
    message = event_error(event(app_id="a" * 1000))
    assert message == f"'app_id' '{'a' * 64}...' is not an app of this workspace"


def test_app_id_must_be_a_string() -> None:
    assert event_error(event(app_id=7)) == "'app_id' must be a string"
    assert purchase_error(purchase(app_id=["your-app-id"])) == "'app_id' must be a string"


def test_no_apps_in_the_workspace() -> None:
    assert validate_event(event(), NOW_MS, {}) == (
        "'app_id' 'your-app-id' is not an app of this workspace"
    )
    assert isinstance(validate_event(event(app_id=None), NOW_MS, {}), EventRecord)


# --- properties ----------------------------------------------------------------------------------


def test_event_properties_types() -> None:
    record = ok_event(
        event(properties={"n": 1, "b": False, "t": "2013-07-16", "a": [1], "o": {"k": 1}})
    )
    assert record.property_types == {
        "n": "Number",
        "b": "Boolean",
        "t": "Time",
        "a": "Array",
        "o": "Object",
    }
    assert record.properties == '{"n":1,"b":false,"t":"2013-07-16","a":[1],"o":{"k":1}}'


def test_null_and_empty_properties() -> None:
    assert ok_event(event(properties=None)).properties is None
    assert ok_event(event(properties={})).properties is None


def test_property_errors_are_the_object_error() -> None:
    assert event_error(event(properties={"time": 1})) == INVALID_PROPERTIES
    assert event_error(event(properties={"event_name": "x"})) == INVALID_PROPERTIES
    assert purchase_error(purchase(properties={"time": 1})) == INVALID_PROPERTIES
    assert event_error(event(properties=[1])) == f"{INVALID_PROPERTIES}: must be an object"
    assert event_error(event(properties={"$x": 1})).startswith(f"{INVALID_PROPERTIES}: ")


def test_nested_limit_is_100_kb_for_events_and_50_kb_for_purchases() -> None:
    at_100k = {"big": ["x" * (102_400 - 4)]}
    at_50k = {"big": ["x" * (51_200 - 4)]}
    over_50k = {"big": ["x" * (51_200 - 3)]}
    assert ok_event(event(properties=at_100k)).property_types == {"big": "Array"}
    assert event_error(event(properties={"big": ["x" * (102_400 - 3)]})).startswith(
        f"{INVALID_PROPERTIES}: array and object values exceed 102400 bytes"
    )
    assert ok_event(event(properties=over_50k)).property_types == {"big": "Array"}
    assert ok_purchase(purchase(properties=at_50k)).property_types == {"big": "Array"}
    assert purchase_error(purchase(properties=over_50k)).startswith(
        f"{INVALID_PROPERTIES}: array and object values exceed 51200 bytes"
    )


def test_extra_properties_are_dropped_not_refused() -> None:
    props = {f"p{i}": i for i in range(257)}
    record = ok_event(event(properties=props))
    assert len(record.property_types) == 256
    assert record.properties is not None
    assert "p256" not in json.loads(record.properties)


# --- purchases -----------------------------------------------------------------------------------


def test_valid_purchase_record() -> None:
    record = ok_purchase(purchase(properties={"format": "hd"}))
    assert record == PurchaseRecord(
        user=UserRef("external_id", "user1"),
        update_existing_only=False,
        app=7,
        product_id="movie_rental",
        currency="USD",
        price=3.99,
        quantity=2,
        time_ms=T_2013,
        properties='{"format":"hd"}',
        property_types={"format": "String"},
    )


@pytest.mark.parametrize("obj", [None, [], "purchase", 3.99])
def test_purchase_must_be_an_object(obj: object) -> None:
    assert purchase_error(obj) == "purchase must be an object"


def test_product_id_rules() -> None:
    assert purchase_error(without(purchase(), "product_id")) == "'product_id' is required"
    assert purchase_error(purchase(product_id=None)) == "'product_id' is required"
    assert purchase_error(purchase(product_id="")) == "'product_id' must not be empty"
    assert purchase_error(purchase(product_id=12)) == "'product_id' must be a string"
    assert ok_purchase(purchase(product_id="p" * 255)).product_id == "p" * 255
    assert ok_purchase(purchase(product_id="🍿" * 255)).product_id == "🍿" * 255
    assert purchase_error(purchase(product_id="p" * 256)) == (
        "'product_id' must be at most 255 characters"
    )
    assert ok_purchase(purchase(product_id="Movie Rental")).product_id == "Movie Rental"


@pytest.mark.parametrize(
    ("sent", "stored"),
    [("USD", "USD"), ("usd", "USD"), ("Usd", "USD"), ("eUr", "EUR"), ("jpy", "JPY")],
)
def test_currency_any_letter_case_is_stored_upper_case(sent: str, stored: str) -> None:
    assert ok_purchase(purchase(currency=sent)).currency == stored


@pytest.mark.parametrize("code", ["XCG", "ZWG", "SLE", "VED", "VES", "MRU", "STN", "XAU", "XXX"])
def test_current_and_special_iso_codes_are_accepted(code: str) -> None:
    assert ok_purchase(purchase(currency=code)).currency == code


@pytest.mark.parametrize(
    "sent",
    [
        "ABC",  # never a code
        "US",
        "USDD",
        "",
        " USD",
        "USD ",
        "U$D",
        "uſd",  # upper-cases to "USD" but is not ASCII  # noqa: RUF001
        "ＵＳＤ",  # noqa: RUF001 - full-width letters
        "HRK",  # withdrawn 2023 (euro)
        "SLL",  # replaced by SLE
        "ZWL",  # replaced by ZWG
        "ANG",  # replaced by XCG
        "CUC",  # withdrawn
        "VEF",  # replaced by VES
        "BTC",  # not ISO 4217
    ],
)
def test_currency_must_be_an_active_iso_4217_code(sent: str) -> None:
    assert purchase_error(purchase(currency=sent)) == (
        "'currency' must be an ISO 4217 alphabetic currency code"
    )


def test_currency_is_required_and_a_string() -> None:
    assert purchase_error(without(purchase(), "currency")) == "'currency' is required"
    assert purchase_error(purchase(currency=None)) == "'currency' is required"
    assert purchase_error(purchase(currency=840)) == "'currency' must be a string"


def test_currency_table() -> None:
    assert len(ISO_4217_CODES) == 179
    assert all(len(code) == 3 and code.isascii() and code.isupper() for code in ISO_4217_CODES)
    assert {"USD", "EUR", "GBP", "JPY", "CNY", "INR", "BRL", "CHF"} <= ISO_4217_CODES
    assert normalize_currency("chf") == "CHF"
    assert normalize_currency("chfx") is None


@pytest.mark.parametrize(
    ("price", "stored"),
    [(3.99, 3.99), (0, 0.0), (0.0, 0.0), (-3.99, -3.99), (10, 10.0), (10**15, 1e15)],
)
def test_price_numbers(price: float, stored: float) -> None:
    record = ok_purchase(purchase(price=price))
    assert record.price == stored
    assert type(record.price) is float


def test_price_rules() -> None:
    assert purchase_error(without(purchase(), "price")) == "'price' is required"
    assert purchase_error(purchase(price=None)) == "'price' is required"
    assert purchase_error(purchase(price="3.99")) == "'price' must be a number"
    assert purchase_error(purchase(price=True)) == "'price' must be a number"
    assert purchase_error(purchase(price=False)) == "'price' must be a number"
    assert purchase_error(purchase(price=[3.99])) == "'price' must be a number"
    too_big = "'price' must be a finite number of at most 1e15 in absolute value"
    for bad in (float("nan"), float("inf"), float("-inf"), 10**400, -(10**400), 1e308, 1e15 + 1):
        assert purchase_error(purchase(price=bad)) == too_big
    assert ok_purchase(purchase(price=1e15)).price == 1e15
    assert ok_purchase(purchase(price=-(10**15))).price == -1e15


def test_quantity_rules() -> None:
    assert ok_purchase(without(purchase(), "quantity")).quantity == 1
    assert ok_purchase(purchase(quantity=None)).quantity == 1
    assert ok_purchase(purchase(quantity=1)).quantity == 1
    assert ok_purchase(purchase(quantity=100)).quantity == 100
    between = "'quantity' must be between 1 and 100"
    assert purchase_error(purchase(quantity=0)) == between
    assert purchase_error(purchase(quantity=101)) == between
    assert purchase_error(purchase(quantity=-1)) == between
    assert purchase_error(purchase(quantity=10**30)) == between
    integer = "'quantity' must be an integer"
    assert purchase_error(purchase(quantity=True)) == integer
    assert purchase_error(purchase(quantity=2.0)) == integer
    assert purchase_error(purchase(quantity="2")) == integer


def test_first_error_wins_in_a_fixed_order() -> None:
    everything_wrong = {"name": "", "time": "x", "app_id": "nope", "properties": {"time": 1}}
    assert event_error(everything_wrong) == MISSING_IDENTIFIER
    assert event_error(dict(everything_wrong, external_id="u")) == "'name' must not be empty"
    assert event_error(dict(everything_wrong, external_id="u", name="e")).startswith("'time'")
    bad = {"external_id": "u", "name": "e", "time": "2013-07-16", "app_id": "nope"}
    assert event_error(dict(bad, properties={"time": 1})).startswith("'app_id'")
    purchase_bad = purchase(product_id="", currency="x", price="x", quantity=0, time="x")
    assert purchase_error(purchase_bad) == "'product_id' must not be empty"
    assert purchase_error(dict(purchase_bad, product_id="p")).startswith("'currency'")
    assert purchase_error(dict(purchase_bad, product_id="p", currency="usd")).startswith("'price'")
    assert purchase_error(dict(purchase_bad, product_id="p", currency="usd", price=1)).startswith(
        "'quantity'"
    )
    assert purchase_error(
        dict(purchase_bad, product_id="p", currency="usd", price=1, quantity=1)
    ).startswith("'time'")


def test_validation_does_not_modify_the_input() -> None:
    obj = event(properties={f"p{i}": i for i in range(300)})
    snapshot = json.dumps(obj)
    ok_event(obj)
    assert json.dumps(obj) == snapshot
    pobj = purchase(currency="usd")
    ok_purchase(pobj)
    assert pobj["currency"] == "usd"
