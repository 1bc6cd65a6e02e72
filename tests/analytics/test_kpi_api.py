"""`GET /kpi/{dau,mau,new_users}/data_series` end to end: real app, real database."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from starlette.testclient import TestClient

from conftest import BACKEND, Workspace, auth, make_workspace
from heron.admin import apps as app_admin
from heron.admin import keys as key_admin
from heron.analytics import kpi_routes
from heron.store.schema import kpi_folding, kpi_pending

METRICS = ("dau", "mau", "new_users")


def track(client: TestClient, key: str, **arrays: list[dict[str, Any]]) -> None:
    """POST to /users/track and insist on a clean 201."""
    response = client.post("/users/track", content=json.dumps(arrays), headers=auth(key))
    assert response.status_code == 201, response.text
    assert "errors" not in response.json(), response.text


def ev(user: str, when: str, app: str | None = None) -> dict[str, Any]:
    """An event object."""
    obj = {"external_id": user, "name": "played", "time": when}
    if app is not None:
        obj["app_id"] = app
    return obj


def get(client: TestClient, key: str, metric: str, **params: Any) -> Any:
    """GET a KPI series; return the response."""
    return client.get(f"/kpi/{metric}/data_series", params=params, headers=auth(key))


def values(client: TestClient, key: str, metric: str, **params: Any) -> list[tuple[str, int]]:
    """A KPI series as (time, value) pairs (asserting a 200 of the documented shape)."""
    response = get(client, key, metric, **params)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["message"] == "success" and set(body) == {"message", "data"}
    assert all(set(point) == {"time", metric} for point in body["data"])
    return [(point["time"], point[metric]) for point in body["data"]]


def days(last: str, length: int) -> list[str]:
    """The `length` ISO dates ending with `last`."""
    end = date.fromisoformat(last)
    return [(end - timedelta(days=k)).isoformat() for k in range(length - 1, -1, -1)]


def test_series_have_length_points_zero_filled_ending_with_the_day(
    client: TestClient, workspace: Workspace
) -> None:
    track(client, workspace.key, events=[ev("u1", "2025-01-10T12:00:00Z")])
    for metric in METRICS:
        got = values(client, workspace.key, metric, length=7, ending_at="2025-01-12")
        assert [t for t, _ in got] == days("2025-01-12", 7)
    assert values(client, workspace.key, "dau", length=7, ending_at="2025-01-12") == list(
        zip(days("2025-01-12", 7), [0, 0, 0, 0, 1, 0, 0], strict=True)
    )
    assert [
        v for _, v in values(client, workspace.key, "mau", length=4, ending_at="2025-01-11")
    ] == [
        0,
        0,
        1,
        1,
    ]
    one = values(client, workspace.key, "dau", length=1, ending_at="2025-01-10T23:59:59Z")
    assert one == [("2025-01-10", 1)]
    hundred = values(client, workspace.key, "dau", length=100, ending_at="2025-03-01")
    assert len(hundred) == 100 and hundred[-1][0] == "2025-03-01"
    assert sum(v for _, v in hundred) == 1


def test_default_ending_is_today_and_new_profiles_count_today(
    client: TestClient, engine: Engine
) -> None:
    ws = make_workspace(engine, "tokyo", "Asia/Tokyo")
    track(
        client,
        ws.key,
        attributes=[{"external_id": "only-attributes", "first_name": "A"}],
        events=[ev("u1", "2025-01-10T12:00:00Z"), ev("u2", "2025-01-10T12:00:00Z", ws.app_id)],
    )
    today = datetime.now(ZoneInfo("Asia/Tokyo")).date().isoformat()
    got = values(client, ws.key, "new_users", length=2)
    assert got[-1][0] in (today, (date.fromisoformat(today) + timedelta(days=1)).isoformat())
    assert sum(v for _, v in got) == 3  # profiles created today, events or not
    # for an app: users whose first event with it is that day
    by_app = values(client, ws.key, "new_users", length=3, ending_at="2025-01-11", app_id=ws.app_id)
    assert by_app == [("2025-01-09", 0), ("2025-01-10", 1), ("2025-01-11", 0)]
    # attributes alone do not make a user active
    assert values(client, ws.key, "dau", length=1, ending_at="2025-01-10") == [("2025-01-10", 2)]


def test_days_are_calendar_days_of_the_workspace_zone_across_dst(
    client: TestClient, engine: Engine
) -> None:
    ws = make_workspace(engine, "ny", "America/New_York")
    # 2025-03-09 has 23 hours in New York (EST -> EDT at 07:00 UTC), 2025-11-02 has 25.
    track(
        client,
        ws.key,
        events=[
            ev("a", "2025-03-09T04:59:59Z"),  # March 8, 23:59:59 EST
            ev("b", "2025-03-09T05:00:00Z"),  # March 9, 00:00 EST
            ev("c", "2025-03-10T03:59:59Z"),  # March 9, 23:59:59 EDT
            ev("d", "2025-03-10T04:00:00Z"),  # March 10, 00:00 EDT
            ev("e", "2025-11-02T05:30:00Z"),  # November 2, 01:30 EDT
            ev("f", "2025-11-02T06:30:00Z"),  # November 2, 01:30 EST (the repeated hour)
            ev("g", "2025-11-03T04:59:59Z"),  # November 2, 23:59:59 EST
            ev("h", "2025-11-03T05:00:00Z"),  # November 3
        ],
    )
    spring = values(client, ws.key, "dau", length=3, ending_at="2025-03-10")
    assert spring == [("2025-03-08", 1), ("2025-03-09", 2), ("2025-03-10", 1)]
    autumn = values(client, ws.key, "dau", length=2, ending_at="2025-11-03")
    assert autumn == [("2025-11-02", 3), ("2025-11-03", 1)]
    # ending_at: an offset names an instant; without one it is New York wall-clock time
    at = values(client, ws.key, "dau", length=1, ending_at="2025-03-10T02:00:00Z")
    assert at == [("2025-03-09", 2)]
    assert values(client, ws.key, "dau", length=1, ending_at="2025-03-10T02:00:00") == [
        ("2025-03-10", 1)
    ]
    # Braze's own example spells the offset -5:00
    braze = values(client, ws.key, "dau", length=1, ending_at="2025-03-09T23:59:59-5:00")
    assert braze == [("2025-03-10", 1)]


def test_app_filter_counts_only_that_apps_events_and_purchases(
    client: TestClient, engine: Engine, workspace: Workspace
) -> None:
    other = app_admin.create_app(engine, workspace.id, "other")
    purchase = {
        "external_id": "buyer",
        "product_id": "p",
        "currency": "USD",
        "price": 1.5,
        "quantity": 1,
        "time": "2025-02-01T10:00:00Z",
        "app_id": other.api_id,
    }
    track(
        client,
        workspace.key,
        events=[
            ev("u1", "2025-02-01T10:00:00Z", workspace.app_id),
            ev("u1", "2025-02-01T11:00:00Z", workspace.app_id),
            ev("u2", "2025-02-01T10:00:00Z", other.api_id),
            ev("u3", "2025-02-01T10:00:00Z"),
        ],
        purchases=[purchase],
    )
    params = {"length": 1, "ending_at": "2025-02-01"}
    assert values(client, workspace.key, "dau", **params) == [("2025-02-01", 4)]
    mine = values(client, workspace.key, "dau", app_id=workspace.app_id, **params)
    assert mine == [("2025-02-01", 1)]
    theirs = values(client, workspace.key, "mau", app_id=other.api_id, **params)
    assert theirs == [("2025-02-01", 2)]
    new = values(client, workspace.key, "new_users", app_id=other.api_id, **params)
    assert new == [("2025-02-01", 2)]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({}, "'length' is required"),
        ({"length": ""}, "'length' is required"),
        ({"length": "0"}, "'length' must be an integer between 1 and 100"),
        ({"length": "101"}, "'length' must be an integer between 1 and 100"),
        ({"length": "-1"}, "'length' must be an integer between 1 and 100"),
        ({"length": "1.5"}, "'length' must be an integer between 1 and 100"),
        ({"length": "ten"}, "'length' must be an integer between 1 and 100"),
        ({"length": "5", "ending_at": "yesterday"}, "'ending_at' must be an ISO 8601"),
        ({"length": "5", "ending_at": "2025-02-30"}, "'ending_at' is not a valid date"),
        ({"length": "5", "ending_at": "2025-01-01T25:00:00Z"}, "'ending_at' is not a valid time"),
        ({"length": "5", "ending_at": "2025-01-01T10:00:00+24:00"}, "'ending_at' has an invalid"),
        ({"length": "5", "app_id": "not-an-app"}, "'app_id' 'not-an-app' is not an app"),
    ],
)
def test_parameter_errors_are_400_naming_the_parameter(
    client: TestClient, workspace: Workspace, params: dict[str, str], message: str
) -> None:
    for metric in METRICS:
        response = get(client, workspace.key, metric, **params)
        assert response.status_code == 400, (metric, response.text)
        assert response.json()["message"].startswith(message), response.json()


def test_workspaces_are_isolated(client: TestClient, engine: Engine, workspace: Workspace) -> None:
    other = make_workspace(engine, "other")
    track(client, other.key, events=[ev("u1", "2025-02-01T10:00:00Z", other.app_id)])
    track(client, workspace.key, events=[ev("u1", "2025-02-02T10:00:00Z")])
    params = {"length": 2, "ending_at": "2025-02-02"}
    assert values(client, other.key, "dau", **params) == [("2025-02-01", 1), ("2025-02-02", 0)]
    assert values(client, workspace.key, "dau", **params) == [("2025-02-01", 0), ("2025-02-02", 1)]
    foreign = get(client, workspace.key, "dau", app_id=other.app_id, **params)
    assert foreign.status_code == 400
    assert "is not an app of this workspace" in foreign.json()["message"]


def test_concurrent_requests_for_one_user_and_day_count_once(
    client: TestClient, workspace: Workspace
) -> None:
    barrier = threading.Barrier(12)
    failures: list[str] = []

    def send(n: int) -> None:
        barrier.wait()
        app = workspace.app_id if n % 2 else None
        body = {
            "events": [
                ev("same", f"2025-05-05T{n:02d}:00:00Z", app),
                ev(f"x{n % 3}", "2025-05-05T12:00:00Z"),
            ]
        }
        response = client.post(
            "/users/track", content=json.dumps(body), headers=auth(workspace.key)
        )
        if response.status_code != 201:
            failures.append(response.text)

    threads = [threading.Thread(target=send, args=(n,)) for n in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures
    params = {"length": 1, "ending_at": "2025-05-05"}
    assert values(client, workspace.key, "dau", **params) == [("2025-05-05", 4)]
    assert values(client, workspace.key, "mau", **params) == [("2025-05-05", 4)]
    mine = values(client, workspace.key, "dau", app_id=workspace.app_id, **params)
    assert mine == [("2025-05-05", 1)]


def test_permissions_are_per_kpi(client: TestClient, engine: Engine, workspace: Workspace) -> None:
    key, _ = key_admin.create_key(engine, workspace.id, "dau only", ["kpi.dau.data_series"])
    assert get(client, key, "dau", length=1).status_code == 200
    assert get(client, key, "mau", length=1).status_code == 403
    assert get(client, key, "new_users", length=1).status_code == 403


def test_extreme_ending_at_is_clamped_to_labelled_days(
    client: TestClient, workspace: Workspace
) -> None:
    early = values(client, workspace.key, "dau", length=3, ending_at="0001-01-01T00:00:00+23:59")
    assert [t for t, _ in early] == ["0001-01-01", "0001-01-02", "0001-01-03"]
    late = values(client, workspace.key, "mau", length=2, ending_at="9999-12-31T23:00:00-23:00")
    assert [t for t, _ in late] == ["9999-12-30", "9999-12-31"]


def test_deferred_pairs_are_folded_by_the_server_itself(
    client: TestClient, engine: Engine, workspace: Workspace
) -> None:
    """SQLite ingest defers new (user, app, day) pairs; the writer folds them within seconds
    of its last append, with no reader asking (PostgreSQL never defers: nothing pending)."""
    today = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    track(client, workspace.key, events=[ev("folded-alone", today)])
    deadline = time.monotonic() + 15
    while pending_count(engine) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert pending_count(engine) == 0


def pending_count(engine: Engine) -> int:
    """Rows in `kpi_pending` and `kpi_folding` (a batch being folded)."""
    with engine.connect() as conn:
        return sum(
            int(conn.execute(select(func.count()).select_from(table)).scalar_one())
            for table in (kpi_pending, kpi_folding)
        )


@pytest.mark.skipif(BACKEND != "sqlite", reason="only SQLite defers pairs (and folds on read)")
def test_a_fold_that_cannot_be_stored_answers_503_not_500(
    client: TestClient, workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A read that must fold first, when the fold fails in the database, asks for a retry
    (regression: the driver's error escaped the route as a 500)."""

    def failing_fold(_conn: object) -> int:
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(kpi_routes, "pending_exist", lambda _conn: True)
    monkeypatch.setattr(kpi_routes, "fold_job", failing_fold)
    response = get(client, workspace.key, "dau", length=1)
    assert response.status_code == 503, response.text
    assert response.json() == {"message": "Service Unavailable"}
