"""Validation of `/users/track` event and purchase objects into storage records (spec §4).

Pure functions on the hot path: one raw JSON object in, one record or one Braze-style human
error message out. Checks run in a fixed order (identifier, `_update_existing_only`, the
object's own required fields, `time`, `app_id`, `properties`) and the first failure wins.
Unknown keys are ignored, as Braze does.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from heron.ingest.currencies import normalize_currency
from heron.ingest.identifiers import parse_user_ref, update_existing_only
from heron.ingest.properties import validate_properties
from heron.ingest.records import EventRecord, PurchaseRecord
from heron.ingest.timefmt import parse_event_time

__all__ = [
    "EVENT_MAX_NESTED_BYTES",
    "MAX_NAME_LENGTH",
    "MAX_QUANTITY",
    "PURCHASE_MAX_NESTED_BYTES",
    "validate_event",
    "validate_purchase",
]

EVENT_MAX_NESTED_BYTES = 102_400  # 100 KB: event object page and release note
PURCHASE_MAX_NESTED_BYTES = 51_200  # 50 KB: purchase object page
MAX_NAME_LENGTH = 255  # event name and product_id
MAX_QUANTITY = 100
_QUOTED_VALUE_MAX = 64  # echoed app_id values are shortened past this


def validate_event(obj: object, now_ms: int, apps: Mapping[str, int]) -> EventRecord | str:
    """Turn one raw event object into an EventRecord, or return its error message."""
    if type(obj) is not dict:
        return "event must be an object"
    ref = parse_user_ref(obj)
    if isinstance(ref, str):
        return ref
    update_only = update_existing_only(obj, ref, alias_may_create=False)
    if isinstance(update_only, str):
        return update_only
    name = obj.get("name")
    if type(name) is not str or not name or len(name) > MAX_NAME_LENGTH or "\x00" in name:
        return _bad_name("name", name)
    try:
        time_ms = _time_ms(obj, now_ms)
        app = _app(obj, apps)
        properties, types = validate_properties(
            obj.get("properties"), max_nested_bytes=EVENT_MAX_NESTED_BYTES
        )
    except ValueError as exc:
        return str(exc)
    return EventRecord(ref, update_only, app, name, time_ms, properties, types)


def validate_purchase(obj: object, now_ms: int, apps: Mapping[str, int]) -> PurchaseRecord | str:
    """Turn one raw purchase object into a PurchaseRecord, or return its error message."""
    if type(obj) is not dict:
        return "purchase must be an object"
    ref = parse_user_ref(obj)
    if isinstance(ref, str):
        return ref
    update_only = update_existing_only(obj, ref, alias_may_create=False)
    if isinstance(update_only, str):
        return update_only
    product_id = obj.get("product_id")
    if (
        type(product_id) is not str
        or not product_id
        or len(product_id) > MAX_NAME_LENGTH
        or "\x00" in product_id
    ):
        return _bad_name("product_id", product_id)
    currency = _currency(obj.get("currency"))
    if currency is None:
        return _bad_currency(obj.get("currency"))
    try:
        price = _price(obj.get("price"))
        quantity = _quantity(obj.get("quantity"))
        time_ms = _time_ms(obj, now_ms)
        app = _app(obj, apps)
        properties, types = validate_properties(
            obj.get("properties"), max_nested_bytes=PURCHASE_MAX_NESTED_BYTES
        )
    except ValueError as exc:
        return str(exc)
    return PurchaseRecord(
        ref,
        update_only,
        app,
        product_id,
        currency,
        price,
        quantity,
        time_ms,
        properties,
        types,
    )


def _time_ms(obj: dict[str, Any], now_ms: int) -> int:
    """Parse the required `time` and clamp a future time to now, as Braze does."""
    raw = obj.get("time")
    if raw is None:
        raise ValueError("'time' is required")
    time_ms = parse_event_time(raw)
    return now_ms if time_ms > now_ms else time_ms


def _app(obj: dict[str, Any], apps: Mapping[str, int]) -> int | None:
    """Map the optional `app_id` (an app identifier of this workspace) to heron's app key."""
    app_id = obj.get("app_id")
    if app_id is None:
        return None
    if type(app_id) is not str:
        raise ValueError("'app_id' must be a string")
    app = apps.get(app_id)
    if app is None:
        shown = app_id if len(app_id) <= _QUOTED_VALUE_MAX else app_id[:_QUOTED_VALUE_MAX] + "..."
        raise ValueError(f"'app_id' '{shown}' is not an app of this workspace")
    return app


def _bad_name(field: str, value: object) -> str:
    """Explain why a required name-like string field (`name`, `product_id`) is invalid."""
    if value is None:
        return f"'{field}' is required"
    if type(value) is not str:
        return f"'{field}' must be a string"
    if not value:
        return f"'{field}' must not be empty"
    if len(value) > MAX_NAME_LENGTH:
        return f"'{field}' must be at most {MAX_NAME_LENGTH} characters"
    return f"'{field}' must not contain NUL characters"  # PostgreSQL text cannot hold them


def _currency(value: object) -> str | None:
    """Return the upper-case ISO 4217 code of `currency`, or None when it is not one."""
    if type(value) is not str:
        return None
    return normalize_currency(value)


def _bad_currency(value: object) -> str:
    """Explain why `currency` is invalid."""
    if value is None:
        return "'currency' is required"
    if type(value) is not str:
        return "'currency' must be a string"
    return "'currency' must be an ISO 4217 alphabetic currency code"


# Above any real price in any currency, and small enough that revenue sums (price x quantity
# added up per hour) can never overflow a double.
MAX_ABS_PRICE = 1e15


def _price(value: object) -> float:
    """Check the required `price`: a number within +-MAX_ABS_PRICE (negative for refunds)."""
    if value is None:
        raise ValueError("'price' is required")
    if type(value) is float:
        if -MAX_ABS_PRICE <= value <= MAX_ABS_PRICE:
            return value
    elif type(value) is int:
        if -MAX_ABS_PRICE <= value <= MAX_ABS_PRICE:
            return float(value)
    else:
        raise ValueError("'price' must be a number")
    raise ValueError("'price' must be a finite number of at most 1e15 in absolute value")


def _quantity(value: object) -> int:
    """Check the optional `quantity`: an integer 1..100, default 1 (Braze's documented limit)."""
    if value is None:
        return 1
    if type(value) is not int:
        raise ValueError("'quantity' must be an integer")
    if not 1 <= value <= MAX_QUANTITY:
        raise ValueError(f"'quantity' must be between 1 and {MAX_QUANTITY}")
    return value
