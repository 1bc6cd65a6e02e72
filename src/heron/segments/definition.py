"""Segment filter trees: parse and validate the JSON form into typed nodes (pure, no I/O).

A filter is a tree of `{"and": [...]}` / `{"or": [...]}` groups over leaves:

- `{"standard_attribute": "country", "op": "equals", "value": "US"}`
- `{"custom_attribute": "plan", "op": "includes_value", "value": "gold"}`
- `{"custom_event": "Played", "op": "count_greater_than", "value": 3, "within_last_days": 7}`
- `{"purchase": "sku-1", "op": "last_less_than_days_ago", "value": 30}` (`null`: any product)
- `{"app": "<app identifier>", "op": "used"}`

Every refusal names the node it is about as a JSON path (`$.filter.and[2].op`), so a client
can point at the mistake. See docs/segments.md for each operator's meaning.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from heron.ingest.attribute_values import is_finite_number
from heron.ingest.timefmt import parse_datetime_value

__all__ = [
    "ATTRIBUTE_OPS",
    "HISTORY_OPS",
    "STANDARD_ATTRIBUTES",
    "AppLeaf",
    "AttributeLeaf",
    "DefinitionError",
    "Group",
    "HistoryLeaf",
    "Node",
    "describe",
    "parse_filter",
    "referenced",
]

MAX_DEPTH = 10
MAX_NODES = 200
MAX_NAME_LENGTH = 255
MAX_DAYS = 36_500
# Braze: "X (max 50) times in last Y days (Y in 1, 3, 7, 14, 21, 30)"
WINDOW_DAYS = (1, 3, 7, 14, 21, 30)
MAX_WINDOW_COUNT = 50

STANDARD_ATTRIBUTES = (
    "country",
    "date_of_first_session",
    "date_of_last_session",
    "dob",
    "email",
    "email_subscribe",
    "first_name",
    "gender",
    "home_city",
    "language",
    "last_name",
    "phone",
    "push_subscribe",
    "time_zone",
)

# op -> kind of `value` it takes: scalar, number, none, date, days
ATTRIBUTE_OPS: dict[str, str] = {
    "equals": "scalar",
    "not_equals": "scalar",
    "greater_than": "number",
    "less_than": "number",
    "exists": "none",
    "does_not_exist": "none",
    "includes_value": "scalar",
    "does_not_include_value": "scalar",
    "before": "date",
    "after": "date",
    "within_last_days": "days",
    "more_than_days_ago": "days",
}

HISTORY_OPS: dict[str, str] = {
    "count_greater_than": "count",
    "count_less_than": "count",
    "count_equals": "count",
    "first_before": "date",
    "first_after": "date",
    "last_before": "date",
    "last_after": "date",
    "first_more_than_days_ago": "days",
    "first_less_than_days_ago": "days",
    "last_more_than_days_ago": "days",
    "last_less_than_days_ago": "days",
}

APP_OPS = ("used", "not_used")
_LEAF_KEYS = ("standard_attribute", "custom_attribute", "custom_event", "purchase", "app")


class DefinitionError(ValueError):
    """An invalid filter; `path` is the JSON path of the offending node."""

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = path
        self.problem = problem


@dataclass(frozen=True, slots=True)
class AttributeLeaf:
    """A condition on one standard or custom attribute of the profile."""

    standard: bool
    name: str
    op: str
    value: Any  # scalar, number, epoch ms (date ops), days, or None


@dataclass(frozen=True, slots=True)
class HistoryLeaf:
    """A condition on one custom event's (or product's) history; name None = any product."""

    purchase: bool
    name: str | None
    op: str
    value: int  # count, epoch ms (date ops) or days
    within_days: int | None = None


@dataclass(frozen=True, slots=True)
class AppLeaf:
    """Whether the user has used an app (tracked an event or purchase with its app_id)."""

    app_id: str
    used: bool


@dataclass(frozen=True, slots=True)
class Group:
    """All (`and`) or any (`or`) of the children hold."""

    all: bool
    children: tuple[Node, ...]


Node = Group | AttributeLeaf | HistoryLeaf | AppLeaf


def parse_filter(
    raw: object, path: str = "$.filter", known_apps: frozenset[str] | None = None
) -> Node:
    """Parse a filter tree, or raise DefinitionError naming the bad node.

    With `known_apps`, an app filter must name one of them (the workspace's app identifiers).
    """
    counter = [0]
    return _node(raw, path, 1, counter, known_apps)


def _node(
    raw: object, path: str, depth: int, counter: list[int], apps: frozenset[str] | None
) -> Node:
    """One node of the tree."""
    counter[0] += 1
    if counter[0] > MAX_NODES:
        raise DefinitionError(path, f"a filter may hold at most {MAX_NODES} nodes")
    if depth > MAX_DEPTH:
        raise DefinitionError(path, f"filters nest at most {MAX_DEPTH} levels deep")
    if not isinstance(raw, dict):
        raise DefinitionError(path, "must be an object")
    groups = [key for key in ("and", "or") if key in raw]
    if groups:
        if len(raw) != 1:
            raise DefinitionError(path, "a group holds exactly one key, 'and' or 'or'")
        key = groups[0]
        children = raw[key]
        if not isinstance(children, list) or not children:
            raise DefinitionError(f"{path}.{key}", "must be a non-empty array of filters")
        return Group(
            key == "and",
            tuple(
                _node(child, f"{path}.{key}[{i}]", depth + 1, counter, apps)
                for i, child in enumerate(children)
            ),
        )
    kinds = [key for key in _LEAF_KEYS if key in raw]
    if len(kinds) != 1:
        raise DefinitionError(
            path, "must be a group ('and' / 'or') or hold exactly one of " + ", ".join(_LEAF_KEYS)
        )
    kind = kinds[0]
    allowed = {kind, "op", "value", "within_last_days"}
    extra = sorted(set(raw) - allowed)
    if extra:
        raise DefinitionError(f"{path}.{extra[0]}", "is not a filter field")
    if kind in ("standard_attribute", "custom_attribute"):
        return _attribute(raw, path, kind)
    if kind == "app":
        leaf = _app(raw, path)
        if apps is not None and leaf.app_id not in apps:
            raise DefinitionError(
                f"{path}.app", "is not the identifier of an app of this workspace"
            )
        return leaf
    return _history(raw, path, kind)


def _name(raw: dict[str, Any], path: str, key: str) -> str:
    """A non-empty name of at most 255 characters."""
    name = raw[key]
    if not isinstance(name, str) or not name or len(name) > MAX_NAME_LENGTH or "\x00" in name:
        raise DefinitionError(
            f"{path}.{key}", f"must be a non-empty string of at most {MAX_NAME_LENGTH} characters"
        )
    return name


def _op(raw: dict[str, Any], path: str, ops: tuple[str, ...] | list[str]) -> str:
    """The `op` field, one of `ops`."""
    op = raw.get("op")
    if op not in ops:
        raise DefinitionError(f"{path}.op", "must be one of " + ", ".join(ops))
    assert isinstance(op, str)
    return op


def _date(value: object, path: str) -> int:
    """An ISO 8601 date or date-time as epoch ms (a date is its UTC midnight)."""
    if isinstance(value, str):
        text = value + "T00:00:00Z" if len(value) == 10 else value
        ms = parse_datetime_value(text)
        if ms is not None:
            return ms
    raise DefinitionError(path, "must be an ISO 8601 date (2026-01-31) or date-time")


def _days(value: object, path: str) -> int:
    """A whole number of days, 1 to MAX_DAYS."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_DAYS:
        raise DefinitionError(path, f"must be an integer number of days from 1 to {MAX_DAYS}")
    return value


def _attribute(raw: dict[str, Any], path: str, kind: str) -> AttributeLeaf:
    """A standard or custom attribute condition."""
    standard = kind == "standard_attribute"
    name = _name(raw, path, kind)
    if standard and name not in STANDARD_ATTRIBUTES:
        raise DefinitionError(f"{path}.{kind}", "must be one of " + ", ".join(STANDARD_ATTRIBUTES))
    op = _op(raw, path, list(ATTRIBUTE_OPS))
    if "within_last_days" in raw:
        raise DefinitionError(f"{path}.within_last_days", "applies to event and purchase counts")
    takes = ATTRIBUTE_OPS[op]
    value_path = f"{path}.value"
    value = raw.get("value")
    if takes == "none":
        if "value" in raw:
            raise DefinitionError(value_path, f"'{op}' takes no value")
        return AttributeLeaf(standard, name, op, None)
    if "value" not in raw:
        raise DefinitionError(value_path, f"'{op}' needs a value")
    if takes == "scalar":
        if not (isinstance(value, str | bool) or is_finite_number(value)):
            raise DefinitionError(value_path, "must be a string, number or boolean")
        if isinstance(value, str) and len(value) > MAX_NAME_LENGTH:
            raise DefinitionError(value_path, f"must be at most {MAX_NAME_LENGTH} characters")
    elif takes == "number":
        if not is_finite_number(value):
            raise DefinitionError(value_path, "must be a number")
    elif takes == "date":
        value = _date(value, value_path)
    else:
        value = _days(value, value_path)
    return AttributeLeaf(standard, name, op, value)


def _history(raw: dict[str, Any], path: str, kind: str) -> HistoryLeaf:
    """A custom event or purchase condition."""
    purchase = kind == "purchase"
    name: str | None
    name = None if purchase and raw[kind] is None else _name(raw, path, kind)
    op = _op(raw, path, list(HISTORY_OPS))
    takes = HISTORY_OPS[op]
    value_path = f"{path}.value"
    if "value" not in raw:
        raise DefinitionError(value_path, f"'{op}' needs a value")
    value = raw["value"]
    within: int | None = None
    if takes == "count":
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 2**31:
            raise DefinitionError(value_path, "must be a non-negative integer count")
        if "within_last_days" in raw:
            within = raw["within_last_days"]
            if within not in WINDOW_DAYS or isinstance(within, bool):
                raise DefinitionError(
                    f"{path}.within_last_days",
                    "must be one of " + ", ".join(map(str, WINDOW_DAYS)),
                )
            if value > MAX_WINDOW_COUNT:
                raise DefinitionError(
                    value_path, f"counts within the last days go up to {MAX_WINDOW_COUNT}"
                )
        return HistoryLeaf(purchase, name, op, value, within)
    if "within_last_days" in raw:
        raise DefinitionError(f"{path}.within_last_days", "applies to count operators only")
    if takes == "date":
        return HistoryLeaf(purchase, name, op, _date(value, value_path))
    return HistoryLeaf(purchase, name, op, _days(value, value_path))


def _app(raw: dict[str, Any], path: str) -> AppLeaf:
    """An app usage condition."""
    app_id = _name(raw, path, "app")
    op = _op(raw, path, APP_OPS)
    for key in ("value", "within_last_days"):
        if key in raw:
            raise DefinitionError(f"{path}.{key}", "app filters take no value")
    return AppLeaf(app_id, op == "used")


@dataclass(frozen=True, slots=True)
class References:
    """What a filter reads: event names, product names (None = any), app ids, attribute use."""

    events: frozenset[str]
    products: frozenset[str | None]
    apps: frozenset[str]
    max_event_window: int  # the longest `within_last_days` of an event count (0: none)
    max_purchase_window: int


def referenced(node: Node) -> References:
    """Collect what a tree refers to (for loading only the history it needs)."""
    events: set[str] = set()
    products: set[str | None] = set()
    apps: set[str] = set()
    windows = [0, 0]

    def walk(n: Node) -> None:
        if isinstance(n, Group):
            for child in n.children:
                walk(child)
        elif isinstance(n, HistoryLeaf):
            if n.purchase:
                products.add(n.name)
            else:
                assert n.name is not None
                events.add(n.name)
            if n.within_days:
                windows[int(n.purchase)] = max(windows[int(n.purchase)], n.within_days)
        elif isinstance(n, AppLeaf):
            apps.add(n.app_id)

    walk(node)
    return References(frozenset(events), frozenset(products), frozenset(apps), *windows)


def _when(ms: int) -> str:
    """An epoch-ms instant for a description."""
    moment = datetime.fromtimestamp(ms / 1000, UTC)
    if moment.hour == moment.minute == moment.second == 0:
        return moment.date().isoformat()
    return moment.isoformat().replace("+00:00", "Z")


def describe(node: Node) -> str:
    """A human-readable description of a filter (what `/segments/details` shows)."""
    if isinstance(node, Group):
        joiner = " AND " if node.all else " OR "
        parts = [describe(child) for child in node.children]
        text = joiner.join(f"({p})" if " AND " in p or " OR " in p else p for p in parts)
        return text
    if isinstance(node, AppLeaf):
        return f"{'Has' if node.used else 'Has not'} used app {node.app_id}"
    if isinstance(node, AttributeLeaf):
        kind = "" if node.standard else "custom attribute "
        words = node.op.replace("_", " ")
        if node.op in ("exists", "does_not_exist"):
            return f"{kind}{node.name} {words}"
        value: Any = node.value
        if node.op in ("before", "after"):
            value = _when(node.value)
        elif node.op in ("within_last_days", "more_than_days_ago"):
            words = words.replace(" days", "")
            return f"{kind}{node.name} {words} {node.value} days"
        return f"{kind}{node.name} {words} {value!r}"
    subject = (
        ("Purchased " + (repr(node.name) if node.name is not None else "any product"))
        if node.purchase
        else f"Performed custom event {node.name!r}"
    )
    what, _, rest = node.op.partition("_")
    if what == "count":
        text = f"{subject} {rest.replace('_', ' ')} {node.value} times"
        if node.within_days:
            text += f" in the last {node.within_days} days"
        return text
    detail = rest.replace("_", " ")
    value_text = _when(node.value) if HISTORY_OPS[node.op] == "date" else str(node.value)
    if detail.endswith("days ago"):
        detail = detail[: -len("days ago")] + value_text + " days ago"
        return f"{subject}, {what} time {detail}"
    return f"{subject}, {what} time {detail} {value_text}"
