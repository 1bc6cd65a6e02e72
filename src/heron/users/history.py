"""One user's stored events and purchases: the single place that reads raw rows by user.

Exports, merges, deletes, segment evaluation and campaign conversions all ask "what did these
users do, and when"; they ask it here so that the storage behind the answer (today the
`(user_id, time_ms)` indexes of the raw tables) can change without touching them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import and_, delete, func, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import ColumnElement

from heron.store.schema import custom_events, events, products, purchases

_CHUNK = 500  # ids per IN (...) list: well under every driver's parameter limit


@dataclass(frozen=True, slots=True)
class EventSummary:
    """How often and when one user performed one custom event."""

    user_id: int
    event_id: int
    name: str
    count: int
    first_ms: int
    last_ms: int


@dataclass(frozen=True, slots=True)
class PurchaseSummary:
    """How often and when one user bought one product (count = purchase rows, not quantity)."""

    user_id: int
    product_id: int
    name: str
    count: int
    first_ms: int
    last_ms: int


def _chunks(user_ids: Iterable[int]) -> Iterable[list[int]]:
    """Split ids into IN-list sized chunks, in ascending order."""
    ordered = sorted(set(user_ids))
    for start in range(0, len(ordered), _CHUNK):
        yield ordered[start : start + _CHUNK]


def _window(
    column: ColumnElement[int], since_ms: int | None, until_ms: int | None
) -> list[ColumnElement[bool]]:
    """Conditions for `since_ms <= column < until_ms` (either side optional)."""
    conditions: list[ColumnElement[bool]] = []
    if since_ms is not None:
        conditions.append(column >= since_ms)
    if until_ms is not None:
        conditions.append(column < until_ms)
    return conditions


def event_summaries(
    conn: Connection,
    workspace_id: int,
    user_ids: Iterable[int],
    *,
    since_ms: int | None = None,
    until_ms: int | None = None,
) -> list[EventSummary]:
    """Per (user, custom event): count, first and last time, within an optional window."""
    found: list[EventSummary] = []
    for chunk in _chunks(user_ids):
        query = (
            select(
                events.c.user_id,
                events.c.event_id,
                custom_events.c.name,
                func.count(),
                func.min(events.c.time_ms),
                func.max(events.c.time_ms),
            )
            .join(custom_events, custom_events.c.id == events.c.event_id)
            .where(
                and_(
                    events.c.workspace_id == workspace_id,
                    events.c.user_id.in_(chunk),
                    *_window(events.c.time_ms, since_ms, until_ms),
                )
            )
            .group_by(events.c.user_id, events.c.event_id, custom_events.c.name)
        )
        found.extend(EventSummary(*map_row(row)) for row in conn.execute(query))
    return found


def purchase_summaries(
    conn: Connection,
    workspace_id: int,
    user_ids: Iterable[int],
    *,
    since_ms: int | None = None,
    until_ms: int | None = None,
) -> list[PurchaseSummary]:
    """Per (user, product): purchase count, first and last time, within an optional window."""
    found: list[PurchaseSummary] = []
    for chunk in _chunks(user_ids):
        query = (
            select(
                purchases.c.user_id,
                purchases.c.product_id,
                products.c.name,
                func.count(),
                func.min(purchases.c.time_ms),
                func.max(purchases.c.time_ms),
            )
            .join(products, products.c.id == purchases.c.product_id)
            .where(
                and_(
                    purchases.c.workspace_id == workspace_id,
                    purchases.c.user_id.in_(chunk),
                    *_window(purchases.c.time_ms, since_ms, until_ms),
                )
            )
            .group_by(purchases.c.user_id, purchases.c.product_id, products.c.name)
        )
        found.extend(PurchaseSummary(*map_row(row)) for row in conn.execute(query))
    return found


def event_times(
    conn: Connection,
    workspace_id: int,
    user_ids: Iterable[int],
    *,
    event_ids: Sequence[int] | None = None,
    since_ms: int | None = None,
    until_ms: int | None = None,
) -> list[tuple[int, int, int]]:
    """(user_id, event_id, time_ms) of each matching raw event, ordered by user then time."""
    rows: list[tuple[int, int, int]] = []
    for chunk in _chunks(user_ids):
        conditions = [
            events.c.workspace_id == workspace_id,
            events.c.user_id.in_(chunk),
            *_window(events.c.time_ms, since_ms, until_ms),
        ]
        if event_ids is not None:
            conditions.append(events.c.event_id.in_(list(event_ids)))
        query = (
            select(events.c.user_id, events.c.event_id, events.c.time_ms)
            .where(and_(*conditions))
            .order_by(events.c.user_id, events.c.time_ms)
        )
        rows.extend((int(u), int(e), int(t)) for u, e, t in conn.execute(query))
    return rows


def purchase_times(
    conn: Connection,
    workspace_id: int,
    user_ids: Iterable[int],
    *,
    product_ids: Sequence[int] | None = None,
    since_ms: int | None = None,
    until_ms: int | None = None,
) -> list[tuple[int, int, int, float, int, str]]:
    """(user_id, product_id, time_ms, price, quantity, currency) per raw purchase, by user, time."""
    rows: list[tuple[int, int, int, float, int, str]] = []
    for chunk in _chunks(user_ids):
        conditions = [
            purchases.c.workspace_id == workspace_id,
            purchases.c.user_id.in_(chunk),
            *_window(purchases.c.time_ms, since_ms, until_ms),
        ]
        if product_ids is not None:
            conditions.append(purchases.c.product_id.in_(list(product_ids)))
        query = (
            select(
                purchases.c.user_id,
                purchases.c.product_id,
                purchases.c.time_ms,
                purchases.c.price,
                purchases.c.quantity,
                purchases.c.currency,
            )
            .where(and_(*conditions))
            .order_by(purchases.c.user_id, purchases.c.time_ms)
        )
        rows.extend(
            (int(u), int(p), int(t), float(price), int(q), str(c))
            for u, p, t, price, q, c in conn.execute(query)
        )
    return rows


def reassign_user(conn: Connection, workspace_id: int, from_user: int, to_user: int) -> None:
    """Move every raw event and purchase of one user to another (merges).

    Call inside the write transaction that merges the profiles (SQLite: under the write lock).
    """
    for table in (events, purchases):
        conn.execute(
            update(table)
            .where(table.c.workspace_id == workspace_id, table.c.user_id == from_user)
            .values(user_id=to_user)
        )


def delete_user_rows(conn: Connection, workspace_id: int, user_ids: Iterable[int]) -> int:
    """Delete every raw event and purchase of the users; return rows deleted.

    Call inside the write transaction that deletes the profiles.
    """
    deleted = 0
    for chunk in _chunks(user_ids):
        for table in (events, purchases):
            result = conn.execute(
                delete(table).where(
                    table.c.workspace_id == workspace_id, table.c.user_id.in_(chunk)
                )
            )
            deleted += result.rowcount
    return deleted


def map_row(row: Sequence[object]) -> tuple[int, int, str, int, int, int]:
    """Normalise a summary row's driver types (PostgreSQL returns Decimal-free ints already)."""
    user_id, item_id, name, count, first, last = row
    return (
        int(user_id),  # type: ignore[call-overload]
        int(item_id),  # type: ignore[call-overload]
        str(name),
        int(count),  # type: ignore[call-overload]
        int(first),  # type: ignore[call-overload]
        int(last),  # type: ignore[call-overload]
    )
