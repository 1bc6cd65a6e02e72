"""Folding recent rollups into the hourly tables: totals never change, counts are never lost."""

from __future__ import annotations

import threading

from sqlalchemy import func, insert, select
from sqlalchemy.engine import Engine

from heron.analytics.compaction import compact, compact_all
from heron.analytics.rollups import event_counts, purchase_totals
from heron.store.engine import WRITE_OPTION
from heron.store.schema import (
    event_rollups_hourly,
    event_rollups_recent,
    purchase_rollups_hourly,
    purchase_rollups_recent,
)

H = 3600


def test_compact_moves_only_hours_before_the_cutoff_and_keeps_totals(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(
            insert(event_rollups_hourly),
            [{"workspace_id": 1, "event_id": 7, "app_id": 0, "hour": 10 * H, "count": 5}],
        )
        conn.execute(
            insert(event_rollups_recent),
            [
                {"workspace_id": 1, "event_id": 7, "app_id": 0, "hour": 10 * H, "count": 2},
                {"workspace_id": 1, "event_id": 7, "app_id": 0, "hour": 11 * H, "count": 3},
                {"workspace_id": 1, "event_id": 7, "app_id": 0, "hour": 12 * H, "count": 4},
            ],
        )
        conn.execute(
            insert(purchase_rollups_recent),
            [
                {
                    "workspace_id": 1,
                    "product_id": 0,
                    "app_id": 0,
                    "hour": 10 * H,
                    "purchases": 1,
                    "quantity": 2,
                    "revenue": 3.5,
                },
            ],
        )
    with engine.connect() as conn:
        before = event_counts(conn, 1, 7, 0, 100 * H)
    assert before == {10 * H: 7, 11 * H: 3, 12 * H: 4}
    with engine.begin() as conn:
        compact(conn, 12 * H)
    with engine.connect() as conn:
        assert event_counts(conn, 1, 7, 0, 100 * H) == before
        hourly = dict(
            conn.execute(select(event_rollups_hourly.c.hour, event_rollups_hourly.c.count)).all()
        )
        recent = dict(
            conn.execute(select(event_rollups_recent.c.hour, event_rollups_recent.c.count)).all()
        )
        assert hourly == {10 * H: 7, 11 * H: 3}
        assert recent == {12 * H: 4}
        assert purchase_totals(conn, 1, 0, 100 * H) == {10 * H: (1, 2, 3.5)}
        assert conn.execute(select(func.count()).select_from(purchase_rollups_hourly)).scalar() == 1
        assert conn.execute(select(func.count()).select_from(purchase_rollups_recent)).scalar() == 0


def test_folding_while_ingest_adds_loses_no_count(engine: Engine) -> None:
    """An upsert racing a fold (PostgreSQL: concurrent transactions) must never be lost."""
    adds, folds = 300, 60
    upsert = (
        "INSERT INTO event_rollups_recent (workspace_id, event_id, app_id, hour, count) "
        "VALUES (1, 1, 0, {hour}, 1) ON CONFLICT (workspace_id, event_id, app_id, hour) "
        "DO UPDATE SET count = event_rollups_recent.count + excluded.count"
    )
    errors: list[BaseException] = []

    def add() -> None:
        try:
            with engine.connect() as conn:
                conn.execution_options(**{WRITE_OPTION: True})
                for i in range(adds):
                    with conn.begin():
                        conn.exec_driver_sql(upsert.format(hour=(i % 3) * H))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    def fold() -> None:
        try:
            with engine.connect() as conn:
                conn.execution_options(**{WRITE_OPTION: True})
                for _ in range(folds):
                    with conn.begin():
                        compact(conn, 3 * H)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=add), threading.Thread(target=fold)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    with engine.begin() as conn:
        compact_all(conn)
    with engine.connect() as conn:
        assert sum(event_counts(conn, 1, 1, 0, 10 * H).values()) == adds
