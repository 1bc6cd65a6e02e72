"""Acknowledgement after the WAL fsync (heron.store.walsync): a 201 never precedes the flush.

SQLite only: on PostgreSQL the database's own commit is durable and heron syncs nothing itself.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import ClassVar

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine
from starlette.testclient import TestClient

from conftest import BACKEND, Workspace, auth
from heron.app import create_app
from heron.config import Settings
from heron.store import walsync

pytestmark = pytest.mark.skipif(BACKEND != "sqlite", reason="heron syncs the WAL only on SQLite")

EVENT = {"external_id": "u1", "name": "sync_probe", "time": "2026-01-01T00:00:00Z"}


def _events(engine: Engine) -> int:
    """Stored raw events, read on a fresh connection (what another reader sees)."""
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT count(*) FROM events")).scalar_one())


class _GatedSync(walsync.WalSync):
    """A WalSync whose fsync waits until the test opens the gate (and records each call)."""

    gate: ClassVar[threading.Event] = threading.Event()
    calls: ClassVar[list[float]] = []

    def sync(self) -> None:
        """Block until released, then really fsync."""
        assert self.gate.wait(30), "the test never released the fsync"
        type(self).calls.append(time.monotonic())
        super().sync()


@pytest.fixture
def gated(monkeypatch: pytest.MonkeyPatch) -> Iterator[type[_GatedSync]]:
    """Make the writer use _GatedSync, closed at the start."""
    _GatedSync.gate = threading.Event()
    _GatedSync.calls = []
    monkeypatch.setattr("heron.ingest.writer.WalSync", _GatedSync)
    yield _GatedSync
    _GatedSync.gate.set()


def test_durable_wal_path_only_for_sqlite_files_at_full(engine: Engine, database_url: str) -> None:
    """FULL on a file: heron syncs; NORMAL/OFF/EXTRA and memory databases: SQLite's own rule."""
    path = walsync.durable_wal_path(engine, "FULL")
    assert path == os.path.abspath(engine.url.database or "") + "-wal"
    for level in ("NORMAL", "OFF", "EXTRA"):
        assert walsync.durable_wal_path(engine, level) is None
    memory = create_engine("sqlite://")
    assert walsync.durable_wal_path(memory, "FULL") is None
    memory.dispose()


def test_201_waits_for_the_wal_fsync(
    engine: Engine, database_url: str, workspace: Workspace, gated: type[_GatedSync]
) -> None:
    """The group is committed (visible) before the fsync, but answered only after it."""
    app = create_app(Settings(database_url=database_url))
    with TestClient(app) as client, ThreadPoolExecutor(1) as pool:
        before = _events(engine)
        future = pool.submit(
            client.post, "/users/track", json={"events": [EVENT]}, headers=auth(workspace.key)
        )
        deadline = time.monotonic() + 20
        while _events(engine) == before and time.monotonic() < deadline:
            time.sleep(0.01)
        assert _events(engine) == before + 1, "the group was never committed"
        time.sleep(0.2)
        assert not future.done(), "answered before the WAL was flushed"
        gated.gate.set()
        response = future.result(timeout=20)
    assert response.status_code == 201, response.text
    assert response.json()["events_processed"] == 1
    assert gated.calls, "no fsync ran"


def test_failed_fsync_answers_503_from_then_on(
    engine: Engine, database_url: str, workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An fsync error is never answered as success, and it is final until a restart.

    After a failed fsync Linux may drop the pages it could not write and let a later fsync
    succeed, so nothing committed afterwards could honestly be called durable either.
    """
    failing = {"on": True}
    real_sync = walsync.WalSync.sync

    def sync(self: walsync.WalSync) -> None:
        if failing["on"]:
            raise OSError(5, "Input/output error")
        real_sync(self)

    monkeypatch.setattr(walsync.WalSync, "sync", sync)
    app = create_app(Settings(database_url=database_url))
    with TestClient(app, raise_server_exceptions=False) as client:
        refused = client.post("/users/track", json={"events": [EVENT]}, headers=auth(workspace.key))
        assert refused.status_code == 503, refused.text
        assert refused.json()["message"] == "Service Unavailable"
        failing["on"] = False  # the disk "recovers": still refused until restarted
        again = client.post("/users/track", json={"events": [EVENT]}, headers=auth(workspace.key))
        assert again.status_code == 503, again.text
    restarted = create_app(Settings(database_url=database_url))
    with TestClient(restarted) as client:
        answered = client.post(
            "/users/track", json={"events": [EVENT]}, headers=auth(workspace.key)
        )
        assert answered.status_code == 201, answered.text


def test_wal_sync_reopens_a_replaced_wal_and_tolerates_none(tmp_path: Path) -> None:
    """The WAL can be removed (last connection closed) and recreated under the same name."""
    database = tmp_path / "w.db"
    wal = walsync.WalSync(f"{database}-wal")
    wal.sync()  # no WAL yet: nothing to flush
    first = sqlite3.connect(database, isolation_level=None)
    first.execute("PRAGMA journal_mode=WAL")
    first.execute("CREATE TABLE t (x)")
    first.execute("INSERT INTO t VALUES (1)")
    wal.sync()
    first.close()  # checkpoints and deletes the WAL
    assert not os.path.exists(f"{database}-wal")
    wal.sync()
    second = sqlite3.connect(database, isolation_level=None)
    second.execute("INSERT INTO t VALUES (2)")
    assert os.path.exists(f"{database}-wal")
    wal.sync()
    assert wal._inode == os.stat(f"{database}-wal").st_ino  # reopened, not the deleted file's
    second.close()
    wal.close()


def test_checkpointer_copies_the_wal_back(tmp_path: Path) -> None:
    """The background checkpointer backfills frames written by a connection that never does."""
    database = tmp_path / "c.db"
    writer = sqlite3.connect(database, isolation_level=None)
    writer.execute("PRAGMA journal_mode=WAL")
    writer.execute("PRAGMA wal_autocheckpoint=0")
    writer.execute("CREATE TABLE t (x)")
    checkpointer = walsync.Checkpointer(str(database), f"{database}-wal")
    checkpointer.start()
    try:
        writer.executemany("INSERT INTO t VALUES (?)", [(n,) for n in range(1000)])
        deadline = time.monotonic() + 10
        while checkpointer.checkpoints == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert checkpointer.checkpoints > 0, "no checkpoint while running"
    finally:
        checkpointer.stop()
    busy, log_frames, copied = writer.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    assert busy == 0 and log_frames == copied
    writer.close()
