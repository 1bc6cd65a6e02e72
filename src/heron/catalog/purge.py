"""Purging entries Trashed for 7 days: what "purged" removes, and the periodic task that does it.

Purging a custom event deletes its occurrences (`events` rows) and its hourly rollups; purging
a custom attribute removes it from every profile of the workspace. Both also clear the entry's
description, tags, flags and times, and hide it from every list. The row itself stays as a
`Purged` tombstone so that the id every process's writer may have cached for the name stays
right: the name is free again, and tracking it (or pre-creating it) makes it a fresh Active
entry. The event's property catalog (names and types, not user data) is kept for the same
reason: writers cache it.

Large deletions run in short transactions over id ranges (the entry is `Purging` meanwhile, so
ingest keeps dropping the name and nobody can restore it), and only one process purges at a
time (an `flock` next to a SQLite file, an advisory lock on PostgreSQL); a purge interrupted
by a stop or a crash resumes at the next run.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import msgspec
from sqlalchemy import delete, func, select, text, update
from sqlalchemy.engine import Engine

from heron.catalog.kinds import (
    ATTRIBUTES,
    DAY_MS,
    EVENTS,
    PURGED,
    PURGING,
    TRASHED,
    TRASHED_DAYS_BEFORE_PURGE,
    Kind,
)
from heron.catalog.service import write
from heron.segments.changes import note_users
from heron.store.schema import (
    event_rollups_daily,
    event_rollups_hourly,
    event_rollups_recent,
    events,
    users,
)
from heron.store.writelock import WriteLock

log = logging.getLogger("heron.catalog")

PURGE_INTERVAL_SECONDS = 600.0
FIRST_PURGE_DELAY_SECONDS = 30.0
CHUNK_IDS = 50_000  # rows of `events` / `users` (by id) per deletion transaction
_ADVISORY_KEY = 0x68_65_72_6F_6E_70_67  # "heronpg": one purger at a time on PostgreSQL
_process_lock = threading.Lock()

_encode = msgspec.json.encode
_decode = msgspec.json.decode


@contextlib.contextmanager
def purge_lock(engine: Engine) -> Iterator[bool]:
    """Try to become the only purger; yields False when another one is running."""
    if not _process_lock.acquire(blocking=False):
        yield False
        return
    try:
        if engine.dialect.name == "postgresql":
            with engine.connect() as conn:
                got = bool(
                    conn.execute(text(f"SELECT pg_try_advisory_lock({_ADVISORY_KEY})")).scalar()
                )
                conn.commit()
                try:
                    yield got
                finally:
                    if got:
                        conn.execute(text(f"SELECT pg_advisory_unlock({_ADVISORY_KEY})"))
                        conn.commit()
            return
        database = engine.url.database
        if not database or database == ":memory:":
            yield True
            return
        fd = os.open(f"{database}.purgelock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield False
                return
            yield True
        finally:
            os.close(fd)
    finally:
        _process_lock.release()


def purge_due(
    engine: Engine,
    now_ms: int,
    *,
    stop: threading.Event | None = None,
) -> list[tuple[str, int, str]]:
    """Purge every entry Trashed for 7 days (and resume interrupted purges); return
    (catalog key, workspace id, name) for each entry purged. `stop` interrupts it."""
    purged: list[tuple[str, int, str]] = []
    with purge_lock(engine) as held:
        if not held:
            return purged
        cutoff = now_ms - TRASHED_DAYS_BEFORE_PURGE * DAY_MS
        for kind in (EVENTS, ATTRIBUTES):
            t = kind.table
            with engine.connect() as conn:
                due = conn.execute(
                    select(t.c.id, t.c.workspace_id, t.c.name, t.c.status)
                    .where(
                        (t.c.status == PURGING)
                        | ((t.c.status == TRASHED) & (t.c.trashed_at_ms <= cutoff))
                    )
                    .order_by(t.c.id)
                ).all()
            for row in due:
                if stop is not None and stop.is_set():
                    return purged
                if not _claim(engine, kind, row, cutoff):
                    continue
                if not _purge(engine, kind, row, stop):
                    return purged
                purged.append((kind.key, row.workspace_id, row.name))
                log.info("purged %s %r of workspace %d", kind.singular, row.name, row.workspace_id)
    return purged


def _claim(engine: Engine, kind: Kind, row: Any, cutoff: int) -> bool:
    """Mark a due Trashed entry Purging (True), or confirm a Purging one is still to finish."""
    if row.status == PURGING:
        return True
    t = kind.table
    with write(engine) as conn:
        result = conn.execute(
            update(t)
            .where(t.c.id == row.id, t.c.status == TRASHED, t.c.trashed_at_ms <= cutoff)
            .values(status=PURGING)
        )
        return result.rowcount == 1


def _id_ranges(engine: Engine, table: Any) -> Iterator[tuple[int, int]]:
    """[low, high) id ranges covering a table's current rows, CHUNK_IDS wide."""
    with engine.connect() as conn:
        low, high = conn.execute(select(func.min(table.c.id), func.max(table.c.id))).one()
    if low is None:
        return
    for start in range(int(low), int(high) + 1, CHUNK_IDS):
        yield start, start + CHUNK_IDS


def _purge(engine: Engine, kind: Kind, row: Any, stop: threading.Event | None) -> bool:
    """Delete an entry's data, then make it a tombstone; False when stopped half-way."""
    lock = WriteLock(engine)
    try:
        ranges = _id_ranges(engine, events if kind is EVENTS else users)
        for start, end in ranges:
            if stop is not None and stop.is_set():
                return False
            with lock.held():
                if kind is EVENTS:
                    _delete_events(engine, row, start, end)
                else:
                    _strip_attribute(engine, row, start, end)
        with lock.held(), write(engine) as conn:
            if kind is EVENTS:
                # recent first (the order in which the writer's fold moves rows)
                for rollups in (event_rollups_recent, event_rollups_hourly, event_rollups_daily):
                    conn.execute(
                        delete(rollups).where(
                            rollups.c.workspace_id == row.workspace_id,
                            rollups.c.event_id == row.id,
                        )
                    )
            t = kind.table
            values: dict[str, Any] = {
                "status": PURGED,
                "description": "",
                "tags": "[]",
                "first_seen_ms": None,
                "last_seen_ms": None,
                "blocklisted_at_ms": None,
                "trashed_at_ms": None,
            }
            if kind is EVENTS:
                values["included_in_analytics_report"] = False
            conn.execute(update(t).where(t.c.id == row.id, t.c.status == PURGING).values(**values))
        return True
    finally:
        lock.close()


def _delete_events(engine: Engine, row: Any, start: int, end: int) -> None:
    """Delete one id range of an event's occurrences."""
    where = (
        events.c.id >= start,
        events.c.id < end,
        events.c.workspace_id == row.workspace_id,
        events.c.event_id == row.id,
    )
    with write(engine) as conn:
        # their segments may depend on the deleted occurrences: the evaluator re-checks them
        note_users(
            conn,
            [int(u) for (u,) in conn.execute(select(events.c.user_id).where(*where).distinct())],
        )
        conn.execute(delete(events).where(*where))


def _strip_attribute(engine: Engine, row: Any, start: int, end: int) -> None:
    """Remove an attribute from the profiles of one id range (those that mention it)."""
    needle = _encode(row.name).decode()  # the key as heron's JSON writes it
    with write(engine) as conn:
        contains = (
            func.strpos(users.c.custom, needle)
            if conn.dialect.name == "postgresql"
            else func.instr(users.c.custom, needle)
        )
        found = conn.execute(
            select(users.c.id, users.c.custom)
            .where(
                users.c.id >= start,
                users.c.id < end,
                users.c.workspace_id == row.workspace_id,
                contains > 0,
            )
            .with_for_update()
        ).all()
        stripped: list[int] = []
        for user_id, custom_text in found:
            custom = _decode(custom_text)
            if isinstance(custom, dict) and row.name in custom:
                del custom[row.name]
                stripped.append(int(user_id))
                conn.execute(
                    update(users)
                    .where(users.c.id == user_id)
                    .values(custom=_encode(custom).decode())
                )
        note_users(conn, stripped)  # segments on the attribute are re-evaluated for them


class CatalogMaintenance:
    """The app's periodic purge: first run shortly after start, then every interval."""

    def __init__(self, engine: Engine, on_purged: Callable[[int], None]) -> None:
        self._engine = engine
        self._on_purged = on_purged
        self._stop = threading.Event()
        self._task: asyncio.Task[None] | None = None
        self._running: asyncio.Future[list[tuple[str, int, str]]] | None = None

    def start(self) -> None:
        """Start the periodic task on the running loop."""
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        """Purge what is due, forever."""
        delay = FIRST_PURGE_DELAY_SECONDS
        while True:
            await asyncio.sleep(delay)
            delay = PURGE_INTERVAL_SECONDS
            self._running = asyncio.ensure_future(
                asyncio.to_thread(purge_due, self._engine, int(time.time() * 1000), stop=self._stop)
            )
            try:
                purged = await asyncio.shield(self._running)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("catalog purge failed; retrying at the next run")
                continue
            for workspace_id in {ws for _kind, ws, _name in purged}:
                self._on_purged(workspace_id)

    async def stop(self) -> None:
        """Stop the task; a purge in progress stops after its current transaction."""
        self._stop.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._running is not None:
            with contextlib.suppress(Exception):
                await self._running
            self._running = None
