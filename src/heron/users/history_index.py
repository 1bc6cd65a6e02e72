"""Indexing raw events and purchases by user behind ingest, in large passes.

`/users/track` only appends raw rows. This module adds them to `user_history`, keyed by
(user_id, kind, time_ms, row_id), in passes over the not-yet-indexed tail: a pass covers up to
PASS_MAX_ROWS raw rows and is applied one user-id range per transaction, so each page of the
index is written about once per pass instead of once per event (an index on the raw tables
made 10M-row appends 28x slower). State lives in `user_history_state`, updated in the same
transaction as the rows, so a crash never loses or doubles an entry.

The writer thread runs `index_step` between commit groups (SQLite: under the write lock). On
PostgreSQL, ingest transactions hold a shared advisory lock and a pass takes it exclusively
for an instant to read its upper bound, so no uncommitted row id below the bound can appear
later (sequence order is not commit order).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine

from heron.store.schema import HISTORY_EVENT, HISTORY_PURCHASE
from heron.store.writelock import WriteLock

# Each pass rewrites about every leaf page of the index (users are spread over all of them),
# so passes are large and rare: at 10M indexed events, 10,000-row passes every 2 s cut ingest
# from 23,295 to 13,725 events/s (bench/ingest.py, docs/performance.md).
PASS_MAX_ROWS = 2_000_000  # raw rows per pass
CHUNK_ROWS = 100_000  # aimed-for rows per user-range transaction
MIN_PASS_ROWS = 1_000_000  # a smaller tail waits up to MAX_LAG_MS before it is indexed
MAX_LAG_MS = 300_000
# pg_advisory_xact_lock key shared by ingest (shared) and pass starts (exclusive)
APPEND_LOCK_KEY = 0x68_65_72_6F_6E_01  # "heron" + 1


@dataclass(frozen=True, slots=True)
class Source:
    """A raw table indexed into user_history."""

    kind: int
    table: str
    item_column: str


SOURCES = (
    Source(HISTORY_EVENT, "events", "event_id"),
    Source(HISTORY_PURCHASE, "purchases", "product_id"),
)


@dataclass(slots=True)
class State:
    """One kind's row of user_history_state."""

    indexed_upto: int
    pass_upto: int
    user_done: int
    user_last: int
    user_span: int
    passed_at_ms: int

    @property
    def in_pass(self) -> bool:
        """True while a pass has user ranges left to index."""
        return self.pass_upto > self.indexed_upto


def read_state(conn: Connection, kind: int, *, for_update: bool = False) -> State:
    """The indexing state of one kind (row-locked on PostgreSQL when asked)."""
    lock = " FOR UPDATE" if for_update and conn.dialect.name == "postgresql" else ""
    row = conn.execute(
        text(
            "SELECT indexed_upto, pass_upto, user_done, user_last, user_span, passed_at_ms "
            f"FROM user_history_state WHERE kind = :kind{lock}"
        ),
        {"kind": kind},
    ).one()
    return State(*(int(value) for value in row))


def _write_state(conn: Connection, kind: int, state: State) -> None:
    """Persist one kind's state (inside the transaction that did the work)."""
    conn.execute(
        text(
            "UPDATE user_history_state SET indexed_upto = :indexed_upto, pass_upto = :pass_upto, "
            "user_done = :user_done, user_last = :user_last, user_span = :user_span, "
            "passed_at_ms = :passed_at_ms WHERE kind = :kind"
        ),
        {
            "kind": kind,
            "indexed_upto": state.indexed_upto,
            "pass_upto": state.pass_upto,
            "user_done": state.user_done,
            "user_last": state.user_last,
            "user_span": state.user_span,
            "passed_at_ms": state.passed_at_ms,
        },
    )


def hold_append_lock(conn: Connection) -> None:
    """For ingest transactions on PostgreSQL: take the append lock shared (no-op on SQLite)."""
    if conn.dialect.name == "postgresql":
        conn.execute(text(f"SELECT pg_advisory_xact_lock_shared({APPEND_LOCK_KEY})"))


def _committed_upper_bound(conn: Connection, source: Source) -> int:
    """The highest raw row id below which every row is committed (own short transaction)."""
    with conn.begin():
        if conn.dialect.name == "postgresql":
            conn.execute(text(f"SELECT pg_advisory_xact_lock({APPEND_LOCK_KEY})"))
        found = conn.execute(text(f"SELECT max(id) FROM {source.table}")).scalar()
    return int(found or 0)


def _start_pass(conn: Connection, source: Source, force: bool, now_ms: int) -> bool:
    """Open a pass over the unindexed tail when it is large or old enough; True if opened."""
    with conn.begin():
        state = read_state(conn, source.kind)
    if state.in_pass:
        return False
    bound = _committed_upper_bound(conn, source)
    pending = bound - state.indexed_upto
    if pending <= 0:
        return False
    if not force and pending < MIN_PASS_ROWS and now_ms - state.passed_at_ms < MAX_LAG_MS:
        return False
    with conn.begin():
        state = read_state(conn, source.kind, for_update=True)
        if state.in_pass or bound <= state.indexed_upto:
            return False  # another writer opened or finished one meanwhile
        upto = min(bound, state.indexed_upto + PASS_MAX_ROWS)
        low, high = conn.execute(text("SELECT min(id), max(id) FROM users")).one()
        if low is None:
            low = high = 0
        chunks = max(1, math.ceil((upto - state.indexed_upto) / CHUNK_ROWS))
        state.pass_upto = upto
        state.user_done = int(low)
        state.user_last = int(high)
        state.user_span = max(1, math.ceil((int(high) - int(low) + 1) / chunks))
        state.passed_at_ms = now_ms
        _write_state(conn, source.kind, state)
    return True


def _index_chunk(conn: Connection, source: Source) -> bool:
    """Index the pass's next user range in one transaction; True if there was one."""
    with conn.begin():
        state = read_state(conn, source.kind, for_update=True)
        if not state.in_pass:
            return False
        low = state.user_done
        high = low + state.user_span
        conn.execute(
            text(
                "INSERT INTO user_history (user_id, kind, time_ms, row_id, item_id) "
                f"SELECT user_id, {source.kind}, time_ms, id, {source.item_column} "
                f"FROM {source.table} WHERE id > :after AND id <= :upto "
                "AND user_id >= :low AND user_id < :high "
                "ORDER BY user_id, time_ms, id ON CONFLICT DO NOTHING"
            ),
            {"after": state.indexed_upto, "upto": state.pass_upto, "low": low, "high": high},
        )
        state.user_done = high
        if high > state.user_last:
            state.indexed_upto = state.pass_upto
        _write_state(conn, source.kind, state)
    return True


def index_step(conn: Connection, *, force: bool = False, now_ms: int | None = None) -> bool:
    """One unit of work per kind: index a user range, or open a pass; True if work was done.

    `conn` must have no transaction open; each unit commits on its own. On SQLite call it
    under the write lock.
    """
    now = int(time.time() * 1000) if now_ms is None else now_ms
    worked = False
    for source in SOURCES:
        if _index_chunk(conn, source) or _start_pass(conn, source, force, now):
            worked = True
    return worked


def catch_up(engine: Engine) -> None:
    """Index every committed raw row now (tests, maintenance); takes the write lock."""
    lock = WriteLock(engine)
    try:
        with lock.held(), engine.connect() as conn:
            while index_step(conn, force=True):
                pass
    finally:
        lock.close()
