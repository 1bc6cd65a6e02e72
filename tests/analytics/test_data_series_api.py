"""`GET /events/data_series` end to end: `/users/track` in, series out, through the real app."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from starlette.testclient import TestClient

from conftest import Workspace, auth, make_workspace


def track(client: TestClient, key: str, events: list[dict[str, Any]]) -> None:
    """Store events through `/users/track` (in chunks of 75), asserting every one was taken."""
    for start in range(0, len(events), 75):
        chunk = events[start : start + 75]
        response = client.post(
            "/users/track", content=json.dumps({"events": chunk}), headers=auth(key)
        )
        assert response.status_code == 201, response.text
        assert response.json()["events_processed"] == len(chunk), response.text


def event(time: str, name: str = "played", **extra: Any) -> dict[str, Any]:
    """An event object for user `u1`."""
    return {"external_id": "u1", "name": name, "time": time, **extra}


def series(client: TestClient, key: str, **query: Any) -> Any:
    """GET the series; assert 200 and the Braze shape; return its `data`."""
    response = client.get("/events/data_series", params=query, headers=auth(key))
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"message", "data"}
    assert body["message"] == "success"
    assert all(set(point) == {"time", "count"} for point in body["data"])
    return body["data"]


def counts(data: list[dict[str, Any]]) -> list[int]:
    """The counts of a series."""
    return [point["count"] for point in data]


def labels(data: list[dict[str, Any]]) -> list[str]:
    """The times of a series."""
    return [point["time"] for point in data]


def error(client: TestClient, key: str, **query: Any) -> str:
    """GET the series expecting a 400; return its message."""
    response = client.get("/events/data_series", params=query, headers=auth(key))
    assert response.status_code == 400, response.text
    assert set(response.json()) == {"message"}
    return str(response.json()["message"])


# -- shape, defaults, zero-filling -----------------------------------------------------------


def test_daily_series_is_zero_filled_oldest_first_and_ends_today_by_default(
    client: TestClient, workspace: Workspace
) -> None:
    today = datetime.now(UTC).date()
    two_days_ago = datetime.now(UTC) - timedelta(days=2)
    track(client, workspace.key, [event(two_days_ago.isoformat())] * 3)
    data = series(client, workspace.key, event="played", length=5)
    assert labels(data) == [(today - timedelta(days=k)).isoformat() for k in range(4, -1, -1)]
    assert counts(data) == [0, 0, 3, 0, 0]


def test_hourly_series_counts_each_utc_hour(client: TestClient, workspace: Workspace) -> None:
    track(
        client,
        workspace.key,
        [
            event("2026-11-20T09:59:59.999Z"),
            event("2026-11-20T10:00:00Z"),
            event("2026-11-20T10:30:00+00:00"),
            event("2026-11-20T12:00:00+01:00"),  # 11:00 UTC
        ],
    )
    data = series(
        client,
        workspace.key,
        event="played",
        length=3,
        unit="hour",
        ending_at="2026-11-20T11:59:59Z",
    )
    assert data == [
        {"time": "2026-11-20T09:00:00Z", "count": 1},
        {"time": "2026-11-20T10:00:00Z", "count": 2},
        {"time": "2026-11-20T11:00:00Z", "count": 1},
    ]


def test_unknown_event_answers_zeros(client: TestClient, workspace: Workspace) -> None:
    for name in ("never-tracked", "x" * 300, "nul\x00name", "ünïcödé 🎉"):
        data = series(client, workspace.key, event=name, length=100, unit="hour")
        assert counts(data) == [0] * 100


def test_length_100_of_each_unit(client: TestClient, workspace: Workspace) -> None:
    track(client, workspace.key, [event("2026-08-14T12:00:00Z"), event("2026-11-21T23:00:00Z")])
    days = series(client, workspace.key, event="played", length=100, ending_at="2026-11-21")
    assert labels(days)[0] == "2026-08-14"
    assert labels(days)[-1] == "2026-11-21"
    assert sum(counts(days)) == 2
    hours = series(
        client, workspace.key, event="played", length=100, unit="hour", ending_at="2026-11-21"
    )
    assert labels(hours)[-1] == "2026-11-21T00:00:00Z"
    assert sum(counts(hours)) == 0


def test_app_id_filters_and_all_apps_includes_events_without_one(
    client: TestClient, engine: Engine, workspace: Workspace
) -> None:
    from heron.admin import apps as app_admin

    other = app_admin.create_app(engine, workspace.id, "other").api_id
    t = "2026-11-20T10:00:00Z"
    track(
        client,
        workspace.key,
        [event(t, app_id=workspace.app_id)] * 2 + [event(t, app_id=other)] + [event(t)] * 4,
    )
    query = {"event": "played", "length": 1, "ending_at": t}
    assert counts(series(client, workspace.key, **query)) == [7]
    assert counts(series(client, workspace.key, **query, app_id=workspace.app_id)) == [2]
    assert counts(series(client, workspace.key, **query, app_id=other)) == [1]
    assert counts(series(client, workspace.key, **query, app_id="")) == [7]


def test_workspaces_see_only_their_own_events_and_apps(
    client: TestClient, engine: Engine, workspace: Workspace
) -> None:
    other = make_workspace(engine, "other")
    t = "2026-11-20T10:00:00Z"
    track(client, workspace.key, [event(t)])
    track(client, other.key, [event(t)] * 2)
    assert counts(series(client, other.key, event="played", length=1, ending_at=t)) == [2]
    message = error(client, workspace.key, event="played", length=1, app_id=other.app_id)
    assert message == "'app_id' is not the identifier of an app in this workspace"


# -- parameter errors ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"length": "1"}, "'event' is required"),
        ({"event": "", "length": "1"}, "'event' is required"),
        ({"event": "e"}, "'length' is required"),
        ({"event": "e", "length": "0"}, "'length' must be an integer between 1 and 100"),
        ({"event": "e", "length": "101"}, "'length' must be an integer between 1 and 100"),
        ({"event": "e", "length": "abc"}, "'length' must be an integer between 1 and 100"),
        ({"event": "e", "length": "1", "unit": "14"}, "'unit' must be 'day' or 'hour'"),
        ({"event": "e", "length": "1", "unit": "minute"}, "'unit' must be 'day' or 'hour'"),
        (
            {"event": "e", "length": "1", "ending_at": "tomorrow"},
            "'ending_at' must be an ISO 8601 date-time (e.g. 2026-11-22T05:00:00Z or"
            " 2026-11-22T00:00:00-05:00) or date (2026-11-22)",
        ),
        (
            {"event": "e", "length": "1", "ending_at": "2026-02-29"},
            "'ending_at' is not a valid date-time: day is out of range for month",
        ),
        (
            {"event": "e", "length": "1", "app_id": "no-such-app"},
            "'app_id' is not the identifier of an app in this workspace",
        ),
    ],
)
def test_each_parameter_error_is_a_400_naming_the_parameter(
    client: TestClient, workspace: Workspace, query: dict[str, str], message: str
) -> None:
    assert error(client, workspace.key, **query) == message


def test_empty_segment_id_means_no_segment(client: TestClient, workspace: Workspace) -> None:
    assert counts(series(client, workspace.key, event="e", length=2, segment_id="")) == [0, 0]


def test_authentication_comes_before_parameter_errors(
    client: TestClient, workspace: Workspace
) -> None:
    response = client.get("/events/data_series")
    assert (response.status_code, response.json()) == (401, {"message": "Invalid API key"})


# -- calendar days in the workspace's zone, end to end ---------------------------------------


def test_new_york_23_hour_day(client: TestClient, engine: Engine) -> None:
    ny = make_workspace(engine, "ny", "America/New_York")
    track(
        client,
        ny.key,
        [
            event("2026-03-07T23:59:59-05:00"),  # Saturday, last second
            event("2026-03-08T00:00:00-05:00"),  # Sunday, first second (EST)
            event("2026-03-08T01:59:59-05:00"),  # last second before the jump
            event("2026-03-08T03:00:00-04:00"),  # first second after it (EDT)
            event("2026-03-08T23:59:59-04:00"),  # Sunday, last second
            event("2026-03-09T00:00:00-04:00"),  # Monday, first second
        ],
    )
    days = series(client, ny.key, event="played", length=3, ending_at="2026-03-09")
    assert days == [
        {"time": "2026-03-07", "count": 1},
        {"time": "2026-03-08", "count": 4},
        {"time": "2026-03-09", "count": 1},
    ]
    hours = series(
        client,
        ny.key,
        event="played",
        length=23,
        unit="hour",
        ending_at="2026-03-08T23:30:00-04:00",
    )
    assert hours[0] == {"time": "2026-03-08T00:00:00-05:00", "count": 1}
    assert hours[1] == {"time": "2026-03-08T01:00:00-05:00", "count": 1}
    assert hours[2] == {"time": "2026-03-08T03:00:00-04:00", "count": 1}
    assert hours[-1] == {"time": "2026-03-08T23:00:00-04:00", "count": 1}
    assert sum(counts(hours)) == 4


def test_new_york_25_hour_day(client: TestClient, engine: Engine) -> None:
    ny = make_workspace(engine, "ny", "America/New_York")
    track(
        client,
        ny.key,
        [
            event("2026-10-31T23:59:59-04:00"),
            event("2026-11-01T00:00:00-04:00"),
            event("2026-11-01T01:30:00-04:00"),  # first 01:30 (EDT)
            event("2026-11-01T01:30:00-05:00"),  # second 01:30 (EST), an hour later
            event("2026-11-01T01:45:00-05:00"),
            event("2026-11-01T23:59:59-05:00"),
            event("2026-11-02T00:00:00-05:00"),
        ],
    )
    days = series(client, ny.key, event="played", length=3, ending_at="2026-11-02T12:00:00")
    assert counts(days) == [1, 5, 1]
    assert labels(days) == ["2026-10-31", "2026-11-01", "2026-11-02"]
    hours = series(
        client,
        ny.key,
        event="played",
        length=25,
        unit="hour",
        ending_at="2026-11-01T23:00:00",  # wall-clock time in the workspace's zone
    )
    assert labels(hours)[0] == "2026-11-01T00:00:00-04:00"
    assert hours[1] == {"time": "2026-11-01T01:00:00-04:00", "count": 1}
    assert hours[2] == {"time": "2026-11-01T01:00:00-05:00", "count": 2}
    assert labels(hours)[-1] == "2026-11-01T23:00:00-05:00"
    assert sum(counts(hours)) == 5


def test_kolkata_days_start_at_18_30_utc(client: TestClient, engine: Engine) -> None:
    kolkata = make_workspace(engine, "kolkata", "Asia/Kolkata")
    track(
        client,
        kolkata.key,
        [
            event("2026-11-20T18:29:59Z"),  # 2026-11-20 23:59:59 IST
            event("2026-11-20T18:30:00Z"),  # 2026-11-21 00:00:00 IST
            event("2026-11-21T18:29:59.999Z"),
            event("2026-11-21T18:30:00Z"),  # 2026-11-22
        ],
    )
    days = series(
        client, kolkata.key, event="played", length=3, ending_at="2026-11-22T00:00:00+05:30"
    )
    assert days == [
        {"time": "2026-11-20", "count": 1},
        {"time": "2026-11-21", "count": 2},
        {"time": "2026-11-22", "count": 1},
    ]
    hours = series(
        client, kolkata.key, event="played", length=2, unit="hour", ending_at="2026-11-21"
    )
    assert hours == [
        {"time": "2026-11-20T23:00:00+05:30", "count": 1},
        {"time": "2026-11-21T00:00:00+05:30", "count": 1},
    ]


def test_ending_at_date_is_local_midnight_and_offsets_are_instants(
    client: TestClient, engine: Engine
) -> None:
    ny = make_workspace(engine, "ny", "America/New_York")
    track(client, ny.key, [event("2026-11-21T03:00:00Z")])  # 2026-11-20 22:00 in New York
    query = {"event": "played", "length": 2}
    assert series(client, ny.key, **query, ending_at="2026-11-21") == [
        {"time": "2026-11-20", "count": 1},
        {"time": "2026-11-21", "count": 0},
    ]
    # the same calendar date given as a UTC instant still falls on 2026-11-20 in New York
    assert labels(series(client, ny.key, **query, ending_at="2026-11-21T03:00:00Z")) == [
        "2026-11-19",
        "2026-11-20",
    ]


def test_extreme_ending_at_is_clamped_not_refused(client: TestClient, workspace: Workspace) -> None:
    low = series(client, workspace.key, event="e", length=100, ending_at="0001-01-01")
    high = series(client, workspace.key, event="e", length=3, unit="hour", ending_at="9999-12-31")
    assert labels(low)[0].startswith("0001-01-")
    assert labels(high)[-1] == "9999-12-29T00:00:00Z"
