"""Load what segment evaluation needs to know about a set of users, in a few batched reads.

Profiles come from `users`; event and purchase history from heron.users.history (the one place
that reads raw rows by user); app usage from the KPI tables (`kpi_users`: a user who tracked
anything with an app's `app_id` has a row for that app).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import msgspec
from sqlalchemy import select
from sqlalchemy.engine import Connection

from heron.segments.definition import References
from heron.segments.evaluate import DAY_MS, Facts
from heron.store.schema import apps, custom_events, kpi_users, products, users
from heron.users import history

__all__ = ["Needs", "load_facts", "merge_references"]

_decode = msgspec.json.decode
_CHUNK = 500


@dataclass(frozen=True, slots=True)
class Needs:
    """The union of what a workspace's evaluated segments refer to."""

    events: frozenset[str]
    products: frozenset[str | None]
    apps: frozenset[str]
    event_window: int
    purchase_window: int


def merge_references(refs: Iterable[References]) -> Needs:
    """Combine the references of several filters."""
    events: set[str] = set()
    products_: set[str | None] = set()
    apps_: set[str] = set()
    windows = [0, 0]
    for ref in refs:
        events |= ref.events
        products_ |= ref.products
        apps_ |= ref.apps
        windows = [max(windows[0], ref.max_event_window), max(windows[1], ref.max_purchase_window)]
    return Needs(frozenset(events), frozenset(products_), frozenset(apps_), *windows)


def _chunks(ids: Sequence[int]) -> Iterable[list[int]]:
    """IN-list sized slices."""
    for start in range(0, len(ids), _CHUNK):
        yield list(ids[start : start + _CHUNK])


def load_facts(
    conn: Connection, workspace_id: int, user_ids: Sequence[int], needs: Needs, now_ms: int
) -> dict[int, Facts]:
    """Facts for each user of the workspace that still exists (deleted users are absent)."""
    found: dict[int, Facts] = {}
    for chunk in _chunks(sorted(set(user_ids))):
        rows = conn.execute(
            select(users.c.id, users.c.standard, users.c.custom).where(
                users.c.workspace_id == workspace_id, users.c.id.in_(chunk)
            )
        )
        for uid, standard, custom in rows:
            found[int(uid)] = Facts(_decode(standard), _decode(custom))
    if not found:
        return found
    ids = sorted(found)
    if needs.events:
        _load_events(conn, workspace_id, ids, needs, now_ms, found)
    if needs.products:
        _load_purchases(conn, workspace_id, ids, needs, now_ms, found)
    if needs.apps:
        _load_apps(conn, workspace_id, ids, needs, found)
    return found


def _load_events(
    conn: Connection,
    workspace_id: int,
    ids: list[int],
    needs: Needs,
    now_ms: int,
    found: dict[int, Facts],
) -> None:
    """Per referenced custom event: count, first and last time; times within the window."""
    known: dict[int, str] = {
        int(i): str(n)
        for i, n in conn.execute(
            select(custom_events.c.id, custom_events.c.name).where(
                custom_events.c.workspace_id == workspace_id,
                custom_events.c.name.in_(sorted(needs.events)),
            )
        )
    }
    if not known:
        return
    for s in history.event_summaries(conn, workspace_id, ids):
        if s.event_id in known:
            found[s.user_id].events[s.name] = (s.count, s.first_ms, s.last_ms)
    if needs.event_window:
        since = now_ms - needs.event_window * DAY_MS
        for uid, event_id, time_ms in history.event_times(
            conn, workspace_id, ids, event_ids=sorted(known), since_ms=since
        ):
            found[uid].event_times.setdefault(known[event_id], []).append(time_ms)


def _load_purchases(
    conn: Connection,
    workspace_id: int,
    ids: list[int],
    needs: Needs,
    now_ms: int,
    found: dict[int, Facts],
) -> None:
    """Per referenced product (and any product): count, first and last time; window times."""
    named = sorted(name for name in needs.products if name is not None)
    any_product = None in needs.products
    for s in history.purchase_summaries(conn, workspace_id, ids):
        facts = found[s.user_id]
        if s.name in needs.products:
            facts.purchases[s.name] = (s.count, s.first_ms, s.last_ms)
        if any_product:
            old = facts.purchases.get(None)
            facts.purchases[None] = (
                (s.count, s.first_ms, s.last_ms)
                if old is None
                else (old[0] + s.count, min(old[1], s.first_ms), max(old[2], s.last_ms))
            )
    if not needs.purchase_window:
        return
    known: dict[int, str] = {}
    if named:
        known = {
            int(i): str(n)
            for i, n in conn.execute(
                select(products.c.id, products.c.name).where(
                    products.c.workspace_id == workspace_id, products.c.name.in_(named)
                )
            )
        }
    since = now_ms - needs.purchase_window * DAY_MS
    for uid, product_id, time_ms, *_ in history.purchase_times(
        conn,
        workspace_id,
        ids,
        product_ids=None if any_product else sorted(known),
        since_ms=since,
    ):
        facts = found[uid]
        name = known.get(product_id)
        if name is not None:
            facts.purchase_times.setdefault(name, []).append(time_ms)
        if any_product:
            facts.purchase_times.setdefault(None, []).append(time_ms)


def _load_apps(
    conn: Connection, workspace_id: int, ids: list[int], needs: Needs, found: dict[int, Facts]
) -> None:
    """The referenced apps each user has used."""
    keys: dict[int, str] = {
        int(i): str(a)
        for i, a in conn.execute(
            select(apps.c.id, apps.c.api_id).where(
                apps.c.workspace_id == workspace_id, apps.c.api_id.in_(sorted(needs.apps))
            )
        )
    }
    if not keys:
        return
    used: dict[int, set[str]] = {}
    for chunk in _chunks(ids):
        rows = conn.execute(
            select(kpi_users.c.user_id, kpi_users.c.app_id).where(
                kpi_users.c.workspace_id == workspace_id,
                kpi_users.c.app_id.in_(sorted(keys)),
                kpi_users.c.user_id.in_(chunk),
            )
        )
        for uid, app_key in rows:
            used.setdefault(int(uid), set()).add(keys[app_key])
    for uid, names in used.items():
        found[uid].apps = frozenset(names)
