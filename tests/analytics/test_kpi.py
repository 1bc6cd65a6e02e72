"""KPI counting at write time (`heron.analytics.kpi`): days, the filter, transactions, rebuilds.

End-to-end series through the HTTP API are in `test_kpi_api.py`; this module drives
`TrackStore` and `KpiRecorder` directly on a real database, including two writers on two
connections at once.
"""

from __future__ import annotations

import random
import threading
import time
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from alembic import command
from sqlalchemy import insert, select, update
from sqlalchemy.engine import Connection, Engine

from conftest import BACKEND, make_workspace
from heron.analytics import kpi
from heron.analytics.kpi import (
    DAY_MS,
    KpiRecorder,
    LocalDays,
    daily_series,
    fold_job,
    iso_day,
    pending_exist,
    rebuild_kpis,
    take_pending,
)
from heron.ingest.batch import TrackBatch
from heron.ingest.events import validate_event, validate_purchase
from heron.ingest.trackstore import TrackStore
from heron.segments.facts import Needs, load_facts
from heron.store import migrate
from heron.store.driver import raw_cursor
from heron.store.engine import WRITE_OPTION
from heron.store.schema import (
    ALL_APPS,
    events,
    kpi_daily,
    kpi_folding,
    kpi_pending,
    kpi_user_days,
    kpi_users,
    purchases,
    users,
    workspaces,
)
from heron.users import profiles

EPOCH = date(1970, 1, 1)


def day_number(d: date) -> int:
    """Days since 1970-01-01."""
    return (d - EPOCH).days


def ms(text: str) -> int:
    """Epoch milliseconds of an ISO 8601 date-time with an offset."""
    return int(datetime.fromisoformat(text).timestamp() * 1000)


def iso(time_ms: int) -> str:
    """An event `time` for epoch milliseconds."""
    return datetime.fromtimestamp(time_ms / 1000, UTC).isoformat(timespec="milliseconds")


# -- local days ------------------------------------------------------------------------------

ZONES = [
    "UTC",
    "America/New_York",
    "Asia/Kolkata",  # +05:30: days start at 18:30 UTC
    "Asia/Kathmandu",  # +05:45
    "Australia/Lord_Howe",  # 30-minute DST
    "America/Santiago",  # DST changes at local midnight
    "Asia/Beirut",  # falls back from 00:00 to 23:00 the day before
    "Pacific/Apia",  # skipped 2011-12-30 entirely
]


def reference_day(time_ms: int, zone_name: str) -> int:
    """The local day by zoneinfo directly (no caching)."""
    local = datetime.fromtimestamp(time_ms / 1000, ZoneInfo(zone_name))
    return day_number(local.date())


@pytest.mark.parametrize("zone_name", ZONES)
def test_local_days_match_zoneinfo_around_every_transition(zone_name: str) -> None:
    rng = random.Random(zone_name)
    days = LocalDays(zone_name)
    tz = ZoneInfo(zone_name)
    instants: list[int] = []
    # Every transition of 2010-2026 (found hourly), probed at and around it.
    start = int(datetime(2010, 1, 1, tzinfo=UTC).timestamp())
    stop = int(datetime(2026, 12, 31, tzinfo=UTC).timestamp())
    previous = datetime.fromtimestamp(start, tz).utcoffset()
    for second in range(start, stop, 3600):
        offset = datetime.fromtimestamp(second, tz).utcoffset()
        if offset != previous:
            for delta in (-3_600_001, -1, 0, 1, 1_799_999, 3_600_000, 86_399_999):
                instants.append((second - 3600) * 1000 + delta)
                instants.append(second * 1000 + delta)
            previous = offset
    instants += [rng.randrange(start * 1000, stop * 1000) for _ in range(2000)]
    # Local midnights, +-1 ms, over a year, and old local-mean-time instants.
    for n in range(400):
        midnight = datetime(2024, 1, 1, tzinfo=tz) + timedelta(days=n)
        instants += [int(midnight.timestamp() * 1000) + d for d in (-1, 0, 1)]
    instants += [
        ms("1850-06-01T12:00:00+00:00") + rng.randrange(-(10**10), 10**10) for _ in range(50)
    ]
    rng.shuffle(instants)  # in any order, so the memo is exercised out of order too
    for instant in instants:
        assert days.day_of(instant) == reference_day(instant, zone_name), (zone_name, instant)
        assert days.lo <= instant < days.hi
        assert reference_day(days.lo, zone_name) == reference_day(days.hi - 1, zone_name)


def test_local_days_at_the_ends_of_the_calendar() -> None:
    for zone_name in ("UTC", "America/New_York", "Asia/Tokyo"):
        days = LocalDays(zone_name)
        assert days.day_of(ms("0001-01-01T00:00:00+00:00")) in (
            day_number(date(1, 1, 1)) - 1,
            day_number(date(1, 1, 1)),
        )
        assert days.day_of(ms("9999-12-31T12:00:00+00:00")) in (
            day_number(date(9999, 12, 31)),
            day_number(date(9999, 12, 31)) + 1,
        )


def test_iso_day_labels_every_day_like_date() -> None:
    for n in [*range(-800_000, 3_000_000, 997), -719_162, 0, 2_932_896]:
        if date.min.toordinal() <= n + EPOCH.toordinal() <= date.max.toordinal():
            assert iso_day(n) == (EPOCH + timedelta(days=n)).isoformat()
    assert iso_day(day_number(date(1, 1, 1)) - 1) == "0000-12-31"


# -- driving the store directly ---------------------------------------------------------------


class Writer:
    """One TrackStore on its own write connection, as one writer thread of one server."""

    def __init__(self, engine: Engine, ws: int, time_zone: str, apps: dict[str, int]) -> None:
        self.engine = engine
        self.ws = ws
        self.time_zone = time_zone
        self.apps = apps
        self.store = TrackStore(engine.dialect.name)
        self.conn = engine.connect()
        self.conn.execution_options(**{WRITE_OPTION: True})

    def batch(self, objects: list[dict[str, Any]]) -> TrackBatch:
        """A validated batch of events (objects with `name`) and purchases (with `product_id`)."""
        now_ms = int(time.time() * 1000)
        batch = TrackBatch(self.ws, self.time_zone, now_ms)
        for index, obj in enumerate(objects):
            if "product_id" in obj:
                purchase = validate_purchase(obj, now_ms, self.apps)
                assert not isinstance(purchase, str), purchase
                batch.purchases.append((index, purchase))
            else:
                event = validate_event(obj, now_ms, self.apps)
                assert not isinstance(event, str), event
                batch.events.append((index, event))
        return batch

    def apply(self, *groups: list[dict[str, Any]], commit: bool = True) -> None:
        """Store the batches in one transaction (commit or roll back)."""
        transaction = self.conn.begin()
        try:
            self.store.apply(self.conn, [self.batch(objects) for objects in groups])
        except BaseException:
            transaction.rollback()
            self.store.discard_pending()
            raise
        if commit:
            transaction.commit()
            self.store.commit_pending()
        else:
            transaction.rollback()
            self.store.discard_pending()

    def close(self) -> None:
        """Release the connection."""
        self.conn.close()


def ev(user: str, when: str | int, app: str | None = None, name: str = "e") -> dict[str, Any]:
    """An event object."""
    obj: dict[str, Any] = {
        "external_id": user,
        "name": name,
        "time": when if isinstance(when, str) else iso(when),
    }
    if app is not None:
        obj["app_id"] = app
    return obj


def buy(user: str, when: str | int, app: str | None = None) -> dict[str, Any]:
    """A purchase object."""
    obj = {**ev(user, when, app), "product_id": "p", "currency": "USD", "price": 1, "quantity": 1}
    del obj["name"]
    return obj


def fold(engine: Engine) -> None:
    """Fold the pairs SQLite ingest deferred to `kpi_pending`, as a reader's job does first."""
    with engine.connect() as conn:
        conn.execution_options(**{WRITE_OPTION: True})
        with conn.begin():
            fold_job(conn)


def series(
    engine: Engine, ws: int, metric: str, first: date, last: date, app: int = ALL_APPS
) -> list[int]:
    """A KPI series read straight from the tables (once deferred pairs are folded)."""
    fold(engine)
    with engine.connect() as conn:
        return daily_series(
            conn,
            ws,
            app,
            day_number(first),
            day_number(last),
            metric,  # type: ignore[arg-type]
        )


def brute_force(
    conn: Connection, ws: int, zone_name: str, first: date, last: date
) -> dict[tuple[str, int], list[int]]:
    """Every KPI series recomputed from the raw rows: (metric, app key) -> values."""
    tz = ZoneInfo(zone_name)
    active: defaultdict[int, defaultdict[date, set[int]]] = defaultdict(lambda: defaultdict(set))
    first_seen: dict[tuple[int, int], date] = {}
    rows = [
        *conn.execute(
            select(events.c.user_id, events.c.app_id, events.c.time_ms).where(
                events.c.workspace_id == ws
            )
        ),
        *conn.execute(
            select(purchases.c.user_id, purchases.c.app_id, purchases.c.time_ms).where(
                purchases.c.workspace_id == ws
            )
        ),
    ]
    for uid, app, time_ms in rows:
        day = datetime.fromtimestamp(time_ms / 1000, tz).date()
        for key in (ALL_APPS,) if app is None else (ALL_APPS, app):
            active[key][day].add(uid)
            if key != ALL_APPS:
                known = first_seen.get((key, uid))
                first_seen[(key, uid)] = day if known is None else min(known, day)
    created: defaultdict[date, int] = defaultdict(int)
    for (created_ms,) in conn.execute(
        select(users.c.created_at_ms).where(users.c.workspace_id == ws)
    ):
        created[datetime.fromtimestamp(created_ms / 1000, tz).date()] += 1
    days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
    result: dict[tuple[str, int], list[int]] = {}
    for app, by_day in [(ALL_APPS, active[ALL_APPS]), *((a, active[a]) for a in active if a)]:
        result[("dau", app)] = [len(by_day.get(d, ())) for d in days]
        result[("mau", app)] = [
            len(set().union(*(by_day.get(d - timedelta(days=k), set()) for k in range(30))))
            for d in days
        ]
        if app == ALL_APPS:
            result[("new_users", app)] = [created.get(d, 0) for d in days]
        else:
            firsts = [d for (a, _), d in first_seen.items() if a == app]
            result[("new_users", app)] = [firsts.count(d) for d in days]
    return result


def assert_matches_brute_force(
    engine: Engine, ws: int, zone_name: str, first: date, last: date
) -> None:
    """Every stored series equals the brute-force one."""
    with engine.connect() as conn:
        expected = brute_force(conn, ws, zone_name, first, last)
    for (metric, app), values in expected.items():
        assert series(engine, ws, metric, first, last, app) == values, (metric, app)


@pytest.fixture
def setup(engine: Engine) -> dict[str, Any]:
    """A New York workspace with two apps, its app map and a writer."""
    ws = make_workspace(engine, "ny", "America/New_York")
    from heron.admin import apps as app_admin

    second = app_admin.create_app(engine, ws.id, "second")
    apps = {ws.app_id: ws.app_key, second.api_id: second.id}
    return {"ws": ws, "apps": apps, "a": ws.app_id, "b": second.api_id}


def test_random_history_with_dst_days_is_exact(engine: Engine, setup: dict[str, Any]) -> None:
    """Random events and purchases over 75 days (both 2025 DST changes), stored out of order."""
    ws = setup["ws"]
    rng = random.Random(20250309)
    apps = [None, setup["a"], setup["b"]]
    tz = ZoneInfo("America/New_York")
    moments: list[int] = []
    base = date(2025, 2, 20)
    for n in range(75):
        midnight = datetime(2025, 2, 20, tzinfo=tz) + timedelta(days=n)
        start = int(midnight.timestamp() * 1000)
        moments += [start, start - 1, start + 1, start + rng.randrange(DAY_MS)]
    # the DST changes themselves: 2025-03-09 02:00 EST -> EDT, 2025-11-02 02:00 EDT -> EST
    moments += [ms("2025-03-09T06:59:59.999+00:00"), ms("2025-03-09T07:00:00+00:00")]
    moments += [ms("2025-03-10T03:59:59.999+00:00"), ms("2025-03-10T04:00:00+00:00")]
    moments += [ms("2025-11-02T05:30:00+00:00"), ms("2025-11-02T06:30:00+00:00")]
    objects = []
    for _ in range(900):
        user = f"u{rng.randrange(25)}"
        when = rng.choice(moments)
        app = rng.choice(apps)
        objects.append(buy(user, when, app) if rng.random() < 0.2 else ev(user, when, app))
    rng.shuffle(objects)
    writer = Writer(engine, ws.id, "America/New_York", setup["apps"])
    try:
        for start in range(0, len(objects), 60):  # groups of a few batches, out of order
            chunk = objects[start : start + 60]
            writer.apply(chunk[:20], chunk[20:40], chunk[40:])
            if rng.random() < 0.3:  # SQLite: deferred pairs folded between some groups
                fold(engine)
        # and again: every pair is now known (filter) or recorded (database): nothing changes
        writer.apply(objects[:75])
        writer.store._kpi = KpiRecorder(engine.dialect.name == "postgresql")
        writer.apply(objects[75:150])  # a restarted process: the database recognises them
    finally:
        writer.close()
    today = datetime.now(tz).date()
    first, last = base - timedelta(days=5), today + timedelta(days=1)
    assert_matches_brute_force(engine, ws.id, "America/New_York", first, last)
    assert max(series(engine, ws.id, "dau", first, last)) > 5
    assert max(series(engine, ws.id, "mau", first, last)) == 25

    # rebuilding from the raw rows gives the same tables, in this zone and in another one
    before = daily_rows(engine, ws.id)
    with engine.begin() as conn:
        rebuild_kpis(conn, ws.id, "America/New_York")
    assert daily_rows(engine, ws.id) == before
    with engine.begin() as conn:
        rebuild_kpis(conn, ws.id, "Asia/Kolkata")
    assert_matches_brute_force(engine, ws.id, "Asia/Kolkata", first, last)


def daily_rows(engine: Engine, ws: int) -> dict[tuple[int, int], tuple[int, int, int]]:
    """The workspace's `kpi_daily` rows, all-zero rows left out."""
    fold(engine)
    t = kpi_daily
    with engine.connect() as conn:
        rows = conn.execute(
            select(t.c.app_id, t.c.day, t.c.dau, t.c.new_users, t.c.mau_delta).where(
                t.c.workspace_id == ws
            )
        ).all()
    return {(a, d): (x, y, z) for a, d, x, y, z in rows if (x, y, z) != (0, 0, 0)}


def test_rolled_back_group_leaves_no_counts_and_no_filter_entries(
    engine: Engine, setup: dict[str, Any]
) -> None:
    ws = setup["ws"]
    writer = Writer(engine, ws.id, "America/New_York", setup["apps"])
    day = date(2025, 5, 1)
    try:
        writer.apply([ev("u1", "2025-05-01T15:00:00Z", setup["a"])], commit=False)
        assert series(engine, ws.id, "dau", day, day) == [0]
        writer.apply([ev("u1", "2025-05-01T16:00:00Z", setup["a"])])
    finally:
        writer.close()
    assert series(engine, ws.id, "dau", day, day) == [1]
    assert series(engine, ws.id, "dau", day, day, ws.app_key) == [1]
    assert series(engine, ws.id, "new_users", day, day, ws.app_key) == [1]


class NoSql:
    """A cursor that fails on use: proves a group needed no SQL."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"the recorder used the database ({name})")


def test_known_pairs_cost_no_sql_and_new_ones_do(engine: Engine, setup: dict[str, Any]) -> None:
    ws = setup["ws"]
    writer = Writer(engine, ws.id, "America/New_York", setup["apps"])
    try:
        objects = [
            ev(f"u{n % 7}", f"2025-06-0{1 + n % 3}T12:00:00Z", setup["a"]) for n in range(40)
        ]
        writer.apply(objects)
        recorder = writer.store._kpi
        transaction = writer.conn.begin()
        writer.store.apply(writer.conn, [writer.batch(objects)])
        group = writer.store._group
        assert group is not None
        assert not group.created_users
        recorder.record(NoSql(), group)  # every (user, app, day) is in the filter
        uid = group.events[0][1]
        group.events.append((ws.id, uid, 1, None, ms("2025-06-09T12:00:00+00:00"), None))
        with pytest.raises(AssertionError, match="used the database"):
            recorder.record(NoSql(), group)
        transaction.rollback()
        writer.store.discard_pending()
    finally:
        writer.close()


def stored_days(engine: Engine, ws: int) -> tuple[set[tuple[int, int, int]], dict[Any, Any]]:
    """The workspace's `kpi_user_days` rows (app, user, day) and `kpi_users` ranges."""
    fold(engine)
    with engine.connect() as conn:
        days = conn.execute(
            select(kpi_user_days.c.app_id, kpi_user_days.c.user_id, kpi_user_days.c.day).where(
                kpi_user_days.c.workspace_id == ws
            )
        ).all()
        ranges = conn.execute(
            select(
                kpi_users.c.app_id, kpi_users.c.user_id, kpi_users.c.first_day, kpi_users.c.last_day
            ).where(kpi_users.c.workspace_id == ws)
        ).all()
    return {(a, u, d) for a, u, d in days}, {(a, u): (f, last) for a, u, f, last in ranges}


def test_a_new_pair_is_one_row_and_its_first_day_stays_recorded(
    engine: Engine, setup: dict[str, Any]
) -> None:
    """A never-seen (user, app) writes only `kpi_users`; its first day still counts as recorded
    for later groups, other writers and restarted processes, and moves to `kpi_user_days` when
    an earlier day becomes the first one."""
    ws = setup["ws"]
    a, b = setup["a"], setup["b"]
    writer = Writer(engine, ws.id, "America/New_York", setup["apps"])
    other = Writer(engine, ws.id, "America/New_York", setup["apps"])  # another server process
    first, last = date(2025, 2, 1), date(2025, 5, 30)
    try:
        writer.apply([ev("u1", "2025-03-10T12:00:00Z", a), ev("u2", "2025-03-10T12:00:00Z")])
        days, ranges = stored_days(engine, ws.id)
        assert days == set()  # three new pairs: (u1, a), (u1, all), (u2, all)
        assert len(ranges) == 3 and {r for r in ranges.values()} == {(20157, 20157)}
        # the same days through a writer whose filter knows nothing: counted once
        other.apply([ev("u1", "2025-03-10T15:00:00Z", a), ev("u2", "2025-03-10T20:00:00Z", b)])
        other.store._kpi = KpiRecorder(engine.dialect.name == "postgresql")
        other.apply([ev("u1", "2025-03-10T16:00:00Z", a), ev("u1", "2025-03-10T17:00:00Z")])
        assert_matches_brute_force(engine, ws.id, "America/New_York", first, last)
        assert series(engine, ws.id, "dau", date(2025, 3, 10), date(2025, 3, 10)) == [2]
        # an earlier day, a later one and the first again, in one group of a fresh recorder
        writer.store._kpi = KpiRecorder(engine.dialect.name == "postgresql")
        writer.apply(
            [ev("u1", "2025-03-01T12:00:00Z", a), ev("u1", "2025-03-20T12:00:00Z", a)],
            [ev("u1", "2025-03-10T13:00:00Z", a), ev("u2", "2025-02-20T12:00:00Z")],
        )
        days, ranges = stored_days(engine, ws.id)
        user_days = {d for app, _u, d in days if app == ws.app_key}
        assert 20157 in user_days  # no longer the first day: now a row of its own
        assert_matches_brute_force(engine, ws.id, "America/New_York", first, last)
        # one more fresh recorder: nothing it sees again changes a count
        before = daily_rows(engine, ws.id)
        other.store._kpi = KpiRecorder(engine.dialect.name == "postgresql")
        other.apply(
            [ev("u1", "2025-03-01T13:00:00Z", a), ev("u1", "2025-03-10T14:00:00Z", a)],
            [ev("u2", "2025-02-20T13:00:00Z"), ev("u2", "2025-03-10T21:00:00Z", b)],
        )
        assert daily_rows(engine, ws.id) == before
        # a day inside a known range, new to it, seen by a recorder that knows nothing
        other.store._kpi = KpiRecorder(engine.dialect.name == "postgresql")
        other.apply([ev("u1", "2025-03-15T12:00:00Z", a), ev("u1", "2025-03-20T13:00:00Z")])
        assert_matches_brute_force(engine, ws.id, "America/New_York", first, last)
        before = daily_rows(engine, ws.id)
    finally:
        writer.close()
        other.close()
    with engine.begin() as conn:  # a rebuild writes every day, and the counts stay the same
        rebuild_kpis(conn, ws.id, "America/New_York")
    assert daily_rows(engine, ws.id) == before


def test_filter_budget_forgets_old_days_and_stays_exact(
    engine: Engine, setup: dict[str, Any]
) -> None:
    ws = setup["ws"]
    writer = Writer(engine, ws.id, "America/New_York", setup["apps"])
    writer.store._kpi = recorder = KpiRecorder(
        engine.dialect.name == "postgresql", filter_bytes=8192 * 4
    )
    try:
        for n in range(20):
            when = f"2025-07-{1 + n:02d}T12:00:00Z"
            writer.apply([ev("u1", when, setup["a"]), ev("u2", when, setup["b"]), ev("u3", when)])
            assert recorder._filter_bytes <= 8192 * 4
        for n in range(20):  # again, most days forgotten by the filter: the database knows
            writer.apply([ev("u1", f"2025-07-{1 + n:02d}T13:00:00Z", setup["a"])])
    finally:
        writer.close()
    assert_matches_brute_force(
        engine, ws.id, "America/New_York", date(2025, 6, 25), date(2025, 8, 30)
    )


def test_mau_window_is_the_day_and_the_29_before(engine: Engine, setup: dict[str, Any]) -> None:
    ws = setup["ws"]
    writer = Writer(engine, ws.id, "America/New_York", setup["apps"])
    try:
        writer.apply([ev("u1", "2025-01-10T12:00:00-05:00")])
        first, last = date(2025, 1, 8), date(2025, 2, 12)
        mau = series(engine, ws.id, "mau", first, last)
        by_day = dict(zip((first + timedelta(days=n) for n in range(len(mau))), mau, strict=True))
        assert by_day[date(2025, 1, 9)] == 0
        assert by_day[date(2025, 1, 10)] == 1
        assert by_day[date(2025, 2, 8)] == 1  # 29 days later: still in the window
        assert by_day[date(2025, 2, 9)] == 0  # 30 days later: out
        # a later day extends the window; an earlier one (out of order) starts it sooner
        writer.apply([ev("u1", "2025-01-20T12:00:00-05:00")])
        writer.apply([ev("u1", "2025-01-05T12:00:00-05:00")])
        writer.apply([ev("u1", "2025-01-05T18:00:00-05:00"), ev("u1", "2025-01-20T01:00:00-05:00")])
        mau = series(engine, ws.id, "mau", date(2025, 1, 4), date(2025, 2, 20))
        expected = [0] + [1] * 45 + [0, 0]  # Jan 5 .. Feb 18 (= Jan 20 + 29)
        assert mau == expected
        assert series(engine, ws.id, "dau", date(2025, 1, 4), date(2025, 1, 6)) == [0, 1, 0]
    finally:
        writer.close()


def test_new_users_for_an_app_move_to_an_earlier_first_day(
    engine: Engine, setup: dict[str, Any]
) -> None:
    ws = setup["ws"]
    writer = Writer(engine, ws.id, "America/New_York", setup["apps"])
    first, last = date(2025, 3, 1), date(2025, 3, 5)
    try:
        writer.apply([ev("u1", "2025-03-04T12:00:00Z", setup["a"])])
        assert series(engine, ws.id, "new_users", first, last, ws.app_key) == [0, 0, 0, 1, 0]
        writer.apply([ev("u1", "2025-03-02T12:00:00Z", setup["a"])])
        assert series(engine, ws.id, "new_users", first, last, ws.app_key) == [0, 1, 0, 0, 0]
        writer.apply([ev("u1", "2025-03-05T12:00:00Z", setup["a"])])
        assert series(engine, ws.id, "new_users", first, last, ws.app_key) == [0, 1, 0, 0, 0]
    finally:
        writer.close()


# -- two writers at once (two server processes) -----------------------------------------------


def run_concurrently(
    engine: Engine, setup: dict[str, Any], first: list[dict[str, Any]], second: list[dict[str, Any]]
) -> None:
    """Writer A stores `first` and holds its transaction open while B stores `second`."""
    ws = setup["ws"]
    a = Writer(engine, ws.id, "America/New_York", setup["apps"])
    b = Writer(engine, ws.id, "America/New_York", setup["apps"])
    # Each writer learns the profiles and the event name's seen range first, so that nothing
    # before the KPI step of the group below makes B wait for A on PostgreSQL.
    warm = [ev("warm", "2025-03-01T00:00:00Z"), ev("warm", "2025-06-01T00:00:00Z")]
    a.apply(warm)
    b.apply(warm)
    b_started = threading.Event()
    errors: list[BaseException] = []

    def second_writer() -> None:
        try:
            b_started.set()
            b.apply(second)
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    try:
        transaction = a.conn.begin()
        a.store.apply(a.conn, [a.batch(first)])
        thread = threading.Thread(target=second_writer)
        thread.start()
        b_started.wait()
        time.sleep(0.5)
        # B waits: for the user's `kpi_users` row on PostgreSQL, for the write lock on SQLite
        assert thread.is_alive()
        transaction.commit()
        a.store.commit_pending()
        thread.join(30)
        assert not thread.is_alive()
        assert not errors, errors
    finally:
        a.close()
        b.close()


def precreate(engine: Engine, ws: int, *names: str) -> None:
    """Create profiles up front (a new profile's unique key would make B wait for A)."""
    with engine.begin() as conn:
        conn.execute(
            insert(users),
            [
                {
                    "workspace_id": ws,
                    "braze_id": f"{n:024x}",
                    "external_id": name,
                    "created_at_ms": 0,
                    "updated_at_ms": 0,
                }
                for n, name in enumerate(names)
            ],
        )


def test_two_writers_same_user_same_day_count_once(engine: Engine, setup: dict[str, Any]) -> None:
    ws = setup["ws"]
    precreate(engine, ws.id, "u1", "u2")
    run_concurrently(
        engine,
        setup,
        [ev("u1", "2025-04-10T12:00:00Z", setup["a"]), ev("u2", "2025-04-10T12:00:00Z")],
        [
            ev("u1", "2025-04-10T13:00:00Z", setup["a"]),
            ev("u2", "2025-04-10T14:00:00Z", setup["b"]),
        ],
    )
    day = date(2025, 4, 10)
    assert series(engine, ws.id, "dau", day, day) == [2]
    assert series(engine, ws.id, "dau", day, day, ws.app_key) == [1]
    assert series(engine, ws.id, "mau", day, day) == [2]
    assert series(engine, ws.id, "new_users", day, day, ws.app_key) == [1]
    assert_matches_brute_force(
        engine, ws.id, "America/New_York", day - timedelta(days=40), day + timedelta(days=40)
    )


def test_two_writers_same_user_different_days_keep_mau_exact(
    engine: Engine, setup: dict[str, Any]
) -> None:
    ws = setup["ws"]
    precreate(engine, ws.id, "u1")
    run_concurrently(
        engine,
        setup,
        [ev("u1", "2025-04-10T12:00:00Z", setup["a"])],
        [ev("u1", "2025-04-20T12:00:00Z", setup["a"]), ev("u1", "2025-04-01T12:00:00Z")],
    )
    first, last = date(2025, 3, 25), date(2025, 5, 25)
    assert_matches_brute_force(engine, ws.id, "America/New_York", first, last)
    assert series(engine, ws.id, "new_users", first, last, ws.app_key).count(1) == 1


def test_zone_change_restarts_the_filter(engine: Engine, setup: dict[str, Any]) -> None:
    """A writer that sees a workspace's new zone counts in it (after a rebuild) from then on."""
    ws = setup["ws"]
    writer = Writer(engine, ws.id, "America/New_York", setup["apps"])
    try:
        writer.apply([ev("u1", "2025-08-01T02:00:00Z")])  # July 31 in New York
        with engine.begin() as conn:
            conn.execute(update(workspaces).where(workspaces.c.id == ws.id).values(time_zone="UTC"))
            rebuild_kpis(conn, ws.id, "UTC")
        writer.time_zone = "UTC"
        writer.apply([ev("u1", "2025-08-01T03:00:00Z")])  # August 1 either way in UTC
    finally:
        writer.close()
    assert series(engine, ws.id, "dau", date(2025, 7, 31), date(2025, 8, 1)) == [0, 1]
    assert_matches_brute_force(engine, ws.id, "UTC", date(2025, 7, 1), date(2025, 9, 10))


# -- pairs deferred by SQLite ingest (kpi_pending) ---------------------------------------------


def user_id(engine: Engine, ws: int, external_id: str) -> int:
    """A profile's id."""
    with engine.connect() as conn:
        return int(
            conn.execute(
                select(users.c.id).where(
                    users.c.workspace_id == ws, users.c.external_id == external_id
                )
            ).scalar_one()
        )


def pending_rows(engine: Engine) -> list[tuple[int, int, int, int]]:
    """`kpi_pending` as (workspace, app key, user, day) rows."""
    t = kpi_pending
    with engine.connect() as conn:
        rows = conn.execute(select(t.c.workspace_id, t.c.app_id, t.c.user_id, t.c.day)).all()
    return [(w, a, u, d) for w, a, u, d in rows]


def test_sqlite_defers_new_pairs_to_one_fold_and_postgresql_records_them(
    engine: Engine, setup: dict[str, Any]
) -> None:
    """SQLite groups append each pair their filter does not know (its app's and all apps')
    and leave the KPI tables alone until a fold; PostgreSQL groups record them at once."""
    ws, a = setup["ws"], setup["a"]
    writer = Writer(engine, ws.id, "America/New_York", setup["apps"])
    try:
        writer.apply([ev("u1", "2025-03-10T12:00:00Z", a), ev("u2", "2025-03-10T12:00:00Z")])
        writer.apply([ev("u1", "2025-03-10T13:00:00Z", a)])  # known to the filter: nothing
    finally:
        writer.close()
    u1, u2 = user_id(engine, ws.id, "u1"), user_id(engine, ws.id, "u2")
    day = day_number(date(2025, 3, 10))
    app_key = setup["apps"][a]
    with engine.connect() as conn:
        ranges = conn.execute(select(kpi_users.c.user_id)).all()
    if engine.dialect.name == "sqlite":
        assert sorted(pending_rows(engine)) == sorted(
            [(ws.id, app_key, u1, day), (ws.id, ALL_APPS, u1, day), (ws.id, ALL_APPS, u2, day)]
        )
        assert ranges == []
    else:
        assert pending_rows(engine) == []
        assert len(ranges) == 3
    fold(engine)
    assert pending_rows(engine) == []
    assert series(engine, ws.id, "dau", date(2025, 3, 10), date(2025, 3, 10)) == [2]
    assert series(engine, ws.id, "new_users", date(2025, 3, 10), date(2025, 3, 10), app_key) == [1]
    _, ranges_after = stored_days(engine, ws.id)
    assert ranges_after == {(app_key, u1): (day, day), (0, u1): (day, day), (0, u2): (day, day)}


def test_a_fold_takes_the_per_key_path_for_several_days_and_earlier_days(
    engine: Engine, setup: dict[str, Any]
) -> None:
    """Pending keys with two days, a day before the first one, a day between recorded ones,
    and a day already recorded (another process's filter did not know it) fold exactly."""
    ws, a = setup["ws"], setup["a"]
    writer = Writer(engine, ws.id, "America/New_York", setup["apps"])
    try:
        writer.apply([ev("u1", "2025-03-10T12:00:00Z", a), ev("u2", "2025-03-20T12:00:00Z", a)])
        fold(engine)
        writer.apply(
            [
                ev("u1", "2025-03-01T12:00:00Z", a),  # before its first day
                ev("u1", "2025-03-15T12:00:00Z", a),  # and after its last: two days
                ev("u2", "2025-03-20T18:00:00Z", a),  # its recorded day again
                ev("u3", "2025-03-05T12:00:00Z", a),
                ev("u3", "2025-04-25T12:00:00Z", a),  # a new key with two days
            ]
        )
        writer.store._kpi = KpiRecorder(engine.dialect.name == "postgresql")  # another process
        writer.apply([ev("u2", "2025-03-20T19:00:00Z", a), ev("u1", "2025-03-12T12:00:00Z", a)])
    finally:
        writer.close()
    assert_matches_brute_force(
        engine, ws.id, "America/New_York", date(2025, 2, 20), date(2025, 5, 30)
    )
    assert pending_rows(engine) == []


def test_a_pair_both_workers_appended_is_folded_once(engine: Engine, setup: dict[str, Any]) -> None:
    """Each worker's filter knows only its own appends, so a pair can be pending twice: alone,
    as one of a key's two days, and as a known key's next day; each counts once."""
    ws, a = setup["ws"], setup["a"]
    writer = Writer(engine, ws.id, "America/New_York", setup["apps"])
    try:
        writer.apply([ev("u3", "2025-03-01T12:00:00Z", a)])
        fold(engine)
        batch = [
            ev("u1", "2025-03-10T12:00:00Z", a),
            ev("u2", "2025-03-10T12:00:00Z", a),
            ev("u2", "2025-03-11T12:00:00Z", a),
            ev("u3", "2025-03-12T12:00:00Z", a),
        ]
        writer.apply(batch)
        writer.store._kpi = KpiRecorder(engine.dialect.name == "postgresql")  # the other worker
        writer.apply(batch)
        if engine.dialect.name == "sqlite":
            assert len(pending_rows(engine)) == 2 * len(set(pending_rows(engine))) == 16
    finally:
        writer.close()
    assert_matches_brute_force(
        engine, ws.id, "America/New_York", date(2025, 2, 20), date(2025, 4, 30)
    )
    assert series(engine, ws.id, "dau", date(2025, 3, 10), date(2025, 3, 12)) == [2, 1, 1]
    assert pending_rows(engine) == []


def test_deleted_users_pending_pairs_go_with_them(engine: Engine, setup: dict[str, Any]) -> None:
    """A user deleted before the fold leaves no KPI rows behind (counts already made stay)."""
    ws, a = setup["ws"], setup["a"]
    writer = Writer(engine, ws.id, "America/New_York", setup["apps"])
    try:
        writer.apply([ev("u1", "2025-03-10T12:00:00Z", a), ev("u2", "2025-03-10T12:00:00Z", a)])
    finally:
        writer.close()
    u1 = user_id(engine, ws.id, "u1")
    with engine.connect() as conn:
        conn.execution_options(**{WRITE_OPTION: True})
        with conn.begin():
            profiles.drop(conn, ws.id, [u1])
    assert all(row[2] != u1 for row in pending_rows(engine))
    _days, ranges = stored_days(engine, ws.id)
    assert {uid for _, uid in ranges} == {user_id(engine, ws.id, "u2")}


def test_a_rebuild_drops_the_workspaces_pending_pairs(
    engine: Engine, setup: dict[str, Any]
) -> None:
    """Pending pairs carry days of the zone they were counted in: a rebuild replaces them."""
    ws, a = setup["ws"], setup["a"]
    writer = Writer(engine, ws.id, "America/New_York", setup["apps"])
    try:
        writer.apply([ev("u1", "2025-03-10T02:00:00Z", a)])  # 9 March in New York
    finally:
        writer.close()
    with engine.connect() as conn:
        conn.execution_options(**{WRITE_OPTION: True})
        with conn.begin():
            rebuild_kpis(conn, ws.id, "UTC")
    assert pending_rows(engine) == []
    assert series(engine, ws.id, "dau", date(2025, 3, 9), date(2025, 3, 10)) == [0, 1]


def test_segment_facts_count_pending_pairs_as_app_usage(
    engine: Engine, setup: dict[str, Any]
) -> None:
    """The segment evaluator reads app usage from `kpi_users` and the pending pairs alike."""
    ws, a, b = setup["ws"], setup["a"], setup["b"]
    writer = Writer(engine, ws.id, "America/New_York", setup["apps"])
    try:
        writer.apply([ev("u1", "2025-03-10T12:00:00Z", a)])
        fold(engine)
        writer.apply([ev("u1", "2025-03-11T12:00:00Z", b), ev("u2", "2025-03-11T12:00:00Z", b)])
    finally:
        writer.close()
    u1, u2 = user_id(engine, ws.id, "u1"), user_id(engine, ws.id, "u2")
    needs = Needs(frozenset(), frozenset(), frozenset({a, b}), 0, 0)
    with engine.connect() as conn:
        found = load_facts(conn, ws.id, [u1, u2], needs, int(time.time() * 1000))
    assert found[u1].apps == frozenset({a, b})
    assert found[u2].apps == frozenset({b})


# -- folding a batch a slice at a time (SQLite) -----------------------------------------------


def step(writer: Writer) -> bool:
    """One pass of the writer loop's fold step (heron.ingest.writer), if due; whether it ran."""
    if not writer.store.kpi_fold_due():
        return False
    with writer.conn.begin():
        writer.store.fold_kpis(writer.conn)
    writer.store.kpis_folded()
    return True


def folding_rows(engine: Engine) -> list[tuple[int, int, int, int]]:
    """`kpi_folding` (a batch in progress) as (workspace, app key, user, day) rows."""
    t = kpi_folding
    with engine.connect() as conn:
        rows = conn.execute(select(t.c.workspace_id, t.c.app_id, t.c.user_id, t.c.day)).all()
    return [(w, a, u, d) for w, a, u, d in rows]


sqlite_only = pytest.mark.skipif(BACKEND != "sqlite", reason="only SQLite defers pairs")


@sqlite_only
def test_two_writers_fold_batches_a_slice_at_a_time_and_count_exactly(
    engine: Engine, setup: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Small batches and slices: both writers take batches and fold each other's slices
    between their groups, keys never split between slices; the counts stay exact."""
    monkeypatch.setattr(kpi, "CHECK_ROWS", 4)
    monkeypatch.setattr(kpi, "BATCH_ROWS", 12)
    monkeypatch.setattr(kpi, "SLICE_PAIRS", 5)
    sliced: list[tuple[int, int]] = []  # a writer's slices: (pairs folded, pairs left)
    real_slice = kpi.fold_slice

    def counted(cur: Any, pairs: int | None) -> int:
        """fold_slice, checking that it folds whole keys (workspace, app, user)."""
        cur.execute("SELECT workspace_id, app_id, user_id, day FROM kpi_folding")
        before = {tuple(row) for row in cur.fetchall()}
        folded = real_slice(cur, pairs)
        cur.execute("SELECT workspace_id, app_id, user_id, day FROM kpi_folding")
        after = {tuple(row) for row in cur.fetchall()}
        assert folded == len(before - after)
        assert {row[:3] for row in before - after}.isdisjoint({row[:3] for row in after})
        if pairs is not None and folded:
            sliced.append((folded, len(after)))
        return folded

    monkeypatch.setattr(kpi, "fold_slice", counted)
    ws = setup["ws"]
    rng = random.Random(7)
    apps = [None, setup["a"], setup["b"]]
    writers = [Writer(engine, ws.id, "America/New_York", setup["apps"]) for _ in range(2)]
    start = ms("2025-03-01T12:00:00+00:00")
    try:
        for n in range(40):
            objects = [
                ev(f"u{rng.randrange(30)}", start + rng.randrange(20) * DAY_MS, rng.choice(apps))
                for _ in range(rng.randrange(1, 12))
            ]
            writer = writers[n % 2]
            writer.apply(objects)
            step(writer)
            if n % 9 == 4:
                fold(engine)  # a reader folds everything, a batch in progress included
    finally:
        for writer in writers:
            writer.close()
    assert sum(left > 0 for _, left in sliced) >= 3  # batches did go slice by slice
    assert_matches_brute_force(
        engine, ws.id, "America/New_York", date(2025, 2, 20), date(2025, 4, 30)
    )
    assert pending_rows(engine) == [] and folding_rows(engine) == []


@sqlite_only
def test_a_batch_left_half_folded_is_finished_by_the_next_writer_exactly(
    engine: Engine, setup: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A process that dies between two slices leaves the rest of its batch in `kpi_folding`;
    the next writer (a new process) finishes it at once, and a slice that runs twice counts
    nothing the second time."""
    monkeypatch.setattr(kpi, "CHECK_ROWS", 1)
    monkeypatch.setattr(kpi, "BATCH_ROWS", 1)
    monkeypatch.setattr(kpi, "SLICE_PAIRS", 3)
    ws, a, b = setup["ws"], setup["a"], setup["b"]
    writer = Writer(engine, ws.id, "America/New_York", setup["apps"])
    try:
        writer.apply([ev("u0", "2025-03-05T12:00:00Z", a)])
        fold(engine)
        writer.apply(
            [ev(f"u{n}", f"2025-03-{10 + n % 3}T12:00:00Z", (a, b)[n % 2]) for n in range(9)]
        )
        while not folding_rows(engine):  # the step that takes the batch
            step(writer)
        taken = folding_rows(engine)
        step(writer)  # one slice
        left = folding_rows(engine)
        assert 0 < len(left) < len(taken)
        with writer.conn.begin():  # as if the slice had run and not been removed
            writer.conn.execute(
                insert(kpi_folding),
                [dict(zip(("workspace_id", "app_id", "user_id", "day"), row, strict=True))
                 for row in sorted(set(taken) - set(left))],
            )  # fmt: skip
        writer.store = TrackStore(engine.dialect.name)  # a new process
        assert writer.store.kpi_fold_due()  # it looks for a batch left behind at once
        while folding_rows(engine):
            assert step(writer)
    finally:
        writer.close()
    assert pending_rows(engine) == []
    assert_matches_brute_force(
        engine, ws.id, "America/New_York", date(2025, 2, 20), date(2025, 4, 30)
    )


@sqlite_only
def test_a_batch_being_folded_counts_as_pending_everywhere(
    engine: Engine, setup: dict[str, Any]
) -> None:
    """Pairs taken into `kpi_folding` are read as app usage, make readers fold first, go
    with a deleted user, are replaced by a rebuild, and go back to `kpi_pending` on a
    downgrade below migration 0014."""
    ws, a, b = setup["ws"], setup["a"], setup["b"]
    writer = Writer(engine, ws.id, "America/New_York", setup["apps"])
    try:
        writer.apply([ev("u1", "2025-03-11T12:00:00Z", b), ev("u2", "2025-03-11T12:00:00Z", b)])
        with writer.conn.begin():
            cur = raw_cursor(writer.conn)
            assert take_pending(cur) == 4
            cur.close()
    finally:
        writer.close()
    assert pending_rows(engine) == [] and len(folding_rows(engine)) == 4
    u1, u2 = user_id(engine, ws.id, "u1"), user_id(engine, ws.id, "u2")
    with engine.connect() as conn:
        assert pending_exist(conn)
        found = load_facts(
            conn, ws.id, [u1, u2], Needs(frozenset(), frozenset(), frozenset({a, b}), 0, 0), 0
        )
    assert found[u1].apps == found[u2].apps == frozenset({b})

    config = migrate.alembic_config(engine)
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0013")
    assert len(pending_rows(engine)) == 4
    migrate.upgrade(engine)
    with writer.engine.connect() as conn:
        conn.execution_options(**{WRITE_OPTION: True})
        with conn.begin():
            cur = raw_cursor(conn)
            take_pending(cur)
            cur.close()
            profiles.drop(conn, ws.id, [u1])
    assert {row[2] for row in folding_rows(engine)} == {u2}
    with engine.connect() as conn:
        conn.execution_options(**{WRITE_OPTION: True})
        with conn.begin():
            rebuild_kpis(conn, ws.id, "America/New_York")
    assert folding_rows(engine) == [] and pending_rows(engine) == []
    # counted again from the raw rows (profiles.drop leaves u1's events to its caller)
    assert series(engine, ws.id, "dau", date(2025, 3, 11), date(2025, 3, 11)) == [2]
