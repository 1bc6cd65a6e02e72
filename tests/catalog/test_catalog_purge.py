"""Purging entries Trashed for 7 days: what goes, what stays, and reusing the name."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

from catalog_helpers import days_ago, event, manage, rollup_count, set_columns, track
from sqlalchemy import Table, func, select
from sqlalchemy.engine import Engine
from starlette.testclient import TestClient

from conftest import Workspace, auth
from heron.catalog.kinds import PURGED, PURGING, TRASHED
from heron.catalog.purge import purge_due, purge_lock
from heron.store.schema import custom_attributes, custom_events, event_properties, events, users


def now_ms() -> int:
    """The current time in epoch milliseconds."""
    return int(time.time() * 1000)


def trash(client: TestClient, engine: Engine, key: str, kind: str, name: str) -> None:
    """Blocklist, age the blocklisting 7 days, trash, age the trashing 7 days."""
    assert manage(client, key, f"{kind}/blocklist", {"names": [name]}).status_code == 200
    set_columns(engine, kind, name, blocklisted_at_ms=days_ago(8))
    assert manage(client, key, f"{kind}/trash", {"names": [name]}).status_code == 200
    set_columns(engine, kind, name, trashed_at_ms=days_ago(7))


def row(engine: Engine, table: Table, name: str) -> Any:
    """One catalog row by name."""
    with engine.connect() as conn:
        return conn.execute(select(table).where(table.c.name == name)).one()


def event_rows(engine: Engine, event_id: int) -> int:
    """Stored occurrences of one event."""
    with engine.connect() as conn:
        query = select(func.count()).select_from(events).where(events.c.event_id == event_id)
        return int(conn.execute(query).scalar_one())


def test_purging_an_event_removes_its_data_and_frees_the_name(
    client: TestClient, engine: Engine, workspace: Workspace
) -> None:
    body = {"events": [event("old", properties={"p": 1}), event("old"), event("kept")]}
    assert track(client, workspace.key, body).status_code == 201
    old = row(engine, custom_events, "old")
    manage(
        client,
        workspace.key,
        "events/update",
        {"name": "old", "description": "d", "tag_names": ["t"]},
    )
    trash(client, engine, workspace.key, "events", "old")
    assert purge_due(engine, now_ms()) == [("events", workspace.id, "old")]
    assert event_rows(engine, old.id) == 0
    assert rollup_count(engine, old.id) == 0
    tomb = row(engine, custom_events, "old")
    assert (tomb.status, tomb.description, tomb.tags) == (PURGED, "", "[]")
    with engine.connect() as conn:  # property names and types are kept (see heron.catalog.purge)
        assert conn.execute(select(event_properties.c.name)).scalars().all() == ["p"]
    assert [
        e["name"] for e in client.get("/events", headers=auth(workspace.key)).json()["events"]
    ] == ["kept"]
    details = client.get("/heron/v1/events/details?name=old", headers=auth(workspace.key))
    assert details.status_code == 404
    restore = manage(client, workspace.key, "events/restore", {"names": ["old"]})
    assert restore.status_code == 404
    assert purge_due(engine, now_ms()) == []  # nothing left to do
    # the name is free: tracking it again makes a fresh Active entry with only the new data
    again = track(client, workspace.key, {"events": [event("old")]})
    assert again.json() == {"message": "success", "events_processed": 1}
    listed = client.get("/events", headers=auth(workspace.key)).json()["events"]
    assert [(e["name"], e["status"], e["description"]) for e in listed] == [
        ("kept", "Active", ""),
        ("old", "Active", ""),
    ]
    assert event_rows(engine, old.id) == 1
    assert rollup_count(engine, old.id) == 1
    assert row(engine, custom_events, "old").first_seen_ms is not None


def test_purging_an_attribute_removes_it_from_every_profile(
    client: TestClient, engine: Engine, workspace: Workspace
) -> None:
    body = {
        "attributes": [
            {"external_id": "u1", "gone": "x", "stays": 1},
            {"external_id": "u2", "gone": ["a"], "note": "gone"},  # the name as a value stays
            {"external_id": "u3", "stays": 2},
        ]
    }
    assert track(client, workspace.key, body).status_code == 201
    trash(client, engine, workspace.key, "custom_attributes", "gone")
    assert purge_due(engine, now_ms()) == [("custom_attributes", workspace.id, "gone")]
    with engine.connect() as conn:
        profiles = {
            ext: json.loads(doc)
            for ext, doc in conn.execute(select(users.c.external_id, users.c.custom)).all()
        }
    assert profiles == {"u1": {"stays": 1}, "u2": {"note": "gone"}, "u3": {"stays": 2}}
    listed = client.get("/custom_attributes", headers=auth(workspace.key)).json()
    assert [a["name"] for a in listed["custom_attributes"]] == ["note", "stays"]
    # reused with another type: a fresh entry
    track(client, workspace.key, {"attributes": [{"external_id": "u1", "gone": True}]})
    listed = client.get("/custom_attributes", headers=auth(workspace.key)).json()
    assert listed["custom_attributes"][0] == {
        "name": "gone",
        "description": "",
        "data_type": "Boolean",
        "array_length": None,
        "status": "Active",
        "tag_names": [],
    }


def test_purged_name_can_be_precreated(
    client: TestClient, engine: Engine, workspace: Workspace
) -> None:
    manage(client, workspace.key, "events", {"name": "e", "description": "first life"})
    trash(client, engine, workspace.key, "events", "e")
    purge_due(engine, now_ms())
    created = manage(client, workspace.key, "events", {"name": "e"})
    assert created.status_code == 201, created.text
    assert (created.json()["event"]["status"], created.json()["event"]["description"]) == (
        "Active",
        "",
    )


def test_nothing_is_purged_before_seven_days_trashed_or_after_a_restore(
    client: TestClient, engine: Engine, workspace: Workspace
) -> None:
    track(client, workspace.key, {"events": [event("young"), event("restored")]})
    trash(client, engine, workspace.key, "events", "young")
    set_columns(engine, "events", "young", trashed_at_ms=days_ago(6.9))
    trash(client, engine, workspace.key, "events", "restored")
    manage(client, workspace.key, "events/restore", {"names": ["restored"]})
    assert purge_due(engine, now_ms()) == []
    assert row(engine, custom_events, "young").status == TRASHED
    assert row(engine, custom_events, "restored").status == "Blocklisted"
    assert event_rows(engine, row(engine, custom_events, "young").id) == 1


def test_an_interrupted_purge_resumes(
    client: TestClient, engine: Engine, workspace: Workspace
) -> None:
    track(client, workspace.key, {"events": [event("half")]})
    trash(client, engine, workspace.key, "events", "half")
    stop = threading.Event()
    stop.set()
    assert purge_due(engine, now_ms(), stop=stop) == []  # stopped before it started
    assert row(engine, custom_events, "half").status == TRASHED
    set_columns(engine, "events", "half", status=PURGING)  # as if a process died mid-way
    listed = client.get("/events", headers=auth(workspace.key)).json()["events"]
    assert listed == []  # being purged: not listed, not restorable
    assert manage(client, workspace.key, "events/restore", {"names": ["half"]}).status_code == 404
    dropped = track(client, workspace.key, {"events": [event("half")]}).json()
    assert dropped["events_processed"] == 0
    assert purge_due(engine, now_ms()) == [("events", workspace.id, "half")]
    assert row(engine, custom_events, "half").status == PURGED


def test_one_purger_at_a_time(engine: Engine) -> None:
    with purge_lock(engine) as first:
        assert first
        with purge_lock(engine) as second:
            assert not second
        assert purge_due(engine, now_ms()) == []
    with purge_lock(engine) as again:
        assert again


def test_purge_is_scoped_to_the_entry_s_workspace(
    client: TestClient, engine: Engine, workspace: Workspace
) -> None:
    from conftest import make_workspace

    other = make_workspace(engine, "other")
    track(client, workspace.key, {"attributes": [{"external_id": "u", "a": 1}]})
    track(client, other.key, {"attributes": [{"external_id": "u", "a": 2}]})
    manage(client, workspace.key, "custom_attributes/blocklist", {"names": ["a"]})
    with engine.begin() as conn:
        conn.execute(
            custom_attributes.update()
            .where(custom_attributes.c.workspace_id == workspace.id)
            .values(blocklisted_at_ms=days_ago(8))
        )
    manage(client, workspace.key, "custom_attributes/trash", {"names": ["a"]})
    with engine.begin() as conn:
        conn.execute(
            custom_attributes.update()
            .where(custom_attributes.c.workspace_id == workspace.id)
            .values(trashed_at_ms=days_ago(8))
        )
    assert purge_due(engine, now_ms()) == [("custom_attributes", workspace.id, "a")]
    with engine.connect() as conn:
        docs = {ws: doc for ws, doc in conn.execute(select(users.c.workspace_id, users.c.custom))}
    assert json.loads(docs[workspace.id]) == {}
    assert json.loads(docs[other.id]) == {"a": 2}
    other_list = client.get("/custom_attributes", headers=auth(other.key)).json()
    assert other_list["custom_attributes"][0]["status"] == "Active"
