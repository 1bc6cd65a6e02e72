"""Group commit: one writer thread stores the requests queued so far in a single transaction.

A request is acknowledged (its future resolved) only after the transaction holding its data has
committed and reached the disk, so a 201 always means durable. Concurrent requests share that
one commit instead of each paying for its own, which is where ingest throughput comes from. If a
group fails, each of its requests is retried alone so one bad request cannot fail its neighbours.

On an SQLite file at `synchronous=FULL` the disk flush happens after the write lock is released
(heron.store.walsync): a second thread fsyncs the WAL and then acknowledges every group
committed before the fsync began, while the writer already applies the next group.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine

from heron.analytics.compaction import KEEP_RECENT_SECONDS, compact
from heron.ingest.batch import TrackBatch, TrackOutcome
from heron.ingest.idempotency import KEEP_MS, forget_expired_sql
from heron.ingest.trackstore import TrackStore
from heron.store.engine import WRITE_OPTION
from heron.store.walsync import Checkpointer, WalSync
from heron.store.writelock import WriteLock
from heron.users.history_index import index_step

log = logging.getLogger("heron.writer")

T = TypeVar("T")

# How often the writer folds closed hours of the recent rollups into the hourly tables.
COMPACTION_INTERVAL_SECONDS = 60.0
# user-history indexing: the next user range soon while a pass runs, else a check per second
HISTORY_BUSY_INTERVAL_SECONDS = 0.05
HISTORY_IDLE_INTERVAL_SECONDS = 1.0


class StorageUnavailable(Exception):
    """The database refused or failed a write; the request was not stored."""


@dataclass(slots=True)
class _Pending:
    """A queued batch and the future its request awaits."""

    batch: TrackBatch
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[TrackOutcome]


@dataclass(slots=True)
class _Job:
    """A write to run alone, in its own transaction, between groups (see `run`)."""

    work: Callable[[Connection], Any]
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[Any]


def _deliver(pending: _Pending | _Job, outcome: Any) -> None:
    """Resolve a request's future from the writer thread (ignoring requests that went away)."""

    def resolve() -> None:
        if pending.future.done():
            return
        if isinstance(outcome, BaseException):
            pending.future.set_exception(outcome)
        else:
            pending.future.set_result(outcome)

    pending.loop.call_soon_threadsafe(resolve)


# what the writer loop sees when nothing was queued for a while (time for background work)
_IDLE = _Pending.__new__(_Pending)
# (request or job, its outcome): what the syncer acknowledges once the WAL is on disk
_Ack = tuple[_Pending | _Job, Any]


class GroupCommitWriter:
    """Owns the write connection; `submit` from any event loop, `start`/`stop` around serving."""

    def __init__(
        self,
        engine: Engine,
        store: TrackStore,
        *,
        max_group_requests: int = 256,
        max_group_objects: int = 20_000,
        wal_path: str | None = None,
    ) -> None:
        """`wal_path`: fsync this WAL before acknowledging (heron.store.walsync); None: the
        database's own commit is durable (PostgreSQL, or SQLite at another `synchronous`)."""
        self._engine = engine
        self._store = store
        self._max_requests = max_group_requests
        self._max_objects = max_group_objects
        self._queue: queue.SimpleQueue[_Pending | _Job | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._wal = WalSync(wal_path) if wal_path is not None else None
        self._acks: queue.SimpleQueue[list[_Ack] | None] = queue.SimpleQueue()
        self._syncer: threading.Thread | None = None
        self._checkpointer: Checkpointer | None = None
        if wal_path is not None and engine.url.database:
            self._checkpointer = Checkpointer(engine.url.database, wal_path)
        # An fsync error is final: Linux may drop the pages it could not write and report a
        # later fsync as a success, so nothing written after it can be called durable again.
        self._sync_failed: str | None = None
        self.groups_committed = 0
        self.syncs = 0
        self.requests_committed = 0
        self._next_compaction = time.monotonic() + COMPACTION_INTERVAL_SECONDS
        self._next_history = time.monotonic() + HISTORY_IDLE_INTERVAL_SECONDS

    def start(self) -> None:
        """Start the writer thread (and, for a WAL heron syncs itself, the syncer threads)."""
        if self._wal is not None:
            self._syncer = threading.Thread(
                target=self._sync_loop, name="heron-syncer", daemon=True
            )
            self._syncer.start()
        if self._checkpointer is not None:
            self._checkpointer.start()
        self._thread = threading.Thread(target=self._run, name="heron-writer", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Store and acknowledge everything already queued, then stop the threads."""
        if self._thread is None:
            return
        self._queue.put(None)
        self._thread.join()
        self._thread = None
        if self._syncer is not None:
            self._acks.put(None)
            self._syncer.join()
            self._syncer = None
        if self._checkpointer is not None:
            self._checkpointer.stop()
        if self._wal is not None:
            self._wal.close()

    def _ensure_accepting(self) -> None:
        """Refuse new work when the writer is stopped or an fsync has failed (503)."""
        if self._thread is None:
            raise StorageUnavailable("the writer is not running")
        if self._sync_failed is not None:
            raise StorageUnavailable(self._sync_failed)

    async def submit(self, batch: TrackBatch) -> TrackOutcome:
        """Queue a batch and wait until it is committed (or has failed)."""
        self._ensure_accepting()
        loop = asyncio.get_running_loop()
        future: asyncio.Future[TrackOutcome] = loop.create_future()
        self._queue.put(_Pending(batch, loop, future))
        return await future

    async def run(self, work: Callable[[Connection], T]) -> T:
        """Run `work(conn)` on the writer thread, under the write lock, in its own transaction.

        For writes that must serialize with ingest (user merges, deletes): queued in order with
        track requests, committed before this returns; an exception rolls it back and is raised.
        """
        self._ensure_accepting()
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._queue.put(_Job(work, loop, future))
        return await future

    def _run(self) -> None:
        """Writer loop: take a group, commit it, acknowledge it; until told to stop."""
        lock = WriteLock(self._engine)
        try:
            with self._engine.connect() as conn:
                conn.execution_options(**{WRITE_OPTION: True})
                if self._wal is not None:
                    # commits only write the WAL; the syncer fsyncs it, the checkpointer
                    # copies it back (heron.store.walsync)
                    raw = conn.connection.driver_connection
                    assert raw is not None
                    raw.execute("PRAGMA synchronous=NORMAL")
                    raw.execute("PRAGMA wal_autocheckpoint=0")
                stopping = False
                while not stopping:
                    try:
                        wait = self._next_history - time.monotonic()
                        first = self._queue.get(timeout=min(max(wait, 0.001), 1.0))
                    except queue.Empty:
                        first = _IDLE
                    if first is None:
                        break
                    with lock.held():
                        if isinstance(first, _Job):
                            self._run_job(conn, first)
                        elif first is not _IDLE:
                            # Drain only once the lock is ours: what queued meanwhile joins in.
                            group, job, stopping = self._drain(first)
                            self._commit(conn, group)
                            if job is not None:
                                self._run_job(conn, job)
                        if self._store.kpi_fold_due():
                            self._fold_kpis(conn)
                        if time.monotonic() >= self._next_compaction:
                            self._compact(conn)
                        if time.monotonic() >= self._next_history:
                            self._index_history(conn)
                if self._wal is not None:
                    conn.invalidate()  # its NORMAL / no-checkpoint settings stay with the writer
        finally:
            lock.close()

    def _index_history(self, conn: Connection) -> None:
        """Index one user range of raw rows by user (heron.users.history_index), if due."""
        try:
            worked = index_step(conn)
        except Exception:
            log.exception("user history indexing failed; it will be retried")
            worked = False
        busy = HISTORY_BUSY_INTERVAL_SECONDS if worked else HISTORY_IDLE_INTERVAL_SECONDS
        self._next_history = time.monotonic() + busy

    def _fold_kpis(self, conn: Connection) -> None:
        """One step of folding the KPI pairs groups deferred (SQLite), in its own transaction."""
        try:
            with conn.begin():
                self._store.fold_kpis(conn)
            self._store.kpis_folded()
        except Exception:
            log.exception("folding deferred KPI pairs failed; it will be retried")

    def _compact(self, conn: Connection) -> None:
        """Fold rollup hours older than KEEP_RECENT_SECONDS into the hourly tables."""
        self._next_compaction = time.monotonic() + COMPACTION_INTERVAL_SECONDS
        before = int(time.time()) - KEEP_RECENT_SECONDS
        try:
            with conn.begin():
                compact(conn, before - before % 3600)
                # Idempotency-Keys are remembered for a day
                conn.execute(
                    text(forget_expired_sql()), {"before": int(time.time() * 1000) - KEEP_MS}
                )
        except Exception:
            log.exception("rollup compaction failed; it will be retried")

    def _drain(self, first: _Pending) -> tuple[list[_Pending], _Job | None, bool]:
        """Take what queued behind `first` within the group bounds, up to a job or a stop."""
        group = [first]
        objects = first.batch.size()
        while len(group) < self._max_requests and objects < self._max_objects:
            try:
                more = self._queue.get_nowait()
            except queue.Empty:
                break
            if more is None:
                return group, None, True
            if isinstance(more, _Job):
                return group, more, False
            group.append(more)
            objects += more.batch.size()
        return group, None, False

    def _run_job(self, conn: Connection, job: _Job) -> None:
        """Run one job in its own transaction and hand its result (or exception) back."""
        try:
            with conn.begin():
                result = job.work(conn)
        except Exception as exc:
            _deliver(job, exc)
            return
        self._acknowledge([(job, result)])

    def _acknowledge(self, acks: list[_Ack]) -> None:
        """Answer committed work: now, or once the syncer has the WAL on disk."""
        if self._wal is None:
            for pending, outcome in acks:
                _deliver(pending, outcome)
        else:
            self._acks.put(acks)

    def _sync_loop(self) -> None:
        """Syncer thread: fsync the WAL, then answer everything committed before the fsync.

        Whatever the writer committed while an fsync ran waits for the next one, so one fsync
        covers as many groups as the disk's flush time lets accumulate.
        """
        assert self._wal is not None
        stopping = False
        while not stopping:
            first = self._acks.get()
            if first is None:
                break
            acks = list(first)
            while True:
                try:
                    more = self._acks.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stopping = True
                    break
                acks.extend(more)
            if self._sync_failed is None:
                try:
                    self._wal.sync()
                except OSError as exc:
                    self._sync_failed = f"could not flush to disk ({exc}); restart the server"
                    log.critical(
                        "fsync of the WAL failed: refusing every write until restarted (%s)", exc
                    )
            if self._sync_failed is not None:
                # Committed but not known to be on disk: never claim durability.
                for pending, _outcome in acks:
                    _deliver(pending, StorageUnavailable(self._sync_failed))
                continue
            self.syncs += 1
            for pending, outcome in acks:
                _deliver(pending, outcome)

    def _commit(self, conn: Connection, group: list[_Pending]) -> None:
        """Store a group in one transaction; on failure retry its requests one by one."""
        try:
            with conn.begin():
                outcomes = self._store.apply(conn, [p.batch for p in group])
        except Exception as exc:
            self._store.discard_pending()
            if len(group) > 1:
                log.warning("group of %d requests failed (%s); retrying singly", len(group), exc)
                for pending in group:
                    self._commit(conn, [pending])
                return
            log.exception("request could not be stored")
            _deliver(group[0], StorageUnavailable(str(exc)))
            return
        self._store.commit_pending()
        self.groups_committed += 1
        self.requests_committed += len(group)
        self._acknowledge(list(zip(group, outcomes, strict=True)))
