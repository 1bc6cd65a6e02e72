"""Evaluate a filter tree for one user at one instant (pure): membership, and until when it holds.

Besides the answer, evaluation returns the next instant at which the answer could change with
no new data from the user (a "within the last 7 days" condition lapses, a "more than 30 days
ago" one comes true). The consumer stores that instant and re-evaluates the user then, so
time-relative segments stay right without rescanning every user every day.

Semantics (docs/segments.md): a missing attribute matches only `not_equals`,
`does_not_exist` and `does_not_include_value`; numbers compare as numbers (1 == 1.0), booleans
only with booleans; a time attribute is an ISO 8601 string (custom times, `dob`); "in the last
N days" is `time >= now - N days`; "more than N days ago" is `time < now - N days`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from heron.ingest.attribute_values import array_item_key
from heron.ingest.timefmt import parse_datetime_value
from heron.segments.definition import AppLeaf, AttributeLeaf, Group, HistoryLeaf, Node

__all__ = ["DAY_MS", "Facts", "Stats", "evaluate", "time_value"]

DAY_MS = 86_400_000
Stats = tuple[int, int, int]  # count, first time, last time (epoch ms)


@dataclass(slots=True)
class Facts:
    """What evaluation knows of one user (only what the evaluated filters refer to)."""

    standard: dict[str, Any]
    custom: dict[str, Any]
    events: dict[str, Stats] = field(default_factory=dict)
    # times of events / purchases since the longest window any filter asks about
    event_times: dict[str, list[int]] = field(default_factory=dict)
    purchases: dict[str | None, Stats] = field(default_factory=dict)  # None: any product
    purchase_times: dict[str | None, list[int]] = field(default_factory=dict)
    apps: frozenset[str] = frozenset()


Result = tuple[bool, int | None]


def _earliest(a: int | None, b: int | None) -> int | None:
    """The earlier of two optional instants."""
    if a is None:
        return b
    if b is None:
        return a
    return min(a, b)


def evaluate(node: Node, facts: Facts, now_ms: int) -> Result:
    """(matches, next instant the answer may change by the passing of time alone, or None)."""
    if isinstance(node, Group):
        results = [evaluate(child, facts, now_ms) for child in node.children]
        answer = all(r[0] for r in results) if node.all else any(r[0] for r in results)
        nxt: int | None = None
        for _, when in results:
            nxt = _earliest(nxt, when)
        return answer, nxt
    if isinstance(node, AttributeLeaf):
        document = facts.standard if node.standard else facts.custom
        return _attribute(node, document.get(node.name), now_ms)
    if isinstance(node, HistoryLeaf):
        return _history(node, facts, now_ms)
    assert isinstance(node, AppLeaf)
    return (node.app_id in facts.apps) == node.used, None


def _is_number(value: Any) -> bool:
    """A JSON number (not a boolean)."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def _same(a: Any, b: Any) -> bool:
    """Equality of scalars the way Braze compares them (1 == 1.0, True != 1)."""
    if isinstance(a, dict | list) or isinstance(b, dict | list):
        return False
    return bool(array_item_key(a) == array_item_key(b))


def time_value(value: Any) -> int | None:
    """An attribute value as epoch ms when it is a time (ISO date or date-time string)."""
    if not isinstance(value, str):
        return None
    if len(value) == 10:
        value += "T00:00:00Z"
    return parse_datetime_value(value)


def _attribute(leaf: AttributeLeaf, value: Any, now_ms: int) -> Result:
    """One attribute condition."""
    op = leaf.op
    if op == "exists":
        return value is not None, None
    if op == "does_not_exist":
        return value is None, None
    if op == "equals":
        return value is not None and _same(value, leaf.value), None
    if op == "not_equals":
        return not (value is not None and _same(value, leaf.value)), None
    if op in ("greater_than", "less_than"):
        if not _is_number(value):
            return False, None
        return (value > leaf.value if op == "greater_than" else value < leaf.value), None
    if op in ("includes_value", "does_not_include_value"):
        found = isinstance(value, list) and any(_same(item, leaf.value) for item in value)
        return found == (op == "includes_value"), None
    moment = time_value(value)
    if moment is None:
        return False, None
    if op == "before":
        return moment < leaf.value, None
    if op == "after":
        return moment > leaf.value, None
    span = leaf.value * DAY_MS
    if op == "within_last_days":
        if moment > now_ms:
            return False, moment
        if now_ms <= moment + span:
            return True, moment + span + 1
        return False, None
    # more_than_days_ago
    if moment < now_ms - span:
        return True, None
    return False, moment + span + 1


def _history(leaf: HistoryLeaf, facts: Facts, now_ms: int) -> Result:
    """One custom event or purchase condition."""
    if leaf.purchase:
        stats = facts.purchases.get(leaf.name)
        times = facts.purchase_times.get(leaf.name, [])
    else:
        assert leaf.name is not None
        stats = facts.events.get(leaf.name)
        times = facts.event_times.get(leaf.name, [])
    what, _, rest = leaf.op.partition("_")
    if what == "count":
        nxt: int | None = None
        if leaf.within_days:
            since = now_ms - leaf.within_days * DAY_MS
            counted = [t for t in times if t >= since]
            count = len(counted)
            if counted:
                nxt = min(counted) + leaf.within_days * DAY_MS + 1
        else:
            count = stats[0] if stats else 0
        if rest == "greater_than":
            return count > leaf.value, nxt
        if rest == "less_than":
            return count < leaf.value, nxt
        return count == leaf.value, nxt
    if stats is None:
        return False, None
    moment = stats[1] if what == "first" else stats[2]
    if rest == "before":
        return moment < leaf.value, None
    if rest == "after":
        return moment > leaf.value, None
    span = leaf.value * DAY_MS
    if rest == "more_than_days_ago":
        if moment < now_ms - span:
            return True, None
        return False, moment + span + 1
    # less_than_days_ago: moment > now - span, i.e. now < moment + span
    if now_ms < moment + span:
        return True, moment + span
    return False, None
