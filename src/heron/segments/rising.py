"""Which inputs of a filter can only add members: new rows that cannot take a member out.

A filter is a tree of `and`/`or` groups (no negation), so it is monotone in its leaves. Some
leaves can only turn from false to true when a user tracks more events or purchases, whatever
their time: `count_greater_than` (with or without a window), `first_before`,
`first_more_than_days_ago` (the first time can only move earlier), `last_after`,
`last_less_than_days_ago` (the last time can only move later) and app `used`. When every leaf
of a segment that names an event (or product, or app) is of that kind, a user who is a member
and tracks more of it stays a member, and the instant at which time alone could take them out
only moves later; the evaluator need not evaluate that segment for them (heron.segments.consumer).
"""

from __future__ import annotations

from dataclasses import dataclass

from heron.segments.definition import AppLeaf, Group, HistoryLeaf, Node

__all__ = ["RISING_OPS", "Rising", "rising"]

RISING_OPS = frozenset(
    {
        "count_greater_than",
        "first_before",
        "first_more_than_days_ago",
        "last_after",
        "last_less_than_days_ago",
    }
)


@dataclass(frozen=True, slots=True)
class Rising:
    """The referenced events, products (None: any product) and apps whose every leaf rises."""

    events: frozenset[str]
    products: frozenset[str | None]
    apps: frozenset[str]


def rising(node: Node) -> Rising:
    """The inputs of `node` on which more rows can only make it true (see the module doc)."""
    up: dict[tuple[str, str | None], bool] = {}

    def walk(n: Node) -> None:
        if isinstance(n, Group):
            for child in n.children:
                walk(child)
        elif isinstance(n, HistoryLeaf):
            key = ("purchase" if n.purchase else "event", n.name)
            up[key] = up.get(key, True) and n.op in RISING_OPS
        elif isinstance(n, AppLeaf):
            key = ("app", n.app_id)
            up[key] = up.get(key, True) and n.used

    walk(node)
    return Rising(
        frozenset(str(name) for (kind, name), ok in up.items() if ok and kind == "event"),
        frozenset(name for (kind, name), ok in up.items() if ok and kind == "purchase"),
        frozenset(str(name) for (kind, name), ok in up.items() if ok and kind == "app"),
    )
