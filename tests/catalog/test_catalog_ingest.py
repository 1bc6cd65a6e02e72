"""Blocklisted names at `/users/track`: dropped before storage, not counted, reported."""

from __future__ import annotations

import json
import time

import pytest
from catalog_helpers import event, manage, purchase, rollup_count, seed, track
from sqlalchemy import select
from sqlalchemy.engine import Engine
from starlette.testclient import TestClient

from conftest import Workspace, make_workspace
from heron.catalog import blocklist, service
from heron.catalog.kinds import EVENTS, TRASHED
from heron.store.schema import (
    custom_events,
    events,
    products,
    purchase_rollups_hourly,
    purchase_rollups_recent,
    purchases,
    users,
)


def event_id(engine: Engine, name: str, workspace_id: int) -> int:
    """A custom event's catalog id."""
    with engine.connect() as conn:
        return int(
            conn.execute(
                select(custom_events.c.id).where(
                    custom_events.c.name == name, custom_events.c.workspace_id == workspace_id
                )
            ).scalar_one()
        )


def stored_events(engine: Engine, workspace_id: int) -> list[str]:
    """Names of the stored occurrences of a workspace, oldest row first."""
    with engine.connect() as conn:
        return list(
            conn.execute(
                select(custom_events.c.name)
                .join(events, events.c.event_id == custom_events.c.id)
                .where(events.c.workspace_id == workspace_id)
                .order_by(events.c.id)
            ).scalars()
        )


def profile(engine: Engine, external_id: str) -> dict[str, object]:
    """A user's custom attributes."""
    with engine.connect() as conn:
        text = conn.execute(
            select(users.c.custom).where(users.c.external_id == external_id)
        ).scalar_one()
    result: dict[str, object] = json.loads(text)
    return result


def test_blocklisted_events_are_dropped_and_reported(
    client: TestClient, engine: Engine, workspace: Workspace
) -> None:
    assert (
        track(client, workspace.key, {"events": [event("spam"), event("kept")]}).status_code == 201
    )
    spam = event_id(engine, "spam", workspace.id)
    assert rollup_count(engine, spam) == 1
    assert manage(client, workspace.key, "events/blocklist", {"names": ["spam"]}).status_code == 200
    response = track(
        client,
        workspace.key,
        {"events": [event("spam"), event("kept"), {"name": "invalid"}, event("spam")]},
    )
    assert response.status_code == 201
    body = response.json()
    assert body["message"] == "success"
    assert body["events_processed"] == 1
    assert [(e["type"], e["index"]) for e in body["errors"]] == [
        ("'spam' is blocklisted", 0),
        (body["errors"][1]["type"], 2),
        ("'spam' is blocklisted", 3),
    ]
    assert all(e["input_array"] == "events" for e in body["errors"])
    assert stored_events(engine, workspace.id) == ["spam", "kept", "kept"]
    assert rollup_count(engine, spam) == 1  # nothing added after the blocklist
    assert rollup_count(engine, event_id(engine, "kept", workspace.id)) == 2
    # unblocking lets new data in again
    manage(client, workspace.key, "events/unblock", {"names": ["spam"]})
    again = track(client, workspace.key, {"events": [event("spam")]})
    assert again.json() == {"message": "success", "events_processed": 1}
    assert rollup_count(engine, spam) == 2


def test_a_request_with_only_blocklisted_objects_stores_nothing(
    client: TestClient, engine: Engine, workspace: Workspace
) -> None:
    manage(client, workspace.key, "events", {"name": "never"})
    manage(client, workspace.key, "events/blocklist", {"names": ["never"]})
    response = track(client, workspace.key, {"events": [event("never", external_id="new-user")]})
    assert response.status_code == 201
    assert response.json()["events_processed"] == 0
    assert stored_events(engine, workspace.id) == []
    with engine.connect() as conn:
        assert conn.execute(select(users.c.id)).first() is None  # no profile was created


def test_blocklisted_products_are_dropped_from_purchases_and_rollups(
    client: TestClient, engine: Engine, workspace: Workspace
) -> None:
    manage(client, workspace.key, "products", {"name": "bad-sku"})
    manage(client, workspace.key, "products/blocklist", {"names": ["bad-sku"]})
    response = track(
        client, workspace.key, {"purchases": [purchase("bad-sku"), purchase("good-sku")]}
    )
    assert response.json() == {
        "message": "success",
        "purchases_processed": 1,
        "errors": [{"type": "'bad-sku' is blocklisted", "input_array": "purchases", "index": 0}],
    }
    with engine.connect() as conn:
        stored = conn.execute(
            select(products.c.name).join(purchases, purchases.c.product_id == products.c.id)
        ).scalars()
        assert list(stored) == ["good-sku"]
        for table in (purchase_rollups_recent, purchase_rollups_hourly):
            totals = conn.execute(select(table.c.product_id, table.c.purchases)).all()
            assert all(count == 1 for _product, count in totals)  # "all products" included


def test_blocklisted_attributes_are_removed_from_the_object(
    client: TestClient, engine: Engine, workspace: Workspace
) -> None:
    first = {"external_id": "u1", "secret": "a", "tier": "gold"}
    assert track(client, workspace.key, {"attributes": [first]}).status_code == 201
    manage(client, workspace.key, "custom_attributes/blocklist", {"names": ["secret"]})
    response = track(
        client,
        workspace.key,
        {
            "attributes": [
                {"external_id": "u1", "secret": "b", "tier": "silver"},
                {"external_id": "u2", "secret": {"inc": 1}, "first_name": "Ann"},
            ]
        },
    )
    assert response.json() == {
        "message": "success",
        "attributes_processed": 2,
        "errors": [
            {"type": "'secret' is blocklisted", "input_array": "attributes", "index": 0},
            {"type": "'secret' is blocklisted", "input_array": "attributes", "index": 1},
        ],
    }
    assert profile(engine, "u1") == {"secret": "a", "tier": "silver"}  # old value kept, hidden
    assert profile(engine, "u2") == {}


def test_trashed_names_are_still_dropped(
    client: TestClient, engine: Engine, workspace: Workspace
) -> None:
    seed(engine, workspace.id, "events", ["gone"], status=TRASHED)
    response = track(client, workspace.key, {"events": [event("gone")]})
    assert response.json()["events_processed"] == 0
    assert response.json()["errors"][0]["type"] == "'gone' is blocklisted"


def test_long_names_are_shortened_in_the_error(client: TestClient, workspace: Workspace) -> None:
    name = "x" * 200
    manage(client, workspace.key, "events", {"name": name})
    manage(client, workspace.key, "events/blocklist", {"names": [name]})
    error = track(client, workspace.key, {"events": [event(name)]}).json()["errors"][0]
    assert error["type"] == f"'{'x' * 64}...' is blocklisted"


def test_blocklist_of_one_workspace_does_not_drop_another_s_data(
    client: TestClient, engine: Engine, workspace: Workspace
) -> None:
    other = make_workspace(engine, "other")
    manage(client, workspace.key, "events", {"name": "played"})
    manage(client, workspace.key, "events/blocklist", {"names": ["played"]})
    response = track(client, other.key, {"events": [event("played")]})
    assert response.json() == {"message": "success", "events_processed": 1}
    assert stored_events(engine, other.id) == ["played"]


def test_changes_made_elsewhere_apply_within_the_refresh_interval(
    client: TestClient, engine: Engine, workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(blocklist, "REFRESH_SECONDS", 0.2)
    assert (
        track(client, workspace.key, {"events": [event("later")]}).json()["events_processed"] == 1
    )
    # another process (the CLI, a second server) blocklists: no in-process invalidation
    now = int(time.time() * 1000)
    service.change_status(engine, EVENTS, workspace.id, ["later"], "blocklist", now)
    deadline = time.monotonic() + 5
    while True:
        processed = track(client, workspace.key, {"events": [event("later")]}).json()
        if processed["events_processed"] == 0:
            break
        assert time.monotonic() < deadline, "the blocklist was never picked up"
        time.sleep(0.05)
    assert processed["errors"][0]["type"] == "'later' is blocklisted"
