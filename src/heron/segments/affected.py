"""Which segments a user's new events and purchases can change, by catalog id.

A new event can change only the segments that name its custom event, or its app (when the row
carries that app's `app_id`); a purchase only those that name its product, any product, or its
app. Among those, a segment whose every leaf on that input rises with more rows
(heron.segments.rising) cannot lose a member through it: such a segment is a *hit* but not a
*fall*, and the evaluator skips it for users who are already members.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy.engine import Connection

from heron.segments.definition import References
from heron.segments.rising import Rising
from heron.store.driver import fetch, mark

__all__ = ["Affected", "Hits"]

Hits = tuple[frozenset[int], frozenset[int]]  # segment indices changed, and those it may leave
_NONE: Hits = (frozenset(), frozenset())


def _catalog_ids(
    conn: Connection, table: str, column: str, workspace_id: int, names: set[str]
) -> dict[str, list[int]]:
    """Catalog ids (custom events, products or apps) of the workspace by name."""
    if not names:
        return {}
    found: dict[str, list[int]] = defaultdict(list)
    mark_ = mark(conn)
    for item, name in fetch(
        conn,
        f"SELECT id, {column} FROM {table} WHERE workspace_id = {mark_} AND {column} IN "
        f"({','.join(mark_ for _ in names)})",
        [workspace_id, *sorted(names)],
    ):
        found[str(name)].append(int(item))
    return found


def _freeze(hits: dict[int, set[int]], falls: dict[int, set[int]]) -> dict[int, Hits]:
    """Per catalog id: frozen (hits, falls)."""
    return {item: (frozenset(hit), frozenset(falls.get(item, ()))) for item, hit in hits.items()}


class Affected:
    """The segments (indices into the workspace's history segments) each catalog id affects."""

    def __init__(
        self,
        conn: Connection,
        workspace_id: int,
        segments: Sequence[tuple[References, Rising]],
    ) -> None:
        """Resolve the names the segments refer to into catalog ids, once per step."""
        event_ids = _catalog_ids(
            conn,
            "custom_events",
            "name",
            workspace_id,
            {name for refs, _ in segments for name in refs.events},
        )
        product_ids = _catalog_ids(
            conn,
            "products",
            "name",
            workspace_id,
            {name for refs, _ in segments for name in refs.products if name is not None},
        )
        app_ids = _catalog_ids(
            conn, "apps", "api_id", workspace_id, {a for refs, _ in segments for a in refs.apps}
        )
        hits: dict[str, dict[int, set[int]]] = {k: defaultdict(set) for k in ("e", "p", "a")}
        falls: dict[str, dict[int, set[int]]] = {k: defaultdict(set) for k in ("e", "p", "a")}
        any_hits: set[int] = set()
        any_falls: set[int] = set()
        for i, (refs, up) in enumerate(segments):
            for kind, names, ids, rises in (
                ("e", refs.events, event_ids, up.events),
                ("a", refs.apps, app_ids, up.apps),
            ):
                for name in names:
                    for item in ids.get(name, ()):
                        hits[kind][item].add(i)
                        if name not in rises:
                            falls[kind][item].add(i)
            if None in refs.products:
                any_hits.add(i)
                if None not in up.products:
                    any_falls.add(i)
            for product in refs.products:
                for item in product_ids.get(product, ()) if product is not None else ():
                    hits["p"][item].add(i)
                    if product not in up.products:
                        falls["p"][item].add(i)
        for item in hits["p"]:  # a named product is also a purchase of any product
            hits["p"][item] |= any_hits
            falls["p"][item] |= any_falls
        self.events = _freeze(hits["e"], falls["e"])
        self.products = _freeze(hits["p"], falls["p"])
        self.apps = _freeze(hits["a"], falls["a"])
        self.any_product: Hits = (frozenset(any_hits), frozenset(any_falls))

    def of(
        self, events: Iterable[Sequence[Any]], purchases: Iterable[Sequence[Any]], workspace_id: int
    ) -> dict[int, tuple[set[int], set[int]]]:
        """Per user of the workspace's new rows ((id, workspace, user, app, item, ...)): the
        segment indices its rows can change, and those among them it can leave."""
        found: dict[int, tuple[set[int], set[int]]] = {}
        by_event, by_product, by_app = self.events, self.products, self.apps
        any_product = self.any_product

        def add(uid: int, entry: Hits) -> None:
            mine = found.get(uid)
            if mine is None:
                found[uid] = (set(entry[0]), set(entry[1]))
            else:
                mine[0].update(entry[0])
                mine[1].update(entry[1])

        for rows, table in ((events, by_event), (purchases, by_product)):
            fallback = any_product if table is by_product else _NONE
            for row in rows:
                if row[1] != workspace_id:
                    continue
                entry = table.get(row[4], fallback)
                if entry[0]:
                    add(row[2], entry)
                if by_app and row[3] is not None:
                    used = by_app.get(row[3])
                    if used is not None:
                        add(row[2], used)
        return found
