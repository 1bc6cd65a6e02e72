"""Load what segment evaluation needs to know about a set of users, in a few batched reads.

Profiles come from `users`; event and purchase history from heron.users.history (the one place
that reads raw rows by user); app usage from the KPI tables (`kpi_users`: a user who tracked
anything with an app's `app_id` has a row for that app).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import msgspec
from sqlalchemy import select, union
from sqlalchemy.engine import Connection

from heron.segments.definition import References
from heron.segments.evaluate import DAY_MS, Facts, Stats
from heron.store.driver import READ_CHUNK, fetch, in_ids
from heron.store.schema import apps, custom_events, kpi_users, kpi_waiting, products
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


def _chunks(ids: Sequence[int], size: int = _CHUNK) -> Iterable[list[int]]:
    """Slices of `size` ids (IN-list sized by default)."""
    for start in range(0, len(ids), size):
        yield list(ids[start : start + size])


def load_facts(
    conn: Connection, workspace_id: int, user_ids: Sequence[int], needs: Needs, now_ms: int
) -> dict[int, Facts]:
    """Facts for each user of the workspace that still exists (deleted users are absent)."""
    found: dict[int, Facts] = {}
    for chunk in _chunks(sorted(set(user_ids)), READ_CHUNK):
        # the workspace is checked here: with it in SQL, SQLite scans the workspace's users
        where, params = in_ids(conn, "id", chunk)
        rows = fetch(
            conn, f"SELECT id, workspace_id, standard, custom FROM users WHERE {where}", params
        )
        for uid, ws, standard, custom in rows:
            if ws == workspace_id:
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


def _catalog_ids(
    conn: Connection, table: Any, workspace_id: int, names: list[str]
) -> dict[int, str]:
    """Catalog ids of the named custom events or products of the workspace."""
    if not names:
        return {}
    return {
        int(i): str(n)
        for i, n in conn.execute(
            select(table.c.id, table.c.name).where(
                table.c.workspace_id == workspace_id, table.c.name.in_(names)
            )
        )
    }


def _add(
    stats: dict[Any, Stats], times: dict[Any, list[int]], key: Any, when: int, since: int | None
) -> None:
    """Count one event or purchase into a user's (count, first, last) and window times."""
    old = stats.get(key)
    stats[key] = (
        (1, when, when) if old is None else (old[0] + 1, min(old[1], when), max(old[2], when))
    )
    if since is not None and when >= since:
        times.setdefault(key, []).append(when)


def _load_events(
    conn: Connection,
    workspace_id: int,
    ids: list[int],
    needs: Needs,
    now_ms: int,
    found: dict[int, Facts],
) -> None:
    """Per referenced custom event: count, first and last time; times within the window.

    One read of the referenced events' rows (every time), summarized here: the history's own
    summaries would read every event of the users and a second pass for the window.
    """
    known = _catalog_ids(conn, custom_events, workspace_id, sorted(needs.events))
    if not known:
        return
    since = now_ms - needs.event_window * DAY_MS if needs.event_window else None
    rows = history.event_rows(conn, workspace_id, ids, event_ids=sorted(known))
    window = since is not None
    after = since if since is not None else 0
    for row in rows:  # the hot loop: `_add` inlined
        facts = found[row.user_id]
        name, when = known[row.item_id], row.time_ms
        old = facts.events.get(name)
        if old is None:
            facts.events[name] = (1, when, when)
        else:
            count, first, last = old
            facts.events[name] = (count + 1, min(first, when), max(last, when))
        if window and when >= after:
            facts.event_times.setdefault(name, []).append(when)


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
    known = _catalog_ids(conn, products, workspace_id, named)
    if not known and not any_product:
        return
    since = now_ms - needs.purchase_window * DAY_MS if needs.purchase_window else None
    rows = history.purchase_rows(
        conn, workspace_id, ids, product_ids=None if any_product else sorted(known)
    )
    for row in rows:
        facts = found[row.user_id]
        name = known.get(row.item_id)
        if name is not None:
            _add(facts.purchases, facts.purchase_times, name, row.time_ms, since)
        if any_product:
            _add(facts.purchases, facts.purchase_times, None, row.time_ms, since)


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
        # pairs SQLite ingest deferred (heron.analytics.kpi), pending or being folded, count as
        # used already
        rows = conn.execute(
            union(
                *(
                    select(t.c.user_id, t.c.app_id).where(
                        t.c.workspace_id == workspace_id,
                        t.c.app_id.in_(sorted(keys)),
                        t.c.user_id.in_(chunk),
                    )
                    for t in (kpi_users, *kpi_waiting)
                )
            )
        )
        for uid, app_key in rows:
            used.setdefault(int(uid), set()).add(keys[app_key])
    for uid, names in used.items():
        found[uid].apps = frozenset(names)
