"""The segment evaluator: keeps membership current and counts tracked segments' events.

It runs outside `/users/track` (a background task of the server, or `catch_up` in tests and
tools) and works in steps. Each step reads, by id watermark, a bounded batch (`BATCH` rows of
each log, more up to `MAX_BATCH` when a log holds more) of

- new raw `events` and `purchases` rows (a range scan of their primary keys),
- `segment_user_changes` (users whose attributes changed, appended by ingest),
- users due for a time-based re-check (`segment_rechecks`),

re-evaluates those users against the segments their changes can affect (all of them for changed
or due users; for users who only tracked something, those naming what they tracked, less the
ones they already belong to that such rows can only confirm: heron.segments.affected and
heron.segments.rising), then in ONE write transaction updates `segment_members`, each
segment's `size`, the re-check times, the tracked segments' rollups (each event or purchase of
the batch counted once for every tracked segment its user is a member of, as evaluated in
this step; summed in Python, heron.segments.counting) and the watermarks. A crash anywhere
leaves the watermarks where the last committed step put them: nothing is counted twice or lost.

The write transaction holds the database's write lock (on SQLite, ingest's too), so the step
sums the tracked rollups before taking it, from the membership it reads then; under the lock it
re-reads the membership and the tracked segments and uses those sums only if both are
unchanged (otherwise it sums again there). On a 200,000-row step the sums were about 40% of
the time the lock was held.

A new or edited definition is first evaluated for every user of its workspace (a backfill by
user id, one batch per step) before incremental steps resume.

Several processes may run the evaluator: the write transaction re-reads the watermarks under a
lock and drops its work if another process advanced them. On PostgreSQL, where concurrent
ingest transactions can commit ids out of order, the step first takes a short SHARE lock on the
three logs so that every id up to the maxima it reads is committed (the barrier).
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import msgspec
from sqlalchemy import func, select, text
from sqlalchemy.engine import Connection, Engine

from heron.segments.affected import Affected
from heron.segments.compiled import Check, compile_filter
from heron.segments.counting import (
    BUCKET_MS,
    EventRow,
    EventTotals,
    PurchaseRow,
    PurchaseTotals,
    members_of,
    sum_events,
    sum_purchases,
    write_event_totals,
    write_purchase_totals,
)
from heron.segments.definition import Node, References, parse_filter, referenced
from heron.segments.facts import Needs, load_facts, merge_references
from heron.segments.rising import Rising, rising
from heron.store.bulk import insert_rows
from heron.store.driver import READ_CHUNK, fetch, in_ids, mark, raw_cursor
from heron.store.engine import WRITE_OPTION
from heron.store.schema import (
    events,
    purchases,
    segment_progress,
    segment_rechecks,
    segment_user_changes,
    segments,
    users,
)
from heron.store.writelock import WriteLock

__all__ = ["BATCH", "BUCKET_SECONDS", "MAX_BATCH", "catch_up", "step"]

log = logging.getLogger("heron.segments")

BATCH = 2_000  # rows of each log (and users of a backfill) per step, at least
# ... and at most, when the logs hold more: a bigger step shares its fixed costs (reads of the
# users' history, the commit) and its rollup keys (segment, event, app, bucket) among more rows
MAX_BATCH = 200_000
BUCKET_SECONDS = BUCKET_MS // 1000  # tracked-segment rollups: 15-minute UTC buckets
_MARKS = ("changes", "events", "purchases")
_CHUNK = 500
_CLUSTER = 100  # users: fewer share one load of facts with the other small clusters
_decode = msgspec.json.decode


@dataclass(slots=True)
class _Segment:
    """A live (not archived) segment as the evaluator needs it."""

    id: int
    workspace_id: int
    node: Node
    tracking: bool
    events_after: int
    purchases_after: int
    backfill_after: int | None
    check: Check = field(repr=False)
    refs: References = field(repr=False)
    rises: Rising = field(repr=False)

    @property
    def history(self) -> bool:
        """Whether it reads events, purchases or app usage."""
        return bool(self.refs.events or self.refs.products or self.refs.apps)

    @property
    def events(self) -> frozenset[str]:
        """The custom event names it reads."""
        return self.refs.events

    @property
    def products(self) -> frozenset[str | None]:
        """The product names it reads (None: any product)."""
        return self.refs.products

    @property
    def apps(self) -> bool:
        """Whether it reads app usage."""
        return bool(self.refs.apps)


@lru_cache(maxsize=1024)
def _prepared(raw: str) -> tuple[Node, Check, References, Rising]:
    """A stored filter parsed, compiled, its references and rising inputs listed (once per
    distinct text)."""
    node = parse_filter(_decode(raw))
    return node, compile_filter(node), referenced(node), rising(node)


@dataclass(slots=True)
class _Batch:
    """What one step read: log rows, users to evaluate, and the marks it moves to."""

    marks: dict[str, int]
    new_marks: dict[str, int]
    users: dict[int, set[int]] = field(default_factory=dict)  # workspace -> user ids
    # users to evaluate against every segment (attributes changed, new, or a re-check due);
    # the others only did something, so only segments that read history can change for them
    full: set[int] = field(default_factory=set)
    changed: list[int] = field(default_factory=list)  # user ids of the change log, ws unknown
    # the raw rows read (heron.segments.counting's EventRow and PurchaseRow)
    events: list[EventRow] = field(default_factory=list)
    purchases: list[PurchaseRow] = field(default_factory=list)


def _now_ms() -> int:
    """Wall-clock time in epoch milliseconds."""
    return time.time_ns() // 1_000_000


def _live_segments(conn: Connection) -> list[_Segment]:
    """Every segment that is not archived, with its parsed filter."""
    rows = conn.execute(
        select(
            segments.c.id,
            segments.c.workspace_id,
            segments.c.filter,
            segments.c.analytics_tracking,
            segments.c.tracking_events_after,
            segments.c.tracking_purchases_after,
            segments.c.backfill_after,
        )
        .where(segments.c.archived.is_(False))
        .order_by(segments.c.id)
    )
    found = []
    for sid, ws, raw, tracking, ev_after, pu_after, backfill in rows:
        try:
            node, check, refs, rises = _prepared(str(raw))
        except ValueError:  # stored definitions were validated; skip one that no longer parses
            log.exception("segment %d has an unreadable filter", sid)
            continue
        found.append(
            _Segment(
                int(sid),
                int(ws),
                node,
                bool(tracking),
                int(ev_after or 0),
                int(pu_after or 0),
                None if backfill is None else int(backfill),
                check,
                refs,
                rises,
            )
        )
    return found


def _marks(conn: Connection, lock: bool = False) -> dict[str, int]:
    """The watermarks that exist (0 when never moved); `lock`: row-locked until the transaction
    ends. Every step creates the missing ones first, so the locked read finds all three."""
    query = select(segment_progress.c.name, segment_progress.c.value).where(
        segment_progress.c.name.in_(_MARKS)
    )
    if lock and conn.dialect.name == "postgresql":
        query = query.with_for_update()
    return {name: int(value) for name, value in conn.execute(query)}


def _create_marks(engine: Engine) -> None:
    """Create the missing watermark rows (at 0), so that every step has rows to lock."""

    def work(conn: Connection) -> None:
        for name in _MARKS:
            conn.execute(
                text(
                    "INSERT INTO segment_progress (name, value) VALUES (:n, 0) "
                    "ON CONFLICT (name) DO NOTHING"
                ),
                {"n": name},
            )

    _Writer(engine).run(work)


def _bounds(engine: Engine) -> dict[str, int]:
    """The highest committed id of each log; on PostgreSQL, behind a barrier (see module doc)."""
    with engine.connect() as conn, conn.begin():
        if conn.dialect.name == "postgresql":
            conn.execute(text("SET LOCAL lock_timeout = '5s'"))
            conn.execute(text("LOCK TABLE segment_user_changes, events, purchases IN SHARE MODE"))
        return {
            "changes": int(conn.execute(select(func.max(segment_user_changes.c.id))).scalar() or 0),
            "events": int(conn.execute(select(func.max(events.c.id))).scalar() or 0),
            "purchases": int(conn.execute(select(func.max(purchases.c.id))).scalar() or 0),
        }


class _Writer:
    """A write transaction that takes turns with the ingest writer (SQLite: its file lock)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._lock = WriteLock(engine)

    def run(self, work: Any) -> Any:
        """Run `work(conn)` in one write transaction."""
        try:
            with self._lock.held(), self._engine.connect() as conn:
                conn = conn.execution_options(**{WRITE_OPTION: True})
                with conn.begin():
                    return work(conn)
        finally:
            self._lock.close()


def _upsert_marks(conn: Connection, marks: dict[str, int]) -> None:
    """Store the watermarks."""
    for name, value in marks.items():
        conn.execute(
            text(
                "INSERT INTO segment_progress (name, value) VALUES (:n, :v) "
                "ON CONFLICT (name) DO UPDATE SET value = excluded.value"
            ),
            {"n": name, "v": value},
        )


def step(
    engine: Engine,
    now_ms: int | None = None,
    *,
    batch: int = BATCH,
    max_batch: int = MAX_BATCH,
) -> bool:
    """One evaluator step; True when there may be more to do right away.

    It reads `batch` rows of each log, or, when a log holds more, up to `max_batch` (adaptive:
    an evaluator that fell behind takes bigger steps, which cost less per row).
    """
    now_ms = _now_ms() if now_ms is None else now_ms
    with engine.connect() as conn:
        live = _live_segments(conn)
        marks = _marks(conn)
        created = len(marks) == len(_MARKS)
    if not created:
        _create_marks(engine)
        marks = {name: marks.get(name, 0) for name in _MARKS}
    if not live:
        return _skip_to_end(engine, marks)
    pending = [s for s in live if s.backfill_after is not None]
    if pending:
        if len(pending) == len(live) and all(s.backfill_after == 0 for s in pending):
            _skip_logs(engine, marks, pending)
        return _backfill(engine, pending, now_ms, batch)
    by_workspace: dict[int, list[_Segment]] = defaultdict(list)
    for seg in live:
        by_workspace[seg.workspace_id].append(seg)
    bounds = _bounds(engine)
    size = _step_size(marks, bounds, batch, max_batch)
    with engine.connect() as conn:
        read = _read_logs(conn, marks, bounds, now_ms, size)
        results = _evaluate_all(conn, read, by_workspace, now_ms)
        if read.new_marks == marks and not read.users:
            return False
        counted = _count_ahead(conn, read, results, by_workspace)
    done = _Writer(engine).run(lambda c: _apply(c, read, results, by_workspace, counted))
    full = any(read.new_marks[m] < bounds[m] for m in _MARKS)
    return bool(done) and (full or len(read.users) > 0)


def catch_up(
    engine: Engine,
    now_ms: int | None = None,
    *,
    batch: int = BATCH,
    max_batch: int = MAX_BATCH,
) -> int:
    """Run steps until the evaluator has nothing left to do; return how many ran."""
    steps = 0
    while step(engine, now_ms, batch=batch, max_batch=max_batch):
        steps += 1
    return steps + 1


def _step_size(marks: dict[str, int], bounds: dict[str, int], batch: int, max_batch: int) -> int:
    """Rows per log for this step: `batch`, or the largest backlog up to `max_batch`."""
    backlog = max(bounds[name] - marks[name] for name in _MARKS)
    return max(batch, min(backlog, max_batch))


def _skip_to_end(engine: Engine, marks: dict[str, int]) -> bool:
    """No segment to evaluate: move the watermarks to the end and empty the change log."""
    bounds = _bounds(engine)
    if bounds != marks:
        _advance(engine, marks, bounds)
    return False


def _skip_logs(engine: Engine, marks: dict[str, int], pending: list[_Segment]) -> None:
    """Before a backfill of every live segment starts, skip the log rows it will see anyway.

    No segment is current and no user has been read yet, so every committed row up to the
    bounds is reflected in what the backfill reads; only rows a tracked segment must still
    count (above its `tracking_*_after`) stay in the log. Without this, a first definition on
    a database whose evaluator never ran replays its whole event history after the backfill.
    """
    bounds = _bounds(engine)
    target = dict(bounds)
    for seg in pending:
        if seg.tracking:
            target["events"] = min(target["events"], seg.events_after)
            target["purchases"] = min(target["purchases"], seg.purchases_after)
    target = {name: max(value, marks[name]) for name, value in target.items()}
    if target != marks:
        _advance(engine, marks, target)


def _advance(engine: Engine, marks: dict[str, int], target: dict[str, int]) -> None:
    """Move the watermarks from `marks` to `target` and drop the change log up to it, unless
    another process moved them meanwhile."""

    def work(conn: Connection) -> None:
        if _marks(conn, lock=True) != marks:
            return
        conn.execute(
            segment_user_changes.delete().where(segment_user_changes.c.id <= target["changes"])
        )
        _upsert_marks(conn, target)

    _Writer(engine).run(work)


# -- reading -----------------------------------------------------------------------------------


def _read_logs(
    conn: Connection, marks: dict[str, int], bounds: dict[str, int], now_ms: int, batch: int
) -> _Batch:
    """Read one batch of each log and the users due for a re-check."""
    read = _Batch(marks=marks, new_marks=dict(marks))
    rows = conn.execute(
        select(segment_user_changes.c.id, segment_user_changes.c.user_id)
        .where(
            segment_user_changes.c.id > marks["changes"],
            segment_user_changes.c.id <= bounds["changes"],
        )
        .order_by(segment_user_changes.c.id)
        .limit(batch)
    ).all()
    read.new_marks["changes"] = _moved(rows, batch, bounds["changes"], marks["changes"])
    read.changed = [int(uid) for _, uid in rows]
    # what evaluation and the tracked rollups need of each row
    read.events = _log_rows(conn, "events", "event_id", marks, bounds, batch)
    read.new_marks["events"] = _moved(read.events, batch, bounds["events"], marks["events"])
    read.purchases = _log_rows(
        conn, "purchases", "product_id, time_ms, quantity, price", marks, bounds, batch
    )
    read.new_marks["purchases"] = _moved(
        read.purchases, batch, bounds["purchases"], marks["purchases"]
    )
    for _, ws, uid, *_ in read.events:
        read.users.setdefault(ws, set()).add(uid)
    for _, ws, uid, *_ in read.purchases:
        read.users.setdefault(ws, set()).add(uid)
    due = conn.execute(
        select(segment_rechecks.c.workspace_id, segment_rechecks.c.user_id)
        .where(segment_rechecks.c.due_ms <= now_ms)
        .order_by(segment_rechecks.c.due_ms)
        .limit(batch)
    ).all()
    for ws, uid in due:
        read.users.setdefault(int(ws), set()).add(int(uid))
        read.full.add(int(uid))
    read.full.update(read.changed)
    changed = sorted(set(read.changed))
    for start in range(0, len(changed), _CHUNK):
        chunk = changed[start : start + _CHUNK]
        for uid, ws in conn.execute(
            select(users.c.id, users.c.workspace_id).where(users.c.id.in_(chunk))
        ):
            read.users.setdefault(int(ws), set()).add(int(uid))
    return read


def _log_rows(
    conn: Connection,
    table: str,
    columns: str,
    marks: dict[str, int],
    bounds: dict[str, int],
    batch: int,
) -> list[Any]:
    """Up to `batch` rows of a raw table past its mark: (id, workspace, user, app, *columns);
    events have their time added."""
    mark_ = mark(conn)
    if table == "events":
        columns += ", time_ms"
    assert conn.in_transaction()
    cur = raw_cursor(conn)  # tuples, not SQLAlchemy rows: up to MAX_BATCH
    try:
        cur.execute(
            f"SELECT id, workspace_id, user_id, app_id, {columns} FROM {table} "
            f"WHERE id > {mark_} AND id <= {mark_} ORDER BY id LIMIT {int(batch)}",
            (marks[table], bounds[table]),
        )
        return list(cur.fetchall())
    finally:
        cur.close()


def _moved(rows: Sequence[Any], batch: int, bound: int, mark: int) -> int:
    """The watermark after reading `rows` (the last id if the batch is full, else the bound)."""
    if len(rows) >= batch:
        return int(rows[-1][0])
    return max(bound, mark)


Evaluated = dict[int, tuple[frozenset[int], int | None]]  # user -> (segment ids, re-check)
# per workspace: (users evaluated, the segment ids they were evaluated against, whether that is
# every segment of the workspace (else an earlier stored re-check time is kept))
Results = dict[int, list[tuple[Evaluated, frozenset[int], bool]]]


def _evaluate_all(
    conn: Connection, read: _Batch, by_workspace: dict[int, list[_Segment]], now_ms: int
) -> Results:
    """Evaluate the batch's users: all segments of their workspace, or those their new events,
    purchases or app use can change (users who only tracked something).

    Of the latter, a segment that the user is already a member of and that their new rows can
    only rise in (heron.segments.rising) is skipped, unless the user's re-check is due (then
    time may have changed any answer: they are evaluated against every segment).
    """
    results: Results = {}
    for ws, user_ids in read.users.items():
        segs = by_workspace.get(ws, [])
        found = results.setdefault(ws, [])
        full = {u for u in user_ids if u in read.full}
        groups: dict[tuple[int, ...], list[int]] = defaultdict(list)
        history = [s for s in segs if s.history]
        if history and len(full) < len(user_ids):
            affected = Affected(conn, ws, [(s.refs, s.rises) for s in history])
            touched = {
                uid: hits
                for uid, hits in affected.of(read.events, read.purchases, ws).items()
                if uid not in full
            }
            maybe = sorted(uid for uid, (hit, fall) in touched.items() if len(hit) > len(fall))
            members = _current_members(conn, maybe) if maybe else {}
            due = _due_users(conn, maybe, now_ms) if maybe else set()
            for uid, (hit, fall) in sorted(touched.items()):
                if uid in due:
                    full.add(uid)
                    continue
                mine = members.get(uid, ())
                key = tuple(i for i in sorted(hit) if i in fall or history[i].id not in mine)
                if key:
                    groups[key].append(uid)
        if full:
            every = frozenset(s.id for s in segs)
            found.append((_evaluate(conn, ws, sorted(full), segs, now_ms), every, True))
        # one load of facts per set of referenced events, purchases and apps (the rows read
        # are those of what the users' segments name, not of everything any segment names)
        clusters: dict[Needs, list[tuple[int, ...]]] = defaultdict(list)
        for key in groups:
            clusters[merge_references(history[i].refs for i in key)].append(key)
        for keys in _coarser(clusters, groups):
            chosen = {key: [history[i] for i in key] for key in keys}
            per_user = {uid: chosen[key] for key in keys for uid in groups[key]}
            evaluated = _evaluate(conn, ws, sorted(per_user), history, now_ms, per_user)
            for key in keys:
                part = {uid: evaluated[uid] for uid in groups[key]}
                found.append((part, frozenset(s.id for s in chosen[key]), False))
    return results


def _coarser(
    clusters: dict[Needs, list[tuple[int, ...]]], groups: dict[tuple[int, ...], list[int]]
) -> list[list[tuple[int, ...]]]:
    """The clusters of at least `_CLUSTER` users, and all smaller ones as one (each load of
    facts costs a dozen statements: a load per rare combination would cost more than it saves).
    """
    big: list[list[tuple[int, ...]]] = []
    rest: list[tuple[int, ...]] = []
    for keys in clusters.values():
        if sum(len(groups[key]) for key in keys) >= _CLUSTER:
            big.append(keys)
        else:
            rest.extend(keys)
    return [*big, rest] if rest else big


def _due_users(conn: Connection, user_ids: Sequence[int], now_ms: int) -> set[int]:
    """The users among `user_ids` whose re-check is due at `now_ms`."""
    due: set[int] = set()
    for start in range(0, len(user_ids), READ_CHUNK):
        where, params = in_ids(conn, "user_id", user_ids[start : start + READ_CHUNK])
        rows = fetch(
            conn,
            f"SELECT user_id FROM segment_rechecks WHERE {where} AND due_ms <= {mark(conn)}",
            [*params, now_ms],
        )
        due.update(uid for (uid,) in rows)
    return due


def _evaluate(
    conn: Connection,
    ws: int,
    user_ids: Sequence[int],
    segs: Sequence[_Segment],
    now_ms: int,
    per_user: dict[int, list[_Segment]] | None = None,
) -> Evaluated:
    """(matching segment ids, next re-check time) per user; absent users match nothing.

    `per_user`: check each user against only these of `segs` (facts are loaded once for all).
    """
    if not segs:
        return {uid: (frozenset(), None) for uid in user_ids}
    if per_user is not None:
        used = {s.id for chosen in per_user.values() for s in chosen}
        segs = [s for s in segs if s.id in used]
    needs = merge_references(referenced(s.node) for s in segs)
    facts = load_facts(conn, ws, user_ids, needs, now_ms)
    out: dict[int, tuple[frozenset[int], int | None]] = {}
    for uid in user_ids:
        known = facts.get(uid)
        if known is None:
            out[uid] = (frozenset(), None)
            continue
        matched = set()
        due: int | None = None
        for seg in segs if per_user is None else per_user[uid]:
            hit, when = seg.check(known, now_ms)
            if hit:
                matched.add(seg.id)
            if when is not None and (due is None or when < due):
                due = when
        out[uid] = (frozenset(matched), due)
    return out


# -- writing -----------------------------------------------------------------------------------


def _current_members(conn: Connection, user_ids: Iterable[int]) -> dict[int, frozenset[int]]:
    """Segment ids each user is a member of now (users of none are absent).

    One row per user (the ids aggregated in SQL) through the DBAPI cursor: a step reads the
    membership of tens of thousands of users, and a row per membership wrapped by SQLAlchemy
    cost more than the rest of the read.
    """
    ordered = sorted(set(user_ids))
    found: dict[int, frozenset[int]] = {}
    shared: dict[Any, frozenset[int]] = {}  # users with the same segments share one set
    postgres = conn.dialect.name == "postgresql"
    listed = "array_agg(segment_id)" if postgres else "group_concat(segment_id)"
    cur = raw_cursor(conn)
    try:
        for start in range(0, len(ordered), READ_CHUNK):
            where, params = in_ids(conn, "user_id", ordered[start : start + READ_CHUNK])
            cur.execute(
                f"SELECT user_id, {listed} FROM segment_members WHERE {where} GROUP BY user_id",
                params,
            )
            for uid, listed_ids in cur.fetchall():
                key = tuple(listed_ids) if postgres else listed_ids
                sids = shared.get(key)
                if sids is None:
                    parts = listed_ids if postgres else listed_ids.split(",")
                    sids = shared[key] = frozenset(map(int, parts))
                found[uid] = sids
    finally:
        cur.close()
    return found


def _store_membership(
    conn: Connection,
    evaluated: Evaluated,
    scope: frozenset[int],
    current: dict[int, frozenset[int]],
    *,
    merge_due: bool,
) -> None:
    """Write membership changes within `scope` (segment ids) and re-check times; sizes too.

    `current`: each evaluated user's segment ids as stored (read in this transaction); updated
    in place to what this call stores.
    """
    inserts: list[tuple[int, int]] = []
    deletes: list[tuple[int, int]] = []
    delta: dict[int, int] = defaultdict(int)
    for uid, (matched, _) in evaluated.items():
        mine = current.get(uid, frozenset())
        before = mine & scope
        if before == matched:
            continue
        for sid in matched - before:
            inserts.append((uid, sid))
            delta[sid] += 1
        for sid in before - matched:
            deletes.append((uid, sid))
            delta[sid] -= 1
        current[uid] = (mine - scope) | matched
    # Driver-level statements: a step makes hundreds of these calls under the write lock, and
    # SQLAlchemy's per-call and per-row work was most of their time.
    cur = raw_cursor(conn)
    try:
        if inserts:
            if conn.dialect.name == "postgresql":
                cur.executemany(
                    "INSERT INTO segment_members (user_id, segment_id) VALUES (%s, %s)", inserts
                )
            else:
                insert_rows(cur, "INSERT INTO segment_members (user_id, segment_id)", inserts)
        q = mark(conn)
        if deletes:
            cur.executemany(
                f"DELETE FROM segment_members WHERE user_id = {q} AND segment_id = {q}", deletes
            )
        sizes = [(d, sid) for sid, d in sorted(delta.items()) if d]
        if sizes:
            cur.executemany(f"UPDATE segments SET size = size + {q} WHERE id = {q}", sizes)
        _store_rechecks(cur, q, evaluated, merge_due=merge_due)
    finally:
        cur.close()


def _store_rechecks(
    cur: Any,
    q: str,
    evaluated: Evaluated,
    *,
    merge_due: bool,
) -> None:
    """Record each user's next re-check (or clear it); `merge_due` keeps an earlier one.

    `cur`: a DBAPI cursor in the step's transaction; `q`: its positional placeholder.
    """
    due_rows = [(uid, due, uid) for uid, (_, due) in sorted(evaluated.items()) if due]
    if not merge_due:
        clear = [(uid,) for uid, (_, due) in sorted(evaluated.items()) if due is None]
        if clear:
            cur.executemany(f"DELETE FROM segment_rechecks WHERE user_id = {q}", clear)
    if not due_rows:
        return
    keep = (
        "CASE WHEN segment_rechecks.due_ms < excluded.due_ms THEN segment_rechecks.due_ms "
        "ELSE excluded.due_ms END"
        if merge_due
        else "excluded.due_ms"
    )
    cur.executemany(
        "INSERT INTO segment_rechecks (user_id, workspace_id, due_ms) "
        f"SELECT {q}, workspace_id, {q} FROM users WHERE id = {q} "
        f"ON CONFLICT (user_id) DO UPDATE SET due_ms = {keep}",
        due_rows,
    )


@dataclass(frozen=True, slots=True)
class _Counted:
    """A step's tracked-rollup sums, and what they were computed from (checked under the lock)."""

    members: dict[int, frozenset[int]]  # the users' membership as read before the lock
    tracked: list[tuple[int, int, int]]  # (segment, tracking_events_after, ..._purchases_after)
    events: EventTotals
    purchases: PurchaseTotals


def _step_users(read: _Batch, results: Results, tracking: bool) -> set[int]:
    """Users whose membership a step reads: the evaluated ones, and the rows' when tracking."""
    users_ = {uid for found in results.values() for evaluated, _, _ in found for uid in evaluated}
    if tracking:  # the rollups count every row's user by membership as this step leaves it
        users_.update(row[2] for row in read.events)
        users_.update(row[2] for row in read.purchases)
    return users_


def _tracking(by_workspace: dict[int, list[_Segment]]) -> bool:
    """Whether any live segment is tracked."""
    return any(s.tracking for segs in by_workspace.values() for s in segs)


def _count_ahead(
    conn: Connection, read: _Batch, results: Results, by_workspace: dict[int, list[_Segment]]
) -> _Counted | None:
    """Sum the tracked rollups before the write lock, from the membership stored now."""
    if not _tracking(by_workspace) or not (read.events or read.purchases):
        return None
    members = _current_members(conn, _step_users(read, results, True))
    tracked = _tracked(conn)
    after = dict(members)
    for found in results.values():
        for evaluated, scope, _ in found:
            _leave(after, evaluated, scope)
    events, purchases = _sum_tracked(read, after, tracked)
    return _Counted(members, tracked, events, purchases)


def _leave(current: dict[int, frozenset[int]], evaluated: Evaluated, scope: frozenset[int]) -> None:
    """Update `current` to the membership `_store_membership` leaves (no database work)."""
    for uid, (matched, _) in evaluated.items():
        mine = current.get(uid, frozenset())
        if mine & scope != matched:
            current[uid] = (mine - scope) | matched


def _tracked(conn: Connection) -> list[tuple[int, int, int]]:
    """The tracked segments and the row ids their event and purchase tracking began after."""
    found = conn.execute(
        select(segments.c.id, segments.c.tracking_events_after, segments.c.tracking_purchases_after)
        .where(segments.c.analytics_tracking.is_(True), segments.c.archived.is_(False))
        .order_by(segments.c.id)
    ).all()
    return [(int(s), int(e or 0), int(p or 0)) for s, e, p in found]


def _sum_tracked(
    read: _Batch, members: dict[int, frozenset[int]], tracked: list[tuple[int, int, int]]
) -> tuple[EventTotals, PurchaseTotals]:
    """The step's rollup increments for the tracked segments, by the given membership."""
    if not tracked:
        return {}, {}
    events = (
        sum_events(read.events, members_of(members, {s: e for s, e, _ in tracked}))
        if read.events
        else {}
    )
    purchases = (
        sum_purchases(read.purchases, members_of(members, {s: p for s, _, p in tracked}))
        if read.purchases
        else {}
    )
    return events, purchases


def _apply(
    conn: Connection,
    read: _Batch,
    results: Results,
    by_workspace: dict[int, list[_Segment]],
    counted: _Counted | None = None,
) -> bool:
    """The write half of a step; False (nothing written) if another process got there first.

    `counted`: the rollup sums made before the lock, used when the membership and the tracked
    segments they were made from are still what this transaction reads.
    """
    if _marks(conn, lock=True) != read.marks:
        return False
    tracking = _tracking(by_workspace)
    current = _current_members(conn, _step_users(read, results, tracking))
    ahead = counted is not None and counted.members == current
    for found in results.values():
        for evaluated, scope, every in found:
            # partial: a re-check time of the other segments may be pending; keep the earlier one
            _store_membership(conn, evaluated, scope, current, merge_due=not every)
    if tracking:
        _count_tracked(conn, read, current, counted if ahead else None)
    conn.execute(
        segment_user_changes.delete().where(segment_user_changes.c.id <= read.new_marks["changes"])
    )
    _upsert_marks(conn, read.new_marks)
    return True


def _count_tracked(
    conn: Connection,
    read: _Batch,
    current: dict[int, frozenset[int]],
    counted: _Counted | None,
) -> None:
    """Add the step's events and purchases to the rollups of the tracked segments their users
    are members of, as stored by this step (heron.segments.counting).

    The tracked segments and where their tracking began are read in this transaction, so a
    segment whose tracking was turned on since the step began counts the rows after that.
    """
    tracked = _tracked(conn)
    if counted is not None and counted.tracked == tracked:
        events, purchases = counted.events, counted.purchases
    else:
        events, purchases = _sum_tracked(read, current, tracked)
    write_event_totals(conn, events)
    write_purchase_totals(conn, purchases)


# -- backfill ----------------------------------------------------------------------------------


def _backfill(engine: Engine, pending: list[_Segment], now_ms: int, batch: int) -> bool:
    """Evaluate one batch of a workspace's users (by id) for its new or edited segments.

    Every pending segment of the workspace is evaluated in the same pass; each one only takes
    the users beyond its own cursor (segments that started later catch up on later passes).
    """
    ws = pending[0].workspace_id
    group = [s for s in pending if s.workspace_id == ws]
    cursors = {s.id: s.backfill_after or 0 for s in group}
    start = min(cursors.values())
    with engine.connect() as conn:
        user_ids = [
            int(uid)
            for (uid,) in conn.execute(
                select(users.c.id)
                .where(users.c.workspace_id == ws, users.c.id > start)
                .order_by(users.c.id)
                .limit(batch)
            )
        ]
        evaluated = _evaluate(conn, ws, user_ids, group, now_ms)
    finished = len(user_ids) < batch
    reached = user_ids[-1] if user_ids else start

    def work(conn: Connection) -> bool:
        stored = {
            int(sid): (None if after is None else int(after))
            for sid, after in conn.execute(
                select(segments.c.id, segments.c.backfill_after)
                .where(segments.c.id.in_(sorted(cursors)))
                .with_for_update()
            )
        }
        by_cursor: dict[int, set[int]] = defaultdict(set)
        for sid, cursor in cursors.items():
            if stored.get(sid) == cursor:  # else edited or done meanwhile: leave it be
                by_cursor[cursor].add(sid)
        for cursor, sids in by_cursor.items():
            scope = frozenset(sids)
            part = {
                uid: (matched & scope, due)
                for uid, (matched, due) in evaluated.items()
                if uid > cursor
            }
            _store_membership(conn, part, scope, _current_members(conn, part), merge_due=True)
            for sid in sids:
                conn.execute(
                    segments.update()
                    .where(segments.c.id == sid)
                    .values(backfill_after=None if finished else max(reached, cursor))
                )
        return True

    _Writer(engine).run(work)
    return True
