"""Indexing raw events and purchases by user behind ingest, as sorted runs merged in tiers.

`/users/track` only appends raw rows. This module adds them to `user_history`, keyed by
(run, user_id, kind, time_ms, row_id), the way a log-structured merge tree would:

- a *pass* copies the not-yet-indexed tail of a raw table (up to PASS_MAX_ROWS rows past
  `indexed_upto`) into a new run, sorted by user. Run ids only grow, so a pass appends at the
  right edge of the table: it writes about its own size, however large the index is. (The
  first design kept one index sorted by user; every pass then rewrote most of its pages, so
  passes had to be rare and huge, held the write lock for seconds and left a tail of up to
  minutes of rows that every reader scanned.)
- a *merge* combines FANOUT runs of one level into one run of the next level, one user-id
  range per transaction (about MERGE_CHUNK_ROWS rows), so no transaction is long. Each row is
  rewritten once per level: log_FANOUT(index size / BASE_RUN_ROWS) times in all.

Readers (heron.users.history) look a user up in every run of the kind, then add the raw tail.
A row is in exactly one run at every commit. State lives in `user_history_state` and
`user_history_runs`, written in the same transaction as the rows, so a crash never loses or
doubles an entry. Every writer of `user_history` (passes, merges, user merges and deletes)
first locks the kind's state row, so they never interleave on PostgreSQL; on SQLite they run
under the write lock anyway.

The writer thread runs `index_step` between commit groups. On PostgreSQL, ingest transactions
hold a shared advisory lock and a pass takes it exclusively for an instant to read its upper
bound, so no uncommitted row id below the bound can appear later (sequence order is not commit
order).
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine

from heron.store.schema import HISTORY_EVENT, HISTORY_PURCHASE
from heron.store.writelock import WriteLock

# Sizes keep every transaction short (a 20,000-row pass or a 10,000-row merge chunk: tens of ms
# on the 2-core dev machine) and the tail small; see docs/performance.md for the measurements.
PASS_MAX_ROWS = 20_000  # raw rows per pass (one run, one transaction)
MIN_PASS_ROWS = 10_000  # a smaller tail waits up to MAX_LAG_MS before it is indexed
MAX_LAG_MS = 2_000
FANOUT = 10  # runs of one level merged into one run of the next
BASE_RUN_ROWS = 20_000  # runs below BASE_RUN_ROWS * FANOUT rows are level 0
MERGE_CHUNK_ROWS = 10_000  # aimed-for rows per merge transaction
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

    indexed_upto: int  # every raw row id <= this is in a run
    next_run: int  # run ids are next_run * 4 + kind, so both kinds share one id space
    passed_at_ms: int  # when the last pass ran


@dataclass(frozen=True, slots=True)
class Run:
    """One row of user_history_runs."""

    run: int
    level: int
    rows: int
    merging_into: int | None
    user_done: int | None  # a merge target: users below this are merged (None: not a target)
    user_last: int | None
    user_span: int | None


def read_state(conn: Connection, kind: int, *, for_update: bool = False) -> State:
    """The indexing state of one kind (row-locked on PostgreSQL when asked)."""
    lock = " FOR UPDATE" if for_update and conn.dialect.name == "postgresql" else ""
    row = conn.execute(
        text(
            "SELECT indexed_upto, next_run, passed_at_ms "
            f"FROM user_history_state WHERE kind = :kind{lock}"
        ),
        {"kind": kind},
    ).one()
    return State(*(int(value) for value in row))


def lock_state(conn: Connection, kind: int) -> State:
    """Lock one kind's state for the rest of the transaction (every user_history writer)."""
    return read_state(conn, kind, for_update=True)


def _write_state(conn: Connection, kind: int, state: State) -> None:
    """Persist one kind's state (inside the transaction that did the work)."""
    conn.execute(
        text(
            "UPDATE user_history_state SET indexed_upto = :indexed_upto, next_run = :next_run, "
            "passed_at_ms = :passed_at_ms WHERE kind = :kind"
        ),
        {
            "kind": kind,
            "indexed_upto": state.indexed_upto,
            "next_run": state.next_run,
            "passed_at_ms": state.passed_at_ms,
        },
    )


def _new_run_id(state: State, kind: int) -> int:
    """Allocate the next run id of a kind (the state row is locked by the caller)."""
    run = state.next_run * 4 + kind
    state.next_run += 1
    return run


def level_of(rows: int) -> int:
    """The tier of a run of `rows` rows: 0 below BASE_RUN_ROWS * FANOUT, +1 per FANOUT x."""
    if rows < BASE_RUN_ROWS * FANOUT:
        return 0
    return int(math.log(rows / BASE_RUN_ROWS, FANOUT))


def runs(conn: Connection, kind: int) -> list[Run]:
    """Every run of a kind, merge sources and targets included, oldest first."""
    found = conn.execute(
        text(
            "SELECT run, level, rows, merging_into, user_done, user_last, user_span "
            "FROM user_history_runs WHERE kind = :kind ORDER BY run"
        ),
        {"kind": kind},
    )
    return [Run(*row) for row in found]


def run_ids(conn: Connection, kind: int) -> tuple[int, ...]:
    """The ids of every run a reader must look in."""
    found = conn.execute(
        text("SELECT run FROM user_history_runs WHERE kind = :kind ORDER BY run"), {"kind": kind}
    )
    return tuple(int(run) for (run,) in found)


def in_list(prefix: str, values: Sequence[int]) -> tuple[str, dict[str, int]]:
    """Named placeholders for an IN list, and their parameters."""
    params = {f"{prefix}{i}": int(value) for i, value in enumerate(values)}
    return ",".join(f":{name}" for name in params), params


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


def _pass(conn: Connection, source: Source, force: bool, now_ms: int) -> bool:
    """Copy the unindexed tail (up to PASS_MAX_ROWS) into a new run when due; True if done."""
    with conn.begin():
        state = read_state(conn, source.kind)
    bound = _committed_upper_bound(conn, source)
    pending = bound - state.indexed_upto
    if pending <= 0:
        return False
    if not force and pending < MIN_PASS_ROWS and now_ms - state.passed_at_ms < MAX_LAG_MS:
        return False
    with conn.begin():
        state = lock_state(conn, source.kind)
        upto = min(bound, state.indexed_upto + PASS_MAX_ROWS)
        if upto <= state.indexed_upto:
            return False  # another writer indexed it meanwhile
        run = _new_run_id(state, source.kind)
        copied = conn.execute(
            text(
                "INSERT INTO user_history (run, user_id, kind, time_ms, row_id, item_id) "
                f"SELECT :run, user_id, {source.kind}, time_ms, id, {source.item_column} "
                f"FROM {source.table} WHERE id > :after AND id <= :upto "
                "ORDER BY user_id, time_ms, id"
            ),
            {"run": run, "after": state.indexed_upto, "upto": upto},
        ).rowcount
        if copied > 0:
            conn.execute(
                text(
                    "INSERT INTO user_history_runs (run, kind, level, rows) "
                    "VALUES (:run, :kind, :level, :rows)"
                ),
                {"run": run, "kind": source.kind, "level": level_of(copied), "rows": copied},
            )
        state.indexed_upto = upto
        state.passed_at_ms = now_ms
        _write_state(conn, source.kind, state)
    return True


def _plan(found: list[Run]) -> list[Run]:
    """FANOUT oldest runs of the lowest level that has that many (none if no level has)."""
    by_level: dict[int, list[Run]] = {}
    for run in found:
        if run.merging_into is None and run.user_done is None:
            by_level.setdefault(run.level, []).append(run)
    for level in sorted(by_level):
        if len(by_level[level]) >= FANOUT:
            return by_level[level][:FANOUT]
    return []


def _start_merge(conn: Connection, source: Source, state: State, picked: list[Run]) -> None:
    """Open a merge of `picked` into a new, empty target run (its chunks follow)."""
    marks, params = in_list("r", [run.run for run in picked])
    ends = [_user_ends(conn, run.run) for run in picked]
    lows = [low for low, _high in ends if low is not None]
    highs = [high for _low, high in ends if high is not None]
    low = min(lows) if lows else 0
    high = max(highs) if highs else -1
    total = sum(run.rows for run in picked)
    chunks = max(1, math.ceil(total / MERGE_CHUNK_ROWS))
    target = _new_run_id(state, source.kind)
    conn.execute(
        text(
            "INSERT INTO user_history_runs "
            "(run, kind, level, rows, user_done, user_last, user_span) "
            "VALUES (:run, :kind, :level, 0, :low, :high, :span)"
        ),
        {
            "run": target,
            "kind": source.kind,
            "level": max(picked[0].level + 1, level_of(total)),
            "low": low,
            "high": high,
            "span": max(1, math.ceil((high - low + 1) / chunks)),
        },
    )
    conn.execute(
        text(f"UPDATE user_history_runs SET merging_into = :target WHERE run IN ({marks})"),
        {"target": target, **params},
    )
    _write_state(conn, source.kind, state)


def _user_ends(conn: Connection, run: int) -> tuple[int | None, int | None]:
    """The lowest and highest user id in one run (two index seeks, not a scan of the run)."""
    ends: list[int | None] = []
    for order in ("ASC", "DESC"):
        found = conn.execute(
            text(
                "SELECT user_id FROM user_history WHERE run = :run "
                f"ORDER BY user_id {order} LIMIT 1"
            ),
            {"run": run},
        ).scalar()
        ends.append(None if found is None else int(found))
    return ends[0], ends[1]


def _move(conn: Connection, sources: str, params: dict[str, int], users: str) -> int:
    """Move the source runs' rows matching `users` (SQL) into run :target; rows moved."""
    moved = conn.execute(
        text(
            "INSERT INTO user_history (run, user_id, kind, time_ms, row_id, item_id) "
            "SELECT :target, user_id, kind, time_ms, row_id, item_id FROM user_history "
            f"WHERE run IN ({sources}){users} ORDER BY user_id, kind, time_ms, row_id"
        ),
        params,
    ).rowcount
    conn.execute(text(f"DELETE FROM user_history WHERE run IN ({sources}){users}"), params)
    return int(moved)


def _merge_chunk(conn: Connection, target: Run, found: list[Run]) -> None:
    """Move the next user range of a merge's sources into its target; finish after the last."""
    assert target.user_done is not None and target.user_last is not None and target.user_span
    picked = [run.run for run in found if run.merging_into == target.run]
    marks, params = in_list("r", picked)
    low = target.user_done
    high = low + target.user_span
    params.update({"target": target.run, "low": low, "high": high})
    moved = _move(conn, marks, params, " AND user_id >= :low AND user_id < :high")
    if high <= target.user_last:
        # users are not spread evenly over ids: aim the next range at MERGE_CHUNK_ROWS rows
        span = target.user_span * MERGE_CHUNK_ROWS // max(moved, 1)
        span = max(1, min(max(span, target.user_span // 4), target.user_span * 4))
        conn.execute(
            text(
                "UPDATE user_history_runs SET rows = rows + :moved, user_done = :high, "
                "user_span = :span WHERE run = :target"
            ),
            {"moved": moved, "high": high, "span": span, "target": target.run},
        )
        return
    # the last range: rows a user merge moved outside the remaining range are swept up too
    moved += _move(conn, marks, params, "")
    conn.execute(text(f"DELETE FROM user_history_runs WHERE run IN ({marks})"), params)
    conn.execute(
        text(
            "UPDATE user_history_runs SET rows = rows + :moved, user_done = NULL, "
            "user_last = NULL, user_span = NULL WHERE run = :target"
        ),
        {"moved": moved, "target": target.run},
    )


def _merge(conn: Connection, source: Source) -> bool:
    """One merge transaction of a kind: the next chunk, or opening a merge; True if done."""
    with conn.begin():
        state = lock_state(conn, source.kind)
        found = runs(conn, source.kind)
        target = next((run for run in found if run.user_done is not None), None)
        if target is not None:
            _merge_chunk(conn, target, found)
            return True
        picked = _plan(found)
        if not picked:
            return False
        _start_merge(conn, source, state, picked)
        return True


def index_step(conn: Connection, *, force: bool = False, now_ms: int | None = None) -> bool:
    """One unit of work per kind: a pass if due, else a merge transaction; True if work done.

    `conn` must have no transaction open; each unit commits on its own. On SQLite call it
    under the write lock.
    """
    now = int(time.time() * 1000) if now_ms is None else now_ms
    worked = False
    for source in SOURCES:
        if _backlogged(conn, source.kind):  # merges first, or passes could starve them
            done = _merge(conn, source) or _pass(conn, source, force, now)
        else:
            done = _pass(conn, source, force, now) or _merge(conn, source)
        worked = worked or done
    return worked


def _backlogged(conn: Connection, kind: int) -> bool:
    """True when runs wait to be merged faster than merges take them (2 x FANOUT or more)."""
    with conn.begin():
        waiting = conn.execute(
            text(
                "SELECT count(*) FROM user_history_runs WHERE kind = :kind "
                "AND merging_into IS NULL AND user_done IS NULL"
            ),
            {"kind": kind},
        ).scalar()
    return int(waiting or 0) >= 2 * FANOUT


def catch_up(engine: Engine) -> None:
    """Index every committed raw row and finish due merges now (tests, tools); write-locks."""
    lock = WriteLock(engine)
    try:
        with lock.held(), engine.connect() as conn:
            while index_step(conn, force=True):
                pass
    finally:
        lock.close()
