"""Validated `/users/track` objects: the contract between validation and storage.

Validation (`heron.ingest.validate_*`) turns one raw JSON object into one of these records or
into a human error message; the group-commit writer (`heron.ingest.writer`) stores records and
never re-checks them. Everything here is plain data, cheap to build and to pass between threads.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

IdentifierKind = Literal["external_id", "braze_id", "user_alias", "email", "phone"]


@dataclass(slots=True, frozen=True)
class UserRef:
    """How an object names its user; exactly one identifier, chosen by Braze's precedence.

    For `user_alias`, `value` is the alias name and `label` the alias label; for `email` the
    value is the address as sent (matching lower-cases it); for every other kind `label` is None.
    """

    kind: IdentifierKind
    value: str
    label: str | None = None


@dataclass(slots=True)
class EventRecord:
    """One custom-event occurrence, ready to store."""

    user: UserRef
    update_existing_only: bool
    app: int | None  # heron's internal app key (apps.id) or None when no app_id was sent
    name: str
    time_ms: int  # UTC epoch milliseconds, already clamped to "now" when in the future
    properties: str | None  # JSON text of the validated properties; None when absent or empty
    property_types: dict[str, str] = field(default_factory=dict)  # top-level name -> data type


@dataclass(slots=True)
class PurchaseRecord:
    """One purchase object (quantity kept as sent; revenue = price * quantity)."""

    user: UserRef
    update_existing_only: bool
    app: int | None
    product_id: str
    currency: str  # upper-case ISO 4217 alphabetic code
    price: float
    quantity: int
    time_ms: int
    properties: str | None
    property_types: dict[str, str] = field(default_factory=dict)


AttributeOpKind = Literal["set", "unset", "inc", "add", "remove"]


@dataclass(slots=True, frozen=True)
class AttributeOp:
    """One change to one custom attribute, applied in order.

    - `set`: value is the new JSON-compatible value (string, number, bool, time string, list,
      dict); `data_type` names its catalog type.
    - `unset`: remove the attribute (JSON `null`).
    - `inc`: value is an int/float to add (missing or non-numeric current value counts as 0).
    - `add` / `remove`: value is a list of items to append (de-duplicated, re-adding moves an
      item to the end) or to take out of an array attribute.
    """

    name: str
    kind: AttributeOpKind
    value: Any = None
    data_type: str | None = None


@dataclass(slots=True)
class AttributeRecord:
    """One user-attributes object: standard-field changes plus ordered custom-attribute ops.

    `standard` maps a standard field name (`first_name`, `email`, `country`, ...) to its
    normalized value, `None` meaning "remove". Identifier keys are not in `standard`.
    """

    user: UserRef
    update_existing_only: bool
    standard: dict[str, Any] = field(default_factory=dict)
    custom: list[AttributeOp] = field(default_factory=list)


@dataclass(slots=True, frozen=True)
class ObjectError:
    """A non-fatal error for one object of a `/users/track` array, in Braze's response shape."""

    type: str
    input_array: Literal["attributes", "events", "purchases"]
    index: int
