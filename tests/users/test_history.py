"""`heron.users.history`: one user's events and purchases, read through the per-user indexes."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from alembic import command
from sqlalchemy import func, select, text
from sqlalchemy.engine import Connection, Engine
from starlette.testclient import TestClient

from conftest import BACKEND, Workspace, auth, make_workspace
from heron.ingest import writer
from heron.store import migrate
from heron.store.engine import WRITE_OPTION
from heron.store.schema import (
    HISTORY_EVENT,
    HISTORY_PURCHASE,
    custom_events,
    events,
    user_history,
    users,
)
from heron.users import history, history_index

T0 = "2026-03-01T10:00:00Z"
T1 = "2026-03-02T10:00:00Z"
MS0 = 1_772_359_200_000  # T0 in epoch ms
MS1 = MS0 + 86_400_000


def _track(client: TestClient, ws: Workspace, body: dict[str, Any]) -> None:
    """POST /users/track and require success."""
    response = client.post("/users/track", json=body, headers=auth(ws.key))
    assert response.status_code == 201, response.text


def _uid(engine: Engine, external_id: str) -> int:
    """A stored user's id by external id."""
    with engine.connect() as conn:
        return int(
            conn.execute(select(users.c.id).where(users.c.external_id == external_id)).one()[0]
        )


def test_summaries_and_times_per_user(
    client: TestClient, engine: Engine, workspace: Workspace
) -> None:
    """Counts, first and last times per (user, item); windows and filters apply."""
    _track(
        client,
        workspace,
        {
            "events": [
                {"external_id": "a", "name": "open", "time": T0},
                {"external_id": "a", "name": "open", "time": T1},
                {"external_id": "a", "name": "buy", "time": T1},
                {"external_id": "b", "name": "open", "time": T1},
            ],
            "purchases": [
                {
                    "external_id": "a",
                    "product_id": "p",
                    "currency": "USD",
                    "price": 2.5,
                    "quantity": 3,
                    "time": T0,
                },
            ],
        },
    )
    a, b = _uid(engine, "a"), _uid(engine, "b")
    with engine.connect() as conn:
        found = {
            (s.user_id, s.name): (s.count, s.first_ms, s.last_ms)
            for s in history.event_summaries(conn, workspace.id, [a, b])
        }
        assert found == {
            (a, "open"): (2, MS0, MS1),
            (a, "buy"): (1, MS1, MS1),
            (b, "open"): (1, MS1, MS1),
        }
        recent = history.event_summaries(conn, workspace.id, [a], since_ms=MS1)
        assert {(s.name, s.count) for s in recent} == {("open", 1), ("buy", 1)}
        assert history.event_summaries(conn, workspace.id, [a], until_ms=MS0) == []
        times = history.event_times(conn, workspace.id, [b, a])
        assert [(u, t) for u, _e, t in times] == [(a, MS0), (a, MS1), (a, MS1), (b, MS1)]
        (bought,) = history.purchase_summaries(conn, workspace.id, [a, b])
        assert (bought.user_id, bought.name, bought.count) == (a, "p", 1)
        assert history.purchase_times(conn, workspace.id, [a]) == [
            (a, bought.product_id, MS0, 2.5, 3, "USD")
        ]
        # another workspace's ids never match
        assert history.event_summaries(conn, workspace.id + 1000, [a, b]) == []


# -- the index behind ingest (heron.users.history_index) --------------------------------------


@pytest.fixture
def quiet_writer(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep the server's writer from indexing, so a test can step the indexer itself."""
    monkeypatch.setattr(writer, "HISTORY_IDLE_INTERVAL_SECONDS", 3600.0)


def _state(engine: Engine, kind: int = HISTORY_EVENT) -> history_index.State:
    """The indexer's state for one kind."""
    with engine.connect() as conn:
        return history_index.read_state(conn, kind)


@contextlib.contextmanager
def _indexer(engine: Engine) -> Iterator[Connection]:
    """A connection that writes the way the server's writer does (SQLite: BEGIN IMMEDIATE)."""
    with engine.connect() as conn:
        conn.execution_options(**{WRITE_OPTION: True})
        yield conn


def _runs(engine: Engine, kind: int = HISTORY_EVENT) -> list[history_index.Run]:
    """The runs of one kind."""
    with engine.connect() as conn:
        return history_index.runs(conn, kind)


def _snapshot(engine: Engine, ws: int, uids: list[int]) -> tuple[Any, ...]:
    """Everything the readers answer for the users."""
    with engine.connect() as conn:
        return (
            history.event_rows(conn, ws, uids),
            history.purchase_times(conn, ws, uids),
            history.event_summaries(conn, ws, uids),
            history.purchase_summaries(conn, ws, uids, since_ms=MS0 + 1),
        )


def _many(client: TestClient, ws: Workspace, users: int, per_user: int) -> None:
    """Events and purchases for users u0.. spread over two days."""
    events = [
        {"external_id": f"u{u}", "name": f"e{i % 3}", "time": (T0, T1)[i % 2]}
        for u in range(users)
        for i in range(per_user)
    ]
    purchases = [
        {"external_id": f"u{u}", "product_id": "p", "currency": "USD", "price": 1, "time": T1}
        for u in range(users)
    ]
    for start in range(0, len(events), 75):
        _track(client, ws, {"events": events[start : start + 75]})
    _track(client, ws, {"purchases": purchases})


@pytest.fixture
def small_tiers(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tiny passes, runs and merge chunks, so a few dozen rows exercise every tier."""
    monkeypatch.setattr(history_index, "PASS_MAX_ROWS", 7)
    monkeypatch.setattr(history_index, "FANOUT", 2)
    monkeypatch.setattr(history_index, "BASE_RUN_ROWS", 4)
    monkeypatch.setattr(history_index, "MERGE_CHUNK_ROWS", 5)


def _indexed_rows(engine: Engine) -> dict[int, int]:
    """Index entries per user (every run, events only)."""
    with engine.connect() as conn:
        return dict(
            conn.execute(
                select(user_history.c.user_id, func.count())
                .where(user_history.c.kind == HISTORY_EVENT)
                .group_by(user_history.c.user_id)
            ).all()
        )


def test_readers_agree_through_passes_and_merges(
    quiet_writer: None,
    small_tiers: None,
    client: TestClient,
    engine: Engine,
    workspace: Workspace,
) -> None:
    """The same answers from the raw tail, every pass, every merge chunk, and the end state."""
    _many(client, workspace, users=12, per_user=5)
    uids = [_uid(engine, f"u{u}") for u in range(12)]
    expected = _snapshot(engine, workspace.id, uids)
    assert len(expected[0]) == 60 and len(expected[1]) == 12
    steps = 0
    merging_seen = 0
    with _indexer(engine) as conn:
        while history_index.index_step(conn, force=True):
            steps += 1
            conn.rollback()  # end the read snapshot SQLAlchemy began
            assert _snapshot(engine, workspace.id, uids) == expected
            merging_seen += any(run.user_done is not None for run in _runs(engine))
    assert steps > 10 and merging_seen > 3  # passes, then merges chunk by chunk
    assert _state(engine).indexed_upto >= max(r.row_id for r in expected[0])
    final = _runs(engine)
    assert all(run.user_done is None and run.merging_into is None for run in final)
    assert max(run.level for run in final) >= 2  # merged runs were merged again
    assert sum(run.rows for run in final) == 60
    by_level: dict[int, int] = {}
    for run in final:
        by_level[run.level] = by_level.get(run.level, 0) + 1
    assert all(count < history_index.FANOUT for count in by_level.values())
    with engine.connect() as conn:
        indexed = conn.execute(select(func.count()).select_from(user_history)).scalar()
    assert indexed == 72  # every row once: 60 events, 12 purchases
    assert _snapshot(engine, workspace.id, uids) == expected


def test_merge_and_delete_keep_index_and_raw_rows_together(
    quiet_writer: None,
    small_tiers: None,
    client: TestClient,
    engine: Engine,
    workspace: Workspace,
) -> None:
    """reassign_user / delete_user_rows in the middle of a merge leave no stale or lost row."""
    _many(client, workspace, users=6, per_user=4)
    uids = [_uid(engine, f"u{u}") for u in range(6)]
    with _indexer(engine) as conn:
        for _ in range(3):  # passes (7 rows each) until a merge opens and has done one chunk
            history_index.index_step(conn, force=True)
        while not any(run.user_done not in (None, uids[0]) for run in _runs(engine)):
            assert history_index.index_step(conn, force=True)
    merge = next(run for run in _runs(engine) if run.user_done is not None)
    assert merge.user_done is not None and uids[0] < merge.user_done <= uids[4]
    with engine.begin() as conn:
        # u5 is past the merged range, u0 inside it: rows go both ways across the boundary
        history.reassign_user(conn, workspace.id, uids[5], uids[0])
        history.reassign_user(conn, workspace.id, uids[1], uids[4])
        assert history.delete_user_rows(conn, workspace.id, [uids[2]]) == 5
    history_index.catch_up(engine)
    assert all(run.user_done is None for run in _runs(engine))
    with engine.connect() as conn:
        counts = {
            s.user_id: s.count
            for s in history.event_summaries(conn, workspace.id, uids)
            if s.name == "e0"
        }
        per_user = {u: len(history.event_rows(conn, workspace.id, [u])) for u in uids}
        raw = dict(
            conn.execute(select(events.c.user_id, func.count()).group_by(events.c.user_id)).all()
        )
    assert per_user == {uids[0]: 8, uids[1]: 0, uids[2]: 0, uids[3]: 4, uids[4]: 8, uids[5]: 0}
    assert _indexed_rows(engine) == raw == {u: n for u, n in per_user.items() if n}
    assert counts[uids[0]] == 4  # e0 and e1 alternate: 2 of each user's 4 events, merged


def test_readers_never_miss_a_row_while_runs_change(
    quiet_writer: None,
    small_tiers: None,
    client: TestClient,
    engine: Engine,
    workspace: Workspace,
) -> None:
    """Readers on their own connections, concurrently with passes and merges, see every row.

    On PostgreSQL each statement has its own snapshot, so this exercises the re-read when the
    runs changed between a reader's statements.
    """
    _many(client, workspace, users=16, per_user=10)
    uids = [_uid(engine, f"u{u}") for u in range(16)]
    expected = _snapshot(engine, workspace.id, uids)
    stop = threading.Event()
    seen: list[bool] = []

    def read() -> None:
        while not stop.is_set():
            seen.append(_snapshot(engine, workspace.id, uids) == expected)

    readers = [threading.Thread(target=read) for _ in range(2)]
    for reader in readers:
        reader.start()
    try:
        with _indexer(engine) as conn:
            while history_index.index_step(conn, force=True):
                conn.rollback()
                time.sleep(0.002)
    finally:
        stop.set()
        for reader in readers:
            reader.join(30)
    assert seen and all(seen), f"{seen.count(False)} of {len(seen)} reads differed"


def test_upgrade_turns_the_sorted_index_into_runs(
    client: TestClient, engine: Engine, workspace: Workspace
) -> None:
    """Migration 0011 keeps every indexed row (as one run per kind) and the readers' answers."""
    _many(client, workspace, users=4, per_user=3)
    history_index.catch_up(engine)
    uids = [_uid(engine, f"u{u}") for u in range(4)]
    expected = _snapshot(engine, workspace.id, uids)
    config = migrate.alembic_config(engine)
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0011-1")
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM user_history")).scalar() == 16
    migrate.upgrade(engine)
    assert _snapshot(engine, workspace.id, uids) == expected
    final = _runs(engine)
    assert [(run.run, run.rows) for run in final] == [(4 + HISTORY_EVENT, 12)]
    assert [(r.run, r.rows) for r in _runs(engine, HISTORY_PURCHASE)] == [(4 + HISTORY_PURCHASE, 4)]
    assert _indexed_rows(engine) == {u: 3 for u in uids}


def test_writer_indexes_in_the_background(
    client: TestClient, engine: Engine, workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A running server indexes new rows by itself once they are MAX_LAG_MS old."""
    monkeypatch.setattr(history_index, "MAX_LAG_MS", 500)
    _many(client, workspace, users=3, per_user=2)
    deadline = time.monotonic() + 15
    while _state(engine).indexed_upto < 6 or _state(engine, HISTORY_PURCHASE).indexed_upto < 3:
        assert time.monotonic() < deadline, _state(engine)
        time.sleep(0.1)


@pytest.mark.skipif(BACKEND != "postgresql", reason="sequence order vs commit order: PostgreSQL")
def test_pass_waits_for_uncommitted_appends(engine: Engine, workspace: Workspace) -> None:
    """A row id allocated by a transaction still open is never skipped by the index."""
    with engine.begin() as conn:
        uid = conn.execute(
            users.insert().values(
                workspace_id=workspace.id,
                braze_id="b1",
                external_id="x",
                created_at_ms=MS0,
                updated_at_ms=MS0,
            )
        ).inserted_primary_key[0]
        event_id = conn.execute(
            custom_events.insert().values(workspace_id=workspace.id, name="e", created_at_ms=MS0)
        ).inserted_primary_key[0]
    row = {"workspace_id": workspace.id, "user_id": uid, "event_id": event_id, "time_ms": MS0}
    slow = engine.connect()
    slow_tx = slow.begin()
    history_index.hold_append_lock(slow)
    slow.execute(events.insert().values(**row))  # gets the lower id, commits last
    with engine.begin() as conn:
        history_index.hold_append_lock(conn)
        conn.execute(events.insert().values(**row))
    done = threading.Event()

    def index() -> None:
        history_index.catch_up(engine)
        done.set()

    worker = threading.Thread(target=index)
    worker.start()
    assert not done.wait(0.5)  # the pass may not read its bound while an append is open
    slow_tx.commit()
    slow.close()
    worker.join(10)
    assert done.is_set()
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(user_history)).scalar() == 2


def test_ids_of_deleted_newest_rows_are_never_reused(
    client: TestClient, engine: Engine, workspace: Workspace
) -> None:
    """Deleting the user with the newest rows, then tracking: the new rows get new ids.

    SQLite used to hand the deleted ids out again, below `indexed_upto`, so the new rows never
    reached the history index (or the segment evaluator, which also reads by id watermark).
    """
    _track(client, workspace, {"events": [{"external_id": "old", "name": "e", "time": T0}]})
    _track(client, workspace, {"events": [{"external_id": "new", "name": "e", "time": T1}] * 3})
    history_index.catch_up(engine)
    upto = _state(engine).indexed_upto
    response = client.post(
        "/users/delete", json={"external_ids": ["new"]}, headers=auth(workspace.key)
    )
    assert response.status_code == 201, response.text
    _track(client, workspace, {"events": [{"external_id": "old", "name": "e", "time": T1}]})
    with engine.connect() as conn:
        newest = conn.execute(select(func.max(events.c.id))).scalar_one()
    assert newest > upto
    history_index.catch_up(engine)
    with engine.connect() as conn:
        rows = history.event_rows(conn, workspace.id, [_uid(engine, "old")])
    assert [r.time_ms for r in rows] == [MS0, MS1]


@pytest.mark.skipif(BACKEND != "sqlite", reason="SQLite's rowid allocation")
def test_upgrade_keeps_raw_rows_and_starts_ids_above_the_watermarks(
    client: TestClient, engine: Engine, workspace: Workspace
) -> None:
    """Migration 0012 rebuilds events/purchases with AUTOINCREMENT, above every passed id."""
    _many(client, workspace, users=3, per_user=2)
    history_index.catch_up(engine)
    config = migrate.alembic_config(engine)
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0012-1")
    with engine.begin() as conn:  # the newest rows go, as a delete would take them
        before = conn.execute(select(func.max(events.c.id))).scalar_one()
        conn.execute(events.delete().where(events.c.id > before - 2))
        kept = conn.execute(select(events.c.id).order_by(events.c.id)).scalars().all()
    migrate.upgrade(engine)
    with engine.begin() as conn:
        assert conn.execute(select(events.c.id).order_by(events.c.id)).scalars().all() == kept
        sql = conn.exec_driver_sql("SELECT sql FROM sqlite_master WHERE name = 'events'").scalar()
        assert "AUTOINCREMENT" in sql
        new_id = conn.execute(
            events.insert().values(workspace_id=workspace.id, user_id=1, event_id=1, time_ms=MS0)
        ).inserted_primary_key[0]
    assert new_id == before + 1


def test_merges_go_first_when_runs_pile_up(
    quiet_writer: None,
    small_tiers: None,
    client: TestClient,
    engine: Engine,
    workspace: Workspace,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With 2 x FANOUT runs waiting, a step merges even though a pass is due too."""
    _many(client, workspace, users=5, per_user=6)
    with monkeypatch.context() as patched, _indexer(engine) as conn:
        patched.setattr(history_index, "_merge", lambda _conn, _source: False)
        for _ in range(4):  # 4 passes of 7 rows: 4 level-0 runs, none merged
            assert history_index.index_step(conn, force=True)
    assert len(_runs(engine)) == 4
    upto = _state(engine).indexed_upto
    with _indexer(engine) as conn:
        assert history_index.index_step(conn, force=True)
    assert _state(engine).indexed_upto == upto  # the pending tail waited
    assert any(run.user_done is not None for run in _runs(engine))  # a merge opened


def test_merge_ranges_follow_where_the_rows_are(
    quiet_writer: None,
    small_tiers: None,
    client: TestClient,
    engine: Engine,
    workspace: Workspace,
) -> None:
    """A merge's user ranges adapt when rows crowd into a few user ids, and lose nothing."""
    _many(client, workspace, users=30, per_user=1)  # 30 users with one event each
    heavy = [{"external_id": "u29", "name": "e0", "time": T0}] * 40  # then one busy user
    _track(client, workspace, {"events": heavy})
    uids = [_uid(engine, f"u{u}") for u in range(30)]
    expected = _snapshot(engine, workspace.id, uids)
    spans: dict[int, set[int]] = {}
    with _indexer(engine) as conn:
        while history_index.index_step(conn, force=True):
            conn.rollback()
            for run in _runs(engine):
                if run.user_span is not None:
                    spans.setdefault(run.run, set()).add(run.user_span)
    assert any(len(seen) > 1 for seen in spans.values())  # a merge changed its span midway
    assert _snapshot(engine, workspace.id, uids) == expected
    assert sum(run.rows for run in _runs(engine)) == 70


@pytest.mark.skipif(BACKEND != "sqlite", reason="SQLite's query planner")
def test_reads_look_users_up_by_id_not_by_workspace(
    client: TestClient, engine: Engine, workspace: Workspace
) -> None:
    """Regression: `workspace_id = ? AND id IN (...)` made SQLite search users by a workspace
    index, reading every user of the workspace per chunk (O(users) per evaluator step); the
    history and the segment facts now look users up by primary key and check the workspace in
    Python, and users of another workspace still never match."""
    from sqlalchemy import event

    from heron.segments.facts import Needs, load_facts

    other = make_workspace(engine, "other")
    _track(client, workspace, {"events": [{"external_id": "a", "name": "open", "time": T0}]})
    _track(client, other, {"events": [{"external_id": "z", "name": "open", "time": T0}]})
    a, z = _uid(engine, "a"), _uid(engine, "z")
    seen: list[tuple[str, Any]] = []

    def record(_conn: Any, _cursor: Any, statement: str, params: Any, *_: Any) -> None:
        if " FROM users " in statement:
            seen.append((statement, params))

    event.listen(engine, "before_cursor_execute", record)
    try:
        with engine.connect() as conn:
            assert [r.user_id for r in history.event_rows(conn, workspace.id, [a, z])] == [a]
            needs = Needs(frozenset({"open"}), frozenset(), frozenset(), 0, 0)
            found = load_facts(conn, workspace.id, [a, z], needs, MS1)
            assert sorted(found) == [a] and found[a].events["open"][0] == 1
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert len(seen) >= 2
    with engine.connect() as conn:
        for statement, params in seen:
            plan = " ".join(
                str(row[-1])
                for row in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, params)
            )
            assert "SEARCH users USING INTEGER PRIMARY KEY" in plan, plan
            assert "workspace_id" not in plan, plan
