"""Segment management, Braze's segment exports, tracking rules and the evaluator's behaviour."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from typing import Any

import pytest
from seg_helpers import create_segment, post, seg_client, track  # noqa: F401
from sqlalchemy import update
from sqlalchemy.engine import Engine
from starlette.testclient import TestClient

from conftest import Workspace, auth, make_workspace
from heron.app import create_app
from heron.config import Settings
from heron.segments.consumer import catch_up
from heron.segments.sizes import local_day, snapshot
from heron.store.schema import segments

DAY = 86_400_000
EVERYONE = {
    "or": [
        {"custom_attribute": "x", "op": "exists"},
        {"custom_attribute": "x", "op": "does_not_exist"},
    ]
}
PLAYERS = {"custom_event": "play", "op": "count_greater_than", "value": 0}


def get(client: TestClient, key: str, path: str, **params: Any) -> Any:
    """GET with a key."""
    return client.get(path, params=params, headers=auth(key))


def now_ms() -> int:
    """Wall-clock epoch ms."""
    return int(time.time() * 1000)


# -- definitions -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"name": "s"}, "$.filter: a segment needs a filter"),
        ({"name": "s", "filter": {"and": []}}, "$.filter.and: must be a non-empty array"),
        (
            {"name": "s", "filter": {"and": [PLAYERS, {"custom_event": "x", "op": "bogus"}]}},
            "$.filter.and[1].op: must be one of count_greater_than, ",
        ),
        (
            {"name": "s", "filter": {"or": [{"custom_attribute": "a", "op": "equals"}]}},
            "$.filter.or[0].value: 'equals' needs a value",
        ),
        (
            {
                "name": "s",
                "filter": {
                    "and": [{"or": [{"custom_attribute": "a", "op": "exists", "value": 1}]}]
                },
            },
            "$.filter.and[0].or[0].value: 'exists' takes no value",
        ),
        (
            {"name": "s", "filter": {**PLAYERS, "value": 3, "within_last_days": 5}},
            "$.filter.within_last_days: must be one of 1, 3, 7, 14, 21, 30",
        ),
        (
            {"name": "s", "filter": {**PLAYERS, "value": 51, "within_last_days": 7}},
            "$.filter.value: counts within the last days go up to 50",
        ),
        (
            {"name": "s", "filter": {"app": "nope", "op": "used"}},
            "$.filter.app: is not the identifier of an app of this workspace",
        ),
        (
            {"name": "s", "filter": {"standard_attribute": "shoe_size", "op": "exists"}},
            "$.filter.standard_attribute: must be one of country, ",
        ),
        (
            {"name": "s", "filter": {"custom_attribute": "d", "op": "before", "value": "soon"}},
            "$.filter.value: must be an ISO 8601 date",
        ),
        (
            {"name": "s", "filter": {"purchase": None, "op": "count_equals", "value": -1}},
            "$.filter.value: must be a non-negative integer count",
        ),
        (
            {"name": "s", "filter": {"custom_event": "e", "purchase": "p", "op": "count_equals"}},
            "$.filter: must be a group ('and' / 'or') or hold exactly one of",
        ),
        ({"name": "", "filter": PLAYERS}, "'name' must not be empty"),
        ({"name": "s", "filter": PLAYERS, "tags": "t"}, "'tags' must be an array"),
    ],
)
def test_invalid_definitions_are_refused_naming_the_node(
    seg_client: TestClient,  # noqa: F811
    workspace: Workspace,
    body: dict[str, Any],
    message: str,
) -> None:
    response = post(seg_client, workspace.key, "/heron/v1/segments", body)
    assert response.status_code == 400, response.text
    assert set(response.json()) == {"message"}
    text = response.json()["message"]
    if message.startswith("$"):
        assert text.startswith(f"invalid segment filter at {message}"), text
    else:
        assert text.startswith(message), text


def test_create_show_update_archive_delete(
    seg_client: TestClient,  # noqa: F811
    engine: Engine,
    workspace: Workspace,
) -> None:
    key = workspace.key
    body = {"name": "Players", "description": "who played", "tags": ["games"], "filter": PLAYERS}
    created = post(seg_client, key, "/heron/v1/segments", body)
    assert created.status_code == 201
    item = created.json()["segment"]
    segment_id = item["segment_id"]
    assert {k: item[k] for k in ("name", "description", "tags", "filter", "size")} == {
        "name": "Players",
        "description": "who played",
        "tags": ["games"],
        "filter": PLAYERS,
        "size": 0,
    }
    assert item["membership_current"] is False and item["analytics_tracking_enabled"] is False
    track(
        seg_client, key, {"events": [{"external_id": "u1", "name": "play", "time": "2026-01-01"}]}
    )
    catch_up(engine)
    shown = get(seg_client, key, "/heron/v1/segments/details", segment_id=segment_id).json()
    assert shown["segment"]["size"] == 1 and shown["segment"]["membership_current"] is True
    # a new filter is evaluated for every user afresh
    changed = post(
        seg_client,
        key,
        "/heron/v1/segments/update",
        {
            "segment_id": segment_id,
            "filter": {"custom_event": "play", "op": "count_equals", "value": 0},
        },
    )
    assert changed.status_code == 200 and changed.json()["segment"]["name"] == "Players"
    catch_up(engine)
    shown = get(seg_client, key, "/heron/v1/segments/details", segment_id=segment_id).json()
    assert shown["segment"]["size"] == 0
    # archived: off the Braze list, still in the management list with include_archived
    assert post(seg_client, key, "/heron/v1/segments/archive", {"segment_id": segment_id}).json()[
        "segment"
    ]["archived"]
    assert get(seg_client, key, "/segments/list").json()["segments"] == []
    listed = get(seg_client, key, "/heron/v1/segments", include_archived="true").json()
    assert [s["segment_id"] for s in listed["segments"]] == [segment_id]
    assert get(seg_client, key, "/heron/v1/segments").json()["segments"] == []
    post(seg_client, key, "/heron/v1/segments/unarchive", {"segment_id": segment_id})
    assert len(get(seg_client, key, "/segments/list").json()["segments"]) == 1
    deleted = post(seg_client, key, "/heron/v1/segments/delete", {"segment_id": segment_id})
    assert deleted.json() == {"message": "success"}
    gone = get(seg_client, key, "/heron/v1/segments/details", segment_id=segment_id)
    assert gone.status_code == 404
    again = post(seg_client, key, "/heron/v1/segments/delete", {"segment_id": segment_id})
    assert again.status_code == 404


# -- Braze's exports ---------------------------------------------------------------------------


def test_list_pages_sorts_and_shapes(
    seg_client: TestClient,  # noqa: F811
    engine: Engine,
    workspace: Workspace,
) -> None:
    ids = []
    for i in range(102):
        body = {"name": f"seg {i:03d}", "tags": [f"t{i % 3}"], "filter": PLAYERS}
        ids.append(create_segment(seg_client, workspace.key, body, tracked=i == 1))
        with engine.begin() as conn:  # distinct creation times, in order
            conn.execute(
                update(segments)
                .where(segments.c.segment_id == ids[-1])
                .values(created_at_ms=1000 + i)
            )
    first = get(seg_client, workspace.key, "/segments/list").json()
    assert first["message"] == "success"
    assert [s["id"] for s in first["segments"]] == ids[:100]
    assert first["segments"][1] == {
        "id": ids[1],
        "name": "seg 001",
        "analytics_tracking_enabled": True,
        "tags": ["t1"],
    }
    second = get(seg_client, workspace.key, "/segments/list", page="1").json()
    assert [s["id"] for s in second["segments"]] == ids[100:]
    newest = get(seg_client, workspace.key, "/segments/list", sort_direction="desc").json()
    assert [s["id"] for s in newest["segments"]] == ids[::-1][:100]
    assert get(seg_client, workspace.key, "/segments/list", page="9").json()["segments"] == []
    bad = get(seg_client, workspace.key, "/segments/list", sort_direction="up")
    assert (bad.status_code, bad.json()) == (
        400,
        {"message": "'sort_direction' must be 'asc' or 'desc'"},
    )


def test_details_describe_the_filter(
    seg_client: TestClient,  # noqa: F811
    workspace: Workspace,
) -> None:
    tree = {
        "and": [
            {"standard_attribute": "country", "op": "equals", "value": "US"},
            {"or": [PLAYERS, {"purchase": None, "op": "last_less_than_days_ago", "value": 30}]},
        ]
    }
    body = {"name": "US buyers", "description": "mine", "tags": ["x"], "filter": tree}
    segment_id = create_segment(seg_client, workspace.key, body, tracked=False)
    details = get(seg_client, workspace.key, "/segments/details", segment_id=segment_id).json()
    assert set(details) == {
        "message",
        "created_at",
        "updated_at",
        "name",
        "description",
        "text_description",
        "tags",
        "teams",
    }
    assert details["description"] == (
        "country equals 'US' AND (Performed custom event 'play' greater than 0 times OR"
        " Purchased any product, last time less than 30 days ago)"
    )
    assert (details["name"], details["text_description"], details["tags"]) == (
        "US buyers",
        "mine",
        ["x"],
    )
    assert details["created_at"].endswith("Z")
    missing = get(seg_client, workspace.key, "/segments/details", segment_id="nope")
    assert missing.status_code == 404
    assert missing.json() == {
        "message": "'segment_id' is not the id of a segment of this workspace"
    }


def test_size_series_from_daily_snapshots_and_live_today(
    seg_client: TestClient,  # noqa: F811
    engine: Engine,
    workspace: Workspace,
) -> None:
    key = workspace.key
    segment_id = create_segment(seg_client, key, {"name": "all", "filter": EVERYONE}, tracked=False)
    now = now_ms()
    with engine.begin() as conn:  # the segment exists since 6 days ago
        conn.execute(update(segments).values(created_at_ms=now - 6 * DAY))
    track(seg_client, key, {"attributes": [{"external_id": f"u{i}", "x": i} for i in range(3)]})
    catch_up(engine)
    snapshot(engine, now - 5 * DAY)  # 3 users five days ago
    track(seg_client, key, {"attributes": [{"external_id": f"v{i}"} for i in range(2)]})
    catch_up(engine)
    snapshot(engine, now - 3 * DAY)  # 5 users three days ago; none taken 4, 2 and 1 days ago
    track(seg_client, key, {"attributes": [{"external_id": "w"}]})
    catch_up(engine)  # 6 users now
    series = get(seg_client, key, "/segments/data_series", segment_id=segment_id, length="9").json()
    assert series["message"] == "success"
    assert [p["size"] for p in series["data"]] == [0, 0, 0, 3, 3, 5, 5, 5, 6]
    today = datetime.fromtimestamp(now / 1000, UTC).date().isoformat()
    assert series["data"][-1]["time"] == today
    assert local_day(now, "UTC") == (datetime.fromisoformat(today) - datetime(1970, 1, 1)).days
    missing = get(seg_client, key, "/segments/data_series", segment_id="x", length="2")
    assert missing.status_code == 404
    bad = get(seg_client, key, "/segments/data_series", segment_id=segment_id, length="0")
    assert bad.status_code == 400 and "'length'" in bad.json()["message"]


# -- tracking ---------------------------------------------------------------------------------


def test_segment_id_filter_needs_tracking_and_counts_from_then_on(
    seg_client: TestClient,  # noqa: F811
    engine: Engine,
    workspace: Workspace,
) -> None:
    key = workspace.key
    segment_id = create_segment(
        seg_client, key, {"name": "players", "filter": PLAYERS}, tracked=False
    )
    events = [{"external_id": "u1", "name": "play", "time": "2026-01-05T10:00:00Z"}]
    track(seg_client, key, {"events": events})
    catch_up(engine)
    params = {"event": "play", "length": "3", "ending_at": "2026-01-06T00:00:00Z"}
    untracked = get(seg_client, key, "/events/data_series", segment_id=segment_id, **params)
    assert untracked.status_code == 400
    assert "does not have analytics tracking enabled" in untracked.json()["message"]
    buys = get(seg_client, key, "/purchases/quantity_series", segment_id=segment_id, length="2")
    assert buys.status_code == 400
    post(
        seg_client, key, "/heron/v1/segments/tracking", {"segment_id": segment_id, "enabled": True}
    )
    tracked = get(seg_client, key, "/events/data_series", segment_id=segment_id, **params)
    assert [p["count"] for p in tracked.json()["data"]] == [0, 0, 0]  # before tracking: not counted
    track(
        seg_client,
        key,
        {"events": events * 2 + [{"external_id": "u2", "name": "play", "time": "2026-01-04"}]},
    )
    catch_up(engine)
    tracked = get(seg_client, key, "/events/data_series", segment_id=segment_id, **params)
    assert [p["count"] for p in tracked.json()["data"]] == [1, 2, 0]
    unknown = get(seg_client, key, "/events/data_series", segment_id="nope", **params)
    assert unknown.status_code == 404
    # off and on again: counting starts afresh
    post(
        seg_client, key, "/heron/v1/segments/tracking", {"segment_id": segment_id, "enabled": False}
    )
    assert (
        get(seg_client, key, "/events/data_series", segment_id=segment_id, **params).status_code
        == 400
    )
    post(
        seg_client, key, "/heron/v1/segments/tracking", {"segment_id": segment_id, "enabled": True}
    )
    tracked = get(seg_client, key, "/events/data_series", segment_id=segment_id, **params)
    assert [p["count"] for p in tracked.json()["data"]] == [0, 0, 0]


def test_tracked_segments_are_capped_by_the_setting(engine: Engine, database_url: str) -> None:
    workspace = make_workspace(engine)
    app = create_app(
        Settings(database_url=database_url, segment_evaluator=False, max_tracked_segments=2)
    )
    with TestClient(app) as client:
        ids = [
            create_segment(
                client, workspace.key, {"name": f"s{i}", "filter": PLAYERS}, tracked=i < 2
            )
            for i in range(3)
        ]
        refused = post(
            client,
            workspace.key,
            "/heron/v1/segments/tracking",
            {"segment_id": ids[2], "enabled": True},
        )
        assert refused.status_code == 400
        assert refused.json() == {
            "message": "a workspace can have at most 2 segments with analytics tracking enabled"
        }
        post(
            client,
            workspace.key,
            "/heron/v1/segments/tracking",
            {"segment_id": ids[0], "enabled": False},
        )
        allowed = post(
            client,
            workspace.key,
            "/heron/v1/segments/tracking",
            {"segment_id": ids[2], "enabled": True},
        )
        assert (
            allowed.status_code == 200 and allowed.json()["segment"]["analytics_tracking_enabled"]
        )
        assert (
            post(
                client,
                workspace.key,
                "/heron/v1/segments/tracking",
                {"segment_id": ids[2], "enabled": "yes"},
            ).status_code
            == 400
        )


@pytest.mark.parametrize("zone", ["Asia/Kolkata", "America/New_York"])
def test_an_everyone_segment_counts_like_the_unfiltered_series(
    seg_client: TestClient,  # noqa: F811
    engine: Engine,
    zone: str,
) -> None:
    workspace = make_workspace(engine, "zoned", zone)
    key = workspace.key
    segment_id = create_segment(seg_client, key, {"name": "all", "filter": EVERYONE}, tracked=True)
    base = int(datetime(2026, 3, 7, 0, 0, tzinfo=UTC).timestamp() * 1000)
    events, buys = [], []
    for i in range(300):
        t = base + i * 37 * 60_000 + (i % 7) * 60_000  # across DST change in New York
        when = datetime.fromtimestamp(t / 1000, UTC).isoformat()
        events.append(
            {
                "external_id": f"u{i % 23}",
                "name": "e",
                "time": when,
                **({"app_id": workspace.app_id} if i % 3 == 0 else {}),
            }
        )
        if i % 4 == 0:
            buys.append(
                {
                    "external_id": f"u{i % 19}",
                    "product_id": "p",
                    "currency": "USD",
                    "price": 1.5,
                    "quantity": 1 + i % 3,
                    "time": when,
                }
            )
    track(seg_client, key, {"events": events, "purchases": buys})
    catch_up(engine, batch=50)
    for unit, length in (("hour", "100"), ("day", "12")):
        common = {"length": length, "unit": unit, "ending_at": "2026-03-13T12:00:00Z"}
        for extra in ({}, {"app_id": workspace.app_id}):
            plain = get(seg_client, key, "/events/data_series", event="e", **common, **extra).json()
            mine = get(
                seg_client,
                key,
                "/events/data_series",
                event="e",
                segment_id=segment_id,
                **common,
                **extra,
            ).json()
            diff = [(a, b) for a, b in zip(mine["data"], plain["data"], strict=True) if a != b]
            assert not diff, (unit, extra, diff[:5], len(diff))
            assert mine == plain and sum(p["count"] for p in plain["data"]) > 0
        for path in ("/purchases/quantity_series", "/purchases/revenue_series"):
            plain = get(seg_client, key, path, product="p", **common).json()
            mine = get(seg_client, key, path, product="p", segment_id=segment_id, **common).json()
            assert mine == plain


# -- the evaluator -----------------------------------------------------------------------------


def test_concurrent_evaluators_count_each_event_once(
    seg_client: TestClient,  # noqa: F811
    engine: Engine,
    workspace: Workspace,
) -> None:
    key = workspace.key
    segment_id = create_segment(seg_client, key, {"name": "all", "filter": EVERYONE}, tracked=True)
    events = [
        {"external_id": f"u{i % 40}", "name": "e", "time": "2026-01-05T10:00:00Z"}
        for i in range(600)
    ]
    track(seg_client, key, {"events": events})
    errors: list[BaseException] = []

    def run() -> None:
        try:
            catch_up(engine, batch=25, max_batch=25)  # many small steps racing
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    catch_up(engine)
    series = get(
        seg_client,
        key,
        "/events/data_series",
        event="e",
        segment_id=segment_id,
        length="1",
        ending_at="2026-01-05T12:00:00Z",
    )
    assert series.json()["data"][0]["count"] == 600
    shown = get(seg_client, key, "/heron/v1/segments/details", segment_id=segment_id).json()
    assert shown["segment"]["size"] == 40


def test_the_server_evaluates_in_the_background(client: TestClient, workspace: Workspace) -> None:
    segment_id = create_segment(
        client, workspace.key, {"name": "players", "filter": PLAYERS}, tracked=True
    )
    track(
        client,
        workspace.key,
        {"events": [{"external_id": "u1", "name": "play", "time": "2026-01-05"}]},
    )
    deadline = time.monotonic() + 20
    size = 0
    while time.monotonic() < deadline:
        shown = get(
            client, workspace.key, "/heron/v1/segments/details", segment_id=segment_id
        ).json()
        size = shown["segment"]["size"]
        if size == 1:
            break
        time.sleep(0.2)
    assert size == 1
    today = get(
        client, workspace.key, "/segments/data_series", segment_id=segment_id, length="1"
    ).json()
    assert today["data"][0]["size"] == 1


@pytest.mark.parametrize("segment_id", ["\x00", "x" * 37, "a\x00b"])
def test_impossible_segment_ids_are_unknown(
    seg_client: TestClient,  # noqa: F811
    workspace: Workspace,
    segment_id: str,
) -> None:
    key = workspace.key
    assert get(seg_client, key, "/segments/details", segment_id=segment_id).status_code == 404
    assert (
        get(seg_client, key, "/heron/v1/segments/details", segment_id=segment_id).status_code == 404
    )
    series = get(
        seg_client, key, "/events/data_series", event="e", length="1", segment_id=segment_id
    )
    assert series.status_code == 404
    for action in ("update", "archive", "tracking", "delete"):
        body = {"segment_id": segment_id, "name": "n", "enabled": True}
        assert post(seg_client, key, f"/heron/v1/segments/{action}", body).status_code == 404


def test_deleted_and_merged_users_leave_and_join_segments(
    seg_client: TestClient,  # noqa: F811
    engine: Engine,
    workspace: Workspace,
) -> None:
    """/users/delete drops members at once; /users/merge re-evaluates the kept user."""
    key = workspace.key
    body = {"name": "Players", "filter": PLAYERS}
    segment_id = post(seg_client, key, "/heron/v1/segments", body).json()["segment"]["segment_id"]
    play = [{"external_id": u, "name": "play", "time": "2026-01-01"} for u in ("u1", "u2")]
    track(seg_client, key, {"events": play, "attributes": [{"external_id": "u3", "x": 1}]})
    catch_up(engine)

    def size() -> int:
        """The segment's current size."""
        shown = get(seg_client, key, "/heron/v1/segments/details", segment_id=segment_id)
        return int(shown.json()["segment"]["size"])

    assert size() == 2
    deleted = post(seg_client, key, "/users/delete", {"external_ids": ["u1"]})
    assert deleted.status_code == 201, deleted.text
    assert size() == 1  # settled by the delete itself, before the evaluator runs
    merge = {
        "merge_updates": [
            {
                "identifier_to_merge": {"external_id": "u2"},
                "identifier_to_keep": {"external_id": "u3"},
            }
        ]
    }
    merged = post(seg_client, key, "/users/merge", merge)
    assert merged.status_code in (201, 202), merged.text
    assert size() == 0  # u2 is gone with its membership
    catch_up(engine)
    assert size() == 1  # u3 now has u2's "play" event


def test_catalog_purge_re_evaluates_the_users_it_changed(
    seg_client: TestClient,  # noqa: F811
    engine: Engine,
    workspace: Workspace,
) -> None:
    """Purging a custom event or attribute notes the users it changed: their segments follow."""
    from heron.catalog.kinds import TRASHED
    from heron.catalog.purge import purge_due
    from heron.store.schema import custom_attributes, custom_events

    has_plan = create_segment(
        seg_client,
        workspace.key,
        {"name": "plan", "filter": {"custom_attribute": "plan", "op": "exists"}},
        False,
    )
    players = create_segment(seg_client, workspace.key, {"name": "p", "filter": PLAYERS}, False)
    track(
        seg_client,
        workspace.key,
        {
            "attributes": [{"external_id": "a", "plan": "pro"}, {"external_id": "b", "x": 1}],
            "events": [{"external_id": "b", "name": "play", "time": "2026-01-01"}],
        },
    )
    catch_up(engine)

    def size(segment_id: str) -> int:
        """A segment's current size."""
        shown = get(seg_client, workspace.key, "/heron/v1/segments/details", segment_id=segment_id)
        return int(shown.json()["segment"]["size"])

    assert (size(has_plan), size(players)) == (1, 1)
    with engine.begin() as conn:
        conn.execute(
            update(custom_attributes)
            .where(custom_attributes.c.name == "plan")
            .values(status=TRASHED, trashed_at_ms=0)
        )
        conn.execute(
            update(custom_events)
            .where(custom_events.c.name == "play")
            .values(status=TRASHED, trashed_at_ms=0)
        )
    assert purge_due(engine, int(time.time() * 1000)) == [
        ("events", workspace.id, "play"),
        ("custom_attributes", workspace.id, "plan"),
    ]
    catch_up(engine)
    assert (size(has_plan), size(players)) == (0, 0)
