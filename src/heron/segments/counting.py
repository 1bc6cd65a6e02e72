"""Tracked segments' rollups: a step's events and purchases summed in Python, then upserted.

Each row of the step counts once for every tracked segment its user is a member of (membership
as this step leaves it) and whose tracking began before the row (`id > tracking_*_after`),
under four keys for purchases (its product and any product, its app and all apps) and two for
events (its app and all apps; app-less rows only under all apps). Events are summed per
(segment, event, app, 15-minute bucket) and the all-apps keys added up from those distinct
keys; purchases (far fewer) add their four keys row by row. Only the distinct keys are
written: multi-row `INSERT ... ON CONFLICT DO UPDATE` blocks on SQLite (heron.store.bulk), one
`unnest` statement on PostgreSQL. A step of many rows therefore writes far fewer keys than
rows: the segments times the popular events, apps and buckets.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from typing import Any

from sqlalchemy.engine import Connection

from heron.store.bulk import insert_rows
from heron.store.driver import raw_cursor
from heron.store.schema import ALL_APPS, ALL_PRODUCTS

__all__ = [
    "BUCKET_MS",
    "EventRow",
    "EventTotals",
    "PurchaseRow",
    "PurchaseTotals",
    "bucket_start",
    "members_of",
    "sum_events",
    "sum_purchases",
    "write_event_totals",
    "write_purchase_totals",
]

BUCKET_MS = 900_000  # 15-minute UTC buckets; the stored key is the bucket start in epoch seconds
_TO_SECONDS = BUCKET_MS // 1000

# (id, workspace, user, app, event id, time_ms)
EventRow = tuple[int, int, int, int | None, int, int]
# (id, workspace, user, app, product id, time_ms, quantity, price)
PurchaseRow = tuple[int, int, int, int | None, int, int, int, float]
Segments = Callable[[int, int], Sequence[int]]  # (user, row id) -> tracked segments counting it

_EVENT_HEAD = "INSERT INTO segment_event_rollups (segment_id, event_id, app_id, bucket, count)"
_EVENT_TAIL = (
    " ON CONFLICT (segment_id, event_id, app_id, bucket) "
    "DO UPDATE SET count = segment_event_rollups.count + excluded.count"
)
_PURCHASE_HEAD = (
    "INSERT INTO segment_purchase_rollups (segment_id, product_id, app_id, bucket, purchases, "
    "quantity, revenue)"
)
_PURCHASE_TAIL = (
    " ON CONFLICT (segment_id, product_id, app_id, bucket) DO UPDATE "
    "SET purchases = segment_purchase_rollups.purchases + excluded.purchases, "
    "quantity = segment_purchase_rollups.quantity + excluded.quantity, "
    "revenue = segment_purchase_rollups.revenue + excluded.revenue"
)
_PG_EVENTS = (
    f"{_EVENT_HEAD} SELECT * FROM unnest(%s::integer[], %s::integer[], %s::integer[], "
    f"%s::bigint[], %s::bigint[]){_EVENT_TAIL}"
)
_PG_PURCHASES = (
    f"{_PURCHASE_HEAD} SELECT * FROM unnest(%s::integer[], %s::integer[], %s::integer[], "
    f"%s::bigint[], %s::bigint[], %s::bigint[], %s::double precision[]){_PURCHASE_TAIL}"
)


def members_of(members: Mapping[int, frozenset[int]], after: Mapping[int, int]) -> Segments:
    """A lookup of the tracked segments counting a user's row.

    `members`: segment ids per user (as the step leaves them); `after`: the tracked segments'
    `tracking_*_after` ids. Rows above the highest start count for all of a user's tracked
    segments; the lookup checks each segment's own start only below it.
    """
    tracked = frozenset(after)
    cut = max(after.values(), default=0)
    of_set: dict[AbstractSet[int], tuple[int, ...]] = {}  # users share their sets' objects
    of_user: dict[int, tuple[int, ...]] = {}
    for uid, sids in members.items():
        found = of_set.get(sids)
        if found is None:
            found = of_set[sids] = tuple(sids & tracked)
        of_user[uid] = found
    none: tuple[int, ...] = ()

    def lookup(uid: int, row_id: int) -> Sequence[int]:
        found = of_user.get(uid, none)
        if row_id > cut or not found:
            return found
        return tuple(sid for sid in found if row_id > after[sid])

    return lookup


def bucket_start(time_ms: int) -> int:
    """The start, in epoch seconds, of the 15-minute bucket of an epoch-ms time (floored, so
    times before 1970 fall in the bucket below them, as the SQL rollups did)."""
    return (time_ms // BUCKET_MS) * _TO_SECONDS


EventTotals = dict[tuple[int, int, int, int], int]  # (segment, event, app, bucket) -> count
PurchaseTotals = dict[tuple[int, int, int, int], list[Any]]  # -> [purchases, quantity, revenue]


def sum_events(rows: Sequence[EventRow], segments: Segments) -> EventTotals:
    """The rollup increments of the rows, per distinct key (no database work).

    Sums go per (segment, event, app or None, bucket) first; the all-apps keys are then added
    up from those distinct keys rather than row by row.
    """
    by_app: dict[tuple[int, int, int | None, int], int] = defaultdict(int)
    for row_id, _, uid, app, item, time_ms in rows:  # the hot loop
        bucket = time_ms // BUCKET_MS
        for sid in segments(uid, row_id):
            by_app[(sid, item, app, bucket)] += 1
    totals: EventTotals = defaultdict(int)
    for (sid, item, app, bucket), n in by_app.items():
        start = bucket * _TO_SECONDS
        totals[(sid, item, ALL_APPS, start)] += n
        if app is not None:
            totals[(sid, item, app, start)] += n
    return totals


def write_event_totals(conn: Connection, totals: EventTotals) -> int:
    """Upsert event rollup increments (keys in sorted order); the keys written."""
    rows = [(*key, totals[key]) for key in sorted(totals)]
    return _upsert(conn, rows, _PG_EVENTS, _EVENT_HEAD, _EVENT_TAIL)


def sum_purchases(rows: Sequence[PurchaseRow], segments: Segments) -> PurchaseTotals:
    """The purchase rollup increments of the rows, per distinct key (no database work)."""
    totals: PurchaseTotals = {}
    for row_id, _, uid, app, item, time_ms, quantity, price in rows:
        sids = segments(uid, row_id)
        if not sids:
            continue
        start = bucket_start(time_ms)
        revenue = price * quantity
        products = (item, ALL_PRODUCTS)
        app_keys = (ALL_APPS,) if app is None else (app, ALL_APPS)
        for sid in sids:
            for product in products:
                for app_key in app_keys:
                    key = (sid, product, app_key, start)
                    total = totals.get(key)
                    if total is None:
                        totals[key] = [1, quantity, revenue]
                    else:
                        total[0] += 1
                        total[1] += quantity
                        total[2] += revenue
    return totals


def write_purchase_totals(conn: Connection, totals: PurchaseTotals) -> int:
    """Upsert purchase rollup increments (keys in sorted order); the keys written."""
    rows = [(*key, *totals[key]) for key in sorted(totals)]
    return _upsert(conn, rows, _PG_PURCHASES, _PURCHASE_HEAD, _PURCHASE_TAIL)


def _upsert(
    conn: Connection, rows: list[tuple[Any, ...]], pg_statement: str, head: str, tail: str
) -> int:
    """Write rollup rows: one `unnest` statement on PostgreSQL, VALUES blocks on SQLite."""
    if not rows:
        return 0
    cur = raw_cursor(conn)
    try:
        if conn.dialect.name == "postgresql":
            cur.execute(pg_statement, [list(column) for column in zip(*rows, strict=True)])
        else:
            insert_rows(cur, head, rows, tail)
    finally:
        cur.close()
    return len(rows)
