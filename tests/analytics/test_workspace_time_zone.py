"""Changing a workspace's time zone: `PUT /heron/v1/workspace`, the CLI, and the rollup rebuild."""

from __future__ import annotations

import json
import random
import threading
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import insert, select
from sqlalchemy.engine import Engine
from starlette.testclient import TestClient

from conftest import Workspace, auth, make_workspace
from heron.admin import apps as app_admin
from heron.admin import keys as key_admin
from heron.analytics.buckets import hour_bucket, zone
from heron.analytics.compaction import compact_all
from heron.analytics.rebuild import offset_periods, set_time_zone
from heron.cli import main
from heron.ingest.batch import TrackBatch
from heron.ingest.events import validate_event
from heron.ingest.trackstore import TrackStore
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

ZONES = ["UTC", "America/New_York", "Asia/Kolkata", "Asia/Kathmandu", "Australia/Lord_Howe"]
# Instants around DST changes and offsets of interest (plus random ones, see `random_times`).
EDGES = [
    "2026-03-08T06:59:59Z",
    "2026-03-08T07:00:00Z",
    "2026-11-01T05:30:00Z",
    "2026-11-01T06:30:00Z",
    "2026-04-04T14:59:59Z",  # Lord Howe: +11 -> +10:30 at 15:00 UTC
    "2026-04-04T15:00:00Z",
    "2026-04-04T15:29:59Z",
    "2026-10-03T15:29:59Z",  # Lord Howe: +10:30 -> +11 at 15:30 UTC
    "2026-10-03T15:30:00Z",
    "1969-12-31T23:59:59.999Z",
    "1883-11-18T16:59:59Z",  # New York's LMT ends
    "1920-06-01T12:00:00Z",
]


def random_times(seed: int, n: int) -> list[str]:
    """ISO instants spread over 1900..2026 (milliseconds included)."""
    rng = random.Random(seed)
    low, high = -2_208_988_800_000, 1_795_000_000_000
    return [f"{rng.randrange(low, high) / 1000:.3f}" for _ in range(n)]


def iso(ms_text: str) -> str:
    """An epoch-seconds string as an ISO 8601 UTC date-time with milliseconds."""
    from datetime import UTC, datetime

    return datetime.fromtimestamp(float(ms_text), UTC).isoformat(timespec="milliseconds")


def track(client: TestClient, key: str, body: dict[str, Any]) -> None:
    """POST one `/users/track` body and assert every object was stored."""
    response = client.post("/users/track", content=json.dumps(body), headers=auth(key))
    assert response.status_code == 201, response.text
    assert "errors" not in response.json(), response.text


def fill_workspace(client: TestClient, engine: Engine, ws: Workspace, seed: int) -> None:
    """Events and purchases with and without apps, at DST edges and random times."""
    other_app = app_admin.create_app(engine, ws.id, "second").api_id
    apps = [ws.app_id, other_app, None]
    rng = random.Random(seed)
    times = EDGES + [iso(t) for t in random_times(seed, 140)]
    objects = []
    for n, time in enumerate(times):
        app = apps[n % 3]
        extra = {"app_id": app} if app else {}
        objects.append({"external_id": f"u{n % 7}", "name": f"e{n % 4}", "time": time, **extra})
    for start in range(0, len(objects), 75):
        track(client, ws.key, {"events": objects[start : start + 75]})
    bought = [
        {
            "external_id": f"u{n % 5}",
            "product_id": f"p{n % 3}",
            "currency": "USD",
            "price": rng.choice([0.1, 2.5, -1.25, 19.99]),
            "quantity": rng.randint(1, 5),
            "time": time,
            **({"app_id": apps[n % 3]} if apps[n % 3] else {}),
        }
        for n, time in enumerate(times[:75])
    ]
    track(client, ws.key, {"purchases": bought})


def stored_rollups(engine: Engine, ws: int) -> tuple[dict[Any, int], dict[Any, tuple[Any, ...]]]:
    """Every rollup of a workspace, recent and hourly rows summed per key."""
    counts: dict[Any, int] = defaultdict(int)
    totals: dict[Any, list[float]] = defaultdict(lambda: [0, 0, 0.0])
    with engine.connect() as conn:
        for table in (event_rollups_recent, event_rollups_hourly):
            t = table.c
            for row in conn.execute(
                select(t.event_id, t.app_id, t.hour, t["count"]).where(t.workspace_id == ws)
            ):
                counts[(row[0], row[1], row[2])] += row[3]
        for table in (purchase_rollups_recent, purchase_rollups_hourly):
            t = table.c
            query = select(t.product_id, t.app_id, t.hour, t.purchases, t.quantity, t.revenue)
            for row in conn.execute(query.where(t.workspace_id == ws)):
                total = totals[(row[0], row[1], row[2])]
                total[0] += row[3]
                total[1] += row[4]
                total[2] += row[5]
    return dict(counts), {k: (int(p), int(q), pytest.approx(r)) for k, (p, q, r) in totals.items()}


def expected_rollups(
    engine: Engine, ws: int, time_zone: str
) -> tuple[dict[Any, int], dict[Any, tuple[Any, ...]]]:
    """The rollups the raw rows imply in `time_zone`, bucketed as ingest does (`hour_bucket`)."""
    tz = zone(time_zone)
    counts: dict[Any, int] = defaultdict(int)
    totals: dict[Any, list[float]] = defaultdict(lambda: [0, 0, 0.0])
    with engine.connect() as conn:
        e = events.c
        for event_id, app, time_ms in conn.execute(
            select(e.event_id, e.app_id, e.time_ms).where(e.workspace_id == ws)
        ):
            hour = hour_bucket(time_ms, tz)
            for app_key in (ALL_APPS,) if app is None else (ALL_APPS, app):
                counts[(event_id, app_key, hour)] += 1
        p = purchases.c
        for product, app, price, quantity, time_ms in conn.execute(
            select(p.product_id, p.app_id, p.price, p.quantity, p.time_ms).where(
                p.workspace_id == ws
            )
        ):
            hour = hour_bucket(time_ms, tz)
            for product_key in (ALL_PRODUCTS, product):
                for app_key in (ALL_APPS,) if app is None else (ALL_APPS, app):
                    total = totals[(product_key, app_key, hour)]
                    total[0] += 1
                    total[1] += quantity
                    total[2] += price * quantity
    return dict(counts), {k: (int(p), int(q), pytest.approx(r)) for k, (p, q, r) in totals.items()}


def workspace_zone(engine: Engine, ws: int) -> str:
    """The stored zone of a workspace."""
    with engine.connect() as conn:
        return str(
            conn.execute(select(workspaces.c.time_zone).where(workspaces.c.id == ws)).scalar()
        )


def put_zone(client: TestClient, key: str, body: Any) -> Any:
    """PUT /heron/v1/workspace."""
    return client.put("/heron/v1/workspace", content=json.dumps(body), headers=auth(key))


# -- the rebuild -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", ZONES)
def test_rebuild_reproduces_the_rollups_ingest_wrote(
    client: TestClient, engine: Engine, name: str
) -> None:
    ws = make_workspace(engine, "zoned", name)
    fill_workspace(client, engine, ws, seed=len(name))
    with engine.begin() as conn:
        compact_all(conn)  # some rows hourly, the next ones recent: the rebuild drops both
    track(client, ws.key, {"events": [{"external_id": "u", "name": "e0", "time": EDGES[0]}]})
    ingested = stored_rollups(engine, ws.id)
    assert ingested == expected_rollups(engine, ws.id, name)
    change = set_time_zone(engine, ws.id, name, rebuild_unchanged=True)
    assert change.rebuilt is not None
    assert change.rebuilt.event_rows == len(ingested[0])
    assert change.rebuilt.purchase_rows == len(ingested[1])
    assert stored_rollups(engine, ws.id) == ingested


@pytest.mark.parametrize(
    ("first", "second"), [("UTC", "Asia/Kathmandu"), ("Asia/Kolkata", "America/New_York")]
)
def test_changing_the_zone_rebuckets_every_row(
    client: TestClient, engine: Engine, first: str, second: str
) -> None:
    ws = make_workspace(engine, "zoned", first)
    bystander = make_workspace(engine, "bystander", first)
    fill_workspace(client, engine, ws, seed=3)
    fill_workspace(client, engine, bystander, seed=4)
    untouched = stored_rollups(engine, bystander.id)
    set_time_zone(engine, ws.id, second)
    assert workspace_zone(engine, ws.id) == second
    assert stored_rollups(engine, ws.id) == expected_rollups(engine, ws.id, second)
    assert stored_rollups(engine, bystander.id) == untouched


def test_offset_periods_locate_each_change_to_the_second() -> None:
    from datetime import datetime
    from zoneinfo import ZoneInfo

    ny = ZoneInfo("America/New_York")
    start = int(datetime.fromisoformat("2026-01-01T00:00:00+00:00").timestamp())
    end = int(datetime.fromisoformat("2027-01-01T00:00:00+00:00").timestamp())
    assert offset_periods(ny, start, end) == [
        (start, -18_000),
        (int(datetime.fromisoformat("2026-03-08T07:00:00+00:00").timestamp()), -14_400),
        (int(datetime.fromisoformat("2026-11-01T06:00:00+00:00").timestamp()), -18_000),
    ]
    assert offset_periods(ZoneInfo("Asia/Kolkata"), start, end) == [(start, 19_800)]


def test_zone_change_of_a_workspace_with_year_one_events_succeeds(
    client: TestClient, engine: Engine, workspace: Workspace
) -> None:
    old = {"external_id": "u", "name": "old", "time": "0001-01-01T00:30:00Z"}
    track(client, workspace.key, {"events": [old]})
    response = put_zone(client, workspace.key, {"time_zone": "America/New_York"})
    assert response.status_code == 200, response.text
    counts, _ = stored_rollups(engine, workspace.id)
    assert sum(n for (_, app, _), n in counts.items() if app == ALL_APPS) == 1


# -- PUT /heron/v1/workspace -----------------------------------------------------------------


def test_put_time_zone_moves_day_buckets_and_new_ingest_follows_at_once(
    client: TestClient, engine: Engine, workspace: Workspace
) -> None:
    late_evening_ny = {"external_id": "u", "name": "e", "time": "2026-11-21T03:00:00Z"}
    track(client, workspace.key, {"events": [late_evening_ny]})
    query: dict[str, Any] = {"event": "e", "length": 2, "ending_at": "2026-11-21T12:00:00Z"}
    utc = client.get("/events/data_series", params=query, headers=auth(workspace.key)).json()
    assert [p["count"] for p in utc["data"]] == [0, 1]

    response = put_zone(client, workspace.key, {"time_zone": "America/New_York"})
    assert response.status_code == 200, response.text
    assert response.json() == {
        "message": "success",
        "workspace": {"name": "default", "time_zone": "America/New_York"},
        "rollups_rebuilt": True,
    }
    ny = client.get("/events/data_series", params=query, headers=auth(workspace.key)).json()
    assert ny["data"] == [{"time": "2026-11-20", "count": 1}, {"time": "2026-11-21", "count": 0}]
    hours = client.get(
        "/events/data_series", params={**query, "unit": "hour"}, headers=auth(workspace.key)
    ).json()
    assert hours["data"][-1]["time"] == "2026-11-21T07:00:00-05:00"

    # the next ingest, right away, already buckets in New York's local hours
    track(client, workspace.key, {"events": [{**late_evening_ny, "time": "2026-11-21T03:30Z"}]})
    assert stored_rollups(engine, workspace.id) == expected_rollups(
        engine, workspace.id, "America/New_York"
    )
    shown = client.get("/heron/v1/workspace", headers=auth(workspace.key))
    assert shown.json() == {
        "message": "success",
        "workspace": {"name": "default", "time_zone": "America/New_York"},
    }


def test_put_the_same_zone_changes_nothing(client: TestClient, workspace: Workspace) -> None:
    response = put_zone(client, workspace.key, {"time_zone": "UTC"})
    assert response.status_code == 200
    assert response.json()["rollups_rebuilt"] is False


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "'time_zone' is required"),
        ({"time_zone": None}, "'time_zone' is required"),
        ({"time_zone": 5}, "'time_zone' must be a string (an IANA zone name)"),
        (
            {"time_zone": "Mars/Olympus_Mons"},
            "'time_zone': unknown time zone 'Mars/Olympus_Mons': use an IANA name such as"
            " 'America/New_York' or 'UTC'",
        ),
        ({"time_zone": "localtime"}, "'time_zone': unknown time zone 'localtime'"),
        ({"time_zone": "../../etc/passwd"}, "'time_zone': unknown time zone"),
        ({"time_zone": "UTC", "tz": "x"}, "unknown field(s): 'tz'; settable: time_zone"),
        ([], "Request body must be a JSON object, not an array"),
    ],
)
def test_put_refuses_bad_bodies_with_a_400(
    client: TestClient, engine: Engine, workspace: Workspace, body: Any, message: str
) -> None:
    response = put_zone(client, workspace.key, body)
    assert response.status_code == 400, response.text
    assert response.json()["message"].startswith(message)
    assert workspace_zone(engine, workspace.id) == "UTC"


def test_put_needs_the_management_permission(
    client: TestClient, engine: Engine, workspace: Workspace
) -> None:
    reader, _ = key_admin.create_key(engine, workspace.id, "reader", ["events.data_series"])
    response = put_zone(client, reader, {"time_zone": "Asia/Kolkata"})
    assert (response.status_code, response.json()) == (403, {"message": "Access Denied"})
    assert workspace_zone(engine, workspace.id) == "UTC"


def test_zone_changes_during_ingest_lose_and_double_count_nothing(
    client: TestClient, engine: Engine, workspace: Workspace
) -> None:
    stop = threading.Event()
    sent = [0]

    def ingest() -> None:
        n = 0
        while not stop.is_set() and n < 400:
            body = {
                "events": [
                    {
                        "external_id": f"u{n}",
                        "name": "e",
                        "time": f"2026-11-0{1 + n % 9}T0{n % 10}:30Z",
                    }
                    for _ in range(5)
                ]
            }
            response = client.post(
                "/users/track", content=json.dumps(body), headers=auth(workspace.key)
            )
            assert response.status_code == 201
            sent[0] += 5
            n += 1

    worker = threading.Thread(target=ingest)
    worker.start()
    try:
        for name in ("America/New_York", "Asia/Kolkata", "UTC", "Australia/Lord_Howe"):
            assert put_zone(client, workspace.key, {"time_zone": name}).status_code == 200
    finally:
        stop.set()
        worker.join()
    counts, _ = stored_rollups(engine, workspace.id)
    assert sum(n for (_, app, _), n in counts.items() if app == ALL_APPS) == sent[0]
    # whatever requests in flight during a change bucketed in the old zone, a rebuild repairs
    set_time_zone(engine, workspace.id, "Australia/Lord_Howe", rebuild_unchanged=True)
    assert stored_rollups(engine, workspace.id) == expected_rollups(
        engine, workspace.id, "Australia/Lord_Howe"
    )


def test_the_rebuild_waits_for_a_writer_in_flight_and_counts_its_rows(
    engine: Engine, workspace: Workspace
) -> None:
    row = {"workspace_id": workspace.id, "user_id": 1, "event_id": 1, "time_ms": 0}
    with engine.connect() as conn:
        conn.execution_options(**{WRITE_OPTION: True})
        with conn.begin():
            conn.execute(insert(events).values(**row))  # a raw row, not yet committed
            done = threading.Event()

            def change() -> None:
                set_time_zone(engine, workspace.id, "Asia/Kolkata")
                done.set()

            thread = threading.Thread(target=change)
            thread.start()
            assert not done.wait(0.5)
    thread.join(30)
    assert done.is_set()
    assert workspace_zone(engine, workspace.id) == "Asia/Kolkata"
    assert stored_rollups(engine, workspace.id)[0] == {(1, ALL_APPS, -1800): 1}  # 05:00 IST


# -- the CLI ---------------------------------------------------------------------------------


def test_cli_sets_the_zone_and_always_rebuilds(
    client: TestClient, engine: Engine, database_url: str
) -> None:
    ws = make_workspace(engine, "shop", "UTC")
    fill_workspace(client, engine, ws, seed=9)
    runner = CliRunner()
    result = runner.invoke(
        main, ["workspaces", "set-time-zone", "shop", "Asia/Kolkata", "--database", database_url]
    )
    assert result.exit_code == 0, result.output
    assert result.stdout == "shop\tAsia/Kolkata\n"
    assert "time zone UTC -> Asia/Kolkata; rebuilt" in result.stderr
    assert workspace_zone(engine, ws.id) == "Asia/Kolkata"
    assert stored_rollups(engine, ws.id) == expected_rollups(engine, ws.id, "Asia/Kolkata")
    again = runner.invoke(
        main, ["workspaces", "set-time-zone", "shop", "Asia/Kolkata", "--database", database_url]
    )
    assert again.exit_code == 0
    assert "time zone Asia/Kolkata -> Asia/Kolkata; rebuilt" in again.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nope", "UTC"], "no workspace named 'nope'"),
        (["default", "Nowhere/Special"], "unknown time zone 'Nowhere/Special'"),
    ],
)
def test_cli_errors(database_url: str, engine: Engine, args: list[str], message: str) -> None:
    result = CliRunner().invoke(
        main, ["workspaces", "set-time-zone", *args, "--database", database_url]
    )
    assert result.exit_code == 1
    assert message in result.stderr


def test_a_batch_authenticated_before_a_zone_change_uses_the_committed_zone(
    engine: Engine,
) -> None:
    """Regression: a request carrying the zone cached at authentication wrote old-zone buckets."""
    kolkata = make_workspace(engine, "kolkata", "Asia/Kolkata")  # +05:30: hours start at :30Z
    when = datetime(2026, 1, 5, 10, 45, tzinfo=UTC)
    when_ms = int(when.timestamp() * 1000)
    record = validate_event(
        {"external_id": "u", "name": "e", "time": when.isoformat()}, when_ms, {}
    )
    assert not isinstance(record, str)
    stale = TrackBatch(kolkata.id, "UTC", when_ms, events=[(0, record)])
    store = TrackStore(engine.dialect.name)
    with engine.connect() as conn:
        conn.execution_options(**{WRITE_OPTION: True})
        with conn.begin():
            store.apply(conn, [stale])
        store.commit_pending()
        with conn.begin():
            compact_all(conn)
    with engine.connect() as conn:
        hours = conn.execute(select(event_rollups_hourly.c.hour).distinct()).scalars().all()
    assert hours == [int(datetime(2026, 1, 5, 10, 30, tzinfo=UTC).timestamp())]
