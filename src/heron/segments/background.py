"""The server's segment tasks: the evaluator loop and the daily size snapshot (no external cron).

Every server process starts the task; a lease row in `segment_progress` lets one process at a
time do the work (it is renewed while held, and taken over when it lapses, so the work moves
on if that process dies). The evaluator runs in a worker thread, in steps
(heron.segments.consumer.step); it works at most `DUTY` of the time, sleeping in between, so
that a backlog never takes more than that share of a CPU away from ingest: under sustained
ingest beyond its pace, membership and tracked counts lag behind (docs/segments.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid

from sqlalchemy import select, text
from sqlalchemy.engine import Engine
from starlette.concurrency import run_in_threadpool

from heron.segments.consumer import step
from heron.segments.sizes import snapshot
from heron.store.engine import WRITE_OPTION
from heron.store.schema import segment_progress

__all__ = ["SegmentTasks", "take_lease"]

log = logging.getLogger("heron.segments")

IDLE_SECONDS = 1.0  # pause when there is nothing to do
DUTY = 0.3  # share of wall time the evaluator may work while catching up
LEASE_MS = 30_000
SNAPSHOT_SECONDS = 60.0


def _now_ms() -> int:
    """Wall-clock time in epoch milliseconds."""
    return time.time_ns() // 1_000_000


def take_lease(engine: Engine, owner: str, now_ms: int) -> bool:
    """Hold (or renew) the evaluator lease for `owner`; False when another process holds it."""
    with engine.connect() as conn:
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
                    "INSERT INTO segment_progress (name, value, owner) VALUES ('lease', :v, :o) "
                    "ON CONFLICT (name) DO UPDATE SET value = excluded.value, "
                    "owner = excluded.owner"
                ),
                {"v": now_ms + LEASE_MS, "o": owner},
            )
            return True


class SegmentTasks:
    """The evaluator loop and the snapshot, for one server process."""

    def __init__(self, engine: Engine, *, duty: float = DUTY) -> None:
        self._engine = engine
        self._owner = uuid.uuid4().hex
        self._duty = duty
        self._task: asyncio.Task[None] | None = None
        self._next_snapshot = 0.0

    def start(self) -> None:
        """Start the loop on the running event loop."""
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        """Stop the loop (a step in progress finishes in its thread)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        """Evaluate while there is work, snapshot sizes once a minute; survive errors."""
        while True:
            pause = IDLE_SECONDS
            try:
                if await run_in_threadpool(take_lease, self._engine, self._owner, _now_ms()):
                    started = time.monotonic()
                    more = await run_in_threadpool(step, self._engine)
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
