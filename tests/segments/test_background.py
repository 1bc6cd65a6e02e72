"""`heron.segments.background`: the evaluator's own writes take turns with ingest's."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest
from sqlalchemy.engine import Engine

from conftest import BACKEND, Workspace
from heron.segments import service
from heron.segments.background import take_lease
from heron.segments.sizes import snapshot
from heron.store.writelock import WriteLock


def _waits_for_write_lock(engine: Engine, work: Callable[[], object]) -> None:
    """`work` does not finish while another holder has the write lock, and finishes after."""
    lock = WriteLock(engine)
    done = threading.Event()
    try:
        with lock.held():
            thread = threading.Thread(target=lambda: (work(), done.set()), daemon=True)
            thread.start()
            time.sleep(0.3)
            assert not done.is_set()  # it queued on the lock instead of SQLite's busy handler
    finally:
        lock.close()
    thread.join(10)
    assert done.is_set()


@pytest.mark.skipif(BACKEND != "sqlite", reason="the write lock is SQLite's (a no-op elsewhere)")
def test_lease_and_snapshot_take_the_write_lock(engine: Engine, workspace: Workspace) -> None:
    """Regression: both wrote outside the cross-process write lock, so they met ingest's writer
    in SQLite's busy handler (sleeps of up to 100 ms); ingest with tracked segments lost about a
    quarter of its throughput to that in bench/segments.py."""
    now = int(time.time() * 1000)
    fields = service.parse_fields(
        {"name": "all", "filter": {"custom_attribute": "plan", "op": "does_not_exist"}},
        creating=True,
    )
    service.create(engine, workspace.id, fields, now)  # the snapshot has a size to write
    _waits_for_write_lock(engine, lambda: take_lease(engine, "me", now))
    assert take_lease(engine, "me", now)
    assert not take_lease(engine, "other", now)  # held by "me" for LEASE_MS
    _waits_for_write_lock(engine, lambda: snapshot(engine, now))
