"""A cross-process write lock for SQLite, so several server processes take turns without spinning.

SQLite allows one writer at a time; a second process that finds the database locked sleeps in
SQLite's busy handler (up to 100 ms a time) and retries. An `flock` on a file next to the
database instead wakes the waiting writer the moment the lock is released, and the writer
drains its queue only after it holds the lock, so a wait turns into a larger commit group.
PostgreSQL needs none of this (row locks), and gets a no-op lock.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator

from sqlalchemy.engine import Engine


class WriteLock:
    """Exclusive lock held around each write transaction (no-op for non-file databases)."""

    def __init__(self, engine: Engine) -> None:
        self._fd: int | None = None
        database = engine.url.database
        if engine.dialect.name == "sqlite" and database and database != ":memory:":
            self._fd = os.open(f"{database}.writelock", os.O_RDWR | os.O_CREAT, 0o644)

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        """Hold the lock for the duration of the block."""
        if self._fd is None:
            yield
            return
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    def close(self) -> None:
        """Release the lock file descriptor."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
