"""Filter trees compiled to closures: the evaluator's fast path (same answers as `evaluate`).

The evaluator checks every segment of a workspace for every user it touches, so dispatching
on node types per check is the bulk of its CPU time; a compiled check does that dispatch once.
Groups also stop early when a child's answer settles them for good: an `and` with a child that
is false and cannot change by time alone (no re-check instant) is false until the user's data
changes, whatever its other children say (likewise an `or` with such a true child).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from heron.ingest.attribute_values import array_item_key
from heron.segments.definition import AppLeaf, AttributeLeaf, Group, HistoryLeaf, Node
from heron.segments.evaluate import DAY_MS, Facts, evaluate

__all__ = ["Check", "compile_filter"]

Check = Callable[[Facts, int], tuple[bool, int | None]]
_NUMBER = (int, float)


def compile_filter(node: Node) -> Check:
    """A function giving `evaluate(node, facts, now)` for any facts and instant."""
    if isinstance(node, Group):
        return _group(node)
    if isinstance(node, AttributeLeaf):
        fast = _attribute(node)
        if fast is not None:
            return fast
    if isinstance(node, AppLeaf):
        app_id, used = node.app_id, node.used
        return lambda facts, now: ((app_id in facts.apps) == used, None)
    if isinstance(node, HistoryLeaf) and node.op.startswith("count"):
        return _windowed_count(node) if node.within_days else _count(node)
    return lambda facts, now: evaluate(node, facts, now)


def _group(node: Group) -> Check:
    """All or any of the children, with the early stop described above."""
    checks = [compile_filter(child) for child in node.children]
    settles = not node.all  # the answer a settled child gives: False for and, True for or

    def check(facts: Facts, now: int) -> tuple[bool, int | None]:
        nxt: int | None = None
        answer = not settles
        for child in checks:
            hit, when = child(facts, now)
            if hit is settles:
                if when is None:
                    return settles, None
                answer = settles
            if when is not None and (nxt is None or when < nxt):
                nxt = when
        return answer, nxt

    return check


def _key(value: Any) -> Any:
    """The comparison key of a scalar (None for values no scalar equals)."""
    if value is None or isinstance(value, dict | list):
        return None
    return array_item_key(value)


def _attribute(leaf: AttributeLeaf) -> Check | None:
    """Closures for the attribute operators that do not depend on time."""
    name, op, wanted = leaf.name, leaf.op, leaf.value
    document = "standard" if leaf.standard else "custom"

    def get(facts: Facts) -> Any:
        return getattr(facts, document).get(name)

    if op == "exists":
        return lambda facts, now: (get(facts) is not None, None)
    if op == "does_not_exist":
        return lambda facts, now: (get(facts) is None, None)
    if op in ("equals", "not_equals"):
        key = array_item_key(wanted)
        expect = op == "equals"

        def equals(facts: Facts, now: int) -> tuple[bool, int | None]:
            value = get(facts)
            same = value is not None and _key(value) == key
            return same is expect, None

        return equals
    if op in ("greater_than", "less_than"):
        greater = op == "greater_than"

        def compare(facts: Facts, now: int) -> tuple[bool, int | None]:
            value = get(facts)
            if type(value) not in _NUMBER:
                return False, None
            return (value > wanted if greater else value < wanted), None

        return compare
    if op in ("includes_value", "does_not_include_value"):
        key = array_item_key(wanted)
        expect = op == "includes_value"

        def includes(facts: Facts, now: int) -> tuple[bool, int | None]:
            value = get(facts)
            found = isinstance(value, list) and any(_key(item) == key for item in value)
            return found is expect, None

        return includes
    return None


def _count(leaf: HistoryLeaf) -> Check:
    """Count operators without a window: no time dependence."""
    name, op, wanted = leaf.name, leaf.op, leaf.value
    purchase = leaf.purchase

    def count(facts: Facts, now: int) -> tuple[bool, int | None]:
        stats = (facts.purchases if purchase else facts.events).get(name)  # type: ignore[arg-type]
        n = stats[0] if stats else 0
        if op == "count_greater_than":
            return n > wanted, None
        if op == "count_less_than":
            return n < wanted, None
        return n == wanted, None

    return count


def _windowed_count(leaf: HistoryLeaf) -> Check:
    """Count operators within the last Y days: the answer lapses as the oldest counted ages."""
    name, op, wanted, purchase = leaf.name, leaf.op, leaf.value, leaf.purchase
    span = (leaf.within_days or 0) * DAY_MS

    def count(facts: Facts, now: int) -> tuple[bool, int | None]:
        times = (facts.purchase_times if purchase else facts.event_times).get(name)  # type: ignore[arg-type]
        n = 0
        nxt: int | None = None
        if times:
            since = now - span
            oldest: int | None = None
            for t in times:
                if t >= since:
                    n += 1
                    if oldest is None or t < oldest:
                        oldest = t
            if oldest is not None:
                nxt = oldest + span + 1
        if op == "count_greater_than":
            return n > wanted, nxt
        if op == "count_less_than":
            return n < wanted, nxt
        return n == wanted, nxt

    return count
