"""Conversion attribution across window edges, for every behaviour type, on both backends.

Each campaign has one behaviour with a one-hour window; four users receive it at T and act:
exactly at T (converts), exactly at T + window (converts), one ms after the window (does
not), one ms before receipt (does not). Events and purchases go in through `/users/track`;
email opens/clicks and sessions/upgrades through heron.campaigns' recording interface.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from campaign_helpers import create, get, track, user_ids
from sqlalchemy.engine import Engine
from starlette.testclient import TestClient

from conftest import Workspace
from heron.campaigns import (
    Activity,
    Engagement,
    Send,
    record_activity,
    record_engagement,
    record_sends,
)

WINDOW = 3600
T = int(datetime(2026, 1, 5, 10, 0, tzinfo=UTC).timestamp() * 1000)
OFFSETS = {"at_receipt": 0, "at_end": WINDOW * 1000, "ms_after": WINDOW * 1000 + 1, "before": -1}
CONVERTING = {"at_receipt", "at_end"}
EMAIL = {"channel": "email", "name": "V", "subject": "s", "body": "b", "from": "a@example.com"}


def iso(time_ms: int) -> str:
    """ISO 8601 with milliseconds, UTC."""
    moment = datetime.fromtimestamp(time_ms / 1000, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{time_ms % 1000:03d}Z"


Act = Callable[[TestClient, Engine, Workspace, dict[str, int], str, int], None]


def _purchase(product: str) -> Act:
    """Act by buying `product` (and, for the non-converting users, nothing else matters)."""

    def act(
        client: TestClient, _e: Engine, ws: Workspace, _u: dict[str, int], x: str, t: int
    ) -> None:
        track(
            client,
            ws,
            {
                "purchases": [
                    {
                        "external_id": x,
                        "product_id": product,
                        "currency": "USD",
                        "price": 5,
                        "time": iso(t),
                    }
                ]
            },
        )

    return act


def _event(name: str) -> Act:
    """Act by performing a custom event."""

    def act(
        client: TestClient, _e: Engine, ws: Workspace, _u: dict[str, int], x: str, t: int
    ) -> None:
        track(client, ws, {"events": [{"external_id": x, "name": name, "time": iso(t)}]})

    return act


def _email(kind: str) -> Act:
    """Act by opening or clicking the campaign's email."""

    def act(
        _c: TestClient, engine: Engine, ws: Workspace, u: dict[str, int], x: str, t: int
    ) -> None:
        with engine.begin() as conn:
            record_engagement(conn, ws.id, "c", [Engagement(u[x], "v1", kind, t)])

    return act


def _activity(kind: Any) -> Act:
    """Act by starting a session / upgrading the workspace's app."""

    def act(
        _c: TestClient, engine: Engine, ws: Workspace, u: dict[str, int], x: str, t: int
    ) -> None:
        with engine.begin() as conn:
            record_activity(conn, ws.id, [Activity(u[x], kind, t, ws.app_key)])

    return act


CASES: dict[str, tuple[dict[str, Any], Act]] = {
    "Clicks Email": ({}, _email("clicked")),
    "Opens Email": ({}, _email("opened")),
    "Makes Any Purchase": ({}, _purchase("anything")),
    "Makes Specific Purchase": ({"product": "Feline Body Armor"}, _purchase("Feline Body Armor")),
    "Performs Custom Event": (
        {"custom_event_name": "Used Feline Body Armor"},
        _event("Used Feline Body Armor"),
    ),
    "Starts Session": ({"app_ids": None}, _activity("session_start")),
    "Upgrades App": ({}, _activity("app_upgrade")),
}


def _campaign(client: TestClient, ws: Workspace, behaviors: list[dict[str, Any]]) -> None:
    """Campaign `c` with one email variation `v1`."""
    create(
        client,
        ws,
        {"id": "c", "name": "C", "messages": {"v1": EMAIL}, "conversion_behaviors": behaviors},
    )


def _send(engine: Engine, ws: Workspace, sends: list[tuple[int, int]]) -> None:
    """Record receipts of `v1`: (user id, time)."""
    with engine.begin() as conn:
        record_sends(conn, ws.id, "c", [Send(user, "v1", t) for user, t in sends])


def _point(
    client: TestClient, ws: Workspace, ending_at: str, length: int = 1
) -> list[dict[str, Any]]:
    """The series' points."""
    response = get(
        client,
        ws,
        "/campaigns/data_series",
        campaign_id="c",
        length=str(length),
        ending_at=ending_at,
    )
    assert response.status_code == 200, response.text
    data: list[dict[str, Any]] = response.json()["data"]
    return data


@pytest.mark.parametrize("behavior_type", list(CASES))
def test_window_edges(
    client: TestClient, engine: Engine, workspace: Workspace, behavior_type: str
) -> None:
    fields, act = CASES[behavior_type]
    if behavior_type == "Upgrades App":
        fields = {"app_ids": [workspace.app_id]}
    _campaign(client, workspace, [{"type": behavior_type, "window": WINDOW, **fields}])
    users = user_ids(client, engine, workspace, *OFFSETS)
    _send(engine, workspace, [(users[x], T) for x in OFFSETS])
    for name, offset in OFFSETS.items():
        act(client, engine, workspace, users, name, T + offset)
    (point,) = _point(client, workspace, "2026-01-05")
    assert point["conversions"] == len(CONVERTING), behavior_type
    assert point["conversions_by_send_time"] == len(CONVERTING)
    assert "conversions1" not in point
    assert point["unique_recipients"] == len(OFFSETS)


def test_other_products_events_and_apps_do_not_convert(
    client: TestClient, engine: Engine, workspace: Workspace
) -> None:
    _campaign(
        client,
        workspace,
        [
            {"type": "Makes Specific Purchase", "window": WINDOW, "product": "Armor"},
            {"type": "Performs Custom Event", "window": WINDOW, "custom_event_name": "used"},
            {"type": "Upgrades App", "window": WINDOW, "app_ids": ["not-this-app"]},
            {"type": "Starts Session", "window": WINDOW, "app_ids": [workspace.app_id]},
        ],
    )
    u = user_ids(client, engine, workspace, "x")
    _send(engine, workspace, [(u["x"], T)])
    _purchase("Helmet")(client, engine, workspace, u, "x", T + 1000)
    _event("browsed")(client, engine, workspace, u, "x", T + 1000)
    _activity("app_upgrade")(client, engine, workspace, u, "x", T + 1000)
    with engine.begin() as conn:
        record_activity(conn, workspace.id, [Activity(u["x"], "session_start", T + 1000, None)])
    (point,) = _point(client, workspace, "2026-01-05")
    assert [point[f"conversions{n or ''}"] for n in range(4)] == [0, 0, 0, 0]
    _activity("session_start")(client, engine, workspace, u, "x", T + 2000)
    (point,) = _point(client, workspace, "2026-01-05")
    assert point["conversions3"] == 1


def test_one_conversion_per_receipt_attributed_to_the_latest(
    client: TestClient, engine: Engine, workspace: Workspace
) -> None:
    _campaign(
        client,
        workspace,
        [{"type": "Performs Custom Event", "window": WINDOW, "custom_event_name": "e"}],
    )
    u = user_ids(client, engine, workspace, "x")
    act = _event("e")
    _send(engine, workspace, [(u["x"], T)])
    act(client, engine, workspace, u, "x", T + 1000)
    act(client, engine, workspace, u, "x", T + 2000)  # same receipt: no second conversion
    (point,) = _point(client, workspace, "2026-01-05")
    assert point["conversions"] == 1
    # received again: the next action converts again, on the new receipt
    _send(engine, workspace, [(u["x"], T + 10_000)])
    act(client, engine, workspace, u, "x", T + 10_000 + WINDOW * 1000)
    (point,) = _point(client, workspace, "2026-01-05")
    assert point["conversions"] == 2
    # an action after the latest receipt's window does not fall back to an older receipt
    _send(engine, workspace, [(u["x"], T + 20_000_000)])
    act(client, engine, workspace, u, "x", T + 20_000_000 + WINDOW * 1000 + 1)
    (point,) = _point(client, workspace, "2026-01-05")
    assert point["conversions"] == 2


def test_conversion_day_versus_send_day(
    client: TestClient, engine: Engine, workspace: Workspace
) -> None:
    _campaign(client, workspace, [{"type": "Makes Any Purchase", "window": 86400}])
    u = user_ids(client, engine, workspace, "x")
    sent = int(datetime(2026, 1, 5, 23, 30, tzinfo=UTC).timestamp() * 1000)
    _send(engine, workspace, [(u["x"], sent)])
    _purchase("p")(client, engine, workspace, u, "x", sent + 3_600_000)  # 00:30 on Jan 6
    first, second = _point(client, workspace, "2026-01-06", length=2)
    assert (first["conversions"], first["conversions_by_send_time"]) == (0, 1)
    assert (second["conversions"], second["conversions_by_send_time"]) == (1, 0)
    # asking only for Jan 5 still sees the conversion made after it, by send time
    (only,) = _point(client, workspace, "2026-01-05")
    assert (only["conversions"], only["conversions_by_send_time"]) == (0, 1)
    # revenue: within the primary window after receipt, on the day of the purchase
    assert (first["revenue"], second["revenue"]) == (0, 5)


def test_revenue_within_the_primary_window(
    client: TestClient, engine: Engine, workspace: Workspace
) -> None:
    _campaign(
        client,
        workspace,
        [
            {"type": "Opens Email", "window": WINDOW},
            {"type": "Makes Any Purchase", "window": 86400},
        ],
    )
    u = user_ids(client, engine, workspace, "x", "y")
    _send(engine, workspace, [(u["x"], T)])
    track(
        client,
        workspace,
        {
            "purchases": [
                {
                    "external_id": "x",
                    "product_id": "a",
                    "currency": "USD",
                    "price": 2.5,
                    "quantity": 2,
                    "time": iso(T + 60_000),
                },
                {
                    "external_id": "x",
                    "product_id": "b",
                    "currency": "USD",
                    "price": 1,
                    "time": iso(T + WINDOW * 1000),
                },
                {
                    "external_id": "x",
                    "product_id": "c",
                    "currency": "USD",
                    "price": 100,
                    "time": iso(T + WINDOW * 1000 + 1),
                },
                {
                    "external_id": "x",
                    "product_id": "d",
                    "currency": "USD",
                    "price": 100,
                    "time": iso(T - 1),
                },
                {
                    "external_id": "y",
                    "product_id": "e",
                    "currency": "USD",
                    "price": 100,
                    "time": iso(T + 60_000),
                },
            ]
        },
    )
    (point,) = _point(client, workspace, "2026-01-05")
    assert point["revenue"] == 6.0  # 2.5 x 2 + 1; y never received the campaign
    assert (point["conversions"], point["conversions1"]) == (0, 1)


def test_control_group_users_do_not_convert(
    client: TestClient, engine: Engine, workspace: Workspace
) -> None:
    create(
        client,
        workspace,
        {
            "id": "c",
            "name": "C",
            "messages": {"v1": EMAIL, "ctl": {"channel": "email", "type": "control"}},
            "conversion_behaviors": [{"type": "Makes Any Purchase", "window": WINDOW}],
        },
    )
    u = user_ids(client, engine, workspace, "x")
    with engine.begin() as conn:
        record_sends(conn, workspace.id, "c", [Send(u["x"], "ctl", T)])
    _purchase("p")(client, engine, workspace, u, "x", T + 1000)
    (point,) = _point(client, workspace, "2026-01-05")
    assert (point["conversions"], point["unique_recipients"], point["revenue"]) == (0, 0, 0)
    (entry,) = [e for e in point["messages"]["email"] if e["variation_api_id"] == "ctl"]
    assert entry == {"variation_api_id": "ctl", "enrolled": 1}
