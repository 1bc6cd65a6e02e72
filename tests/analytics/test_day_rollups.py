"""Daily rollups: day series read one row per local day and answer what the hourly rows did.

Every check compares three answers: the API's daily series, the hourly-summed answer
(`*_in_ranges` over the same points, what the API answered before the daily tables), and a
count made here from the tracked objects by local calendar date. Prices are binary fractions,
so revenue sums are exact whatever the order of addition.
"""

from __future__ import annotations

import contextlib
import json
import random
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from alembic import command
from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.engine import Connection, Engine
from starlette.testclient import TestClient

from conftest import Workspace, auth, make_workspace
from heron.admin import apps as app_admin
from heron.analytics import rollups, series
from heron.analytics.buckets import day_start, hour_bucket, local_midnight, zone
from heron.analytics.compaction import compact, compact_all
from heron.analytics.dayrollups import rebuild_all_days
from heron.analytics.rebuild import set_time_zone
from heron.store import migrate
from heron.store.engine import WRITE_OPTION
from heron.store.schema import (
    ALL_APPS,
    ALL_PRODUCTS,
    custom_events,
    event_rollups_daily,
    event_rollups_hourly,
    event_rollups_recent,
    products,
    purchase_rollups_daily,
    purchase_rollups_hourly,
    purchase_rollups_recent,
    workspaces,
)

H = 3600
# Zones whose days are not all 24 hours or do not start on a UTC hour: New York (23/25-hour
# days at 02:00), Havana (midnight skipped in March, 00:00-01:00 repeated in November),
# Santiago (midnight skipped in September), Lord Howe (30-minute DST), Kolkata (+05:30).
DST_DATES = {
    "America/New_York": [date(2026, 3, 8), date(2026, 11, 1)],
    "America/Havana": [date(2026, 3, 8), date(2026, 11, 1)],
    "America/Santiago": [date(2026, 4, 5), date(2026, 9, 6)],
    "Australia/Lord_Howe": [date(2026, 4, 5), date(2026, 10, 4)],
    "Asia/Kolkata": [date(2026, 6, 1)],
    "UTC": [date(2026, 6, 1)],
}
PRICES = [0.25, 1.5, -0.75, 19.75, 3.125]


# -- day_start agrees with the series' day points -----------------------------------------


def hours_around(tz_name: str, days: list[date], rng: random.Random) -> list[int]:
    """Hourly bucket starts near every local midnight of a few days around each date."""
    tz = zone(tz_name)
    found: set[int] = set()
    for center in days:
        for k in range(-2, 3):
            midnight = local_midnight(center + timedelta(days=k), tz)
            for second in (midnight - 1, midnight, midnight + 1, midnight + 3599):
                found.add(hour_bucket(second * 1000, tz))
            for _ in range(20):
                found.add(hour_bucket((midnight + rng.randrange(86_400)) * 1000, tz))
    return sorted(found)


@pytest.mark.parametrize("tz_name", sorted(DST_DATES))
def test_day_start_is_the_series_point_holding_the_hour(tz_name: str) -> None:
    rng = random.Random(tz_name)
    tz = zone(tz_name)
    for hour in hours_around(tz_name, DST_DATES[tz_name], rng):
        points = series.points("day", 2, hour * 1000, tz_name)
        assert points.starts[-1] <= hour < points.end
        assert day_start(hour, tz) == points.starts[-1]


def test_dst_days_are_23_and_25_hours_and_skipped_midnights_start_when_clocks_jump() -> None:
    ny = zone("America/New_York")
    spring = series.points("day", 1, 1772960400 * 1000, "America/New_York")  # 2026-03-08 09:00Z
    assert spring.labels == ("2026-03-08",) and spring.end - spring.starts[0] == 23 * H
    fall = series.points("day", 1, 1793527200 * 1000, "America/New_York")  # 2026-11-01 12:00Z
    assert fall.labels == ("2026-11-01",) and fall.end - fall.starts[0] == 25 * H
    assert day_start(spring.end - H, ny) == spring.starts[0]
    assert day_start(fall.end - H, ny) == fall.starts[0]
    santiago = ZoneInfo("America/Santiago")
    start = local_midnight(date(2026, 9, 6), santiago)
    # 00:00 does not exist that night: the day starts at the jump, 01:00 -03 (04:00Z).
    assert datetime.fromtimestamp(start, UTC) == datetime(2026, 9, 6, 4, tzinfo=UTC)
    assert day_start(start, santiago) == start
    assert day_start(start - H, santiago) == local_midnight(date(2026, 9, 5), santiago)


def test_day_start_outside_the_datetime_range_stays_within_a_day() -> None:
    tz = zone("Asia/Kolkata")
    for hour in (-62_200_000_000, 253_402_400_000, 0, -H):
        start = day_start(hour, tz)
        assert start <= hour < start + 86_400


# -- a workspace with events and purchases, and what its series must say --------------------


@dataclass
class Tracked:
    """What a test sent, to count expected series from."""

    events: list[tuple[int, str, str | None]] = field(default_factory=list)  # ms, name, app
    purchases: list[tuple[int, str, str | None, int, float]] = field(default_factory=list)


@dataclass
class Setup:
    """A zoned workspace with two apps."""

    ws: Workspace
    apps: list[str]
    sent: Tracked


def iso(ms: int) -> str:
    """ISO 8601 UTC instant with milliseconds."""
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds")


def post(client: TestClient, key: str, body: dict[str, Any]) -> dict[str, Any]:
    """POST /users/track and require a 201."""
    response = client.post("/users/track", content=json.dumps(body), headers=auth(key))
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


def send(client: TestClient, setup: Setup, times_ms: list[int], rng: random.Random) -> None:
    """Track one event and one purchase per instant (names, apps, products, prices vary)."""
    event_objects, purchase_objects = [], []
    for ms in times_ms:
        app = rng.choice([None, *setup.apps])
        name = rng.choice(["played", "played", "played", "rare"])
        setup.sent.events.append((ms, name, app))
        event_objects.append(
            {"external_id": "u1", "name": name, "time": iso(ms), **({"app_id": app} if app else {})}
        )
        app = rng.choice([None, *setup.apps])
        product, quantity, price = (
            rng.choice(["tea", "cake"]),
            rng.randint(1, 4),
            rng.choice(PRICES),
        )
        setup.sent.purchases.append((ms, product, app, quantity, price))
        purchase_objects.append(
            {
                "external_id": "u1",
                "product_id": product,
                "currency": "USD",
                "price": price,
                "quantity": quantity,
                "time": iso(ms),
                **({"app_id": app} if app else {}),
            }
        )
    for start in range(0, len(times_ms), 75):
        post(
            client,
            setup.ws.key,
            {
                "events": event_objects[start : start + 75],
                "purchases": purchase_objects[start : start + 75],
            },
        )


def times_around(tz_name: str, days: list[date], rng: random.Random, per_day: int) -> list[int]:
    """Instants (ms) on the days around each date: near local midnights and at random."""
    tz = zone(tz_name)
    found: list[int] = []
    for center in days:
        for k in range(-3, 4):
            midnight = local_midnight(center + timedelta(days=k), tz) * 1000
            found += [midnight - 1, midnight, midnight + 1]
            found += [midnight + rng.randrange(86_400_000) for _ in range(per_day)]
    return found


def make_setup(client: TestClient, engine: Engine, tz_name: str) -> Setup:
    """A workspace in `tz_name` with two apps and nothing tracked yet."""
    ws = make_workspace(engine, "days", tz_name)
    second = app_admin.create_app(engine, ws.id, "second").api_id
    return Setup(ws, [ws.app_id, second], Tracked())


def local_date(ms: int, tz_name: str) -> date:
    """The calendar date of an instant in a zone."""
    return datetime.fromtimestamp(ms / 1000, ZoneInfo(tz_name)).date()


def expected_counts(
    setup: Setup, tz_name: str, labels: list[str], name: str, app: str | None
) -> list[int]:
    """Events of `name` per local date (all apps when `app` is None)."""
    per_day: dict[str, int] = defaultdict(int)
    for ms, sent_name, sent_app in setup.sent.events:
        if sent_name == name and (app is None or sent_app == app):
            per_day[local_date(ms, tz_name).isoformat()] += 1
    return [per_day[label] for label in labels]


def expected_purchases(
    setup: Setup, tz_name: str, labels: list[str], product: str | None, app: str | None
) -> tuple[list[int], list[float]]:
    """(quantity, revenue) per local date for a product (or all) and an app (or all)."""
    quantity: dict[str, int] = defaultdict(int)
    revenue: dict[str, float] = defaultdict(float)
    for ms, sent_product, sent_app, n, price in setup.sent.purchases:
        if (product is None or sent_product == product) and (app is None or sent_app == app):
            day = local_date(ms, tz_name).isoformat()
            quantity[day] += n
            revenue[day] += price * n
    return [quantity[label] for label in labels], [revenue[label] for label in labels]


def api(client: TestClient, key: str, path: str, **query: Any) -> list[dict[str, Any]]:
    """GET a series endpoint, require a 200, return its data."""
    response = client.get(path, params=query, headers=auth(key))
    assert response.status_code == 200, response.text
    data: list[dict[str, Any]] = response.json()["data"]
    return data


def hourly_summed(engine: Engine, setup: Setup, points: series.Points, **filters: Any) -> Any:
    """The answer the hourly rows give for these points (the series' answer before days)."""
    with engine.connect() as conn:
        if "event" in filters:
            event_id = conn.execute(
                select(custom_events.c.id).where(
                    custom_events.c.workspace_id == setup.ws.id,
                    custom_events.c.name == filters["event"],
                )
            ).scalar()
            if event_id is None:
                return [0] * len(points.starts)
            return rollups.event_counts_in_ranges(
                conn, setup.ws.id, int(event_id), points.bounds, filters["app_key"]
            )
        product_key = ALL_PRODUCTS
        if filters["product"] is not None:
            product_key = int(
                conn.execute(
                    select(products.c.id).where(
                        products.c.workspace_id == setup.ws.id,
                        products.c.name == filters["product"],
                    )
                ).scalar_one()
            )
        return rollups.purchase_totals_in_ranges(
            conn, setup.ws.id, points.bounds, filters["app_key"], product_key
        )


def app_key(engine: Engine, setup: Setup, app: str | None) -> int:
    """The internal key of an app (ALL_APPS for None)."""
    if app is None:
        return ALL_APPS
    return setup.ws.app_key if app == setup.apps[0] else _second_app_key(engine, app)


def _second_app_key(engine: Engine, api_id: str) -> int:
    """Look up an app's internal id by its API identifier."""
    from heron.store.schema import apps

    with engine.connect() as conn:
        return int(conn.execute(select(apps.c.id).where(apps.c.api_id == api_id)).scalar_one())


def check_series(
    client: TestClient, engine: Engine, setup: Setup, tz_name: str, ends: list[date], length: int
) -> None:
    """Every day series ending on each of `ends` equals the hourly sums and the local counts."""
    key = setup.ws.key
    for end in ends:
        ending_at = end.isoformat()
        points = series.points(
            "day", length, local_midnight(end, zone(tz_name)) * 1000 + 1, tz_name
        )
        for app in [None, *setup.apps]:
            query: dict[str, Any] = {"length": length, "ending_at": ending_at}
            if app is not None:
                query["app_id"] = app
            key_of_app = app_key(engine, setup, app)
            for name in ("played", "rare", "never"):
                data = api(client, key, "/events/data_series", event=name, **query)
                labels = [point["time"] for point in data]
                assert labels == list(points.labels)
                got = [point["count"] for point in data]
                assert got == hourly_summed(engine, setup, points, event=name, app_key=key_of_app)
                assert got == expected_counts(setup, tz_name, labels, name, app), (name, app)
            for product in (None, "tea", "cake"):
                extra = {} if product is None else {"product": product}
                quantity = api(client, key, "/purchases/quantity_series", **query, **extra)
                revenue = api(client, key, "/purchases/revenue_series", **query, **extra)
                want_q, want_r = expected_purchases(setup, tz_name, labels, product, app)
                assert [p["purchase_quantity"] for p in quantity] == want_q
                assert [p["revenue"] for p in revenue] == want_r
                hourly = hourly_summed(engine, setup, points, product=product, app_key=key_of_app)
                assert [q for _, q, _ in hourly] == want_q
                assert [r for _, _, r in hourly] == want_r


def assert_days_equal_hours(engine: Engine, workspace_id: int) -> None:
    """The invariant: daily rows are the hourly rows summed per local day of the zone."""
    with engine.connect() as conn:
        tz = zone(
            conn.execute(
                select(workspaces.c.time_zone).where(workspaces.c.id == workspace_id)
            ).scalar_one()
        )
        e, ed = event_rollups_hourly.c, event_rollups_daily.c
        want: dict[tuple[int, int, int], int] = defaultdict(int)
        for event_id, app_id, hour, count in conn.execute(
            select(e.event_id, e.app_id, e.hour, e["count"]).where(e.workspace_id == workspace_id)
        ):
            want[(event_id, app_id, day_start(hour, tz))] += count
        got = {
            (event_id, app_id, day): count
            for event_id, app_id, day, count in conn.execute(
                select(ed.event_id, ed.app_id, ed.day, ed["count"]).where(
                    ed.workspace_id == workspace_id
                )
            )
        }
        assert got == dict(want)
        p, pd = purchase_rollups_hourly.c, purchase_rollups_daily.c
        bought: dict[tuple[int, int, int], list[float]] = defaultdict(lambda: [0, 0, 0.0])
        for product_id, app_id, hour, n, quantity, revenue in conn.execute(
            select(p.product_id, p.app_id, p.hour, p.purchases, p.quantity, p.revenue).where(
                p.workspace_id == workspace_id
            )
        ):
            total = bought[(product_id, app_id, day_start(hour, tz))]
            total[0] += n
            total[1] += quantity
            total[2] += revenue
        stored = {
            (product_id, app_id, day): [n, quantity, revenue]
            for product_id, app_id, day, n, quantity, revenue in conn.execute(
                select(
                    pd.product_id, pd.app_id, pd.day, pd.purchases, pd.quantity, pd.revenue
                ).where(pd.workspace_id == workspace_id)
            )
        }
        assert stored == {k: list(v) for k, v in bought.items()}


def row_count(engine: Engine, table: Any, workspace_id: int) -> int:
    """Rows a workspace has in a table."""
    with engine.connect() as conn:
        found = conn.execute(
            select(func.count()).select_from(table).where(table.c.workspace_id == workspace_id)
        ).scalar()
    return int(found or 0)


@contextlib.contextmanager
def writing(engine: Engine) -> Iterator[Connection]:
    """A write transaction begun IMMEDIATE, as the writer's: it queues on SQLite's lock.

    A deferred transaction that reads first fails with "database is locked" when the running
    app's writer (ingest, compaction, history indexing) commits between its read and write.
    """
    with engine.connect() as conn:
        conn.execution_options(**{WRITE_OPTION: True})
        with conn.begin():
            yield conn


def fold(engine: Engine, before_hour: int) -> None:
    """Run the writer's fold with a chosen cutoff, as the writer does (a write transaction)."""
    with engine.connect() as conn:
        conn.execution_options(**{WRITE_OPTION: True})
        with conn.begin():
            compact(conn, before_hour)


# -- the API across DST, folds, late data and zone changes --------------------------------


@pytest.mark.parametrize("tz_name", ["America/New_York", "America/Havana", "Australia/Lord_Howe"])
def test_day_series_equal_hourly_sums_across_dst_and_every_fold_state(
    client: TestClient, engine: Engine, tz_name: str
) -> None:
    rng = random.Random(tz_name)
    setup = make_setup(client, engine, tz_name)
    days = DST_DATES[tz_name]
    send(client, setup, times_around(tz_name, days, rng, per_day=4), rng)
    ends = [d + timedelta(days=3) for d in days]
    # 1. Everything still in the recent tables: no daily rows yet.
    assert row_count(engine, event_rollups_daily, setup.ws.id) == 0
    check_series(client, engine, setup, tz_name, ends, 8)
    # 2. Fold up to the middle of the first DST day: that day is part daily, part recent.
    cut = local_midnight(days[0], zone(tz_name)) + 7 * H
    fold(engine, cut)
    assert row_count(engine, event_rollups_daily, setup.ws.id) > 0
    assert row_count(engine, event_rollups_recent, setup.ws.id) > 0
    assert_days_equal_hours(engine, setup.ws.id)
    check_series(client, engine, setup, tz_name, ends, 8)
    # 3. Late data for days already folded lands in recent; the series count it at once.
    send(client, setup, times_around(tz_name, days[:1], rng, per_day=2), rng)
    check_series(client, engine, setup, tz_name, ends, 8)
    # 4. Everything folded: one daily row per (event, app, day) and an empty recent table.
    with writing(engine) as conn:
        compact_all(conn)
    assert row_count(engine, event_rollups_recent, setup.ws.id) == 0
    assert row_count(engine, purchase_rollups_recent, setup.ws.id) == 0
    assert_days_equal_hours(engine, setup.ws.id)
    check_series(client, engine, setup, tz_name, ends, 8)
    check_series(client, engine, setup, tz_name, [days[-1] + timedelta(days=5)], 100)
    # The day series come from the daily rows: without the hourly rows they still answer.
    with writing(engine) as conn:
        for table in (event_rollups_hourly, purchase_rollups_hourly):
            conn.execute(delete(table).where(table.c.workspace_id == setup.ws.id))
    data = api(
        client,
        setup.ws.key,
        "/events/data_series",
        event="played",
        length=8,
        ending_at=ends[0].isoformat(),
    )
    labels = [point["time"] for point in data]
    assert [p["count"] for p in data] == expected_counts(setup, tz_name, labels, "played", None)
    assert sum(p["count"] for p in data) > 0


def test_zone_change_rebuilds_daily_rows_in_the_new_zone(
    client: TestClient, engine: Engine
) -> None:
    rng = random.Random(7)
    setup = make_setup(client, engine, "UTC")
    days = DST_DATES["America/New_York"] + DST_DATES["Asia/Kolkata"]
    send(client, setup, times_around("UTC", days, rng, per_day=3), rng)
    send(client, setup, times_around("America/New_York", days, rng, per_day=3), rng)
    fold(engine, local_midnight(days[1], None) + 30 * H)  # some rows daily, some recent
    ends = [d + timedelta(days=3) for d in days]
    check_series(client, engine, setup, "UTC", ends, 8)
    for tz_name in ("America/New_York", "Asia/Kolkata"):
        response = client.put(
            "/heron/v1/workspace",
            content=json.dumps({"time_zone": tz_name}),
            headers=auth(setup.ws.key),
        )
        assert response.status_code == 200, response.text
        assert row_count(engine, event_rollups_recent, setup.ws.id) == 0
        assert_days_equal_hours(engine, setup.ws.id)
        check_series(client, engine, setup, tz_name, ends, 8)
        # New data after the change, partly folded, in the new zone's days.
        send(client, setup, times_around(tz_name, days[1:2], rng, per_day=2), rng)
        fold(engine, local_midnight(days[1], zone(tz_name)) + 5 * H)
        assert_days_equal_hours(engine, setup.ws.id)
        check_series(client, engine, setup, tz_name, ends, 8)


def test_points_of_a_zone_the_workspace_no_longer_has_read_the_hourly_rows(
    client: TestClient, engine: Engine
) -> None:
    rng = random.Random(3)
    setup = make_setup(client, engine, "America/New_York")
    days = DST_DATES["America/New_York"]
    send(client, setup, times_around("America/New_York", days, rng, per_day=3), rng)
    with writing(engine) as conn:
        compact_all(conn)
    stale = series.points("day", 10, 1773500000 * 1000, "America/New_York")
    set_time_zone(engine, setup.ws.id, "Asia/Kolkata")
    with engine.connect() as conn:
        played = conn.execute(
            select(custom_events.c.id).where(custom_events.c.name == "played")
        ).scalar_one()
        # A server that has not seen the change yet lays points out in New York days; the daily
        # rows are Kolkata days now, so the read goes to the hourly rows (as before the change).
        assert rollups.event_counts_in_days(
            conn, setup.ws.id, played, stale
        ) == rollups.event_counts_in_ranges(conn, setup.ws.id, played, stale.bounds)
        assert rollups.purchase_totals_in_days(
            conn, setup.ws.id, stale
        ) == rollups.purchase_totals_in_ranges(conn, setup.ws.id, stale.bounds)
        with pytest.raises(ValueError):
            hourly = series.points("hour", 3, 1773500000 * 1000, "Asia/Kolkata")
            rollups.event_counts_in_days(conn, setup.ws.id, played, hourly)


def test_today_is_read_from_its_daily_row_plus_its_hours_still_recent(
    client: TestClient, engine: Engine
) -> None:
    now = datetime.now(UTC)
    # A fixed-offset zone in which it is now between 12:00 and 13:00: today has folded hours
    # (before now - 2 h) and recent ones.
    shift = min(max(12 - now.hour, -12), 14)
    tz_name = "UTC" if shift == 0 else f"Etc/GMT{-shift:+d}"
    tz = zone(tz_name)
    setup = make_setup(client, engine, tz_name)
    rng = random.Random(1)
    now_ms = int(now.timestamp() * 1000)
    today = local_midnight(local_date(now_ms, tz_name), tz) * 1000
    times = [today - 30 * 3_600_000, today - 1, today, today + 3_600_000, today + 5 * 3_600_000]
    times += [max(today, now_ms - 90 * 60_000), now_ms - 60_000]
    send(client, setup, times, rng)
    fold(engine, hour_bucket(now_ms, tz) - 2 * H)  # what the writer's fold would do now
    with engine.connect() as conn:
        today_rows = conn.execute(
            select(func.count())
            .select_from(event_rollups_daily)
            .where(event_rollups_daily.c.day == today // 1000)
        ).scalar()
        recent_today = conn.execute(
            select(func.count())
            .select_from(event_rollups_recent)
            .where(event_rollups_recent.c.hour >= today // 1000)
        ).scalar()
    assert today_rows and recent_today
    assert_days_equal_hours(engine, setup.ws.id)
    for name in ("played", "rare"):
        data = api(client, setup.ws.key, "/events/data_series", event=name, length=3)
        labels = [point["time"] for point in data]
        assert labels[-1] == local_date(now_ms, tz_name).isoformat()
        assert [p["count"] for p in data] == expected_counts(setup, tz_name, labels, name, None)
    quantity = api(client, setup.ws.key, "/purchases/quantity_series", length=3)
    labels = [point["time"] for point in quantity]
    want, _ = expected_purchases(setup, tz_name, labels, None, None)
    assert [p["purchase_quantity"] for p in quantity] == want


def test_hourly_series_are_unchanged_by_the_daily_tables(
    client: TestClient, engine: Engine
) -> None:
    rng = random.Random(11)
    setup = make_setup(client, engine, "America/New_York")
    send(client, setup, times_around("America/New_York", [date(2026, 11, 1)], rng, 6), rng)
    fold(engine, 1793530000)
    ending = "2026-11-02T05:00:00Z"
    data = api(
        client,
        setup.ws.key,
        "/events/data_series",
        event="played",
        length=100,
        unit="hour",
        ending_at=ending,
    )
    per_hour: dict[str, int] = defaultdict(int)
    ny = ZoneInfo("America/New_York")
    for ms, name, _ in setup.sent.events:
        if name == "played":
            start = hour_bucket(ms, ny)
            per_hour[datetime.fromtimestamp(start, ny).isoformat(timespec="seconds")] += 1
    assert [p["count"] for p in data] == [per_hour[p["time"]] for p in data]
    assert sum(p["count"] for p in data) > 0


def test_purging_an_event_drops_its_daily_rows(client: TestClient, engine: Engine) -> None:
    from heron.catalog.purge import purge_due

    rng = random.Random(5)
    setup = make_setup(client, engine, "UTC")
    send(client, setup, times_around("UTC", [date(2026, 5, 1)], rng, 3), rng)
    with writing(engine) as conn:
        compact_all(conn)
        rare = conn.execute(
            select(custom_events.c.id).where(custom_events.c.name == "rare")
        ).scalar_one()
    day_rows = event_rollups_daily.c.event_id == rare
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).where(day_rows)).scalar_one() > 0
    key, now_ms = setup.ws.key, int(datetime.now(UTC).timestamp() * 1000)
    for action in ("blocklist", "trash"):
        response = client.post(
            f"/heron/v1/events/{action}",
            content=json.dumps({"names": ["rare"]}),
            headers=auth(key),
        )
        assert response.status_code == 200, response.text
        with writing(engine) as conn:  # age the step by 8 days
            conn.execute(
                update(custom_events)
                .where(custom_events.c.id == rare)
                .values(blocklisted_at_ms=now_ms - 8 * 86_400_000)
                .values(trashed_at_ms=now_ms - 8 * 86_400_000 if action == "trash" else None)
            )
    assert purge_due(engine, now_ms) == [("events", setup.ws.id, "rare")]
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).where(day_rows)).scalar_one() == 0
    assert_days_equal_hours(engine, setup.ws.id)


# -- the migration fills the daily tables from existing hourly rows -------------------------


def test_migration_backfills_daily_rows_from_hourly_rows(engine: Engine) -> None:
    ws_id = make_workspace(engine, "migrated", "America/New_York").id
    config = migrate.alembic_config(engine)
    with writing(engine) as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0009-1")
    hours = [1772863200 + k * 1800 for k in range(0, 200, 3)]  # around 2026-03-08 in New York
    with writing(engine) as conn:
        conn.execute(
            insert(event_rollups_hourly),
            [
                {"workspace_id": ws_id, "event_id": 4, "app_id": app, "hour": h, "count": k + 1}
                for k, h in enumerate(hours)
                for app in (0, 9)
            ],
        )
        conn.execute(
            insert(purchase_rollups_hourly),
            [
                {
                    "workspace_id": ws_id,
                    "product_id": product,
                    "app_id": 0,
                    "hour": h,
                    "purchases": 1,
                    "quantity": k,
                    "revenue": 0.5 * k,
                }
                for k, h in enumerate(hours)
                for product in (0, 2)
            ],
        )
    migrate.upgrade(engine)
    assert row_count(engine, event_rollups_daily, ws_id) > 0
    assert_days_equal_hours(engine, ws_id)
    with writing(engine) as conn:
        rebuild_all_days(conn)  # idempotent
    assert_days_equal_hours(engine, ws_id)
