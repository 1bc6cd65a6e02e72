"""heron's catalog management API: pre-create, edit, blocklist, trash rules, isolation, auth."""

from __future__ import annotations

from typing import Any

import pytest
from catalog_helpers import days_ago, manage, seed, set_columns
from sqlalchemy.engine import Engine
from starlette.testclient import TestClient

from conftest import Workspace, auth, make_workspace
from heron.admin import keys as key_admin
from heron.catalog.kinds import BLOCKLISTED, MAX_BLOCKLISTED


def details(client: TestClient, key: str, kind: str, name: str) -> Any:
    """GET one entry's details."""
    return client.get(f"/heron/v1/{kind}/details", params={"name": name}, headers=auth(key))


def status_of(client: TestClient, key: str, kind: str, name: str) -> str:
    """An entry's status, as the management API shows it."""
    response = details(client, key, kind, name)
    assert response.status_code == 200, response.text
    status: str = response.json()[{"events": "event"}.get(kind, kind.rstrip("s"))]["status"]
    return status


def test_precreate_event_then_describe_and_tag(client: TestClient, workspace: Workspace) -> None:
    created = manage(
        client,
        workspace.key,
        "events",
        {
            "name": "signed_up",
            "description": "First visit",
            "tag_names": ["Growth", "Growth", "Web"],
        },
    )
    assert created.status_code == 201, created.text
    item = created.json()["event"]
    assert created.json()["message"] == "success"
    assert item["name"] == "signed_up"
    assert (item["status"], item["description"], item["tag_names"]) == (
        "Active",
        "First visit",
        ["Growth", "Web"],
    )
    assert item["included_in_analytics_report"] is False
    assert item["first_seen"] is None and item["blocklisted_at"] is None
    exported = client.get("/events", headers=auth(workspace.key)).json()["events"]
    assert exported == [
        {
            "name": "signed_up",
            "description": "First visit",
            "included_in_analytics_report": False,
            "status": "Active",
            "tag_names": ["Growth", "Web"],
        }
    ]
    assert client.get("/events/list", headers=auth(workspace.key)).json()["events"] == ["signed_up"]
    updated = manage(
        client,
        workspace.key,
        "events/update",
        {"name": "signed_up", "included_in_analytics_report": True, "tag_names": []},
    )
    assert updated.status_code == 200, updated.text
    item = updated.json()["event"]
    assert (item["description"], item["tag_names"], item["included_in_analytics_report"]) == (
        "First visit",
        [],
        True,
    )
    again = manage(client, workspace.key, "events", {"name": "signed_up"})
    assert again.status_code == 409
    assert again.json() == {"message": "custom event 'signed_up' already exists"}


def test_precreate_attribute_and_product(client: TestClient, workspace: Workspace) -> None:
    attr = manage(
        client, workspace.key, "custom_attributes", {"name": "tier", "data_type": "Array"}
    )
    assert attr.status_code == 201, attr.text
    assert attr.json()["custom_attribute"]["array_length"] == 25
    listed = client.get("/custom_attributes", headers=auth(workspace.key)).json()
    assert listed["custom_attributes"][0]["data_type"] == "Array"
    default = manage(client, workspace.key, "custom_attributes", {"name": "plain"})
    assert default.json()["custom_attribute"]["data_type"] == "String"
    product = manage(client, workspace.key, "products", {"name": "sku-1", "description": "A thing"})
    assert product.status_code == 201, product.text
    assert product.json()["product"]["description"] == "A thing"
    assert client.get("/purchases/product_list", headers=auth(workspace.key)).json()[
        "products"
    ] == ["sku-1"]
    edited = manage(client, workspace.key, "products/update", {"name": "sku-1", "tag_names": ["x"]})
    assert edited.json()["product"]["tag_names"] == ["x"]


@pytest.mark.parametrize(
    ("path", "body", "message"),
    [
        ("events", {}, "'name': name must be a non-empty string"),
        ("events", {"name": ""}, "'name': name must be a non-empty string"),
        ("events", {"name": "x" * 256}, "'name': name must be at most 255 characters"),
        ("events", {"name": "a\x00b"}, "'name': name must not contain NUL characters"),
        ("custom_attributes", {"name": "$x"}, "'name': custom attribute names must not start"),
        ("events", {"name": "a", "description": 3}, "'description' must be a string"),
        ("events", {"name": "a", "tag_names": "t"}, "'tag_names' must be an array of strings"),
        ("events", {"name": "a", "tag_names": [""]}, "'tag_names' must not contain empty"),
        ("events", {"name": "a", "tag_names": ["t"] * 0 + [str(i) for i in range(51)]}, "'tag_"),
        ("events", {"name": "a", "included_in_analytics_report": "yes"}, "'included_in_analytics"),
        ("products", {"name": "a", "included_in_analytics_report": True}, "'included_in_an"),
        ("events", {"name": "a", "data_type": "String"}, "'data_type' applies to custom attr"),
        ("custom_attributes", {"name": "a", "data_type": "Text"}, "'data_type' must be one of"),
        ("events/blocklist", {"names": []}, "'names' must be a non-empty array of names"),
        ("events/blocklist", {"names": "a"}, "'names' must be a non-empty array of names"),
        ("events/blocklist", {"names": [str(i) for i in range(101)]}, "'names' may hold at most"),
        ("events/blocklist", {"names": [1]}, "'names': name must be a non-empty string"),
    ],
)
def test_invalid_management_bodies_are_400(
    client: TestClient, workspace: Workspace, path: str, body: Any, message: str
) -> None:
    response = manage(client, workspace.key, path, body)
    assert response.status_code == 400, response.text
    assert response.json()["message"].startswith(message)


def test_malformed_json_is_400(client: TestClient, workspace: Workspace) -> None:
    response = client.post("/heron/v1/events/blocklist", content=b"{", headers=auth(workspace.key))
    assert response.status_code == 400
    assert response.json()["message"].startswith("Malformed JSON")


def test_blocklist_unblock_round_trip(
    client: TestClient, engine: Engine, workspace: Workspace
) -> None:
    seed(engine, workspace.id, "events", ["a", "b"])
    blocked = manage(client, workspace.key, "events/blocklist", {"names": ["b", "a", "a"]})
    assert blocked.status_code == 200, blocked.text
    items = blocked.json()["events"]
    assert [(i["name"], i["status"]) for i in items] == [("a", "Blocklisted"), ("b", "Blocklisted")]
    since = items[0]["blocklisted_at"]
    assert since is not None and items[0]["trashable_at"] > since
    again = manage(client, workspace.key, "events/blocklist", {"names": ["a"]})
    assert again.json()["events"][0]["blocklisted_at"] == since  # idempotent
    exported = client.get("/events", headers=auth(workspace.key)).json()["events"]
    assert {e["status"] for e in exported} == {"Blocklisted"}
    assert client.get("/events/list", headers=auth(workspace.key)).json()["events"] == []
    unblocked = manage(client, workspace.key, "events/unblock", {"names": ["a"]})
    assert unblocked.json()["events"][0]["status"] == "Active"
    assert unblocked.json()["events"][0]["blocklisted_at"] is None
    assert status_of(client, workspace.key, "events", "b") == "Blocklisted"


def test_bulk_changes_are_all_or_nothing(
    client: TestClient, engine: Engine, workspace: Workspace
) -> None:
    seed(engine, workspace.id, "events", ["a", "b"])
    missing = manage(client, workspace.key, "events/blocklist", {"names": ["a", "nope", "zip"]})
    assert missing.status_code == 404
    assert missing.json() == {
        "message": "Unknown custom event names",
        "errors": ["custom event 'nope' does not exist", "custom event 'zip' does not exist"],
    }
    assert status_of(client, workspace.key, "events", "a") == "Active"
    manage(client, workspace.key, "events/blocklist", {"names": ["a"]})
    refused = manage(client, workspace.key, "events/trash", {"names": ["a", "b"]})
    assert refused.status_code == 409
    assert len(refused.json()["errors"]) == 2
    assert "only a blocklisted entry can be trashed" in refused.json()["errors"][1]
    assert status_of(client, workspace.key, "events", "a") == "Blocklisted"


def test_trash_only_after_seven_days_blocklisted_then_restore(
    client: TestClient, engine: Engine, workspace: Workspace
) -> None:
    seed(engine, workspace.id, "custom_attributes", ["attr"])
    active = manage(client, workspace.key, "custom_attributes/trash", {"names": ["attr"]})
    assert active.status_code == 409
    manage(client, workspace.key, "custom_attributes/blocklist", {"names": ["attr"]})
    early = manage(client, workspace.key, "custom_attributes/trash", {"names": ["attr"]})
    assert early.status_code == 409
    assert "it can be trashed from" in early.json()["errors"][0]
    set_columns(engine, "custom_attributes", "attr", blocklisted_at_ms=days_ago(6.9))
    assert (
        manage(client, workspace.key, "custom_attributes/trash", {"names": ["attr"]}).status_code
        == 409
    )
    set_columns(engine, "custom_attributes", "attr", blocklisted_at_ms=days_ago(7))
    trashed = manage(client, workspace.key, "custom_attributes/trash", {"names": ["attr"]})
    assert trashed.status_code == 200, trashed.text
    item = trashed.json()["custom_attributes"][0]
    assert item["status"] == "Trashed" and item["purge_at"] > item["trashed_at"]
    exported = client.get("/custom_attributes", headers=auth(workspace.key)).json()
    assert exported["custom_attributes"][0]["status"] == "Trashed"
    unblock = manage(client, workspace.key, "custom_attributes/unblock", {"names": ["attr"]})
    assert unblock.status_code == 409 and "restore it first" in unblock.json()["errors"][0]
    edited = manage(
        client, workspace.key, "custom_attributes/update", {"name": "attr", "description": "old"}
    )
    assert edited.status_code == 200  # trashed entries can still be described
    restored = manage(client, workspace.key, "custom_attributes/restore", {"names": ["attr"]})
    assert restored.json()["custom_attributes"][0]["status"] == "Blocklisted"
    assert restored.json()["custom_attributes"][0]["trashed_at"] is None
    # still blocklisted since 7 days ago: may be trashed again at once
    assert (
        manage(client, workspace.key, "custom_attributes/trash", {"names": ["attr"]}).status_code
        == 200
    )
    active_restore = manage(client, workspace.key, "events", {"name": "e"})
    assert active_restore.status_code == 201
    refused = manage(client, workspace.key, "events/restore", {"names": ["e"]})
    assert refused.status_code == 409


def test_products_blocklist_but_cannot_be_trashed(
    client: TestClient, engine: Engine, workspace: Workspace
) -> None:
    seed(engine, workspace.id, "products", ["sku"])
    blocked = manage(client, workspace.key, "products/blocklist", {"names": ["sku"]})
    assert blocked.json()["products"][0]["status"] == "Blocklisted"
    assert "trashed_at" not in blocked.json()["products"][0]
    assert manage(client, workspace.key, "products/trash", {"names": ["sku"]}).status_code == 404
    listing = client.get("/heron/v1/products?status=Blocklisted", headers=auth(workspace.key))
    assert [p["name"] for p in listing.json()["products"]] == ["sku"]


def test_blocklist_size_is_limited(
    client: TestClient, engine: Engine, workspace: Workspace
) -> None:
    seed(
        engine,
        workspace.id,
        "events",
        [f"b{i}" for i in range(MAX_BLOCKLISTED)],
        status=BLOCKLISTED,
    )
    seed(engine, workspace.id, "events", ["one_more"])
    response = manage(client, workspace.key, "events/blocklist", {"names": ["one_more"]})
    assert response.status_code == 409
    assert response.json()["message"].startswith("At most 300 custom event names")
    assert manage(client, workspace.key, "events/blocklist", {"names": ["b1"]}).status_code == 200


def test_management_list_filters_and_pages(
    client: TestClient, engine: Engine, workspace: Workspace
) -> None:
    seed(engine, workspace.id, "events", [f"a{i:02d}" for i in range(55)])
    seed(engine, workspace.id, "events", [f"z{i:02d}" for i in range(3)], status=BLOCKLISTED)
    first = client.get("/heron/v1/events", headers=auth(workspace.key))
    assert len(first.json()["events"]) == 50
    assert first.headers["link"].startswith("</heron/v1/events?cursor=")
    filtered = client.get("/heron/v1/events?status=Blocklisted", headers=auth(workspace.key))
    assert [e["name"] for e in filtered.json()["events"]] == ["z00", "z01", "z02"]
    assert "link" not in filtered.headers
    bad = client.get("/heron/v1/events?status=Purged", headers=auth(workspace.key))
    assert bad.status_code == 400
    missing = details(client, workspace.key, "events", "nope")
    assert missing.status_code == 404
    assert missing.json() == {"message": "custom event 'nope' does not exist"}
    assert details(client, workspace.key, "events", "").status_code == 400


def test_other_workspaces_never_see_or_change_entries(
    client: TestClient, engine: Engine, workspace: Workspace
) -> None:
    other = make_workspace(engine, "other")
    seed(engine, workspace.id, "events", ["shared", "mine"])
    assert details(client, other.key, "events", "mine").status_code == 404
    assert manage(client, other.key, "events/blocklist", {"names": ["mine"]}).status_code == 404
    assert (
        manage(client, other.key, "events/update", {"name": "mine", "description": "x"}).status_code
        == 404
    )
    assert client.get("/heron/v1/events", headers=auth(other.key)).json()["events"] == []
    # the same name in the other workspace is a different entry
    assert manage(client, other.key, "events", {"name": "shared"}).status_code == 201
    assert manage(client, other.key, "events/blocklist", {"names": ["shared"]}).status_code == 200
    assert status_of(client, workspace.key, "events", "shared") == "Active"
    assert status_of(client, other.key, "events", "shared") == "Blocklisted"


def test_management_needs_the_catalog_permission(
    client: TestClient, engine: Engine, workspace: Workspace
) -> None:
    seed(engine, workspace.id, "events", ["a"])
    reader, _ = key_admin.create_key(
        engine, workspace.id, "reader", ["events.get", "events.list", "users.track"]
    )
    for path, body in (("events", {"name": "b"}), ("events/blocklist", {"names": ["a"]})):
        response = manage(client, reader, path, body)
        assert (response.status_code, response.json()) == (403, {"message": "Access Denied"})
    assert client.get("/heron/v1/events", headers=auth(reader)).status_code == 403
    assert status_of(client, workspace.key, "events", "a") == "Active"
    manager, _ = key_admin.create_key(engine, workspace.id, "manager", ["heron.catalog.manage"])
    assert manage(client, manager, "events/blocklist", {"names": ["a"]}).status_code == 200
    assert client.get("/events", headers=auth(manager)).status_code == 403
