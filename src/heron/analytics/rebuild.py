"""Rebuilding a workspace's hourly rollups from its raw rows, and changing its time zone.

Hourly buckets are local hours of the workspace's zone (`heron.analytics.buckets`), so a new
zone needs new buckets. `set_time_zone` changes the zone and, in the same transaction, rebuilds
the workspace's event and purchase rollups from the raw `events`/`purchases` rows (the rebuilt
counts go to the `*_rollups_hourly` tables, the `*_rollups_recent` rows are dropped, and the
`*_rollups_daily` tables are refilled from the hourly rows, summed per day of the new zone) and its
daily KPI tables (`heron.analytics.kpi.rebuild_kpis`): readers see either the old zone's counts
or the new zone's, never a mix.

The rebuild runs in the database as two `INSERT ... SELECT` (one scan of each raw table): the
zone's UTC offset for each row comes from a `CASE` tree over the offset changes between the
workspace's first and last row (found from Python's zoneinfo), and the bucket is
`time_ms - floormod(time_ms + offset, 1 h)`, exactly what `hour_bucket` computes at ingest.

Writers are held off for the duration: on SQLite by the write lock (`BEGIN IMMEDIATE` plus the
cross-process `WriteLock`, so a server's writer waits instead of timing out); on PostgreSQL by
`LOCK TABLE events, purchases IN SHARE MODE`, which waits for in-flight ingest transactions and
makes new ones wait until the rebuild commits (then the rollup tables, EXCLUSIVE, so the
writer's periodic fold waits too; locks are taken in the order ingest takes them, so no
deadlock). Ingest is paused, not failed, meanwhile; readers go on.

Known limit: a request authenticated before the change carries the old zone (API keys and their
workspace's zone are cached for up to `KEY_CACHE_SECONDS`), so an ingest that commits right
after the rebuild can still add a few old-zone buckets. `heron workspaces set-time-zone` with
the same zone rebuilds again and repairs them.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from zoneinfo import ZoneInfo, available_timezones

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Table,
    case,
    delete,
    func,
    insert,
    literal_column,
    select,
    text,
    union_all,
    update,
)
from sqlalchemy.engine import Connection, Engine

from heron.analytics.buckets import zone
from heron.analytics.dayrollups import rebuild_days
from heron.analytics.kpi import rebuild_kpis
from heron.store.engine import WRITE_OPTION
from heron.store.schema import (
    ALL_APPS,
    ALL_PRODUCTS,
    event_rollups_hourly,
    event_rollups_recent,
    events,
    purchase_rollups_hourly,
    purchase_rollups_recent,
    purchases,
    workspaces,
)
from heron.store.writelock import WriteLock

__all__ = [
    "RebuildResult",
    "TimeZoneChange",
    "UnknownTimeZone",
    "UnknownWorkspace",
    "offset_periods",
    "rebuild_rollups",
    "set_time_zone",
    "valid_time_zones",
]

_HOUR_MS = 3_600_000
# Offsets are sampled this often to find where they change (no zone has changed its offset
# twice within 6 hours and come back); each change is then located to the second.
_SAMPLE_SECONDS = 6 * 3600
# Python's datetime covers years 1..9999; instants beyond use the offset at the nearest end.
_FIRST_SECOND = int(datetime(1, 1, 3, tzinfo=UTC).timestamp())
_LAST_SECOND = int(datetime(9999, 12, 29, tzinfo=UTC).timestamp())
# Zones that exist in the tz database but say nothing about the workspace ("localtime" is
# whatever the host is set to; "Factory" means "zone not configured").
_NOT_WORKSPACE_ZONES = frozenset({"localtime", "Factory"})


# PostgreSQL: writers of the raw tables wait (readers go on), then the rollups' writers (the
# fold); ingest takes them in this order too.
_LOCK_RAW = "LOCK TABLE events, purchases IN SHARE MODE"
_LOCK_ROLLUPS = (
    "LOCK TABLE event_rollups_recent, event_rollups_hourly, event_rollups_daily,"
    " purchase_rollups_recent, purchase_rollups_hourly, purchase_rollups_daily IN EXCLUSIVE MODE"
)


class UnknownTimeZone(ValueError):
    """The name is not an IANA time zone heron accepts."""


class UnknownWorkspace(LookupError):
    """No workspace has this id."""


@dataclass(frozen=True, slots=True)
class RebuildResult:
    """Rollup rows written by a rebuild."""

    event_rows: int
    purchase_rows: int


@dataclass(frozen=True, slots=True)
class TimeZoneChange:
    """What `set_time_zone` did."""

    workspace_id: int
    name: str
    previous_time_zone: str
    time_zone: str
    rebuilt: RebuildResult | None  # None when the zone was unchanged and no rebuild was asked
    seconds: float


@lru_cache(maxsize=1)
def valid_time_zones() -> frozenset[str]:
    """Every IANA zone name a workspace may use (those this host's tz database knows)."""
    return frozenset(available_timezones() - _NOT_WORKSPACE_ZONES)


def _offset(tz: ZoneInfo, second: int) -> int:
    """UTC offset of `tz` in whole seconds at an instant."""
    clamped = min(max(second, _FIRST_SECOND), _LAST_SECOND)
    offset = datetime.fromtimestamp(clamped, tz).utcoffset()
    return int(offset.total_seconds()) if offset is not None else 0


def offset_periods(tz: ZoneInfo, first_second: int, last_second: int) -> list[tuple[int, int]]:
    """(from_second, offset_seconds) for each stretch of constant offset over the range.

    The first stretch also covers everything before the range, the last everything after.
    """
    current = _offset(tz, first_second)
    periods = [(first_second, current)]
    at = first_second
    while at < last_second:
        probe = min(at + _SAMPLE_SECONDS, last_second)
        if _offset(tz, probe) == current:
            at = probe
            continue
        low, high = at, probe  # offset is `current` at low, something else at high
        while high - low > 1:
            middle = (low + high) // 2
            if _offset(tz, middle) == current:
                low = middle
            else:
                high = middle
        current = _offset(tz, high)
        periods.append((high, current))
        at = high
    return periods


def _offset_ms(
    time_ms: ColumnElement[int], periods: Sequence[tuple[int, int]]
) -> ColumnElement[int]:
    """SQL for the UTC offset (ms) at `time_ms`: a balanced CASE tree over the periods."""
    if len(periods) == 1:
        return literal_column(str(int(periods[0][1]) * 1000), BigInteger)
    middle = len(periods) // 2
    boundary = literal_column(str(int(periods[middle][0]) * 1000), BigInteger)
    return case(
        (time_ms < boundary, _offset_ms(time_ms, periods[:middle])),
        else_=_offset_ms(time_ms, periods[middle:]),
    )


def _hour_expression(
    time_ms: ColumnElement[int], periods: Sequence[tuple[int, int]] | None
) -> ColumnElement[int]:
    """SQL for the epoch second at which the local hour holding `time_ms` starts."""
    hour = literal_column(str(_HOUR_MS), BigInteger)
    local = time_ms if periods is None else time_ms + _offset_ms(time_ms, periods)
    floor_mod = ((local % hour) + hour) % hour
    return (time_ms - floor_mod) // literal_column("1000", BigInteger)


def _periods_for(
    conn: Connection, workspace_id: int, time_zone: str
) -> list[tuple[int, int]] | None:
    """The zone's offset periods over the workspace's raw rows (None for UTC)."""
    tz = zone(time_zone)
    if tz is None:
        return None
    bounds = [
        conn.execute(
            select(func.min(table.c.time_ms), func.max(table.c.time_ms)).where(
                table.c.workspace_id == workspace_id
            )
        ).one()
        for table in (events, purchases)
    ]
    lows = [int(low) for low, _ in bounds if low is not None]
    highs = [int(high) for _, high in bounds if high is not None]
    if not lows:
        return [(0, _offset(tz, 0))]
    return offset_periods(tz, min(lows) // 1000, max(highs) // 1000)


def rebuild_rollups(conn: Connection, workspace_id: int, time_zone: str) -> RebuildResult:
    """Replace a workspace's event and purchase rollups with ones computed from raw rows.

    Hourly rows from the raw rows, then the daily rows from the hourly ones (`rebuild_days`).
    Runs inside the caller's transaction; the caller keeps writers out (see `set_time_zone`).
    """
    periods = _periods_for(conn, workspace_id, time_zone)
    ws = literal_column(str(int(workspace_id)), BigInteger)
    all_apps = literal_column(str(ALL_APPS), BigInteger)
    all_products = literal_column(str(ALL_PRODUCTS), BigInteger)

    for table in (
        event_rollups_recent,
        event_rollups_hourly,
        purchase_rollups_recent,
        purchase_rollups_hourly,
    ):
        conn.execute(delete(table).where(table.c.workspace_id == workspace_id))
    e = event_rollups_hourly
    event_hour = _hour_expression(events.c.time_ms, periods)
    by_app = (
        select(
            events.c.event_id,
            events.c.app_id,
            event_hour.label("hour"),
            func.count().label("n"),
        )
        .where(events.c.workspace_id == workspace_id)
        .group_by(events.c.event_id, events.c.app_id, event_hour)
        .cte("event_buckets")
        .prefix_with("MATERIALIZED")
    )
    conn.execute(
        insert(e).from_select(
            ["workspace_id", "event_id", "app_id", "hour", "count"],
            union_all(
                select(
                    ws, by_app.c.event_id, all_apps, by_app.c.hour, func.sum(by_app.c.n)
                ).group_by(by_app.c.event_id, by_app.c.hour),
                select(ws, by_app.c.event_id, by_app.c.app_id, by_app.c.hour, by_app.c.n).where(
                    by_app.c.app_id.is_not(None)
                ),
            ),
        )
    )

    p = purchase_rollups_hourly
    purchase_hour = _hour_expression(purchases.c.time_ms, periods)
    bought = (
        select(
            purchases.c.product_id,
            purchases.c.app_id,
            purchase_hour.label("hour"),
            func.count().label("n"),
            func.sum(purchases.c.quantity).label("quantity"),
            func.sum(purchases.c.price * purchases.c.quantity).label("revenue"),
        )
        .where(purchases.c.workspace_id == workspace_id)
        .group_by(purchases.c.product_id, purchases.c.app_id, purchase_hour)
        .cte("purchase_buckets")
        .prefix_with("MATERIALIZED")
    )
    sums = (func.sum(bought.c.n), func.sum(bought.c.quantity), func.sum(bought.c.revenue))
    per_app = bought.c.app_id.is_not(None)
    conn.execute(
        insert(p).from_select(
            ["workspace_id", "product_id", "app_id", "hour", "purchases", "quantity", "revenue"],
            union_all(
                select(
                    ws,
                    bought.c.product_id,
                    bought.c.app_id,
                    bought.c.hour,
                    bought.c.n,
                    bought.c.quantity,
                    bought.c.revenue,
                ).where(per_app),
                select(ws, bought.c.product_id, all_apps, bought.c.hour, *sums).group_by(
                    bought.c.product_id, bought.c.hour
                ),
                select(ws, all_products, bought.c.app_id, bought.c.hour, *sums)
                .where(per_app)
                .group_by(bought.c.app_id, bought.c.hour),
                select(ws, all_products, all_apps, bought.c.hour, *sums).group_by(bought.c.hour),
            ),
        )
    )
    rebuild_days(conn, workspace_id, time_zone)
    # (rowcount is not reported for INSERT ... SELECT with a CTE on every driver)
    return RebuildResult(*(_rows(conn, table, workspace_id) for table in (e, p)))


def _rows(conn: Connection, table: Table, workspace_id: int) -> int:
    """Rollup rows a workspace has in a table."""
    found = conn.execute(
        select(func.count()).select_from(table).where(table.c.workspace_id == workspace_id)
    ).scalar()
    return int(found or 0)


def set_time_zone(
    engine: Engine, workspace_id: int, time_zone: str, *, rebuild_unchanged: bool = False
) -> TimeZoneChange:
    """Set a workspace's zone and rebuild its rollups in it, in one transaction.

    An unchanged zone rebuilds only with `rebuild_unchanged` (the operator's repair path).
    """
    if time_zone not in valid_time_zones():
        raise UnknownTimeZone(
            f"unknown time zone {time_zone!r}: use an IANA name such as 'America/New_York' or 'UTC'"
        )
    started = time.perf_counter()
    lock = WriteLock(engine)
    try:
        with lock.held(), engine.connect() as conn:
            conn.execution_options(**{WRITE_OPTION: True})
            with conn.begin():
                row = conn.execute(
                    select(workspaces.c.name, workspaces.c.time_zone).where(
                        workspaces.c.id == workspace_id
                    )
                ).first()
                if row is None:
                    raise UnknownWorkspace(f"no workspace with id {workspace_id}")
                name, previous = str(row.name), str(row.time_zone)
                result = None
                if previous != time_zone or rebuild_unchanged:
                    # The workspace row first, then the raw tables: the order in which an
                    # ingest transaction that reads its zone under lock would take them.
                    conn.execute(
                        update(workspaces)
                        .where(workspaces.c.id == workspace_id)
                        .values(time_zone=time_zone)
                    )
                    if engine.dialect.name == "postgresql":
                        conn.execute(text(_LOCK_RAW))
                        conn.execute(text(_LOCK_ROLLUPS))
                    result = rebuild_rollups(conn, workspace_id, time_zone)
                    rebuild_kpis(conn, workspace_id, time_zone)
    finally:
        lock.close()
    return TimeZoneChange(
        workspace_id, name, previous, time_zone, result, time.perf_counter() - started
    )
