"""`GET /campaigns/data_series` from records written through heron.campaigns' own interface."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from campaign_helpers import create, definition, get, user_ids
from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from starlette.testclient import TestClient

from conftest import Workspace, make_workspace
from heron.campaigns import (
    Engagement,
    RecordError,
    Send,
    record_engagement,
    record_sends,
)
from heron.store.schema import campaign_daily, campaign_engagements, campaign_receipts


def ms(text: str) -> int:
    """Epoch ms of an ISO 8601 UTC time."""
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp() * 1000)


def series(client: TestClient, ws: Workspace, **params: str) -> list[dict[str, Any]]:
    """The data points of one call."""
    response = get(client, ws, "/campaigns/data_series", campaign_id="c", **params)
    assert response.status_code == 200, response.text
    data: list[dict[str, Any]] = response.json()["data"]
    return data


def _entry(point: dict[str, Any], channel: str, variation: str) -> dict[str, Any]:
    """One variation's entry under a channel."""
    entries = point["messages"][channel]
    found = [e for e in entries if e.get("variation_api_id", e.get("variation_name")) == variation]
    assert len(found) == 1, entries
    return found[0]


@pytest.fixture
def recorded(client: TestClient, engine: Engine, workspace: Workspace) -> dict[str, int]:
    """Campaign `c` (every channel) with sends and engagement on 2026-01-05 and 2026-01-06."""
    create(client, workspace, definition(id="c"))
    u = user_ids(client, engine, workspace, "u1", "u2", "u3", "u4")
    with engine.begin() as conn:
        record_sends(
            conn,
            workspace.id,
            "c",
            [
                Send(u["u1"], "email-1", ms("2026-01-05T10:00:00")),
                Send(u["u2"], "email-1", ms("2026-01-05T10:00:00")),
                Send(u["u1"], "email-1", ms("2026-01-05T11:00:00")),
                Send(u["u3"], "sms-1", ms("2026-01-05T12:00:00")),
                Send(u["u1"], "survey-1", ms("2026-01-05T13:00:00")),
                Send(u["u4"], "control-1", ms("2026-01-05T10:00:00")),
                Send(u["u3"], "email-1", ms("2026-01-06T09:00:00")),
            ],
        )
        record_engagement(
            conn,
            workspace.id,
            "c",
            [
                Engagement(u["u1"], "email-1", "delivered", ms("2026-01-05T10:00:01")),
                Engagement(u["u2"], "email-1", "delivered", ms("2026-01-05T10:00:01")),
                Engagement(u["u1"], "email-1", "opened", ms("2026-01-05T10:10:00")),
                Engagement(u["u1"], "email-1", "opened", ms("2026-01-05T10:20:00")),
                Engagement(u["u2"], "email-1", "opened", ms("2026-01-05T12:00:00")),
                Engagement(u["u1"], "email-1", "clicked", ms("2026-01-05T10:30:00")),
                Engagement(u["u2"], "email-1", "unsubscribed", ms("2026-01-05T12:01:00")),
                Engagement(u["u3"], "sms-1", "delivered", ms("2026-01-05T12:00:05")),
                Engagement(u["u3"], "sms-1", "opted_out", ms("2026-01-05T12:05:00")),
                Engagement(u["u1"], "survey-1", "impression", ms("2026-01-05T13:00:01")),
                Engagement(u["u1"], "survey-1", "first_button_clicked", ms("2026-01-05T13:00:02")),
            ],
        )
    return u


def test_daily_points_per_channel_and_variation(
    client: TestClient, workspace: Workspace, recorded: dict[str, int]
) -> None:
    data = series(client, workspace, length="3", ending_at="2026-01-06T12:00:00Z")
    assert [p["time"] for p in data] == ["2026-01-04", "2026-01-05", "2026-01-06"]
    empty, day, next_day = data
    assert empty["unique_recipients"] == 0
    assert day["unique_recipients"] == 3  # u1, u2, u3 (u4 is in the control group)
    assert next_day["unique_recipients"] == 1
    assert set(day) == {
        "time", "unique_recipients", "conversions", "conversions1", "conversions2",
        "conversions3", "conversions_by_send_time", "conversions1_by_send_time",
        "conversions2_by_send_time", "conversions3_by_send_time", "revenue", "messages",
    }  # fmt: skip
    # Clicks Email (A): u1 clicked 30 min after receipt; Opens Email (B, 1 h): u1 at 10:10 (u2's
    # open at 12:00 is 2 h after receipt)
    assert (day["conversions"], day["conversions1"]) == (1, 1)
    assert (day["conversions2"], day["conversions3"]) == (0, 0)
    assert (day["conversions_by_send_time"], day["conversions1_by_send_time"]) == (1, 1)
    assert day["revenue"] == 0
    assert set(day["messages"]) == {
        "ios_push", "android_push", "web_push", "email", "webhook", "sms", "content_cards",
        "trigger_in_app_message",
    }  # fmt: skip
    assert _entry(day, "email", "email-1") == {
        "variation_api_id": "email-1",
        "sent": 3,
        "opens": 3,
        "unique_opens": 2,
        "clicks": 1,
        "unique_clicks": 1,
        "unsubscribes": 1,
        "bounces": 0,
        "delivered": 2,
        "reported_spam": 0,
    }
    assert _entry(day, "email", "control-1") == {"variation_api_id": "control-1", "enrolled": 1}
    assert _entry(day, "sms", "sms-1") == {
        "variation_api_id": "sms-1",
        "sent": 1,
        "sent_to_carrier": 0,
        "delivered": 1,
        "rejected": 0,
        "delivery_failed": 0,
        "clicks": 0,
        "opt_out": 1,
        "help": 0,
    }
    assert _entry(day, "trigger_in_app_message", "Variation 9") == {
        "variation_name": "Variation 9",
        "impressions": 1,
        "clicks": 0,
        "first_button_clicks": 1,
        "second_button_clicks": 0,
        "unique_recipients": 1,
        "revenue": 0,
        "conversions": 0,
        "conversions1": 0,
        "conversions2": 0,
        "conversions3": 0,
    }
    assert _entry(day, "ios_push", "ios-1") == {
        "variation_api_id": "ios-1",
        "sent": 0,
        "direct_opens": 0,
        "total_opens": 0,
        "bounces": 0,
        "body_clicks": 0,
    }
    assert _entry(day, "webhook", "webhook-1") == {
        "variation_api_id": "webhook-1",
        "sent": 0,
        "errors": 0,
    }
    assert [e["variation_api_id"] for e in day["messages"]["content_cards"]] == ["card-1", "card-2"]
    assert set(_entry(day, "content_cards", "card-1")) == {
        "variation_api_id", "sent", "total_clicks", "total_dismissals", "total_impressions",
        "unique_clicks", "unique_dismissals", "unique_impressions",
    }  # fmt: skip
    assert _entry(next_day, "email", "email-1")["sent"] == 1


def test_first_and_last_sent(
    client: TestClient, workspace: Workspace, recorded: dict[str, int]
) -> None:
    details = get(client, workspace, "/campaigns/details", campaign_id="c").json()
    assert details["first_sent"] == "2026-01-05T10:00:00+00:00"
    assert details["last_sent"] == "2026-01-06T09:00:00+00:00"


def test_series_reads_aggregates(
    client: TestClient, engine: Engine, workspace: Workspace, recorded: dict[str, int]
) -> None:
    before = series(client, workspace, length="2", ending_at="2026-01-06")
    with engine.begin() as conn:  # raw rows gone: the stats stay (conversions need raw rows)
        conn.execute(campaign_engagements.delete())
    after = series(client, workspace, length="2", ending_at="2026-01-06")
    assert _entry(after[0], "email", "email-1") == _entry(before[0], "email", "email-1")
    assert after[0]["unique_recipients"] == before[0]["unique_recipients"] == 3
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(campaign_daily)).scalar_one() > 0


def test_days_follow_the_workspace_zone(
    client: TestClient, engine: Engine, database_url: str
) -> None:
    ws = make_workspace(engine, "ny", "America/New_York")
    create(client, ws, definition(id="c"))
    u = user_ids(client, engine, ws, "u1")
    with engine.begin() as conn:
        # 03:00 UTC on Jan 6 is 22:00 on Jan 5 in New York
        record_sends(conn, ws.id, "c", [Send(u["u1"], "email-1", ms("2026-01-06T03:00:00"))])
        record_sends(conn, ws.id, "c", [Send(u["u1"], "email-1", ms("2026-01-06T05:00:00"))])
    data = series(client, ws, length="2", ending_at="2026-01-06T12:00:00")
    assert [(p["time"], p["unique_recipients"]) for p in data] == [
        ("2026-01-05", 1),
        ("2026-01-06", 1),
    ]
    assert [_entry(p, "email", "email-1")["sent"] for p in data] == [1, 1]


def test_refused_records_write_nothing(
    client: TestClient, engine: Engine, workspace: Workspace
) -> None:
    create(client, workspace, definition(id="c"))
    u = user_ids(client, engine, workspace, "u1")
    other = make_workspace(engine, "other")
    stranger = user_ids(client, engine, other, "s1")["s1"]
    when = ms("2026-01-05T10:00:00")
    cases = [
        (lambda c: record_sends(c, workspace.id, "nope", [Send(u["u1"], "email-1", when)]), "nope"),
        (lambda c: record_sends(c, workspace.id, "c", [Send(u["u1"], "v9", when)]), "'v9'"),
        (lambda c: record_sends(c, workspace.id, "c", [Send(stranger, "email-1", when)]), "user"),
        (lambda c: record_sends(c, other.id, "c", [Send(stranger, "email-1", when)]), "'c'"),
        (
            lambda c: record_engagement(
                c, workspace.id, "c", [Engagement(u["u1"], "sms-1", "opened", when)]
            ),
            "sms records no 'opened'",
        ),
        (
            lambda c: record_engagement(
                c, workspace.id, "c", [Engagement(u["u1"], "control-1", "opened", when)]
            ),
            "control group",
        ),
    ]
    for call, message in cases:
        with pytest.raises(RecordError, match=message), engine.begin() as conn:
            call(conn)
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(campaign_receipts)).scalar_one() == 0
        assert conn.execute(select(func.count()).select_from(campaign_daily)).scalar_one() == 0


def test_bad_parameters(client: TestClient, workspace: Workspace) -> None:
    create(client, workspace, definition(id="c"))
    path = "/campaigns/data_series"
    for params, status, message in (
        ({"length": "3"}, 400, "'campaign_id' is required"),
        ({"campaign_id": "c"}, 400, "'length' is required"),
        ({"campaign_id": "c", "length": "0"}, 400, "'length' must be an integer between 1 and 100"),
        (
            {"campaign_id": "c", "length": "101"},
            400,
            "'length' must be an integer between 1 and 100",
        ),
        ({"campaign_id": "x", "length": "1"}, 404, "campaign 'x' does not exist"),
    ):
        response = get(client, workspace, path, **params)
        assert (response.status_code, response.json()) == (status, {"message": message}), params
    bad = get(client, workspace, path, campaign_id="c", length="1", ending_at="soon")
    assert bad.status_code == 400 and "'ending_at'" in bad.json()["message"]
    before = datetime.now(UTC).date().isoformat()
    data = get(client, workspace, path, campaign_id="c", length="100").json()["data"]
    assert len(data) == 100
    assert data[-1]["time"] in {before, datetime.now(UTC).date().isoformat()}
