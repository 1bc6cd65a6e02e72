"""Durable SQLite commits without holding the write lock through the fsync.

With `synchronous=FULL` SQLite fsyncs the WAL inside every commit, while the transaction still
holds the database's single write lock, so no other group can be applied during the disk flush
(measured on the development machine: about as long as applying the group itself). heron
instead commits its ingest groups with `synchronous=NORMAL` (the commit only `write`s the WAL
frames), releases the lock, and then fsyncs the WAL file itself before it acknowledges the
group: the next group is applied while the previous one is flushed, and one fsync covers every
group committed before it started (any process's).

Why this is as durable as FULL: an acknowledged group's frames were written before the fsync
started, so they are on disk when it returns; WAL recovery replays frames in order and stops at
the first one whose checksum does not match, so a crash can only lose frames after the last
fsynced commit, which were never acknowledged. Checkpoints (copying WAL frames back into the
database file) still sync the WAL before and the database after, as in FULL; heron runs them
from a background thread (`Checkpointer`) instead of inside the commit that crosses the
threshold, so they no longer hold the write lock either.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import threading

from sqlalchemy.engine import Engine

log = logging.getLogger("heron.walsync")

# How often the checkpointer looks at the WAL; it checkpoints when the WAL changed since its last
# checkpoint (SQLite's own automatic checkpoint runs every 1,000 pages, a few times a second under
# load; the WAL file never shrinks, so its size cannot tell what is new).
CHECKPOINT_INTERVAL_SECONDS = 0.5


def durable_wal_path(engine: Engine, synchronous: str) -> str | None:
    """The WAL file heron must fsync itself, or None when SQLite's own setting applies.

    Only an SQLite file database at `synchronous=FULL` (heron's default) is committed this way;
    NORMAL and OFF are an operator's explicit choice of less durability, and EXTRA keeps
    SQLite's own per-commit syncs.
    """
    database = engine.url.database
    if engine.dialect.name != "sqlite" or not database or database == ":memory:":
        return None
    if synchronous.upper() != "FULL":
        return None
    return f"{os.path.abspath(database)}-wal"


class WalSync:
    """fsyncs one database's WAL file (reopening it if SQLite replaced it)."""

    def __init__(self, wal_path: str) -> None:
        self.path = wal_path
        self._fd: int | None = None
        self._inode: int | None = None

    def sync(self) -> None:
        """Make every WAL frame written so far durable; raise OSError if the disk refuses."""
        try:
            inode = os.stat(self.path).st_ino
        except FileNotFoundError:
            # No WAL: SQLite removed it after checkpointing everything (and syncing the
            # database file) when its last connection closed; nothing is pending.
            self._close()
            return
        if self._fd is None or inode != self._inode:
            self._close()
            self._fd = os.open(self.path, os.O_RDONLY)
            self._inode = os.fstat(self._fd).st_ino
            # a new WAL file's directory entry must survive a crash too
            directory = os.open(os.path.dirname(self.path) or ".", os.O_RDONLY)
            try:
                os.fsync(directory)
            finally:
                os.close(directory)
        os.fsync(self._fd)

    def _close(self) -> None:
        """Forget the open WAL file descriptor."""
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)
        self._fd = None
        self._inode = None

    def close(self) -> None:
        """Release the file descriptor."""
        self._close()


class Checkpointer:
    """A thread that copies the WAL back into the database once it grows, outside the lock.

    A PASSIVE checkpoint never blocks writers or readers: it copies what no reader still needs
    and SQLite restarts the WAL from its beginning once everything was copied. Several server
    processes may each run one; SQLite lets one checkpoint at a time and the others skip.
    """

    def __init__(self, database_path: str, wal_path: str) -> None:
        self._database = database_path
        self._wal = wal_path
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.checkpoints = 0

    def start(self) -> None:
        """Start watching the WAL."""
        self._thread = threading.Thread(target=self._run, name="heron-checkpointer", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread (after a final checkpoint attempt)."""
        if self._thread is None:
            return
        self._stop.set()
        self._thread.join()
        self._thread = None

    def _run(self) -> None:
        """Checkpoint every CHECKPOINT_INTERVAL_SECONDS while the WAL keeps changing."""
        conn = sqlite3.connect(self._database, timeout=30, isolation_level=None)
        last: tuple[int, int] | None = None
        try:
            conn.execute("PRAGMA busy_timeout=30000")
            while not self._stop.wait(CHECKPOINT_INTERVAL_SECONDS):
                try:
                    stat = os.stat(self._wal)
                except FileNotFoundError:
                    continue
                if (stat.st_mtime_ns, stat.st_size) != last:
                    self.checkpoint(conn)
                    last = (stat.st_mtime_ns, stat.st_size)
            self.checkpoint(conn)
        finally:
            conn.close()

    def checkpoint(self, conn: sqlite3.Connection) -> None:
        """One PASSIVE checkpoint; failures are logged and retried on the next poll."""
        try:
            conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
            self.checkpoints += 1
        except sqlite3.Error:
            log.exception("WAL checkpoint failed; it will be retried")
