"""The three governed catalogs (custom events, custom attributes, products) and their statuses."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Table

from heron.ingest.attribute_values import MAX_STRING_LENGTH
from heron.ingest.events import MAX_NAME_LENGTH
from heron.store.schema import custom_attributes, custom_events, products

# Statuses. Braze documents only "Active"; the dashboard's other states are spelled like it.
ACTIVE = "Active"
BLOCKLISTED = "Blocklisted"
TRASHED = "Trashed"
# Internal, never shown: being purged (data deletion in progress), and purged (a tombstone
# keeping the row's id, so every process's cached catalog ids stay right when the name is reused).
PURGING = "Purging"
PURGED = "Purged"

LISTED = (ACTIVE, BLOCKLISTED, TRASHED)  # what /events and /custom_attributes show
DROPPED = (BLOCKLISTED, TRASHED, PURGING)  # what /users/track drops

DAY_MS = 86_400_000
BLOCKLISTED_DAYS_BEFORE_TRASH = 7  # Braze: blocklisted at least 7 days before deletion
TRASHED_DAYS_BEFORE_PURGE = 7  # Braze: Trashed (restorable) for 7 days, then removed
MAX_BLOCKLISTED = 300  # Braze: per workspace, for events and for attributes (Trashed included)
MAX_NAMES_PER_REQUEST = 100  # Braze's bulk selection in the dashboard
MAX_DESCRIPTION_LENGTH = 5_000
MAX_TAGS = 50
MAX_TAG_LENGTH = 255

# Data types heron's ingest records for custom attributes (heron.ingest.custom_attributes).
ATTRIBUTE_DATA_TYPES = ("String", "Number", "Boolean", "Time", "Array", "Object", "Object Array")


@dataclass(frozen=True, slots=True)
class Kind:
    """One governed catalog: its table, names in the API, and what it supports."""

    key: str  # path segment and response key: /heron/v1/<key>, {"<key>": [...]}
    table: Table
    singular: str  # in messages: "custom event 'x' ..."
    item_key: str  # one item in a response: {"<item_key>": {...}}
    input_array: str  # the /users/track array its objects arrive in
    trashable: bool
    max_name_length: int
    max_blocklisted: int | None

    def name_error(self, name: object) -> str | None:
        """Why `name` cannot be a name of this catalog, or None when it can."""
        if not isinstance(name, str) or not name:
            return "name must be a non-empty string"
        if len(name) > self.max_name_length:
            return f"name must be at most {self.max_name_length} characters"
        if "\x00" in name:
            return "name must not contain NUL characters"
        if self is ATTRIBUTES and name.startswith("$"):
            return "custom attribute names must not start with '$'"
        return None


EVENTS = Kind(
    "events",
    custom_events,
    "custom event",
    "event",
    "events",
    trashable=True,
    max_name_length=MAX_NAME_LENGTH,
    max_blocklisted=MAX_BLOCKLISTED,
)
ATTRIBUTES = Kind(
    "custom_attributes",
    custom_attributes,
    "custom attribute",
    "custom_attribute",
    "attributes",
    trashable=True,
    max_name_length=MAX_STRING_LENGTH,
    max_blocklisted=MAX_BLOCKLISTED,
)
PRODUCTS = Kind(
    "products",
    products,
    "product",
    "product",
    "purchases",
    trashable=False,
    max_name_length=MAX_NAME_LENGTH,
    max_blocklisted=None,
)
KINDS: dict[str, Kind] = {kind.key: kind for kind in (EVENTS, ATTRIBUTES, PRODUCTS)}
