"""One user's stored events and purchases: the single place that reads raw rows by user.

Exports, merges, deletes, segment evaluation and campaign conversions all ask "what did these
users do, and when"; they ask here. The answer is the `user_history` index (built behind
ingest by heron.users.history_index: sorted runs, a user looked up in each) plus the raw rows
past its `indexed_upto` mark (seconds of ingest), which are scanned by id range and
de-duplicated against the index, so readers always see every committed row whatever the
indexer's progress. Merges and deletes change raw rows and the index together, through
`reassign_user` and `delete_user_rows`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection

from heron.store.busy import StorageBusy
from heron.store.driver import READ_CHUNK, fetch, in_ids, mark
from heron.store.schema import HISTORY_EVENT, HISTORY_PURCHASE
from heron.users.history_index import SOURCES, Source, in_list, lock_state, read_state, run_ids

_CHUNK = 500  # ids per IN (...) list: well under every driver's parameter limit
# A reader that saw the runs change under it (PostgreSQL: a pass or a merge committed between
# its statements) reads the chunk again, up to this many times (runs change about once a second).
_READ_ATTEMPTS = 8


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


@dataclass(frozen=True, slots=True)
class HistoryRow:
    """One raw event or purchase of a user: what (item), when, and which raw row."""

    user_id: int
    item_id: int
    time_ms: int
    row_id: int


def _chunks(values: Iterable[int], size: int = _CHUNK) -> Iterable[list[int]]:
    """Split ids into IN-list sized chunks (`size` ids), in ascending order."""
    ordered = sorted(set(values))
    for start in range(0, len(ordered), size):
        yield ordered[start : start + size]


def _workspace_users(conn: Connection, workspace_id: int, user_ids: Iterable[int]) -> list[int]:
    """The given ids that are users of the workspace (others never match).

    The workspace is checked here, not in SQL: with `workspace_id = ? AND id IN (...)` SQLite
    picks a workspace index and scans every user of the workspace.
    """
    found: list[int] = []
    for chunk in _chunks(user_ids, READ_CHUNK):
        where, params = in_ids(conn, "id", chunk)
        rows = fetch(conn, f"SELECT id, workspace_id FROM users WHERE {where}", params)
        found.extend(int(uid) for uid, ws in rows if ws == workspace_id)
    return sorted(found)


def _rows(
    conn: Connection,
    source: Source,
    user_ids: list[int],
    since_ms: int | None,
    until_ms: int | None,
    item_ids: Sequence[int] | None,
) -> list[HistoryRow]:
    """Indexed rows plus the unindexed tail for users already checked to be in a workspace."""
    if not user_ids or (item_ids is not None and not item_ids):
        return []
    by_row: dict[int, HistoryRow] = {}
    for chunk in _chunks(user_ids, READ_CHUNK):  # one scan of the raw tail per chunk
        for row in _chunk_rows(conn, source, chunk, since_ms, until_ms, item_ids):
            by_row[row.row_id] = row
    return sorted(by_row.values(), key=lambda r: (r.user_id, r.time_ms, r.row_id))


def _chunk_rows(
    conn: Connection,
    source: Source,
    user_ids: list[int],
    since_ms: int | None,
    until_ms: int | None,
    item_ids: Sequence[int] | None,
) -> list[HistoryRow]:
    """One IN-list of users: their rows in every run, then in the raw tail past indexed_upto.

    On PostgreSQL each statement sees its own snapshot: if a merge began after the runs were
    listed, rows it moved into its new target would be missed, so the list is read again after
    the rows and the chunk is read again if it changed (SQLite readers hold one snapshot).
    """
    for _attempt in range(_READ_ATTEMPTS):
        runs = run_ids(conn, source.kind)
        indexed_upto = read_state(conn, source.kind).indexed_upto
        found = list(_indexed(conn, source, runs, user_ids, since_ms, until_ms, item_ids))
        found += _tail(conn, source, indexed_upto, user_ids, since_ms, until_ms, item_ids)
        if run_ids(conn, source.kind) == runs:
            return found
    raise StorageBusy("user history runs kept changing while they were read")


def _filters(
    conn: Connection,
    user_ids: list[int],
    since_ms: int | None,
    until_ms: int | None,
    item_ids: Sequence[int] | None,
    item: str,
) -> tuple[str, list[Any]]:
    """Driver SQL `user_id IN (...)` plus the optional time window and item list; parameters."""
    sql, params = in_ids(conn, "user_id", user_ids)
    sql = " AND " + sql
    if since_ms is not None:
        sql += f" AND time_ms >= {mark(conn)}"
        params.append(since_ms)
    if until_ms is not None:
        sql += f" AND time_ms < {mark(conn)}"
        params.append(until_ms)
    if item_ids is not None:
        items, more = in_ids(conn, item, sorted(set(item_ids)))
        sql += " AND " + items
        params.extend(more)
    return sql, params


def _indexed(
    conn: Connection,
    source: Source,
    runs: tuple[int, ...],
    user_ids: list[int],
    since_ms: int | None,
    until_ms: int | None,
    item_ids: Sequence[int] | None,
) -> list[HistoryRow]:
    """The users' rows in the given runs."""
    if not runs:
        return []
    run_sql, params = in_ids(conn, "run", runs)
    where, more = _filters(conn, user_ids, since_ms, until_ms, item_ids, "item_id")
    found = fetch(
        conn,
        "SELECT user_id, item_id, time_ms, row_id FROM user_history "
        f"WHERE {run_sql} AND kind = {int(source.kind)}{where}",
        params + more,
    )
    return [HistoryRow(u, i, t, r) for u, i, t, r in found]


def _tail(
    conn: Connection,
    source: Source,
    indexed_upto: int,
    user_ids: list[int],
    since_ms: int | None,
    until_ms: int | None,
    item_ids: Sequence[int] | None,
) -> list[HistoryRow]:
    """The users' raw rows past `indexed_upto` (not in any run yet)."""
    where, params = _filters(conn, user_ids, since_ms, until_ms, item_ids, source.item_column)
    found = fetch(
        conn,
        f"SELECT user_id, {source.item_column}, time_ms, id FROM {source.table} "
        f"WHERE id > {mark(conn)}{where}",
        [indexed_upto, *params],
    )
    return [HistoryRow(u, i, t, r) for u, i, t, r in found]


def event_rows(
    conn: Connection,
    workspace_id: int,
    user_ids: Iterable[int],
    *,
    event_ids: Sequence[int] | None = None,
    since_ms: int | None = None,
    until_ms: int | None = None,
) -> list[HistoryRow]:
    """Every raw event of the users (item_id = custom_events.id), by user, time, row."""
    users = _workspace_users(conn, workspace_id, user_ids)
    return _rows(conn, SOURCES[0], users, since_ms, until_ms, event_ids)


def purchase_rows(
    conn: Connection,
    workspace_id: int,
    user_ids: Iterable[int],
    *,
    product_ids: Sequence[int] | None = None,
    since_ms: int | None = None,
    until_ms: int | None = None,
) -> list[HistoryRow]:
    """Every raw purchase of the users (item_id = products.id), by user, time, row."""
    users = _workspace_users(conn, workspace_id, user_ids)
    return _rows(conn, SOURCES[1], users, since_ms, until_ms, product_ids)


def _names(conn: Connection, table: str, ids: Iterable[int]) -> dict[int, str]:
    """Catalog names by id."""
    names: dict[int, str] = {}
    for chunk in _chunks(ids):
        marks, params = in_list("n", chunk)
        for item, name in conn.execute(
            text(f"SELECT id, name FROM {table} WHERE id IN ({marks})"), params
        ):
            names[int(item)] = str(name)
    return names


def _summarize(
    conn: Connection, rows: list[HistoryRow], catalog: str
) -> list[tuple[int, int, str, int, int, int]]:
    """(user, item, item name, count, first_ms, last_ms) per (user, item), sorted."""
    found: dict[tuple[int, int], list[int]] = {}
    for row in rows:
        entry = found.get((row.user_id, row.item_id))
        if entry is None:
            found[(row.user_id, row.item_id)] = [1, row.time_ms, row.time_ms]
        else:
            entry[0] += 1
            entry[1] = min(entry[1], row.time_ms)
            entry[2] = max(entry[2], row.time_ms)
    names = _names(conn, catalog, {item for _user, item in found})
    return [
        (user, item, names[item], count, first, last)
        for (user, item), (count, first, last) in sorted(found.items())
    ]


def event_summaries(
    conn: Connection,
    workspace_id: int,
    user_ids: Iterable[int],
    *,
    since_ms: int | None = None,
    until_ms: int | None = None,
) -> list[EventSummary]:
    """Per (user, custom event): count, first and last time, within an optional window."""
    rows = event_rows(conn, workspace_id, user_ids, since_ms=since_ms, until_ms=until_ms)
    return [EventSummary(*found) for found in _summarize(conn, rows, "custom_events")]


def purchase_summaries(
    conn: Connection,
    workspace_id: int,
    user_ids: Iterable[int],
    *,
    since_ms: int | None = None,
    until_ms: int | None = None,
) -> list[PurchaseSummary]:
    """Per (user, product): purchase count, first and last time, within an optional window."""
    rows = purchase_rows(conn, workspace_id, user_ids, since_ms=since_ms, until_ms=until_ms)
    return [PurchaseSummary(*found) for found in _summarize(conn, rows, "products")]


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
    rows = event_rows(
        conn, workspace_id, user_ids, event_ids=event_ids, since_ms=since_ms, until_ms=until_ms
    )
    return [(r.user_id, r.item_id, r.time_ms) for r in rows]


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
    rows = purchase_rows(
        conn,
        workspace_id,
        user_ids,
        product_ids=product_ids,
        since_ms=since_ms,
        until_ms=until_ms,
    )
    details: dict[int, tuple[float, int, str]] = {}
    for chunk in _chunks(r.row_id for r in rows):
        marks, params = in_list("r", chunk)
        for row_id, price, quantity, currency in conn.execute(
            text(f"SELECT id, price, quantity, currency FROM purchases WHERE id IN ({marks})"),
            params,
        ):
            details[int(row_id)] = (float(price), int(quantity), str(currency))
    return [(r.user_id, r.item_id, r.time_ms, *details[r.row_id]) for r in rows]


def reassign_user(conn: Connection, workspace_id: int, from_user: int, to_user: int) -> None:
    """Move every raw event and purchase of one user to another, index included (merges).

    Call inside the write transaction that merges the profiles (SQLite: under the write lock).
    """
    for source in SOURCES:
        lock_state(conn, source.kind)  # no pass or merge of this kind runs meanwhile
        rows = _rows(conn, source, [from_user], None, None, None)
        for chunk in _chunks(r.row_id for r in rows):
            marks, params = in_list("r", chunk)
            conn.execute(
                text(f"UPDATE {source.table} SET user_id = :to WHERE id IN ({marks})"),
                {"to": to_user, **params},
            )
        runs = run_ids(conn, source.kind)
        if runs:
            run_marks, run_params = in_list("run", runs)
            conn.execute(
                text(
                    "UPDATE user_history SET user_id = :to "
                    f"WHERE run IN ({run_marks}) AND user_id = :user AND kind = :kind"
                ),
                {"to": to_user, "user": from_user, "kind": source.kind, **run_params},
            )


def delete_user_rows(conn: Connection, workspace_id: int, user_ids: Iterable[int]) -> int:
    """Delete every raw event and purchase of the users, index included; return rows deleted.

    Call inside the write transaction that deletes the profiles.
    """
    users = _workspace_users(conn, workspace_id, user_ids)
    deleted = 0
    for source in SOURCES:
        lock_state(conn, source.kind)  # no pass or merge of this kind runs meanwhile
        rows = _rows(conn, source, users, None, None, None)
        for chunk in _chunks(r.row_id for r in rows):
            marks, params = in_list("r", chunk)
            result = conn.execute(text(f"DELETE FROM {source.table} WHERE id IN ({marks})"), params)
            deleted += result.rowcount
        runs = run_ids(conn, source.kind)
        if not runs:
            continue
        run_marks, run_params = in_list("run", runs)
        for chunk in _chunks(users):
            marks, params = in_list("u", chunk)
            conn.execute(
                text(
                    f"DELETE FROM user_history WHERE run IN ({run_marks}) "
                    f"AND user_id IN ({marks}) AND kind = :kind"
                ),
                {"kind": source.kind, **run_params, **params},
            )
    return deleted


__all__ = [
    "HISTORY_EVENT",
    "HISTORY_PURCHASE",
    "EventSummary",
    "HistoryRow",
    "PurchaseSummary",
    "delete_user_rows",
    "event_rows",
    "event_summaries",
    "event_times",
    "purchase_rows",
    "purchase_summaries",
    "purchase_times",
    "reassign_user",
]
