"""The evaluator's shortcuts: skipped segments, adaptive steps, a tracking start inside a step.

Each test checks membership and tracked counts against what the definitions say, in the
situations where a shortcut decides what is (not) evaluated or counted.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from seg_helpers import create_segment, post, seg_client, track  # noqa: F401
from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from starlette.testclient import TestClient

from conftest import Workspace, auth
from heron.segments import consumer
from heron.segments.consumer import BUCKET_SECONDS, catch_up, step
from heron.segments.counting import BUCKET_MS, bucket_start
from heron.segments.definition import parse_filter
from heron.segments.rising import rising
from heron.store.schema import events, segment_members, segment_progress, segments, users

DAY = 86_400_000
NOW = int(datetime(2026, 3, 1, 12, tzinfo=UTC).timestamp() * 1000)


def iso(ms: int) -> str:
    """Epoch ms as ISO 8601 UTC."""
    return (datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=ms)).isoformat()


def members(engine: Engine, segment_id: str) -> set[str]:
    """External ids of a segment's stored members."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(users.c.external_id)
            .join(segment_members, segment_members.c.user_id == users.c.id)
            .join(segments, segments.c.id == segment_members.c.segment_id)
            .where(segments.c.segment_id == segment_id)
        )
        return {str(ext) for (ext,) in rows}


def counted(client: TestClient, key: str, segment_id: str, event: str) -> int:
    """Events of `event` the tracked segment counted over the 60 days before NOW."""
    got = client.get(
        "/events/data_series",
        params={"event": event, "segment_id": segment_id, "length": "60", "ending_at": iso(NOW)},
        headers=auth(key),
    )
    assert got.status_code == 200, got.text
    return sum(int(p["count"]) for p in got.json()["data"])


def play(user: str, t: int, app: str | None = None) -> dict[str, Any]:
    """One `play` event."""
    return {
        "external_id": user,
        "name": "play",
        "time": iso(t),
        **({"app_id": app} if app is not None else {}),
    }


def test_rising_inputs_are_classified_leaf_by_leaf() -> None:
    tree = parse_filter(
        {
            "and": [
                {"custom_event": "play", "op": "count_greater_than", "value": 1},
                {"custom_event": "share", "op": "count_greater_than", "value": 1},
                {"or": [{"custom_event": "share", "op": "last_before", "value": "2026-01-01"}]},
                {"purchase": None, "op": "first_more_than_days_ago", "value": 3},
                {"purchase": "gem", "op": "count_equals", "value": 2},
                {"app": "a", "op": "used"},
                {"app": "b", "op": "not_used"},
            ]
        },
        known_apps=frozenset({"a", "b"}),
    )
    up = rising(tree)
    assert up.events == frozenset({"play"})  # share also has a falling leaf
    assert up.products == frozenset({None})
    assert up.apps == frozenset({"a"})


def test_members_skipped_only_where_new_rows_cannot_take_them_out(
    seg_client: TestClient,  # noqa: F811
    engine: Engine,
    workspace: Workspace,
) -> None:
    key = workspace.key
    more = {"custom_event": "play", "op": "count_greater_than", "value": 1}
    fewer = {"custom_event": "play", "op": "count_less_than", "value": 3}
    often = create_segment(seg_client, key, {"name": "often", "filter": more}, tracked=True)
    seldom = create_segment(seg_client, key, {"name": "seldom", "filter": fewer}, tracked=True)
    app_users = create_segment(
        seg_client, key, {"name": "app", "filter": {"app": workspace.app_id, "op": "used"}}, True
    )
    expected_often = expected_seldom = expected_app = 0
    for round_ in range(4):  # u1 plays every round; u2 once, with the app, in round 1
        body = [play("u1", NOW - DAY + round_)]
        if round_ == 1:
            body.append(play("u2", NOW - DAY, workspace.app_id))
        track(seg_client, key, {"events": body})
        catch_up(engine, NOW)
        plays_u1 = round_ + 1
        assert ("u1" in members(engine, often)) is (plays_u1 > 1)
        assert ("u1" in members(engine, seldom)) is (plays_u1 < 3)
        assert members(engine, app_users) == ({"u2"} if round_ >= 1 else set())
        expected_often += 1 if plays_u1 > 1 else 0
        expected_seldom += 1 if plays_u1 < 3 else 0
        if round_ == 1:
            expected_seldom += 1  # u2: one play
            expected_app += 1
    assert counted(seg_client, key, often, "play") == expected_often
    assert counted(seg_client, key, seldom, "play") == expected_seldom
    assert counted(seg_client, key, app_users, "play") == expected_app


def test_a_member_whose_recheck_is_due_is_evaluated_again(
    seg_client: TestClient,  # noqa: F811
    engine: Engine,
    workspace: Workspace,
) -> None:
    """Time took u2 out of a windowed segment; a backdated play must not keep them in it, even
    when the step reads another user's re-check first (one row of each log per step)."""
    key = workspace.key
    recent = create_segment(
        seg_client,
        key,
        {
            "name": "recent",
            "filter": {
                "custom_event": "play",
                "op": "count_greater_than",
                "value": 0,
                "within_last_days": 1,
            },
        },
        tracked=True,
    )
    track(seg_client, key, {"events": [play("u1", NOW - DAY // 2), play("u2", NOW - DAY // 3)]})
    catch_up(engine, NOW)
    assert members(engine, recent) == {"u1", "u2"}
    later = NOW + 3 * DAY  # both re-checks are due; u1's comes first
    track(seg_client, key, {"events": [play("u2", NOW - 10 * DAY)]})
    assert step(engine, later, batch=1, max_batch=1)
    assert "u2" not in members(engine, recent)
    catch_up(engine, later)
    assert members(engine, recent) == set()
    assert counted(seg_client, key, recent, "play") == 2  # the backdated play counted nowhere


def test_rows_before_a_tracking_start_inside_one_step_are_not_counted(
    seg_client: TestClient,  # noqa: F811
    engine: Engine,
    workspace: Workspace,
) -> None:
    key = workspace.key
    everyone = {"custom_event": "play", "op": "count_greater_than", "value": 0}  # all of them
    early = create_segment(seg_client, key, {"name": "early", "filter": everyone}, tracked=True)
    catch_up(engine, NOW)
    late = create_segment(seg_client, key, {"name": "late", "filter": everyone}, tracked=False)
    catch_up(engine, NOW)
    track(seg_client, key, {"events": [play(f"u{i}", NOW - DAY + i) for i in range(5)]})
    response = post(
        seg_client, key, "/heron/v1/segments/tracking", {"segment_id": late, "enabled": True}
    )
    assert response.status_code == 200
    track(seg_client, key, {"events": [play(f"u{i}", NOW - DAY + i) for i in range(3)]})
    with engine.connect() as conn:
        mark = conn.execute(
            select(segment_progress.c.value).where(segment_progress.c.name == "events")
        ).scalar()
        after = conn.execute(
            select(segments.c.tracking_events_after).where(segments.c.segment_id == late)
        ).scalar()
        newest = conn.execute(select(func.max(events.c.id))).scalar()
    assert mark is not None and after is not None and newest is not None
    assert mark < after < newest  # one step holds rows from before and after the start
    assert catch_up(engine, NOW) == 2
    assert counted(seg_client, key, early, "play") == 8
    assert counted(seg_client, key, late, "play") == 3


def test_buckets_floor_before_1970_too() -> None:
    """Moved from tests/store/test_driver.py when the rollups left SQL: same values."""
    span = BUCKET_SECONDS * 1000
    assert span == BUCKET_MS
    for value in (0, 1, 999, span - 1, span, span + 1, -1, -999, -1000, -span, -span - 1,
                  1_772_359_199_999, 1_772_359_200_000, -62_135_596_800_000):  # fmt: skip
        second = value // 1000
        assert bucket_start(value) == second - second % BUCKET_SECONDS, value


def test_sums_made_before_the_write_lock_are_redone_when_membership_changed_meanwhile(
    seg_client: TestClient,  # noqa: F811
    engine: Engine,
    workspace: Workspace,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A step sums tracked rollups before taking the write lock; if the membership they were
    summed from changes before the write (another writer), the write sums them again."""
    key = workspace.key
    played = {"custom_event": "play", "op": "count_greater_than", "value": 0}
    vip_filter = {"custom_attribute": "plan", "op": "equals", "value": "vip"}
    plays = create_segment(seg_client, key, {"name": "plays", "filter": played}, tracked=True)
    vip = create_segment(seg_client, key, {"name": "vip", "filter": vip_filter}, tracked=True)
    track(seg_client, key, {"events": [play("u1", NOW - DAY)]})
    catch_up(engine, NOW)
    assert members(engine, plays) == {"u1"} and members(engine, vip) == set()
    track(seg_client, key, {"events": [play("u1", NOW - DAY + 1)]})

    real = consumer._count_ahead
    injected: list[bool] = []

    def count_then_change(*args: Any) -> Any:
        counted_ahead = real(*args)
        if not injected:  # another writer puts u1 in `vip` before this step's write
            with engine.begin() as conn:
                conn.execute(
                    segment_members.insert().from_select(
                        ["user_id", "segment_id"],
                        select(users.c.id, segments.c.id).where(
                            users.c.external_id == "u1", segments.c.segment_id == vip
                        ),
                    )
                )
            injected.append(True)
        return counted_ahead

    monkeypatch.setattr(consumer, "_count_ahead", count_then_change)
    catch_up(engine, NOW)
    assert injected
    assert members(engine, vip) == {"u1"}  # a play does not re-evaluate an attribute segment
    assert counted(seg_client, key, plays, "play") == 2
    assert counted(seg_client, key, vip, "play") == 1  # the sums made before missed it
