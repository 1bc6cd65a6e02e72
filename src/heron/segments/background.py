"""The server's segment tasks: the evaluator loop and the daily size snapshot (no external cron).

Every server process starts the task; a lease row in `segment_progress` lets one process at a
time do the work (it is renewed while held, and taken over when it lapses, so the work moves
on if that process dies). The evaluator runs in steps (heron.segments.consumer.step) in a
child process of its own (one per server process, started with it): in a thread of the server
process, its Python work held the interpreter lock that the server's event loop and ingest
writer need, so every step stalled ingest for its whole length. The child opens its own
engine; on SQLite it takes turns with ingest through the same cross-process write lock. (An
in-memory SQLite database cannot be shared with a process: there, steps run in a thread.) The
evaluator works at most `DUTY` of the time, sleeping in between, so that a backlog never takes
more than that share of a CPU away from ingest: under sustained ingest beyond its pace,
membership and tracked counts lag behind (docs/segments.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import time
import uuid
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from sqlalchemy import select, text
from sqlalchemy.engine import Engine
from starlette.concurrency import run_in_threadpool

from heron.segments.consumer import step
from heron.segments.sizes import snapshot
from heron.store.engine import WRITE_OPTION, make_engine
from heron.store.schema import segment_progress, segments
from heron.store.writelock import WriteLock

__all__ = ["SegmentTasks", "take_lease"]

log = logging.getLogger("heron.segments")

IDLE_SECONDS = 1.0  # pause when there is nothing to do
DUTY = 0.5  # share of wall time the evaluator may work while catching up
LEASE_MS = 30_000
SNAPSHOT_SECONDS = 60.0


def _now_ms() -> int:
    """Wall-clock time in epoch milliseconds."""
    return time.time_ns() // 1_000_000


_child_engines: dict[tuple[str, str], Engine] = {}


def _step_in_child(url: str, sqlite_synchronous: str) -> bool:
    """One evaluator step in the evaluator's process (its engine is made once per process)."""
    engine = _child_engines.get((url, sqlite_synchronous))
    if engine is None:
        engine = make_engine(url, sqlite_synchronous=sqlite_synchronous, pool_size=2)
        _child_engines[(url, sqlite_synchronous)] = engine
    return step(engine)


def _has_segments(engine: Engine) -> bool:
    """Whether any segment is live (without one, a step only moves the watermarks)."""
    with engine.connect() as conn:
        return (
            conn.execute(
                select(segments.c.id).where(segments.c.archived.is_(False)).limit(1)
            ).first()
            is not None
        )


def _shareable(engine: Engine) -> bool:
    """Whether another process can open the engine's database (not an in-memory SQLite one)."""
    if engine.dialect.name != "sqlite":
        return True
    database = engine.url.database
    return bool(database) and database != ":memory:" and "mode=memory" not in str(engine.url)


def take_lease(engine: Engine, owner: str, now_ms: int) -> bool:
    """Hold (or renew) the evaluator lease for `owner`; False when another process holds it.

    Under the cross-process write lock like every writer: without it, the lease's write
    transaction met ingest's at SQLite's own lock, whose busy handler sleeps in steps of up to
    100 ms.
    """
    lock = WriteLock(engine)
    try:
        with lock.held(), engine.connect() as conn:
            conn = conn.execution_options(**{WRITE_OPTION: True})
            with conn.begin():
                row = conn.execute(
                    select(segment_progress.c.value, segment_progress.c.owner)
                    .where(segment_progress.c.name == "lease")
                    .with_for_update()
                ).first()
                if row is not None and row.owner != owner and int(row.value) > now_ms:
                    return False
                conn.execute(
                    text(
                        "INSERT INTO segment_progress (name, value, owner) "
                        "VALUES ('lease', :v, :o) ON CONFLICT (name) DO UPDATE SET "
                        "value = excluded.value, owner = excluded.owner"
                    ),
                    {"v": now_ms + LEASE_MS, "o": owner},
                )
                return True
    finally:
        lock.close()


class SegmentTasks:
    """The evaluator loop and the snapshot, for one server process."""

    def __init__(
        self,
        engine: Engine,
        *,
        duty: float = DUTY,
        sqlite_synchronous: str = "FULL",
        own_process: bool = True,
    ) -> None:
        self._engine = engine
        self._owner = uuid.uuid4().hex
        self._duty = duty
        self._task: asyncio.Task[None] | None = None
        self._next_snapshot = 0.0
        self._synchronous = sqlite_synchronous
        self._own_process = own_process and _shareable(engine)
        self._pool: ProcessPoolExecutor | None = None
        self._lease_until = 0  # epoch ms until which this process's lease runs

    def start(self) -> None:
        """Start the loop on the running event loop."""
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        """Stop the loop (a step in progress finishes in its thread or process)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._pool is not None:  # wait for the child: it holds database connections
            pool, self._pool = self._pool, None
            await run_in_threadpool(pool.shutdown, True, cancel_futures=True)

    async def _leased(self) -> bool:
        """Whether this process holds the lease; renewed (one write) only in its second half."""
        now = _now_ms()
        if now < self._lease_until - LEASE_MS // 2:
            return True
        if await run_in_threadpool(take_lease, self._engine, self._owner, now):
            self._lease_until = now + LEASE_MS
            return True
        self._lease_until = 0
        return False

    async def _step(self) -> bool:
        """One step: in the evaluator's process (started on first use, again if it died)."""
        if not self._own_process or not await run_in_threadpool(_has_segments, self._engine):
            return bool(await run_in_threadpool(step, self._engine))  # cheap without segments
        if self._pool is None:
            self._pool = ProcessPoolExecutor(
                max_workers=1, mp_context=multiprocessing.get_context("spawn")
            )
        url = self._engine.url.render_as_string(hide_password=False)
        try:
            return await asyncio.get_running_loop().run_in_executor(
                self._pool, _step_in_child, url, self._synchronous
            )
        except BrokenProcessPool:
            self._pool = None
            raise

    async def _run(self) -> None:
        """Evaluate while there is work, snapshot sizes once a minute; survive errors."""
        while True:
            pause = IDLE_SECONDS
            try:
                if await self._leased():
                    started = time.monotonic()
                    more = await self._step()
                    worked = time.monotonic() - started
                    if more:
                        pause = worked * (1 - self._duty) / self._duty
                    if time.monotonic() >= self._next_snapshot:
                        self._next_snapshot = time.monotonic() + SNAPSHOT_SECONDS
                        await run_in_threadpool(snapshot, self._engine, _now_ms())
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("segment evaluation failed; it will be retried")
            await asyncio.sleep(pause)
