"""Segment sizes per day: the daily snapshot the server takes, and the `/segments/data_series` read.

The snapshot task (heron.segments.background) upserts, about once a minute, each live
segment's current size as the size of the current local day (the workspace's zone). When the
day ends, the last value written for it stays: that is the day's size. Upserting the same row
is idempotent, so several server processes may all run the task. A past day without a
snapshot (no server running that day) shows the size of the latest earlier snapshot; days
before the segment existed show 0; today shows the live size; days after today show 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.engine import Connection, Engine, Row

from heron.analytics.buckets import zone
from heron.store.engine import WRITE_OPTION
from heron.store.schema import segment_daily_sizes, segments, workspaces
from heron.store.writelock import WriteLock

__all__ = ["local_day", "size_series", "snapshot"]

_EPOCH = date(1970, 1, 1)


def local_day(ms: int, time_zone: str) -> int:
    """The local calendar day of an instant in a zone, as days since 1970-01-01."""
    tz = zone(time_zone)
    moment = datetime.fromtimestamp(ms / 1000, tz or UTC)
    return (moment.date() - _EPOCH).days


def snapshot(engine: Engine, now_ms: int) -> int:
    """Record every live segment's size as its size today; return how many were recorded."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(segments.c.id, segments.c.size, workspaces.c.time_zone)
            .join(workspaces, workspaces.c.id == segments.c.workspace_id)
            .where(segments.c.archived.is_(False))
        ).all()
    if not rows:
        return 0
    values = [{"s": int(sid), "d": local_day(now_ms, tz), "n": int(size)} for sid, size, tz in rows]
    lock = WriteLock(engine)  # like every writer: never meet ingest at SQLite's busy handler
    try:
        with lock.held(), engine.connect() as conn:
            conn = conn.execution_options(**{WRITE_OPTION: True})
            with conn.begin():
                conn.execute(
                    text(
                        "INSERT INTO segment_daily_sizes (segment_id, day, size) "
                        "VALUES (:s, :d, :n) "
                        "ON CONFLICT (segment_id, day) DO UPDATE SET size = excluded.size"
                    ),
                    values,
                )
    finally:
        lock.close()
    return len(values)


def size_series(
    conn: Connection, segment: Row[Any], days: Sequence[str], time_zone: str, now_ms: int
) -> list[int]:
    """The size on each local date (ISO `YYYY-MM-DD` labels, oldest first)."""
    numbers = [(date.fromisoformat(d) - _EPOCH).days for d in days]
    today = local_day(now_ms, time_zone)
    created = local_day(int(segment.created_at_ms), time_zone)
    first, last = numbers[0], min(numbers[-1], today - 1)
    t = segment_daily_sizes
    known: dict[int, int] = {}
    carried = 0
    if last >= first:
        known = {
            int(day): int(size)
            for day, size in conn.execute(
                select(t.c.day, t.c.size).where(
                    t.c.segment_id == segment.id, t.c.day >= first, t.c.day <= last
                )
            )
        }
        before = conn.execute(
            select(t.c.size)
            .where(t.c.segment_id == segment.id, t.c.day < first)
            .order_by(t.c.day.desc())
            .limit(1)
        ).scalar()
        carried = int(before or 0)
    sizes = []
    for day in numbers:
        if day > today or day < created:
            sizes.append(0)
        elif day == today:
            sizes.append(int(segment.size))
        else:
            carried = known.get(day, carried)
            sizes.append(carried)
    return sizes
